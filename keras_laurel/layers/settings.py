"""`LaurelSettings`: every LAuReL setting in one validated value.

The layers, `keras_laurel.rewrite`, the transformer layers, the adapters and
the comparison harness all take or build one `LaurelSettings`; nothing else
holds a list of the settings or a default for any of them.
"""

import dataclasses

import keras

from keras_laurel.layers.initializers import get_initializer
from keras_laurel.layers.variants import BRANCH_SCALES
from keras_laurel.layers.variants import DEPTH_AVERAGE
from keras_laurel.layers.variants import NORMALIZATIONS
from keras_laurel.layers.variants import STREAM_VARIANTS
from keras_laurel.layers.variants import VARIANTS
from keras_laurel.layers.variants import canonical_variant

# Which residual connections of a transformer layer get LAuReL.
PLACEMENTS = ("attention", "feedforward", "both")

# The forms of LAuReL-LR: the paper's `fx + x + (x A) B`, and Gemma 3n's
# `(fx + x + x + RMSNorm((x A) B)) / sqrt(2)` (docs/method.md compares them).
LR_FORMS = ("paper", "gemma3n")

# The settings that fix a LAuReL layer's weights and what they mean; a saved
# adapter must agree with the model on these.
STRUCTURE = (
    "variant",
    "rank",
    "k",
    "normalization",
    "per_channel",
    "axis",
    "lr_form",
    "streams",
    "dynamic",
)

_INITIALIZERS = ("a_initializer", "b_initializer", "gamma_initializer")
# Each weight's regularizer and constraint (`rw_`: RW's alpha and beta, or
# their logits; `norm_scale_`: the Gemma 3n form's RMSNorm scale).
WEIGHTS = ("rw", "a", "b", "gamma", "norm_scale")
_REGULARIZERS = tuple(f"{w}_regularizer" for w in WEIGHTS)
_CONSTRAINTS = tuple(f"{w}_constraint" for w in WEIGHTS)
_DEFAULT_K = 3  # activations PA mixes, the current one included (the paper's k)
_DEFAULT_STREAMS = 4  # hyper-connections' n (the papers' main setting)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _initializer_identifier(name, value):
    """A JSON-able identifier (a name or a serialised config) of an initialiser."""
    if value is None and name == "gamma_initializer":
        return None
    if isinstance(value, dict):
        get_initializer(keras.initializers.deserialize(value))
        return value
    try:
        initializer = get_initializer(value)
    except (ValueError, TypeError):
        initializer = None
    if initializer is None:
        raise ValueError(
            f"`{name}` must be a Keras initializer, its name or its config; received {value!r}."
        )
    if isinstance(value, str):
        return value
    return keras.initializers.serialize(initializer)


def _keras_object_identifier(name, value, module):
    """A JSON-able identifier (`None`, a name or a serialised config) of a
    regularizer or constraint (`module`: `keras.regularizers` or
    `keras.constraints`)."""
    if value is None:
        return None
    kind = module.__name__.rsplit(".", 1)[-1][:-1]
    try:
        instance = module.get(value)
    except (ValueError, TypeError):
        instance = None
    if instance is None:
        raise ValueError(
            f"`{name}` must be None or a Keras {kind}, its name or its config; received {value!r}."
        )
    if isinstance(value, (str, dict)):
        return value
    return module.serialize(instance)


