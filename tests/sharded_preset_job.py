"""Loads a plain KerasHub preset into LAuReL under `keras.distribution.ModelParallel`
on 4 forced host devices (JAX), in one fresh process, and prints what it finds as JSON.

    KERAS_BACKEND=jax python tests/sharded_preset_job.py --model llama

Run by tests/test_presets_and_tasks.py (the device count must be fixed
before the backend starts). The preset is saved first, without a
distribution, from a tiny configuration whose sharded axes divide by 4.
"""

import argparse
import json
import os
import sys
import tempfile

DEVICES = 4
os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={DEVICES}"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402

import keras_laurel as kl  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True, choices=["llama", "gemma"])
args = parser.parse_args()

COMMON = dict(
    vocabulary_size=64,
    num_layers=2,
    hidden_dim=16,
    intermediate_dim=32,
    num_query_heads=4,
    num_key_value_heads=4,
)
BACKBONES = {
    "llama": (keras_hub.models.Llama3Backbone, {}),
    "gemma": (keras_hub.models.GemmaBackbone, dict(head_dim=4)),
}
backbone_class, extra = BACKBONES[args.model]
preset = os.path.join(tempfile.mkdtemp(), args.model)
backbone_class(**COMMON, **extra).save_to_preset(preset)

mesh = keras.distribution.DeviceMesh(
    (1, DEVICES), ("batch", "model"), keras.distribution.list_devices()
)
layouts = kl.distribution.layout_map(backbone_class, mesh)
keras.distribution.set_distribution(
    keras.distribution.ModelParallel(layout_map=layouts, batch_dim_name="batch")
)

plain = backbone_class.from_preset(preset)
inputs = {
    "token_ids": np.arange(1, 9, dtype="int32")[None].repeat(2, 0),
    "padding_mask": np.ones((2, 8), "int32"),
}
expected = keras.ops.convert_to_numpy(plain(inputs))
plain_weights = {v.path: keras.ops.convert_to_numpy(v) for v in plain.weights}
del plain
model = kl.from_preset(preset, "rw+lr", rank=4, placement="both")

mismatched, sharded = [], 0
for variable in model.weights:
    layout = layouts[variable.path]
    want = tuple(layout.axes) if layout is not None else (None,) * len(variable.shape)
    spec = tuple(variable.value.sharding.spec)
    got = spec + (None,) * (len(variable.shape) - len(spec))
    sharded += any(axis is not None for axis in got)
    if got != want:
        mismatched.append([variable.path, list(want), list(got)])
laurel_ids = {id(v) for layer in kl.laurel_layers(model) for v in layer.weights}
kept = {v.path: keras.ops.convert_to_numpy(v) for v in model.weights if id(v) not in laurel_ids}
laurel_paths = [v.path for layer in kl.laurel_layers(model) for v in layer.weights]
result = {
    "variables": len(model.weights),
    "sharded": sharded,
    "mismatched": mismatched,
    "laurel_sharded": [
        p
        for p in laurel_paths
        if any(model_axis == "model" for model_axis in (layouts[p].axes if layouts[p] else ()))
    ],
    "weights_exact": sorted(kept) == sorted(plain_weights)
    and all(np.array_equal(kept[p], plain_weights[p]) for p in kept),
    "max_abs_diff": float(np.abs(keras.ops.convert_to_numpy(model(inputs)) - expected).max()),
}
print("RESULT " + json.dumps(result))
sys.stdout.flush()
