"""Measures LAuReL variants on the current backend, in a fresh process.

    KERAS_BACKEND=jax python benchmarks/measure.py '{"mode": "timing", "model": "gpt2", ...}'

Three modes; benchmarks/run.py runs the first two, benchmarks/memory_jax.py
the third:

- `timing`: builds the baseline and every variant in this one process and
  times them round-robin (each round times every model for `steps` train
  steps and `steps` inference steps, starting at a different model each
  round), so that slow drifts of the machine hit every model alike. Each
  round gives every model a ratio to that round's baseline.
  It also reports parameters, compile time (first train step) and, on JAX,
  the memory and the floating-point operations of the compiled train step
  (XLA's compiled-memory and cost analyses; the FLOP count includes work
  XLA's fusions recompute).
- `memory` (TensorFlow, PyTorch): builds one variant and runs two train
  steps: the growth of the process's peak RSS, parameters, compile time.
- `jax-memory` (JAX): compiles each variant's train step (running one step
  only to build the optimiser's state)
  and reports where its memory goes: the activations autodiff saves for the
  backward pass, XLA's compiled memory of the gradient computation, and that
  of the whole train step `model.fit` runs (Keras's jitted `train_step`, with
  AdamW and its state, buffers donated as Keras does).

Prints one line `RESULT {json}`.
"""

import json
import os
import resource
import sys
import time

spec = json.loads(sys.argv[1])
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_laurel  # noqa: E402

BACKEND = keras.backend.backend()
RANK = {"resnet": 16, "gpt2": 32}
K = 3


def resnet(variant, cfg):
    import keras_hub

    blocks = [3, 4, 6, 3]
    if variant == "+1 layer":
        blocks[2] += 1
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=blocks,
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="bottleneck_block",
        image_shape=(cfg["image_size"], cfg["image_size"], 3),
    )
    base = backbone.count_params()
    if variant not in ("baseline", "+1 layer"):
        backbone = _rewrite(backbone, variant, RANK["resnet"])
    x = keras.layers.GlobalAveragePooling2D()(backbone.output)
    model = keras.Model(backbone.input, keras.layers.Dense(10)(x))
    rng = np.random.default_rng(0)
    data = (
        rng.uniform(size=(cfg["batch"], cfg["image_size"], cfg["image_size"], 3)).astype("float32"),
        rng.integers(0, 10, cfg["batch"]).astype("int32"),
    )
    return model, backbone, base, data


def gpt2(variant, cfg):
    import keras_hub

    layers = cfg["layers"] + (1 if variant == "+1 layer" else 0)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=cfg["vocab"],
        num_layers=layers,
        num_heads=cfg["heads"],
        hidden_dim=cfg["hidden"],
        intermediate_dim=4 * cfg["hidden"],
        max_sequence_length=cfg["seq_len"],
        dropout=0.0,
    )
    base = backbone.count_params()
    if variant not in ("baseline", "+1 layer"):
        backbone = _rewrite(backbone, variant, RANK["gpt2"], a_initializer="column_orthogonal")
    tokens = keras.Input((cfg["seq_len"],), dtype="int32", name="token_ids")
    mask = keras.Input((cfg["seq_len"],), dtype="int32", name="padding_mask")
    hidden = backbone({"token_ids": tokens, "padding_mask": mask})
    logits = backbone.token_embedding(hidden, reverse=True)
    model = keras.Model({"token_ids": tokens, "padding_mask": mask}, logits)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, cfg["vocab"], (cfg["batch"], cfg["seq_len"] + 1)).astype("int32")
    x = {"token_ids": ids[:, :-1], "padding_mask": np.ones_like(ids[:, :-1])}
    return model, backbone, base, (x, ids[:, 1:])


def _rewrite(backbone, variant, rank, **extra):
    # "rw frozen": RW with alpha, beta not trained, a control that separates
    # the cost of the two extra multiplies from that of alpha's and beta's
    # gradients (two reductions over the activations per site).
    frozen = variant.endswith(" frozen")
    variant = variant.removesuffix(" frozen")
    parts = variant.split("+")
    rewritten = keras_laurel.rewrite(
        backbone,
        variant,
        rank=rank if "lr" in parts else None,
        k=K if "pa" in parts else None,
        **extra,
    )
    if frozen:
        for layer in keras_laurel.laurel_layers(rewritten):
            layer.trainable = False
    return rewritten


