"""The LAuReL part shared by the transformer encoder and decoder layers."""

import keras
from keras import ops

from keras_laurel import internals
from keras_laurel.layers.laurel import Laurel
from keras_laurel.layers.settings import LaurelSettings
from keras_laurel.relatives.depth_weighted_average import DepthWeightedAverage
from keras_laurel.relatives.hyper_connection import HyperConnection
from keras_laurel.relatives.manifold_hyper_connection import ManifoldHyperConnection
from keras_laurel.relatives.streams import mean_of_streams
from keras_laurel.transformers.history import DEFAULT_PLACEMENT
from keras_laurel.transformers.history import history_length
from keras_laurel.transformers.history import sites_in_layer


def transformer_settings(settings):
    """`settings` as a transformer layer keeps them: `placement` resolved
    (default `"attention"`; `"both"` for the hyper-connections and
    DenseFormer, the only placement they take) and the channel axis the
    hidden one (`-1`)."""
    if settings.axis not in (None, -1, 2):
        raise ValueError(
            "rewrite: transformer hidden states are (batch, sequence, hidden), "
            "so LAuReL's channel `axis` is the hidden axis, -1; received "
            f"axis={settings.axis!r}."
        )
    if settings.uses_streams or settings.uses_depth_average:
        if settings.placement not in (None, "both"):
            what = (
                "carries its streams through every residual connection of a layer"
                if settings.uses_streams
                else "averages whole layers' outputs"
            )
            raise ValueError(
                f"rewrite: variant {settings.variant!r} {what}, so `placement` must be "
                f"'both' (or None); received placement={settings.placement!r}."
            )
        return settings.replace(axis=-1, placement="both")
    return settings.replace(axis=-1, placement=settings.placement or DEFAULT_PLACEMENT)


def site_layer(settings, site_index, name, dtype):
    """The layer of one residual connection: `Laurel` for LAuReL's variants
    and the branch scales; DenseFormer's `DepthWeightedAverage` at a layer's
    last residual connection; for `"hc"` / `"mhc"` a `HyperConnection` /
    `ManifoldHyperConnection` around `Identity`, whose `read` and `write` the
    host layer calls around its own branch."""
    if settings.uses_depth_average:
        layer = DepthWeightedAverage(name=name, dtype=dtype)
        layer.settings = settings  # as a `Laurel` holds its own (adapters record them)
        return layer
    if not settings.uses_streams:
        return Laurel.from_settings(settings, name=name, dtype=dtype)
    if settings.variant == "hc":
        layer = HyperConnection(
            keras.layers.Identity(),
            streams=settings.streams,
            layer_index=site_index,
            dynamic=settings.dynamic,
            name=name,
            dtype=dtype,
        )
    else:
        layer = ManifoldHyperConnection(
            keras.layers.Identity(), streams=settings.streams, name=name, dtype=dtype
        )
    layer.settings = settings  # as a `Laurel` holds its own (adapters record them)
    return layer


class PlacementError(ValueError):
    """A relative that changes what a layer reads or returns (`"hc"`,
    `"mhc"`, `"denseformer"`) cannot be placed in this layer."""


class _Outputs(list):
    """The history a layer's call keeps (PA's previous activations,
    DenseFormer's earlier outputs), and DenseFormer's average, `handed`."""

    handed = None


class _Streams:
    """The residual streams inside one layer's call: `(..., n, D)`, the next
    site's position and connections, and the value handed to the layer's
    code (the next branch's input), which the next residual must add to."""

    def __init__(self, streams):
        self.streams, self.position, self.connections, self.handed = streams, 0, None, None


