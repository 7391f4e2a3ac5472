"""LAuReL-LR in Gemma 3n's form (`lr_form="gemma3n"`) against a numpy
reference, on the current backend."""

import keras
import numpy as np
import pytest
from reference import gemma3n_reference
from reference import raw_weights

import keras_laurel as kl
from keras_laurel.layers.settings import LaurelSettings

SHAPES = {"BD": ((3, 8), -1), "BTD": ((2, 5, 8), -1), "BCHW": ((2, 8, 3, 4), 1)}


def inputs(shape, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype("float32") for _ in range(2)]


@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_matches_the_numpy_reference(shape_name):
    shape, axis = SHAPES[shape_name]
    layer = kl.LaurelLR(rank=2, lr_form="gemma3n", axis=axis)
    data = inputs(shape)
    layer(data)
    rng = np.random.default_rng(1)
    for v in layer.weights:
        v.assign(rng.normal(scale=0.5, size=v.shape).astype("float32"))
    got = keras.ops.convert_to_numpy(layer(data))
    want = gemma3n_reference(raw_weights(layer), data, axis=axis)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert [v.name for v in layer.weights] == ["a", "b", "norm_scale"]
    assert layer.norm_scale is layer.weights[2]


def test_at_init_it_is_not_the_plain_residual():
    # B = 0 makes the normalised branch 0: (fx + 2 x) / sqrt(2), as documented.
    fx, x = inputs((4, 8))
    got = keras.ops.convert_to_numpy(kl.LaurelLR(rank=2, lr_form="gemma3n")([fx, x]))
    np.testing.assert_allclose(got, (fx + 2 * x) / np.sqrt(2), rtol=1e-6, atol=1e-6)
    paper = keras.ops.convert_to_numpy(kl.LaurelLR(rank=2)([fx, x]))
    np.testing.assert_array_equal(paper, fx + x)


def test_settings_and_serialisation():
    layer = kl.Laurel.from_settings(LaurelSettings("lr", rank=2, lr_form="gemma3n"))
    revived = keras.layers.deserialize(keras.layers.serialize(layer))
    assert revived.lr_form == "gemma3n" and revived.settings == layer.settings
    with pytest.raises(ValueError, match=r"`lr_form`='gemma3n' applies to variant 'lr' alone"):
        LaurelSettings("rw+lr", rank=2, lr_form="gemma3n")
    with pytest.raises(ValueError, match=r"`lr_form` must be one of \['paper', 'gemma3n'\]"):
        kl.LaurelLR(rank=2, lr_form="gemma")
    with pytest.raises(TypeError, match=r"`lr_form` must be one of"):
        kl.LaurelLR(rank=2, lr_form=None)


def test_rewrite_with_the_gemma3n_form():
    x = keras.Input((8,))
    y = x + keras.layers.Dense(8, name="mlp")(x)
    new = kl.rewrite(keras.Model(x, y), "lr", rank=2, lr_form="gemma3n")
    (layer,) = kl.laurel_layers(new)
    assert layer.lr_form == "gemma3n" and layer.settings.structure()["lr_form"] == "gemma3n"
