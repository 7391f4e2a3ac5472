"""Real KerasHub / KerasCV ResNet-50 backbones, built from their configurations
(presets cannot be downloaded here), randomly initialised."""

import keras

# ResNet-50: four stages of bottleneck blocks.
STAGE_FILTERS = [64, 128, 256, 512]
STAGE_BLOCKS = [3, 4, 6, 3]
STAGE_STRIDES = [1, 2, 2, 2]
# Channels at each residual connection: 4x the bottleneck width.
STAGE_CHANNELS = [4 * f for f in STAGE_FILTERS]


def keras_hub_resnet50(pre_activation=False, image_shape=(32, 32, 3)):
    import keras_hub

    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=STAGE_FILTERS,
        stackwise_num_blocks=STAGE_BLOCKS,
        stackwise_num_strides=STAGE_STRIDES,
        block_type="bottleneck_block",
        use_pre_activation=pre_activation,
        image_shape=image_shape,
    )


def keras_cv_resnet50(pre_activation=False, image_shape=(32, 32, 3)):
    import keras_cv

    cls = keras_cv.models.ResNetV2Backbone if pre_activation else keras_cv.models.ResNetBackbone
    return cls(
        stackwise_filters=STAGE_FILTERS,
        stackwise_blocks=STAGE_BLOCKS,
        stackwise_strides=STAGE_STRIDES,
        input_shape=image_shape,
        include_rescaling=False,
    )


BACKBONES = {
    "hub-v1": lambda **kw: keras_hub_resnet50(False, **kw),
    "hub-v2": lambda **kw: keras_hub_resnet50(True, **kw),
    "cv-v1": lambda **kw: keras_cv_resnet50(False, **kw),
    "cv-v2": lambda **kw: keras_cv_resnet50(True, **kw),
}


def site_channels_and_terms(k=3):
    """(channels, PA terms) of each of ResNet-50's 16 residual connections, in
    order: within a stage a block mixes up to k activations; the shapes change
    at each stage's first block, so the history restarts there."""
    out = []
    for channels, blocks in zip(STAGE_CHANNELS, STAGE_BLOCKS):
        for b in range(blocks):
            out.append((channels, min(b + 1, k)))
    return out


def forward(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))
