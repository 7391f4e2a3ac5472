"""The comparison's optimiser: `--lowrank-lr-scale` (AdamW with a different
learning rate for LR's A and B, checked against a numpy AdamW step) and
`--lr-schedule` / `--warmup-steps` (checked against the numpy formulas)."""

import keras
import numpy as np
import pytest
import scipy.stats

import keras_laurel
from keras_laurel import cli
from keras_laurel.compare import aggregate
from keras_laurel.compare.config import Config
from keras_laurel.compare.optimizer import learning_rate
from keras_laurel.compare.optimizer import make_optimizer
from keras_laurel.optimizers import ScaledAdamW
from keras_laurel.optimizers import lowrank_variables


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
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(v), expected, rtol=1e-5, atol=1e-6, err_msg=v.path
        )
    moved = {
        v.path: np.abs(keras.ops.convert_to_numpy(v) - w).max() for v, w in zip(variables, before)
    }
    assert max(moved[p] for p in scaled) < 0.2 * min(m for p, m in moved.items() if p not in scaled)


def test_cli_rejects_a_non_positive_scale(capsys):
    with pytest.raises(SystemExit):
        cli.main(["compare", "--lowrank-lr-scale", "0"])
    assert (
        "`lowrank_lr_scale` (--lowrank-lr-scale) must be a positive number; received 0.0"
        in capsys.readouterr().err
    )


def test_aggregate_labels_runs_by_rank_scale_and_placement():
    result = {"name": "lr"}
    assert aggregate._label(result, {"rank": 8}) == "lr (r = 8)"
    assert aggregate._label(result, {"rank": 8, "lowrank_lr_scale": 1.0}) == "lr (r = 8)"
    assert (
        aggregate._label(result, {"rank": 8, "lowrank_lr_scale": 0.1})
        == "lr (r = 8, A/B learning rate x 0.1)"
    )
    gpt2 = {"task": "gpt2-shakespeare", "rank": 8}
    assert (
        aggregate._label(result, dict(gpt2, placement="feedforward"))
        == "lr (r = 8, at the feedforward residual)"
    )
    assert (
        aggregate._label({"name": "rw"}, dict(gpt2, placement="both")) == "rw (at both residuals)"
    )
    assert aggregate._label({"name": "rw"}, dict(gpt2, placement="attention")) == "rw"
    assert aggregate._label({"name": "baseline"}, dict(gpt2, placement="both")) == "baseline"


def _schedule_values(config, steps):
    rate = learning_rate(config)
    if isinstance(rate, float):
        return np.full(len(steps), rate)
    return np.array([float(keras.ops.convert_to_numpy(rate(s))) for s in steps])


@pytest.mark.parametrize("warmup", [0, 10])
def test_cosine_schedule_matches_numpy(warmup):
    config = Config(steps=110, learning_rate=2e-3, lr_schedule="cosine", warmup_steps=warmup)
    steps = np.arange(0, 111)
    expected = np.where(
        steps < warmup,
        2e-3 * steps / max(warmup, 1),
        2e-3 * 0.5 * (1 + np.cos(np.pi * (steps - warmup) / (110 - warmup))),
    )
    np.testing.assert_allclose(_schedule_values(config, steps), expected, rtol=1e-5, atol=1e-9)
    assert _schedule_values(config, [110])[0] < 1e-9  # decayed to 0 at the end


def test_constant_schedule_with_and_without_warmup():
    assert learning_rate(Config(learning_rate=1e-3)) == 1e-3
    values = _schedule_values(Config(steps=50, learning_rate=1e-3, warmup_steps=5), np.arange(50))
    np.testing.assert_allclose(values, np.minimum(np.arange(50) / 5, 1.0) * 1e-3, rtol=1e-5)


