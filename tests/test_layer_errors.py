"""Bad input raises ValueError naming the layer and the argument."""

import keras
import numpy as np
import pytest

import keras_laurel as kl


def arr(*shape):
    return np.zeros(shape, "float32")


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: kl.Laurel("rw+xx"), r"Laurel 'laurel.*'.*`variant`"),
        (lambda: kl.Laurel("rw+rw"), r"`variant`"),
        (lambda: kl.Laurel(None), r"`variant`"),
        (lambda: kl.LaurelRW(normalization="tanh"), r"LaurelRW '.*'.*`normalization`"),
        (lambda: kl.LaurelLR(rank=0), r"LaurelLR '.*'.*`rank`.*>= 1"),
        (lambda: kl.LaurelLR(rank=2.5), r"LaurelLR '.*'.*`rank`"),
        (lambda: kl.Laurel("lr"), r"`rank`"),
        (lambda: kl.Laurel("rw", rank=4), r"`rank` applies only"),
        (lambda: kl.LaurelPA(k=0), r"LaurelPA '.*'.*`k`.*>= 1"),
        (lambda: kl.Laurel("rw", k=3), r"`k` applies only"),
        (lambda: kl.LaurelRW(axis="last"), r"`axis`"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "layer, inputs, match",
    [
        (lambda: kl.LaurelRW(), [arr(2, 8), arr(2, 4)], r"LaurelRW '.*'.*fx must have the shape of x"),
        (lambda: kl.LaurelLR(rank=2), [arr(2, 3, 8), arr(2, 8)], r"fx must have the shape of x"),
        (lambda: kl.LaurelRW(), [arr(2, 8)], r"`inputs` must hold exactly 2 inputs \[fx, x\]; received 1"),
        (lambda: kl.LaurelRW(), [arr(2, 8)] * 3, r"`inputs` must hold exactly 2"),
        (lambda: kl.LaurelPA(k=2), [arr(2, 8)] * 4, r"LaurelPA '.*'.*`inputs` must hold between 2 and k \+ 1 = 3"),
        (lambda: kl.LaurelLR(rank=9), [arr(2, 8)] * 2, r"LaurelLR '.*'.*`rank` must be between 1 and .* D = 8"),
        (lambda: kl.LaurelPA(k=3), [arr(2, 8), arr(2, 8), arr(2, 4)], r"previous activation 1 must have the shape of x"),
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


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.TensorShape is TensorFlow's")
def test_build_takes_tensorflow_shapes_and_still_checks_them():
    import tensorflow as tf

    layer = kl.Laurel("rw+lr+pa", rank=2, k=3)
    layer.build([tf.TensorShape([None, 8])] * 3)
    assert layer.built and len(layer([arr(2, 8)] * 3).shape) == 2
    with pytest.raises(ValueError, match=r"fx must have the shape of x \(None, 8\); received \(None, 4\)"):
        kl.LaurelRW().build([tf.TensorShape([None, 4]), tf.TensorShape([None, 8])])
