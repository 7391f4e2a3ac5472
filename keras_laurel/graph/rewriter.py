"""`rewrite`: LAuReL on the residual connections of an existing functional model."""

import dataclasses

import keras

from keras_laurel.layers.laurel import Laurel
from keras_laurel.layers.variants import canonical_variant
from keras_laurel.graph.sites import _upward_distances
from keras_laurel.graph.sites import find_residual_sites
from keras_laurel.graph.sites import select_sites

try:  # Keras 3 keeps the functional class here.
    from keras.src.models.functional import Functional
except ImportError:  # pragma: no cover
    Functional = None


@dataclasses.dataclass
class _Plan:
    site: object
    pa_sources: list  # names of earlier sites whose `x` this site mixes, newest first
    layer_kwargs: dict


def _check_functional(model):
    if isinstance(model, keras.Sequential):
        raise ValueError(
            "rewrite: `model` is a Sequential model, which has no residual "
            "connections (every layer feeds only the next). Build it with the "
            "functional API (`keras.Model(inputs, outputs)`) instead."
        )
    if not isinstance(model, keras.Model) or Functional is None or not isinstance(
        model, Functional
    ):
        raise ValueError(
            "rewrite: `model` must be a functional Keras model (built with "
            "`keras.Model(inputs, outputs)` or a KerasHub/KerasCV backbone); "
            f"received {type(model).__name__}, a subclassed model whose "
            "`call()` is Python code the rewriter cannot see. Add LAuReL layers "
            "in its `call()` directly (e.g. `keras_laurel.LaurelRW()([fx, x])`)."
        )


def _laurel_settings(variant, rank, k, **kwargs):
    variant = canonical_variant(variant, owner="rewrite")
    parts = variant.split("+")
    if "pa" in parts and k is None:
        k = 3
    try:
        Laurel(variant, rank=rank, k=k, **kwargs)  # validates every argument
    except ValueError as error:
        raise ValueError(f"rewrite: invalid LAuReL settings: {error}") from None
    return variant, k


