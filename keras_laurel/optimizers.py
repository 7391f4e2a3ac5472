"""The optimiser for fine-tuning a model with LAuReL.

LAuReL's scalars (RW's `alpha` / `beta` logits, PA's `gamma`) set how much of
the skip path and of `f(x)` a block keeps; weight decay would pull them to
zero, i.e. towards an even mix the pretrained model never computed, so they
are left out of it (as LayerNorm scales and biases usually are). Adam moves
every entry of a weight by about the learning rate per step, whatever its
gradient, so the low-rank factors `A` and `B` (`D x r`, `r x D`) may need a
smaller learning rate than the rest (LoRA scales them by `alpha / r` for the
same reason): `lowrank_learning_rate_scale`.
"""

import keras

from keras_laurel import internals
from keras_laurel.rewriting import laurel_layers


def lowrank_variables(model):
    """`A` and `B` (every `A_j`, `B_j`) of every LAuReL layer in `model`."""
    return [v for layer in laurel_layers(model) if layer.use_lr for v in layer.lowrank_variables]


def scalar_variables(model):
    """LAuReL's scalar weights in `model`: everything but the low-rank factors."""
    lowrank = {id(v) for v in lowrank_variables(model)}
    return [v for layer in laurel_layers(model) for v in layer.weights if id(v) not in lowrank]


class ScaledAdamW(keras.optimizers.AdamW):
    """AdamW whose learning rate is multiplied by `scale` for `variables`.

    Weight decay is applied as in AdamW (with the base learning rate).
    """

    def __init__(self, learning_rate, variables, scale, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.scaled_paths = frozenset(v.path for v in variables)
        self.scale = float(scale)

    def build(self, var_list):
        super().build(var_list)
        # update_step receives the backend's variable (a tf.Variable on
        # TensorFlow), so scaled variables are told apart by their index.
        self._scaled_indices = frozenset(
            i for i, v in enumerate(var_list) if v.path in self.scaled_paths
        )

    def update_step(self, gradient, variable, learning_rate):
        if internals.optimizer_variable_index(self, variable) in self._scaled_indices:
            learning_rate = learning_rate * self.scale
        return super().update_step(gradient, variable, learning_rate)


def fine_tuning_optimizer(
    model, learning_rate=1e-4, *, lowrank_learning_rate_scale=1.0, weight_decay=0.004, **kwargs
):
    """AdamW for fine-tuning `model`, a model with LAuReL layers.

    LAuReL's scalars are excluded from weight decay
    (`AdamW.exclude_from_weight_decay`); with `lowrank_learning_rate_scale`
    other than 1, `A` and `B` train at `learning_rate` times that scale.

    Args:
        model: the model (backbone or task) the optimiser will train.
        learning_rate: a float or a `keras.optimizers.schedules` schedule.
        lowrank_learning_rate_scale: positive float, the learning-rate
            factor of the low-rank factors.
        weight_decay: AdamW's weight decay for every other weight.
        **kwargs: other `keras.optimizers.AdamW` arguments.

    Example:

    >>> causal_lm = keras_laurel.from_preset("gemma2_2b_en", "rw+lr", cls=keras_hub.models.CausalLM)
    >>> causal_lm.compile(optimizer=keras_laurel.fine_tuning_optimizer(causal_lm, 5e-5))
    """
    if not laurel_layers(model):
        raise ValueError(
            f"fine_tuning_optimizer: model '{model.name}' has no LAuReL layer; "
            "add LAuReL with `keras_laurel.rewrite` or `keras_laurel.from_preset` first."
        )
    scale = lowrank_learning_rate_scale
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise ValueError(
            "fine_tuning_optimizer: `lowrank_learning_rate_scale` must be a positive "
            f"number; received {scale!r}."
        )
    if scale == 1:
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay, **kwargs)
    else:
        optimizer = ScaledAdamW(
            learning_rate, lowrank_variables(model), scale, weight_decay=weight_decay, **kwargs
        )
    optimizer.exclude_from_weight_decay(var_list=scalar_variables(model))
    return optimizer
