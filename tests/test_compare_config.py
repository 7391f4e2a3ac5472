"""The comparison harness: `Config` validated when it is made (Python and CLI
callers get the same errors), the task registry, the table's footnote, thinned
curves and a comparison that resumes after an interruption."""

import json
import os

import keras
import numpy as np
import pytest

from keras_laurel import cli
from keras_laurel.compare import TASKS
from keras_laurel.compare import Config
from keras_laurel.compare import Task
from keras_laurel.compare import compare
from keras_laurel.compare import curves
from keras_laurel.compare import reporting

BACKEND = keras.backend.backend()

# (Config keywords, the same as command-line options, the message both give)
BAD = [
    ({"task": "mnist-mlp"}, None, "`task` (--task) must be one of ('gpt2-shakespeare', "),
    ({"variants": ("rw", "xx")}, ["--variants", "rw,xx"], "`variant` must be one of"),
    (
        {"variants": ("rw", "rw")},
        ["--variants", "rw,rw"],
        "`variants` (--variants) must be distinct",
    ),
    ({"steps": 0}, ["--steps", "0"], "`steps` (--steps) must be a positive integer; received 0."),
    ({"batch_size": 2.5}, None, "`batch_size` (--batch-size) must be a positive integer"),
    ({"rank": -1}, ["--rank", "-1"], "`rank` (--rank) must be a positive integer; received -1."),
    ({"k": 0}, ["--k", "0"], "`k` (--k) must be a positive integer; received 0."),
    ({"seed": -3}, ["--seed", "-3"], "`seed` (--seed) must be a non-negative integer"),
    (
        {"learning_rate": 0.0},
        ["--learning-rate", "0"],
        "`learning_rate` (--learning-rate) must be a positive number; received 0.0.",
    ),
    (
        {"lowrank_lr_scale": -1.0},
        ["--lowrank-lr-scale", "-1"],
        "`lowrank_lr_scale` (--lowrank-lr-scale) must be a positive number",
    ),
    (
        {"steps": 10, "warmup_steps": 10},
        ["--steps", "10", "--warmup-steps", "10"],
        "`warmup_steps` (--warmup-steps) must be an integer in [0, steps = 10); received 10.",
    ),
    ({"lr_schedule": "step"}, None, "`lr_schedule` (--lr-schedule) must be one of"),
    ({"decoder": "t5"}, None, "`decoder` (--decoder) must be one of ('gpt2', 'llama')"),
    ({"distribution": "pods"}, None, "`distribution` (--distribution) must be one of"),
    (
        {"task": "resnet-cifar10", "stage_filters": (16, 32)},
        ["--task", "resnet-cifar10", "--stage-filters", "16,32"],
        "`stage_filters` (--stage-filters) must be positive widths, one per stage, the first 64",
    ),
    (
        {"task": "resnet-cifar10", "variants": ("rw", "hc", "denseformer")},
        ["--task", "resnet-cifar10", "--variants", "rw,hc,denseformer"],
        "`variants` (--variants): hc,denseformer go in transformer layers",
    ),
    (
        {"task": "resnet-cifar10", "stage_blocks": (1, 1)},
        ["--task", "resnet-cifar10", "--stage-blocks", "1,1"],
        "`stage_blocks` (--stage-blocks) must be one positive block count per stage",
    ),
]


@pytest.mark.parametrize("keywords, argv, message", BAD, ids=[str(b[0]) for b in BAD])
def test_python_and_command_line_callers_get_the_same_errors(keywords, argv, message, capsys):
    with pytest.raises(ValueError) as raised:
        Config(**keywords)
    assert message in str(raised.value)
    if argv is not None:  # options argparse does not restrict to choices itself
        with pytest.raises(SystemExit):
            cli.main(["compare", *argv])
        assert message in capsys.readouterr().err


def test_config_is_normalised_and_survives_json():
    config = Config(
        variants=["lr+rw", "pa", "LayerScale"], stage_filters=[64, 32], stage_blocks=[1, 1]
    )
    assert config.variants == ("rw+lr", "pa", "layerscale")
    assert config.stage_filters == (64, 32) and config.stage_blocks == (1, 1)
    assert Config(**json.loads(json.dumps(config.to_dict()))) == config


def test_every_task_is_registered_once_with_what_the_harness_needs():
    assert list(TASKS) == ["gpt2-shakespeare", "resnet-cifar10"]
    for name, task in TASKS.items():
        assert isinstance(task, Task) and task.name == name
        assert task.metric in ("loss", "accuracy") and task.noise and task.model_kind
    assert TASKS["gpt2-shakespeare"].dataset_name(Config()) == "tiny_shakespeare"
    images = Config(task="resnet-cifar10", dataset="fashion_mnist")
    assert TASKS["resnet-cifar10"].dataset_name(images) == "fashion_mnist"


