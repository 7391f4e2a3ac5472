"""LAuReL's relatives as Keras layers: LayerScale, ReZero, DenseFormer's
depth-weighted average, hyper-connections and mHC, each a learned residual of
its own paper."""

from keras_laurel.relatives.depth_weighted_average import DepthWeightedAverage
from keras_laurel.relatives.hyper_connection import HyperConnection
from keras_laurel.relatives.layer_scale import LayerScale
from keras_laurel.relatives.manifold_hyper_connection import ManifoldHyperConnection
from keras_laurel.relatives.rezero import ReZero
from keras_laurel.relatives.streams import ExpandStreams
from keras_laurel.relatives.streams import ReduceStreams

__all__ = [
    "DepthWeightedAverage",
    "ExpandStreams",
    "HyperConnection",
    "LayerScale",
    "ManifoldHyperConnection",
    "ReduceStreams",
    "ReZero",
]
