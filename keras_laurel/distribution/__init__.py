"""Distributed training: TPUStrategy / MirroredStrategy on TensorFlow,
`keras.distribution` on JAX, and what works on PyTorch."""

from keras_laurel.distribution.layouts import BASE_LAYOUTS
from keras_laurel.distribution.layouts import layout_map
from keras_laurel.distribution.setup import DistributionSetup
from keras_laurel.distribution.setup import configure

__all__ = [
    "BASE_LAYOUTS",
    "configure",
    "DistributionSetup",
    "layout_map",
]
