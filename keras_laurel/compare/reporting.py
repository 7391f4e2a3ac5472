"""What a comparison reports: its table (with the footnote on what it rests
on), its figure and the record written as JSON."""

import os
import platform
import time

from keras_laurel.compare import curves
from keras_laurel.compare.tasks import task_of


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


def table(results, config):
    """The comparison as a Markdown table (also what is printed)."""
    base = results[0]
    metric = task_of(config).metric
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


def footnote(config):
    """What the table rests on, and the noise level to read it against."""
    task = task_of(config)
    return (
        f"One seed ({config.seed}), {config.steps} training steps of batch {config.batch_size} "
        f"per model. In docs/results.md the {task.noise}: differences smaller than that are "
        "noise. Run more seeds (--seed) and pool them with "
        "`python -m keras_laurel.compare.aggregate`."
    )


def record(config, results):
    """The comparison's JSON record: configuration, machine, versions, results."""
    return {
        "config": config.to_dict(),
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


def figure(results, config, path):
    """Loss curves and the learned alpha / beta / gamma per site."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for r in results:
        if r["train_loss_curve"]:
            axes[0].plot(curves.steps_of(r), r["train_loss_curve"], label=r["name"])
    axes[0].set(title=f"{config.task}: training loss (running mean)", xlabel="step", ylabel="loss")
    axes[0].legend(fontsize=8)
    for r in results:
        sites = r["coefficients"]
        if sites and "alpha" in sites[0]:
            axes[1].plot([s["alpha"] for s in sites], "o-", label=f"{r['name']} alpha")
            if "beta" in sites[0]:  # LayerScale and ReZero learn alpha alone
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