def test_the_footnote_says_what_the_table_rests_on():
    note = reporting.footnote(Config(steps=40, batch_size=8, seed=3))
    assert note.startswith("One seed (3), 40 training steps of batch 8 per model.")
    assert "docs/results.md" in note and "noise" in note and "aggregate" in note


def test_curves_are_thinned_and_keep_the_worst_step():
    rng = np.random.default_rng(0)
    losses = 2.0 - np.linspace(0, 1, 1000) + 0.01 * rng.normal(size=1000)
    losses[700] += 0.5  # one bad step
    running = np.cumsum(losses) / np.arange(1, 1001)
    kept = curves.record(running)
    assert len(kept["train_loss_steps"]) <= curves.MAX_POINTS + 1
    assert kept["train_loss_steps"][-1] == 1000
    np.testing.assert_allclose(
        kept["train_loss_curve"], running[np.asarray(kept["train_loss_steps"]) - 1]
    )
    np.testing.assert_allclose(curves.per_step(running), losses, atol=1e-9)
    expected = losses[700] - np.median(losses[650:700])
    assert abs(kept["worst_step_rise"] - expected) < 1e-9
    assert curves.steps_of({"train_loss_curve": [3.0, 2.0]}) == [1, 2]  # older results
    assert curves.record([1.0] * 10)["worst_step_rise"] is None


def _tiny_config(**kwargs):
    settings = dict(steps=6, eval_steps=1, batch_size=4, layers=1, hidden=16, heads=2, seq_len=16)
    return Config(**dict(settings, **kwargs))


def _result(name, loss):
    return {
        "name": name,
        "params": 1000,
        "eval": {"loss": loss},
        "median_step_seconds": 0.5,
        "peak_rss_mib": 100.0,
        "train_loss_steps": [],
        "train_loss_curve": [],
        "coefficients": [],
    }


@pytest.mark.skipif(BACKEND != "torch", reason="CI time: runs in the torch pass")
def test_an_interrupted_comparison_trains_only_what_is_missing(tmp_path, capsys):
    config = _tiny_config(variants=("rw",), plus_one=True)
    out = str(tmp_path / "out")
    folder = os.path.join(out, "gpt2-shakespeare-seed0.models")
    os.makedirs(folder)
    kept = _result("baseline", 4.25)
    stored = json.loads(json.dumps(config.to_dict()))
    with open(os.path.join(folder, "baseline.json"), "w") as f:
        json.dump({"config": stored, "result": kept}, f)
    # A result of another configuration is not reused.
    with open(os.path.join(folder, "rw.json"), "w") as f:
        json.dump({"config": dict(stored, steps=7), "result": dict(kept, name="rw")}, f)
    # A finished comparison of the same settings without the variants (a
    # budget search): its "+1" is taken from it; its "rw" of other settings is not there.
    earlier = str(tmp_path / "budget")
    os.makedirs(earlier)
    budget = dict(stored, variants=[], plus_one=True)
    plus_one = _result("baseline+1", 4.0)
    with open(os.path.join(earlier, "gpt2-shakespeare-seed0.json"), "w") as f:
        json.dump({"config": budget, "results": [_result("baseline", 4.5), plus_one]}, f)
    record = compare(config, output_dir=out, verbose=0, reuse_from=earlier)
    printed = capsys.readouterr().out
    assert "[1/3] baseline: trained by an earlier, interrupted run" in printed
    assert f"[2/3] baseline+1: from {earlier}/gpt2-shakespeare-seed0.json" in printed
    assert "[3/3] training rw" in printed
    assert record["results"][0] == kept
    reused = dict(plus_one, reused_from=f"{earlier}/gpt2-shakespeare-seed0.json")
    assert record["results"][1] == reused
    rw = record["results"][2]
    assert rw["name"] == "rw" and rw["params"] != 1000 and len(rw["train_loss_curve"]) == 6
    assert "One seed (0), 6 training steps of batch 4 per model." in printed
    assert not os.path.exists(folder)  # removed once the comparison is written


def test_reuse_from_a_comparison_of_other_settings_is_refused(tmp_path, capsys):
    earlier = tmp_path / "budget"
    earlier.mkdir()
    stored = json.loads(json.dumps(_tiny_config(steps=7).to_dict()))
    (earlier / "gpt2-shakespeare-seed0.json").write_text(
        json.dumps({"config": stored, "results": [_result("baseline", 4.5)]})
    )
    with pytest.raises(ValueError, match=r"trained with other settings \(steps\)"):
        compare(_tiny_config(), output_dir=str(tmp_path / "out"), reuse_from=str(earlier))
    args = ["compare", "--steps", "6", "--layers", "1", "--hidden", "16", "--heads", "2"]
    args += ["--seq-len", "16", "--batch-size", "4", "--eval-steps", "1"]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args + ["--output-dir", str(tmp_path / "out"), "--reuse-from", str(earlier)])
    assert exit_info.value.code == 2
    assert "only the list of models may differ" in capsys.readouterr().err
    assert not (tmp_path / "out" / "gpt2-shakespeare-seed0.json").exists()