class LaurelSitesMixin:
    """Adds LAuReL residual connections to a KerasHub transformer layer.

    The host layer calls `_laurel_init` in `__init__` and `_laurel_build` in
    `build`; its `call`, compiled from KerasHub's own
    (`keras_laurel.internals.residual_call`), calls `_laurel_site(site, fx,
    x, history)` where KerasHub computes `fx + x`, and `_laurel_unpack` /
    `_laurel_pack_output` for the PA history tuple (see
    `keras_laurel.transformers.history`).

    With hyper-connections (`"hc"`, `"mhc"`) the hidden state travels as
    `(mean, H_1, ..., H_n)` between layers (a plain tensor out of the last):
    `_laurel_unpack` hands the code the first branch's input (the streams'
    width mix), each residual connection updates the streams and hands over
    the next branch's input, and the last hands over the streams' mean. Each
    residual must add to exactly what was handed over, and the layer must
    return what its last residual handed over: a layer that does anything
    else (a post-norm layer) is refused with a reason.

    With DenseFormer (`"denseformer"`) a layer's last residual connection
    computes its output `X_i = fx + x` and returns `Y_i`, the depth-weighted
    average of `X_i, X_(i-1), ..., X_0` (`X_0`: the first layer's input); the
    hidden state travels as `(Y_i, X_i, ..., X_0)` (a plain tensor out of the
    last layer), and the layer must return `Y_i` itself.
    """

    def _laurel_init(self, laurel, layer_index, num_layers, first_layer=0):
        if isinstance(laurel, dict):
            laurel = LaurelSettings.from_config(laurel)
        if not isinstance(laurel, LaurelSettings):
            raise TypeError(
                f"{type(self).__name__}: `laurel` must be a LaurelSettings or its "
                f"config dict; received {type(laurel).__name__}."
            )
        self.laurel_settings = transformer_settings(laurel)
        self.layer_index = int(layer_index)
        self.num_layers = int(num_layers)
        # Where this layer's stage starts in the backbone (Swin: PA's history
        # restarts at every stage; `layer_index` and `num_layers` count within it).
        self.first_layer = int(first_layer)
        self._uses_pa = self.laurel_settings.use_pa
        self._uses_streams = self.laurel_settings.uses_streams
        self._averages = self.laurel_settings.uses_depth_average

    @property
    def _k(self):
        return self.laurel_settings.k if self._uses_pa else 0

    def _laurel_site_names(self, has_cross_attention=False):
        """The residual connections of this layer that get LAuReL, in call order."""
        return sites_in_layer(self.laurel_settings.placement, has_cross_attention)

    def _laurel_build(self, hidden_shape, has_cross_attention=False):
        self._site_names = self._laurel_site_names(has_cross_attention)
        if self._averages:  # one average per layer, after its last residual
            self._site_names = self._site_names[-1:]
        per_layer = len(self._site_names)
        self._first_site = self.layer_index * per_layer
        self.laurel_layers = {}
        for offset, site in enumerate(self._site_names):
            index = (self.first_layer * per_layer) + self._first_site + offset
            layer = site_layer(self.laurel_settings, index, f"{site}_laurel", self.dtype_policy)
            if self._uses_streams:
                layer.build(
                    tuple(hidden_shape[:-1]) + (self.laurel_settings.streams, hidden_shape[-1])
                )
            elif self._averages:  # X_i, X_(i-1), ..., X_0
                layer.build([hidden_shape] * (self.layer_index + 2))
            else:
                history = history_length(self._first_site + offset, self._k)
                layer.build([hidden_shape] * (2 + history))
            # The place in the backbone's call order (for a stack of one
            # kind of layer; the backbone numbers its stacks in turn).
            layer.site_index = index
            self.laurel_layers[site] = layer

    def laurel_sites(self):
        """This layer's `Laurel` layers, in call order (`[]` before build)."""
        return [self.laurel_layers[site] for site in getattr(self, "_site_names", ())]

    def _outgoing_history(self):
        if self.layer_index == self.num_layers - 1:
            return 0
        if self._uses_streams:
            return self.laurel_settings.streams
        if self._averages:
            return self.layer_index + 2
        if not self._uses_pa:
            return 0
        return history_length(self._first_site + len(self._site_names), self._k)

    @staticmethod
    def _laurel_main_shape(shape):
        """The hidden-state shape from a plain or a history-tuple input shape."""
        if shape and isinstance(shape[0], (tuple, list)):
            return tuple(shape[0])
        return tuple(shape)

    def _laurel_unpack(self, inputs):
        if self._uses_streams:
            if isinstance(inputs, (tuple, list)):
                streams = ops.stack(list(inputs[1:]), axis=-2)
            else:  # the first layer: n copies of the embedding
                streams = ops.stack([inputs] * self.laurel_settings.streams, axis=-2)
            state = _Streams(streams)
            return self._hand_over(state, 0), state
        if isinstance(inputs, (tuple, list)):
            history = _Outputs(inputs[1:])
        else:  # DenseFormer's X_0 is the first layer's input
            history = _Outputs([inputs] if self._averages else [])
        return (inputs[0] if isinstance(inputs, (tuple, list)) else inputs), history

    def _laurel_residual(self, site, fx, x, history):
        """`Laurel(fx, x, history)` for `site`; returns (output, new history)."""
        layer = self.laurel_layers.get(site)
        if layer is None:
            return fx + x, history
        if self._averages:
            output = fx + x
            average = layer([output, *history])
            history.handed = average
            return average, [output] + history
        if not self._uses_pa:
            return layer([fx, x]), history
        previous = history[: layer.num_inputs - 2]
        out = layer([fx, x, *previous])
        return out, ([x] + history)[: self._k - 1]

    def _hand_over(self, state, position):
        """The value the layer's code continues with: the branch input of
        site `position` (its width connection), or the streams' mean after
        the last site."""
        if position < len(self._site_names):
            layer = self.laurel_layers[self._site_names[position]]
            state.handed, state.connections = layer.read(state.streams)
        else:
            state.handed = mean_of_streams(state.streams)
        state.position = position
        return state.handed

    def _refuse_streams(self, what):
        raise PlacementError(
            f"rewrite: variant {self.laurel_settings.variant!r} cannot be placed in "
            f"{type(self).__name__}: {what}, so its blocks would not read the residual "
            "streams (a post-norm layer, or a residual keras_laurel does not route); "
            "use a LAuReL variant or LayerScale / ReZero."
        )

    def _streams_site(self, site, fx, x, state):
        if self._site_names[state.position : state.position + 1] != [site]:
            self._refuse_streams(f"its residual connection '{site}' is not the next one")
        if x is not state.handed:
            self._refuse_streams(f"its residual connection '{site}' adds to another value")
        layer = self.laurel_layers[site]
        state.streams = layer.write(state.streams, fx, state.connections)
        return self._hand_over(state, state.position + 1)

    def _laurel_site(self, site, fx, x, history):
        """`_laurel_residual` for code that keeps `history` in a list: the
        list is updated in place and the output returned."""
        if self._uses_streams:
            return self._streams_site(site, fx, x, history)
        out, new = self._laurel_residual(site, fx, x, history)
        history[:] = new
        return out

    def _laurel_pack_output(self, output, history):
        """`output` with its hidden state packed with the PA history: the
        hidden state alone, or the first element of a tuple `(hidden, cache,
        ...)`."""
        hidden = output[0] if isinstance(output, tuple) else output
        if self._uses_streams:
            if hidden is not history.handed or history.position != len(self._site_names):
                self._refuse_streams("its output is not what its last residual connection gave")
            keep = self._outgoing_history()
            streams = tuple(history.streams[..., j, :] for j in range(keep))
            packed = (hidden,) + streams if keep else hidden
        else:
            if self._averages and hidden is not history.handed:
                raise PlacementError(
                    f"rewrite: variant 'denseformer' cannot be placed in {type(self).__name__}: "
                    "its output is not what its last residual connection gave (a post-norm "
                    "layer), so the average would not be the layer's output; use a LAuReL "
                    "variant or LayerScale / ReZero."
                )
            packed = self._laurel_pack(hidden, list(history))
        return (packed,) + output[1:] if isinstance(output, tuple) else packed

    def _laurel_pack(self, x, history):
        keep = self._outgoing_history()
        return tuple([x] + history[:keep]) if keep else x

    def _laurel_output_shape(self, main_shape):
        keep = self._outgoing_history()
        return tuple([main_shape] * (1 + keep)) if keep else main_shape

    def compute_output_spec(self, *args, **kwargs):
        """With hyper-connections or DenseFormer, traced through `call`
        rather than taken from the base layer's `compute_output_shape`, so
        that a layer they cannot pass through is refused when the model is
        built; a layer whose `call` cannot be traced symbolically (sparse
        inputs, keyword arguments that are not tensors) is checked at its
        first call instead."""
        if getattr(self, "_uses_streams", False) or getattr(self, "_averages", False):
            try:
                return keras.Operation.compute_output_spec(self, *args, **kwargs)
            except PlacementError as error:
                raise internals.raised_inside(error) from None
            except Exception:  # noqa: BLE001 - Keras's own tracing failed; see above
                pass
        return super().compute_output_spec(*args, **kwargs)

    def _laurel_get_config(self, config):
        config.update(
            {
                "laurel": self.laurel_settings.get_config(),
                "layer_index": self.layer_index,
                "num_layers": self.num_layers,
                "first_layer": self.first_layer,
            }
        )
        return config