def test_scaled_adamw_follows_the_schedule():
    x = keras.Input((4,))
    model = keras.Model(x, keras_laurel.Laurel("lr", rank=2)([keras.layers.Dense(4)(x), x]))
    config = Config(steps=4, lr_schedule="cosine", lowrank_lr_scale=0.5)
    optimizer = make_optimizer(config, model)
    assert isinstance(optimizer, ScaledAdamW)
    np.testing.assert_allclose(
        [float(keras.ops.convert_to_numpy(optimizer.learning_rate))], [1e-3], rtol=1e-6
    )
    grads = [keras.ops.ones(v.shape) for v in model.trainable_variables]
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    # After two of four steps the cosine is at its midpoint.
    np.testing.assert_allclose(
        [float(keras.ops.convert_to_numpy(optimizer.learning_rate))], [0.5e-3], rtol=1e-5
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--steps", "100", "--warmup-steps", "100"],
            "`warmup_steps` (--warmup-steps) must be an integer in [0, steps = 100); received 100.",
        ),
        (
            ["--warmup-steps", "-1"],
            "`warmup_steps` (--warmup-steps) must be an integer in [0, steps = 300); received -1.",
        ),
        (["--lr-schedule", "linear"], "argument --lr-schedule: invalid choice: 'linear'"),
    ],
)
def test_cli_rejects_bad_schedules(argv, message, capsys):
    with pytest.raises(SystemExit):
        cli.main(["compare"] + argv)
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--stage-filters", "16,32,64,128"],
            "`stage_filters` (--stage-filters) must be positive widths, one per stage, "
            "the first 64",
        ),
        (
            ["--stage-filters", "64,x"],
            "`stage_filters` (--stage-filters) must be comma-separated integers",
        ),
        (
            ["--stage-blocks", "2,2,2"],
            "`stage_blocks` (--stage-blocks) must be one positive block count per stage of "
            "--stage-filters (4 stages); received 2,2,2.",
        ),
        (
            ["--stage-filters", "64,64", "--stage-blocks", "1,0"],
            "`stage_blocks` (--stage-blocks) must be one positive block count",
        ),
    ],
)
def test_cli_rejects_bad_resnet_shapes(argv, message, capsys):
    with pytest.raises(SystemExit):
        cli.main(["compare", "--task", "resnet-cifar10"] + argv)
    assert message in capsys.readouterr().err


def test_aggregate_refuses_to_pool_different_experiments(capsys):
    def record(**config):
        base = {
            "name": "baseline",
            "eval": {"loss": 1.0},
            "params": 10,
            "median_step_seconds": 1.0,
            "train_loss_curve": [],
        }
        return {
            "config": dict(
                {"task": "gpt2-shakespeare", "steps": 100, "seed": 0, "rank": 8}, **config
            ),
            "results": [base],
        }

    assert list(aggregate.aggregate([record(), record(seed=1, rank=32)])) == ["baseline"]
    with pytest.raises(
        ValueError, match=r"runs differ in `lr_schedule` \('constant' vs 'cosine'\)"
    ):
        aggregate.aggregate([record(), record(seed=1, lr_schedule="cosine")])
    with pytest.raises(ValueError, match=r"runs differ in `steps` \(100 vs 200\)"):
        aggregate.aggregate([record(), record(seed=1, steps=200)])


def _run(seed, losses):
    """A `compare` JSON record: one result per model name with its eval loss."""
    return {
        "config": {"task": "gpt2-shakespeare", "seed": seed, "rank": 8},
        "results": [
            {
                "name": name,
                "eval": {"loss": loss},
                "params": 10,
                "median_step_seconds": 1.0,
                "train_loss_curve": [],
            }
            for name, loss in losses.items()
        ],
    }


def _cells(line):
    return [c.strip() for c in line.split("|")[1:-1]]


def test_aggregate_pairs_each_model_with_the_baseline_and_the_extra_block():
    losses = {
        0: {"baseline": 2.0, "baseline+1": 1.9, "rw": 1.97},
        1: {"baseline": 2.2, "baseline+1": 2.0, "rw": 2.25},
        2: {"baseline": 1.8, "baseline+1": 1.75, "rw": 1.76},
    }
    records = [_run(seed, by_name) for seed, by_name in losses.items()]
    table = aggregate.markdown(aggregate.aggregate(records)).splitlines()
    assert "loss − baseline+1, paired by seed (mean ± std)" in table[0]
    rw = np.array([losses[s]["rw"] for s in losses])
    versus_base = rw - np.array([losses[s]["baseline"] for s in losses])
    versus_plus_one = rw - np.array([losses[s]["baseline+1"] for s in losses])
    cells = _cells(table[-1])
    assert cells[0] == "rw"
    assert cells[3] == f"{versus_base.mean():+.4f} ± {versus_base.std(ddof=1):.4f}"
    assert cells[4] == f"{versus_plus_one.mean():+.4f} ± {versus_plus_one.std(ddof=1):.4f}"
    plus_one = _cells(table[3])
    assert plus_one[0] == "baseline+1" and plus_one[3] == "-0.1167 ± 0.0764" and plus_one[4] == "—"
    assert _cells(table[2])[3:5] == ["—", "—"]

    # A model trained with a seed the extra block was not: the count says so.
    records.append(_run(3, {"baseline": 2.0, "rw": 2.0}))
    cells = _cells(aggregate.markdown(aggregate.aggregate(records)).splitlines()[-1])
    assert cells[1] == "4" and cells[4].endswith("(n = 3)") and "(n =" not in cells[3]