@dataclasses.dataclass(frozen=True)
class LaurelSettings:
    """The settings of LAuReL residual connections, validated once.

    Made directly, or from the keyword arguments of `keras_laurel.Laurel` and
    `keras_laurel.rewrite`, which build one. Invalid values raise at once:
    `TypeError` for a value of the wrong type, `ValueError` for a value out of
    range, each naming the argument.

    Args:
        variant: one of `keras_laurel.VARIANTS` (`"rw"`, `"lr"`, `"pa"` joined
            with `"+"`, in any order), kept in canonical `rw+lr+pa` order; or
            one of `keras_laurel.BRANCH_SCALES`, the RW-family relatives
            `"layerscale"` (`x + lambda f(x)`, `lambda` per channel) and
            `"rezero"` (`x + alpha f(x)`, one scalar); or one of
            `keras_laurel.STREAM_VARIANTS`, `"hc"` (hyper-connections) and
            `"mhc"` (manifold-constrained hyper-connections), which carry `n`
            residual streams through a transformer's layers; or
            `"denseformer"`, DenseFormer's depth-weighted average of every
            earlier layer's output after each transformer layer.
        rank: rank of the low-rank factors; an integer >= 1 with `"lr"`,
            `None` otherwise.
        k: activations mixed by PA, the current one included (>= 1); `None`
            gives 3 with `"pa"` and must stay `None` without it.
        normalization: how RW bounds `alpha`, `beta`: `"softmax"`,
            `"sigmoid"` or `None`.
        per_channel: RW learns `alpha` and `beta` per channel.
        a_initializer, b_initializer, gamma_initializer: initialisers of
            `A`, `B` and PA's `gamma` (a name, a config or an instance;
            `"column_orthogonal"` for `A` is the paper's LLM initialisation,
            `gamma_initializer=None` the identity-preserving default).
        axis: the channel axis; `None` means "the model's": `-1`, or `1` for
            a channels-first model (`rewrite` reads its `data_format`).
        placement: transformer layers only: which residual connections of
            each layer get LAuReL, `"attention"`, `"feedforward"` or `"both"`;
            `None` takes the rewriter's default (`"attention"`).
        init_value: `"layerscale"` and `"rezero"` only: the initial
            `lambda` or `alpha`; `None` gives 1.0, the plain residual (the
            papers train from scratch with 1e-5 to 0.1 for LayerScale and 0.0
            for ReZero).
        streams: `"hc"` and `"mhc"` only: `n`, the number of residual
            streams (>= 2); `None` gives 4.
        dynamic: `"hc"` only: the input-dependent (dynamic) hyper-connections
            of the paper's main results (`True`, what `None` gives) or the
            static ones (`False`).
        lr_form: variant `"lr"` only: `"paper"` (`fx + x + (x A) B`, the
            plain residual at init) or `"gemma3n"`, Gemma 3n's form
            (`(fx + x + x + RMSNorm((x A) B)) / sqrt(2)`, not the plain
            residual at init; see docs/method.md).
        rw_regularizer, a_regularizer, b_regularizer, gamma_regularizer,
            norm_scale_regularizer: regularizers of RW's weights (`alpha`,
            `beta` or their logits; LayerScale's `lambda`, ReZero's `alpha`),
            `A`, `B`, `gamma` and the Gemma 3n
            form's norm scale (a name, a config or an instance; `None`).
        rw_constraint, a_constraint, b_constraint, gamma_constraint,
            norm_scale_constraint: constraints of the same weights.

    Example:

    >>> settings = LaurelSettings("lr+rw", rank=8)
    >>> settings.variant, settings.k
    ('rw+lr', None)
    >>> layer = keras_laurel.Laurel.from_settings(settings)
    """

    variant: str = "rw"
    rank: int = None
    k: int = None
    normalization: str = "softmax"
    per_channel: bool = False
    a_initializer: object = "glorot_uniform"
    b_initializer: object = "zeros"
    gamma_initializer: object = None
    axis: int = None
    placement: str = None
    init_value: float = None
    streams: int = None
    dynamic: bool = None
    lr_form: str = "paper"
    rw_regularizer: object = None
    a_regularizer: object = None
    b_regularizer: object = None
    gamma_regularizer: object = None
    norm_scale_regularizer: object = None
    rw_constraint: object = None
    a_constraint: object = None
    b_constraint: object = None
    gamma_constraint: object = None
    norm_scale_constraint: object = None

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        if not isinstance(self.variant, str):
            raise TypeError(
                f"`variant` must be a string, one of {list(VARIANTS)}; "
                f"received {self.variant!r} of type {type(self.variant).__name__}."
            )
        put("variant", canonical_variant(self.variant, owner=None))
        parts = self.variant.split("+")
        if "lr" in parts:
            if not _is_int(self.rank):
                raise TypeError(
                    f"`rank` must be an integer >= 1 for variant {self.variant!r}; "
                    f"received {self.rank!r}."
                )
            if self.rank < 1:
                raise ValueError(
                    f"`rank` must be an integer >= 1 for variant {self.variant!r}; "
                    f"received {self.rank!r}."
                )
        elif self.rank is not None:
            raise ValueError(
                "`rank` applies only to variants with 'lr' (low rank); "
                f"received rank={self.rank!r} for {self.variant!r}."
            )
        self._check_count(
            "k", "pa" in parts, _DEFAULT_K, 1, "variants with 'pa' (previous activations)"
        )
        if self.variant in BRANCH_SCALES:
            if self.init_value is None:
                put("init_value", 1.0)
            if isinstance(self.init_value, bool) or not isinstance(self.init_value, (int, float)):
                raise TypeError(f"`init_value` must be a number; received {self.init_value!r}.")
            put("init_value", float(self.init_value))
        elif self.init_value is not None:
            raise ValueError(
                f"`init_value` applies only to variants {list(BRANCH_SCALES)}; received "
                f"init_value={self.init_value!r} for {self.variant!r}."
            )
        self._check_count(
            "streams",
            self.variant in STREAM_VARIANTS,
            _DEFAULT_STREAMS,
            2,
            f"variants {list(STREAM_VARIANTS)}",
        )
        if self.variant == "hc":
            if self.dynamic is None:
                put("dynamic", True)
            if not isinstance(self.dynamic, bool):
                raise TypeError(f"`dynamic` must be True or False; received {self.dynamic!r}.")
        elif self.dynamic is not None:
            raise ValueError(
                "`dynamic` applies only to variant 'hc'; received "
                f"dynamic={self.dynamic!r} for {self.variant!r}."
            )
        if self.variant in STREAM_VARIANTS + BRANCH_SCALES + (DEPTH_AVERAGE,) and (
            self.normalization != "softmax" or self.per_channel
        ):
            raise ValueError(
                "`normalization` and `per_channel` apply to RW's alpha and beta; variant "
                f"{self.variant!r} has neither; received normalization={self.normalization!r}, "
                f"per_channel={self.per_channel!r}."
            )
        if self.normalization not in NORMALIZATIONS:
            error = TypeError if not isinstance(self.normalization, str) else ValueError
            raise error(
                f"`normalization` must be one of {list(NORMALIZATIONS)}; "
                f"received {self.normalization!r}."
            )
        if not isinstance(self.per_channel, bool):
            raise TypeError(f"`per_channel` must be True or False; received {self.per_channel!r}.")
        for name in _INITIALIZERS:
            put(name, _initializer_identifier(name, getattr(self, name)))
        for name in _REGULARIZERS:
            put(name, _keras_object_identifier(name, getattr(self, name), keras.regularizers))
        for name in _CONSTRAINTS:
            put(name, _keras_object_identifier(name, getattr(self, name), keras.constraints))
        if self.axis is not None and not _is_int(self.axis):
            raise TypeError(
                f"`axis` must be an integer (or None for the model's channel axis); "
                f"received {self.axis!r}."
            )
        if self.placement is not None:
            if not isinstance(self.placement, str):
                raise TypeError(
                    f"`placement` must be one of {list(PLACEMENTS)} or None; "
                    f"received {self.placement!r}."
                )
            if self.placement not in PLACEMENTS:
                raise ValueError(
                    f"`placement` must be one of {list(PLACEMENTS)} or None; "
                    f"received {self.placement!r}."
                )

        if not isinstance(self.lr_form, str):
            raise TypeError(
                f"`lr_form` must be one of {list(LR_FORMS)}; received {self.lr_form!r}."
            )
        if self.lr_form not in LR_FORMS:
            raise ValueError(
                f"`lr_form` must be one of {list(LR_FORMS)}; received {self.lr_form!r}."
            )
        if self.lr_form != "paper" and self.variant != "lr":
            raise ValueError(
                f"`lr_form`={self.lr_form!r} applies to variant 'lr' alone; received "
                f"variant {self.variant!r}."
            )

    def _check_count(self, name, applies, default, least, which):
        """The integer setting `name`: `default` where `None` and the variant
        uses it (`applies`), at least `least`; `None` where it does not."""
        value = getattr(self, name)
        if not applies:
            if value is not None:
                raise ValueError(
                    f"`{name}` applies only to {which}; received {name}={value!r} "
                    f"for {self.variant!r}."
                )
            return
        if value is None:
            value = default
            object.__setattr__(self, name, value)
        if not _is_int(value):
            raise TypeError(f"`{name}` must be an integer >= {least}; received {value!r}.")
        if value < least:
            raise ValueError(f"`{name}` must be an integer >= {least}; received {value!r}.")

    @property
    def parts(self):
        return tuple(self.variant.split("+"))

    @property
    def branch_scale(self):
        """The variant when it is LayerScale or ReZero, else `None`."""
        return self.variant if self.variant in BRANCH_SCALES else None

    @property
    def uses_streams(self):
        """Whether the variant carries n residual streams (hc, mhc)."""
        return self.variant in STREAM_VARIANTS

    @property
    def uses_depth_average(self):
        """Whether the variant is DenseFormer's (an average after each layer)."""
        return self.variant == DEPTH_AVERAGE

    @property
    def use_rw(self):
        return "rw" in self.parts

    @property
    def use_lr(self):
        return "lr" in self.parts

    @property
    def use_pa(self):
        return "pa" in self.parts

    def initializer(self, name):
        """A fresh initialiser for `"a"`, `"b"` or `"gamma"` (`None` for the
        identity-preserving `gamma`: 1 with low-rank terms, 0 without)."""
        identifier = getattr(self, f"{name}_initializer")
        if identifier is None:
            return keras.initializers.get("ones" if self.use_lr else "zeros")
        if isinstance(identifier, dict):
            identifier = keras.initializers.deserialize(identifier)
        return get_initializer(identifier)

    def regularizer(self, weight):
        """The regularizer of `weight` (one of `WEIGHTS`), or `None`."""
        return keras.regularizers.get(getattr(self, f"{weight}_regularizer"))

    def constraint(self, weight):
        """The constraint of `weight` (one of `WEIGHTS`), or `None`."""
        return keras.constraints.get(getattr(self, f"{weight}_constraint"))

    @classmethod
    def create(cls, owner=None, /, **kwargs):
        """`LaurelSettings(**kwargs)` whose errors start with `owner: `."""
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as error:
            if owner is None:
                raise
            raise type(error)(f"{owner}: {error}") from None

    def replace(self, **changes):
        """A copy with `changes` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    def with_axis(self, default_axis):
        """These settings with `axis=None` resolved to `default_axis`."""
        return self if self.axis is not None else self.replace(axis=default_axis)

    def get_config(self):
        """A JSON-able dict of every setting (`from_config` inverts it)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def layer_kwargs(self, names=None):
        """The settings a LAuReL layer takes, as keyword arguments: every one
        but `placement` (a rewriter's), or those in `names`."""
        names = LAYER_SETTINGS if names is None else names
        return {name: getattr(self, name) for name in names}

    def structure(self):
        """The settings that fix the weights' shapes and meaning."""
        return {key: getattr(self, key) for key in STRUCTURE}


def settings_from(settings, owner, **kwargs):
    """`settings` itself (a `LaurelSettings`, with no `kwargs`), or
    `LaurelSettings(**kwargs)` if `settings` is a variant name or `None`."""
    if isinstance(settings, LaurelSettings):
        if kwargs:
            raise TypeError(
                f"{owner}: pass either a LaurelSettings or keyword settings, not "
                f"both; received a LaurelSettings and {sorted(kwargs)}."
            )
        return settings
    if settings is not None:
        kwargs["variant"] = settings
    unknown = sorted(set(kwargs) - {f.name for f in dataclasses.fields(LaurelSettings)})
    if unknown:
        raise TypeError(
            f"{owner}: unknown LAuReL setting(s) {unknown}; the settings are "
            f"{[f.name for f in dataclasses.fields(LaurelSettings)]}."
        )
    return LaurelSettings.create(owner, **kwargs)


# The settings a `keras_laurel.Laurel` layer takes: all but the rewriter's
# (`placement`, and the streams the hyper-connections carry between layers).
LAYER_SETTINGS = tuple(
    f.name
    for f in dataclasses.fields(LaurelSettings)
    if f.name not in ("placement", "streams", "dynamic")
)
