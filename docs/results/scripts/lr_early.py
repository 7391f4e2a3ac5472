"""Where does LR at r = 8 fall behind the baseline? Short trainings, one process.

    KERAS_BACKEND=tensorflow python docs/results/scripts/lr_early.py --seed 0 --steps 400 \
        --models lr,lr-a-frozen,lr-a-glorot,lr-b-lr-x16,lr-r32 --output seed0.json
    python docs/results/scripts/lr_early.py --summarize seed*.json --figure gaps.png

In the 4-layer GPT-2 study (docs/results.md), LR at r = 8 ends 0.007 nats
behind the baseline. In the seeds where the gap is largest, it opens during
the first few hundred steps (in seed 0 it peaks at about +0.1 around step 120)
and training at a constant learning rate never closes it. This script trains,
with the study's data, seed and settings (`keras-laurel compare --task
gpt2-shakespeare`, constant learning rate, so the first N steps are those of
the study's 1500-step runs), the baseline and LR with one thing changed at a
time, and prints each model's training loss minus the baseline's, per step,
averaged over windows (the loss of step t is recovered from Keras's running
mean as in `keras_laurel.compare.curves.per_step`):

- `lr`: as in the study (A column-orthogonal, B = 0, AdamW 1e-3 for both).
- `lr-a-frozen`: A is not trained (only B learns; the path stays in the
  subspace A spans at initialisation).
- `lr-a-glorot`: A drawn from Glorot-uniform (the Keras default, used for the
  ResNet) instead of column-orthogonal.
- `lr-b-lr-x16`: B's learning rate 16 times A's, as LoRA+ recommends (A at
  1e-3 / 16, B at 1e-3): Adam moves every entry of A by about the learning
  rate per step as soon as B is not exactly zero, however small A's gradient.
- `lr-r32`: r = 32 (the study's rank without the deficit), for reference.
"""

import argparse
import dataclasses
import json
import os

import keras
import numpy as np

from keras_laurel.compare.config import Config
from keras_laurel.compare.curves import per_step

MODELS = ("lr", "lr-a-frozen", "lr-a-glorot", "lr-b-lr-x16", "lr-r32")


def build(name, config, data):
    """The study's GPT-2 (`tasks.gpt2_model`), with model `name`'s one change."""
    import keras_laurel
    from keras_laurel.compare import tasks
    from keras_laurel.compare.optimizer import ScaledAdamW

    if name == "lr-r32":
        config = dataclasses.replace(config, rank=32)
    model, backbone, _ = tasks.gpt2_model(
        "baseline" if name == "baseline" else "lr",
        config,
        data,
        a_initializer="glorot_uniform" if name == "lr-a-glorot" else "column_orthogonal",
    )
    a = [layer.a[0] for layer in keras_laurel.laurel_layers(backbone)]
    if name == "lr-a-frozen":
        for variable in a:
            variable.trainable = False
        optimizer = keras.optimizers.AdamW(config.learning_rate)
    elif name == "lr-b-lr-x16":
        optimizer = ScaledAdamW(config.learning_rate, a, 1 / 16)
    else:
        return model
    model.compile(optimizer=optimizer, loss=model.loss, weighted_metrics=[])
    return model


def train(name, config, data):
    from keras_laurel.compare import tasks
    from keras_laurel.compare.worker import StepTimer

    model = build(name, config, data)
    x, y = tasks.task_of(config).train_inputs(config, data)
    timer = StepTimer()
    model.fit(
        x, y, batch_size=config.batch_size, epochs=1, shuffle=False, callbacks=[timer], verbose=0
    )
    ex, ey = data["eval"]
    return {
        "losses": per_step(timer.losses).tolist(),
        "eval_loss": float(model.evaluate(ex, ey, batch_size=config.batch_size, verbose=0)),
    }


