"""Bad input raises an error naming the layer and the argument: `TypeError`
for a value of the wrong type, `ValueError` for one out of range."""

import keras
import numpy as np
import pytest

import keras_laurel as kl


def arr(*shape):
    return np.zeros(shape, "float32")


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: kl.Laurel("rw+xx"), ValueError, r"Laurel 'laurel.*'.*`variant`"),
        (lambda: kl.Laurel("rw+rw"), ValueError, r"`variant`"),
        (lambda: kl.Laurel(None), TypeError, r"Laurel '.*'.*`variant` must be a string"),
        (lambda: kl.LaurelRW(normalization="tanh"), ValueError, r"LaurelRW '.*'.*`normalization`"),
        (lambda: kl.LaurelRW(normalization=2), TypeError, r"LaurelRW '.*'.*`normalization`"),
        (lambda: kl.LaurelLR(rank=0), ValueError, r"LaurelLR '.*'.*`rank`.*>= 1"),
        (lambda: kl.LaurelLR(rank=2.5), TypeError, r"LaurelLR '.*'.*`rank` must be an integer"),
        (lambda: kl.LaurelLR(rank=True), TypeError, r"`rank` must be an integer"),
        (lambda: kl.Laurel("lr"), TypeError, r"`rank` must be an integer"),
        (lambda: kl.Laurel("rw", rank=4), ValueError, r"`rank` applies only"),
        (lambda: kl.LaurelPA(k=0), ValueError, r"LaurelPA '.*'.*`k`.*>= 1"),
        (lambda: kl.LaurelPA(k="3"), TypeError, r"LaurelPA '.*'.*`k` must be an integer"),
        (lambda: kl.Laurel("rw", k=3), ValueError, r"`k` applies only"),
        (lambda: kl.LaurelRW(axis="last"), TypeError, r"`axis` must be an integer"),
        (lambda: kl.LaurelRW(per_channel="yes"), TypeError, r"`per_channel` must be True or False"),
        (lambda: kl.LaurelLR(rank=2, a_initializer="nope"), ValueError, r"`a_initializer`"),
    ],
)
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("name", ["alpha", "beta", "rw_variables", "lowrank_variables"])
def test_values_computed_from_the_weights_of_an_unbuilt_layer_raise(name):
    layer = kl.Laurel("rw+lr+pa", rank=2)
    with pytest.raises(ValueError, match=rf"Laurel '.*': `{name}` exists once the layer is built"):
        getattr(layer, name)
    layer([arr(2, 8)] * 2)
    getattr(layer, name)


@pytest.mark.parametrize("name", ["alpha_logit", "gamma", "a", "b", "norm_scale", "num_inputs"])
def test_weights_are_set_in_build(name):
    # As Keras's layers: the weight attributes exist once the layer is built.
    layer = kl.Laurel("rw+lr+pa", rank=2)
    assert not hasattr(layer, name)
    layer([arr(2, 8)] * 2)
    assert hasattr(layer, name)


def test_rank_is_not_an_argument_of_laurel_pa():
    with pytest.raises(TypeError, match=r"LaurelPA: `rank`.*Laurel\('lr\+pa'"):
        kl.LaurelPA(k=3, rank=2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(a_regularizer="nope"), r"`a_regularizer` must be None or a Keras regularizer"),
        (dict(gamma_constraint=3), r"`gamma_constraint` must be None or a Keras constraint"),
    ],
)
def test_bad_regularizer_or_constraint(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kl.Laurel("rw+lr+pa", rank=2, **kwargs)


def test_unknown_attribute_is_still_an_ordinary_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        kl.LaurelRW().no_such_thing


@pytest.mark.parametrize(
    "layer, inputs, match",
    [
        (
            lambda: kl.LaurelRW(),
            [arr(2, 8), arr(2, 4)],
            r"LaurelRW '.*'.*fx must have the shape of x",
        ),
        (lambda: kl.LaurelLR(rank=2), [arr(2, 3, 8), arr(2, 8)], r"fx must have the shape of x"),
        (
            lambda: kl.LaurelRW(),
            [arr(2, 8)],
            r"`inputs` must hold exactly 2 inputs \[fx, x\]; received 1",
        ),
        (lambda: kl.LaurelRW(), [arr(2, 8)] * 3, r"`inputs` must hold exactly 2"),
        (
            lambda: kl.LaurelPA(k=2),
            [arr(2, 8)] * 4,
            r"LaurelPA '.*'.*`inputs` must hold between 2 and k \+ 1 = 3",
        ),
        (
            lambda: kl.LaurelLR(rank=9),
            [arr(2, 8)] * 2,
            r"LaurelLR '.*'.*`rank` must be between 1 and .* D = 8",
        ),
        (
            lambda: kl.LaurelPA(k=3),
            [arr(2, 8), arr(2, 8), arr(2, 4)],
            r"previous activation 1 must have the shape of x",
        ),
        (lambda: kl.LaurelRW(axis=3), [arr(2, 8)] * 2, r"`axis` 3 is out of range"),
    ],
)
def test_bad_inputs(layer, inputs, match):
    with pytest.raises(ValueError, match=match):
        layer()(inputs)


def test_single_tensor_input_is_rejected():
    with pytest.raises(ValueError, match=r"LaurelRW '.*'.*list `\[fx, x\]`"):
        kl.LaurelRW()(arr(2, 8))


def test_changing_the_number_of_inputs_after_build():
    layer = kl.LaurelPA(k=3)
    layer([arr(2, 8)] * 3)
    with pytest.raises(ValueError, match=r"built for 3 inputs; received 2"):
        layer([arr(2, 8)] * 2)


def test_symbolic_shape_mismatch():
    x = keras.Input((8,))
    with pytest.raises(ValueError, match="fx must have the shape of x"):
        kl.Laurel("rw+lr", rank=2)([keras.layers.Dense(4)(x), x])


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="tf.TensorShape is TensorFlow's"
)
def test_build_takes_tensorflow_shapes_and_still_checks_them():
    import tensorflow as tf

    layer = kl.Laurel("rw+lr+pa", rank=2, k=3)
    layer.build([tf.TensorShape([None, 8])] * 3)
    assert layer.built and len(layer([arr(2, 8)] * 3).shape) == 2
    with pytest.raises(
        ValueError, match=r"fx must have the shape of x \(None, 8\); received \(None, 4\)"
    ):
        kl.LaurelRW().build([tf.TensorShape([None, 4]), tf.TensorShape([None, 8])])
