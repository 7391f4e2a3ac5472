"""`configure`: the right distributed set-up for the backend and the hardware."""

import contextlib
import dataclasses
import glob
import os

import keras

from keras_laurel.distribution.layouts import layout_map as make_layout_map

MODES = ("auto", "tpu", "mirrored", "data", "model", "none")


@dataclasses.dataclass
class DistributionSetup:
    """What `configure` chose. Build and compile the model inside `scope()`."""

    backend: str
    mode: str  # what was set up: "tpu", "mirrored", "data", "model", "none", or
    # "existing" (a keras.distribution the user had set, kept as it is)
    num_replicas: int
    strategy: object = None  # TensorFlow: the tf.distribute strategy
    distribution: object = None  # JAX: the keras.distribution in force
    note: str = ""

    def scope(self):
        """TensorFlow: the strategy's scope. JAX: the distribution is global
        (set by `configure`, so that `fit` shards the data too); the scope
        only makes that explicit. Otherwise a no-op."""
        if self.strategy is not None:
            return self.strategy.scope()
        if self.distribution is not None:
            return self.distribution.scope()
        return contextlib.nullcontext()

    def __str__(self):
        text = f"{self.backend}: {self.mode} over {self.num_replicas} replica(s)"
        return text + (f" ({self.note})" if self.note else "")


def _tpu_hint():
    """Where a TPU would be, without contacting anything (no hang)."""
    if os.path.exists("/dev/accel0") or glob.glob("/dev/vfio/[0-9]*"):
        return "local"  # a TPU VM (Colab's TPU runtimes, Cloud TPU VMs)
    for name in ("TPU_NAME", "COLAB_TPU_ADDR"):
        if os.environ.get(name):
            return os.environ[name]
    return None


def _no_tpu(backend):
    return ValueError(
        f"configure: mode='tpu' but this machine has no TPU ({backend} backend): no "
        "/dev/accel* or /dev/vfio device and no TPU_NAME / COLAB_TPU_ADDR. On Colab "
        "pick Runtime > Change runtime type > TPU; elsewhere use mode='auto'."
    )


def _tensorflow(mode, tpu, devices):
    import tensorflow as tf

    if mode in ("data", "model"):
        raise ValueError(
            f"configure: mode={mode!r} is the JAX keras.distribution API; with "
            "TensorFlow use 'tpu', 'mirrored', 'auto' or 'none'."
        )
    target = tpu or _tpu_hint()
    if mode == "tpu" or (mode == "auto" and target):
        if not target:
            raise _no_tpu("tensorflow")
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=target)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
        return DistributionSetup("tensorflow", "tpu", strategy.num_replicas_in_sync, strategy)
    gpus = tf.config.list_logical_devices("GPU")
    if mode == "mirrored" or (mode == "auto" and len(gpus) > 1):
        if devices is None:
            devices = [d.name for d in gpus] or [
                d.name for d in tf.config.list_logical_devices("CPU")
            ]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
        return DistributionSetup("tensorflow", "mirrored", strategy.num_replicas_in_sync, strategy)
    strategy = tf.distribute.get_strategy()
    return DistributionSetup("tensorflow", "none", 1, strategy, note="default strategy")


