"""Residuals written as `x + f(x)` / `keras.ops.add(x, fx)` (add operations in
the functional graph, not `Add` layers) rewrite exactly like `Add` layers."""

import keras
import numpy as np
import pytest
from reference import laurel_reference
from reference import raw_weights

import keras_laurel as kl

D = 8


def residual_mlp(blocks=3):
    """Pre-norm residual MLP blocks written with `+` (and one with ops.add)."""
    x = inputs = keras.Input((D,))
    for i in range(blocks):
        h = keras.layers.LayerNormalization(name=f"norm{i}")(x)
        h = keras.layers.Dense(2 * D, activation="gelu", name=f"up{i}")(h)
        fx = keras.layers.Dense(D, name=f"mlp{i}")(h)
        x = keras.ops.add(fx, x) if i == 1 else x + fx
    outputs = keras.layers.Dense(3, name="head")(x)
    return keras.Model(inputs, outputs, name="residual_mlp")


def small_convnet():
    """Two conv blocks with `+` residuals, channels last."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(D, 3, padding="same", name="stem")(inputs)
    for i in range(2):
        h = keras.layers.Conv2D(D, 3, padding="same", activation="relu", name=f"conv{i}_a")(x)
        h = keras.layers.BatchNormalization(name=f"bn{i}")(h)
        x = x + keras.layers.Conv2D(D, 3, padding="same", name=f"conv{i}_b")(h)
        x = keras.ops.relu(x)
    outputs = keras.layers.Dense(4, name="head")(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs, name="convnet")


MODELS = {"mlp": (residual_mlp, (4, D)), "convnet": (small_convnet, (2, 8, 8, 3))}


def data(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def out(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def settings(variant):
    parts = variant.split("+")
    return dict(rank=2 if "lr" in parts else None, k=3 if "pa" in parts else None)


def test_operation_sites_are_found_and_named_by_their_branch():
    # Issue: a model with `+` residuals was refused with "it has no Add layer".
    sites, rejected = kl.find_residual_sites(residual_mlp())
    assert [s.name for s in sites] == ["mlp0_residual", "mlp1_residual", "mlp2_residual"]
    assert all(s.is_operation and s.shortcut == "identity" for s in sites)
    assert [(s.fx_index, s.x_index) for s in sites] == [(1, 0), (0, 1), (1, 0)]
    assert rejected == {}


def test_operation_site_names_are_stable():
    # Keras numbers add operations with a process-wide counter (add, add_1,
    # ...); the site names must not depend on how many models came before.
    first = [s.name for s in kl.find_residual_sites(residual_mlp())[0]]
    residual_mlp()
    assert [s.name for s in kl.find_residual_sites(residual_mlp())[0]] == first


@pytest.mark.parametrize("variant", ["rw", "lr", "pa", "rw+lr+pa"])
@pytest.mark.parametrize("model_name", list(MODELS))
def test_identity_at_init_and_exact_weights(model_name, variant):
    build, shape = MODELS[model_name]
    base = build()
    before = [w.copy() for w in base.get_weights()]
    new = kl.rewrite(base, variant, **settings(variant))
    x = data(shape)
    np.testing.assert_array_equal(out(new, x), out(base, x))
    laurel = {id(v) for layer in kl.laurel_layers(new) for v in layer.weights}
    copied = {v.path: v for v in new.weights if id(v) not in laurel}
    for v in base.weights:
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(copied[v.path]), keras.ops.convert_to_numpy(v)
        )
    for w, b in zip(base.get_weights(), before):  # the caller's model is untouched
        np.testing.assert_array_equal(w, b)
    assert len(kl.laurel_layers(new)) == len(kl.find_residual_sites(base)[0])


def test_rewritten_site_computes_the_laurel_equation():
    base = residual_mlp(blocks=1)
    new = kl.rewrite(base, "rw+lr", rank=2)
    (layer,) = kl.laurel_layers(new)
    rng = np.random.default_rng(3)
    for v in layer.weights:
        v.assign(rng.normal(size=v.shape).astype("float32"))
    x = data((4, D))
    probe = keras.Model(new.inputs, [layer.input[0], layer.input[1], layer.output])
    fx, skip, got = (keras.ops.convert_to_numpy(t) for t in probe(x))
    want = laurel_reference("rw+lr", raw_weights(layer), [fx, skip])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_pa_mixes_previous_operation_sites():
    new = kl.rewrite(residual_mlp(), "pa", k=3)
    report = kl.summary(new, print_fn=lambda line: None)
    assert [s.pa_connected for s in report.sites] == [
        [],
        ["mlp0_residual_laurel"],
        ["mlp1_residual_laurel", "mlp0_residual_laurel"],
    ]


def test_targets_select_operation_sites_by_name():
    new = kl.rewrite(residual_mlp(), "rw", targets="mlp[02]_residual")
    assert [l.name for l in kl.laurel_layers(new)] == [
        "mlp0_residual_laurel",
        "mlp2_residual_laurel",
    ]
    # An unchosen `+` stays an add; rewriting the original again still works.
    again = kl.rewrite(residual_mlp(), "rw", targets=["mlp1_residual"])
    assert [l.name for l in kl.laurel_layers(again)] == ["mlp1_residual_laurel"]


@pytest.mark.parametrize("model_name", list(MODELS))
def test_keras_save_and_load(model_name, tmp_path):
    build, shape = MODELS[model_name]
    new = kl.rewrite(build(), "rw+lr+pa", rank=2, k=3)
    rng = np.random.default_rng(1)
    for layer in kl.laurel_layers(new):
        for v in layer.weights:
            v.assign(rng.normal(scale=0.3, size=v.shape).astype("float32"))
    path = str(tmp_path / "model.keras")
    new.save(path)
    loaded = keras.saving.load_model(path)
    x = data(shape)
    np.testing.assert_array_equal(out(loaded, x), out(new, x))
    assert [l.name for l in kl.laurel_layers(loaded)] == [l.name for l in kl.laurel_layers(new)]


def test_parallel_branches_and_broadcasting_adds_are_left_alone():
    inputs = keras.Input((4, D))
    left = keras.layers.Dense(D, name="left")(inputs)
    right = keras.layers.Dense(D, name="right")(inputs)
    parallel = left + right  # two branches, no skip
    bias = keras.layers.Dense(D, name="bias")(keras.layers.GlobalAveragePooling1D()(inputs))
    broadcast = parallel + keras.ops.expand_dims(bias, 1)  # (None, 4, D) + (None, 1, D)
    constant = broadcast + 1.0
    model = keras.Model(inputs, constant)
    sites, rejected = kl.find_residual_sites(model)
    assert sites == []
    reasons = sorted(rejected.values())
    assert any("equally far" in r for r in reasons)
    assert any("operand shapes differ" in r for r in reasons)
    assert any("adds 1 tensors" in r for r in reasons)
    with pytest.raises(
        ValueError, match=r"has no residual connection .*equally far.*operand shapes differ"
    ):
        kl.rewrite(model, "rw")


def test_residual_inside_a_custom_layer_is_named():
    @keras.saving.register_keras_serializable(package="test_operation_residuals")
    class ScaledResidual(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = keras.layers.Dense(D)

        def call(self, x):
            return x + 0.5 * self.inner(x)

    inputs = keras.Input((D,))
    model = keras.Model(inputs, ScaledResidual(name="hidden_block")(inputs))
    with pytest.raises(
        ValueError, match=r"\['hidden_block'\] of Functional contain layers of their own"
    ):
        kl.rewrite(model, "rw")