def timed(fn, steps):
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        out = fn()
        keras.tree.map_structure(
            lambda t: keras.ops.convert_to_numpy(t) if hasattr(t, "shape") else t, out
        )
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def jax_compiled_analysis(model, x, y):
    """Bytes XLA allocates for one train step (arguments, outputs, temporaries)
    and the floating-point operations XLA counts in it."""
    import jax

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step(trainable, non_trainable, x, y):
        def loss(trainable):
            logits, _ = model.stateless_call(trainable, non_trainable, x, training=True)
            return loss_fn(y, logits)

        return jax.value_and_grad(loss)(trainable)

    args = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        x,
        y,
    )
    compiled = jax.jit(step).lower(*args).compile()
    stats = compiled.memory_analysis()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost  # older JAX: one per device
    return {
        "compiled_train_bytes": int(
            stats.argument_size_in_bytes
            + stats.output_size_in_bytes
            + stats.temp_size_in_bytes
            - stats.alias_size_in_bytes
        ),
        "train_flops": float(cost["flops"]),
    }


def saved_residual_bytes(model, x, y):
    """Bytes of the intermediate values JAX's autodiff keeps from the forward
    pass for the backward pass (weights and inputs excluded)."""
    from jax._src.ad_checkpoint import saved_residuals

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    non_trainable = [v.value for v in model.non_trainable_variables]

    def loss(trainable):
        logits, _ = model.stateless_call(trainable, non_trainable, x, training=True)
        return loss_fn(y, logits)

    residuals = saved_residuals(loss, [v.value for v in model.trainable_variables])
    return int(
        sum(
            np.prod(aval.shape) * aval.dtype.itemsize
            for aval, source in residuals
            if "argument" not in source
        )
    )


def jax_fit_step_bytes(model, x, y):
    """XLA's compiled memory of the train step `model.fit` runs on JAX."""
    import jax

    model.train_on_batch(x, y)  # builds the optimizer's and metrics' state
    state = tuple(
        [v.value for v in variables]
        for variables in (
            model.trainable_variables,
            model.non_trainable_variables,
            model.optimizer.variables,
            model.metrics_variables,
        )
    )
    compiled = jax.jit(model.train_step, donate_argnums=0).lower(state, (x, y)).compile()
    stats = compiled.memory_analysis()
    return int(
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        + stats.temp_size_in_bytes
        - stats.alias_size_in_bytes
    )


def jax_memory():
    out = {}
    for variant in spec["variants"]:
        model, backbone, base, (x, y) = build(variant, spec["config"], keras.optimizers.AdamW(1e-4))
        out[variant] = {
            "params": int(backbone.count_params()),
            "base_params": int(base),
            "saved_residual_bytes": saved_residual_bytes(model, x, y),
            "compiled_grad_bytes": jax_compiled_analysis(model, x, y)["compiled_train_bytes"],
            "compiled_fit_step_bytes": jax_fit_step_bytes(model, x, y),
        }
    return {"variants": spec["variants"], "memory": out}


def build(variant, cfg, optimizer=None):
    keras.utils.set_random_seed(0)
    builder = resnet if spec["model"] == "resnet" else gpt2
    model, backbone, base, data = builder(variant, cfg)
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=BACKEND != "torch",  # XLA on TensorFlow and JAX
    )
    return model, backbone, base, data


def memory():
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    model, backbone, base, (x, y) = build(spec["variant"], spec["config"])
    start = time.perf_counter()
    model.train_on_batch(x, y)
    compile_train = time.perf_counter() - start
    model.train_on_batch(x, y)
    return {
        "variant": spec["variant"],
        "params": int(backbone.count_params()),
        "base_params": int(base),
        "compile_train_s": compile_train,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "rss_before_model_mib": rss_before,
    }


def timing():
    variants = spec["variants"]
    models = {v: build(v, spec["config"]) for v in variants}
    static = {}  # what does not need a process of its own
    for v, (model, backbone, base, (x, y)) in models.items():  # compile and warm up
        start = time.perf_counter()
        model.train_on_batch(x, y)
        static[v] = {
            "params": int(backbone.count_params()),
            "base_params": int(base),
            "compile_train_s": time.perf_counter() - start,
        }
        if BACKEND == "jax":  # an analysis of the compiled step, not of the process
            static[v].update(jax_compiled_analysis(model, x, y))
        model.train_on_batch(x, y)
        for _ in range(2):
            model.predict_on_batch(x)
    train = {v: [] for v in variants}
    infer = {v: [] for v in variants}
    for round_ in range(spec["repetitions"]):
        shift = round_ % len(variants)
        for v in variants[shift:] + variants[:shift]:
            model, _, _, (x, y) = models[v]
            train[v].append(timed(lambda: model.train_on_batch(x, y), spec["steps"]))
            infer[v].append(timed(lambda: model.predict_on_batch(x), spec["steps"]))
    return {"variants": variants, "train_step_s": train, "infer_step_s": infer, "static": static}


def main():
    modes = {"timing": timing, "memory": memory, "jax-memory": jax_memory}
    result = modes[spec["mode"]]()
    result.update(model=spec["model"], backend=BACKEND)
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
