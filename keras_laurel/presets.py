"""`keras_laurel.from_preset`: a plain KerasHub preset loaded into LAuReL."""

import dataclasses

from keras_laurel.layers.settings import LaurelSettings
from keras_laurel.layers.settings import settings_from
from keras_laurel.rewriting import laurel_layers
from keras_laurel.rewriting import rewrite

_SETTINGS = frozenset(f.name for f in dataclasses.fields(LaurelSettings))


def from_preset(preset, variant="rw", *, cls=None, freeze_base=False, **kwargs):
    """Loads a plain KerasHub preset into a LAuReL model, one copy of the weights.

    KerasHub loads the preset as it always does (`cls.from_preset`: Kaggle
    handles, `hf://` checkpoints through KerasHub's converters, local preset
    folders); `keras_laurel.rewrite(..., copy=False)` then builds the LAuReL
    model without allocating its weights and hands it the loaded ones, so
    the weights are in memory once. The plain model is not returned: the
    result owns its weights. Every plain weight is the preset's, and with
    the default initialisation the result computes what the plain model
    does.

    A preset saved from a LAuReL model (`save_to_preset`) already holds
    LAuReL: load it with KerasHub's own `from_preset`
    (`keras_hub.models.Llama3CausalLM.from_preset(path)`).

    Args:
        preset: what `cls.from_preset` takes.
        variant: a variant name or a `keras_laurel.LaurelSettings`, as for
            `keras_laurel.rewrite`.
        cls: the KerasHub class to load with: a task
            (`keras_hub.models.CausalLM`, `keras_hub.models.Llama3CausalLM`,
            `keras_hub.models.TextClassifier`, ...) or a backbone class;
            `None` for `keras_hub.models.Backbone`.
        freeze_base: as for `keras_laurel.rewrite`.
        **kwargs: LAuReL's settings (the fields of `LaurelSettings`:
            `rank`, `k`, `placement`, ...); any other keyword goes to
            `cls.from_preset` (`dtype`, `num_classes`, `preprocessor`, ...).

    Returns:
        The model `cls.from_preset` gives, with LAuReL: a LAuReL subclass of
        the backbone class, or of the task class.

    Example:

    >>> causal_lm = keras_laurel.from_preset(
    ...     "llama3_8b_en", "rw+lr", rank=16, cls=keras_hub.models.CausalLM
    ... )
    """
    settings = {key: kwargs.pop(key) for key in list(kwargs) if key in _SETTINGS}
    settings = settings_from(variant, "from_preset", **settings)
    if cls is None:
        import keras_hub

        cls = keras_hub.models.Backbone
    if not (isinstance(cls, type) and callable(getattr(cls, "from_preset", None))):
        raise TypeError(
            "from_preset: `cls` must be a KerasHub task or backbone class (with "
            f"`from_preset`); received {cls!r}."
        )
    model = cls.from_preset(preset, **kwargs)
    if laurel_layers(model):
        raise ValueError(
            f"from_preset: preset {preset!r} already holds a LAuReL model; load it "
            f"with KerasHub's own `{cls.__name__}.from_preset`."
        )
    return rewrite(model, settings, freeze_base=freeze_base, copy=False)
