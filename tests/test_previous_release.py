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


# Written by commit 026a9a1 (adapter format 2, before the layers' Keras-style
# rewrite) with tests/data/write_fixtures.py: a layer of every kind and
# setting, GPT-2's and BART's generic transformer layers.
DATA_026A9A1 = os.path.join(os.path.dirname(__file__), "data", "026a9a1")


def _recorded(name):
    recorded = dict(np.load(os.path.join(DATA_026A9A1, f"{name}_outputs.npz")))
    inputs = {k[3:]: v for k, v in recorded.items() if k.startswith("in_")}
    outputs = {k[4:]: v for k, v in recorded.items() if k.startswith("out_")}
    return inputs, outputs


def _assert_outputs(model, inputs, expected):
    outputs = model(inputs)
    outputs = outputs if isinstance(outputs, dict) else {"output": outputs}
    assert set(outputs) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs[key]), value, atol=ATOL)


@pytest.mark.parametrize("name", ["layers", "gpt2", "bart"])
def test_keras_files_of_the_previous_version_load(name, tmp_path):
    inputs, expected = _recorded(name)
    loaded = keras.saving.load_model(os.path.join(DATA_026A9A1, f"{name}.keras"))
    assert len(kl.laurel_layers(loaded)) > 0
    _assert_outputs(loaded, inputs, expected)
    # Saved again by this version (a LaurelPA of 0.1.0 holding "lr+pa" included).
    loaded.save(tmp_path / "again.keras")
    _assert_outputs(keras.saving.load_model(tmp_path / "again.keras"), inputs, expected)


def test_adapter_files_of_the_previous_version_load():
    # Every kind of layer, into the same model with its LAuReL weights reset.
    inputs, expected = _recorded("layers")
    model = keras.saving.load_model(os.path.join(DATA_026A9A1, "layers.keras"))
    for layer in kl.laurel_layers(model):
        for variable in layer.weights:
            variable.assign(np.zeros(variable.shape, "float32"))
    kl.load_laurel_weights(model, os.path.join(DATA_026A9A1, "layers.laurel.h5"))
    _assert_outputs(model, inputs, expected)
    # GPT-2's generic decoder layers, added to the plain model by the file.
    inputs, expected = _recorded("gpt2")
    plain = keras.saving.load_model(os.path.join(DATA_026A9A1, "gpt2_plain.keras"))
    new = kl.load_laurel_weights(plain, os.path.join(DATA_026A9A1, "gpt2.laurel.h5"))
    _assert_outputs(new, inputs, expected)
