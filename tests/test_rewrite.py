"""The graph rewriter on real KerasHub / KerasCV ResNet-50 backbones and on
hand-built functional models, on the current backend."""

import os

import keras
import numpy as np
import pytest
from backbones import BACKBONES
from backbones import forward
from backbones import site_channels_and_terms
from reference import parameter_count

import keras_laurel as kl

RANK, K = 16, 3


def images(n=2, shape=(32, 32, 3), seed=0):
    return np.random.default_rng(seed).uniform(size=(n, *shape)).astype("float32")


def randomize_laurel(model, seed=1):
    rng = np.random.default_rng(seed)
    for layer in kl.laurel_layers(model):
        for v in layer.weights:
            v.assign(rng.normal(scale=0.05, size=v.shape).astype("float32"))


def layer_weights(model):
    return {
        layer.name: [np.array(w) for w in layer.get_weights()]
        for layer in model.layers
        if layer.weights and not isinstance(layer, kl.Laurel)
    }


def expected_sites(name, model):
    """(channels, PA terms) per site. For the v1 / KerasHub ResNet-50s this is
    the known stage structure; KerasCV's ResNetV2 changes resolution inside a
    stage, so there the rule (same-shape previous sites within k - 1) is
    applied to the shapes the graph has."""
    if name != "cv-v2":
        return site_channels_and_terms(K)
    shapes = [s.shape for s in kl.find_residual_sites(model)[0]]
    return [
        (shape[-1], 1 + sum(1 for j in range(1, K) if i - j >= 0 and shapes[i - j] == shape))
        for i, shape in enumerate(shapes)
    ]


def settings(variant):
    parts = variant.split("+")
    return dict(rank=RANK if "lr" in parts else None, k=K if "pa" in parts else None)


@pytest.mark.parametrize("name", list(BACKBONES))
def test_resnet50_has_16_residual_sites(name):
    model = BACKBONES[name]()
    sites, rejected = kl.find_residual_sites(model)
    assert len(sites) == 16 and rejected == {}
    # The first block of every stage changes the width: a projection shortcut.
    # KerasCV's ResNetV2 also strides in the last block of a stage (a pooling
    # shortcut), as the original ResNetV2 does.
    starts = {0, 3, 7, 13} | ({6, 12, 15} if name == "cv-v2" else set())
    assert [s.shortcut for s in sites] == [
        "projection" if i in starts else "identity" for i in range(16)
    ]
    for site in sites:
        node = site.layer._inbound_nodes[0]
        fx, x = node.input_tensors[site.fx_index], node.input_tensors[site.x_index]
        # f(x) ends the residual branch: its last operation is a convolution
        # or a normalisation of one, never the block input itself.
        fx_op = fx._keras_history.operation
        assert isinstance(fx_op, (keras.layers.Conv2D, keras.layers.BatchNormalization))
        if site.shortcut == "identity":
            # x is the block input: an ancestor of f(x), consumed by the branch.
            assert any(
                x is t
                for layer in model.layers
                for n in layer._inbound_nodes
                for t in n.input_tensors
                if layer is not site.layer
            )


@pytest.mark.parametrize(
    "name, variant",
    [("hub-v1", v) for v in kl.VARIANTS + kl.BRANCH_SCALES]
    + [(n, v) for n in ("hub-v2", "cv-v1", "cv-v2") for v in ("rw", "rw+lr+pa")],
)
def test_rewrite_resnet50_identity_weights_and_parameters(name, variant):
    model = BACKBONES[name]()
    before = layer_weights(model)
    x = images()
    want = forward(model, x)
    new = kl.rewrite(model, variant, **settings(variant))

    # The caller's model is untouched: same layers, same weights, no LAuReL.
    assert not kl.laurel_layers(model)
    assert all(not isinstance(layer, kl.Laurel) for layer in model.layers)
    # Identical outputs before training.
    np.testing.assert_allclose(forward(new, x), want, rtol=0, atol=1e-5)
    # Every original weight copied bit-exactly, into new variables.
    after = layer_weights(new)
    assert after.keys() == before.keys()
    for layer_name, weights in before.items():
        for a, b in zip(weights, after[layer_name]):
            np.testing.assert_array_equal(a, b)
    new_ids = {id(v) for v in new.weights}
    assert not any(id(v) in new_ids for v in model.weights)
    # Parameters added = the formula summed over the 16 sites.
    laurels = kl.laurel_layers(new)
    assert len(laurels) == 16
    want_added = sum(
        parameter_count(variant, channels, rank=RANK, k=K, pa_terms=terms)
        for channels, terms in expected_sites(name, model)
    )
    assert new.count_params() - model.count_params() == want_added
    report = kl.summary(new, print_fn=lambda _: None)
    assert report.added_params == want_added
    assert report.base_params == model.count_params()
    assert abs(report.added_percent - 100 * want_added / model.count_params()) < 1e-9


