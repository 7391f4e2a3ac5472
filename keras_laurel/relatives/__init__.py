"""LAuReL's relatives as Keras layers: LayerScale, ReZero and DenseFormer's
depth-weighted average, each a learned residual of its own paper."""

from keras_laurel.relatives.depth_weighted_average import DepthWeightedAverage
from keras_laurel.relatives.layer_scale import LayerScale
from keras_laurel.relatives.rezero import ReZero

__all__ = ["DepthWeightedAverage", "LayerScale", "ReZero"]
