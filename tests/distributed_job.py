"""Trains a rewritten model for a few steps on one device and distributed,
in one fresh process, and prints the largest weight difference as JSON.

    KERAS_BACKEND=jax python tests/distributed_job.py --mode data --model resnet

Run by tests/test_distribution.py, one process per case (the device count
must be fixed before the backend starts).
"""

import argparse
import json
import os
import sys

DEVICES = 4

parser = argparse.ArgumentParser()
parser.add_argument("--mode", required=True, choices=["mirrored", "data", "model", "none"])
parser.add_argument("--model", required=True, choices=["resnet", "gpt2", "llama", "gemma"])
parser.add_argument("--steps", type=int, default=2)
parser.add_argument("--variant", default="rw+lr+pa")
args = parser.parse_args()

backend = os.environ["KERAS_BACKEND"]
if backend == "jax" and args.mode != "none":
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={DEVICES}"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if backend == "tensorflow":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * DEVICES
    )

import keras  # noqa: E402

if os.environ.get("JOB_FLOATX"):
    keras.config.set_floatx(os.environ["JOB_FLOATX"])
import numpy as np  # noqa: E402

import keras_laurel as kl  # noqa: E402

GLOBAL_BATCH = 16
SIZE = 32


def resnet():
    """ResNet-50's four stages of bottleneck blocks at its widths, one block
    per stage but two in the third, where PA mixes (CI time;
    JOB_RESNET_BLOCKS=3,4,6,3 gives ResNet-50 itself),
    on small images."""
    import keras_hub

    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[
            int(b) for b in os.environ.get("JOB_RESNET_BLOCKS", "1,1,2,1").split(",")
        ],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="bottleneck_block",
        image_shape=(SIZE, SIZE, 3),
    )
    if backend == "tensorflow":
        # MirroredStrategy computes batch-norm moments per replica; synchronised
        # batch norm makes them global, as one device computes them.
        backbone = keras.models.clone_model(
            backbone,
            clone_function=lambda layer: layer.__class__.from_config(
                dict(layer.get_config(), synchronized=True)
                if isinstance(layer, keras.layers.BatchNormalization)
                else layer.get_config()
            ),
        )
    # Zero-initialise the last batch-norm scale of every residual branch
    # (Goyal et al. 2017): each block starts as the identity. Without it a
    # random ResNet-50 in training mode is chaotic (round-off differences in
    # one step grow to ~0.2% of the update), which would swamp the comparison.
    for site in kl.find_residual_sites(backbone)[0]:
        fx = site.layer._inbound_nodes[0].input_tensors[site.fx_index]
        bn = fx._keras_history.operation
        bn.gamma.assign(np.zeros(bn.gamma.shape, "float32"))
    if args.variant != "none":
        backbone = kl.rewrite(backbone, args.variant, rank=8 if "lr" in args.variant else None)
    x = keras.layers.GlobalAveragePooling2D()(backbone.output)
    model = keras.Model(backbone.input, keras.layers.Dense(10, name="head")(x))
    model.compile(
        optimizer=keras.optimizers.SGD(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(0)
    data = (
        rng.normal(size=(GLOBAL_BATCH * args.steps, SIZE, SIZE, 3)).astype("float32"),
        rng.integers(0, 10, GLOBAL_BATCH * args.steps).astype("int32"),
    )
    return model, data


def gpt2():
    import keras_hub

    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=64,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=32,
        dropout=0.0,
    )
    return causal_lm(backbone, keras_hub.models.GPT2CausalLM)


def causal_lm(backbone, lm_class):
    """`backbone` with LAuReL (every variant part) in its causal LM, and token data."""
    backbone = kl.rewrite(backbone, "rw+lr+pa", rank=4, k=3, placement="both")
    model = lm_class(backbone=backbone, preprocessor=None)
    model.compile(
        optimizer=keras.optimizers.SGD(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 64, (GLOBAL_BATCH * args.steps, 17)).astype("int32")
    x = {"token_ids": ids[:, :-1], "padding_mask": np.ones_like(ids[:, :-1])}
    return model, (x, ids[:, 1:])


def decoder_llm(name):
    """A small Llama- or Gemma-style decoder with LAuReL, in its causal LM."""
    import keras_hub

    common = dict(
        vocabulary_size=64,
        num_layers=2,
        num_query_heads=2,
        num_key_value_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
    )
    if name == "llama":
        backbone, lm = keras_hub.models.LlamaBackbone(**common), keras_hub.models.LlamaCausalLM
    else:
        backbone = keras_hub.models.GemmaBackbone(**common, head_dim=16)
        lm = keras_hub.models.GemmaCausalLM
    return causal_lm(backbone, lm)


def perturbed(x, relative=1e-7):
    """The inputs with float32-round-off-sized noise, to measure how much the
    untrained network amplifies round-off (the noise floor of the comparison)."""
    if isinstance(x, dict) or x.dtype.kind != "f":
        return x
    noise = np.random.default_rng(1).normal(size=x.shape)
    return (x * (1 + relative * noise)).astype(x.dtype)


def train(build, initial=None, perturb=False):
    keras.utils.set_random_seed(0)
    model, (x, y) = build()
    if perturb:
        x = perturbed(x)
    if initial is not None:
        model.set_weights(initial)
    start = [np.array(w) for w in model.get_weights()]
    history = model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=1, shuffle=False, verbose=0)
    model.final_loss = float(history.history["loss"][-1])
    return model, start


build = {
    "resnet": resnet,
    "gpt2": gpt2,
    "llama": lambda: decoder_llm("llama"),
    "gemma": lambda: decoder_llm("gemma"),
}[args.model]
single, initial = train(build)
single_weights = [np.array(w) for w in single.get_weights()]
noise_floor = None
if os.environ.get("JOB_NOISE_FLOOR"):
    # How much the untrained network amplifies round-off: the same training
    # on one device with a relative 1e-7 perturbation of the inputs.
    noisy, _ = train(build, initial, perturb=True)
    noise_floor = max(
        float(np.abs(a - np.array(b)).max()) for a, b in zip(single_weights, noisy.get_weights())
    )

if args.model in ("llama", "gemma"):  # KerasHub's own layout map, LAuReL's added
    import keras_hub

    model_kind = {"llama": keras_hub.models.LlamaBackbone, "gemma": keras_hub.models.GemmaBackbone}[
        args.model
    ]
else:
    model_kind = args.model
setup = kl.distribution.configure(args.mode, model_kind=model_kind)
with setup.scope():
    distributed, _ = train(build, initial)
distributed_weights = [np.array(w) for w in distributed.get_weights()]

report = {
    "setup": str(setup),
    "loss": [single.final_loss, distributed.final_loss],
    "replicas": setup.num_replicas,
    "max_abs_diff": max(
        float(np.abs(a - b).max()) for a, b in zip(single_weights, distributed_weights)
    ),
    "noise_floor": noise_floor,
    "max_update": max(float(np.abs(a - b).max()) for a, b in zip(single_weights, initial)),
    "laurel_updated": all(
        not np.array_equal(np.array(v), w0)
        for v, w0 in zip(distributed.weights, initial)
        if "_laurel/" in v.path and v.name in ("b", "b_0", "alpha_logit")
    ),
}
worst = sorted(
    (
        (float(np.abs(a - b).max()), v.path)
        for v, a, b in zip(distributed.weights, single_weights, distributed_weights)
    ),
    reverse=True,
)[:3]
report["worst"] = worst
if backend == "jax" and args.mode != "none":
    # The layouts the distribution gave the variables, as PartitionSpecs.
    report["shardings"] = {
        v.path: [a if a is None else str(a) for a in v.value.sharding.spec]
        for v in distributed.weights
    }
    report["devices_per_variable"] = sorted(
        {len(v.value.sharding.device_set) for v in distributed.weights}
    )
print("RESULT " + json.dumps(report))
sys.stdout.flush()
