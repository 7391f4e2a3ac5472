"""The comparison tasks: data, models (baseline, +1 layer, LAuReL) and metrics."""

import dataclasses

import keras
import numpy as np

from keras_laurel.compare import data as data_lib
from keras_laurel.compare.optimizer import make_optimizer

TASKS = ("gpt2-shakespeare", "resnet-cifar10")
IMAGE_DATASETS = ("cifar10", "fashion_mnist", "mnist")


@dataclasses.dataclass
class Config:
    """Everything a run depends on (backend-independent)."""

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


def model_names(config):
    names = ["baseline"] + (["baseline+1"] if config.plus_one else [])
    return names + list(config.variants)


def laurel_settings(variant, config, **extra):
    """The `LaurelSettings` of LAuReL model `variant` in the comparison: the
    run's rank and k where the variant uses them, plus `extra` settings."""
    from keras_laurel.layers.settings import LaurelSettings

    parts = variant.split("+")
    return LaurelSettings(
        variant,
        rank=config.rank if "lr" in parts else None,
        k=config.k if "pa" in parts else None,
        **extra,
    )


def _rewrite(backbone, variant, config, **extra):
    import keras_laurel

    return keras_laurel.rewrite(backbone, laurel_settings(variant, config, **extra))


# --------------------------------------------------------------- GPT-2


def gpt2_data(config):
    train, val, vocabulary = data_lib.shakespeare(config.seq_len, config.data_dir)
    x, y = data_lib.lm_batches(train, config.seq_len, config.batch_size, config.steps, config.seed)
    vx, vy = data_lib.lm_batches(
        val, config.seq_len, config.batch_size, config.eval_steps, config.seed + 1
    )
    return {"train": (x, y), "eval": (vx, vy), "vocabulary_size": len(vocabulary)}


DECODERS = ("gpt2", "llama")


def _decoder_backbone(config, vocabulary_size, num_layers):
    """The character-level decoder: KerasHub's GPT-2, or its Llama (the
    architecture of current LLMs) with a gated MLP of about GPT-2's size."""
    import keras_hub

    if config.decoder == "llama":
        return keras_hub.models.LlamaBackbone(
            vocabulary_size=vocabulary_size,
            num_layers=num_layers,
            num_query_heads=config.heads,
            num_key_value_heads=config.heads,
            hidden_dim=config.hidden,
            intermediate_dim=(8 * config.hidden // 3 + 7) // 8 * 8,  # 3 matrices ~ GPT-2's 2
            dropout=0.0,
        ), keras_hub.models.LlamaCausalLM
    return keras_hub.models.GPT2Backbone(
        vocabulary_size=vocabulary_size,
        num_layers=num_layers,
        num_heads=config.heads,
        hidden_dim=config.hidden,
        intermediate_dim=4 * config.hidden,
        max_sequence_length=config.seq_len,
        dropout=0.0,
    ), keras_hub.models.GPT2CausalLM


def gpt2_model(name, config, data, a_initializer="column_orthogonal"):
    """Decoder LM `name` (GPT-2 or Llama, `config.decoder`); LAuReL's A starts
    from `a_initializer` (the paper's LLM initialisation by default)."""
    keras.utils.set_random_seed(config.seed)
    backbone, causal_lm = _decoder_backbone(
        config, data["vocabulary_size"], config.layers + (1 if name == "baseline+1" else 0)
    )
    base_params = backbone.count_params()
    if name not in ("baseline", "baseline+1"):
        backbone = _rewrite(
            backbone,
            name,
            config,
            placement=config.placement,
            a_initializer=a_initializer,
        )
    model = causal_lm(backbone=backbone, preprocessor=None)
    model.compile(
        optimizer=make_optimizer(config, backbone),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
    )
    return model, backbone, base_params


# -------------------------------------------------------------- ResNet


def resnet_data(config):
    xtr, ytr, xte, yte, classes = data_lib.images(
        config.dataset,
        config.image_size,
        config.data_dir,
        config.train_examples,
        config.test_examples,
    )
    return {"train": (xtr, ytr), "eval": (xte, yte), "num_classes": classes}


def resnet_model(name, config, data):
    import keras_hub

    keras.utils.set_random_seed(config.seed)
    blocks = list(config.stage_blocks)
    if name == "baseline+1":
        blocks[min(2, len(blocks) - 1)] += 1  # one more bottleneck block
    channels = data["train"][0].shape[-1]
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=list(config.stage_filters),
        stackwise_num_blocks=blocks,
        stackwise_num_strides=[1] + [2] * (len(blocks) - 1),
        block_type="bottleneck_block",
        image_shape=(config.image_size, config.image_size, channels),
    )
    base_params = backbone.count_params()
    if name not in ("baseline", "baseline+1"):
        backbone = _rewrite(backbone, name, config)
    model = keras_hub.models.ImageClassifier(backbone=backbone, num_classes=data["num_classes"])
    model.compile(
        optimizer=make_optimizer(config, backbone),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model, backbone, base_params


def load_data(config):
    return gpt2_data(config) if config.task == "gpt2-shakespeare" else resnet_data(config)


def build_model(name, config, data):
    builder = gpt2_model if config.task == "gpt2-shakespeare" else resnet_model
    return builder(name, config, data)


def train_inputs(config, data):
    """`(x, y, epochs, steps_per_epoch)` so that fit runs exactly `config.steps` steps."""
    x, y = data["train"]
    if config.task == "gpt2-shakespeare":
        return x, y
    rng = np.random.default_rng(config.seed)
    index = rng.integers(0, len(y), size=config.steps * config.batch_size)
    return x[index], y[index]


def learned_coefficients(backbone):
    """alpha, beta, gamma of every LAuReL site (per-channel ones averaged)."""
    import keras_laurel

    sites = []
    for layer in keras_laurel.laurel_layers(backbone):
        entry = {"site": layer.path}
        for key in ("alpha", "beta", "gamma"):
            value = getattr(layer, key)
            if value is not None:
                value = np.asarray(keras.ops.convert_to_numpy(value), "float64")
                entry[key] = value.tolist() if key == "gamma" else float(value.mean())
        sites.append(entry)
    return sites
