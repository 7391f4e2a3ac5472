"""The main job: LAuReL against the baseline on real data (`keras-laurel compare`)."""

from keras_laurel.compare.config import Config
from keras_laurel.compare.data import DatasetUnavailableError
from keras_laurel.compare.runner import compare
from keras_laurel.compare.tasks import TASKS
from keras_laurel.compare.tasks import Task

__all__ = [
    "compare",
    "Config",
    "DatasetUnavailableError",
    "Task",
    "TASKS",
]
