"""The comparison's optimiser: AdamW with a constant or cosine-decayed
learning rate (`--lr-schedule`, `--warmup-steps`), optionally with a different
learning rate for LAuReL's low-rank factors A and B (`--lowrank-lr-scale`).

A decayed learning rate matters for the comparison itself: at a constant
rate a batch-normalised network's evaluation moves by a point or two from one
step to the next, which hides differences of the size the paper reports.

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
            found += layer.lowrank_variables
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


def learning_rate(config):
    """The learning rate or schedule: linear warm-up over `warmup_steps`, then
    constant, or cosine decay to 0 at the last training step."""
    warmup = config.warmup_steps
    if config.lr_schedule == "constant" and not warmup:
        return config.learning_rate
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else config.learning_rate,
        decay_steps=config.steps - warmup,
        # alpha = 1 keeps the rate at its peak: "constant" after the warm-up.
        alpha=1.0 if config.lr_schedule == "constant" else 0.0,
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def make_optimizer(config, backbone):
    rate = learning_rate(config)
    if config.lowrank_lr_scale == 1.0:
        return keras.optimizers.AdamW(rate)
    return ScaledAdamW(rate, lowrank_variables(backbone), config.lowrank_lr_scale)
