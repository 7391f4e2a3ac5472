"""LAuReL on the residual connections of a functional model.

The `Rewriter` for functional graphs: KerasHub / KerasCV ResNets and any
`keras.Model(inputs, outputs)` whose residuals are `Add` layers or `x + y` /
`keras.ops.add` operations. The model is cloned with
`keras.models.clone_model(call_function=...)`, each chosen addition replaced
by a `Laurel` layer, every other layer cloned with its weights copied
bit-exactly (or shared, with `copy=False`).
"""

import dataclasses

import keras

from keras_laurel import internals
from keras_laurel.graph.sites import _upward_distances
from keras_laurel.graph.sites import find_residual_sites
from keras_laurel.graph.sites import select_sites
from keras_laurel.layers.laurel import Laurel
from keras_laurel.rewriting import Rewriter
from keras_laurel.rewriting import adopt_weights
from keras_laurel.rewriting import register_rewriter
from keras_laurel.rewriting import rewriters


@dataclasses.dataclass
class _Plan:
    site: object
    pa_sources: list  # names of earlier sites whose `x` this site mixes, newest first
    name: str  # the LAuReL layer's name


def _check_functional(model):
    if isinstance(model, keras.Sequential):
        raise ValueError(
            "rewrite: `model` is a Sequential model, which has no residual "
            "connections (every layer feeds only the next). Build it with the "
            "functional API (`keras.Model(inputs, outputs)`) instead."
        )
    if not internals.is_functional(model):
        raise ValueError(
            "rewrite: `model` must be a functional Keras model (built with "
            "`keras.Model(inputs, outputs)` or a KerasHub/KerasCV backbone); "
            f"received {type(model).__name__}, a subclassed model whose "
            "`call()` is Python code the rewriter cannot see. Add LAuReL layers "
            "in its `call()` directly (e.g. `keras_laurel.LaurelRW()([fx, x])`)."
        )


def _composite_layers(model):
    """Layers of the graph with sublayers of their own: a residual connection
    computed inside one of them cannot be seen from the graph."""
    return [
        layer.name
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer) and not internals.is_leaf(layer)
    ]


def _no_site_error(model, rejected):
    detail = "; ".join(f"{n}: {r}" for n, r in rejected.items()) or (
        "it has no Add layer and no `+` / keras.ops.add of two tensors"
    )
    hidden = _composite_layers(model)
    hint = ""
    if hidden:
        hint = (
            f" Layers {hidden} of {type(model).__name__} contain layers of their "
            "own: a residual computed inside a layer's `call` (e.g. "
            "`x + s * f(x)`) is not part of the graph and cannot be rewritten "
            "here; put `keras_laurel.Laurel` in that layer's `call` instead."
        )
        others = [r.description for r in rewriters() if r.name != FunctionalRewriter.name]
        if others:
            hint += " Models with residuals inside their layers that rewrite supports: "
            hint += "; ".join(others) + "."
    return ValueError(
        f"rewrite: model '{model.name}' has no residual connection "
        f"(an addition of a block's input and its output) to put LAuReL on ({detail}).{hint}"
    )


def plan_sites(model, settings, targets=None):
    """The LAuReL sites of a functional `model`: `(settings, plans)`, the
    settings with `axis` resolved and one `_Plan` per chosen residual site,
    in computation order (what `rewrite_functional` builds; see there)."""
    if settings.placement is not None:
        raise ValueError(
            "rewrite: `placement` applies to KerasHub transformer backbones only; "
            f"received placement={settings.placement!r} for {type(model).__name__}."
        )
    if settings.uses_streams:
        raise ValueError(
            f"rewrite: variant {settings.variant!r} carries n residual streams from "
            "block to block, which keras_laurel places in KerasHub transformer layers; "
            f"the blocks of a functional graph ({type(model).__name__} '{model.name}') "
            "read their input directly, not a mix of the streams. Build the model with "
            "keras_laurel.HyperConnection / ManifoldHyperConnection, or use a LAuReL "
            "variant or LayerScale / ReZero."
        )
    if settings.uses_depth_average:
        raise ValueError(
            f"rewrite: variant {settings.variant!r} averages the outputs of every earlier "
            "layer, which keras_laurel places after KerasHub transformer layers (one "
            "hidden-state shape, one layer after another); a functional graph "
            f"({type(model).__name__} '{model.name}') has no such layers. Build the "
            "model with keras_laurel.DepthWeightedAverage, or use a LAuReL variant or "
            "LayerScale / ReZero."
        )
    _check_functional(model)
    axis = 1 if getattr(model, "data_format", None) == "channels_first" else -1
    settings = settings.with_axis(axis)
    sites, rejected = find_residual_sites(model)
    if not sites:
        raise _no_site_error(model, rejected)
    chosen = select_sites(sites, targets)

    plans = []
    for i, site in enumerate(chosen):
        ndim = len(site.shape)
        if not -ndim <= settings.axis < ndim:
            raise ValueError(
                f"rewrite: `axis`={settings.axis} is out of range at site "
                f"'{site.name}', whose tensors have rank {ndim} (shape {site.shape})."
            )
        dim = site.shape[settings.axis % ndim]
        if settings.use_lr and (dim is None or settings.rank > dim):
            raise ValueError(
                f"rewrite: `rank`={settings.rank} is invalid at site '{site.name}', whose "
                f"channel dimension (axis {settings.axis}) is {dim}; rank must be "
                f"between 1 and {dim}."
            )
        sources = []
        if settings.use_pa:
            ancestors = _upward_distances(site.x_tensor)[0]
            for previous in reversed(chosen[max(0, i - (settings.k - 1)) : i]):
                if previous.shape == site.shape and id(previous.x_tensor) in ancestors:
                    sources.append(previous.name)
        plans.append(_Plan(site=site, pa_sources=sources, name=f"{site.name}_laurel"))
    return settings, plans


