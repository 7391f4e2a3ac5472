"""`keras_hub.layers.TransformerEncoder` with LAuReL residual connections."""

import keras
from keras_hub.layers import TransformerEncoder

from keras_laurel.internals import merge_padding_and_attention_mask
from keras_laurel.transformers.sites import LaurelSitesMixin


@keras.saving.register_keras_serializable(package="keras_laurel")
class LaurelTransformerEncoder(LaurelSitesMixin, TransformerEncoder):
    """A `TransformerEncoder` whose residual connections are LAuReL layers.

    The encoder counterpart of `LaurelTransformerDecoder`: same sublayers and
    weights as KerasHub's, `x = x + residual` replaced by `Laurel` at the
    attention and/or feed-forward residual (`laurel.placement`).
    """

    def __init__(self, *args, laurel, layer_index=0, num_layers=1, first_layer=0, **kwargs):
        super().__init__(*args, **kwargs)
        self._laurel_init(laurel, layer_index, num_layers, first_layer)

    def build(self, inputs_shape):
        hidden_shape = self._laurel_main_shape(inputs_shape)
        super().build(hidden_shape)
        self._laurel_build(hidden_shape)

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        # The body follows TransformerEncoder.call, LAuReL at each residual.
        x, history = self._laurel_unpack(inputs)
        self_attention_mask = merge_padding_and_attention_mask(x, padding_mask, attention_mask)
        residual = x
        if self.normalize_first:
            x = self._self_attention_layer_norm(x)
        attention = self._self_attention_layer(
            query=x,
            value=x,
            attention_mask=self_attention_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        if return_attention_scores:
            x, attention_scores = attention
        else:
            x = attention
        x = self._self_attention_dropout(x, training=training)
        x, history = self._laurel_residual("attention", x, residual, history)
        if not self.normalize_first:
            x = self._self_attention_layer_norm(x)

        x, history = self._laurel_feedforward(x, history, training)

        output = self._laurel_pack(x, history)
        if return_attention_scores:
            return output, attention_scores
        return output

    def compute_output_shape(self, inputs_shape):
        return self._laurel_output_shape(self._laurel_main_shape(inputs_shape))

    def get_config(self):
        return self._laurel_get_config(super().get_config())
