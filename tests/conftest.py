"""Shared test set-up. Every test file runs on the backend named by
`KERAS_BACKEND`; `.ci/run` runs the suite once per backend, each in its own
process."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault(
    "TFDS_DATA_DIR",
    os.path.join(os.path.dirname(__file__), "..", "..", "shared", "tensorflow_datasets"),
)

import gc  # noqa: E402

import keras  # noqa: E402
import pytest  # noqa: E402

# The shared checks report their failing values as tests do.
pytest.register_assert_rewrite("contract", "llms", "supported")


# Garbage is collected before every test, but a full collection walks every
# object alive, and the backends' trace and compilation caches grow through a
# file (1.5 s a test after a hundred on JAX). So each test collects what the
# previous one left, then freezes the survivors (`gc.freeze`), and each file
# ends with one full collection of everything, whatever was frozen.
@pytest.fixture(autouse=True, scope="module")
def _full_collection_per_file():
    yield
    gc.unfreeze()
    gc.collect()


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.utils.clear_session(free_memory=False)
    gc.collect()
    gc.freeze()
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"