def _jax(mode, model_kind, mesh_shape, devices, lowrank_layout):
    import jax

    devices = devices or jax.devices()
    if mode == "mirrored":
        raise ValueError(
            "configure: mode='mirrored' is a tf.distribute strategy; with JAX use "
            "'data' (DataParallel), 'model' (ModelParallel), 'auto' or 'none'."
        )
    if mode == "tpu":
        if devices[0].platform != "tpu":
            raise _no_tpu("jax")
        mode = "data"
    current = keras.distribution.distribution()
    if current is not None:
        if mode == "auto":  # the user's own distribution stays as it is
            return DistributionSetup(
                "jax",
                "existing",
                len(devices),
                distribution=current,
                note=f"keeps the {type(current).__name__} already set",
            )
        raise ValueError(
            f"configure: a keras.distribution ({type(current).__name__}) is already "
            f"set; mode={mode!r} would replace it. Keep it (mode='auto'), or clear it "
            "first with keras.distribution.set_distribution(None)."
        )
    if mode == "auto":
        mode = "data" if len(devices) > 1 else "none"
    if mode == "none":
        return DistributionSetup("jax", "none", 1)
    if mode == "data":
        distribution = keras.distribution.DataParallel(devices=devices)
        keras.distribution.set_distribution(distribution)
        return DistributionSetup("jax", "data", len(devices), distribution=distribution)
    # Model parallel: a (batch, model) mesh and a layout map for the model kind.
    if mesh_shape is None:
        model_size = 2 if len(devices) % 2 == 0 and len(devices) > 1 else 1
        mesh_shape = (len(devices) // model_size, model_size)
    if mesh_shape[0] * mesh_shape[1] != len(devices):
        raise ValueError(
            f"configure: `mesh_shape` {tuple(mesh_shape)} must multiply to the "
            f"{len(devices)} devices."
        )
    mesh = keras.distribution.DeviceMesh(
        shape=tuple(mesh_shape), axis_names=("batch", "model"), devices=devices
    )
    layouts = make_layout_map(model_kind, mesh, lowrank=lowrank_layout)
    distribution = keras.distribution.ModelParallel(layout_map=layouts, batch_dim_name="batch")
    keras.distribution.set_distribution(distribution)
    return DistributionSetup(
        "jax",
        "model",
        mesh_shape[0],
        distribution=distribution,
        note=f"mesh {tuple(mesh_shape)} (batch, model), layouts for "
        f"{getattr(model_kind, '__name__', model_kind)!r}",
    )


def configure(
    mode="auto",
    *,
    model_kind=None,
    mesh_shape=None,
    tpu=None,
    devices=None,
    lowrank_layout="sharded",
):
    """Sets up distributed training for the current backend and hardware.

    * TensorFlow: `"tpu"` -- TPUStrategy (cluster resolver, connect,
      initialise); `"mirrored"` -- MirroredStrategy over the GPUs, or over
      the logical CPU devices when there is no GPU; `"auto"` -- a TPU if one
      is attached, MirroredStrategy on several GPUs, else the default strategy.
    * JAX: `"data"` -- `keras.distribution.DataParallel` over all devices;
      `"model"` -- `ModelParallel` on a `(batch, model)` mesh with the layout
      map of `model_kind` (a KerasHub backbone class or instance, whose own
      `get_layout_map` is used, or `"gpt2"` / `"resnet"`) plus the LAuReL
      weights' layouts (`keras_laurel.distribution.layout_map`); `"tpu"` -- data
      parallel over TPU devices; `"auto"` -- data parallel on several devices.
    * PyTorch: Keras 3's `keras.distribution` has no torch support, so only
      `"auto"` / `"none"` (one device) are accepted; anything else raises.

    Asking for a TPU where none is attached raises `ValueError` at once. On
    JAX, a `keras.distribution` the user has already set is never replaced:
    `"auto"` keeps it, any other mode raises.

    What it adds to `keras.distribution`: the choice of strategy for the
    hardware found, TPUStrategy / MirroredStrategy set-up on TensorFlow, and
    the layouts of LAuReL's weights (low-rank factors split along `D`,
    scalars replicated) for `ModelParallel`.

    Returns:
        A `DistributionSetup`; create and compile the model in its `scope()`.

    Example:

    >>> setup = keras_laurel.distribution.configure()
    >>> with setup.scope():
    ...     model = keras_laurel.rewrite(backbone, "rw+lr", rank=16)
    ...     model.compile(...)
    >>> model.fit(dataset)
    """
    if mode not in MODES:
        raise ValueError(f"configure: `mode` must be one of {list(MODES)}; received {mode!r}.")
    if lowrank_layout not in ("sharded", "replicated"):
        raise ValueError(
            "configure: `lowrank_layout` must be 'sharded' or 'replicated'; "
            f"received {lowrank_layout!r}."
        )
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow(mode, tpu, devices)
    if backend == "jax":
        if mode == "model" and model_kind is None:
            raise ValueError(
                "configure: mode='model' needs `model_kind` (a KerasHub backbone "
                "class with get_layout_map, 'gpt2' or 'resnet') to lay out the weights."
            )
        return _jax(mode, model_kind, mesh_shape, devices, lowrank_layout)
    if mode in ("auto", "none"):
        return DistributionSetup(
            backend,
            "none",
            1,
            note="keras.distribution does not support the torch backend; one device",
        )
    raise ValueError(
        f"configure: mode={mode!r} is not available with the {backend} backend: Keras "
        f"{keras.__version__}'s keras.distribution supports JAX only and tf.distribute "
        "needs TensorFlow. Use KERAS_BACKEND=jax or tensorflow for distributed "
        "training, or wrap the model in torch's own DistributedDataParallel."
    )
