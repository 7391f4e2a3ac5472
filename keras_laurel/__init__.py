"""keras_laurel: LAuReL (Learned Augmented Residual Layer) for Keras 3.

Layers for every variant (`LaurelRW`, `LaurelLR`, `LaurelPA`, `Laurel`), on
TensorFlow, JAX and PyTorch alike.
"""

import importlib.util

from keras_laurel.layers import VARIANTS
from keras_laurel.layers import ColumnOrthogonal
from keras_laurel.layers import Laurel
from keras_laurel.layers import LaurelLR
from keras_laurel.layers import LaurelPA
from keras_laurel.layers import LaurelRW

from keras_laurel import distribution
from keras_laurel.graph import LaurelReport
from keras_laurel.graph import find_residual_sites
from keras_laurel.graph import laurel_layers
from keras_laurel.graph import load_laurel_weights
from keras_laurel.graph import rewrite
from keras_laurel.graph import save_laurel_weights
from keras_laurel.graph import summary

__version__ = "0.1.0"

if importlib.util.find_spec("keras_hub") is not None:
    # Registers the LAuReL transformer layers and backbones for loading.
    import keras_laurel.transformers  # noqa: F401
