"""The functional-graph rewriter: LAuReL onto the `Add` layers and `x + y`
operations of a functional model, and LAuReL subclasses of the KerasHub
backbones built that way (both registered with `keras_laurel.rewrite`)."""

from keras_laurel.graph.backbone import FunctionalBackboneRewriter
from keras_laurel.graph.backbone import laurel_functional_backbone_class
from keras_laurel.graph.rewriter import FunctionalRewriter
from keras_laurel.graph.rewriter import rewrite_functional
from keras_laurel.graph.sites import ResidualSite
from keras_laurel.graph.sites import find_residual_sites

__all__ = [
    "FunctionalBackboneRewriter",
    "laurel_functional_backbone_class",
    "find_residual_sites",
    "FunctionalRewriter",
    "ResidualSite",
    "rewrite_functional",
]
