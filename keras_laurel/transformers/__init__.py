"""LAuReL inside KerasHub transformers: layers that replace `TransformerDecoder`
/ `TransformerEncoder` and LAuReL versions of the backbones built from them."""

from keras_laurel.transformers.backbone import KNOWN_BACKBONES
from keras_laurel.transformers.backbone import laurel_backbone_class
from keras_laurel.transformers.backbone import register_known_backbones
from keras_laurel.transformers.decoder import LaurelTransformerDecoder
from keras_laurel.transformers.encoder import LaurelTransformerEncoder
from keras_laurel.transformers.history import DEFAULT_PLACEMENT
from keras_laurel.transformers.history import PLACEMENTS
from keras_laurel.transformers.rewriter import TransformerBackboneRewriter
from keras_laurel.transformers.rewriter import rewrite_transformer_backbone

__all__ = [
    "DEFAULT_PLACEMENT",
    "KNOWN_BACKBONES",
    "laurel_backbone_class",
    "LaurelTransformerDecoder",
    "LaurelTransformerEncoder",
    "PLACEMENTS",
    "register_known_backbones",
    "rewrite_transformer_backbone",
    "TransformerBackboneRewriter",
]


register_known_backbones()