def test_pa_wiring_and_report_on_resnet50():
    new = kl.rewrite(BACKBONES["hub-v1"](), "pa", k=3)
    lines = []
    report = kl.summary(new, print_fn=lines.append)
    assert "16 sites" in lines[0].splitlines()[-1]
    names = [s.name for s in report.sites]
    terms = site_channels_and_terms(3)
    for i, site in enumerate(report.sites):
        # Connected: the previous sites of the same stage, newest first.
        assert len(site.pa_connected) == terms[i][1] - 1
        assert site.pa_connected == [names[i - j] for j in range(1, terms[i][1])]
        # Left out, and said so: earlier sites of another shape within k - 1.
        window = [names[i - j] for j in range(1, min(i, 2) + 1)]
        assert [n for n, _ in site.pa_left_out] == [n for n in window if n not in site.pa_connected]
        assert all("shape" in reason for _, reason in site.pa_left_out)
    # The layer really receives those tensors: its inputs are the x of the sites named.
    layers = {layer.name: layer for layer in new.layers}
    third = layers[names[2]]._inbound_nodes[0].input_tensors
    assert third[2] is layers[names[1]]._inbound_nodes[0].input_tensors[1]
    assert third[3] is layers[names[0]]._inbound_nodes[0].input_tensors[1]


def test_keras_save_load_of_rewritten_resnet50(tmp_path):
    new = kl.rewrite(BACKBONES["hub-v1"](), "rw+lr+pa", rank=RANK, k=K)
    randomize_laurel(new)
    x = images()
    path = os.path.join(tmp_path, "laurel_resnet50.keras")
    new.save(path)
    loaded = keras.saving.load_model(path)
    assert len(kl.laurel_layers(loaded)) == 16
    np.testing.assert_array_equal(forward(loaded, x), forward(new, x))
    for a, b in zip(new.weights, loaded.weights):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_adapter_save_load_round_trip(tmp_path):
    base = BACKBONES["hub-v1"]()
    new = kl.rewrite(base, "rw+lr", rank=RANK)
    randomize_laurel(new)
    path = os.path.join(tmp_path, "resnet.laurel.h5")
    kl.save_laurel_weights(new, path)
    fresh = kl.rewrite(base, "rw+lr", rank=RANK)
    x = images()
    assert not np.array_equal(forward(fresh, x), forward(new, x))
    kl.load_laurel_weights(fresh, path)
    np.testing.assert_array_equal(forward(fresh, x), forward(new, x))
    # Only the LAuReL weights are in the file, keyed by the site's index
    # among the model's residual connections.
    import h5py

    with h5py.File(path) as f:
        assert sorted(f["sites"].keys(), key=int) == [str(i) for i in range(16)]
    # Into the plain model: LAuReL is added as the file says (a new model).
    added = kl.load_laurel_weights(base, path)
    assert added is not base and not kl.laurel_layers(base)
    np.testing.assert_array_equal(forward(added, x), forward(new, x))
    # Some sites only (stage 2's): the file records which.
    partial = kl.rewrite(base, "rw", targets="stack1_")
    randomize_laurel(partial)
    kl.save_laurel_weights(partial, os.path.join(tmp_path, "partial.laurel.h5"))
    with h5py.File(os.path.join(tmp_path, "partial.laurel.h5")) as f:
        assert sorted(f["sites"].keys(), key=int) == ["3", "4", "5", "6"]
    added = kl.load_laurel_weights(base, os.path.join(tmp_path, "partial.laurel.h5"))
    assert len(kl.laurel_layers(added)) == 4
    np.testing.assert_array_equal(forward(added, x), forward(partial, x))
    # A model rewritten differently does not accept it.
    other = kl.rewrite(base, "rw")
    with pytest.raises(ValueError, match="variant"):
        kl.load_laurel_weights(other, path)
    with pytest.raises(ValueError, match=r"\.laurel\.h5"):
        kl.save_laurel_weights(new, os.path.join(tmp_path, "x.h5"))