def summarize(paths, png=None, window=50):
    """Pools runs written with --output: per model, the eval-loss gap to the
    baseline (paired by seed) and the mean training-loss gap per window; the
    figure plots the latter."""
    records = []
    for path in paths:
        with open(path) as f:
            records.append(json.load(f))
    names = [n for n in records[0]["runs"] if n != "baseline"]
    steps = records[0]["steps"]
    seeds = [r["seed"] for r in records]
    lines = [
        f"seeds {seeds}, {steps} steps: loss - baseline's, paired by seed",
        "| model | eval loss gap (mean ± std) | per seed | training loss gap, "
        f"last {window} steps (mean ± std) |",
        "|---|---|---|---|",
    ]
    curves = {}
    for name in names:
        evals, gaps = [], []
        for r in records:
            evals.append(r["runs"][name]["eval_loss"] - r["runs"]["baseline"]["eval_loss"])
            gaps.append(
                np.asarray(r["runs"][name]["losses"]) - np.asarray(r["runs"]["baseline"]["losses"])
            )
        evals, gaps = np.asarray(evals), np.asarray(gaps)
        std = evals.std(ddof=1) if len(evals) > 1 else 0.0
        last = gaps[:, -window:].mean(axis=1)
        last_std = last.std(ddof=1) if len(last) > 1 else 0.0
        lines.append(
            f"| {name} | {evals.mean():+.4f} ± {std:.4f} | "
            + ", ".join(f"{v:+.4f}" for v in evals)
            + f" | {last.mean():+.4f} ± {last_std:.4f} |"
        )
        curves[name] = gaps.mean(axis=0)
    print("\n".join(lines))
    if png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        starts = np.arange(0, steps, window)
        for name, curve in curves.items():
            ax.plot(starts + window / 2, [curve[i : i + window].mean() for i in starts], label=name)
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xlabel("training step")
        ax.set_ylabel(f"training loss - baseline's ({window}-step mean)")
        ax.set_title(f"GPT-2, LR at r = 8: mean over seeds {seeds}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(png, dpi=100)
    return lines


def main():
    from keras_laurel.compare import tasks

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--output", help="JSON with every model's per-step losses")
    parser.add_argument(
        "--summarize",
        nargs="+",
        metavar="JSON",
        help="pool JSONs written with --output instead of training",
    )
    parser.add_argument("--figure", help="with --summarize: PNG of the training-loss gaps")
    args = parser.parse_args()
    if args.summarize:
        summarize(args.summarize, args.figure, args.window)
        return
    names = args.models.split(",")
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        parser.error(f"--models: unknown {unknown}; expected names from {list(MODELS)}")
    config = Config(
        task="gpt2-shakespeare",
        steps=args.steps,
        seed=args.seed,
        data_dir=os.environ.get("TFDS_DATA_DIR"),
    )
    data = tasks.task_of(config).load_data(config)
    runs = {name: train(name, config, data) for name in ["baseline"] + names}
    base = np.asarray(runs["baseline"]["losses"])
    w = args.window
    print(
        f"seed {args.seed}: training loss - baseline's, mean over steps "
        + ", ".join(f"{i}-{min(i + w, args.steps) - 1}" for i in range(0, args.steps, w))
    )
    for name in names:
        gap = np.asarray(runs[name]["losses"]) - base
        windows = " ".join(f"{gap[i : i + w].mean():+.3f}" for i in range(0, args.steps, w))
        eval_gap = runs[name]["eval_loss"] - runs["baseline"]["eval_loss"]
        print(f"{name:14s} {windows}  | eval {eval_gap:+.4f}")
    if args.output:
        import platform
        import time

        from keras_laurel.compare.reporting import package_versions

        with open(args.output, "w") as f:
            json.dump(
                {
                    "seed": args.seed,
                    "steps": args.steps,
                    "runs": runs,
                    "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
                    "versions": package_versions(),
                },
                f,
            )


if __name__ == "__main__":
    main()
