"""The LAuReL layers against the numpy reference, on the current backend."""

import os
import re

import keras
import numpy as np
import pytest
from keras import ops
from reference import laurel_reference
from reference import parameter_count
from reference import raw_weights
from reference import residual_weights

import keras_laurel as kl

BACKEND = keras.backend.backend()
VARIANTS = list(kl.VARIANTS)
RANK, K = 2, 3

# name -> (shape, channel axis)
SHAPES = {
    "BD": ((3, 8), -1),
    "BTD": ((2, 5, 8), -1),
    "BHWC": ((2, 3, 4, 8), -1),
    "BCHW": ((2, 8, 3, 4), 1),
}


def make(variant, axis=-1, **kwargs):
    parts = variant.split("+")
    return kl.Laurel(
        variant,
        rank=RANK if "lr" in parts else None,
        k=K if "pa" in parts else None,
        axis=axis,
        **kwargs,
    )


def random_inputs(shape, count, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype("float32") for _ in range(count)]


def randomize(layer, seed=1):
    """Random (not init) values for every weight of a built layer."""
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        v.assign(rng.normal(scale=0.5, size=v.shape).astype("float32"))


def num_inputs(variant, prev):
    return 2 + (prev if "pa" in variant else 0)


@pytest.mark.parametrize("shape_name", list(SHAPES))
@pytest.mark.parametrize("variant", VARIANTS)
def test_matches_numpy_reference(variant, shape_name):
    shape, axis = SHAPES[shape_name]
    for prev in [0, 1, 2] if "pa" in variant else [0]:
        layer = make(variant, axis=axis)
        inputs = random_inputs(shape, num_inputs(variant, prev), seed=prev)
        layer(inputs)
        randomize(layer, seed=10 + prev)
        got = ops.convert_to_numpy(layer(inputs))
        want = laurel_reference(variant, raw_weights(layer), inputs, axis=axis)
        assert got.shape == shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("normalization", ["softmax", "sigmoid", None])
@pytest.mark.parametrize("variant", ["rw", "rw+lr", "rw+lr+pa"])
def test_residual_weight_normalizations(variant, normalization, per_channel):
    shape, axis = SHAPES["BCHW"]
    layer = make(variant, axis=axis, normalization=normalization, per_channel=per_channel)
    inputs = random_inputs(shape, num_inputs(variant, 2))
    layer(inputs)
    randomize(layer)
    got = ops.convert_to_numpy(layer(inputs))
    want = laurel_reference(
        variant, raw_weights(layer), inputs, normalization=normalization, axis=axis
    )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    alpha, beta = residual_weights(raw_weights(layer), normalization)
    np.testing.assert_allclose(ops.convert_to_numpy(layer.alpha), alpha, rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(layer.beta), beta, rtol=1e-6)
    if normalization is not None:
        np.testing.assert_allclose(alpha + beta, 2.0, rtol=1e-6)


@pytest.mark.parametrize(
    "layer_fn, variant",
    [
        (lambda: kl.LaurelRW(), "rw"),
        (lambda: kl.LaurelRW(normalization="sigmoid", per_channel=True), "rw"),
        (lambda: kl.LaurelLR(rank=RANK), "lr"),
        (lambda: kl.LaurelLR(rank=RANK, a_initializer="column_orthogonal"), "lr"),
        (lambda: kl.LaurelPA(k=K), "pa"),
        (lambda: kl.Laurel("lr+pa", k=K, rank=RANK), "lr+pa"),
    ],
)
def test_variant_layers_match_reference(layer_fn, variant):
    layer = layer_fn()
    inputs = random_inputs((2, 5, 8), num_inputs(variant, 2))
    layer(inputs)
    randomize(layer)
    got = ops.convert_to_numpy(layer(inputs))
    want = laurel_reference(variant, raw_weights(layer), inputs, normalization=layer.normalization)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_column_orthogonal_initializer():
    a = ops.convert_to_numpy(kl.ColumnOrthogonal()((12, 4)))
    d, r = a.shape
    want = np.zeros((d, r))
    for i in range(d):
        want[i, i % r] = 1.0 / np.sqrt(r * d)
    np.testing.assert_allclose(a, want, rtol=1e-6)
    gram = a.T @ a
    np.testing.assert_allclose(gram, np.diag(np.diag(gram)), atol=1e-7)
    layer = kl.LaurelLR(rank=4, a_initializer="column_orthogonal")
    layer(random_inputs((2, 12), 2))
    np.testing.assert_allclose(ops.convert_to_numpy(layer.a[0]), want, rtol=1e-6)


