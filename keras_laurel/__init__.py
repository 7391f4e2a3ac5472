"""keras_laurel: LAuReL (Learned Augmented Residual Layer) for Keras 3.

Layers for every variant (`LaurelRW`, `LaurelLR`, `LaurelPA`, `Laurel`), on
TensorFlow, JAX and PyTorch alike; `LaurelSettings`, the settings of all of
them; `rewrite`, which puts them on the residual connections of an existing
model (a backbone or a KerasHub task); `from_preset`, which loads a plain
KerasHub preset into a LAuReL model with one copy of the weights;
`summary` and the adapter files of the LAuReL weights.

Reference: Menghani, Kumar and Kumar, "LAuReL: Learned Augmented Residual
Layer", ICML 2025 (arXiv:2411.07501).
"""

import importlib.util

from keras_laurel import distribution
from keras_laurel.adapters import enable_lora
from keras_laurel.adapters import load_laurel_weights
from keras_laurel.adapters import save_laurel_weights
from keras_laurel.graph import find_residual_sites
from keras_laurel.layers import BRANCH_SCALES
from keras_laurel.layers import PLACEMENTS
from keras_laurel.layers import RELATIVES
from keras_laurel.layers import VARIANTS
from keras_laurel.layers import ColumnOrthogonal
from keras_laurel.layers import Laurel
from keras_laurel.layers import LaurelLR
from keras_laurel.layers import LaurelPA
from keras_laurel.layers import LaurelRW
from keras_laurel.layers import LaurelSettings
from keras_laurel.optimizers import fine_tuning_optimizer
from keras_laurel.presets import from_preset
from keras_laurel.relatives import DepthWeightedAverage
from keras_laurel.relatives import ExpandStreams
from keras_laurel.relatives import HyperConnection
from keras_laurel.relatives import LayerScale
from keras_laurel.relatives import ManifoldHyperConnection
from keras_laurel.relatives import ReduceStreams
from keras_laurel.relatives import ReZero
from keras_laurel.report import LaurelReport
from keras_laurel.report import summary
from keras_laurel.rewriting import laurel_layers
from keras_laurel.rewriting import rewrite

__version__ = "0.1.0"

__all__ = [
    "PLACEMENTS",
    "ReZero",
    "VARIANTS",
    "BRANCH_SCALES",
    "RELATIVES",
    "ColumnOrthogonal",
    "DepthWeightedAverage",
    "ExpandStreams",
    "HyperConnection",
    "Laurel",
    "LaurelLR",
    "LaurelPA",
    "LaurelRW",
    "LaurelReport",
    "LaurelSettings",
    "LayerScale",
    "ManifoldHyperConnection",
    "ReduceStreams",
    "distribution",
    "enable_lora",
    "find_residual_sites",
    "fine_tuning_optimizer",
    "from_preset",
    "laurel_layers",
    "load_laurel_weights",
    "rewrite",
    "save_laurel_weights",
    "summary",
]

if importlib.util.find_spec("keras_hub") is not None:
    # Registers the rewriter of KerasHub transformer backbones and the LAuReL
    # transformer layers and backbones, for loading saved models.
    import keras_laurel.transformers  # noqa: F401
    import keras_laurel.wrapped  # noqa: F401
