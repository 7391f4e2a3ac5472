"""Which algebraically equal form of RW does XLA:CPU compile well?

    python benchmarks/forms_tf.py [--model resnet|gpt2] [--rounds 7] [--steps 10] [--forms a,b]

RW's output can be written several ways that are equal in value. XLA:CPU (the
one bundled with TensorFlow) compiles them to different programs: with the
scaled form `alpha fx + beta x` its fusion pass re-computes the scaled
skip-path gradient inside every batch-norm gradient reduction of the
ResNet-50 (benchmarks/results/2026-11-22-xla-cpu-rw-profile.md). This script
compiles the train step of `benchmarks/run.py`'s model for the baseline and
for RW in each form (the RW layer's `call` patched, in this process only),
prints the fusion statistics of each optimised program from XLA's HLO dump,
then times the train steps round-robin and prints each form's median ratio
to the baseline. TensorFlow only; the layers themselves stay backend-neutral.

Forms (with `alpha + beta = 2` under the layer's default softmax
normalisation):

- `scaled`:     alpha fx + beta x                       (the layer before 2026-11-23)
- `deviation`:  (fx + x) + (alpha - 1) fx + (beta - 1) x (the layer since)
- `difference`: (fx + x) + (alpha - 1) (fx - x)          (needs alpha + beta = 2)
- `factored`:   beta (x + (alpha / beta) fx)
- `stacked`:    [fx, x] . [alpha, beta]

and, to take the deviation form's cost apart (2026-11-23-rw-scalar-gradients.md):

- `frozen`:     the deviation form with alpha and beta held constant (no
                gradient reaches them): the cost of RW without its scalars'
                gradients
- `summed`:     the deviation form with its gradient written by hand
                (tf.custom_gradient), d alpha = sum(dy fx), d beta = sum(dy x):
                the gradient XLA derives itself, as a check
- `matmul`:     the same, with each sum written as a (1, N) x (N, 1) matmul
"""

import argparse
import glob
import json
import os
import re
import sys
import tempfile
import time

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def dump_train_step_hlo(prefix):
    """Asks XLA to dump the train step's HLO; call before TensorFlow is imported."""
    directory = tempfile.mkdtemp(prefix=prefix)
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_dump_to={directory} --xla_dump_hlo_as_text"
        " --xla_dump_hlo_module_re=.*one_step_on_data.* --xla_dump_hlo_pass_re=^fusion$"
    ).strip()
    return directory


def _deviation(fx, x, a, b):
    return (fx + x) + (a - 1.0) * fx + (b - 1.0) * x


def _hand_written_gradient(reduce):
    """The deviation form with d alpha = reduce(dy, fx) and d beta = reduce(dy, x)."""
    import tensorflow as tf

    @tf.custom_gradient
    def form(fx, x, a, b):
        def grad(dy):
            return dy + (a - 1.0) * dy, dy + (b - 1.0) * dy, reduce(dy, fx), reduce(dy, x)

        return _deviation(fx, x, a, b), grad

    return form


def _matmul_sum(u, v):
    import tensorflow as tf

    return tf.reshape(tf.matmul(tf.reshape(u, [1, -1]), tf.reshape(v, [-1, 1])), [])


def _forms():
    import tensorflow as tf
    from keras import ops

    return {
        "scaled": lambda fx, x, a, b: a * fx + b * x,
        "deviation": _deviation,
        "difference": lambda fx, x, a, b: (fx + x) + (a - 1.0) * (fx - x),
        "factored": lambda fx, x, a, b: b * (x + (a / b) * fx),
        "stacked": lambda fx, x, a, b: ops.tensordot(
            ops.stack([fx, x], axis=-1), ops.stack([a, b]), axes=1
        ),
        "frozen": lambda fx, x, a, b: _deviation(fx, x, ops.stop_gradient(a), ops.stop_gradient(b)),
        "summed": _hand_written_gradient(lambda u, v: tf.reduce_sum(u * v)),
        "matmul": _hand_written_gradient(_matmul_sum),
    }


