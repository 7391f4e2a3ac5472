"""Trains one model of a comparison, in its own process.

One process per model makes peak memory a clean per-model number (the
process's peak resident set) and gives every model the same fresh start.
"""

import json
import resource
import sys
import time


class StepTimer:
    """Wall time of every training step (Keras callback, built lazily)."""

    def __new__(cls):
        import keras

        class _StepTimer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.times = []
                self.losses = []

            def on_train_batch_begin(self, batch, logs=None):
                self._start = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                self.times.append(time.perf_counter() - self._start)
                if logs and "loss" in logs:
                    self.losses.append(float(logs["loss"]))

        return _StepTimer()


def run(name, config_dict, verbose=1):
    """Trains model `name`; returns a JSON-able dict of results."""
    from keras_laurel.compare.config import Config

    config = Config(**config_dict)
    import keras
    import numpy as np

    import keras_laurel
    from keras_laurel.compare import curves
    from keras_laurel.compare import tasks

    task = tasks.task_of(config)
    setup = keras_laurel.distribution.configure(config.distribution, model_kind=task.model_kind)
    data = task.load_data(config)
    with setup.scope():
        model, backbone, base_params = task.build_model(name, config, data)
    x, y = task.train_inputs(config, data)
    timer = StepTimer()
    start = time.perf_counter()
    model.fit(
        x,
        y,
        batch_size=config.batch_size,
        epochs=1,
        shuffle=False,
        callbacks=[timer],
        verbose=verbose,
    )
    train_seconds = time.perf_counter() - start
    ex, ey = data["eval"]
    evaluation = model.evaluate(ex, ey, batch_size=config.batch_size, verbose=0, return_dict=True)
    warm = timer.times[min(5, len(timer.times) - 1) :]  # skip compilation steps
    return {
        "name": name,
        "backend": keras.backend.backend(),
        "distribution": str(setup),
        "params": int(backbone.count_params()),
        "base_params": int(base_params),
        "eval": {k: float(v) for k, v in evaluation.items()},
        **curves.record(timer.losses),
        "median_step_seconds": float(np.median(warm)),
        "train_seconds": train_seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "coefficients": tasks.learned_coefficients(backbone),
    }


def main():
    spec = json.loads(sys.argv[1])
    result = run(spec["name"], spec["config"], spec.get("verbose", 1))
    with open(spec["output"], "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
