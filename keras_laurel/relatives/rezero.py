"""ReZero: a learned scalar on the residual branch."""

import keras

from keras_laurel.relatives._inputs import check_fx_x


@keras.saving.register_keras_serializable(package="keras_laurel")
class ReZero(keras.layers.Layer):
    """ReZero: `x + alpha f(x)`, one learned scalar.

    Called on `[fx, x]` like `keras_laurel.Laurel`. `alpha` starts at
    `init_value`: `1.0` (the default) keeps the layer an exact plain residual,
    for adding it to a pretrained network; the paper trains from scratch with
    `0.0` (the whole network is then the identity at init, and drops its
    LayerNorms).

    Args:
        init_value: the initial `alpha`.
        alpha_regularizer, alpha_constraint: of `alpha`.
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

    def __init__(self, init_value=1.0, alpha_regularizer=None, alpha_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(init_value, bool) or not isinstance(init_value, (int, float)):
            raise TypeError(f"ReZero: `init_value` must be a number; received {init_value!r}.")
        self.init_value = float(init_value)
        self.alpha_regularizer = keras.regularizers.get(alpha_regularizer)
        self.alpha_constraint = keras.constraints.get(alpha_constraint)
        self.supports_masking = True

    def build(self, input_shape):
        check_fx_x(f"ReZero '{self.name}'", input_shape)
        self.alpha = self.add_weight(
            (),
            keras.initializers.Constant(self.init_value),
            name="alpha",
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
        )

    def call(self, inputs):
        fx, x = inputs
        return x + self.alpha * fx

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "init_value": self.init_value,
                "alpha_regularizer": keras.regularizers.serialize(self.alpha_regularizer),
                "alpha_constraint": keras.constraints.serialize(self.alpha_constraint),
            }
        )
        return config
