"""LAuReL's relatives as layers (LayerScale and ReZero, the RW-family variants
of `Laurel`; DenseFormer's depth-weighted average) against numpy references of
their papers' equations, with random weights, on the current backend: the
plain residual at the default initialisation, the papers' own
initialisations, config and `.keras` round trips, and errors that name the
argument."""

import keras
import numpy as np
import pytest

import keras_laurel as kl

RNG = np.random.default_rng(0)


def arr(*shape):
    return RNG.normal(size=shape).astype("float32")


def numpy_of(v):
    return keras.ops.convert_to_numpy(v).astype("float64")


@pytest.mark.parametrize("shape, axis", [((3, 8), -1), ((2, 5, 8), -1), ((2, 8, 3, 4), 1)])
def test_layer_scale_is_x_plus_lambda_fx(shape, axis):
    fx, x = arr(*shape), arr(*shape)
    layer = kl.LayerScale(axis=axis)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer([fx, x])), fx + x)  # 1.0: plain
    lam = arr(shape[axis])
    layer.scale.assign(lam)
    view = [1] * len(shape)
    view[axis] = -1
    want = x.astype("float64") + lam.reshape(view) * fx  # CaiT, Section 2: x + diag(lambda) f(x)
    np.testing.assert_allclose(numpy_of(layer([fx, x])), want, rtol=1e-5, atol=1e-6)


def test_layer_scale_paper_initialisation():
    fx, x = arr(2, 8), arr(2, 8)
    layer = kl.LayerScale(init_value=1e-5)
    out = numpy_of(layer([fx, x]))
    np.testing.assert_allclose(out, x + 1e-5 * fx, rtol=1e-6)
    np.testing.assert_array_equal(numpy_of(layer.scale), np.full(8, 1e-5, "float32"))


def test_rezero_is_x_plus_alpha_fx():
    fx, x = arr(2, 6, 8), arr(2, 6, 8)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(kl.ReZero()([fx, x])), fx + x)
    paper = kl.ReZero(init_value=0.0)  # the paper's: the identity at init
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(paper([fx, x])), x)
    paper.scale.assign(0.37)
    want = x + 0.37 * fx.astype("float64")  # ReZero, Eq. 1
    np.testing.assert_allclose(numpy_of(paper([fx, x])), want, rtol=1e-5, atol=1e-6)


def test_layerscale_and_rezero_are_laurel_variants():
    settings = kl.LaurelSettings("ReZero")
    assert settings.variant == "rezero" and settings.init_value == 1.0
    layer = kl.ReZero.from_settings(kl.LaurelSettings("rezero", init_value=0))
    assert isinstance(layer, kl.Laurel) and layer.init_value == 0.0
    layer([arr(2, 8), arr(2, 8)])
    assert [v.path.split("/")[-1] for v in layer.weights] == ["scale"]
    assert tuple(layer.scale.shape) == () and layer.rw_variables == [layer.scale]
    assert kl.LayerScale()([arr(2, 8), arr(2, 8)]) is not None
    with pytest.raises(ValueError, match="use keras_laurel.Laurel"):
        kl.ReZero.from_settings(kl.LaurelSettings("layerscale"))


@pytest.mark.parametrize("count", [1, 2, 4])
def test_depth_weighted_average(count):
    xs = [arr(2, 5, 8) for _ in range(count)]
    layer = kl.DepthWeightedAverage()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(xs)), xs[0])  # one-hot
    alpha = arr(count)
    layer.alpha.assign(alpha)
    want = sum(alpha[j] * xs[j].astype("float64") for j in range(count))  # DenseFormer, Eq. (DWA)
    np.testing.assert_allclose(numpy_of(layer(xs)), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "make, inputs",
    [
        (lambda: kl.LayerScale(init_value=0.5, axis=-1), 2),
        (lambda: kl.ReZero(init_value=0.0), 2),
        (lambda: kl.DepthWeightedAverage(alpha_regularizer="l2"), 3),
    ],
)
def test_config_and_keras_round_trip(make, inputs, tmp_path):
    layer = make()
    assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()
    xs = [keras.Input((4, 8)) for _ in range(inputs)]
    model = keras.Model(xs, layer(xs))
    for v in model.weights:
        v.assign(arr(*v.shape))
    data = [arr(2, 4, 8) for _ in range(inputs)]
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(data)), keras.ops.convert_to_numpy(model(data))
    )


