"""The functional-graph rewriter: LAuReL onto the `Add` layers and `x + y`
operations of a functional model (registered with `keras_laurel.rewrite`)."""

from keras_laurel.graph.rewriter import FunctionalRewriter
from keras_laurel.graph.rewriter import rewrite_functional
from keras_laurel.graph.sites import ResidualSite
from keras_laurel.graph.sites import find_residual_sites

__all__ = [
    "find_residual_sites",
    "FunctionalRewriter",
    "ResidualSite",
    "rewrite_functional",
]
