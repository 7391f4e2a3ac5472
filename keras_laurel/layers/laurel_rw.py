"""LAuReL-RW: learned residual weights."""

import keras

from keras_laurel.layers.laurel import Laurel


@keras.saving.register_keras_serializable(package="keras_laurel")
class LaurelRW(Laurel):
    """LAuReL-RW: `alpha * f(x) + beta * x` with learned `alpha`, `beta`.

    `normalization="softmax"` learns two logits, `[alpha, beta] = 2 softmax`;
    `"sigmoid"` one parameter, `alpha = 2 sigmoid(p)`, `beta = 2 - alpha`;
    `None` raw weights. All start at `alpha = beta = 1`, the plain residual.
    `per_channel=True` learns vectors over the channel `axis` (2 D weights).

    Args:
        normalization: `"softmax"`, `"sigmoid"` or `None`.
        per_channel: learn `alpha`, `beta` per channel of `axis`.
        axis: the channel axis (used with `per_channel=True`).
        rw_regularizer, rw_constraint: regularizer and constraint of the
            weights (the logits, or raw `alpha`, `beta`).
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        A list `[fx, x]` of two tensors of one shape.

    Output shape:
        The shape of `x`.

    Example:

    >>> x = keras.Input((32,))
    >>> fx = keras.layers.Dense(32, activation="relu")(x)
    >>> y = LaurelRW()([fx, x])

    Reference:
        Menghani, Kumar and Kumar, "LAuReL: Learned Augmented Residual
        Layer", ICML 2025 (arXiv:2411.07501); docs/method.md.
    """

    ARGUMENTS = ("normalization", "per_channel", "axis", "rw_regularizer", "rw_constraint")
    VARIANT = "rw"

    def __init__(
        self,
        normalization="softmax",
        per_channel=False,
        axis=-1,
        rw_regularizer=None,
        rw_constraint=None,
        **kwargs,
    ):
        super().__init__(
            "rw",
            normalization=normalization,
            per_channel=per_channel,
            axis=axis,
            rw_regularizer=rw_regularizer,
            rw_constraint=rw_constraint,
            **kwargs,
        )
