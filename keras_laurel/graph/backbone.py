"""LAuReL versions of KerasHub backbones whose residuals are graph additions.

A KerasHub ResNet (or any KerasHub backbone whose blocks add their residuals
with `keras.layers.Add`) builds its functional graph in `__init__`. Rewriting
it with `keras.models.clone_model` gives back a plain `Functional`: no
`pyramid_outputs`, no `save_to_preset`, not accepted where a task expects its
backbone. `laurel_functional_backbone_class(ResNetBackbone)` is instead a
subclass, `LaurelResNetBackbone`, whose `__init__`:

1. builds the plain backbone once without allocating its weights
   (`internals.deferred_variables`), recording the `Add` layers its
   module creates in order, and plans the LAuReL sites on that graph
   (`keras_laurel.graph.rewriter.plan_sites`: which additions are residual,
   which operand is `f(x)`, what PA mixes);
2. runs KerasHub's own `__init__` on itself with `Add` in the backbone's
   module bound to a stand-in (`internals.names_bound_in_init`, as the
   transformer backbones bind their layer classes): the n-th `Add` created
   becomes the planned `Laurel` layer, or stays an `Add`.

So the result *is* a `ResNetBackbone`, with its `pyramid_outputs`, config and
preset methods, and its config adds `laurel` (and `laurel_sites`, the chosen
residual connections by index, `None` for all).
"""

import contextlib

import keras

from keras_laurel import internals
from keras_laurel.graph.rewriter import plan_sites
from keras_laurel.graph.rewriter import rewrite_functional
from keras_laurel.graph.sites import find_residual_sites
from keras_laurel.graph.sites import select_sites
from keras_laurel.layers.laurel import Laurel
from keras_laurel.layers.settings import LaurelSettings
from keras_laurel.rewriting import Rewriter
from keras_laurel.rewriting import adopt_weights
from keras_laurel.rewriting import freeze_all_but_laurel
from keras_laurel.rewriting import laurel_backbone_subclass
from keras_laurel.rewriting import register_rewriter
from keras_laurel.rewriting import weight_pairs

_CLASSES = {}


class NotInItsModule(ValueError):
    """A residual connection of the backbone is not an `Add` layer that the
    backbone's own module creates, so its class cannot be kept."""


def _module_names(base):
    """`{name: module}` of the names bound to `keras` or `keras.layers` in the
    modules of `base.__init__` (where the backbone's blocks are written)."""
    names = {}
    for space in internals.init_namespaces(base):
        for name, value in space.items():
            if value is keras or value is keras.layers:
                names[name] = value
    return names


class _Adds:
    """The `keras.layers.Add` stand-in of one backbone build: records the
    layers in creation order and, with `plans` (`{creation index: plan}`),
    makes the planned ones LAuReL layers."""

    def __init__(self, settings=None, plans=None):
        self.settings, self.plans = settings, plans or {}
        self.created = []
        self.x = {}  # creation index -> the new graph's `x` at that site

    def make(self, *args, **kwargs):
        index = len(self.created)
        plan = self.plans.get(index)
        layer = keras.layers.Add(*args, **kwargs) if plan is None else _Site(self, index, kwargs)
        self.created.append(layer)
        return layer

    def replacements(self, base):
        layers = internals.ModuleOverrides(keras.layers, Add=self.make)
        stand_ins = {keras.layers: layers, keras: internals.ModuleOverrides(keras, layers=layers)}
        return {name: stand_ins[module] for name, module in _module_names(base).items()}


class _Site:
    """Called where the backbone calls its `Add`: `Laurel([fx, x, *history])`."""

    def __init__(self, adds, index, kwargs):
        self.adds, self.index, self.kwargs = adds, index, kwargs

    def __call__(self, inputs):
        plan = self.adds.plans[self.index]
        fx, x = inputs[plan.fx_index], inputs[plan.x_index]
        self.adds.x[self.index] = x
        history = [self.adds.x[source] for source in plan.sources]
        layer = Laurel.from_settings(
            self.adds.settings, name=plan.name, dtype=self.kwargs.get("dtype")
        )
        return layer([fx, x, *history])


class _IndexedPlan:
    def __init__(self, plan, sources):
        self.fx_index, self.x_index = plan.site.fx_index, plan.site.x_index
        self.name, self.sources = plan.name, sources


