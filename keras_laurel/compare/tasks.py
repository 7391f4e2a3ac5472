"""The comparison tasks, registered once in `TASKS`: each builds its data, its
models (baseline, baseline + 1 block, LAuReL variants) and names its metric."""

import keras
import numpy as np

from keras_laurel.compare import data as data_lib
from keras_laurel.compare.optimizer import make_optimizer


def model_names(config):
    names = ["baseline"] + (["baseline+1"] if config.plus_one else [])
    return names + list(config.variants)


def laurel_settings(variant, config, **extra):
    """The `LaurelSettings` of LAuReL model `variant` in the comparison: the
    run's rank and k where the variant uses them, plus `extra` settings; the
    hyper-connections and DenseFormer take whole layers (`placement` "both"),
    whatever the run's placement."""
    from keras_laurel.layers.settings import LaurelSettings
    from keras_laurel.layers.variants import DEPTH_AVERAGE
    from keras_laurel.layers.variants import STREAM_VARIANTS

    if variant in STREAM_VARIANTS + (DEPTH_AVERAGE,) and "placement" in extra:
        extra = dict(extra, placement="both")
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


def gpt2_data(config):
    train, val, vocabulary = data_lib.shakespeare(config.seq_len, config.data_dir)
    x, y = data_lib.lm_batches(train, config.seq_len, config.batch_size, config.steps, config.seed)
    vx, vy = data_lib.lm_batches(
        val, config.seq_len, config.batch_size, config.eval_steps, config.seed + 1
    )
    return {"train": (x, y), "eval": (vx, vy), "vocabulary_size": len(vocabulary)}


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


class Task:
    """A comparison task: its data, its models (baseline, baseline + 1 block,
    LAuReL variants), the metric its table reports and its own checks of a
    `Config`. Registered once in `TASKS` under `name`."""

    name = None
    dataset_option = None  # the Config field naming the TFDS dataset, if not fixed
    dataset = None  # the TFDS dataset when fixed
    metric = "loss"  # the eval metric beside the loss ("loss": perplexity is shown)
    model_kind = None  # `keras_laurel.distribution.configure`'s model_kind
    # What the seed-to-seed spread measured in docs/results.md is for this
    # task: differences below it are noise (printed under the table).
    noise = None

    def dataset_name(self, config):
        return getattr(config, self.dataset_option) if self.dataset_option else self.dataset

    def validate(self, config):
        """Raises ValueError, naming the option, for a config this task cannot run."""

    def load_data(self, config):
        raise NotImplementedError

    def build_model(self, name, config, data):
        """`(compiled model, backbone, parameters of the unmodified backbone)`."""
        raise NotImplementedError

    def train_inputs(self, config, data):
        """`(x, y)` such that one epoch of fit runs exactly `config.steps` steps."""
        return data["train"]


class LanguageModelTask(Task):
    """Character-level language modelling on Tiny Shakespeare with KerasHub's
    GPT-2 or Llama decoder (`Config.decoder`)."""

    name = "gpt2-shakespeare"
    dataset = "tiny_shakespeare"
    model_kind = "gpt2"
    noise = (
        "paired eval-loss differences of a 2-4 layer decoder spread by 0.005-0.02 nats over seeds"
    )

    def load_data(self, config):
        return gpt2_data(config)

    def build_model(self, name, config, data):
        return gpt2_model(name, config, data)


class ImageClassificationTask(Task):
    """Image classification (CIFAR-10, Fashion-MNIST or MNIST) with KerasHub's
    ResNet of bottleneck blocks in its `ImageClassifier`."""

    name = "resnet-cifar10"
    dataset_option = "dataset"
    metric = "accuracy"
    model_kind = "resnet"
    noise = (
        "paired accuracy differences spread by 0.002 (cosine-decayed learning rate) to "
        "0.02 (constant) over seeds"
    )

    def validate(self, config):
        validate_resnet(config)

    def load_data(self, config):
        return resnet_data(config)

    def build_model(self, name, config, data):
        return resnet_model(name, config, data)

    def train_inputs(self, config, data):
        x, y = data["train"]
        rng = np.random.default_rng(config.seed)
        index = rng.integers(0, len(y), size=config.steps * config.batch_size)
        return x[index], y[index]


def validate_resnet(config):
    """Checks the ResNet's shape options before any training starts."""
    from keras_laurel.layers.variants import DEPTH_AVERAGE
    from keras_laurel.layers.variants import STREAM_VARIANTS

    layered = [v for v in config.variants if v in STREAM_VARIANTS + (DEPTH_AVERAGE,)]
    if layered:
        raise ValueError(
            f"`variants` (--variants): {','.join(layered)} go in transformer layers "
            "(task gpt2-shakespeare); the ResNet's residuals are graph additions, where "
            "rewrite places LAuReL's variants, layerscale and rezero."
        )
    filters, blocks = tuple(config.stage_filters), tuple(config.stage_blocks)
    if not filters or not all(isinstance(f, int) and f >= 1 for f in filters) or filters[0] != 64:
        raise ValueError(
            "`stage_filters` (--stage-filters) must be positive widths, one per "
            "stage, the first 64 (KerasHub's ResNetBackbone requires it); "
            f"received {','.join(map(str, filters))}."
        )
    if len(blocks) != len(filters) or not all(isinstance(b, int) and b >= 1 for b in blocks):
        raise ValueError(
            "`stage_blocks` (--stage-blocks) must be one positive block count per "
            f"stage of --stage-filters ({len(filters)} stages); received "
            f"{','.join(map(str, blocks))}."
        )


TASKS = {task.name: task for task in (LanguageModelTask(), ImageClassificationTask())}


def task_of(config):
    """The registered `Task` that runs `config`."""
    return TASKS[config.task]


def learned_coefficients(backbone):
    """alpha, beta, gamma of every LAuReL site (per-channel ones averaged)."""
    import keras_laurel

    sites = []
    for layer in keras_laurel.laurel_layers(backbone):
        entry = {"site": layer.path}
        for key in ("alpha", "beta", "gamma"):
            value = getattr(layer, key, None)  # hyper-connections have none of them
            if value is not None:
                value = np.asarray(keras.ops.convert_to_numpy(value), "float64")
                entry[key] = value.tolist() if key == "gamma" else float(value.mean())
        sites.append(entry)
    return sites
