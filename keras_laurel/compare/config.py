"""`Config`: everything a comparison run depends on, validated when it is made.

The command line builds a `Config` from its options and a Python caller
builds one directly; both get the same errors, raised by `Config` itself, each
naming the field (and its command-line option) and what was expected.
"""

import dataclasses

SCHEDULES = ("constant", "cosine")
PLACEMENTS = ("attention", "feedforward", "both")
DISTRIBUTIONS = ("none", "auto", "tpu", "mirrored", "data", "model")
DECODERS = ("gpt2", "llama")
IMAGE_DATASETS = ("cifar10", "fashion_mnist", "mnist")


def option(field):
    """The command-line option of `field`."""
    return "--" + field.replace("_", "-")


def _fail(field, expected, value):
    raise ValueError(f"`{field}` ({option(field)}) must be {expected}; received {_show(value)}.")


def _show(value):
    if isinstance(value, tuple) and all(isinstance(v, (int, str)) for v in value):
        return ",".join(map(str, value)) or "nothing"
    return repr(value)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


@dataclasses.dataclass
class Config:
    """Everything a comparison run depends on (backend-independent).

    Lists are stored as tuples (a `Config` read back from JSON equals the
    one written); `variants` are stored in their canonical spelling.
    Raises `ValueError` naming the field for a value that cannot work.
    """

    task: str = "gpt2-shakespeare"
    variants: tuple = ("rw", "lr", "pa", "rw+lr", "rw+lr+pa")
    plus_one: bool = True  # also train the baseline with one more block
    steps: int = 300
    eval_steps: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    lowrank_lr_scale: float = 1.0  # learning rate of LR's A and B / learning_rate
    lr_schedule: str = "constant"  # or "cosine": decays to 0 at the last step
    warmup_steps: int = 0  # linear warm-up from 0 before the schedule
    rank: int = 8
    k: int = None  # PA's k; None: LaurelSettings' default
    placement: str = "attention"
    seed: int = 0
    distribution: str = "none"
    data_dir: str = None
    # gpt2-shakespeare
    decoder: str = "gpt2"  # or "llama": pre-norm RMSNorm, rotary positions, gated MLP
    layers: int = 4
    hidden: int = 64
    heads: int = 4
    seq_len: int = 64
    # resnet-cifar10
    dataset: str = "cifar10"
    image_size: int = 32
    stage_filters: tuple = (64, 128, 256, 512)
    stage_blocks: tuple = (3, 4, 6, 3)
    train_examples: int = None
    test_examples: int = None

    def __post_init__(self):
        from keras_laurel.compare.tasks import TASKS
        from keras_laurel.layers.variants import canonical_variant

        for field in ("variants", "stage_filters", "stage_blocks"):
            value = getattr(self, field)
            if isinstance(value, list):
                setattr(self, field, tuple(value))
        if self.task not in TASKS:
            _fail("task", f"one of {tuple(TASKS)}", self.task)
        if not isinstance(self.variants, tuple) or not all(
            isinstance(v, str) for v in self.variants
        ):
            _fail("variants", "a tuple of variant names such as ('rw', 'rw+lr')", self.variants)
        self.variants = tuple(canonical_variant(v, owner=option("variants")) for v in self.variants)
        if len(set(self.variants)) != len(self.variants):
            _fail("variants", "distinct variants", self.variants)
        if not isinstance(self.plus_one, bool):
            _fail("plus_one", "True or False", self.plus_one)
        for field in ("steps", "eval_steps", "batch_size", "layers", "hidden", "heads"):
            self._check_positive_int(field)
        self._check_positive_int("seq_len")
        self._check_positive_int("image_size")
        self._check_positive_int("rank")
        if self.k is not None:
            self._check_positive_int("k")
        for field in ("train_examples", "test_examples"):
            if getattr(self, field) is not None:
                self._check_positive_int(field)
        if not _is_int(self.seed) or self.seed < 0:
            _fail("seed", "a non-negative integer", self.seed)
        for field in ("learning_rate", "lowrank_lr_scale"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                _fail(field, "a positive number", value)
        self._check_choice("lr_schedule", SCHEDULES)
        if not _is_int(self.warmup_steps) or not 0 <= self.warmup_steps < self.steps:
            _fail("warmup_steps", f"an integer in [0, steps = {self.steps})", self.warmup_steps)
        self._check_choice("placement", PLACEMENTS)
        self._check_choice("distribution", DISTRIBUTIONS)
        self._check_choice("decoder", DECODERS)
        self._check_choice("dataset", IMAGE_DATASETS)
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            _fail("data_dir", "a folder path (str) or None", self.data_dir)
        TASKS[self.task].validate(self)

    def _check_positive_int(self, field):
        value = getattr(self, field)
        if not _is_int(value) or value < 1:
            _fail(field, "a positive integer", value)

    def _check_choice(self, field, choices):
        if getattr(self, field) not in choices:
            _fail(field, f"one of {choices}", getattr(self, field))

    @classmethod
    def fields(cls):
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self):
        return dataclasses.asdict(self)
