"""The comparison's optimiser: AdamW, optionally with a different learning
rate for LAuReL's low-rank factors A and B (`--lowrank-lr-scale`).

Adam moves every entry of a weight by about the learning rate per step,
whatever the size of its gradient, so a learning rate that suits the
backbone may be large for the low-rank factors (LoRA scales them with
alpha / r for this reason). The scale is the instrument to test that.
"""

import keras


def lowrank_variables(backbone):
    """A and B (every A_j, B_j) of every LAuReL layer in `backbone`."""
    import keras_laurel

    found = []
    for layer in keras_laurel.laurel_layers(backbone):
        if layer.use_lr:
            found += list(layer._a) + list(layer._b)
    return found


class ScaledAdamW(keras.optimizers.AdamW):
    """AdamW whose learning rate is multiplied by `scale` for `variables`.

    Weight decay is applied as in AdamW (with the base learning rate).
    """

    def __init__(self, learning_rate, variables, scale, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self._scaled_paths = frozenset(v.path for v in variables)
        self._scale = float(scale)

    def build(self, var_list):
        super().build(var_list)
        # update_step receives the backend's variable (a tf.Variable on
        # TensorFlow), so scaled variables are told apart by their index.
        self._scaled_indices = frozenset(
            i for i, v in enumerate(var_list) if v.path in self._scaled_paths
        )

    def update_step(self, gradient, variable, learning_rate):
        if self._get_variable_index(variable) in self._scaled_indices:
            learning_rate = learning_rate * self._scale
        return super().update_step(gradient, variable, learning_rate)


def make_optimizer(config, backbone):
    scale = config.lowrank_lr_scale
    if not scale > 0:
        raise ValueError(
            f"`lowrank_lr_scale` must be a positive number; received {scale!r}."
        )
    if scale == 1.0:
        return keras.optimizers.AdamW(config.learning_rate)
    return ScaledAdamW(config.learning_rate, lowrank_variables(backbone), scale)