def _plans(base, args, kwargs, settings, laurel_sites):
    """`(settings, {creation index of an Add: plan})` for `base(*args, **kwargs)`."""
    recorder = _Adds()
    # Inside `rewrite` the variables are deferred already.
    scope = (
        contextlib.nullcontext()
        if internals.in_stateless_scope()
        else internals.deferred_variables()
    )
    with scope, internals.names_bound_in_init(base, recorder.replacements(base)):
        plain = base(*args, **kwargs)
    try:
        sites = find_residual_sites(plain)[0]
        targets = None
        if laurel_sites is not None:
            chosen = {id(sites[i].operation) for i in laurel_sites}
            targets = lambda operation: id(operation) in chosen  # noqa: E731
        settings, plans = plan_sites(plain, settings, targets)
        created = {id(layer): i for i, layer in enumerate(recorder.created)}
        by_name = {}
        indexed = {}
        for plan in plans:
            index = created.get(id(plan.site.operation))
            if index is None:
                raise NotInItsModule(
                    f"rewrite: {base.__name__}'s residual connection '{plan.site.name}' is "
                    "not an `Add` layer its own module creates, so it cannot be rewritten "
                    f"inside {base.__name__}; pass `targets` that leave it out."
                )
            by_name[plan.site.name] = index
            indexed[index] = _IndexedPlan(plan, [by_name[name] for name in plan.pa_sources])
        return settings, indexed
    finally:
        internals.discard_deferred(plain.variables)


def laurel_functional_backbone_class(base):
    """The registered LAuReL subclass of a KerasHub functional backbone class."""
    if base in _CLASSES:
        return _CLASSES[base]
    if not _module_names(base):
        raise ValueError(
            f"rewrite: {base.__name__}'s module does not build its blocks with "
            "`keras.layers`; keras_laurel cannot keep its class."
        )

    def __init__(self, *args, laurel, laurel_sites=None, **kwargs):
        if isinstance(laurel, dict):
            laurel = LaurelSettings.from_config(laurel)
        settings, plans = _plans(base, args, kwargs, laurel, laurel_sites)
        adds = _Adds(settings, plans)
        with internals.names_bound_in_init(base, adds.replacements(base)):
            base.__init__(self, *args, **kwargs)
        self.laurel = settings
        self.laurel_sites = None if laurel_sites is None else [int(i) for i in laurel_sites]

    def get_config(self):
        config = base.get_config(self)
        config["laurel"] = self.laurel.get_config()
        config["laurel_sites"] = self.laurel_sites
        return config

    cls = laurel_backbone_subclass(base, {"__init__": __init__, "get_config": get_config}, __name__)
    _CLASSES[base] = cls
    return cls


def rewrite_functional_backbone(model, settings, targets=None, freeze_base=False, copy=True):
    """A `Laurel<Backbone>` version of a KerasHub functional backbone."""
    sites = find_residual_sites(model)[0]
    chosen = select_sites(sites, targets) if sites else []
    laurel_sites = None if targets is None else [site.order for site in chosen]
    cls = laurel_functional_backbone_class(type(model))
    try:
        with internals.deferred_variables() as created:
            new = cls.from_config(
                {
                    **model.get_config(),
                    "laurel": settings.get_config(),
                    "laurel_sites": laurel_sites,
                }
            )
    except NotInItsModule:
        # Built elsewhere (a helper of another module): rewritten as a graph.
        internals.discard_deferred(created)
        return rewrite_functional(
            model, settings, targets=targets, freeze_base=freeze_base, copy=copy
        )
    adopt_weights(weight_pairs(model, new, by_path=True), created, copy)
    if freeze_base:
        freeze_all_but_laurel(new)
    return new


def _all_add_layers(sites):
    return bool(sites) and all(isinstance(site.operation, keras.layers.Add) for site in sites)


class FunctionalBackboneRewriter(Rewriter):
    """KerasHub backbones whose residuals are `Add` layers of their graph."""

    name = "keras_hub_functional"
    description = (
        "KerasHub backbones whose residuals are keras.layers.Add of their graph "
        "(ResNet, ...), kept as their class"
    )
    priority = 5  # after the transformer backbones, before any functional model

    def supports(self, model):
        return (
            internals.is_keras_hub_backbone(model)
            and internals.is_functional(model)
            and bool(_module_names(type(model)))
            and _all_add_layers(find_residual_sites(model)[0])
        )

    def rewrite(self, model, settings, targets=None, freeze_base=False, copy=True):
        return rewrite_functional_backbone(
            model, settings, targets=targets, freeze_base=freeze_base, copy=copy
        )


register_rewriter(FunctionalBackboneRewriter())
