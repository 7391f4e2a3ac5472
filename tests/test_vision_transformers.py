"""LAuReL on KerasHub's vision transformers (ViT, DeiT, DINOv2, DINOv3, Swin),
what is particular to them, on real images (`fashion_mnist`, resized) and the
current backend: PA's wiring site by site across blocks and Swin's stages,
per-block features (`pyramid_outputs`) that stay plain tensors with PA, and
weights found where a backbone prefixes its sublayers. Every model's contract
(identity, weights, round trips, adapters, a fit step in its classifier) is
tests/test_contract.py's."""

import keras
import keras_hub
import numpy as np
import pytest
import supported

import keras_laurel as kl
from keras_laurel.compare import data as data_lib

LAYERS = 3  # ViT's blocks here
HIDDEN, SIZE, SMALL = supported.HIDDEN, supported.SIZE, supported.PATCHES
vit, deit, swin, dinov2, dinov3 = (
    supported.vit,
    supported.deit,
    supported.swin,
    supported.dinov2,
    supported.dinov3,
)


# name -> (backbone builder, the input's name in the backbone's input dict)
BACKBONES = {
    "vit": (vit, None),
    "deit": (deit, None),
    "swin": (swin, None),
    "dinov2": (dinov2, "images"),
    "dinov3": (dinov3, "pixel_values"),
}


def build(name, **kwargs):
    return BACKBONES[name][0](**kwargs)


def feed(name, x):
    key = BACKBONES[name][1]
    return x if key is None else {key: x}


@pytest.fixture(scope="module")
def images():
    x, y, _, _, classes = data_lib.images("fashion_mnist", SIZE, None, 32, 1)
    return x[..., :1], y, classes


