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

from keras_laurel import internals
from keras_laurel.layers.settings import LaurelSettings
from keras_laurel.transformers.decoder import LaurelTransformerDecoder
from keras_laurel.transformers.encoder import LaurelTransformerEncoder

_REPLACEMENTS = {
    "TransformerDecoder": LaurelTransformerDecoder,
    "TransformerEncoder": LaurelTransformerEncoder,
}
_CLASSES = {}


def is_supported(base):
    """Whether `base`'s `__init__` builds KerasHub transformer layers by name."""
    names = internals.init_globals(base)
    return any(name in names for name in _REPLACEMENTS) and "num_layers" in (
        internals.init_arguments(base)
    )


def _factories(settings, num_layers):
    """Stand-ins for the transformer layer classes: each call makes the
    LAuReL layer, numbered in the order the backbone creates them."""
    created = {name: 0 for name in _REPLACEMENTS}

    def factory(name):
        def make(*args, **kwargs):
            index = created[name]
            created[name] += 1
            return _REPLACEMENTS[name](
                *args, laurel=settings, layer_index=index, num_layers=num_layers, **kwargs
            )

        return make

    return {name: factory(name) for name in _REPLACEMENTS}


def laurel_backbone_class(base):
    """The registered LAuReL subclass of a KerasHub transformer backbone class."""
    if base in _CLASSES:
        return _CLASSES[base]
    if not is_supported(base):
        raise ValueError(
            f"rewrite: {base.__name__} does not build its layers from "
            "keras_hub.layers.TransformerDecoder / TransformerEncoder; the "
            f"supported KerasHub backbones are {list(KNOWN_BACKBONES)}."
        )

    def __init__(self, *args, laurel, **kwargs):
        num_layers = kwargs.get("num_layers")
        if num_layers is None:
            raise ValueError(f"Laurel{base.__name__}: pass `num_layers` by keyword.")
        if isinstance(laurel, dict):
            laurel = LaurelSettings.from_config(laurel)
        with internals.names_bound_in_init(base, _factories(laurel, num_layers)):
            base.__init__(self, *args, **kwargs)
        self.laurel = laurel

    def get_config(self):
        config = base.get_config(self)
        config["laurel"] = self.laurel.get_config()
        return config

    cls = type(
        f"Laurel{base.__name__}",
        (base,),
        {
            "__init__": __init__,
            "get_config": get_config,
            "__module__": __name__,
            "__doc__": f"`{base.__name__}` with LAuReL residual connections "
            "(see `keras_laurel.rewrite`).",
        },
    )
    cls = keras.saving.register_keras_serializable(package="keras_laurel")(cls)
    _CLASSES[base] = cls
    return cls


def register_known_backbones():
    """Registers the LAuReL classes of the KerasHub backbones known to work,
    so that saved models load without calling `rewrite` first."""
    import keras_hub

    for name in KNOWN_BACKBONES:
        base = getattr(keras_hub.models, name, None)
        if base is not None and is_supported(base):
            laurel_backbone_class(base)


# Tested (tests/test_transformers.py): identity at init, weights copied.
KNOWN_BACKBONES = (
    "GPT2Backbone",
    "OPTBackbone",
    "BertBackbone",
    "RobertaBackbone",
    "DistilBertBackbone",
    "XLMRobertaBackbone",
    "BartBackbone",
)
