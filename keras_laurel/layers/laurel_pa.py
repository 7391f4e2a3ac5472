"""LAuReL-PA: a learned mix of the previous activations."""

import keras

from keras_laurel.layers.laurel import Laurel


@keras.saving.register_keras_serializable(package="keras_laurel")
class LaurelPA(Laurel):
    """LAuReL-PA: `f(x) + x + sum_{j=0}^{k-1} gamma_j x_{i-j}`.

    Called on `[fx, x, x_prev1, ..., x_prev_m]` with `m <= k - 1` previous
    residual outputs, most recent first (`x_{i-0} = x`); `gamma` starts at 0,
    so the layer starts as the plain residual. With fewer previous
    activations than `k - 1` (the first blocks of a network) the layer creates
    only the weights of the terms it receives. PA with a low-rank `h_j` per
    term is the variant `"lr+pa"`: `keras_laurel.Laurel("lr+pa", rank=r)`.

    Args:
        k: activations mixed, the current one included (default 3).
        gamma_initializer: initialiser of `gamma` (`None`: zeros).
        axis: the channel axis.
        gamma_regularizer, gamma_constraint: regularizer and constraint of
            `gamma`.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        A list `[fx, x, x_prev1, ..., x_prev_m]`, `m <= k - 1`, all of one
        shape.

    Output shape:
        The shape of `x`.

    Example:

    >>> x0 = keras.Input((32,))
    >>> x1 = LaurelPA(k=3)([keras.layers.Dense(32)(x0), x0])
    >>> x2 = LaurelPA(k=3)([keras.layers.Dense(32)(x1), x1, x0])

    Reference:
        Menghani, Kumar and Kumar, "LAuReL: Learned Augmented Residual
        Layer", ICML 2025 (arXiv:2411.07501); docs/method.md.
    """

    ARGUMENTS = ("k", "gamma_initializer", "axis", "gamma_regularizer", "gamma_constraint")
    VARIANT = "pa"

    def __init__(
        self,
        k=None,
        gamma_initializer=None,
        axis=-1,
        gamma_regularizer=None,
        gamma_constraint=None,
        **kwargs,
    ):
        if "rank" in kwargs:
            raise TypeError(
                f"LaurelPA: `rank` is not an argument of LaurelPA (received rank="
                f"{kwargs['rank']!r}); PA with low-rank terms is the variant 'lr+pa': "
                "keras_laurel.Laurel('lr+pa', rank=...)."
            )
        super().__init__(
            "pa",
            k=k,
            gamma_initializer=gamma_initializer,
            axis=axis,
            gamma_regularizer=gamma_regularizer,
            gamma_constraint=gamma_constraint,
            **kwargs,
        )

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("rank") is not None:
            # keras_laurel 0.1.0 saved `LaurelPA(rank=r)`, the variant "lr+pa":
            # it loads as a LaurelPA (a `.keras` file finds a layer's weights
            # by its class) holding that variant.
            config["variant"] = "lr+pa"
            layer = cls.__new__(cls)
            Laurel.__init__(layer, **config)
            return layer
        for name in ("rank", "a_initializer", "b_initializer"):  # 0.1.0's defaults
            config.pop(name, None)
        return super().from_config(config)

    def get_config(self):
        if self.variant == self.VARIANT:
            return super().get_config()
        config = keras.layers.Layer.get_config(self)  # a 0.1.0 "lr+pa" LaurelPA
        config.update(self.settings.layer_kwargs())
        return config