def fashion_mnist(n=128):
    import tensorflow_datasets as tfds

    ds = tfds.load(
        "fashion_mnist",
        split=f"train[:{n}]",
        as_supervised=True,
        data_dir=os.environ["TFDS_DATA_DIR"],
        download=False,
    )
    xs, ys = zip(*tfds.as_numpy(ds))
    return np.stack(xs).astype("float32") / 255.0, np.array(ys)


# CI time: the classifiers are fitted in some passes only, KerasHub's in the jax
# and torch passes, KerasCV's in the tensorflow pass; rewriting both libraries'
# backbones (identity, weights, save/load) is tested on every backend above.
FIT_PASSES = {"hub": ("torch",), "cv": ("tensorflow",)}


@pytest.mark.parametrize("library", ["hub", "cv"])
def test_rewritten_backbone_in_image_classifier_fits_and_predicts(library):
    if keras.backend.backend() not in FIT_PASSES[library]:
        pytest.skip(
            f"CI time: the {library} classifier is fitted in the "
            f"{' and '.join(FIT_PASSES[library])} passes"
        )
    x, y = fashion_mnist(64)
    shape = x.shape[1:]
    base = BACKBONES[f"{library}-v1"](image_shape=shape)
    backbone = kl.rewrite(base, "rw+lr", rank=RANK)
    if library == "hub":
        import keras_hub

        classifier = keras_hub.models.ImageClassifier(backbone=backbone, num_classes=10)
        reference = keras_hub.models.ImageClassifier(backbone=base, num_classes=10)
    else:
        import keras_cv

        classifier = keras_cv.models.ImageClassifier(
            backbone=backbone, num_classes=10, activation=None
        )
        reference = keras_cv.models.ImageClassifier(backbone=base, num_classes=10, activation=None)
    # Before training the classifier computes what the original one does.
    head = [l for l in classifier.layers if l.weights and l is not backbone][-1]
    ref_head = [l for l in reference.layers if l.weights and l is not base][-1]
    head.set_weights(ref_head.get_weights())
    np.testing.assert_allclose(
        classifier.predict(x[:8], verbose=0), reference.predict(x[:8], verbose=0), atol=1e-5
    )
    classifier.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = classifier.fit(x, y, batch_size=16, epochs=3, verbose=0).history["loss"]
    assert history[-1] < history[0]
    assert classifier.predict(x[:4], verbose=0).shape == (4, 10)
    # LAuReL's weights trained along with the rest.
    assert any(
        not np.allclose(np.array(v), 0.0)
        for layer in kl.laurel_layers(backbone)
        for v in layer.weights
        if v.name == "b"
    )


def test_freeze_base_trains_only_laurel():
    base = BACKBONES["hub-v1"](image_shape=(28, 28, 1))
    new = kl.rewrite(base, "rw", freeze_base=True)
    laurel_ids = {id(v) for layer in kl.laurel_layers(new) for v in layer.weights}
    assert {id(v) for v in new.trainable_weights} == laurel_ids
    outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(new.output))
    model = keras.Model(new.input, outputs)
    model.layers[-1].trainable = False
    before = layer_weights(new)
    x, y = fashion_mnist(32)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    after = layer_weights(new)
    for name, weights in before.items():
        for a, b in zip(weights, after[name]):
            np.testing.assert_array_equal(a, b)
    alphas = [float(keras.ops.convert_to_numpy(l.alpha)) for l in kl.laurel_layers(new)]
    assert any(a != 1.0 for a in alphas)