def rewrite_functional(model, settings, targets=None, freeze_base=False, copy=True):
    """A copy of a functional `model` with LAuReL on its residual connections.

    How the residual sites are found, and which operand is `f(x)`, is
    described in `keras_laurel.graph.sites`.

    PA wiring: the sites are numbered in the order the network computes them.
    Site `i` mixes its own `x` with the `x` (the skip-path input) of the
    `k - 1` LAuReL sites before it, newest first. A previous activation whose
    shape differs from site `i`'s (a ResNet stage boundary changes the
    resolution and width) cannot be added and is left out; nothing is padded
    or projected. `keras_laurel.summary(new_model)` lists, per site, what was
    connected and what was left out and why.

    `settings.axis=None` reads the model's `data_format` (`1` for
    channels-first, `-1` otherwise); `settings.placement` must be `None`.
    """
    settings, plans = plan_sites(model, settings, targets)
    plans = {id(plan.site.operation): plan for plan in plans}

    clones = []  # (original, clone)
    origin = {}

    def clone_function(layer):
        if not isinstance(layer, keras.layers.Layer):
            return layer  # a stateless `keras.ops` operation (`x + y`): nothing to copy
        clone = layer.__class__.from_config(layer.get_config())
        clones.append((layer, clone))
        origin[id(clone)] = layer
        return clone

    new_x = {}

    def call_function(operation, *args, **kwargs):
        original = origin.get(id(operation), operation)
        plan = plans.get(id(original))
        if plan is None:
            return operation(*args, **kwargs)
        if plan.site.is_operation:  # add(x1, x2)
            operands = list(args) + [kwargs[key] for key in ("x1", "x2") if key in kwargs]
        else:  # Add()([a, b])
            operands = args[0] if args else kwargs["inputs"]
        fx, x = operands[plan.site.fx_index], operands[plan.site.x_index]
        new_x[plan.site.name] = x
        history = [new_x[name] for name in plan.pa_sources]
        dtype = original.dtype_policy if isinstance(original, keras.layers.Layer) else None
        layer = Laurel.from_settings(settings, name=plan.name, dtype=dtype)
        return layer([fx, x, *history])

    with internals.deferred_variables() as created:
        new_model = keras.models.clone_model(
            model, clone_function=clone_function, call_function=call_function
        )
    pairs = []
    for original, clone in clones:
        if len(original.weights) != len(clone.weights):
            raise ValueError(
                f"rewrite: layer '{original.name}' has {len(original.weights)} weights but "
                f"its clone {len(clone.weights)}; they cannot be copied."
            )
        pairs.extend(zip(original.weights, clone.weights))
    adopt_weights(pairs, created, copy)
    if freeze_base:
        for _, clone in clones:
            clone.trainable = False
    return new_model


class FunctionalRewriter(Rewriter):
    """Functional models: `Add` layers and `x + y` operations of the graph."""

    name = "functional"
    description = (
        "functional models (keras.Model(inputs, outputs), KerasHub / KerasCV "
        "ResNets) with residuals written as Add layers or `x + f(x)`"
    )
    priority = 0  # the fallback: tried after every more specific rewriter

    def supports(self, model):
        return isinstance(model, keras.Model)  # refuses non-functional ones itself

    def rewrite(self, model, settings, targets=None, freeze_base=False, copy=True):
        return rewrite_functional(
            model, settings, targets=targets, freeze_base=freeze_base, copy=copy
        )


register_rewriter(FunctionalRewriter())
