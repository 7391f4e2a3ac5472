"""Shared test set-up. Every test file runs on the backend named by
`KERAS_BACKEND`; `.ci/run` runs the suite once per backend, each in its own
process."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault(
    "TFDS_DATA_DIR",
    os.path.join(os.path.dirname(__file__), "..", "..", "shared", "tensorflow_datasets"),
)

import keras  # noqa: E402
import pytest  # noqa: E402

# The shared checks report their failing values as tests do.
pytest.register_assert_rewrite("contract", "llms", "supported")


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.utils.clear_session()
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"
