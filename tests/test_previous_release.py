"""Files written by keras_laurel 0.1.0 (tests/data/v0.1.0, written on JAX by
that release) load on every backend and give the outputs recorded then."""

import os

import keras
import numpy as np
import pytest

import keras_laurel as kl

DATA = os.path.join(os.path.dirname(__file__), "data", "v0.1.0")
# Written on JAX, run here on any backend: float32 round-off between backends only.
ATOL = 1e-5


def _path(name):
    return os.path.join(DATA, name)


@pytest.mark.parametrize(
    "name, settings",
    [("llama", ("rw+lr+pa", dict(rank=2, placement="both"))), ("dense", ("rw+lr", dict(rank=2)))],
)
def test_keras_and_adapter_files_of_the_previous_release_load(name, settings):
    recorded = dict(np.load(_path(f"{name}_outputs.npz")))
    expected = recorded.pop("output")
    inputs = recorded["x"] if name == "dense" else recorded
    variant, kwargs = settings
    tag = f"{name}_{variant}"

    loaded = keras.saving.load_model(_path(f"{tag}.keras"))
    assert len(kl.laurel_layers(loaded)) > 0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(inputs)), expected, atol=ATOL)

    plain = keras.saving.load_model(_path(f"{name}_plain.keras"))
    new = kl.rewrite(plain, variant, **kwargs)
    assert kl.load_laurel_weights(new, _path(f"{tag}.laurel.h5")) is new
    np.testing.assert_allclose(keras.ops.convert_to_numpy(new(inputs)), expected, atol=ATOL)
    # A version 1 file does not say how LAuReL was added.
    with pytest.raises(ValueError, match="version 1 adapter file"):
        kl.load_laurel_weights(plain, _path(f"{tag}.laurel.h5"))
