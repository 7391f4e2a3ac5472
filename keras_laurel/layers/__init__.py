"""The LAuReL layers: one layer per variant plus `Laurel` for combinations."""

from keras_laurel.layers.initializers import ColumnOrthogonal
from keras_laurel.layers.laurel import Laurel
from keras_laurel.layers.laurel_lr import LaurelLR
from keras_laurel.layers.laurel_pa import LaurelPA
from keras_laurel.layers.laurel_rw import LaurelRW
from keras_laurel.layers.settings import PLACEMENTS
from keras_laurel.layers.settings import LaurelSettings
from keras_laurel.layers.variants import BRANCH_SCALES
from keras_laurel.layers.variants import RELATIVES
from keras_laurel.layers.variants import VARIANTS

__all__ = [
    "ColumnOrthogonal",
    "Laurel",
    "LaurelLR",
    "LaurelPA",
    "LaurelRW",
    "LaurelSettings",
    "PLACEMENTS",
    "VARIANTS",
    "BRANCH_SCALES",
    "RELATIVES",
]
