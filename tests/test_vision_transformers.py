"""LAuReL on KerasHub's ViT: both residuals of every encoder block, built by
the encoder layer inside the backbone; fit inside its image classifier on
real images (`fashion_mnist`, resized), on the current backend."""

import keras
import keras_hub
import numpy as np
import pytest

import keras_laurel as kl
from keras_laurel.compare import data as data_lib

LAYERS, HIDDEN, SIZE = 3, 16, 32


def vit():
    return keras_hub.models.ViTBackbone(
        image_shape=(SIZE, SIZE, 1),
        patch_size=8,
        num_layers=LAYERS,
        num_heads=2,
        hidden_dim=HIDDEN,
        mlp_dim=2 * HIDDEN,
    )


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


@pytest.mark.parametrize("variant", ["rw", "rw+lr+pa"])
def test_identity_exact_weights_and_save_load(variant, images, tmp_path):
    x = images[0][:4]
    base = vit()
    new = kl.rewrite(base, variant, rank=2 if "lr" in variant else None, placement="both")
    assert isinstance(new, keras_hub.models.ViTBackbone)
    np.testing.assert_array_equal(out(new, x), out(base, x))
    laurel = {id(v) for l in kl.laurel_layers(new) for v in l.weights}
    for target, source in zip([v for v in new.weights if id(v) not in laurel], base.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(target), keras.ops.convert_to_numpy(source)
        )
    randomize(new)
    assert np.abs(out(new, x) - out(base, x)).max() > 1e-3
    path = str(tmp_path / "vit.keras")
    new.save(path)
    np.testing.assert_array_equal(out(keras.saving.load_model(path), x), out(new, x))


def test_report_and_pa_wiring_site_by_site():
    new = kl.rewrite(vit(), "pa", k=3, placement="both")
    report = kl.report(new)
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


def test_adapters_freeze_base_and_fit_in_the_image_classifier(images, tmp_path):
    x, y, classes = images
    base = vit()
    new = kl.rewrite(base, "rw+lr", rank=2, placement="both", freeze_base=True)
    assert {v.path for v in new.trainable_weights} == {
        v.path for l in kl.laurel_layers(new) for v in l.weights
    }
    classifier = keras_hub.models.ViTImageClassifier(backbone=new, num_classes=classes)
    classifier.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = {
        v.path: np.copy(keras.ops.convert_to_numpy(v))
        for l in kl.laurel_layers(new)
        for v in l.weights
    }
    classifier.fit(x, y, batch_size=16, epochs=1, verbose=0)  # 2 steps: A moves once B has
    after = {
        v.path: keras.ops.convert_to_numpy(v) for l in kl.laurel_layers(new) for v in l.weights
    }
    assert [p for p in before if np.array_equal(before[p], after[p])] == []
    assert classifier.predict(x[:4], verbose=0).shape == (4, classes)

    path = str(tmp_path / "vit.laurel.h5")
    kl.save_laurel_weights(new, path)
    fresh = kl.rewrite(base, "rw+lr", rank=2, placement="both")
    kl.load_laurel_weights(fresh, path)
    np.testing.assert_array_equal(out(fresh, x[:4]), out(new, x[:4]))


def test_plain_vit_built_after_a_rewrite_is_plain():
    kl.rewrite(vit(), "rw")
    assert not kl.laurel_layers(vit())
