"""Did any training of the study spike? Per-step losses from the running means.

    python docs/results/spikes.py            # from the repository root

`keras-laurel compare` records Keras's training loss after every step, which
is the running mean over the (single) epoch, so the figures' curves hide
single steps. The loss of step t is recovered exactly as
t m_t - (t - 1) m_{t-1}. For every training in docs/results/ this prints, per
task and kind of model, how far the worst step of a run rose above the median
of the 50 steps before it (median and maximum over the runs).
"""

import collections
import glob
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def per_step(running_mean):
    m = np.asarray(running_mean, dtype=np.float64)
    t = np.arange(1, len(m) + 1)
    return t * m - np.concatenate([[0.0], t[:-1] * m[:-1]])


def worst_jump(losses, window=50):
    return max(losses[i] - np.median(losses[i - window : i]) for i in range(window, len(losses)))


def main():
    print(
        "| task | models | runs | worst step above its previous 50 steps' median: "
        "median over runs | max |"
    )
    print("|---|---|---|---|---|")
    for task in ("gpt2", "resnet"):
        jumps = collections.defaultdict(list)
        for path in glob.glob(os.path.join(HERE, f"{task}*", "**", "*.json"), recursive=True):
            with open(path) as f:
                for result in json.load(f)["results"]:
                    kind = {"baseline": "baseline", "baseline+1": "+1"}.get(
                        result["name"], "LAuReL"
                    )
                    jumps[kind].append(worst_jump(per_step(result["train_loss_curve"])))
        for kind in ("baseline", "+1", "LAuReL"):
            v = jumps[kind]
            print(f"| {task} | {kind} | {len(v)} | {np.median(v):.3f} | {max(v):.3f} |")


if __name__ == "__main__":
    main()
