"""Distributed training on virtual devices, each case in a fresh process:
TensorFlow MirroredStrategy over 4 logical CPUs, JAX DataParallel and
ModelParallel over 4 forced host devices. Distributed training must give the
weights one device gives with the same global batch."""

import json
import os
import subprocess
import sys
import time

import keras
import pytest

import keras_laurel as kl

BACKEND = keras.backend.backend()
HERE = os.path.dirname(__file__)
# Same global batch, different reduction order: the weights may differ by
# float32 round-off only. The ResNet starts with its residual branches' last
# batch-norm scale at zero (Goyal et al.): a fully random ResNet-50 in training
# mode is chaotic, and turns round-off into ~0.2% of a step's update (run the
# job with JOB_NOISE_FLOOR=1 to measure that amplification on one device).
# The largest updates here are 4e-3 (GPT-2) to 1 (ResNet), so a wrong batch
# split, a missing all-reduce or a lost gradient fails the tolerance by orders
# of magnitude.
TOLERANCE = 1e-5


def run_job(backend, mode, model):
    env = dict(os.environ, KERAS_BACKEND=backend)
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(HERE, "distributed_job.py"),
            "--mode",
            mode,
            "--model",
            model,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads(lines[-1][len("RESULT ") :])


def check_equivalence(result, replicas):
    assert result["replicas"] == replicas, result["setup"]
    assert result["max_update"] > 1e-3  # training really moved the weights
    assert result["laurel_updated"]
    assert result["max_abs_diff"] <= TOLERANCE, result


@pytest.mark.skipif(BACKEND != "tensorflow", reason="runs in the tensorflow pass")
@pytest.mark.parametrize("model", ["resnet", "gpt2"])
def test_tensorflow_mirrored_strategy_matches_one_device(model):
    result = run_job("tensorflow", "mirrored", model)
    assert result["setup"].startswith("tensorflow: mirrored")
    check_equivalence(result, 4)


@pytest.mark.skipif(BACKEND != "jax", reason="runs in the jax pass")
@pytest.mark.parametrize("model", ["resnet", "gpt2"])
def test_jax_data_parallel_matches_one_device(model):
    result = run_job("jax", "data", model)
    check_equivalence(result, 4)
    assert result["devices_per_variable"] == [4]
    # Data parallel: every variable replicated.
    assert all(all(a is None for a in spec) for spec in result["shardings"].values())


@pytest.mark.skipif(BACKEND != "jax", reason="runs in the jax pass")
@pytest.mark.parametrize("model", ["resnet", "gpt2", "llama", "gemma"])
def test_jax_model_parallel_matches_one_device_with_laurel_layouts(model):
    result = run_job("jax", "model", model)
    check_equivalence(result, 2)  # a (2 batch, 2 model) mesh
    shardings = result["shardings"]
    laurel = {p: s for p, s in shardings.items() if "_laurel/" in p}
    assert laurel
    for path, spec in laurel.items():
        name = path.rsplit("/", 1)[1]
        if name.startswith("a") and name[1:2] in ("", "_"):
            assert spec == ["model", None], path
        elif name.startswith("b") and name[1:2] in ("", "_") and name != "beta_logit":
            assert spec == [None, "model"], path
        else:  # alpha/beta logits, gamma: replicated
            assert all(a is None for a in spec), path
    # The base model's own layouts are in force next to LAuReL's.
    if model == "gpt2":
        assert shardings["transformer_layer_0/self_attention/query/kernel"] == [None, "model", None]
        assert shardings["transformer_layer_1/feedforward_output_dense/kernel"] == ["model", None]
    elif model in ("llama", "gemma"):  # KerasHub's get_layout_map, composed with LAuReL's
        import keras_hub

        cls = {"llama": keras_hub.models.LlamaBackbone, "gemma": keras_hub.models.GemmaBackbone}
        mesh = keras.distribution.DeviceMesh((1, 1), ["batch", "model"])
        expected = cls[model].get_layout_map(mesh)
        base = [p for p in shardings if "_laurel/" not in p]
        hits = [p for p in base if expected[p] is not None]
        assert len(hits) >= 4, "KerasHub's layouts did not apply"
        for path in hits:
            assert shardings[path] == list(expected[path].axes), path
    else:
        assert shardings["stack0_block0_1_conv/kernel"] == [None, None, None, "model"]
        assert all(a is None for a in shardings["head/kernel"])


def test_asking_for_a_tpu_without_one_fails_fast():
    if BACKEND == "torch":
        with pytest.raises(ValueError, match="torch"):
            kl.distribution.configure("tpu")
        return
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"mode='tpu' but this machine has no TPU"):
        kl.distribution.configure("tpu")
    assert time.monotonic() - start < 10


def test_auto_on_one_device_and_backend_specific_errors():
    setup = kl.distribution.configure("auto")
    assert setup.num_replicas == 1 and setup.mode == "none"
    with setup.scope():
        pass
    wrong = {"tensorflow": "data", "jax": "mirrored", "torch": "data"}[BACKEND]
    with pytest.raises(ValueError, match=f"mode={wrong!r}"):
        kl.distribution.configure(wrong)
    with pytest.raises(ValueError, match="`mode` must be one of"):
        kl.distribution.configure("pods")
    if BACKEND == "jax":
        with pytest.raises(ValueError, match="model_kind"):
            kl.distribution.configure("model")
    keras.distribution.set_distribution(None) if BACKEND == "jax" else None


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution supports JAX only")
def test_configure_never_replaces_a_users_distribution():
    import jax

    mine = keras.distribution.DataParallel(devices=jax.devices())
    keras.distribution.set_distribution(mine)
    try:
        setup = kl.distribution.configure("auto")
        assert setup.mode == "existing" and keras.distribution.distribution() is mine
        with pytest.raises(ValueError, match=r"already set; mode='data' would replace it"):
            kl.distribution.configure("data")
        with pytest.raises(ValueError, match=r"mode='none' would replace it"):
            kl.distribution.configure("none")
        assert keras.distribution.distribution() is mine
    finally:
        keras.distribution.set_distribution(None)
