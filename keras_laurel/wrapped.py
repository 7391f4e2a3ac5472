"""LAuReL in KerasHub backbones built around other backbones.

KerasHub's segmentation, depth, detection and text-recognition backbones
take a backbone as their `image_encoder` (SAM: a ViTDet; SegFormer: a MiT;
DepthAnything: a DINOv2; DeepLabV3 and RetinaNet: a ResNet; PARSeq: a ViT)
and add a neck, a decoder or a head of their own; the image-text models
(CLIP, SigLIP, MetaCLIP 2) take two towers, a `vision_encoder` and a
`text_encoder`. Each encoder's residual connections
are rewritten by the rewriter that supports it, and the wrapper is rebuilt
from its config around the results: it stays its KerasHub class, so
its tasks and presets need nothing else, and its config records the LAuReL
encoder (a registered class), so it saves and loads as usual.

Only the encoders get LAuReL. The wrappers' own residual additions (SAM's
two-way mask decoder, DepthAnything's fusion neck, PARSeq's decoder) are in
layer code no family describes yet, and stay plain; RetinaNet's feature
pyramid adds upsampled coarser levels to finer ones, which is not a
residual connection.
"""

import keras

from keras_laurel import internals
from keras_laurel.rewriting import Rewriter
from keras_laurel.rewriting import adopt_weights
from keras_laurel.rewriting import freeze_all_but_laurel
from keras_laurel.rewriting import paired_in_order
from keras_laurel.rewriting import register_rewriter

# The wrappers tested (tests/supported.py) with the encoders of their
# presets: `{class name: the arguments (and attributes) holding its encoders}`.
_IMAGE = ("image_encoder",)
_TOWERS = ("vision_encoder", "text_encoder")
WRAPPERS = {
    "SAMBackbone": _IMAGE,
    "SegFormerBackbone": _IMAGE,
    "DepthAnythingBackbone": _IMAGE,
    "DeepLabV3Backbone": _IMAGE,
    "RetinaNetBackbone": _IMAGE,
    "PARSeqBackbone": _IMAGE,
    "CLIPBackbone": _TOWERS,
    "SigLIPBackbone": _TOWERS,
    "MetaCLIP2Backbone": _TOWERS,
}


def encoder_arguments(cls):
    """The arguments holding the encoders of a wrapper class; `()` for any other."""
    for base in cls.__mro__:
        if base.__name__ in WRAPPERS and base.__module__.startswith("keras_hub"):
            return WRAPPERS[base.__name__]
    return ()


def is_wrapper(cls):
    """Whether `cls` is (or extends) a KerasHub backbone built around other backbones."""
    return bool(encoder_arguments(cls))


def laurel_host(model):
    """The model whose layers hold LAuReL: a wrapper's one encoder, or `model`."""
    names = encoder_arguments(type(model))
    if len(names) == 1 and isinstance(getattr(model, names[0], None), keras.Model):
        return getattr(model, names[0])
    return model


def laurel_hosts(model):
    """The backbones that hold LAuReL's settings: a wrapper's encoders, or `[model]`."""
    names = encoder_arguments(type(model))
    return [getattr(model, name) for name in names] if names else [model]


def _own_weights(model):
    names = encoder_arguments(type(model))
    inner = {id(v) for name in names for v in getattr(model, name).weights}
    return [v for v in model.weights if id(v) not in inner]


def rewrite_wrapper(model, settings, targets=None, freeze_base=False, copy=True):
    """`model` (a wrapper) rebuilt around its encoders with LAuReL; every
    other weight `model`'s (copied, or shared with `copy=False`)."""
    from keras_laurel.rewriting import rewrite_with_rewriter

    # Each encoder with LAuReL, sharing the original's storage: a blueprint
    # whose weights go to the rebuilt wrapper's encoder (copied or shared).
    encoders = {}
    for name in encoder_arguments(type(model)):
        original = getattr(model, name)
        try:
            encoders[name] = rewrite_with_rewriter(original, settings, targets, False, False)
        except ValueError as error:
            raise ValueError(
                f"rewrite: {type(model).__name__} '{model.name}' gets LAuReL in its "
                f"`{name}` ({type(original).__name__}), which failed: {error}"
            ) from error
    config = model.get_config()
    config.update({name: keras.layers.serialize(e) for name, e in encoders.items()})
    with internals.deferred_variables() as created:
        new = type(model).from_config(config)
    pairs = []
    for name, encoder in encoders.items():
        pairs += paired_in_order(
            encoder.weights, getattr(new, name).weights, type(encoder).__name__
        )
    pairs += paired_in_order(_own_weights(model), _own_weights(new), type(model).__name__)
    adopt_weights(pairs, created, copy)
    if freeze_base:
        freeze_all_but_laurel(new)
    return new


class WrapperRewriter(Rewriter):
    """KerasHub backbones built around an image encoder that `rewrite` supports."""

    name = "keras_hub_wrapper"
    description = (
        "KerasHub backbones built around supported encoders ("
        + ", ".join(WRAPPERS)
        + "): the encoders' residual connections, the wrapper kept as its class"
    )
    priority = 20  # before the rewriters of their encoders' kinds

    def supports(self, model):
        return internals.is_keras_hub_backbone(model) and is_wrapper(type(model))

    def rewrite(self, model, settings, targets=None, freeze_base=False, copy=True):
        return rewrite_wrapper(model, settings, targets=targets, freeze_base=freeze_base, copy=copy)


register_rewriter(WrapperRewriter())
