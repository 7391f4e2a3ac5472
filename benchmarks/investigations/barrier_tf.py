"""Can an XLA optimisation barrier stop XLA:CPU re-computing RW's skip-path gradient?

    python benchmarks/investigations/barrier_tf.py

benchmarks/results/2026-11-22-xla-cpu-rw-profile.md traced RW's train-step
cost on TensorFlow's XLA:CPU (ResNet-50, 1.2x) to the fusion pass
re-computing the scaled skip-path gradients inside the batch-norm gradient
reductions instead of reading them once. The usual way to force a tensor to
be materialised is an optimisation barrier. This script compiles the train
step of the benchmark's ResNet-50 four ways, in this one process:

- `baseline`, and `rw` in the scaled form `alpha fx + beta x` the layer used
  until 2026-11-23 (the layer now computes the deviation form, which XLA:CPU
  compiles without the re-computation: `benchmarks/forms_tf.py`);
- `rw, barrier on dx, dfx`: RW through a `tf.custom_gradient` whose backward
  puts `alpha g` and `beta g` behind `xla.optimization_barrier`;
- `rw, barrier on g`: the same with the barrier on the incoming gradient `g`.

It dumps XLA's HLO and prints, per model, the barriers in the HLO before
optimisation and in the HLO the fusion pass receives, the number of fusions
and the total number of fusion operands (a fusion that re-computes a chain
takes that chain's inputs as operands). A TensorFlow-only experiment: the
barrier is not in the layers, which stay backend-neutral.
"""

import json
import os
import sys

# benchmarks/, one level up: run.py, measure.py and forms_tf.py live there.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from forms_tf import dump_train_step_hlo  # noqa: E402
from forms_tf import dumped_modules  # noqa: E402
from forms_tf import hlo_stats  # noqa: E402
from forms_tf import use_form  # noqa: E402

MODELS = {  # name: (variant, where the barrier goes)
    "baseline": ("baseline", None),
    "rw": ("rw", "scaled"),
    "rw, barrier on dx, dfx": ("rw", "gradients"),
    "rw, barrier on g": ("rw", "incoming"),
}


def patch_rw(where):
    """Makes RW-only LAuReL layers built from now on compute `alpha fx + beta x`.

    `where`: `None` restores the layer's own `call`; `"scaled"` as written;
    `"gradients"` or `"incoming"` through a custom gradient with a barrier on
    the scaled gradients or on `g`.
    """
    import tensorflow as tf
    from tensorflow.compiler.tf2xla.python import xla

    if where in (None, "scaled"):
        use_form(None if where is None else "scaled")
        return

    @tf.custom_gradient
    def combine(fx, x, alpha, beta):
        def grad(g):
            if where == "incoming":
                (g,) = xla.optimization_barrier(g)
            dfx, dx = alpha * g, beta * g
            if where == "gradients":
                dfx, dx = xla.optimization_barrier(dfx, dx)
            return dfx, dx, tf.reduce_sum(g * fx), tf.reduce_sum(g * x)

        return alpha * fx + beta * x, grad

    use_form(combine)


def main():
    dump = dump_train_step_hlo("laurel_barrier_")
    sys.argv = [sys.argv[0], json.dumps({"mode": "timing", "model": "resnet"})]
    import measure
    from run import CONFIGS

    for name, (variant, where) in MODELS.items():
        patch_rw(where)
        model, _, _, (x, y) = measure.build(variant, dict(CONFIGS["resnet"]))
        model.train_on_batch(x, y)  # compiles one_step_on_data: one more HLO module
        print(f"compiled {name}", flush=True)
    patch_rw(None)

    before = dumped_modules(dump, ".before_optimizations.txt")
    at_fusion = dumped_modules(dump, ".before_fusion.txt")
    after = dumped_modules(dump)
    assert len(before) == len(at_fusion) == len(after) == len(MODELS), (before, at_fusion, after)
    print(f"\nHLO dumps: {dump}\n")
    print(
        "| model | barriers before optimisation | barriers the fusion pass sees | fusions "
        "| fusion operands | largest fusion's operands |"
    )
    print("|---|---|---|---|---|---|")
    for name, b, f, a in zip(MODELS, before, at_fusion, after):
        count = lambda path: open(path).read().count("opt-barrier(")  # noqa: E731
        stats = hlo_stats(open(a).read())
        print(
            f"| {name} | {count(b)} | {count(f)} | {stats['fusions']} | "
            f"{stats['fusion_operands']} | {stats['largest_fusion_operands']} |"
        )


if __name__ == "__main__":
    main()
