"""LAuReL versions of KerasHub backbones built from transformer layers.

A KerasHub backbone builds its functional graph in `__init__` from its
config, calling `TransformerDecoder(...)` / `TransformerEncoder(...)` once per
layer. `laurel_backbone_class(GPT2Backbone)` is a subclass,
`LaurelGPT2Backbone`, whose `__init__` runs the very same code with those two
names bound to the LAuReL layers (`keras_laurel.internals.names_bound_in_init`,
under a lock, restored on exit), and whose config adds the `laurel`
settings. So the result *is* a `GPT2Backbone` (same attributes:
`token_embedding`, `transformer_layers`, ...), works inside `GPT2CausalLM`
including cached generation, and saves / loads like any KerasHub backbone;
a plain `GPT2Backbone` built at any other time is unaffected.
"""

import keras
from keras_hub.layers import TransformerDecoder
from keras_hub.layers import TransformerEncoder

from keras_laurel import internals
from keras_laurel.layers.settings import LaurelSettings
from keras_laurel.rewriting import laurel_backbone_subclass
from keras_laurel.transformers.decoder import LaurelTransformerDecoder
from keras_laurel.transformers.decoders import laurel_decoder_class
from keras_laurel.transformers.decoders import plain_outputs_class
from keras_laurel.transformers.encoder import LaurelTransformerEncoder
from keras_laurel.transformers.families import FAMILIES
from keras_laurel.transformers.families import family_of

_GENERIC = (
    (TransformerDecoder, LaurelTransformerDecoder),
    (TransformerEncoder, LaurelTransformerEncoder),
)
_CLASSES = {}


def generic_layer_class(cls):
    """The LAuReL layer for KerasHub's `TransformerDecoder` /
    `TransformerEncoder`, or for a KerasHub subclass of them that keeps their
    `call` (Whisper's `WhisperEncoder` / `WhisperDecoder` override `build`
    only): a registered subclass of both, its `call` the compiled generic one.
    `None` for any other class (Moonshine's blocks have a `call` of their own)."""
    if not isinstance(cls, type) or not cls.__module__.startswith("keras_hub"):
        return None
    for generic, laurel in _GENERIC:
        if issubclass(cls, generic) and cls.call is generic.call:
            if cls is generic:
                return laurel
            if cls not in _CLASSES:
                subclass = type(
                    f"Laurel{cls.__name__}",
                    (laurel, cls),
                    {
                        "__module__": __name__,
                        "__doc__": f"`{cls.__name__}` with LAuReL residual connections "
                        f"(`{laurel.__name__}`'s `call` and sites, `{cls.__name__}`'s build).",
                    },
                )
                _CLASSES[cls] = keras.saving.register_keras_serializable(package="keras_laurel")(
                    subclass
                )
            return _CLASSES[cls]
    return None


def _init_names(base):
    names = {}
    for space in internals.init_namespaces(base):
        names.update({k: v for k, v in space.items() if k not in names})
    return names


def _layers_argument(family):
    """The backbone argument that counts a family's layers (`num_layers` for
    KerasHub's generic layers)."""
    if family is None:
        return "num_layers"
    if family.stacks_arguments:
        return family.stacks_arguments[0]
    return family.stages_argument or family.layers_argument


def _stages(family, kwargs):
    """The number of layers of each stage (or stack) of a family's layers,
    from the backbone's arguments."""
    if family is not None and family.stages_argument:
        return [int(n) for n in kwargs[family.stages_argument]]
    if family is not None and family.stacks_arguments:
        counts = [int(kwargs.get(name) or 0) for name in family.stacks_arguments]
        return [n for n in counts if n > 0]
    return [int(kwargs[_layers_argument(family)])] * (family.stacks if family else 1)


def _families(family):
    """A family and its companion (a second layer class of the same backbone)."""
    return [f for f in (family, family and family.companion) if f is not None]


def replacements(base):
    """`{name in the backbone's module: LAuReL layer class}` for the layers
    `base.__init__` builds; `{}` when it builds none we know."""
    family = family_of(base)
    arguments = internals.init_arguments(base)
    if any(_layers_argument(f) not in arguments for f in _families(family) or [None]):
        return {}
    names = _init_names(base)
    if family is not None and family.builder is not None:
        names = internals.module_namespace(names[family.builder])
    if family is not None and all(f.decoder in names for f in _families(family)):
        return {f.decoder: laurel_decoder_class(names[f.decoder], f) for f in _families(family)}
    generic = {name: generic_layer_class(value) for name, value in names.items()}
    return {name: cls for name, cls in generic.items() if cls is not None}


def is_supported(base):
    """Whether `base`'s `__init__` builds transformer layers keras_laurel knows."""
    return bool(replacements(base))


def _factories(classes, settings, stages_of):
    """Stand-ins for the transformer layer classes: each call makes the
    LAuReL layer, numbered in the order the backbone creates them, within
    its stage (`stages_of[name]` lists the layers of each stage of that
    class; one stage but for Swin, MiT and T5's two stacks)."""
    created = {name: 0 for name in classes}
    layers = []  # every layer made, in order

    def factory(name):
        stages = stages_of[name]
        starts = [sum(stages[:s]) for s in range(len(stages))]

        def make(*args, **kwargs):
            index = created[name]
            created[name] += 1
            stage = max(s for s, start in enumerate(starts) if start <= index)
            layer = classes[name](
                *args,
                laurel=settings,
                layer_index=index - starts[stage],
                num_layers=stages[stage],
                first_layer=starts[stage],
                **kwargs,
            )
            layers.append(layer)
            return layer

        return make

    return {name: factory(name) for name in classes}, layers


