"""The cost of every LAuReL variant against the baseline, side by side.

    python benchmarks/run.py                       # all backends, both models
    python benchmarks/run.py --backends jax --models gpt2 --repetitions 3

For each (backend, model), benchmarks/measure.py times the baseline and every
variant in one process, round-robin (so drifts of the machine hit all of them
alike; each round gives a ratio to that round's baseline); on TensorFlow and
PyTorch each variant's peak RSS is measured in a process of its own. Writes
benchmarks/results/<name>.json and .md: parameters added, train-step and
inference time ratios (median over rounds, with the min-max spread), peak
memory ratio (XLA compiled-memory analysis on JAX; growth of the process's
peak RSS over its size before the model was built, elsewhere), compile
time and, on JAX, the ratio of floating-point operations XLA counts in the
compiled train step: about the time ratio a variant would have if it cost
only its arithmetic (XLA also counts work its fusions recompute).
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

import numpy as np

from keras_laurel.compare.reporting import package_versions

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = [
    "baseline",
    "rw",
    "rw frozen",
    "lr",
    "pa",
    "rw+lr",
    "rw+lr+pa",
    "layerscale",
    "rezero",
    "hc",
    "mhc",
    "denseformer",
    "+1 layer",
]
# Relatives `rewrite` places in transformer layers only (not in the ResNet's graph).
TRANSFORMER_ONLY = {"hc", "mhc", "denseformer"}
CONFIGS = {
    "resnet": {"image_size": 32, "batch": 16},
    "gpt2": {"layers": 4, "hidden": 128, "heads": 4, "seq_len": 64, "batch": 16, "vocab": 1024},
}
# Train-step time targets (ratio to the baseline, under XLA) from the issue.
TARGETS = {"rw": 1.005, "lr": 1.02, "pa": 1.03, "rw+lr+pa": 1.05}
# The paper's own peak-memory overheads (small LLM table, docs/method.md).
PAPER_MEMORY = {"rw": 1.024, "lr": 1.055, "pa": 1.077, "rw+lr": 1.079, "rw+lr+pa": 1.107}


def measure(backend, spec):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "measure.py"), json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{backend}/{spec}: failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


def measure_model(backend, model, variants, config, steps, repetitions):
    """One row per variant: its timing rounds plus its memory and compile time."""
    times = measure(
        backend,
        {
            "mode": "timing",
            "model": model,
            "variants": variants,
            "config": config,
            "steps": steps,
            "repetitions": repetitions,
        },
    )
    rows = []
    for variant in variants:
        row = dict(times["static"][variant], variant=variant, model=model, backend=backend)
        if backend != "jax":  # peak RSS needs a process per variant
            row.update(
                measure(
                    backend,
                    {"mode": "memory", "model": model, "variant": variant, "config": config},
                )
            )
        row["train_step_s"] = times["train_step_s"][variant]
        row["infer_step_s"] = times["infer_step_s"][variant]
        print(
            f"{backend:10} {model:6} {variant:9} {1000 * np.median(row['train_step_s']):8.1f} "
            f"ms/train step, compiled in {row['compile_train_s']:.1f} s",
            flush=True,
        )
        rows.append(row)
    return rows


def summarise(rows):
    """Ratios to the baseline of the same backend and model."""
    out = []
    for r in rows:
        base = next(
            b
            for b in rows
            if b["backend"] == r["backend"]
            and b["model"] == r["model"]
            and b["variant"] == "baseline"
        )
        # Round by round (the rounds were timed interleaved).
        train = np.array(r["train_step_s"]) / np.array(base["train_step_s"])
        infer = np.array(r["infer_step_s"]) / np.array(base["infer_step_s"])
        if "compiled_train_bytes" in r:
            memory, memory_kind = r["compiled_train_bytes"] / base["compiled_train_bytes"], "XLA"
        else:
            grow = lambda x: max(x["peak_rss_mib"] - x["rss_before_model_mib"], 1.0)
            memory, memory_kind = grow(r) / grow(base), "RSS"
        out.append(
            {
                "backend": r["backend"],
                "model": r["model"],
                "variant": r["variant"],
                "params_added": r["params"] - base["params"],
                "params_added_pct": 100.0 * (r["params"] - base["params"]) / base["params"],
                "train_ratio": float(np.median(train)),
                # Fastest round against the baseline's fastest: load from other
                # processes only ever adds time, so minima are the least disturbed.
                "train_ratio_fastest": float(
                    np.min(r["train_step_s"]) / np.min(base["train_step_s"])
                ),
                "train_spread": [float(train.min()), float(train.max())],
                "infer_ratio": float(np.median(infer)),
                "infer_spread": [float(infer.min()), float(infer.max())],
                "memory_ratio": float(memory),
                "memory_kind": memory_kind,
                "flops_ratio": (r["train_flops"] / base["train_flops"])
                if "train_flops" in r
                else None,
                "compile_train_s": r["compile_train_s"],
                "train_step_ms": 1000 * float(np.median(r["train_step_s"])),
            }
        )
    return out


def markdown(summary, header):
    lines = [
        header,
        "",
        "| backend | model | variant | params added | train step / baseline (min-max over rounds) "
        "| fastest round / baseline's | FLOPs / baseline (XLA) "
        "| inference / baseline (min-max) | peak memory / baseline | compile s | train step ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        target = TARGETS.get(s["variant"])
        mark = (
            ""
            if target is None
            else (" ✓" if s["train_ratio"] <= target else f" ✗ (target {target})")
        )
        lines.append(
            f"| {s['backend']} | {s['model']} | {s['variant']} | {s['params_added']:,} "
            f"({s['params_added_pct']:.3f}%) | {s['train_ratio']:.3f} "
            f"({s['train_spread'][0]:.3f}-{s['train_spread'][1]:.3f}){mark} "
            f"| {s['train_ratio_fastest']:.3f} "
            f"| {'—' if s.get('flops_ratio') is None else format(s['flops_ratio'], '.3f')} "
            f"| {s['infer_ratio']:.3f} ({s['infer_spread'][0]:.3f}-{s['infer_spread'][1]:.3f}) "
            f"| {s['memory_ratio']:.3f} ({s['memory_kind']}) | {s['compile_train_s']:.1f} "
            f"| {s['train_step_ms']:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--models", default="resnet,gpt2")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=10, help="timed steps per model per round")
    parser.add_argument("--repetitions", type=int, default=7, help="rounds")
    parser.add_argument("--name", default=None, help="results file stem")
    parser.add_argument("--output-dir", default=os.path.join(HERE, "results"))
    parser.add_argument("--machine", default=None, help="machine description for the record")
    parser.add_argument(
        "--config", default=None, help='JSON overriding CONFIGS, e.g. \'{"gpt2": {"layers": 2}}\''
    )
    args = parser.parse_args(argv)
    configs = {k: dict(v) for k, v in CONFIGS.items()}
    for model, override in json.loads(args.config or "{}").items():
        configs[model].update(override)
    variants = args.variants.split(",")
    if variants[0] != "baseline":
        variants = ["baseline"] + [v for v in variants if v != "baseline"]
    rows = []
    for backend in args.backends.split(","):
        for model in args.models.split(","):
            placed = [v for v in variants if model == "gpt2" or v not in TRANSFORMER_ONLY]
            rows += measure_model(
                backend, model, placed, configs[model], args.steps, args.repetitions
            )
    summary = summarise(rows)
    machine = args.machine or f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    date = datetime.date.today().isoformat()
    header = (
        f"Benchmark {date} on {machine}; {json.dumps(package_versions())}; configs "
        f"{json.dumps({m: configs[m] for m in args.models.split(',')})}; "
        f"{args.repetitions} interleaved rounds x {args.steps} steps; "
        f"rank 16 (ResNet) / 32 (GPT-2), k = 3."
    )
    text = markdown(summary, header)
    print(text)
    write_results(
        os.path.join(args.output_dir, args.name or f"{date}-cpu"),
        text,
        {
            "date": date,
            "machine": machine,
            "versions": package_versions(),
            "configs": configs,
            "steps": args.steps,
            "repetitions": args.repetitions,
            "raw": rows,
            "summary": summary,
        },
    )


def write_results(stem, text, record):
    """Writes STEM.json (`record`) and STEM.md (`text`)."""
    os.makedirs(os.path.dirname(stem) or ".", exist_ok=True)
    with open(stem + ".json", "w") as f:
        json.dump(record, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(text + "\n")
    print(f"wrote {stem}.json and {stem}.md")


if __name__ == "__main__":
    main()
