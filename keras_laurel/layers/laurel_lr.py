"""LAuReL-LR: a low-rank learned skip path."""

import keras

from keras_laurel.layers.laurel import Laurel


@keras.saving.register_keras_serializable(package="keras_laurel")
class LaurelLR(Laurel):
    """LAuReL-LR: `f(x) + x + (x A) B`, i.e. the skip path is `W = I + A B`.

    `A` is `D x rank`, `B` is `rank x D`, both applied along the channel
    `axis`; `B` starts at zero so the layer starts as the plain residual.
    `a_initializer="column_orthogonal"` gives the paper's LLM initialisation.

    Example:

    >>> x = keras.Input((16, 64))
    >>> fx = keras.layers.Dense(64)(x)
    >>> y = LaurelLR(rank=8)([fx, x])
    """

    def __init__(
        self, rank, a_initializer="glorot_uniform", b_initializer="zeros", axis=-1, **kwargs
    ):
        super().__init__(
            "lr",
            rank=rank,
            a_initializer=a_initializer,
            b_initializer=b_initializer,
            axis=axis,
            **kwargs,
        )
