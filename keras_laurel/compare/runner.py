"""`keras-laurel compare`: baseline, baseline + 1 block and LAuReL variants,
trained with the same data, seed and budget, side by side.

Each model trains in its own process (`worker.py`). A model's result is kept
in `<output_dir>/<task>-seed<seed>.models/` as soon as it is trained, so that a
comparison stopped midway resumes with the next model when it is run again
with the same configuration; the folder is removed once the comparison's
JSON, Markdown and figure are written. `reuse_from` (`--reuse-from DIR`)
takes the models a finished comparison in DIR shares with this one (same task,
seed and settings; only the list of models differs) from its JSON instead of
training them again: e.g. the baseline and "+1" of a budget search, when the
LAuReL variants are added at that budget.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from keras_laurel.compare import reporting
from keras_laurel.compare.tasks import model_names
from keras_laurel.compare.tasks import task_of


def _train_in_subprocess(name, config, verbose):
    with tempfile.TemporaryDirectory() as tmp:
        output = os.path.join(tmp, "result.json")
        spec = {"name": name, "config": config.to_dict(), "output": output, "verbose": verbose}
        proc = subprocess.run(
            [sys.executable, "-m", "keras_laurel.compare.worker", json.dumps(spec)],
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")),
        )
        if proc.returncode != 0 or not os.path.exists(output):
            raise RuntimeError(f"compare: training '{name}' failed (exit code {proc.returncode}).")
        with open(output) as f:
            return json.load(f)


def _same(a, b):
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


class _TrainedModels:
    """The results of the models trained so far in this comparison, on disk."""

    def __init__(self, stem, config):
        self.folder = stem + ".models"
        self.config = json.loads(json.dumps(config.to_dict()))  # as JSON reads it back

    def _path(self, name):
        return os.path.join(self.folder, name.replace("+", "_") + ".json")

    def get(self, name):
        """The result of `name` trained earlier with this configuration, or None."""
        try:
            with open(self._path(name)) as f:
                kept = json.load(f)
        except (OSError, ValueError):
            return None
        return kept["result"] if _same(kept["config"], self.config) else None

    def put(self, name, result):
        os.makedirs(self.folder, exist_ok=True)
        path = self._path(name)
        with open(path + ".tmp", "w") as f:
            json.dump({"config": self.config, "result": result}, f)
        os.replace(path + ".tmp", path)

    def clear(self):
        shutil.rmtree(self.folder, ignore_errors=True)


# Settings that choose which models a comparison trains, not how any one
# model trains: comparisons that differ only in them share their models.
MODEL_LIST_SETTINGS = ("variants", "plus_one")


class ReuseMismatchError(ValueError):
    """`reuse_from` names a comparison trained with other settings."""


def _finished_models(stem, config):
    """`{name: result}` of the finished comparison `stem`.json when it trained
    with `config`'s settings (the list of models aside); {} when there is none."""
    try:
        with open(stem + ".json") as f:
            record = json.load(f)
    except OSError:
        return {}
    ours = json.loads(json.dumps(config.to_dict()))
    theirs = record["config"]
    for key in MODEL_LIST_SETTINGS:
        ours.pop(key, None)
        theirs.pop(key, None)
    if not _same(ours, theirs):
        different = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
        raise ReuseMismatchError(
            f"compare: `reuse_from` {stem}.json was trained with other settings "
            f"({', '.join(different)}); only the list of models may differ."
        )
    return {r["name"]: r for r in record["results"]}


def compare(config, output_dir="laurel_compare", verbose=1, print_fn=print, reuse_from=None):
    """Runs the comparison `config` (a `Config`); returns its record and writes
    `<task>-seed<seed>.json`, `.md` (the table) and `.png` to `output_dir`.
    `reuse_from`: a folder of earlier comparisons whose models of this task,
    seed and settings are taken from there rather than trained again."""
    import keras

    from keras_laurel.compare.data import ensure_available

    task = task_of(config)
    ensure_available(task.dataset_name(config), config.data_dir)
    os.makedirs(output_dir, exist_ok=True)
    stem = os.path.join(output_dir, f"{config.task}-seed{config.seed}")
    names = model_names(config)
    print_fn(
        f"keras-laurel compare: task {config.task}, backend {keras.backend.backend()}, "
        f"{config.steps} steps x batch {config.batch_size}, seed {config.seed}; "
        f"models: {', '.join(names)}"
    )
    trained = _TrainedModels(stem, config)
    earlier = {}
    if reuse_from is not None:
        earlier_stem = os.path.join(reuse_from, os.path.basename(stem))
        earlier = _finished_models(earlier_stem, config)
    results = []
    for i, name in enumerate(names):
        result = trained.get(name)
        if result is not None:
            print_fn(f"[{i + 1}/{len(names)}] {name}: trained by an earlier, interrupted run")
        elif name in earlier:
            print_fn(f"[{i + 1}/{len(names)}] {name}: from {earlier_stem}.json")
            result = dict(earlier[name], reused_from=earlier_stem + ".json")
        else:
            print_fn(f"[{i + 1}/{len(names)}] training {name}")
            result = _train_in_subprocess(name, config, verbose)
            trained.put(name, result)
        results.append(result)
    text = reporting.table(results, config) + "\n\n" + reporting.footnote(config)
    print_fn("")
    print_fn(text)
    record = reporting.record(config, results)
    with open(stem + ".json", "w") as f:
        json.dump(record, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(text + "\n")
    reporting.figure(results, config, stem + ".png")
    trained.clear()
    print_fn(f"\nwrote {stem}.json, {stem}.md and {stem}.png")
    return record
