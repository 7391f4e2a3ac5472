"""Mean and standard deviation over seeds of `keras-laurel compare` results.

    python -m keras_laurel.compare.aggregate laurel_compare/gpt2-shakespeare-seed*.json

Prints a Markdown table: per model, the eval metric as mean +- std over the
runs given, the parameters added and the step-time ratio to the baseline.
"""

import collections
import json
import sys

import numpy as np


def aggregate(records):
    """`{model name: {metric: [values over runs]}}` in first-seen model order."""
    rows = collections.OrderedDict()
    for record in records:
        base = record["results"][0]
        for r in record["results"]:
            label = r["name"]
            rank = record["config"].get("rank")
            if "lr" in label.split("+"):
                label = f"{label} (r = {rank})"
            row = rows.setdefault(label, collections.defaultdict(list))
            row["loss"].append(r["eval"]["loss"])
            if "accuracy" in r["eval"]:
                row["accuracy"].append(r["eval"]["accuracy"])
            row["params_added_pct"].append(100.0 * (r["params"] - base["params"]) / base["params"])
            row["step_ratio"].append(r["median_step_seconds"] / base["median_step_seconds"])
            row["seed"].append(record["config"]["seed"])
    return rows


def markdown(rows):
    accuracy = any(row["accuracy"] for row in rows.values())
    head = "| model | seeds | eval loss (mean ± std) |" + (" eval accuracy (mean ± std) |" if accuracy else "")
    head += " params added % | step time / baseline |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for label, row in rows.items():
        loss = np.array(row["loss"])
        line = f"| {label} | {len(loss)} | {loss.mean():.4f} ± {loss.std(ddof=1) if len(loss) > 1 else 0:.4f} |"
        if accuracy:
            acc = np.array(row["accuracy"])
            line += f" {acc.mean():.4f} ± {acc.std(ddof=1) if len(acc) > 1 else 0:.4f} |"
        line += f" {np.mean(row['params_added_pct']):+.3f} | {np.median(row['step_ratio']):.3f} |"
        lines.append(line)
    return "\n".join(lines)


def main(paths=None):
    paths = sys.argv[1:] if paths is None else paths
    records = [json.load(open(p)) for p in paths]
    print(markdown(aggregate(records)))


if __name__ == "__main__":
    main()