def out(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def randomize(model, seed=1):
    rng = np.random.default_rng(seed)
    for layer in kl.laurel_layers(model):
        for v in layer.weights:
            v.assign(
                keras.ops.convert_to_numpy(v)
                + rng.normal(scale=0.2, size=v.shape).astype("float32")
            )


def test_report_and_pa_wiring_site_by_site():
    new = kl.rewrite(vit(), "pa", k=3, placement="both")
    report = kl.summary(new, print_fn=lambda line: None)
    names = [
        f"vit_encoder/transformer_block_{b}/{s}_laurel"
        for b in range(1, LAYERS + 1)
        for s in ("attention", "feedforward")
    ]
    assert [s.name for s in report.sites] == names
    # Each site mixes the x of the k - 1 = 2 sites before it, newest first,
    # across block boundaries (one width throughout a ViT).
    assert [s.pa_connected for s in report.sites] == [
        names[max(0, i - 2) : i][::-1] for i in range(len(names))
    ]
    assert [l.num_inputs for l in kl.laurel_layers(new)] == [2, 3, 4, 4, 4, 4]


def test_pa_history_reaches_the_next_block(images):
    # Block 2's attention site: gamma on x_{i-2} (the x of block 1's attention
    # site) changes the output only if block 1's activations arrive there.
    x = images[0][:2]
    new = kl.rewrite(vit(), "pa", k=3, placement="both")
    before = out(new, x)
    layer = kl.laurel_layers(new)[2]  # block 2's attention site
    layer.gamma.assign(np.array([0.0, 0.0, 0.5], "float32"))
    assert np.abs(out(new, x) - before).max() > 1e-3


@pytest.mark.parametrize("name", list(BACKBONES))
def test_plain_backbone_built_after_a_rewrite_is_plain(name):
    kl.rewrite(build(name, layers=1), "rw+pa", placement="both")
    assert not kl.laurel_layers(build(name, layers=1))


@pytest.mark.parametrize("name", ["dinov2", "dinov3"])
def test_pyramid_outputs_stay_plain_tensors_with_pa(name, images):
    # With PA a block hands its successor a tuple (x, x_prev, ...); the
    # encoder's per-block features must still be each block's hidden state.
    x = feed(name, images[0][:2])
    new = kl.rewrite(build(name), "rw+lr+pa", rank=2, k=3, placement="both")
    randomize(new)
    features = keras.Model(new.inputs, new.pyramid_outputs)(x)
    assert sorted(features) == ["stage1", "stage2", "stem"]
    for value in features.values():
        # the class token, DINOv3's register token, the patches
        assert tuple(value.shape) == (2, 1 + (name == "dinov3") + (SIZE // 8) ** 2, HIDDEN)
    # The last block's output, normalised, is the backbone's output.
    final = keras.ops.convert_to_numpy(new.layernorm(features["stage2"]))
    np.testing.assert_allclose(final, out(new, x), atol=1e-5)
    if name == "dinov3":  # its blocks also take the encoder's rotary embeddings
        return
    # ... and stage1 is the first block's hidden state (not PA's history).
    first = new.encoder.layers[0](features["stem"])
    assert isinstance(first, tuple)  # it hands PA's history on to the second block
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(features["stage1"]),
        keras.ops.convert_to_numpy(first[0]),
        atol=1e-6,
    )


def test_swin_pa_mixes_within_a_stage_site_by_site(images):
    new = kl.rewrite(swin(), "pa", k=3, placement="both")
    names = [
        f"stage_{stage}/blocks_{b}/{s}_laurel"
        for stage in (0, 1)
        for b in (0, 1)
        for s in ("attention", "feedforward")
    ]
    report = kl.summary(new, print_fn=lambda line: None)
    assert [s.name for s in report.sites] == names
    # k - 1 = 2 earlier sites of the same stage, newest first; the second
    # stage (another width) starts afresh.
    expected = []
    for i in range(len(names)):
        start = 0 if i < 4 else 4
        expected.append(names[max(start, i - 2) : i][::-1])
    assert [s.pa_connected for s in report.sites] == expected
    assert [l.num_inputs for l in kl.laurel_layers(new)] == [2, 3, 4, 4, 2, 3, 4, 4]
    # The history arrives: gamma on x_{i-2} of the first stage's third site
    # (the x of its first site) changes the output.
    x = images[0][:2]
    before = out(new, x)
    kl.laurel_layers(new)[2].gamma.assign(np.array([0.0, 0.0, 0.5], "float32"))
    assert np.abs(out(new, x) - before).max() > 1e-3


def test_video_prism_stacks_each_have_their_own_pa_history():
    new = kl.rewrite(supported.video_prism(), "pa", k=3, placement="both")
    report = kl.summary(new, print_fn=lambda line: None)
    stacks = [site.name.split("/")[0] for site in report.sites]
    assert (
        stacks
        == ["spatial_encoder"] * 4
        + ["temporal_encoder"] * 2
        + ["auxiliary_encoder"] * 2
        + ["text_encoder"] * 4
    )
    # Each stack starts afresh: its first site mixes nothing earlier.
    starts = [i for i, s in enumerate(stacks) if i == 0 or stacks[i - 1] != s]
    assert [report.sites[i].pa_connected for i in starts] == [[], [], [], []]
    assert all(report.sites[i + 1].pa_connected for i in starts)
    # An auxiliary encoder counted but not built (no text encoder) is refused.
    config = supported.video_prism().get_config() | dict(num_text_layers=0, vocabulary_size=0)
    with pytest.raises(ValueError, match=r"built 3 VideoPrismEncoderBlock layers where"):
        kl.rewrite(keras_hub.models.VideoPrismBackbone.from_config(config), "rw")


def test_weights_copied_where_the_backbone_prefixes_its_sublayers(images):
    # DINOv2 names its sublayers after the backbone ("tuned_encoder", ...).
    x = feed("dinov2", images[0][:2])
    base = keras_hub.models.DINOV2Backbone(
        num_layers=1,
        intermediate_dim=2 * HIDDEN,
        position_embedding_shape=(SIZE, SIZE, 1),
        name="tuned",
        **SMALL,
    )
    assert any(v.path.startswith("tuned_encoder/") for v in base.weights)
    new = kl.rewrite(base, "rw+lr", rank=2, placement="both")
    np.testing.assert_array_equal(out(new, x), out(base, x))
    laurel = {id(v) for l in kl.laurel_layers(new) for v in l.weights}
    copied = [v for v in new.weights if id(v) not in laurel]
    assert [v.path for v in copied] == [v.path for v in base.weights]
    for target, source in zip(copied, base.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(target), keras.ops.convert_to_numpy(source)
        )
