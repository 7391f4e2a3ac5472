"""LAuReL versions of KerasHub's family decoder layers (Llama, Gemma, ...).

`laurel_decoder_class(LlamaTransformerDecoder, family)` is a subclass whose
`call` is KerasHub's own, compiled with the family's residual additions
routed through LAuReL (`keras_laurel.internals.residual_call`; the families
are described in `keras_laurel.transformers.families`). Same sublayers,
weights and arguments as the base layer, plus `laurel`, `layer_index` and
`num_layers`; with PA the hidden state travels as a tuple
`(x, x_prev1, ...)` between layers (`keras_laurel.transformers.history`).
"""

import functools
import inspect

import keras

from keras_laurel import internals
from keras_laurel.transformers.families import CROSS_ATTENTION
from keras_laurel.transformers.families import sites_for
from keras_laurel.transformers.sites import LaurelSitesMixin
from keras_laurel.transformers.sites import PlacementError

_CLASSES = {}


def laurel_decoder_class(base, family):
    """The registered LAuReL subclass of a KerasHub family decoder layer."""
    if base in _CLASSES:
        return _CLASSES[base]
    call = internals.residual_call(
        base, family.additions, inline=family.inline, paired=family.paired_input
    )
    if family.second_stream:
        call = _one_stream_with_pa(call, family.second_stream)
    methods = {
        method: internals.residual_call(base, family.additions, method=method)
        for method in family.also_methods
    }
    for helper, fx, x in family.helpers:  # the additions helper layers make
        helper_class = internals.module_namespace(base)[helper]
        internals.residual_call(helper_class, ((None, fx, x),))
    build_parameters = [
        p for p in inspect.signature(base.build).parameters.values() if p.name != "self"
    ]
    if not build_parameters or any(p.default is p.empty for p in build_parameters[1:]):
        raise internals.InternalsError(
            f"{base.__name__}.build takes {[p.name for p in build_parameters]}; "
            "keras_laurel expects the hidden state's shape first, any other optional."
        )

    def __init__(self, *args, laurel, layer_index=0, num_layers=1, first_layer=0, **kwargs):
        base.__init__(self, *args, **kwargs)
        self._laurel_init(laurel, layer_index, num_layers, first_layer)
        if family.relatives_refused and (self._uses_streams or self._averages):
            raise PlacementError(
                f"rewrite: variant {self.laurel_settings.variant!r} cannot be placed in "
                f"{base.__name__}: {family.relatives_refused}; use a LAuReL variant or "
                "LayerScale / ReZero."
            )

    hidden = build_parameters[0].name

    # The base's signature, which Keras reads to pass each shape by name
    # (Moonshine's decoder block also takes the encoder sequence's); not its
    # attributes (Keras marks its own default `build`, which Swin's block
    # inherits, as one it need not call).
    def shapes(input_shape):
        """(the hidden state's shape, the shape the base layer takes)."""
        if not family.paired_input:
            hidden_shape = LaurelSitesMixin._laurel_main_shape(input_shape)
            return hidden_shape, hidden_shape
        hidden_shape = LaurelSitesMixin._laurel_main_shape(input_shape[0])
        return hidden_shape, (hidden_shape, *input_shape[1:])

    @functools.wraps(base.build, updated=())
    def build(self, *args, **kwargs):
        bound = inspect.signature(base.build).bind(self, *args, **kwargs)
        hidden_shape, bound.arguments[hidden] = shapes(bound.arguments[hidden])
        base.build(*bound.args, **bound.kwargs)
        self._laurel_build(hidden_shape)

    def _laurel_site_names(self, has_cross_attention=False):
        flag = family.cross_attention_flag
        crossing = bool(getattr(self, flag)) if flag else CROSS_ATTENTION in family.sites
        return sites_for(family, self.laurel_settings.placement, crossing)

    def get_config(self):
        return self._laurel_get_config(base.get_config(self))

    # The base's signature again: Keras passes each shape by name (XLNet's
    # encoder takes five).
    @functools.wraps(base.compute_output_shape, updated=())
    def compute_output_shape(self, *args, **kwargs):
        bound = inspect.signature(base.compute_output_shape).bind(self, *args, **kwargs)
        first = next(name for name in bound.signature.parameters if name != "self")
        hidden_shape, bound.arguments[first] = shapes(bound.arguments[first])
        shape = base.compute_output_shape(*bound.args, **bound.kwargs)
        if not self._outgoing_history():
            return shape
        if shape and isinstance(shape[0], (tuple, list)):  # (hidden, cache, ...)
            return (self._laurel_output_shape(tuple(shape[0])),) + tuple(shape[1:])
        return self._laurel_output_shape(hidden_shape)

    cls = type(
        f"Laurel{base.__name__}",
        (LaurelSitesMixin, base),
        {
            "__init__": __init__,
            "build": build,
            "call": call,
            # The base layer's shape, or the tuple with PA's history; a base
            # without its own lets Keras trace `call`.
            "compute_output_shape": (
                keras.layers.Layer.compute_output_shape
                if internals.is_default(base.compute_output_shape)
                else compute_output_shape
            ),
            **methods,
            "_laurel_site_names": _laurel_site_names,
            "get_config": get_config,
            "family": family,
            "__module__": __name__,
            "__doc__": f"`{base.__name__}` with LAuReL residual connections at its "
            f"sites {list(family.sites)} (see `keras_laurel.transformers.families`).",
        },
    )
    cls = keras.saving.register_keras_serializable(package="keras_laurel")(cls)
    _CLASSES[base] = cls
    return cls


def _one_stream_with_pa(call, stream):
    """`call`, refusing the argument `stream` (a second stream through the
    same residual connections: XLNet's query stream) with PA, whose one
    history per layer would mix the two streams' activations."""
    signature = inspect.signature(call)

    @functools.wraps(call)
    def checked(self, *args, **kwargs):
        if (
            self._uses_pa
            and signature.bind(self, *args, **kwargs).arguments.get(stream) is not None
        ):
            raise ValueError(
                f"{type(self).__name__}: with PA (variant {self.laurel_settings.variant!r}) "
                f"`{stream}` must be None: PA mixes one stream's earlier activations, and "
                f"`{stream}` is a second stream through the same residual connections; use "
                "a variant without PA for it."
            )
        return call(self, *args, **kwargs)

    return checked


def plain_outputs_class(base):
    """A subclass of `base` (a layer that collects its blocks' outputs in
    dicts, as DINOv2's encoder does in `pyramid_outputs`) whose dicts hold
    each block's hidden state alone, not PA's history tuple. Same name,
    sublayers and weights as `base`."""
    if base in _CLASSES:
        return _CLASSES[base]

    @functools.wraps(base.call)  # Keras reads the signature of `call`
    def call(self, *args, **kwargs):
        outputs = base.call(self, *args, **kwargs)
        if not isinstance(outputs, tuple):
            return outputs
        return tuple(
            {k: v[0] if isinstance(v, (tuple, list)) else v for k, v in out.items()}
            if isinstance(out, dict)
            else out
            for out in outputs
        )

    cls = type(base.__name__, (base,), {"call": call, "__module__": __name__})
    _CLASSES[base] = cls
    return cls
