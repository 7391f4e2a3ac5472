"""Mean and standard deviation over seeds of `keras-laurel compare` results.

    python -m keras_laurel.compare.aggregate laurel_compare/gpt2-shakespeare-seed*.json
    python -m keras_laurel.compare.aggregate --output docs/results/gpt2 runs/*/*.json

Prints a Markdown table: per model, the eval metric as mean ± std over the
runs given (sample std, ddof = 1), its difference to the baseline trained with
the same seed (mean ± std of the paired differences: the seed fixes the data
order, the evaluation batches and the initialisation of the shared weights,
so pairing removes most of the seed-to-seed spread), where the runs have the
"+1 block" control its difference to that model paired the same way (LAuReL's
claim is to match it), the parameters added and the median step-time ratio to
the baseline of the same run. Runs at several ranks can be
given together: models with LR are labelled with their rank, and a model
trained twice with the same seed (the baseline of every run) counts once.
Every difference is taken to the baseline of the model's own run: on one
machine a seed's baselines are bit-identical, but a run on another CPU (other
kernels, another order of floating-point operations) trains a slightly
different one; against "+1" (a model of another run) the difference is then
the difference of the two gains, `(model - its baseline) - (+1 - its
baseline)`, and the table notes the seeds whose baselines differ.
With `--output STEM` it also writes STEM.md and a figure STEM.png.
"""

import argparse
import collections
import dataclasses
import json

import numpy as np

from keras_laurel.compare import curves
from keras_laurel.compare.config import Config


def _label(result, config):
    """The model's name with what tells its runs apart: LR's rank and A/B
    learning-rate scale, and a GPT-2 placement other than the default."""
    name, notes = result["name"], []
    if "lr" in name.split("+"):
        notes.append(f"r = {config['rank']}")
        scale = config.get("lowrank_lr_scale", 1.0)
        if scale != 1.0:
            notes.append(f"A/B learning rate x {scale:g}")
    placement = config.get("placement", "attention")
    if (
        not name.startswith("baseline")
        and config.get("task") == "gpt2-shakespeare"
        and placement != "attention"
    ):
        notes.append(f"at the {placement} residual" if placement != "both" else "at both residuals")
    return f"{name} ({', '.join(notes)})" if notes else name


# Settings every model of a run shares; runs that differ in one of them are
# different experiments (their baselines differ), so they are not pooled.
# Older JSON without a setting had Config's default.
SHARED_SETTINGS = (
    "task",
    "steps",
    "batch_size",
    "learning_rate",
    "lr_schedule",
    "warmup_steps",
    "eval_steps",
    "decoder",
    "layers",
    "hidden",
    "heads",
    "seq_len",
    "dataset",
    "image_size",
    "stage_filters",
    "stage_blocks",
    "train_examples",
    "test_examples",
)


def _check_same_experiment(records):
    defaults = dataclasses.asdict(Config())
    first = records[0]["config"]
    for record in records[1:]:
        for key in SHARED_SETTINGS:
            a, b = first.get(key, defaults[key]), record["config"].get(key, defaults[key])
            if (list(a) if isinstance(a, (list, tuple)) else a) != (
                list(b) if isinstance(b, (list, tuple)) else b
            ):
                raise ValueError(
                    f"aggregate: runs differ in `{key}` ({a!r} vs {b!r}); only runs of the "
                    "same experiment (rank, --lowrank-lr-scale and --placement may differ) "
                    "can be pooled."
                )


class Rows(collections.OrderedDict):
    """`aggregate`'s result; `differing_baselines` maps each seed whose runs
    trained different baselines to their eval losses."""

    differing_baselines = {}