def test_aggregate_intervals_are_students_t_over_the_seeds():
    for dof in list(range(1, 61)) + [100, 1000]:
        assert abs(aggregate.t_975(dof) - scipy.stats.t.ppf(0.975, dof)) < 1e-4, dof
    with pytest.raises(ValueError, match="`dof` must be at least 1"):
        aggregate.t_975(0)
    losses = {
        0: {"baseline": 2.0, "baseline+1": 1.9, "rw": 1.97},
        1: {"baseline": 2.2, "baseline+1": 2.0, "rw": 2.25},
        2: {"baseline": 1.8, "baseline+1": 1.75, "rw": 1.76},
    }
    rows = aggregate.aggregate([_run(seed, by_name) for seed, by_name in losses.items()])
    table = aggregate.markdown(rows, interval=True).splitlines()
    assert "paired by seed (mean ± std [95% interval])" in table[0]
    rw = np.array([losses[s]["rw"] - losses[s]["baseline"] for s in losses])
    low, high = scipy.stats.t.interval(0.95, len(rw) - 1, loc=rw.mean(), scale=scipy.stats.sem(rw))
    expected = f"{rw.mean():+.4f} ± {rw.std(ddof=1):.4f} [{low:+.4f}, {high:+.4f}]"
    assert _cells(table[-1])[3] == expected
    # One seed has no interval; without `interval` the table is as before.
    one = aggregate.aggregate([_run(0, losses[0])])
    assert _cells(aggregate.markdown(one, interval=True).splitlines()[-1])[3].endswith("[n/a]")
    assert "95%" not in aggregate.markdown(rows)


def test_aggregate_lists_the_baseline_and_the_extra_block_first():
    # A run without "+1" (e.g. a second rank) read before one with it.
    records = [
        _run(0, {"baseline": 2.0, "rw+lr": 1.95}),
        _run(0, {"baseline": 2.0, "baseline+1": 1.9, "rw": 1.97}),
    ]
    rows = aggregate.aggregate(records)
    assert list(rows) == ["baseline", "baseline+1", "rw+lr (r = 8)", "rw"]
    table = aggregate.markdown(rows).splitlines()
    assert [_cells(line)[0] for line in table[2:]] == [
        "baseline",
        "baseline+1",
        "rw+lr (r = 8)",
        "rw",
    ]


def test_aggregate_takes_every_difference_to_the_baseline_of_its_own_run():
    # Seed 0's second run trained another baseline (as a run on another CPU does);
    # seed 1's runs share theirs.
    records = [
        _run(0, {"baseline": 2.0, "baseline+1": 1.9, "rw": 1.97}),
        _run(1, {"baseline": 2.2, "baseline+1": 2.0, "rw": 2.25}),
        _run(0, {"baseline": 2.05, "lr": 2.0}),
        _run(1, {"baseline": 2.2, "lr": 2.1}),
    ]
    rows = aggregate.aggregate(records)
    assert rows.differing_baselines == {0: [2.0, 2.05]}
    lr_gain = np.array([2.0 - 2.05, 2.1 - 2.2])
    plus_one_gain = np.array([1.9 - 2.0, 2.0 - 2.2])
    np.testing.assert_allclose(aggregate.paired_difference(rows, "lr (r = 8)", "loss"), lr_gain)
    np.testing.assert_allclose(
        aggregate.paired_difference(rows, "lr (r = 8)", "loss", "baseline+1"),
        lr_gain - plus_one_gain,
    )
    table = aggregate.markdown(rows).splitlines()
    lr = _cells(next(line for line in table if line.startswith("| lr")))
    assert lr[3] == f"{lr_gain.mean():+.4f} ± {lr_gain.std(ddof=1):.4f}"
    assert table[-1].startswith(
        "The runs of some seeds trained different baselines (eval loss seed 0: 2.0000, 2.0500)"
    )
    # Runs that share their baselines get no such note.
    assert "different baselines" not in aggregate.markdown(aggregate.aggregate(records[:2]))


def test_aggregate_gives_no_spread_for_a_single_seed():
    table = aggregate.markdown(
        aggregate.aggregate([_run(0, {"baseline": 2.0, "baseline+1": 1.9, "rw": 1.97})])
    ).splitlines()
    assert _cells(table[2])[2] == "2.0000 ± n/a"
    assert _cells(table[-1])[2:5] == ["1.9700 ± n/a", "-0.0300 ± n/a", "+0.0700 ± n/a"]
