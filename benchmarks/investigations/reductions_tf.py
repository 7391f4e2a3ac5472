"""What do RW's scalar gradients cost XLA:CPU by themselves?

    python benchmarks/investigations/reductions_tf.py [--repeats 200] [--trials 5]

Training alpha and beta needs, at every LAuReL site, d alpha = sum(dy fx) and
d beta = sum(dy x): two reductions of a full activation-sized product to one
number, which the plain residual does not compute. This script finds the
sites of `benchmarks/run.py`'s RW ResNet-50 (their output shapes), and times
those reductions alone, on random tensors of the same shapes, compiled by
TensorFlow's XLA:CPU three ways (`reduce_sum(dy * fx)`; a (1, N) x (N, 1)
matmul; both sums of a site in one pass), less the time of a compiled call
that reads the same inputs and does nothing else. The same sums under JAX's
XLA:CPU (jax.jit) and NumPy's BLAS dot of the same vectors are printed beside
them for reference. Median over trials, round-robin.
TensorFlow's compiler is the subject; the layers themselves stay backend-neutral.
"""

import argparse
import functools
import json
import os
import sys
import time

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def site_shapes():
    """Output shapes of the LAuReL layers in the benchmark's RW ResNet-50, at its batch size."""
    sys.argv = [sys.argv[0], json.dumps({"mode": "timing", "model": "resnet"})]
    # benchmarks/, one level up: run.py, measure.py and forms_tf.py live there.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import measure
    from run import CONFIGS

    from keras_laurel.layers.laurel import Laurel

    config = dict(CONFIGS["resnet"])
    _, backbone, _, _ = measure.build("rw", config)
    return [
        (config["batch"],) + tuple(layer.output.shape[1:])
        for layer in backbone.layers
        if isinstance(layer, Laurel)
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=200, help="calls per trial")
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    shapes = site_shapes()

    import numpy as np
    import tensorflow as tf
    from forms_tf import _matmul_sum as matmul_sum

    rng = np.random.default_rng(0)
    arrays = [[rng.standard_normal(s, dtype=np.float32) for s in shapes] for _ in range(3)]
    fx, x, dy = [[tf.constant(a) for a in group] for group in arrays]

    def one_pass(d, f, r):
        both = tf.reduce_sum(tf.stack([d * f, d * r]), axis=list(range(1, len(d.shape) + 1)))
        return [both[0], both[1]]

    programs = {
        "reduce_sum(dy * fx)": lambda fx, x, dy: (
            [tf.reduce_sum(d * f) for d, f in zip(dy, fx)]
            + [tf.reduce_sum(d * r) for d, r in zip(dy, x)]
        ),
        "matmul (1, N) x (N, 1)": lambda fx, x, dy: (
            [matmul_sum(d, f) for d, f in zip(dy, fx)] + [matmul_sum(d, r) for d, r in zip(dy, x)]
        ),
        "both sums in one pass": lambda fx, x, dy: sum(
            (one_pass(d, f, r) for d, f, r in zip(dy, fx, x)), []
        ),
        "call overhead (reads one element each)": lambda fx, x, dy: [
            d[(0,) * d.shape.rank] + f[(0,) * f.shape.rank] + r[(0,) * r.shape.rank]
            for d, f, r in zip(dy, fx, x)
        ],
    }
    compiled = {
        name: functools.partial(tf.function(body, jit_compile=True), fx, x, dy)
        for name, body in programs.items()
    }  # the tensors are arguments, never constants

    def trial(call):
        start = time.perf_counter()
        for _ in range(args.repeats):
            out = call()
        np.asarray(out[0])
        return 1000 * (time.perf_counter() - start) / args.repeats

    import jax
    import jax.numpy as jnp

    jfx, jx, jdy = [[jnp.asarray(a) for a in group] for group in arrays]
    jax_sums = jax.jit(
        lambda fx, x, dy: (
            [jnp.sum(d * f) for d, f in zip(dy, fx)] + [jnp.sum(d * r) for d, r in zip(dy, x)]
        )
    )
    jax_overhead = jax.jit(
        lambda fx, x, dy: [
            d[(0,) * d.ndim] + f[(0,) * f.ndim] + r[(0,) * r.ndim] for d, f, r in zip(dy, fx, x)
        ]
    )
    compiled[f"JAX {jax.__version__} jit: sum(dy * fx)"] = lambda: jax.block_until_ready(
        jax_sums(jfx, jx, jdy)
    )
    compiled[f"JAX {jax.__version__} jit: call overhead"] = lambda: jax.block_until_ready(
        jax_overhead(jfx, jx, jdy)
    )
    blas = lambda: (
        [np.dot(d.ravel(), f.ravel()) for d, f in zip(arrays[2], arrays[0])]
        + [np.dot(d.ravel(), r.ravel()) for d, r in zip(arrays[2], arrays[1])]
    )
    for call in compiled.values():
        call()  # compile
    ms = {name: [] for name in list(compiled) + ["NumPy BLAS dot"]}  # TF, JAX, then NumPy
    for _ in range(args.trials):  # round-robin, as the other benchmarks
        for name, call in compiled.items():
            ms[name].append(trial(call))
        ms["NumPy BLAS dot"].append(trial(blas))
    median = {name: float(np.median(v)) for name, v in ms.items()}
    overhead = median["call overhead (reads one element each)"]
    jax_overhead_ms = median[f"JAX {jax.__version__} jit: call overhead"]

    elements = int(sum(np.prod(s) for s in shapes))
    print(
        f"\n{len(shapes)} RW sites, shapes {sorted(set(shapes))}; {2 * len(shapes)} reductions "
        f"over {elements:,} elements per tensor set ({4 * 4 * elements / 1e6:.1f} MB read if "
        f"each sum reads its two tensors)\n"
    )
    print("| program | ms per call, median | less the call overhead |")
    print("|---|---|---|")
    for name, value in median.items():
        if "overhead" in name or name.startswith("NumPy"):
            extra = ""
        else:
            extra = f"{value - (jax_overhead_ms if name.startswith('JAX') else overhead):.2f}"
        print(f"| {name} | {value:.2f} | {extra} |")


if __name__ == "__main__":
    main()
