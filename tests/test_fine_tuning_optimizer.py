"""`keras_laurel.fine_tuning_optimizer`: LAuReL's scalars out of weight decay,
the low-rank factors at their own learning rate; checked against AdamW's
first step computed in numpy."""

import keras
import llms
import numpy as np
import pytest

import keras_laurel as kl
from keras_laurel.optimizers import lowrank_variables
from keras_laurel.optimizers import scalar_variables

LR, DECAY = 1e-2, 0.1


def _model():
    model = kl.rewrite(llms.backbone("llama"), "rw+lr+pa", rank=2, placement="both")
    llms.randomize_laurel(model)
    return model


def _first_step(w, g, lr, decay, decay_lr, eps=1e-7):
    """One AdamW step from zero moments (Keras's formulation); the decay
    uses `decay_lr`, the optimiser's base rate."""
    w = w - w * decay * decay_lr
    m, v = 0.1 * g, 0.001 * g * g
    lr_t = lr * np.sqrt(1 - 0.999) / (1 - 0.9)
    return w - lr_t * m / (np.sqrt(v) + eps)


@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_scalars_are_not_decayed_and_lowrank_is_scaled(scale):
    model = _model()
    optimizer = kl.fine_tuning_optimizer(
        model, LR, lowrank_learning_rate_scale=scale, weight_decay=DECAY
    )
    variables = model.trainable_weights
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=v.shape).astype("float32") for v in variables]
    before = [keras.ops.convert_to_numpy(v) for v in variables]
    optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], variables))
    scalars = {id(v) for v in scalar_variables(model)}
    lowrank = {id(v) for v in lowrank_variables(model)}
    assert scalars and lowrank
    for v, w, g in zip(variables, before, grads):
        lr = LR * scale if id(v) in lowrank else LR
        decay = 0.0 if id(v) in scalars else DECAY
        expected = _first_step(w, g, lr, decay, decay_lr=LR)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(v), expected, rtol=1e-5, atol=1e-6)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="has no LAuReL layer"):
        kl.fine_tuning_optimizer(llms.backbone("llama"))
    with pytest.raises(ValueError, match="`lowrank_learning_rate_scale` must be a positive"):
        kl.fine_tuning_optimizer(_model(), lowrank_learning_rate_scale=0)