def small_transformer(vocab=50, length=8, dim=16):
    """Token + position embeddings (not residual) and two residual blocks."""
    import keras_hub

    tokens = keras.Input((length,), dtype="int32")
    t = keras.layers.Embedding(vocab, dim, name="tokens")(tokens)
    p = keras_hub.layers.PositionEmbedding(length, name="positions")(t)
    x = keras.layers.Add(name="embeddings_add")([t, p])
    for i in range(2):
        h = keras.layers.LayerNormalization(name=f"ln{i}")(x)
        h = keras.layers.Dense(dim, activation="relu", name=f"mlp{i}")(h)
        x = keras.layers.Add(name=f"residual{i}")([x, h])  # x first: order is not a cue
    return keras.Model(tokens, keras.layers.Dense(vocab, name="logits")(x))


def test_any_functional_model_and_non_residual_adds():
    model = small_transformer()
    sites, rejected = kl.find_residual_sites(model)
    assert [s.name for s in sites] == ["residual0", "residual1"]
    assert [(s.x_index, s.fx_index) for s in sites] == [(0, 1), (0, 1)]
    assert "embeddings_add" in rejected and "does not depend" in rejected["embeddings_add"]
    tokens = np.arange(16).reshape(2, 8) % 50
    for variant in kl.VARIANTS + kl.BRANCH_SCALES:
        new = kl.rewrite(
            model,
            variant,
            **(dict(settings(variant), rank=4) if "lr" in variant else settings(variant)),
        )
        np.testing.assert_allclose(forward(new, tokens), forward(model, tokens), atol=1e-6)
        assert new.get_layer("embeddings_add").__class__ is keras.layers.Add


def test_targets_regex_list_and_callable():
    model = small_transformer()
    by_regex = kl.rewrite(model, "rw", targets=r"residual1$")
    by_list = kl.rewrite(model, "rw", targets=["residual0"])
    by_callable = kl.rewrite(model, "rw", targets=lambda layer: layer.name.endswith("0"))
    assert [l.name for l in kl.laurel_layers(by_regex)] == ["residual1_laurel"]
    assert [l.name for l in kl.laurel_layers(by_list)] == ["residual0_laurel"]
    assert [l.name for l in kl.laurel_layers(by_callable)] == ["residual0_laurel"]
    assert isinstance(by_regex.get_layer("residual0"), keras.layers.Add)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(4)

    def call(self, x):
        return x + self.dense(x)


@pytest.mark.parametrize(
    "make, kwargs, match",
    [
        (lambda: Subclassed(), {}, r"`model` must be a functional Keras model.*Subclassed"),
        (
            lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)]),
            {},
            r"`model` is a Sequential model",
        ),
        (lambda: keras.Model(*_plain()), {}, r"has no residual connection"),
        (
            lambda: small_transformer(),
            {"targets": "attention"},
            r"`targets`='attention' matches no residual site",
        ),
        (
            lambda: small_transformer(),
            {"targets": ["residual7"]},
            r"`targets` names \['residual7'\]",
        ),
        (
            lambda: small_transformer(),
            {"variant": "lr", "rank": 17},
            r"`rank`=17 is invalid at site 'residual0'.*channel dimension .* is 16",
        ),
        (lambda: small_transformer(), {"variant": "rw+xx"}, r"rewrite: `variant`"),
        (lambda: small_transformer(), {"variant": "pa", "k": 0}, r"rewrite: .*`k` must be"),
        (lambda: small_transformer(), {"variant": "lr", "rank": 0}, r"rewrite: .*`rank` must be"),
    ],
)
def test_bad_input(make, kwargs, match):
    model = make()
    kwargs = dict({"variant": "rw"}, **kwargs)
    with pytest.raises(ValueError, match=match):
        kl.rewrite(model, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"variant": "lr"},
            r"rewrite: `rank` must be an integer >= 1 for variant 'lr'; received None",
        ),
        ({"variant": "rw", "targets": 3}, r"`targets` must be None, a regex string"),
        ({"variant": "rw", "per_channel": 1}, r"rewrite: `per_channel` must be True or False"),
    ],
)
def test_bad_input_types(kwargs, match):
    with pytest.raises(TypeError, match=match):
        kl.rewrite(small_transformer(), **kwargs)


def _plain():
    x = keras.Input((4,))
    a = keras.layers.Dense(4)(x)
    b = keras.layers.Dense(4)(x)
    return x, keras.layers.Add()([a, b])  # parallel branches: not residual
