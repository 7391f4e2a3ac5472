"""`keras_hub.layers.TransformerEncoder` with LAuReL residual connections."""

import keras
from keras_hub.layers import TransformerEncoder

from keras_laurel.transformers.compiled import compiled_call
from keras_laurel.transformers.families import ENCODER_ADDITIONS
from keras_laurel.transformers.sites import LaurelSitesMixin

_CALL, _CHECK = compiled_call(TransformerEncoder, ENCODER_ADDITIONS)


@keras.saving.register_keras_serializable(package="keras_laurel")
class LaurelTransformerEncoder(LaurelSitesMixin, TransformerEncoder):
    """A `TransformerEncoder` whose residual connections are LAuReL layers.

    The encoder counterpart of `LaurelTransformerDecoder`: same sublayers and
    weights as KerasHub's, and KerasHub's own `call` compiled with the
    attention and/or feed-forward `x + residual` (`laurel.placement`) through
    `Laurel` (`keras_laurel.transformers.families.ENCODER_ADDITIONS`).
    """

    call = _CALL

    def __init__(self, *args, laurel, layer_index=0, num_layers=1, first_layer=0, **kwargs):
        _CHECK()
        super().__init__(*args, **kwargs)
        self._laurel_init(laurel, layer_index, num_layers, first_layer)

    def build(self, inputs_shape):
        hidden_shape = self._laurel_main_shape(inputs_shape)
        super().build(hidden_shape)
        self._laurel_build(hidden_shape)

    def compute_output_shape(self, inputs_shape):
        return self._laurel_output_shape(self._laurel_main_shape(inputs_shape))

    def get_config(self):
        return self._laurel_get_config(super().get_config())
