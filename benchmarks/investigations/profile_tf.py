"""Where a variant's extra train-step time goes on TensorFlow's XLA:CPU.

    python benchmarks/investigations/profile_tf.py --model resnet --variant rw

Profiles `--steps` compiled train steps of the baseline and of the variant
(the models of benchmarks/measure.py, in this one process) with XLA's
per-thunk trace events on, and prints the thunk kinds (fusion names without
their number) whose total time changed most, in ms per step. This is how the
TensorFlow ResNet-50 RW cost was traced to XLA re-computing the scaled
skip-path gradients inside the batch-norm gradient reductions
(benchmarks/results/2026-11-22-xla-cpu-rw-profile.md).
"""

import argparse
import collections
import glob
import json
import os
import re
import sys
import tempfile

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme=true"
).strip()


def thunk_times(model, data, steps):
    """Total ms per thunk kind over `steps` train steps, and the step's total."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    x, y = data
    for _ in range(3):  # compile and warm up
        model.train_on_batch(x, y)
    logdir = tempfile.mkdtemp(prefix="laurel_profile_")
    tf.profiler.experimental.start(logdir)
    for _ in range(steps):
        model.train_on_batch(x, y)
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    with open(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0], "rb") as f:
        space.ParseFromString(f.read())
    kinds, step = collections.Counter(), 0.0
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name, ms = names.get(event.metadata_id, "?"), event.duration_ps / 1e9
                if name == "one_step_on_data":
                    step += ms
                elif line.name.startswith("tf_numa") and name != "ThunkExecutor::Execute":
                    kinds[re.sub(r"[.\d]+$", "", name)] += ms  # thunks run on Eigen threads
    return {k: v / steps for k, v in kinds.items()}, step / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["resnet", "gpt2"], default="resnet")
    parser.add_argument("--variant", default="rw")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    sys.argv = [sys.argv[0], json.dumps({"mode": "timing", "model": args.model})]
    # benchmarks/, one level up, where run.py and measure.py live.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import measure
    from run import CONFIGS

    config = dict(CONFIGS[args.model])
    results = {}
    for variant in ("baseline", args.variant):
        model, _, _, data = measure.build(variant, config)
        results[variant] = thunk_times(model, data, args.steps)
    (base, base_step), (other, other_step) = results["baseline"], results[args.variant]
    print(
        f"{args.model}: train step {base_step:.1f} ms (baseline) -> {other_step:.1f} ms "
        f"({args.variant}), ratio {other_step / base_step:.3f}; thunk time per step "
        f"(summed over threads) {sum(base.values()):.1f} -> {sum(other.values()):.1f} ms"
    )
    print(f"\n| thunk kind | baseline ms/step | {args.variant} ms/step | difference |")
    print("|---|---|---|---|")
    kinds = sorted(set(base) | set(other), key=lambda k: -abs(other.get(k, 0) - base.get(k, 0)))
    for kind in kinds[: args.top]:
        b, o = base.get(kind, 0.0), other.get(kind, 0.0)
        print(f"| {kind} | {b:.1f} | {o:.1f} | {o - b:+.1f} |")


if __name__ == "__main__":
    main()
