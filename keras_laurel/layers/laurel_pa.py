"""LAuReL-PA: a learned mix of the previous activations."""

import keras

from keras_laurel.layers.laurel import Laurel


@keras.saving.register_keras_serializable(package="keras_laurel")
class LaurelPA(Laurel):
    """LAuReL-PA: `f(x) + x + sum_{j=0}^{k-1} gamma_j h_j(x_{i-j})`.

    Called on `[fx, x, x_prev1, ..., x_prev_m]` with `m <= k - 1` previous
    residual outputs, most recent first (`x_{i-0} = x`). `rank=None` makes `h_j`
    the identity (`gamma` starts at 0); an integer gives every term its own
    low-rank pair, `h_j(t) = (t A_j) B_j` (`gamma` starts at 1, `B_j` at 0).
    Either way the layer starts as the plain residual. With fewer previous
    activations than `k - 1` (the first blocks of a network) the layer creates
    only the weights of the terms it receives.

    Args:
        k: activations mixed, the current one included (default 3).
        rank: `None` (identity `h_j`) or the rank of each `h_j`.
        a_initializer, b_initializer: initialisers of `A_j`, `B_j`.
        gamma_initializer: initialiser of `gamma` (`None`: 0, or 1 with a
            rank).
        axis: the channel axis.

    Input shape:
        A list `[fx, x, x_prev1, ..., x_prev_m]`, `m <= k - 1`, all of one
        shape.

    Output shape:
        The shape of `x`.

    Reference:
        Menghani, Kumar and Kumar, "LAuReL: Learned Augmented Residual
        Layer", ICML 2025 (arXiv:2411.07501); docs/method.md.

    Example:

    >>> x0 = keras.Input((32,))
    >>> x1 = LaurelPA(k=3)([keras.layers.Dense(32)(x0), x0])
    >>> x2 = LaurelPA(k=3)([keras.layers.Dense(32)(x1), x1, x0])
    """

    def __init__(
        self,
        k=None,
        rank=None,
        a_initializer="glorot_uniform",
        b_initializer="zeros",
        gamma_initializer=None,
        axis=-1,
        **kwargs,
    ):
        super().__init__(
            "pa" if rank is None else "lr+pa",
            rank=rank,
            k=k,
            a_initializer=a_initializer,
            b_initializer=b_initializer,
            gamma_initializer=gamma_initializer,
            axis=axis,
            **kwargs,
        )