def rewrite(
    model,
    variant="rw",
    rank=None,
    k=None,
    targets=None,
    normalization="softmax",
    per_channel=False,
    a_initializer="glorot_uniform",
    b_initializer="zeros",
    axis=None,
    freeze_base=False,
    placement=None,
):
    """Returns a copy of a functional `model` with LAuReL on its residual connections.

    Every residual `Add` chosen by `targets` becomes a `keras_laurel.Laurel`
    layer of the given variant; every other layer is cloned with its weights
    copied bit-exactly, so with the default initialisation the new model
    computes exactly what `model` does. `model` itself is never modified.

    How the residual sites are found, and which operand is `f(x)`, is
    described in `keras_laurel.graph.sites`.

    PA wiring: the sites are numbered in the order the network computes them.
    Site `i` mixes its own `x` with the `x` (the skip-path input) of the
    `k - 1` LAuReL sites before it, newest first. A previous activation whose
    shape differs from site `i`'s (a ResNet stage boundary changes the
    resolution and width) cannot be added and is left out; nothing is padded
    or projected. `keras_laurel.summary(new_model)` lists, per site, what was
    connected and what was left out and why.

    Args:
        model: a functional `keras.Model` (KerasHub and KerasCV backbones
            included).
        variant, rank, k, normalization, per_channel, a_initializer,
        b_initializer: as for `keras_laurel.Laurel`.
        targets: which residual sites to rewrite, as for
            `Model.quantize(filters=...)`: `None` (all), a regex searched in the
            `Add` layer's name, a list of names, or a callable taking the
            `Add` layer and returning a bool.
        axis: the channel axis; `None` reads the model's `data_format`
            (`1` for channels-first, `-1` otherwise).
        freeze_base: fine-tuning mode: make every original layer
            non-trainable so that only the LAuReL weights train.
        placement: transformer backbones only (GPT-2, BERT, ...): which
            residual connections of each transformer layer get LAuReL,
            `"attention"` (default), `"feedforward"` or `"both"`; see
            `keras_laurel.transformers`.

    Returns:
        A new functional `keras.Model`. A KerasHub / KerasCV backbone comes
        back as a functional model with the same inputs and outputs, usable as
        the `backbone` of their image classifiers (see the README).

    Example:

    >>> backbone = keras_hub.models.ResNetBackbone(...)
    >>> laurel_backbone = keras_laurel.graph(backbone, "rw+lr", rank=16)
    >>> keras_laurel.summary(laurel_backbone)
    """
    if _is_keras_hub_backbone(model):
        from keras_laurel.transformers.rewriter import is_transformer_backbone
        from keras_laurel.transformers.rewriter import rewrite_transformer_backbone

        if is_transformer_backbone(model):
            if targets is not None:
                raise ValueError(
                    "rewrite: `targets` selects Add layers of a functional graph; "
                    f"{type(model).__name__}'s residual connections are inside its "
                    "transformer layers: choose them with `placement` instead."
                )
            return rewrite_transformer_backbone(
                model,
                freeze_base=freeze_base,
                variant=variant,
                rank=rank,
                k=k,
                placement=placement,
                normalization=normalization,
                per_channel=per_channel,
                a_initializer=a_initializer,
                b_initializer=b_initializer,
            )
    if placement is not None:
        raise ValueError(
            "rewrite: `placement` applies to KerasHub transformer backbones only; "
            f"received placement={placement!r} for {type(model).__name__}."
        )
    _check_functional(model)
    variant, k = _laurel_settings(
        variant,
        rank,
        k,
        normalization=normalization,
        per_channel=per_channel,
        a_initializer=a_initializer,
        b_initializer=b_initializer,
    )
    if axis is None:
        axis = 1 if getattr(model, "data_format", None) == "channels_first" else -1
    sites, rejected = find_residual_sites(model)
    if not sites:
        detail = "; ".join(f"{n}: {r}" for n, r in rejected.items()) or "it has no Add layer"
        hint = ""
        if _is_keras_hub_backbone(model):
            hint = (
                f" {type(model).__name__}'s residual connections are inside its own "
                "layers; rewrite supports those only for backbones built from "
                "keras_hub.layers.TransformerDecoder / TransformerEncoder "
                "(see keras_laurel.transformers.KNOWN_BACKBONES)."
            )
        raise ValueError(
            f"rewrite: model '{model.name}' has no residual connection "
            f"(an Add of a block's input and its output) to put LAuReL on ({detail}).{hint}"
        )
    chosen = select_sites(sites, targets)

    parts = variant.split("+")
    plans = {}
    for i, site in enumerate(chosen):
        channel_axis = axis % len(site.shape)
        dim = site.shape[channel_axis]
        if "lr" in parts and (dim is None or rank > dim):
            raise ValueError(
                f"rewrite: `rank`={rank} is invalid at site '{site.name}', whose "
                f"channel dimension (axis {axis}) is {dim}; rank must be "
                f"between 1 and {dim}."
            )
        sources = []
        if "pa" in parts:
            ancestors = _upward_distances(site.x_tensor)[0]
            for previous in reversed(chosen[max(0, i - (k - 1)) : i]):
                if previous.shape == site.shape and id(previous.x_tensor) in ancestors:
                    sources.append(previous.name)
        plans[id(site.layer)] = _Plan(
            site=site,
            pa_sources=sources,
            layer_kwargs=dict(
                variant=variant,
                rank=rank,
                k=k,
                normalization=normalization,
                per_channel=per_channel,
                a_initializer=a_initializer,
                b_initializer=b_initializer,
                axis=axis,
                name=f"{site.name}_laurel",
                dtype=site.layer.dtype_policy,
            ),
        )

    clones = []  # (original, clone)
    origin = {}

    def clone_function(layer):
        if not isinstance(layer, keras.layers.Layer):
            return layer  # a stateless `keras.ops` operation: nothing to copy
        clone = layer.__class__.from_config(layer.get_config())
        clones.append((layer, clone))
        origin[id(clone)] = layer
        return clone

    new_x = {}

    def call_function(layer, *args, **kwargs):
        original = origin.get(id(layer))
        plan = plans.get(id(original)) if original is not None else None
        if plan is None:
            return layer(*args, **kwargs)
        operands = args[0] if args else kwargs["inputs"]
        fx, x = operands[plan.site.fx_index], operands[plan.site.x_index]
        new_x[plan.site.name] = x
        history = [new_x[name] for name in plan.pa_sources]
        return Laurel(**plan.layer_kwargs)([fx, x, *history])

    new_model = keras.models.clone_model(
        model, clone_function=clone_function, call_function=call_function
    )
    for original, clone in clones:
        if original.weights:
            clone.set_weights(original.get_weights())
        if freeze_base:
            clone.trainable = False
    return new_model


def _is_keras_hub_backbone(model):
    return any(
        cls.__name__ == "Backbone" and cls.__module__.startswith("keras_hub")
        for cls in type(model).__mro__
    )


def laurel_layers(model):
    """The `Laurel` layers of a model, in computation order, nested ones included."""
    found, seen = [], set()
    for layer in model.layers:
        inner = [layer] if isinstance(layer, Laurel) else [
            sub for sub in layer._flatten_layers(include_self=False, recursive=True)
            if isinstance(sub, Laurel)
        ]
        for sub in inner:
            if id(sub) not in seen:
                seen.add(id(sub))
                found.append(sub)
    return found
