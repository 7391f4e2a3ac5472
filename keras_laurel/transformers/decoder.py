"""`keras_hub.layers.TransformerDecoder` with LAuReL residual connections."""

import keras
from keras_hub.layers import TransformerDecoder

from keras_laurel.transformers.compiled import compiled_call
from keras_laurel.transformers.families import DECODER_ADDITIONS
from keras_laurel.transformers.sites import LaurelSitesMixin

_CALL, _CHECK = compiled_call(TransformerDecoder, DECODER_ADDITIONS)


@keras.saving.register_keras_serializable(package="keras_laurel")
class LaurelTransformerDecoder(LaurelSitesMixin, TransformerDecoder):
    """A `TransformerDecoder` whose residual connections are LAuReL layers.

    Same sublayers, weights and arguments as KerasHub's decoder, plus
    `laurel` (the settings, see `keras_laurel.rewrite`), `layer_index` and
    `num_layers` (to know how much PA history it receives and passes on).
    Its `call` is KerasHub's own, compiled with each `x + residual` of the
    attention / cross-attention / feed-forward block chosen by
    `laurel.placement` replaced by `Laurel([fx, x, ...])`
    (`keras_laurel.transformers.families.DECODER_ADDITIONS`). With PA the
    input and output may be `(x, x_prev1, ...)` tuples; see
    `keras_laurel.transformers.history`.
    """

    call = _CALL

    def __init__(self, *args, laurel, layer_index=0, num_layers=1, first_layer=0, **kwargs):
        _CHECK()
        # KerasHub's __init__ builds the layer when the config holds the
        # input shapes (as a deserialised one does); LAuReL's settings must
        # be in place first, so the build happens here, after them.
        decoder_sequence_shape = kwargs.pop("decoder_sequence_shape", None)
        encoder_sequence_shape = kwargs.pop("encoder_sequence_shape", None)
        super().__init__(*args, **kwargs)
        self._laurel_init(laurel, layer_index, num_layers, first_layer)
        if decoder_sequence_shape:
            self.build(decoder_sequence_shape, encoder_sequence_shape)

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        hidden_shape = self._laurel_main_shape(decoder_sequence_shape)
        super().build(hidden_shape, encoder_sequence_shape)
        self._laurel_build(hidden_shape, has_cross_attention=encoder_sequence_shape is not None)

    def compute_output_shape(self, decoder_sequence_shape, *args, **kwargs):
        return self._laurel_output_shape(self._laurel_main_shape(decoder_sequence_shape))

    def get_config(self):
        return self._laurel_get_config(super().get_config())
