"""Memory and time of adding LAuReL to a model you hold, against the plain model.

    python benchmarks/one_copy.py                       # ~0.4B Llama 3, jax and torch
    python benchmarks/one_copy.py --size tiny --repeats 1 --name smoke

Each case runs in a fresh process (`KERAS_BACKEND` per backend) and reports
its peak resident memory (the process's maximum RSS), the wall time of the
whole process (start to exit, imports included: what a user waits) and the
seconds from its imports done to its model ready. The cases, on a `Llama3Backbone` with
random weights (standing in for a downloaded preset):

- `build`: the plain backbone built from its config;
- `build + rewrite(copy=False)`: that, then `keras_laurel.rewrite(..., copy=False)`
  (the plain model handed over, then dropped);
- `build + rewrite(copy=True)`: that, then `rewrite` keeping the caller's
  model usable (a second copy of the weights, by design);
- `preset`: `keras_hub.models.Backbone.from_preset` of a local preset saved
  from that backbone;
- `keras_laurel.from_preset`: the same preset loaded into LAuReL.

Every ratio is to `build` (for the first three) or to `preset` (the last),
on the same backend in the same run. Writes benchmarks/results/<name>.json
and .md.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

SIZES = {
    # ~0.40B parameters: 24 x 1024, a gated MLP of 3584, 32k vocabulary, untied.
    "0.4b": dict(
        vocabulary_size=32000,
        num_layers=24,
        hidden_dim=1024,
        intermediate_dim=3584,
        num_query_heads=16,
        num_key_value_heads=8,
    ),
    "tiny": dict(
        vocabulary_size=64,
        num_layers=2,
        hidden_dim=16,
        intermediate_dim=32,
        num_query_heads=2,
        num_key_value_heads=1,
    ),
}
CASES = (
    ("build", None),
    ("build + rewrite(copy=False)", "build"),
    ("build + rewrite(copy=True)", "build"),
    ("preset", None),
    ("keras_laurel.from_preset", "preset"),
)
SETTINGS = dict(variant="rw+lr", rank=16)


def run_case(case, size, preset):
    """In this process: make the case's model; returns (seconds, parameters)."""
    import keras_hub

    import keras_laurel as kl

    start = time.perf_counter()
    if case.startswith("build"):
        model = keras_hub.models.Llama3Backbone(**SIZES[size])
        if case != "build":
            copy = "copy=True" in case
            new = kl.rewrite(model, **SETTINGS, copy=copy)
            # copy=True: the caller's model stays alive and usable, by design;
            # copy=False: it is dropped, its weights now being the new model's.
            kept = model if copy else None  # noqa: F841
            model = new
    elif case == "preset":
        model = keras_hub.models.Backbone.from_preset(preset)
    else:
        model = kl.from_preset(preset, **SETTINGS)
    seconds = time.perf_counter() - start
    return seconds, model.count_params()


def child(backend, case, size, preset):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, __file__, "--child", case, "--size", size, "--preset", preset]
    start = time.perf_counter()
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    process_seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{backend} {case} failed:\n{out.stdout}\n{out.stderr}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "process_seconds": process_seconds}


def save_preset(backend, size, path):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    code = (
        "import keras_hub, sys, json; "
        f"keras_hub.models.Llama3Backbone(**json.loads(sys.argv[1])).save_to_preset({path!r})"
    )
    subprocess.run([sys.executable, "-c", code, json.dumps(SIZES[size])], env=env, check=True)


def measure(backends, size, repeats):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            preset = os.path.join(tmp, backend)
            save_preset(backend, size, preset)
            results = {case: [] for case, _ in CASES}
            for _ in range(repeats):  # round-robin, so drifts hit every case alike
                for case, _ in CASES:
                    results[case].append(child(backend, case, size, preset))
            for case, reference in CASES:
                row = {
                    "backend": backend,
                    "case": case,
                    "params": results[case][0]["params"],
                    "peak_rss_mb": [r["peak_rss_mb"] for r in results[case]],
                    "seconds": [r["seconds"] for r in results[case]],
                    "process_seconds": [r["process_seconds"] for r in results[case]],
                }
                if reference is not None:
                    base = results[reference]
                    row["memory_ratio"] = [
                        r["peak_rss_mb"] / b["peak_rss_mb"] for r, b in zip(results[case], base)
                    ]
                    for key in ("seconds", "process_seconds"):
                        row[f"{key}_ratio"] = [r[key] / b[key] for r, b in zip(results[case], base)]
                rows.append(row)
    return rows


def _span(values, digits):
    low, high = min(values), max(values)
    return f"{low:.{digits}f}" if low == high else f"{low:.{digits}f}-{high:.{digits}f}"


def markdown(rows, header):
    lines = [
        header,
        "",
        "| backend | case | parameters | peak RSS MB | process s | model s "
        "| memory / plain | process time / plain | model time / plain |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratios = [
            _span(r[key], 2) if key in r else ""
            for key in ("memory_ratio", "process_seconds_ratio", "seconds_ratio")
        ]
        lines.append(
            f"| {r['backend']} | {r['case']} | {r['params'] / 1e6:.1f}M "
            f"| {_span(r['peak_rss_mb'], 0)} | {_span(r['process_seconds'], 1)} "
            f"| {_span(r['seconds'], 1)} | " + " | ".join(ratios) + " |"
        )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="jax,torch", help="comma-separated backends")
    parser.add_argument("--size", default="0.4b", choices=sorted(SIZES))
    parser.add_argument("--repeats", type=int, default=2, help="runs of every case")
    parser.add_argument("--name", default=None, help="results file name (default: dated)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        seconds, params = run_case(args.child, args.size, args.preset)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"seconds": seconds, "params": params, "peak_rss_mb": peak}))
        return
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1; received {args.repeats}.")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    rows = measure(backends, args.size, args.repeats)
    name = args.name or f"{datetime.date.today()}-one-copy-{args.size}"
    header = (
        f"# One copy of the weights: {args.size} Llama 3 backbone, {args.repeats} run(s) per "
        f"case, {platform.machine()} CPU, {os.cpu_count()} cores; LAuReL {SETTINGS}; "
        "each cell the range over runs"
    )
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", f"{name}.json"), "w") as f:
        json.dump({"size": args.size, "settings": SETTINGS, "rows": rows}, f, indent=1)
    table = markdown(rows, header)
    with open(os.path.join(HERE, "results", f"{name}.md"), "w") as f:
        f.write(table)
    print(table)


if __name__ == "__main__":
    main()
