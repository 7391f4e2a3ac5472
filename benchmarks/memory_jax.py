"""Where each variant's extra training memory goes, on JAX (compile only).

    python benchmarks/memory_jax.py                 # both models, every variant
    python benchmarks/memory_jax.py --models resnet --config '{"resnet": {"batch": 64}}'

For the models of benchmarks/run.py, compiles every variant's train step
(running one step only to build AdamW's state) and reports, as ratios to the baseline:

- saved activations: what JAX's autodiff keeps from the forward pass for the
  backward pass (a property of the maths, before XLA's buffer assignment);
- gradient step: XLA's compiled memory of the loss and its gradients (the
  "peak memory" column of benchmarks/run.py on JAX);
- fit step: XLA's compiled memory of the whole train step `model.fit` runs
  (Keras's jitted `train_step`: forward, backward, AdamW update with its two
  moments, buffers donated as Keras does): a training step's peak,
  the number to hold against the paper's overheads.

Compiled memory is deterministic, so this runs beside other work unaffected.
Writes benchmarks/results/<name>.json and .md.
"""

import argparse
import datetime
import json
import os
import platform

from run import CONFIGS
from run import HERE
from run import PAPER_MEMORY
from run import TRANSFORMER_ONLY
from run import VARIANTS
from run import measure
from run import write_results

from keras_laurel.compare.reporting import package_versions

KEYS = ("saved_residual_bytes", "compiled_grad_bytes", "compiled_fit_step_bytes")


def summarise(model, memory):
    base = memory["baseline"]
    rows = []
    for variant, m in memory.items():
        row = {"model": model, "variant": variant, "params_added": m["params"] - base["params"]}
        for key in KEYS:
            row[key] = m[key]
            row[key.replace("_bytes", "_ratio")] = m[key] / base[key]
        rows.append(row)
    return rows


def markdown(rows, header):
    lines = [
        header,
        "",
        "| model | variant | params added | saved activations MB (/ baseline) "
        "| gradient step MB (/ baseline) | fit step MB (/ baseline) | paper's overhead |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        paper = PAPER_MEMORY.get(r["variant"])
        mark = "" if paper is None else (" ✓" if r["compiled_fit_step_ratio"] <= paper else " ✗")
        cells = [f"{r[k] / 1e6:.1f} ({r[k.replace('_bytes', '_ratio')]:.3f})" for k in KEYS]
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['params_added']:,} | {cells[0]} "
            f"| {cells[1]} | {cells[2]}{mark} | {'—' if paper is None else paper} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet,gpt2")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--config",
        default=None,
        help='JSON overriding run.py\'s CONFIGS, e.g. \'{"resnet": {"batch": 64}}\'',
    )
    parser.add_argument("--name", default=None, help="results file stem")
    parser.add_argument("--output-dir", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    variants = ["baseline"] + [v for v in args.variants.split(",") if v != "baseline"]
    rows, configs = [], {}
    for model in args.models.split(","):
        configs[model] = dict(CONFIGS[model], **json.loads(args.config or "{}").get(model, {}))
        placed = [v for v in variants if model == "gpt2" or v not in TRANSFORMER_ONLY]
        result = measure(
            "jax",
            {"mode": "jax-memory", "model": model, "variants": placed, "config": configs[model]},
        )
        rows += summarise(model, result["memory"])
    date = datetime.date.today().isoformat()
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    header = (
        f"JAX compiled memory {date} on {machine}; {json.dumps(package_versions())}; "
        f"configs {json.dumps(configs)}; rank 16 (ResNet) / 32 (GPT-2), k = 3; "
        "fit step: AdamW. ✓ / ✗: fit step within the paper's overhead."
    )
    text = markdown(rows, header)
    print(text)
    write_results(
        os.path.join(args.output_dir, args.name or f"{date}-jax-memory"),
        text,
        {
            "date": date,
            "machine": machine,
            "versions": package_versions(),
            "configs": configs,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
