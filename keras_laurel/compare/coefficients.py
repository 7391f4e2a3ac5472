"""The learned alpha, beta and gamma against depth, over seeds and runs.

    python -m keras_laurel.compare.coefficients --models rw,rw+lr \\
        --output docs/results/depth/coefficients \\
        docs/results/gpt2/r8/*.json docs/results/depth/12x128-2400steps/*.json

Models of different depths share the horizontal axis as relative depth,
`(layer + 1) / layers`: does RW learn something different in a 12-layer
decoder than in a 4-layer one? Per model (labelled with its experiment, e.g.
"rw, llama 12 x 128"), per residual (attention, feedforward, parallel) and
per layer: alpha and beta (RW), and gamma_j (PA: the extra weight of the
site's own input for j = 0, of the activation j sites back for j >= 1), each
as mean ± std over the seeds given. Prints a Markdown table; with
`--output STEM` it also writes STEM.md and a figure STEM.png.
"""

import argparse
import collections
import json

import numpy as np

from keras_laurel.compare.aggregate import _label

KEYS = ("alpha", "beta", "gamma")


def experiment_of(config):
    """What tells models of one name apart across runs: the network's shape."""
    if config.get("task", "gpt2-shakespeare") == "gpt2-shakespeare":
        decoder = config.get("decoder", "gpt2")
        return f"{decoder} {config.get('layers', 4)} x {config.get('hidden', 64)}"
    blocks = "-".join(str(b) for b in config.get("stage_blocks", ()))
    return f"resnet {blocks}"


def _residual(path):
    """The residual of a LAuReL site path: "attention" for
    "transformer_layer_3/attention_laurel"."""
    return path.rsplit("/", 1)[-1].removesuffix("_laurel")


def collect(records, models=None):
    """`{model label: {(residual, position): {key: [values over seeds]}}}`
    where `position` is the relative depth `(i + 1) / n` of the site among the
    `n` sites of its residual, and a key is "alpha", "beta" or "gamma_j".
    `models` keeps only those model names (e.g. {"rw", "rw+lr"})."""
    table = collections.OrderedDict()
    seen = set()
    for record in records:
        config = record["config"]
        for result in record["results"]:
            sites = result.get("coefficients") or []
            if models is not None and result["name"] not in models:
                continue
            if not any(key in site for site in sites for key in KEYS):
                continue
            label = f"{_label(result, config)}, {experiment_of(config)}"
            if (label, config["seed"]) in seen:  # one model per seed
                continue
            seen.add((label, config["seed"]))
            by_residual = collections.defaultdict(list)
            for site in sites:
                by_residual[_residual(site["site"])].append(site)
            row = table.setdefault(label, collections.OrderedDict())
            for residual, group in by_residual.items():
                for i, site in enumerate(group):
                    cell = row.setdefault((residual, (i + 1) / len(group)), {})
                    for key in ("alpha", "beta"):
                        if key in site:
                            cell.setdefault(key, []).append(site[key])
                    for j, value in enumerate(site.get("gamma", ())):
                        cell.setdefault(f"gamma_{j}", []).append(value)
    return table


def _cell(values):
    if values is None:
        return "—"
    values = np.asarray(values, "float64")
    std = f"{values.std(ddof=1):.3f}" if len(values) > 1 else "n/a"
    return f"{values.mean():.3f} ± {std}"


def markdown(table):
    keys = sorted(
        {k for row in table.values() for cell in row.values() for k in cell},
        key=lambda k: (k.startswith("gamma"), k),
    )
    head = "| model | residual | relative depth | seeds | " + " | ".join(keys) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for label, row in table.items():
        for (residual, position), cell in row.items():
            seeds = max(len(v) for v in cell.values())
            values = " | ".join(_cell(cell.get(k)) for k in keys)
            lines.append(f"| {label} | {residual} | {position:.3f} | {seeds} | {values} |")
    return "\n".join(lines)


def figure(table, path, title=""):
    """alpha, beta and gamma_j against relative depth, one line per model and
    residual (mean over seeds, bars: std)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [cell for row in table.values() for cell in row.values()]
    with_gamma = any(key.startswith("gamma") for cell in cells for key in cell)
    columns = 3 if with_gamma else 2  # a gamma panel only where some model has PA
    fig, axes = plt.subplots(1, columns, figsize=(5.4 * columns, 4.8), sharex=True)
    panels = {"alpha": axes[0], "beta": axes[1]}
    for n, (label, row) in enumerate(table.items()):
        residuals = dict.fromkeys(residual for residual, _ in row)
        for m, residual in enumerate(residuals):
            points = [(p, cell) for (r, p), cell in row.items() if r == residual]
            x = np.array([p for p, _ in points])
            style = dict(color=f"C{n % 10}", ls="-" if m == 0 else "--", marker="o", ms=3)
            keys = dict.fromkeys(k for _, cell in points for k in cell)
            for key in keys:
                ax = panels[key] if key in panels else axes[2]
                if key.startswith("gamma"):  # gamma_j: one marker per j
                    style["marker"] = "osd^v<>"[int(key.split("_")[1]) % 7]
                values = [np.asarray(cell.get(key, [np.nan]), "float64") for _, cell in points]
                mean = np.array([v.mean() for v in values])
                std = np.array([v.std(ddof=1) if len(v) > 1 else 0.0 for v in values])
                name = f"{label} ({residual})" + (f" {key}" if key.startswith("gamma") else "")
                ax.errorbar(x, mean, yerr=std, capsize=2, label=name, **style)
    axes[0].set(title=f"{title} learned alpha (f(x))", xlabel="relative depth", ylabel="value")
    axes[1].set(title="learned beta (skip path)", xlabel="relative depth")
    if with_gamma:
        axes[2].set(title="learned gamma_j (PA)", xlabel="relative depth")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="compare JSON files")
    parser.add_argument(
        "--models", default=None, help="comma-separated model names to keep (e.g. rw,rw+lr)"
    )
    parser.add_argument("--output", default=None, help="also write OUTPUT.md and OUTPUT.png")
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    records = []
    for path in args.paths:
        with open(path) as f:
            records.append(json.load(f))
    models = set(args.models.split(",")) if args.models else None
    table = collect(records, models)
    if not table:
        parser.error("no model of these runs has learned alpha, beta or gamma (RW or PA)")
    text = markdown(table)
    print(text)
    if args.output:
        with open(args.output + ".md", "w") as f:
            f.write(text + "\n")
        figure(table, args.output + ".png", args.title)
        print(f"wrote {args.output}.md and {args.output}.png")


if __name__ == "__main__":
    main()