def _number_sites(layers):
    """Numbers the LAuReL sites of `layers` (made in call order) one after the
    other: BART's encoder stack, then its decoder stack (each layer numbers
    its sites within its own stack)."""
    for index, site in enumerate(site for layer in layers for site in layer.laurel_sites()):
        site.site_index = index


def laurel_backbone_class(base):
    """The registered LAuReL subclass of a KerasHub transformer backbone class."""
    if base in _CLASSES:
        return _CLASSES[base]
    classes = replacements(base)
    if not classes:
        raise ValueError(
            f"rewrite: {base.__name__} is not a KerasHub transformer backbone "
            f"keras_laurel supports; the supported ones are {list(KNOWN_BACKBONES)}."
        )

    def __init__(self, *args, laurel, **kwargs):
        family = family_of(base)
        for counted in _families(family) or [None]:
            counted_by = _layers_argument(counted)
            if kwargs.get(counted_by) is None:
                raise ValueError(f"Laurel{base.__name__}: pass `{counted_by}` by keyword.")
        if isinstance(laurel, dict):
            laurel = LaurelSettings.from_config(laurel)
        groups = kwargs.get("num_groups", kwargs.get("num_layers"))
        if laurel.use_pa and groups != kwargs.get("num_layers"):
            # ALBERT: `num_groups` layers called over `num_layers` depths; a
            # shared layer cannot hand PA's history on at one depth and end
            # it at the last.
            raise ValueError(
                f"rewrite: {base.__name__} shares its {groups} layer group(s) over "
                f"{kwargs['num_layers']} layers, which PA cannot mix across; "
                "use rw, lr or rw+lr (or num_groups=num_layers)."
            )
        if laurel.use_pa and kwargs.get("intermediate_output_index") is not None:
            # CLIP's / MetaCLIP 2's towers output one block's hidden state,
            # which with PA is a tuple (the hidden state and its history).
            raise ValueError(
                f"rewrite: {base.__name__} outputs the hidden state of block "
                f"{kwargs['intermediate_output_index']} (`intermediate_output_index`), "
                "which PA would hand on with its history; use rw, lr or rw+lr, or "
                "intermediate_output_index=None."
            )
        between = family.dropout_between_layers if family else None
        if laurel.use_pa and between and kwargs.get(between):
            # RWKV-7: the backbone's dropout between blocks takes one tensor.
            raise ValueError(
                f"rewrite: {base.__name__} applies a dropout between its layers "
                f"(`{between}`={kwargs[between]!r}), which PA's history cannot pass; use "
                f"rw, lr or rw+lr, or {between}=0."
            )
        builders = (_init_names(base)[family.builder],) if family and family.builder else ()
        stages_of = {f.decoder: _stages(f, kwargs) for f in _families(family)}
        stages_of = {name: stages_of.get(name) or _stages(None, kwargs) for name in classes}
        factories, layers = _factories(classes, laurel, stages_of)
        if family and family.collector:
            factories[family.collector] = plain_outputs_class(_init_names(base)[family.collector])
        with internals.names_bound_in_init(base, factories, builders=builders):
            base.__init__(self, *args, **kwargs)
        if family and family.stacks_arguments:
            # A stack its arguments count but the backbone did not build
            # (VideoPrism's auxiliary encoder without a text encoder) would
            # shift every later layer's place in its stack.
            counted = sum(stages_of[family.decoder])
            if len(layers) != counted:
                raise ValueError(
                    f"rewrite: {base.__name__} built {len(layers)} {family.decoder} layers "
                    f"where {list(family.stacks_arguments)} count {counted}; set the "
                    "count of a stack it does not build to 0."
                )
        _number_sites(layers)
        self.laurel = laurel

    def get_config(self):
        config = base.get_config(self)
        config["laurel"] = self.laurel.get_config()
        return config

    cls = laurel_backbone_subclass(base, {"__init__": __init__, "get_config": get_config}, __name__)
    _CLASSES[base] = cls
    return cls


def register_known_backbones():
    """Registers the LAuReL classes of the KerasHub backbones known to work,
    so that saved models load without calling `rewrite` first."""
    import keras_hub

    for name in KNOWN_BACKBONES:
        base = getattr(keras_hub.models, name, None)
        try:
            if base is not None and is_supported(base):
                laurel_backbone_class(base)
        except internals.InternalsError:
            # This KerasHub version's layer code differs from the family's
            # description: `rewrite` of this backbone raises the error, and
            # tests/test_decoder_llms.py names it; other models are unaffected.
            continue


# Built from keras_hub.layers.TransformerDecoder / TransformerEncoder; tested
# in tests/test_transformers.py (identity at init, weights copied).
GENERIC_BACKBONES = (
    "GPT2Backbone",
    "OPTBackbone",
    "BertBackbone",
    "RobertaBackbone",
    "DistilBertBackbone",
    "XLMRobertaBackbone",
    "BartBackbone",
    "AlbertBackbone",  # its layers share one encoder layer, so they share LAuReL too
    "ElectraBackbone",
    "WhisperBackbone",  # WhisperEncoder / WhisperDecoder: the generic `call`
)
# Plus the families of keras_laurel.transformers.families (tested in
# tests/test_decoder_llms.py and tests/test_vision_transformers.py).
KNOWN_BACKBONES = GENERIC_BACKBONES + tuple(
    name for family in FAMILIES for name in family.backbones
)
