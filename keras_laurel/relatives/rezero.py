"""ReZero: a learned scalar on the residual branch."""

import keras

from keras_laurel.layers.laurel import Laurel


@keras.saving.register_keras_serializable(package="keras_laurel")
class ReZero(Laurel):
    """ReZero: `x + alpha f(x)`, one learned scalar.

    A form of LAuReL-RW with the skip's weight fixed at 1 (`keras_laurel.Laurel`
    with `variant="rezero"`, as `rewrite` places it). Called on `[fx, x]`.
    `alpha` (the weight `scale`) starts at `init_value`: `1.0` (the default)
    keeps the layer an exact plain residual, for adding it to a pretrained
    network; the paper trains from scratch with `0.0` (the whole network is
    then the identity at init, and drops its LayerNorms).

    Args:
        init_value: the initial `alpha`.
        rw_regularizer, rw_constraint: of `alpha`.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        A list `[fx, x]` of two tensors of one shape.

    Output shape:
        The shape of `x`.

    Example:

    >>> x = keras.Input((16, 32))
    >>> y = ReZero(init_value=0.0)([keras.layers.Dense(32)(x), x])

    Reference:
        Bachlechner, Majumder, Mao, Cottrell and McAuley, "ReZero is All You
        Need: Fast Convergence at Large Depth", UAI 2021 (arXiv:2003.04887),
        Eq. 1.
    """

    ARGUMENTS = ("init_value", "rw_regularizer", "rw_constraint")
    VARIANT = "rezero"

    def __init__(self, init_value=1.0, rw_regularizer=None, rw_constraint=None, **kwargs):
        super().__init__(
            "rezero",
            init_value=init_value,
            rw_regularizer=rw_regularizer,
            rw_constraint=rw_constraint,
            **kwargs,
        )