def aggregate(records):
    """`{model label: {metric: [values over seeds]}}`: the baseline, then
    "baseline+1", then the other models in the order first seen. Each model
    also gets, per seed, its own run's baseline metrics (`base_loss`,
    `base_accuracy`)."""
    _check_same_experiment(records)
    rows = Rows()
    baselines = collections.defaultdict(list)  # seed -> eval losses of its baselines
    for record in records:
        base = record["results"][0]
        seed = record["config"]["seed"]
        if base["eval"]["loss"] not in baselines[seed]:
            baselines[seed].append(base["eval"]["loss"])
        for r in record["results"]:
            row = rows.setdefault(_label(r, record["config"]), collections.defaultdict(list))
            if seed in row["seed"]:
                continue
            row["seed"].append(seed)
            row["loss"].append(r["eval"]["loss"])
            row["base_loss"].append(base["eval"]["loss"])
            if "accuracy" in r["eval"]:
                row["accuracy"].append(r["eval"]["accuracy"])
                row["base_accuracy"].append(base["eval"]["accuracy"])
            row["params_added_pct"].append(100.0 * (r["params"] - base["params"]) / base["params"])
            row["step_ratio"].append(r["median_step_seconds"] / base["median_step_seconds"])
            row["curve"].append((curves.steps_of(r), r["train_loss_curve"]))
    for label in ("baseline+1", "baseline"):
        if label in rows:
            rows.move_to_end(label, last=False)
    rows.differing_baselines = {s: v for s, v in sorted(baselines.items()) if len(v) > 1}
    return rows


def _mean_std(values):
    """Mean and sample std (ddof = 1); the std of a single value is NaN, not 0."""
    values = np.asarray(values, "float64")
    return values.mean(), values.std(ddof=1) if len(values) > 1 else float("nan")


# Two-sided 95% quantiles of Student's t by degrees of freedom (to 4 places).
# fmt: off
T_975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
         2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
         2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)
# fmt: on


def t_975(dof):
    """The 97.5% quantile of Student's t with `dof` degrees of freedom: the
    table above, beyond it the Cornish-Fisher expansion about the normal
    quantile (within 1e-5 there)."""
    if dof < 1:
        raise ValueError(f"t_975: `dof` must be at least 1; received {dof}.")
    if dof <= len(T_975):
        return T_975[dof - 1]
    z = 1.959964
    return (
        z
        + (z**3 + z) / (4 * dof)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * dof**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * dof**3)
    )


