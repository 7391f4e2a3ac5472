"""The comparison's optimiser: AdamW with a constant or cosine-decayed
learning rate (`--lr-schedule`, `--warmup-steps`), optionally with a different
learning rate for LAuReL's low-rank factors A and B (`--lowrank-lr-scale`).

A decayed learning rate matters for the comparison itself: at a constant
rate a batch-normalised network's evaluation moves by a point or two from one
step to the next, which hides differences of the size the paper reports.

Adam moves every entry of a weight by about the learning rate per step,
whatever the size of its gradient, so a learning rate that suits the
backbone may be large for the low-rank factors (LoRA scales them with
alpha / r for this reason). The scale is the instrument to test that; the
optimiser is `keras_laurel.optimizers.ScaledAdamW`. LAuReL's scalars are not
excluded from weight decay here (`keras_laurel.fine_tuning_optimizer` does),
so that the committed studies stay reproducible.
"""

import keras

from keras_laurel.optimizers import ScaledAdamW
from keras_laurel.optimizers import lowrank_variables


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
