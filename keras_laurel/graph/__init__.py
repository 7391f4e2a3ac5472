"""The graph rewriter: LAuReL onto the residual connections of a functional model."""

from keras_laurel.graph.adapters import load_laurel_weights
from keras_laurel.graph.adapters import save_laurel_weights
from keras_laurel.graph.report import LaurelReport
from keras_laurel.graph.report import report
from keras_laurel.graph.report import summary
from keras_laurel.graph.rewriter import laurel_layers
from keras_laurel.graph.rewriter import rewrite
from keras_laurel.graph.sites import ResidualSite
from keras_laurel.graph.sites import find_residual_sites