def interval_95(values):
    """The 95% confidence interval of the mean of `values` (Student's t);
    NaNs for fewer than two values."""
    values = np.asarray(values, "float64")
    if len(values) < 2:
        return float("nan"), float("nan")
    half = t_975(len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean() - half, values.mean() + half


def _pm(mean, std, signed=False):
    """`mean ± std` to four places; a std of one seed (NaN) reads "n/a"."""
    spread = "n/a" if np.isnan(std) else f"{std:.4f}"
    return f"{mean:+.4f} ± {spread}" if signed else f"{mean:.4f} ± {spread}"


def _gains(row, metric):
    """`{seed: metric minus the metric of the baseline of the same run}`."""
    return {s: v - b for s, v, b in zip(row["seed"], row[metric], row["base_" + metric])}


def paired_difference(rows, label, metric, reference="baseline"):
    """`label`'s metric minus `reference`'s, seed by seed (same data and init
    seed), each taken relative to the baseline of its own run: where the runs
    share their baseline (bit-identical, as on one machine) this is simply
    `label - reference`."""
    gains = _gains(rows[label], metric)
    if reference == "baseline":
        return list(gains.values())
    reference_gains = _gains(rows[reference], metric)
    return [g - reference_gains[s] for s, g in gains.items() if s in reference_gains]


def _paired_cell(rows, label, metric, reference, interval=False):
    """`mean ± std` of the differences to `reference` (and their 95% interval),
    with their count when `reference` was not trained with every seed of
    `label`."""
    if label in ("baseline", reference):
        return " — |"
    diffs = paired_difference(rows, label, metric, reference) if reference in rows else []
    if not diffs:
        return " — |"
    mean, std = _mean_std(diffs)
    count = f" (n = {len(diffs)})" if len(diffs) < len(rows[label][metric]) else ""
    bounds = ""
    if interval:
        low, high = interval_95(diffs)
        bounds = " [n/a]" if np.isnan(low) else f" [{low:+.4f}, {high:+.4f}]"
    return f" {_pm(mean, std, signed=True)}{bounds}{count} |"


def markdown(rows, interval=False):
    """The table; `interval` adds the 95% interval of each paired difference."""
    accuracy = any(row["accuracy"] for row in rows.values())
    metric = "accuracy" if accuracy else "loss"
    head = "| model | seeds | eval loss (mean ± std) |" + (
        " eval accuracy (mean ± std) |" if accuracy else ""
    )
    spread = "mean ± std [95% interval]" if interval else "mean ± std"
    head += f" {metric} − baseline, paired by seed ({spread}) |"
    plus_one = "baseline+1" in rows  # LAuReL's claim: the quality of an extra block
    if plus_one:
        head += f" {metric} − baseline+1, paired by seed ({spread}) |"
    head += " params added % | step time / baseline (median) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for label, row in rows.items():
        mean, std = _mean_std(row["loss"])
        line = f"| {label} | {len(row['loss'])} | {_pm(mean, std)} |"
        if accuracy:
            mean, std = _mean_std(row["accuracy"])
            line += f" {_pm(mean, std)} |"
        line += _paired_cell(rows, label, metric, "baseline", interval)
        if plus_one:
            line += _paired_cell(rows, label, metric, "baseline+1", interval)
        line += f" {np.mean(row['params_added_pct']):+.3f} | {np.median(row['step_ratio']):.3f} |"
        lines.append(line)
    if rows.differing_baselines:
        seeds = "; ".join(
            f"seed {s}: " + ", ".join(f"{v:.4f}" for v in losses)
            for s, losses in rows.differing_baselines.items()
        )
        lines.append(
            f"\nThe runs of some seeds trained different baselines (eval loss {seeds}), "
            "as runs on different CPUs do; the baseline row lists the first, and every "
            "difference is taken to the baseline of the model's own run."
        )
    return "\n".join(lines)


def figure(rows, path, title=""):
    """Eval metric per model (mean ± std, every seed as a dot) and mean loss curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = "accuracy" if any(row["accuracy"] for row in rows.values()) else "loss"
    labels = list(rows)
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8))
    for i, label in enumerate(labels):
        values = np.asarray(rows[label][metric])
        mean, std = _mean_std(values)
        axes[0].errorbar(
            i, mean, yerr=0.0 if np.isnan(std) else std, fmt="o", capsize=4, color="C0"
        )
        axes[0].plot(np.full(len(values), i) + 0.12, values, ".", color="gray")
    axes[0].set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    axes[0].set(
        title=f"{title} eval {metric}: mean ± std over seeds (dots: seeds)", ylabel=f"eval {metric}"
    )
    for label in labels:
        seeds = [(steps, values) for steps, values in rows[label]["curve"] if len(values)]
        if seeds:
            # The seeds' curves on the steps of the sparsest (they share them
            # when the runs do; results of older versions kept every step).
            at = np.asarray(min((steps for steps, _ in seeds), key=len), "float64")
            at = at[at <= min(steps[-1] for steps, _ in seeds)]
            mean = np.mean([np.interp(at, steps, values) for steps, values in seeds], axis=0)
            axes[1].plot(at, mean, label=label, lw=1)
    axes[1].set(
        title="training loss (running mean over the epoch), mean over seeds",
        xlabel="step",
        ylabel="loss",
    )
    axes[1].set_ylim(top=axes[1].get_ylim()[0] + 0.6 * np.diff(axes[1].get_ylim())[0])
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="compare JSON files")
    parser.add_argument("--output", default=None, help="also write OUTPUT.md and OUTPUT.png")
    parser.add_argument("--title", default="")
    parser.add_argument(
        "--interval",
        action="store_true",
        help="add the 95%% confidence interval of every paired difference",
    )
    args = parser.parse_args(argv)
    records = []
    for path in args.paths:
        with open(path) as f:
            records.append(json.load(f))
    try:
        rows = aggregate(records)
    except ValueError as error:
        parser.error(str(error))
    text = markdown(rows, args.interval)
    print(text)
    if args.output:
        with open(args.output + ".md", "w") as f:
            f.write(text + "\n")
        figure(rows, args.output + ".png", args.title)
        print(f"wrote {args.output}.md and {args.output}.png")


if __name__ == "__main__":
    main()
