"""`keras-laurel compare`: baseline, baseline + 1 block and LAuReL variants,
trained with the same data, seed and budget, side by side."""

import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from keras_laurel.compare.tasks import Config
from keras_laurel.compare.tasks import model_names


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo on Linux, where
    `platform.processor()` is empty): runs on different CPUs train slightly
    different models from the same seed, so the JSON records which it was."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _train_in_subprocess(name, config, verbose):
    with tempfile.TemporaryDirectory() as tmp:
        output = os.path.join(tmp, "result.json")
        spec = {
            "name": name,
            "config": dataclasses.asdict(config),
            "output": output,
            "verbose": verbose,
        }
        proc = subprocess.run(
            [sys.executable, "-m", "keras_laurel.compare.worker", json.dumps(spec)],
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")),
        )
        if proc.returncode != 0 or not os.path.exists(output):
            raise RuntimeError(f"compare: training '{name}' failed (exit code {proc.returncode}).")
        with open(output) as f:
            return json.load(f)


def metric_name(config):
    return "loss" if config.task == "gpt2-shakespeare" else "accuracy"


def table(results, config):
    """The comparison as a Markdown table (also what is printed)."""
    base = results[0]
    metric = metric_name(config)
    lines = [
        f"| model | params | added % | eval loss | eval {metric if metric != 'loss' else 'ppl'} "
        "| step time / baseline | peak memory MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        added = 100.0 * (r["params"] - base["params"]) / base["params"]
        loss = r["eval"]["loss"]
        second = (
            f"{2.718281828459045**loss:.3f}" if metric == "loss" else f"{r['eval'][metric]:.4f}"
        )
        ratio = r["median_step_seconds"] / base["median_step_seconds"]
        lines.append(
            f"| {r['name']} | {r['params']:,} | {added:+.3f} | {loss:.4f} | {second} "
            f"| {ratio:.3f} | {r['peak_rss_mib']:.0f} |"
        )
    return "\n".join(lines)


def figure(results, config, path):
    """Loss curves and the learned alpha / beta / gamma per site."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for r in results:
        curve = np.asarray(r["train_loss_curve"])
        if len(curve):
            axes[0].plot(np.arange(1, len(curve) + 1), curve, label=r["name"])
    axes[0].set(title=f"{config.task}: training loss (running mean)", xlabel="step", ylabel="loss")
    axes[0].legend(fontsize=8)
    for r in results:
        sites = r["coefficients"]
        if sites and "alpha" in sites[0]:
            axes[1].plot([s["alpha"] for s in sites], "o-", label=f"{r['name']} alpha")
            axes[1].plot([s["beta"] for s in sites], "x--", label=f"{r['name']} beta")
        if sites and "gamma" in sites[0]:
            for j in range(max(len(s["gamma"]) for s in sites)):
                values = [s["gamma"][j] if j < len(s["gamma"]) else np.nan for s in sites]
                axes[2].plot(values, "o-", label=f"{r['name']} gamma_{j}")
    axes[1].set(title="learned alpha, beta per site", xlabel="site (network order)")
    axes[2].set(title="learned gamma_j per site (j = 0 is x)", xlabel="site (network order)")
    for ax in axes[1:]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def compare(config, output_dir="laurel_compare", verbose=1, print_fn=print):
    """Runs the comparison; returns the results and writes JSON, Markdown and PNG."""
    import keras

    from keras_laurel.compare.data import ensure_available

    ensure_available(
        "tiny_shakespeare" if config.task == "gpt2-shakespeare" else config.dataset,
        config.data_dir,
    )
    os.makedirs(output_dir, exist_ok=True)
    names = model_names(config)
    print_fn(
        f"keras-laurel compare: task {config.task}, backend {keras.backend.backend()}, "
        f"{config.steps} steps x batch {config.batch_size}, seed {config.seed}; "
        f"models: {', '.join(names)}"
    )
    results = []
    for i, name in enumerate(names):
        print_fn(f"[{i + 1}/{len(names)}] training {name}")
        results.append(_train_in_subprocess(name, config, verbose))
    text = table(results, config)
    print_fn("")
    print_fn(text)
    stem = os.path.join(output_dir, f"{config.task}-seed{config.seed}")
    record = {
        "config": dataclasses.asdict(config),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {
            "platform": platform.platform(),
            "processor": cpu_model(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "versions": package_versions(),
        "results": results,
    }
    with open(stem + ".json", "w") as f:
        json.dump(record, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(text + "\n")
    figure(results, config, stem + ".png")
    print_fn(f"\nwrote {stem}.json, {stem}.md and {stem}.png")
    return record


def package_versions(
    names=("keras", "keras-hub", "tensorflow", "jax", "jaxlib", "torch", "keras-laurel"),
):
    """Installed versions of `names` (those present)."""
    import importlib.metadata as md

    out = {}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def config_from_args(args):
    fields = {f.name for f in dataclasses.fields(Config)}
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    for key in ("variants", "stage_filters", "stage_blocks"):
        if isinstance(values.get(key), str):
            items = [s.strip() for s in values[key].split(",") if s.strip()]
            values[key] = tuple(items) if key == "variants" else _integers(key, items)
    config = Config(**values)
    validate_resnet(config)
    return config


def _integers(key, items):
    try:
        return tuple(int(s) for s in items)
    except ValueError:
        flag = "--" + key.replace("_", "-")
        raise ValueError(
            f"`{key}` ({flag}) must be comma-separated integers, e.g. "
            f"{','.join(map(str, getattr(Config, key)))}; received "
            f"{','.join(items)!r}."
        ) from None


def validate_resnet(config):
    """Checks the ResNet's shape options before any training starts."""
    filters, blocks = tuple(config.stage_filters), tuple(config.stage_blocks)
    if not filters or any(f < 1 for f in filters) or filters[0] != 64:
        raise ValueError(
            "`stage_filters` (--stage-filters) must be positive widths, one per "
            "stage, the first 64 (KerasHub's ResNetBackbone requires it); "
            f"received {','.join(map(str, filters))}."
        )
    if len(blocks) != len(filters) or any(b < 1 for b in blocks):
        raise ValueError(
            "`stage_blocks` (--stage-blocks) must be one positive block count per "
            f"stage of --stage-filters ({len(filters)} stages); received "
            f"{','.join(map(str, blocks))}."
        )