def test_regularizer_reaches_the_weight():
    layer = kl.LayerScale(rw_regularizer=keras.regularizers.L2(0.5))
    layer([arr(2, 4), arr(2, 4)])
    layer.scale.assign(np.array([1.0, 2.0, 0.0, -1.0], "float32"))
    np.testing.assert_allclose(sum(numpy_of(loss) for loss in layer.losses), 0.5 * 6.0)


@pytest.mark.parametrize(
    "make, inputs, error, match",
    [
        (
            lambda: kl.LayerScale(init_value="big"),
            None,
            TypeError,
            r"`init_value` must be a number",
        ),
        (lambda: kl.LayerScale(axis=1.5), None, TypeError, r"`axis` must be an integer"),
        (lambda: kl.ReZero(init_value=True), None, TypeError, r"`init_value` must be a number"),
        (lambda: kl.LayerScale(), [arr(2, 4), arr(2, 5)], ValueError, r"fx must have the shape"),
        (lambda: kl.ReZero(), [arr(2, 4)] * 3, ValueError, r"exactly 2 inputs \[fx, x\]"),
        (lambda: kl.LayerScale(axis=3), [arr(2, 4)] * 2, ValueError, r"`axis` 3 is out of range"),
        (
            lambda: kl.Laurel("layerscale", normalization=None),
            None,
            ValueError,
            r"`normalization` and `per_channel` apply to RW's",
        ),
        (
            lambda: kl.Laurel("rw", init_value=0.1),
            None,
            ValueError,
            r"`init_value` applies only to variants \['layerscale', 'rezero'\]",
        ),
        (lambda: kl.DepthWeightedAverage(), arr(2, 4), ValueError, r"a list of tensors"),
    ],
)
def test_bad_input_names_the_argument(make, inputs, error, match):
    with pytest.raises(error, match=match):
        make()(inputs) if inputs is not None else make()


def test_rewrite_places_denseformer_after_each_layer():
    import supported
    from llms import LAYERS
    from llms import backbone
    from llms import token_inputs

    base = backbone("llama")
    x = token_inputs(name="llama")
    new = kl.rewrite(base, "denseformer")
    np.testing.assert_array_equal(numpy_of(new(x)), numpy_of(base(x)))  # one-hot alphas
    averages = kl.laurel_layers(new)
    assert [a.num_inputs for a in averages] == [i + 2 for i in range(LAYERS)]  # X_i .. X_0
    # The last average weighted on X_0 alone: the backbone's output is then the
    # final norm of the embedding (X_0 is the first layer's input).
    averages[-1].alpha.assign(np.eye(LAYERS + 1, dtype="float32")[-1])
    embedding = base.token_embedding(x["token_ids"])
    np.testing.assert_allclose(
        numpy_of(new(x)), numpy_of(base.layer_norm(embedding)), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match=r"averages whole layers' outputs.*'both'"):
        kl.rewrite(base, "denseformer", placement="attention")
    with pytest.raises(ValueError, match=r"a functional graph .* has no such layers"):
        kl.rewrite(supported.MODELS["resnet"].backbone(), "denseformer")
    with pytest.raises(ValueError, match=r"not what its last residual connection gave"):
        kl.rewrite(supported.MODELS["bert"].backbone(), "denseformer")
    with pytest.raises(ValueError, match=r"use keras_laurel.DepthWeightedAverage"):
        kl.Laurel("denseformer")
