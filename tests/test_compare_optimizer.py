"""`keras-laurel compare --lowrank-lr-scale`: AdamW with a different learning
rate for LR's A and B, checked against a numpy AdamW step."""

import numpy as np
import pytest

import keras
import keras_laurel
from keras_laurel import cli
from keras_laurel.compare import aggregate
from keras_laurel.compare.optimizer import ScaledAdamW
from keras_laurel.compare.optimizer import lowrank_variables


def numpy_adamw_first_step(w, g, lr, weight_decay, eps=1e-7):
    """One AdamW step from zero moments (Keras's formulation)."""
    w = w - w * weight_decay * lr
    m, v = 0.1 * g, 0.001 * g * g
    lr_t = lr * np.sqrt(1 - 0.999) / (1 - 0.9)
    return w - lr_t * m / (np.sqrt(v) + eps)


def test_scaled_adamw_scales_only_the_low_rank_factors():
    x = keras.Input((6,))
    y = keras_laurel.Laurel("rw+lr", rank=2, b_initializer="glorot_uniform")(
        [keras.layers.Dense(6)(x), x]
    )
    model = keras.Model(x, y)
    low = lowrank_variables(model)
    assert sorted(v.name for v in low) == ["a", "b"]
    optimizer = ScaledAdamW(1e-2, low, scale=0.1, weight_decay=0.004)
    variables = model.trainable_variables
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=v.shape).astype("float32") for v in variables]
    before = [keras.ops.convert_to_numpy(v) for v in variables]
    optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], variables))
    scaled = {v.path for v in low}
    for v, w, g in zip(variables, before, grads):
        lr = 1e-2 * (0.1 if v.path in scaled else 1.0)
        # Weight decay uses the base learning rate, as in AdamW.
        expected = numpy_adamw_first_step(w - w * 0.004 * 1e-2, g, lr, 0.0)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(v), expected, rtol=1e-5, atol=1e-6,
                                   err_msg=v.path)
    moved = {v.path: np.abs(keras.ops.convert_to_numpy(v) - w).max() for v, w in zip(variables, before)}
    assert max(moved[p] for p in scaled) < 0.2 * min(m for p, m in moved.items() if p not in scaled)


def test_cli_rejects_a_non_positive_scale(capsys):
    with pytest.raises(SystemExit):
        cli.main(["compare", "--lowrank-lr-scale", "0"])
    assert "--lowrank-lr-scale must be a positive number; received 0.0" in capsys.readouterr().err


def test_aggregate_labels_runs_by_their_scale():
    result = {"name": "lr"}
    assert aggregate._label(result, {"rank": 8}) == "lr (r = 8)"
    assert aggregate._label(result, {"rank": 8, "lowrank_lr_scale": 1.0}) == "lr (r = 8)"
    assert (aggregate._label(result, {"rank": 8, "lowrank_lr_scale": 0.1})
            == "lr (r = 8, A/B learning rate x 0.1)")
