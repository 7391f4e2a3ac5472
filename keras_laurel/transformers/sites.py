"""The LAuReL part shared by the transformer encoder and decoder layers."""

from keras_laurel.layers.laurel import Laurel
from keras_laurel.layers.settings import LaurelSettings
from keras_laurel.transformers.history import DEFAULT_PLACEMENT
from keras_laurel.transformers.history import history_length
from keras_laurel.transformers.history import sites_in_layer


def transformer_settings(settings):
    """`settings` as a transformer layer keeps them: `placement` resolved
    (default `"attention"`) and the channel axis the hidden one (`-1`)."""
    if settings.axis not in (None, -1, 2):
        raise ValueError(
            "rewrite: transformer hidden states are (batch, sequence, hidden), "
            "so LAuReL's channel `axis` is the hidden axis, -1; received "
            f"axis={settings.axis!r}."
        )
    return settings.replace(axis=-1, placement=settings.placement or DEFAULT_PLACEMENT)


class LaurelSitesMixin:
    """Adds LAuReL residual connections to a KerasHub transformer layer.

    The host layer calls `_laurel_init` in `__init__` and `_laurel_build` in
    `build`; its `call`, compiled from KerasHub's own
    (`keras_laurel.internals.residual_call`), calls `_laurel_site(site, fx,
    x, history)` where KerasHub computes `fx + x`, and `_laurel_unpack` /
    `_laurel_pack_output` for the PA history tuple (see
    `keras_laurel.transformers.history`).
    """

    def _laurel_init(self, laurel, layer_index, num_layers, first_layer=0):
        if isinstance(laurel, dict):
            laurel = LaurelSettings.from_config(laurel)
        if not isinstance(laurel, LaurelSettings):
            raise TypeError(
                f"{type(self).__name__}: `laurel` must be a LaurelSettings or its "
                f"config dict; received {type(laurel).__name__}."
            )
        self.laurel = transformer_settings(laurel)
        self.layer_index = int(layer_index)
        self.num_layers = int(num_layers)
        # Where this layer's stage starts in the backbone (Swin: PA's history
        # restarts at every stage; `layer_index` and `num_layers` count within it).
        self.first_layer = int(first_layer)
        self._uses_pa = self.laurel.use_pa

    @property
    def _k(self):
        return self.laurel.k if self._uses_pa else 0

    def _laurel_site_names(self, has_cross_attention=False):
        """The residual connections of this layer that get LAuReL, in call order."""
        return sites_in_layer(self.laurel.placement, has_cross_attention)

    def _laurel_build(self, hidden_shape, has_cross_attention=False):
        self._site_names = self._laurel_site_names(has_cross_attention)
        per_layer = len(self._site_names)
        self._first_site = self.layer_index * per_layer
        self.laurel_layers = {}
        for offset, site in enumerate(self._site_names):
            layer = Laurel.from_settings(
                self.laurel, name=f"{site}_laurel", dtype=self.dtype_policy
            )
            history = history_length(self._first_site + offset, self._k)
            layer.build([hidden_shape] * (2 + history))
            # The place in the backbone's call order (for a stack of one
            # kind of layer; the backbone numbers its stacks in turn).
            layer.site_index = (self.first_layer * per_layer) + self._first_site + offset
            self.laurel_layers[site] = layer

    def laurel_sites(self):
        """This layer's `Laurel` layers, in call order (`[]` before build)."""
        return [self.laurel_layers[site] for site in getattr(self, "_site_names", ())]

    def _outgoing_history(self):
        if not self._uses_pa or self.layer_index == self.num_layers - 1:
            return 0
        return history_length(self._first_site + len(self._site_names), self._k)

    @staticmethod
    def _laurel_main_shape(shape):
        """The hidden-state shape from a plain or a history-tuple input shape."""
        if shape and isinstance(shape[0], (tuple, list)):
            return tuple(shape[0])
        return tuple(shape)

    def _laurel_unpack(self, inputs):
        if isinstance(inputs, (tuple, list)):
            return inputs[0], list(inputs[1:])
        return inputs, []

    def _laurel_residual(self, site, fx, x, history):
        """`Laurel(fx, x, history)` for `site`; returns (output, new history)."""
        layer = self.laurel_layers.get(site)
        if layer is None:
            return fx + x, history
        if not self._uses_pa:
            return layer([fx, x]), history
        previous = history[: layer.num_inputs - 2]
        out = layer([fx, x, *previous])
        return out, ([x] + history)[: self._k - 1]

    def _laurel_site(self, site, fx, x, history):
        """`_laurel_residual` for code that keeps `history` in a list: the
        list is updated in place and the output returned."""
        out, new = self._laurel_residual(site, fx, x, history)
        history[:] = new
        return out

    def _laurel_pack_output(self, output, history):
        """`output` with its hidden state packed with the PA history: the
        hidden state alone, or the first element of a tuple `(hidden, cache,
        ...)`."""
        if isinstance(output, tuple):
            return (self._laurel_pack(output[0], list(history)),) + output[1:]
        return self._laurel_pack(output, list(history))

    def _laurel_pack(self, x, history):
        keep = self._outgoing_history()
        return tuple([x] + history[:keep]) if keep else x

    def _laurel_output_shape(self, main_shape):
        keep = self._outgoing_history()
        return tuple([main_shape] * (1 + keep)) if keep else main_shape

    def _laurel_get_config(self, config):
        config.update(
            {
                "laurel": self.laurel.get_config(),
                "layer_index": self.layer_index,
                "num_layers": self.num_layers,
                "first_layer": self.first_layer,
            }
        )
        return config
