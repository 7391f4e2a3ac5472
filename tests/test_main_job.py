"""The main job (`keras-laurel compare`) and the examples' resumable training,
on real TFDS data from the shared folder, on the current backend."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_laurel import cli

BACKEND = keras.backend.backend()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_compare(tmp_path, capsys, *args):
    out = os.path.join(tmp_path, "out")
    code = cli.main(["compare", "--quiet", "--output-dir", out, *args])
    printed = capsys.readouterr().out
    return code, out, printed


def test_compare_gpt2_shakespeare_tiny(tmp_path, capsys):
    code, out, printed = run_compare(
        tmp_path,
        capsys,
        "--steps",
        "12",
        "--eval-steps",
        "2",
        "--batch-size",
        "8",
        "--layers",
        "2",
        "--hidden",
        "32",
        "--heads",
        "2",
        "--seq-len",
        "32",
        "--variants",
        "pa+rw",
    )
    assert code == 0
    assert "| model | params | added % | eval loss | eval ppl |" in printed
    record = json.load(open(os.path.join(out, "gpt2-shakespeare-seed0.json")))
    results = {r["name"]: r for r in record["results"]}
    assert list(results) == ["baseline", "baseline+1", "rw+pa"]
    base = results["baseline"]["params"]
    # 2 layers, attention placement: RW adds 2 scalars per site, PA 1 + 2 gammas.
    assert results["rw+pa"]["params"] - base == 2 * 2 + (1 + 2)
    assert results["baseline+1"]["params"] > base
    for r in results.values():
        assert r["eval"]["loss"] > 0 and r["median_step_seconds"] > 0
        assert len(r["train_loss_curve"]) == 12
        assert r["backend"] == BACKEND
    assert [set(s) for s in results["rw+pa"]["coefficients"]] == [
        {"site", "alpha", "beta", "gamma"}
    ] * 2
    assert os.path.getsize(os.path.join(out, "gpt2-shakespeare-seed0.png")) > 10_000
    assert record["versions"]["keras"] == keras.__version__
    assert record["machine"]["processor"]  # the CPU model: other CPUs train other baselines
    # Aggregation over seeds: a second seed (the same run with its losses
    # moved by 0.5) and the first run again, which must count once.
    from keras_laurel.compare import aggregate

    other = json.loads(json.dumps(record))
    other["config"]["seed"] = 1
    for r in other["results"]:
        r["eval"]["loss"] += 0.5
    paths = []
    for i, rec in enumerate([record, other, record]):
        paths.append(os.path.join(tmp_path, f"run{i}.json"))
        with open(paths[-1], "w") as f:
            json.dump(rec, f)
    stem = os.path.join(tmp_path, "aggregated")
    aggregate.main(paths + ["--output", stem])
    table = open(stem + ".md").read()
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:]] == [
        "baseline",
        "baseline+1",
        "rw+pa",
    ]
    loss = results["rw+pa"]["eval"]["loss"]
    std = float(np.std([loss, loss + 0.5], ddof=1))
    assert f"| rw+pa | 2 | {loss + 0.25:.4f} ± {std:.4f} |" in table
    base_loss = results["baseline"]["eval"]["loss"]
    # Both seeds moved alike, so the paired difference has no spread.
    assert f"| {loss - base_loss:+.4f} ± 0.0000 |" in table
    assert os.path.getsize(stem + ".png") > 10_000


@pytest.mark.skipif(BACKEND != "torch", reason="CI time: the Llama decoder runs in the torch pass")
def test_compare_llama_shakespeare_tiny(tmp_path, capsys):
    code, out, printed = run_compare(
        tmp_path,
        capsys,
        "--decoder",
        "llama",
        "--steps",
        "6",
        "--eval-steps",
        "2",
        "--batch-size",
        "8",
        "--layers",
        "2",
        "--hidden",
        "32",
        "--heads",
        "2",
        "--seq-len",
        "32",
        "--variants",
        "rw+lr",
        "--rank",
        "4",
        "--no-plus-one",
    )
    assert code == 0
    record = json.load(open(os.path.join(out, "gpt2-shakespeare-seed0.json")))
    assert record["config"]["decoder"] == "llama"
    results = {r["name"]: r for r in record["results"]}
    assert list(results) == ["baseline", "rw+lr"]
    # 2 layers, attention placement: 2 logits and A, B (32 x 4, 4 x 32) per site.
    assert results["rw+lr"]["params"] - results["baseline"]["params"] == 2 * (2 + 2 * 4 * 32)
    assert [s["site"] for s in results["rw+lr"]["coefficients"]] == [
        "transformer_layer_0/attention_laurel",
        "transformer_layer_1/attention_laurel",
    ]


@pytest.mark.skipif(BACKEND != "torch", reason="CI time: the ResNet task runs in the torch pass")
def test_compare_resnet_tiny_on_fashion_mnist(tmp_path, capsys):
    # cifar10 is not available offline here; the task takes any TFDS image set.
    code, out, printed = run_compare(
        tmp_path,
        capsys,
        "--task",
        "resnet-cifar10",
        "--dataset",
        "fashion_mnist",
        "--train-examples",
        "64",
        "--test-examples",
        "32",
        "--steps",
        "3",
        "--batch-size",
        "8",
        "--stage-blocks",
        "1,1",
        "--stage-filters",
        "64,128",
        "--variants",
        "rw+lr",
        "--rank",
        "4",
    )
    assert code == 0
    assert "eval accuracy" in printed
    record = json.load(open(os.path.join(out, "resnet-cifar10-seed0.json")))
    names = [r["name"] for r in record["results"]]
    assert names == ["baseline", "baseline+1", "rw+lr"]
    base, plus, lr = (r["params"] for r in record["results"])
    # Two residual sites (one block per stage): 2 + 2 r D with D = 256, 512.
    assert lr - base == (2 + 2 * 4 * 256) + (2 + 2 * 4 * 512)
    assert plus > base
    assert 0.0 <= record["results"][2]["eval"]["accuracy"] <= 1.0


def test_compare_missing_dataset_says_how_to_provide_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("keras_laurel.compare.data._online", lambda *a, **k: False)
    code = cli.main(
        [
            "compare",
            "--task",
            "resnet-cifar10",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(tmp_path),
            "--output-dir",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "'cifar10' is not prepared in" in err and "TFDS_DATA_DIR" in err


def test_compare_rejects_an_unknown_variant(capsys):
    with pytest.raises(SystemExit):
        cli.main(["compare", "--variants", "rw,xx"])
    assert "`variant` must be one of" in capsys.readouterr().err


def _backup_epoch(backup_dir):
    path = os.path.join(backup_dir, "training_metadata.json")
    try:
        with open(path) as f:
            return json.load(f)["epoch"]
    except (OSError, ValueError, KeyError):
        return -1


@pytest.mark.skipif(BACKEND != "torch", reason="CI time: runs in the torch pass")
def test_interrupted_training_resumes_with_nothing_lost(tmp_path):
    """Kill the GPT-2 example (SIGKILL) after its first epoch, run it again."""
    ckpt = str(tmp_path / "run")
    command = [
        sys.executable,
        os.path.join(ROOT, "examples", "train_gpt2.py"),
        "--backend",
        BACKEND,
        "--variant",
        "rw+lr+pa",
        "--rank",
        "4",
        "--layers",
        "2",
        "--hidden",
        "32",
        "--heads",
        "2",
        "--seq-len",
        "32",
        "--batch-size",
        "8",
        "--epochs",
        "4",
        "--steps-per-epoch",
        "25",
        "--distribution",
        "none",
        "--checkpoint-dir",
        ckpt,
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while _backup_epoch(os.path.join(ckpt, "backup")) < 0:
        assert first.poll() is None, first.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert not os.path.exists(os.path.join(ckpt, "final.json"))  # really interrupted
    epochs_before = {
        int(row["epoch"]) for row in csv.DictReader(open(os.path.join(ckpt, "log.csv")))
    }
    assert 0 in epochs_before and 3 not in epochs_before

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    final = json.load(open(os.path.join(ckpt, "final.json")))
    assert final["optimizer_iterations"] == final["expected_iterations"] == 4 * 25
    epochs = [int(row["epoch"]) for row in csv.DictReader(open(os.path.join(ckpt, "log.csv")))]
    assert sorted(set(epochs)) == [0, 1, 2, 3]
    # The resumed run started after the last backed-up epoch, not from zero.
    assert "Epoch 1/4" not in second.stdout
