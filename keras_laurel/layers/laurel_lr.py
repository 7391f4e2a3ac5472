"""LAuReL-LR: a low-rank learned skip path."""

import keras

from keras_laurel.layers.laurel import Laurel


@keras.saving.register_keras_serializable(package="keras_laurel")
class LaurelLR(Laurel):
    """LAuReL-LR: `f(x) + x + (x A) B`, i.e. the skip path is `W = I + A B`.

    `A` is `D x rank`, `B` is `rank x D`, both applied along the channel
    `axis`; `B` starts at zero so the layer starts as the plain residual.
    `a_initializer="column_orthogonal"` gives the paper's LLM initialisation.

    `lr_form="gemma3n"` is the form of Gemma 3n's built-in LAuReL block
    (`Gemma3nTextLaurelBlock`), side by side with the paper's:

        paper:    y = fx + x + (x A) B                           (fx + x at init)
        gemma3n:  y = (fx + x + x + RMSNorm_s((x A) B)) / sqrt(2) ((fx + 2x) / sqrt(2) at init)

    with `RMSNorm_s(t) = s * t / sqrt(mean(t^2) + 1e-6)` over the channels and
    a learned scale `s` (starting at 1). Gemma 3n applies its block to the
    normalised input of the attention block and trains it from the start;
    here `x` is the layer's skip input, and since the form is not the plain
    residual at init, it changes a pretrained model it is added to.

    Args:
        rank: rank `r` of `A` and `B` (1 <= r <= D).
        a_initializer: initialiser of `A`.
        b_initializer: initialiser of `B` (zeros: the plain residual at init).
        axis: the channel axis.
        lr_form: `"paper"` or `"gemma3n"`.
        a_regularizer, b_regularizer, norm_scale_regularizer: regularizers
            of `A`, `B` and the Gemma 3n form's norm scale.
        a_constraint, b_constraint, norm_scale_constraint: their constraints.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        A list `[fx, x]` of two tensors of one shape, with `D` channels on
        `axis`.

    Output shape:
        The shape of `x`.

    Example:

    >>> x = keras.Input((16, 64))
    >>> fx = keras.layers.Dense(64)(x)
    >>> y = LaurelLR(rank=8)([fx, x])

    Reference:
        Menghani, Kumar and Kumar, "LAuReL: Learned Augmented Residual
        Layer", ICML 2025 (arXiv:2411.07501); docs/method.md.
    """

    ARGUMENTS = (
        "rank",
        "a_initializer",
        "b_initializer",
        "axis",
        "lr_form",
        "a_regularizer",
        "b_regularizer",
        "norm_scale_regularizer",
        "a_constraint",
        "b_constraint",
        "norm_scale_constraint",
    )
    VARIANT = "lr"

    def __init__(
        self,
        rank,
        a_initializer="glorot_uniform",
        b_initializer="zeros",
        axis=-1,
        lr_form="paper",
        a_regularizer=None,
        b_regularizer=None,
        norm_scale_regularizer=None,
        a_constraint=None,
        b_constraint=None,
        norm_scale_constraint=None,
        **kwargs,
    ):
        super().__init__(
            "lr",
            rank=rank,
            a_initializer=a_initializer,
            b_initializer=b_initializer,
            axis=axis,
            lr_form=lr_form,
            a_regularizer=a_regularizer,
            b_regularizer=b_regularizer,
            norm_scale_regularizer=norm_scale_regularizer,
            a_constraint=a_constraint,
            b_constraint=b_constraint,
            norm_scale_constraint=norm_scale_constraint,
            **kwargs,
        )
