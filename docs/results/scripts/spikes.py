"""Did any training of the study spike? The worst single step of every run.

    python docs/results/scripts/spikes.py            # from the repository root

`keras-laurel compare` records Keras's training loss after every step, which
is the running mean over the (single) epoch, so the figures' curves hide
single steps. The loss of step t is recovered exactly as
t m_t - (t - 1) m_{t-1} (`keras_laurel.compare.curves.per_step`), and every
result keeps `worst_step_rise`: how far its worst step rose above the median
of the 50 steps before it. For every training in docs/results/ this prints,
per task and kind of model, the median and the maximum of it over the runs.
"""

import collections
import glob
import os

import numpy as np

from keras_laurel.compare.curves import worst_step_rise

RESULTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rise(result):
    if "worst_step_rise" in result:
        return result["worst_step_rise"]
    return worst_step_rise(result["train_loss_curve"])  # a result that kept every step


def main():
    import json

    print(
        "| task | models | runs | worst step above its previous 50 steps' median: "
        "median over runs | max |"
    )
    print("|---|---|---|---|---|")
    for task in ("gpt2", "resnet"):
        jumps = collections.defaultdict(list)
        for path in glob.glob(os.path.join(RESULTS, f"{task}*", "**", "*.json"), recursive=True):
            with open(path) as f:
                record = json.load(f)
            for result in record.get("results", []):
                kind = {"baseline": "baseline", "baseline+1": "+1"}.get(result["name"], "LAuReL")
                jumps[kind].append(rise(result))
        for kind in ("baseline", "+1", "LAuReL"):
            v = jumps[kind]
            print(f"| {task} | {kind} | {len(v)} | {np.median(v):.3f} | {max(v):.3f} |")


if __name__ == "__main__":
    main()
