"""DenseFormer's depth-weighted average of the blocks' outputs."""

import keras

from keras_laurel.relatives._inputs import check_same_shapes


@keras.saving.register_keras_serializable(package="keras_laurel")
class DepthWeightedAverage(keras.layers.Layer):
    """DenseFormer's depth-weighted average (DWA): `Y_i = sum_j alpha_j X_j`.

    Called after block `i` on `[X_i, X_{i-1}, ..., X_0]`, newest first: the
    block's output and the outputs of the earlier blocks it averages (`X_0`
    is the embedding; with dilation `k` the caller passes those with
    `j = i mod k`). `alpha` starts one-hot on `X_i`, so the layer starts as
    the plain network, as in the paper; DenseFormer's code sets this
    initialisation explicitly (a model-wide initialiser would overwrite it).

    Args:
        alpha_regularizer, alpha_constraint: of `alpha`.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        A list of at least one tensor, all of one shape.

    Output shape:
        The shape of the inputs.

    Example:

    >>> x0 = keras.Input((16, 32))
    >>> x1 = keras.layers.Dense(32)(x0)
    >>> y1 = DepthWeightedAverage()([x1, x0])

    Reference:
        Pagliardini, Mohtashami, Fleuret and Jaggi, "DenseFormer: Enhancing
        Information Flow in Transformers via Depth Weighted Averaging",
        NeurIPS 2024 (arXiv:2402.02622), Section 3.
    """

    def __init__(self, alpha_regularizer=None, alpha_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_regularizer = keras.regularizers.get(alpha_regularizer)
        self.alpha_constraint = keras.constraints.get(alpha_constraint)
        self.supports_masking = True

    def build(self, input_shape):
        check_same_shapes(
            f"DepthWeightedAverage '{self.name}'",
            input_shape,
            1,
            lambda j: f"X_(i-{j})" if j else "X_i",
        )
        self.num_inputs = len(input_shape)
        self.dim = tuple(input_shape[0])[-1]  # D (the channels, last)
        one_hot = [1.0] + [0.0] * (self.num_inputs - 1)
        self.alpha = self.add_weight(
            (self.num_inputs,),
            keras.initializers.Constant(one_hot),
            name="alpha",
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
        )

    def call(self, inputs):
        if len(inputs) != self.num_inputs:
            raise ValueError(
                f"DepthWeightedAverage '{self.name}': built for {self.num_inputs} "
                f"inputs; received {len(inputs)}."
            )
        out = self.alpha[0] * inputs[0]
        for j in range(1, self.num_inputs):
            out = out + self.alpha[j] * inputs[j]
        return out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "alpha_regularizer": keras.regularizers.serialize(self.alpha_regularizer),
                "alpha_constraint": keras.constraints.serialize(self.alpha_constraint),
            }
        )
        return config
