"""LayerScale: a learned per-channel scale of the residual branch."""

import keras

from keras_laurel.layers.laurel import Laurel


@keras.saving.register_keras_serializable(package="keras_laurel")
class LayerScale(Laurel):
    """LayerScale: `x + diag(lambda) f(x)`, a learned scale per channel.

    A form of LAuReL-RW with the skip's weight fixed at 1 (`keras_laurel.Laurel`
    with `variant="layerscale"`, as `rewrite` places it). Called on `[fx, x]`.
    `lambda` (`scale`, one value per channel of `axis`) starts at
    `init_value`: `1.0` (the default) keeps the layer an exact plain residual,
    for adding it to a pretrained network; CaiT trains from scratch with `0.1`
    up to depth 18, `1e-5` at depth 24 and `1e-6` deeper.

    Args:
        init_value: the initial value of every entry of `lambda`.
        axis: the channel axis.
        rw_regularizer, rw_constraint: of `lambda`.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        A list `[fx, x]` of two tensors of one shape, channels on `axis`.

    Output shape:
        The shape of `x`.

    Example:

    >>> x = keras.Input((16, 32))
    >>> y = LayerScale(init_value=0.1)([keras.layers.Dense(32)(x), x])

    Reference:
        Touvron, Cord, Sablayrolles, Synnaeve and Jégou, "Going deeper with
        Image Transformers", ICCV 2021 (arXiv:2103.17239), Section 2.
    """

    ARGUMENTS = ("init_value", "axis", "rw_regularizer", "rw_constraint")
    VARIANT = "layerscale"

    def __init__(self, init_value=1.0, axis=-1, rw_regularizer=None, rw_constraint=None, **kwargs):
        super().__init__(
            "layerscale",
            init_value=init_value,
            axis=axis,
            rw_regularizer=rw_regularizer,
            rw_constraint=rw_constraint,
            **kwargs,
        )
