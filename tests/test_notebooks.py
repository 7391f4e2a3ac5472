"""Every notebook runs, cell by cell, on CPU in its smoke configuration
(`KERAS_LAUREL_SMOKE=1`), with the backend of this test pass; any failing
cell fails the test."""

import glob
import os

import keras
import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
BACKEND = keras.backend.backend()
# Where each notebook runs (CI time is bounded): the quick start on every
# backend; the ResNet-50 TPU notebook in the TensorFlow pass (TPUStrategy); the
# GPT-2 TPU notebook, which offers TensorFlow and JAX, in both of those passes.
# The fine-tuning notebook (JAX on a TPU; one CPU device here, so no
# ModelParallel: tests/test_presets_and_tasks.py checks the sharded load) in
# the torch pass, the lightest.
BACKENDS = {
    "resnet50_tpu.ipynb": ("tensorflow",),
    "gpt2_tpu.ipynb": ("tensorflow", "jax"),
    "finetune_preset.ipynb": ("torch",),
}


def test_there_are_notebooks():
    names = {os.path.basename(p) for p in NOTEBOOKS}
    assert {
        "quickstart.ipynb",
        "resnet50_tpu.ipynb",
        "gpt2_tpu.ipynb",
        "finetune_preset.ipynb",
    } <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, tmp_path, monkeypatch):
    targets = BACKENDS.get(os.path.basename(path), ("tensorflow", "jax", "torch"))
    if BACKEND not in targets:
        pytest.skip(f"{os.path.basename(path)} runs in the {' and '.join(targets)} passes")
    notebook = nbformat.read(path, as_version=4)
    text = "".join(c.source for c in notebook.cells)
    assert "colab-badge.svg" in notebook.cells[0].source
    assert "KERAS_LAUREL_SMOKE" in text and "google.colab" in text
    monkeypatch.setenv("KERAS_LAUREL_SMOKE", "1")
    monkeypatch.setenv("KERAS_BACKEND", BACKEND)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    client = NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = "".join(
        o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs
    )
    assert f"backend {BACKEND}" in outputs
