"""A smoke test that the benchmark runs end to end (no timing is asserted:
speed is measured by benchmarks/run.py, never by tests)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import scipy.stats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_benchmark(script, *args):
    """Runs benchmarks/<script> with `args` in a fresh process; fails with its output."""
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", script), *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="CI time: runs in the jax pass")
def test_benchmark_script_runs_and_writes_its_table(tmp_path):
    backend = keras.backend.backend()
    run_benchmark(
        "run.py",
        "--backends",
        backend,
        "--models",
        "gpt2",
        "--variants",
        "rw+lr+pa,+1 layer",
        "--steps",
        "2",
        "--repetitions",
        "2",
        "--output-dir",
        str(tmp_path),
        "--name",
        "smoke",
        "--config",
        json.dumps(
            {
                "gpt2": {
                    "layers": 1,
                    "hidden": 32,
                    "heads": 2,
                    "seq_len": 16,
                    "batch": 2,
                    "vocab": 64,
                }
            }
        ),
    )
    record = json.load(open(tmp_path / "smoke.json"))
    variants = [s["variant"] for s in record["summary"]]
    assert variants == ["baseline", "rw+lr+pa", "+1 layer"]
    by = {s["variant"]: s for s in record["summary"]}
    assert abs(by["baseline"]["train_ratio"] - 1.0) < 1e-9
    assert len(record["raw"][0]["train_step_s"]) == 2
    # 1 layer, attention placement: RW+LR+PA adds 2 + 1 + 2 r D with r = 32, D = 32.
    assert by["rw+lr+pa"]["params_added"] == 2 + 1 + 2 * 32 * 32
    assert by["+1 layer"]["params_added"] > 0
    assert all(s["train_ratio"] > 0 and s["memory_ratio"] > 0 for s in record["summary"])
    assert ("XLA" if backend == "jax" else "RSS") == by["rw+lr+pa"]["memory_kind"]
    # XLA's FLOP count: the baseline is the unit; a wider skip path and an
    # extra layer both add arithmetic.
    assert by["baseline"]["flops_ratio"] == 1.0
    assert by["rw+lr+pa"]["flops_ratio"] > 1.0 and by["+1 layer"]["flops_ratio"] > 1.0
    table = open(tmp_path / "smoke.md").read()
    assert "| backend | model | variant |" in table and "rw+lr+pa" in table


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's compiled-memory analysis")
def test_memory_breakdown_counts_the_activations_rw_keeps(tmp_path):
    layers, batch, seq_len, hidden = 2, 2, 16, 32
    config = {
        "gpt2": {
            "layers": layers,
            "hidden": hidden,
            "heads": 2,
            "seq_len": seq_len,
            "batch": batch,
            "vocab": 64,
        }
    }
    run_benchmark(
        "memory_jax.py",
        "--models",
        "gpt2",
        "--variants",
        "rw,rw frozen",
        "--config",
        json.dumps(config),
        "--output-dir",
        str(tmp_path),
        "--name",
        "memory",
    )
    rows = {r["variant"]: r for r in json.load(open(tmp_path / "memory.json"))["rows"]}
    assert list(rows) == ["baseline", "rw", "rw frozen"]
    base = rows["baseline"]
    assert all(base[k] == 1.0 for k in base if k.endswith("_ratio"))
    # alpha's gradient needs the attention output f(x) of every site (one
    # float32 activation each, 2 sites here); without alpha's and beta's
    # gradients only the scalars themselves are (a few bytes).
    activation = batch * seq_len * hidden * 4
    extra = rows["rw"]["saved_residual_bytes"] - base["saved_residual_bytes"]
    assert layers * activation <= extra <= layers * activation + 64
    frozen_extra = rows["rw frozen"]["saved_residual_bytes"] - base["saved_residual_bytes"]
    assert 0 <= frozen_extra <= 64
    # The fit step holds AdamW's two moments of every weight on top.
    assert rows["rw"]["compiled_fit_step_bytes"] > rows["rw"]["compiled_grad_bytes"]
    assert "| gpt2 | rw frozen |" in open(tmp_path / "memory.md").read()


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="benchmarks/forms_tf.py patches the layer with TensorFlow-only forms",
)
def test_forms_tf_forms_compute_rw_and_its_gradients():
    """The forms the XLA:CPU diagnostic compares are RW, and differentiate as RW,
    except `frozen`, whose point is that alpha and beta get no gradient."""
    import numpy as np
    import tensorflow as tf

    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import forms_tf

    from keras_laurel import LaurelRW

    rng = np.random.default_rng(0)
    fx = tf.constant(rng.standard_normal((2, 3, 5)), "float32")
    x = tf.constant(rng.standard_normal((2, 3, 5)), "float32")
    upstream = tf.constant(rng.standard_normal((2, 3, 5)), "float32")
    a_logit, b_logit = 0.7, -0.2
    alpha = 2.0 / (1.0 + np.exp(-(a_logit - b_logit)))  # softmax over two, times 2
    beta = 2.0 - alpha
    dy = upstream.numpy()
    expected = {"y": alpha * fx.numpy() + beta * x.numpy(), "fx": alpha * dy, "x": beta * dy}
    d_alpha, d_beta = np.sum(dy * fx.numpy()), np.sum(dy * x.numpy())
    # d alpha / d a_logit = alpha beta / 2, d beta / d a_logit = - alpha beta / 2
    expected["a_logit"] = alpha * beta / 2.0 * (d_alpha - d_beta)

    try:
        for name in forms_tf.FORMS:
            forms_tf.use_form(name)
            layer = LaurelRW()
            layer.build([fx.shape, x.shape])  # tf.TensorShapes
            layer.alpha_logit.assign(np.full(layer.alpha_logit.shape, a_logit))
            layer.beta_logit.assign(np.full(layer.beta_logit.shape, b_logit))
            with tf.GradientTape() as tape:
                tape.watch([fx, x])
                y = layer([fx, x])
                loss = tf.reduce_sum(y * upstream)
            g_fx, g_x, g_a = tape.gradient(loss, [fx, x, layer.alpha_logit.value])
            for got, want in ((y, "y"), (g_fx, "fx"), (g_x, "x")):
                np.testing.assert_allclose(
                    got.numpy(), expected[want], rtol=1e-5, atol=1e-5, err_msg=f"{name}: {want}"
                )
            if name == "frozen":
                assert g_a is None or np.all(np.asarray(g_a) == 0), name
            else:
                np.testing.assert_allclose(
                    np.sum(np.asarray(g_a)), expected["a_logit"], rtol=1e-4, atol=1e-5, err_msg=name
                )
    finally:
        forms_tf.use_form(None)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="CI time: runs in the torch pass")
def test_decode_benchmark_runs_and_writes_its_table(tmp_path):
    num_layers = 1
    run_benchmark(
        "decode.py",
        "--families",
        "llama,gemma",
        "--variants",
        "baseline,baseline (repeat),rw,rw+lr",
        "--hidden-dim",
        "64",
        "--num-layers",
        str(num_layers),
        "--rank",
        "4",
        "--rounds",
        "1",
        "--steps",
        "1",
        "--batch-size",
        "1",
        "--seq-len",
        "8",
        "--prompt-len",
        "2",
        "--output-dir",
        str(tmp_path),
        "--name",
        "smoke",
    )
    record = json.load(open(tmp_path / "decode-smoke.json"))
    rows = {(r["family"], r["variant"]): r for r in record["rows"]}
    assert sorted({f for f, _ in rows}) == ["gemma", "llama"]
    for family in ("llama", "gemma"):
        base = rows[family, "baseline"]
        assert base["decode_ratio"] == [1.0, 1.0, 1.0] and base["base_decode_tokens_per_s"] > 0
        assert rows[family, "baseline (repeat)"]["params_added"] == 0
        # Both placements: two sites per layer, RW's two scalars at each;
        # LR adds 2 r D more per site.
        assert rows[family, "rw"]["params_added"] == 2 * 2 * num_layers
        assert rows[family, "rw+lr"]["params_added"] == 2 * num_layers * (2 + 2 * 4 * 64)
        for row in rows.values():
            assert len(row["decode_ratios"]) == 1 and row["decode_ratio"][0] > 0
            assert row["decode_flops"] is None  # XLA's count: JAX only
    table = open(tmp_path / "decode-smoke.md").read()
    assert "| family | variant |" in table and "| llama | rw+lr |" in table
    # One round has no interval, so no target can be read as met or missed.
    assert "| — |" in table and "| ≤ 1.02 | not resolved |" in table

    # --render rewrites the table from the rounds a results file holds: the
    # interval is that of the geometric mean over rounds (Student's t), and
    # a target is met only when the whole interval is within it.
    rounds = {
        "rw": [1.000, 1.004, 1.008, 1.002],  # all of it under 1.02: met
        "rw+lr": [1.000, 1.100, 0.960, 1.080],  # holds 1.05: not resolved
    }
    for row in record["rows"]:
        if row["family"] == "llama" and row["variant"] in rounds:
            row["decode_ratios"] = rounds[row["variant"]]
        if row["family"] == "gemma" and row["variant"] in rounds:
            row["decode_ratios"] = [r + 0.1 for r in rounds[row["variant"]]]
    record["args"]["rounds"] = 4
    json.dump(record, open(tmp_path / "decode-rendered.json", "w"))
    run_benchmark("decode.py", "--render", str(tmp_path / "decode-rendered.json"))
    table = open(tmp_path / "decode-rendered.md").read()
    assert "4 rounds" in table
    lines = {tuple(c.strip() for c in line.split("|")[1:3]): line for line in table.splitlines()}

    def interval(ratios):
        logs = np.log(ratios)
        half = scipy.stats.t.ppf(0.975, len(logs) - 1) * logs.std(ddof=1) / np.sqrt(len(logs))
        return f"{np.exp(logs.mean() - half):.3f}-{np.exp(logs.mean() + half):.3f}"

    expected = {
        ("llama", "rw"): "yes",
        ("llama", "rw+lr"): "not resolved",
        ("gemma", "rw"): "no",  # 1.10-1.108: all of it over 1.02
        ("gemma", "rw+lr"): "not resolved",
    }
    for (family, variant), met in expected.items():
        ratios = rounds[variant] if family == "llama" else [r + 0.1 for r in rounds[variant]]
        line = lines[family, variant]
        assert f"| {interval(ratios)} |" in line, line
        assert line.endswith(f"| {met} |"), line


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="CI time: runs in the torch pass")
def test_decode_benchmark_can_time_decoding_only(tmp_path):
    args = ["--families", "llama", "--variants", "baseline,rw", "--hidden-dim", "64"]
    args += ["--num-layers", "1", "--rounds", "2", "--steps", "1", "--batch-size", "1"]
    args += ["--seq-len", "8", "--prompt-len", "2", "--output-dir", str(tmp_path)]
    run_benchmark("decode.py", *args, "--measure", "decode", "--name", "decode-only")
    record = json.load(open(tmp_path / "decode-decode-only.json"))
    base, rw = record["rows"]
    assert base["train_ratios"] == [] and base["train_ratio"] is None
    assert base["decode_ratios"] == [1.0, 1.0] and base["base_decode_tokens_per_s"] > 0
    assert rw["train_ratios"] == [] and len(rw["decode_ratios"]) == 2
    table = open(tmp_path / "decode-decode-only.md").read()
    assert table.startswith("1 layers, hidden 64. Decoding only. ")
    assert "| llama | rw | 4 | — | " in table  # two sites, two scalars each; no train column

    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "decode.py"), "--measure", "infer"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "--measure: expected train, decode" in proc.stderr
