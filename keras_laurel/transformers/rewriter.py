"""`rewrite` for KerasHub transformer backbones (GPT-2, BERT, ...)."""

import keras

from keras_laurel.layers.laurel import Laurel
from keras_laurel.transformers.backbone import laurel_backbone_class
from keras_laurel.transformers.sites import laurel_config


def rewrite_transformer_backbone(model, freeze_base=False, **settings):
    """A `Laurel<Backbone>` copy of `model` with every weight copied exactly.

    `settings` are `laurel_config`'s: variant, rank, k, placement,
    normalization, per_channel, a_initializer, b_initializer.
    """
    laurel = laurel_config(**settings)
    hidden = getattr(model, "hidden_dim", None)
    if laurel["rank"] is not None and hidden is not None and laurel["rank"] > hidden:
        raise ValueError(
            f"rewrite: `rank`={laurel['rank']} is invalid for {type(model).__name__} "
            f"'{model.name}', whose hidden dimension is {hidden}; rank must be "
            f"between 1 and {hidden}."
        )
    cls = laurel_backbone_class(type(model))
    new = cls.from_config({**model.get_config(), "laurel": laurel})
    targets = {v.path: v for v in new.weights}
    for variable in model.weights:
        target = targets.get(variable.path)
        if target is None or tuple(target.shape) != tuple(variable.shape):
            raise ValueError(
                f"rewrite: could not copy weight '{variable.path}' of "
                f"{type(model).__name__} into its LAuReL version."
            )
        target.assign(variable)
    if freeze_base:
        for layer in new._flatten_layers(include_self=False, recursive=True):
            if not isinstance(layer, Laurel) and not layer._layers:
                layer.trainable = False
    return new


def is_transformer_backbone(model):
    """A KerasHub backbone with KerasHub transformer layers inside."""
    names = {"TransformerDecoder", "TransformerEncoder"}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        for cls in type(layer).__mro__:
            if cls.__name__ in names and cls.__module__.startswith("keras_hub"):
                return True
    return False
