"""LayerScale: a learned per-channel scale of the residual branch."""

import keras
from keras import ops

from keras_laurel.relatives._inputs import check_fx_x


@keras.saving.register_keras_serializable(package="keras_laurel")
class LayerScale(keras.layers.Layer):
    """LayerScale: `x + diag(lambda) f(x)`, a learned scale per channel.

    Called on `[fx, x]` like `keras_laurel.Laurel`. `lambda` (`scale`, one
    value per channel of `axis`) starts at `init_value`: `1.0` (the default)
    keeps the layer an exact plain residual, for adding it to a pretrained
    network; CaiT trains from scratch with `0.1` up to depth 18, `1e-5` at
    depth 24 and `1e-6` deeper.

    Args:
        init_value: the initial value of every entry of `lambda`.
        axis: the channel axis.
        scale_regularizer, scale_constraint: of `lambda`.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        A list `[fx, x]` of two tensors of one shape, channels on `axis`.

    Output shape:
        The shape of `x`.

    Example:

    >>> x = keras.Input((16, 32))
    >>> y = LayerScale()([keras.layers.Dense(32)(x), x])

    Reference:
        Touvron, Cord, Sablayrolles, Synnaeve and Jégou, "Going deeper with
        Image Transformers", ICCV 2021 (arXiv:2103.17239), Section 2.
    """

    def __init__(
        self,
        init_value=1.0,
        axis=-1,
        scale_regularizer=None,
        scale_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(init_value, bool) or not isinstance(init_value, (int, float)):
            raise TypeError(f"LayerScale: `init_value` must be a number; received {init_value!r}.")
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"LayerScale: `axis` must be an integer; received {axis!r}.")
        self.init_value = float(init_value)
        self.axis = axis
        self.scale_regularizer = keras.regularizers.get(scale_regularizer)
        self.scale_constraint = keras.constraints.get(scale_constraint)
        self.supports_masking = True

    def build(self, input_shape):
        shape = check_fx_x(f"LayerScale '{self.name}'", input_shape)
        if not -len(shape) <= self.axis < len(shape) or shape[self.axis] is None:
            raise ValueError(
                f"LayerScale '{self.name}': `axis` {self.axis} must name a known "
                f"dimension of the inputs' shape {shape}."
            )
        self._channel_axis = self.axis % len(shape)
        self.scale = self.add_weight(
            (shape[self.axis],),
            keras.initializers.Constant(self.init_value),
            name="scale",
            regularizer=self.scale_regularizer,
            constraint=self.scale_constraint,
        )

    def call(self, inputs):
        fx, x = inputs
        shape = [1] * len(x.shape)
        shape[self._channel_axis] = -1
        return x + ops.reshape(self.scale, shape) * fx

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "init_value": self.init_value,
                "axis": self.axis,
                "scale_regularizer": keras.regularizers.serialize(self.scale_regularizer),
                "scale_constraint": keras.constraints.serialize(self.scale_constraint),
            }
        )
        return config
