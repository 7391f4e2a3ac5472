"""`keras_hub.layers.TransformerDecoder` with LAuReL residual connections."""

import keras
from keras_hub.layers import TransformerDecoder

from keras_laurel.internals import merge_padding_and_attention_mask
from keras_laurel.transformers.sites import LaurelSitesMixin


@keras.saving.register_keras_serializable(package="keras_laurel")
class LaurelTransformerDecoder(LaurelSitesMixin, TransformerDecoder):
    """A `TransformerDecoder` whose residual connections are LAuReL layers.

    Same sublayers, weights and arguments as KerasHub's decoder, plus
    `laurel` (the settings, see `keras_laurel.rewrite`), `layer_index` and
    `num_layers` (to know how much PA history it receives and passes on).
    Each `x = x + residual` of the attention / cross-attention / feed-forward
    block chosen by `laurel.placement` becomes `Laurel([fx, x, ...])`.
    With PA the input and output may be `(x, x_prev1, ...)` tuples; see
    `keras_laurel.transformers.history`.
    """

    def __init__(self, *args, laurel, layer_index=0, num_layers=1, first_layer=0, **kwargs):
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

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        decoder_attention_mask=None,
        encoder_padding_mask=None,
        encoder_attention_mask=None,
        self_attention_cache=None,
        self_attention_cache_update_index=None,
        cross_attention_cache=None,
        cross_attention_cache_update_index=None,
        use_causal_mask=True,
        training=None,
    ):
        # The body follows TransformerDecoder.call, LAuReL at each residual.
        x, history = self._laurel_unpack(decoder_sequence)
        has_cross_attention = self._cross_attention_layer is not None
        if has_cross_attention != (encoder_sequence is not None):
            raise ValueError(
                f"LaurelTransformerDecoder '{self.name}': `encoder_sequence` must "
                "be given if and only if the layer was built with cross-attention."
            )
        self_attention_mask = self._compute_self_attention_mask(
            decoder_sequence=x,
            decoder_padding_mask=decoder_padding_mask,
            decoder_attention_mask=decoder_attention_mask,
            use_causal_mask=use_causal_mask,
            self_attention_cache=self_attention_cache,
            self_attention_cache_update_index=self_attention_cache_update_index,
        )

        residual = x
        if self.normalize_first:
            x = self._self_attention_layer_norm(x)
        attention_output = self._self_attention_layer(
            query=x,
            value=x,
            attention_mask=self_attention_mask,
            cache=self_attention_cache,
            cache_update_index=self_attention_cache_update_index,
            training=training,
        )
        if self_attention_cache is None:
            x = attention_output
        else:
            x, self_attention_cache = attention_output
        x = self._self_attention_dropout(x, training=training)
        x, history = self._laurel_residual("attention", x, residual, history)
        if not self.normalize_first:
            x = self._self_attention_layer_norm(x)

        if has_cross_attention:
            cross_attention_mask = merge_padding_and_attention_mask(
                encoder_sequence, encoder_padding_mask, encoder_attention_mask
            )
            residual = x
            if self.normalize_first:
                x = self._cross_attention_layer_norm(x)
            attention_output = self._cross_attention_layer(
                query=x,
                value=encoder_sequence,
                attention_mask=cross_attention_mask,
                cache=cross_attention_cache,
                cache_update_index=cross_attention_cache_update_index,
                training=training,
            )
            if cross_attention_cache is None:
                x = attention_output
            else:
                x, cross_attention_cache = attention_output
            x = self._cross_attention_dropout(x, training=training)
            x, history = self._laurel_residual("cross_attention", x, residual, history)
            if not self.normalize_first:
                x = self._cross_attention_layer_norm(x)

        x, history = self._laurel_feedforward(x, history, training)

        output = self._laurel_pack(x, history)
        if self_attention_cache is None:
            return output
        if has_cross_attention:
            return output, self_attention_cache, cross_attention_cache
        return output, self_attention_cache

    def compute_output_shape(self, decoder_sequence_shape, *args, **kwargs):
        return self._laurel_output_shape(self._laurel_main_shape(decoder_sequence_shape))

    def get_config(self):
        return self._laurel_get_config(super().get_config())