FORMS = ("scaled", "deviation", "difference", "factored", "stacked", "frozen", "summed", "matmul")


def use_form(name):
    """Makes RW-only LAuReL layers traced from now on compute RW in form `name`.

    `name`: one of FORMS, or a function `(fx, x, alpha, beta) -> output`;
    `None` restores the layer's own `call`.
    """
    from keras_laurel.layers.laurel import Laurel

    original = getattr(Laurel, "_original_call", Laurel.call)
    Laurel._original_call = original
    if name is None:
        Laurel.call = original
        return
    form = name if callable(name) else _forms()[name]

    def call(self, inputs):
        if not self.use_rw or self.use_lr or self.use_pa or self.per_channel:
            return original(self, inputs)
        alpha, beta = self._residual_weights()
        return form(inputs[0], inputs[1], alpha, beta)

    Laurel.call = call


def hlo_stats(text):
    """Fusions in an optimised HLO module's entry computation, and their operands."""
    entry = text[text.index("ENTRY") :]
    fusions = re.findall(r"= \S+ fusion\((.*?)\), kind=", entry)
    operands = [len([a for a in args.split(",") if a.strip()]) for args in fusions]
    return {
        "fusions": len(fusions),
        "fusion_operands": sum(operands),
        "largest_fusion_operands": max(operands, default=0),
    }


def dumped_modules(directory, suffix=".cpu_after_optimizations.txt"):
    """The train-step modules XLA dumped at one stage, in compilation order."""
    files = glob.glob(os.path.join(directory, f"*{suffix}"))
    return sorted(files, key=lambda f: int(re.search(r"module_(\d+)", f).group(1)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="resnet", choices=["resnet", "gpt2"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10, help="train steps per model per round")
    parser.add_argument(
        "--forms",
        default=",".join(FORMS),
        help="comma-separated forms to compare with the baseline (default: all)",
    )
    args = parser.parse_args()
    forms = tuple(args.forms.split(","))
    unknown = sorted(set(forms) - set(FORMS))
    if unknown:
        parser.error(f"--forms: unknown {unknown}; expected a subset of {list(FORMS)}")
    dump = dump_train_step_hlo("laurel_forms_")

    sys.argv = [sys.argv[0], json.dumps({"mode": "timing", "model": args.model})]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import measure
    import numpy as np
    from run import CONFIGS

    names = ("baseline",) + forms
    models = {}
    for name in names:
        use_form(None if name == "baseline" else name)
        built = measure.build("baseline" if name == "baseline" else "rw", dict(CONFIGS[args.model]))
        model, (x, y) = built[0], built[3]
        model.train_on_batch(x, y)  # compiles one_step_on_data: one more HLO module
        model.train_on_batch(x, y)
        models[name] = (model, x, y)
        print(f"compiled {name}", flush=True)
    use_form(None)
    modules = dumped_modules(dump)
    assert len(modules) == len(names), modules

    seconds = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            model, x, y = models[name]
            start = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            seconds[name].append((time.perf_counter() - start) / args.steps)

    base = np.array(seconds["baseline"])
    print(f"\n{args.model}, TensorFlow XLA:CPU; HLO dumps: {dump}\n")
    print(
        "| form | fusions | fusion operands | largest fusion's operands "
        "| train step / baseline, median (min-max over rounds) | train step ms |"
    )
    print("|---|---|---|---|---|---|")
    for name, path in zip(names, modules):
        stats = hlo_stats(open(path).read())
        ratio = np.array(seconds[name]) / base
        print(
            f"| {name} | {stats['fusions']} | {stats['fusion_operands']} "
            f"| {stats['largest_fusion_operands']} | {np.median(ratio):.3f} "
            f"({ratio.min():.3f}-{ratio.max():.3f}) | {1000 * np.median(seconds[name]):.1f} |"
        )


if __name__ == "__main__":
    main()