@pytest.mark.parametrize("shape_name", ["BD", "BHWC", "BCHW"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_identity_at_init(variant, shape_name):
    shape, axis = SHAPES[shape_name]
    inputs = random_inputs(shape, num_inputs(variant, 2))
    out = ops.convert_to_numpy(make(variant, axis=axis)(inputs))
    np.testing.assert_array_equal(out, inputs[0] + inputs[1])


def laurel_model(layer, dim=8, prev=2):
    """x -> Dense -> LAuReL(..., history) -> Dense, so LAuReL's gradients are real."""
    x = keras.Input((dim,))
    history = [keras.layers.Dense(dim, name=f"prev_{j}")(x) for j in range(prev)]
    fx = keras.layers.Dense(dim, activation="tanh", name="block")(x)
    y = layer([fx, x, *history])
    return keras.Model(x, keras.layers.Dense(3, name="head")(y))


def weights_changed_by_one_step(model, data, lr=0.1):
    before = {v.path: np.array(v.numpy()) for v in model.trainable_weights}
    model.train_on_batch(*data)
    return {
        v.path for v in model.trainable_weights if not np.array_equal(before[v.path], v.numpy())
    }


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_dead_parameters(variant):
    """Every LAuReL weight gets a non-zero gradient with random data.

    A weight whose factor partner starts at zero cannot have a gradient on the
    very first step (`d/dA (x A) B = 0` while `B = 0`; LoRA has the same
    property, and with PA `gamma_j (x A_j) B_j` no identity-preserving init
    gives all three factors a gradient at once). Those are exactly the `a*`
    factors, plus `gamma` when `h_j` is low rank; every other weight moves on
    step 1, and every weight moves by step 2 -- none is dead.
    """
    layer = make(variant)
    model = laurel_model(layer, prev=2 if layer.use_pa else 0)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(0)
    data = (rng.normal(size=(16, 8)).astype("float32"), rng.normal(size=(16, 3)).astype("float32"))
    laurel_paths = {v.path for v in layer.trainable_weights}
    first = weights_changed_by_one_step(model, data) & laurel_paths
    expected_still = {v.path for v in layer.trainable_weights if re.fullmatch(r"a(_\d+)?", v.name)}
    if layer.use_lr and layer.use_pa:
        expected_still |= {layer.gamma.path}
    assert first == laurel_paths - expected_still
    second = weights_changed_by_one_step(model, data) & laurel_paths
    assert first | second == laurel_paths


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("normalization", ["softmax", "sigmoid", None])
@pytest.mark.parametrize("variant", VARIANTS)
def test_parameter_count_matches_formula(variant, normalization, per_channel):
    dim = 16
    for prev in [0, 1, 2] if "pa" in variant else [0]:
        layer = make(variant, normalization=normalization, per_channel=per_channel)
        layer(random_inputs((2, dim), num_inputs(variant, prev)))
        want = parameter_count(
            variant,
            dim,
            rank=RANK,
            k=K,
            normalization=normalization,
            per_channel=per_channel,
            pa_terms=prev + 1,
        )
        assert layer.count_params() == want


def test_parameter_count_paper_example():
    # docs/method.md: RW+LR+PA costs 2 + k + 2 r k D per connection.
    layer = kl.Laurel("rw+lr+pa", rank=32, k=3)
    layer(random_inputs((1, 1024), 4))
    assert layer.count_params() == 2 + 3 + 2 * 32 * 3 * 1024


def test_inspection_properties():
    layer = kl.Laurel("rw+lr+pa", rank=RANK, k=K)
    inputs = random_inputs((2, 8), 4)
    layer(inputs)
    randomize(layer)
    w = raw_weights(layer)
    alpha, beta = residual_weights(w, "softmax")
    np.testing.assert_allclose(ops.convert_to_numpy(layer.alpha), alpha, rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(layer.beta), beta, rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(layer.gamma), w["gamma"], rtol=1e-6)
    assert isinstance(layer.a, tuple) and len(layer.a) == K
    for j in range(K):
        np.testing.assert_allclose(ops.convert_to_numpy(layer.a[j]), w[f"a_{j}"], rtol=1e-6)
        np.testing.assert_allclose(ops.convert_to_numpy(layer.b[j]), w[f"b_{j}"], rtol=1e-6)
    assert ops.is_tensor(layer.alpha)
    # The weights are the layer's own variables (as LayerNormalization.gamma).
    assert layer.gamma is layer.weights[[v.name for v in layer.weights].index("gamma")]
    assert {id(v) for v in layer.a + layer.b} == {id(v) for v in layer.lowrank_variables}
    assert [v.name for v in layer.rw_variables] == ["alpha_logit", "beta_logit"]
    # The effective weights and the settings are read-only views.
    for name in ("alpha", "beta", "variant", "rank", "k", "axis", "settings"):
        with pytest.raises(AttributeError):
            setattr(layer, name, 1.0)

    lr = kl.LaurelLR(rank=RANK)
    lr(random_inputs((2, 8), 2))
    assert tuple(lr.a[0].shape) == (8, RANK) and tuple(lr.b[0].shape) == (RANK, 8)
    assert len(lr.a) == len(lr.b) == 1
    # `None` where the variant has no such weight, as Keras's layers do.
    for name in ("alpha", "gamma", "alpha_logit", "mix_logit", "alpha_weight", "norm_scale"):
        assert getattr(lr, name) is None, name
    assert lr.rw_variables == []
    with pytest.raises(ValueError, match="`alpha` exists once the layer is built"):
        kl.LaurelRW().alpha


@pytest.mark.parametrize("variant", VARIANTS)
def test_keras_save_load_round_trip(variant, tmp_path):
    inputs = random_inputs((2, 4, 8), num_inputs(variant, 2))
    tensors = [keras.Input(t.shape[1:]) for t in inputs]
    layer = make(variant, a_initializer="column_orthogonal")
    model = keras.Model(tensors, layer(tensors))
    randomize(layer)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[-1]) is kl.Laurel
    np.testing.assert_array_equal(
        ops.convert_to_numpy(loaded(inputs)), ops.convert_to_numpy(model(inputs))
    )


@pytest.mark.parametrize(
    "layer",
    [
        lambda: kl.LaurelRW(normalization=None, per_channel=True, axis=1),
        lambda: kl.LaurelLR(rank=3, a_initializer="column_orthogonal"),
        lambda: kl.Laurel("lr+pa", k=2, rank=2, gamma_initializer="ones"),
        lambda: kl.Laurel("pa+rw", k=2, normalization="sigmoid"),
    ],
)
def test_get_config_round_trip(layer):
    layer = layer()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    revived = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(revived) is type(layer) and revived.get_config() == config
    inputs = random_inputs((2, 8, 8), 3 if layer.use_pa else 2)
    layer(inputs)
    clone(inputs)
    randomize(layer)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(
        ops.convert_to_numpy(clone(inputs)), ops.convert_to_numpy(layer(inputs))
    )


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("variant", ["rw", "lr", "rw+lr+pa"])
def test_mixed_precision(variant, policy):
    keras.config.set_dtype_policy(policy)
    layer = make(variant)
    inputs = random_inputs((2, 4, 8), num_inputs(variant, 2))
    layer(inputs)
    randomize(layer)
    assert all(v.dtype == "float32" for v in layer.weights)
    out = layer(inputs)
    compute = policy.split("_")[1]
    assert keras.backend.standardize_dtype(out.dtype) == compute
    want = laurel_reference(variant, raw_weights(layer), inputs)
    got = ops.convert_to_numpy(ops.cast(out, "float32"))
    np.testing.assert_allclose(got, want, rtol=5e-2, atol=5e-2 * np.abs(want).max())


@pytest.mark.skipif(BACKEND == "torch", reason="XLA compilation is TensorFlow/JAX only")
@pytest.mark.parametrize("variant", VARIANTS)
def test_xla_compiled(variant):
    inputs = random_inputs((2, 4, 8), num_inputs(variant, 2))
    tensors = [keras.Input(t.shape[1:]) for t in inputs]
    layer = make(variant)
    model = keras.Model(tensors, layer(tensors))
    randomize(layer)
    want = laurel_reference(variant, raw_weights(layer), inputs)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(lambda xs: layer(xs), jit_compile=True)
        got = compiled([tf.constant(t) for t in inputs]).numpy()
    else:
        import jax

        @jax.jit
        def compiled(trainable, non_trainable, xs):
            return layer.stateless_call(trainable, non_trainable, xs)[0]

        got = np.asarray(
            compiled(
                [v.value for v in layer.trainable_variables],
                [v.value for v in layer.non_trainable_variables],
                inputs,
            )
        )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # And the jit-compiled Keras train/predict path.
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    np.testing.assert_allclose(model.predict(inputs, verbose=0), want, rtol=1e-5, atol=1e-5)
    model.fit(inputs, np.zeros_like(inputs[0]), epochs=1, verbose=0)


def test_regularizers_and_constraints_reach_each_weight():
    layer = kl.Laurel(
        "rw+lr+pa",
        rank=2,
        k=2,
        rw_regularizer=keras.regularizers.L2(0.5),
        a_regularizer="l1",
        gamma_regularizer={"class_name": "L2", "config": {"l2": 3.0}},
        b_constraint=keras.constraints.NonNeg(),
        gamma_constraint="non_neg",
    )
    layer(random_inputs((2, 8), 3))
    randomize(layer)
    w = raw_weights(layer)
    want = (
        0.5 * (w["alpha_logit"] ** 2 + w["beta_logit"] ** 2)
        + 0.01 * (np.abs(w["a_0"]).sum() + np.abs(w["a_1"]).sum())
        + 3.0 * (w["gamma"] ** 2).sum()
    )
    got = sum(float(ops.convert_to_numpy(loss)) for loss in layer.losses)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert layer.b[0].constraint is not None and layer.a[0].constraint is None
    np.testing.assert_array_equal(
        ops.convert_to_numpy(layer.gamma.constraint(layer.gamma)), np.maximum(w["gamma"], 0)
    )
    # Held in the settings and the config, so they survive serialisation.
    revived = keras.layers.deserialize(keras.layers.serialize(layer))
    assert revived.settings == layer.settings
