"""LAuReL in KerasHub backbones built around another backbone.

KerasHub's segmentation, depth and detection backbones take a backbone as
their `image_encoder` (SAM: a ViTDet; SegFormer: a MiT; DepthAnything: a
DINOv2; DeepLabV3: a ResNet) and add a neck, a decoder or a head of their
own. The image encoder's residual connections are rewritten by the rewriter
that supports it (`rewrite(backbone.image_encoder, ...)`), and the wrapper is
rebuilt from its config around the result: it stays its KerasHub class, so
its tasks and presets need nothing else, and its config records the LAuReL
encoder (a registered class), so it saves and loads as usual.

Only the image encoder gets LAuReL. The wrappers' own residual additions
(SAM's two-way mask decoder, DepthAnything's fusion neck) are in layer code
no family describes yet, and stay plain.
"""

import keras

from keras_laurel import internals
from keras_laurel.rewriting import Rewriter
from keras_laurel.rewriting import adopt_weights
from keras_laurel.rewriting import freeze_all_but_laurel
from keras_laurel.rewriting import register_rewriter

# The wrappers tested (tests/supported.py) with the encoders of their presets.
WRAPPERS = (
    "SAMBackbone",
    "SegFormerBackbone",
    "DepthAnythingBackbone",
    "DeepLabV3Backbone",
)


def is_wrapper(cls):
    """Whether `cls` is (or extends) a KerasHub backbone built around an `image_encoder`."""
    return any(
        base.__name__ in WRAPPERS and base.__module__.startswith("keras_hub")
        for base in cls.__mro__
    )


def laurel_host(model):
    """The model whose layers hold LAuReL: a wrapper's image encoder, or `model`."""
    if is_wrapper(type(model)) and isinstance(getattr(model, "image_encoder", None), keras.Model):
        return model.image_encoder
    return model


def _paired(sources, targets, what):
    if len(sources) != len(targets):
        raise ValueError(f"rewrite: {what} has {len(sources)} weights here, {len(targets)} there.")
    for source, target in zip(sources, targets):
        if source.name != target.name or tuple(source.shape) != tuple(target.shape):
            raise ValueError(
                f"rewrite: could not give weight '{source.path}' {tuple(source.shape)} of "
                f"{what} to '{target.path}' {tuple(target.shape)}."
            )
    return list(zip(sources, targets))


def _own_weights(model):
    inner = {id(v) for v in model.image_encoder.weights}
    return [v for v in model.weights if id(v) not in inner]


def rewrite_wrapper(model, settings, targets=None, freeze_base=False, copy=True):
    """`model` (a wrapper) rebuilt around its image encoder with LAuReL; every
    other weight `model`'s (copied, or shared with `copy=False`)."""
    from keras_laurel.rewriting import _dispatch

    # The encoder with LAuReL, sharing the original's storage: a blueprint
    # whose weights go to the rebuilt wrapper's encoder (copied or shared).
    try:
        encoder = _dispatch(model.image_encoder, settings, targets, False, False)
    except ValueError as error:
        raise ValueError(
            f"rewrite: {type(model).__name__} '{model.name}' gets LAuReL in its "
            f"`image_encoder` ({type(model.image_encoder).__name__}), which failed: {error}"
        ) from error
    config = {**model.get_config(), "image_encoder": keras.layers.serialize(encoder)}
    with internals.deferred_variables() as created:
        new = type(model).from_config(config)
    pairs = _paired(encoder.weights, new.image_encoder.weights, type(encoder).__name__)
    pairs += _paired(_own_weights(model), _own_weights(new), type(model).__name__)
    adopt_weights(pairs, created, copy)
    if freeze_base:
        freeze_all_but_laurel(new)
    return new


class WrapperRewriter(Rewriter):
    """KerasHub backbones built around an image encoder that `rewrite` supports."""

    name = "keras_hub_wrapper"
    description = (
        "KerasHub backbones built around a supported image encoder ("
        + ", ".join(WRAPPERS)
        + "): the encoder's residual connections, the wrapper kept as its class"
    )
    priority = 20  # before the rewriters of their encoders' kinds

    def supports(self, model):
        return internals.is_keras_hub_backbone(model) and is_wrapper(type(model))

    def rewrite(self, model, settings, targets=None, freeze_base=False, copy=True):
        return rewrite_wrapper(model, settings, targets=targets, freeze_base=freeze_base, copy=copy)


register_rewriter(WrapperRewriter())
