"""The `Rewriter` for KerasHub transformer backbones (GPT-2, BERT, ...)."""

from keras_laurel import internals
from keras_laurel.rewriting import Rewriter
from keras_laurel.rewriting import adopt_weights
from keras_laurel.rewriting import freeze_all_but_laurel
from keras_laurel.rewriting import register_rewriter
from keras_laurel.rewriting import weight_pairs
from keras_laurel.transformers.backbone import laurel_backbone_class
from keras_laurel.transformers.families import FAMILIES
from keras_laurel.transformers.families import family_of
from keras_laurel.transformers.sites import transformer_settings

_LAYER_CLASSES = ("TransformerDecoder", "TransformerEncoder")


def rewrite_transformer_backbone(model, settings, targets=None, freeze_base=False, copy=True):
    """A `Laurel<Backbone>` version of `model` with every weight `model`'s
    (copied, or shared with `copy=False`: `keras_laurel.rewriting.adopt_weights`).

    The residual connections are chosen per transformer layer with
    `settings.placement`; `targets` (which selects graph additions) must be
    `None`.
    """
    if targets is not None:
        raise ValueError(
            "rewrite: `targets` selects additions of a functional graph; "
            f"{type(model).__name__}'s residual connections are inside its "
            "transformer layers: choose them with `placement` instead."
        )
    settings = transformer_settings(settings)
    hidden = getattr(model, "hidden_dim", None)
    if settings.use_lr and hidden is not None and settings.rank > hidden:
        raise ValueError(
            f"rewrite: `rank`={settings.rank} is invalid for {type(model).__name__} "
            f"'{model.name}', whose hidden dimension is {hidden}; rank must be "
            f"between 1 and {hidden}."
        )
    cls = laurel_backbone_class(type(model))
    with internals.deferred_variables() as created:
        new = cls.from_config({**model.get_config(), "laurel": settings.get_config()})
    adopt_weights(weight_pairs(model, new), created, copy)
    if freeze_base:
        freeze_all_but_laurel(new)
    return new


def is_transformer_backbone(model):
    """A KerasHub backbone with KerasHub transformer layers inside."""
    if not internals.is_keras_hub_backbone(model):
        return False
    if family_of(type(model)) is not None:
        return True
    for layer in internals.sublayers(model):
        for cls in type(layer).__mro__:
            if cls.__name__ in _LAYER_CLASSES and cls.__module__.startswith("keras_hub"):
                return True
    return False


class TransformerBackboneRewriter(Rewriter):
    """KerasHub backbones whose residuals are inside their transformer layers."""

    name = "keras_hub_transformer"
    description = (
        "KerasHub backbones built from keras_hub.layers.TransformerDecoder / "
        "TransformerEncoder (GPT-2, OPT, BERT, RoBERTa, DistilBERT, XLM-R, BART) "
        "and the decoder LLMs "
        + ", ".join(name for family in FAMILIES for name in family.backbones)
    )
    priority = 10

    def supports(self, model):
        return is_transformer_backbone(model)

    def rewrite(self, model, settings, targets=None, freeze_base=False, copy=True):
        return rewrite_transformer_backbone(
            model, settings, targets=targets, freeze_base=freeze_base, copy=copy
        )


register_rewriter(TransformerBackboneRewriter())
