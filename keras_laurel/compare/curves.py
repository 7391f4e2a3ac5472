"""Training-loss curves as the result files keep them.

Keras reports, after each step of an epoch, the running mean of the loss over
the epoch so far (every comparison trains one epoch). A result keeps that
curve at no more than `MAX_POINTS` steps (enough for every figure) and the
one per-step statistic the study reads (`worst_step_rise`), computed from
every step before the curve is thinned.
"""

import numpy as np

MAX_POINTS = 300
RISE_WINDOW = 50


def per_step(running_mean):
    """The loss of every step from the running means: t m_t - (t - 1) m_{t-1}."""
    m = np.asarray(running_mean, dtype=np.float64)
    t = np.arange(1, len(m) + 1)
    return t * m - np.concatenate([[0.0], t[:-1] * m[:-1]])


def worst_step_rise(running_mean, window=RISE_WINDOW):
    """How far the worst step rose above the median of the `window` steps
    before it (None for a curve of `window` steps or fewer)."""
    losses = per_step(running_mean)
    if len(losses) <= window:
        return None
    return float(
        max(losses[i] - np.median(losses[i - window : i]) for i in range(window, len(losses)))
    )


def thin(running_mean, max_points=MAX_POINTS):
    """`(steps, values)`: the running mean at every `stride`-th step (1-based
    step numbers) and at the last, at most about `max_points` of them."""
    values = [float(v) for v in running_mean]
    if not values:
        return [], []
    stride = max(1, -(-len(values) // max_points))
    steps = list(range(stride, len(values) + 1, stride))
    if steps[-1] != len(values):
        steps.append(len(values))
    return steps, [values[s - 1] for s in steps]


def record(running_mean):
    """The curve fields of a result: thinned curve, its steps and the worst step's rise."""
    steps, values = thin(running_mean)
    return {
        "train_loss_steps": steps,
        "train_loss_curve": values,
        "worst_step_rise": worst_step_rise(running_mean),
    }


def steps_of(result):
    """The step numbers of `result`'s curve (results written before the curve
    was thinned kept every step)."""
    curve = result["train_loss_curve"]
    return result.get("train_loss_steps") or list(range(1, len(curve) + 1))
