"""`keras_laurel.rewrite`: one entry point over a registry of rewriters.

A model's residual connections live in different places: `Add` layers and
`x + y` operations of a functional graph (`keras_laurel.graph`), or code
inside the layers of a KerasHub backbone (`keras_laurel.transformers`). Each
place has a `Rewriter`, which says whether it supports a model and rewrites
it; `rewrite` validates the settings once, refuses a model that already has
LAuReL, and hands the model to the first rewriter that supports it (the most
specific first).
"""

import re

import keras

from keras_laurel import internals
from keras_laurel.layers.laurel import Laurel
from keras_laurel.layers.settings import settings_from
from keras_laurel.relatives.depth_weighted_average import DepthWeightedAverage
from keras_laurel.relatives.hyper_connection import HyperConnection
from keras_laurel.relatives.manifold_hyper_connection import ManifoldHyperConnection

# The layers `rewrite` puts at residual connections: LAuReL (with LayerScale
# and ReZero, its RW-family variants) and, in transformer layers, the
# hyper-connections ("hc", "mhc") and DenseFormer's average ("denseformer").
SITE_LAYERS = (Laurel, HyperConnection, ManifoldHyperConnection, DepthWeightedAverage)


class Rewriter:
    """Puts LAuReL on the residual connections of one kind of model.

    Subclasses set `name` and `description` (for error messages), and
    `priority` (higher is tried first), and implement `supports` and
    `rewrite`.
    """

    name = "rewriter"
    description = ""
    priority = 0

    def supports(self, model):
        """Whether this rewriter handles `model`."""
        raise NotImplementedError

    def rewrite(self, model, settings, targets=None, freeze_base=False, copy=True):
        """A new model with LAuReL, its other weights `model`'s (copied, or
        shared with `copy=False`; see `adopt_weights`)."""
        raise NotImplementedError


_REWRITERS = []


def register_rewriter(rewriter):
    """Adds a `Rewriter` to those `rewrite` dispatches over (once per name)."""
    if not isinstance(rewriter, Rewriter):
        raise TypeError(
            f"register_rewriter: expected a keras_laurel.rewriting.Rewriter; "
            f"received {type(rewriter).__name__}."
        )
    _REWRITERS[:] = [r for r in _REWRITERS if r.name != rewriter.name]
    _REWRITERS.append(rewriter)
    _REWRITERS.sort(key=lambda r: -r.priority)
    return rewriter


def rewriters():
    """The registered rewriters, in the order `rewrite` tries them."""
    return list(_REWRITERS)


def adopt_weights(pairs, created, copy):
    """Gives the new model's deferred variables their values, one copy at most.

    The new model is built inside `internals.deferred_variables()`, so its
    variables (`created`) hold no memory yet. Each `(source, target)` of
    `pairs` is an original weight and its place in the new model: with
    `copy=True` the target gets a copy of the source made on its device;
    with `copy=False` it gets the source's storage itself, which the two
    models then share. Every other created variable (LAuReL's, seed states)
    is initialised as usual.
    """
    for source, target in pairs:
        if tuple(source.shape) != tuple(target.shape) or source.dtype != target.dtype:
            raise ValueError(
                f"rewrite: could not give weight '{source.path}' {tuple(source.shape)} "
                f"{source.dtype} to its place in the LAuReL model, '{target.path}' "
                f"{tuple(target.shape)} {target.dtype}."
            )
        internals.adopt_value(target, source, copy=copy)
    internals.initialize_deferred(created)


def _laurel_variable_ids(model):
    return {
        id(v)
        for layer in internals.sublayers(model)
        if isinstance(layer, SITE_LAYERS)
        for v in layer.weights
    }


def _unnumbered(name):
    """A weight's name without Keras's uniquifying suffix (`variable_1`:
    SigLIP's pooling probe is an unnamed weight, numbered per process)."""
    return re.sub(r"_\d+$", "", name)


def weight_pairs(model, new, by_path=False):
    """Each weight of `model` with its place in its LAuReL version `new`.

    By structure (the default): both track their weights in the same order
    once LAuReL's own are left out, and each pair must agree in name and
    shape (paths may differ where a sublayer's name is auto-numbered, as
    KerasHub's MoE blocks are). `by_path=True`: the weight of the same path,
    for graphs, whose weights come in the order of their layers, which
    LAuReL's layers may change (the layers keep their names).
    """
    laurel = _laurel_variable_ids(new)
    targets = [v for v in new.weights if id(v) not in laurel]
    sources = list(model.weights)
    if by_path:
        by_name = {v.path: v for v in targets}
        if sorted(by_name) != sorted(v.path for v in sources) or len(by_name) != len(targets):
            paths = {v.path for v in sources}
            raise ValueError(
                f"rewrite: the weights of {type(model).__name__} and of its LAuReL version "
                f"differ: only in the model {sorted(paths - set(by_name))}, only in the "
                f"LAuReL version {sorted(set(by_name) - paths)}."
            )
        return [(source, by_name[source.path]) for source in sources]
    return paired_in_order(sources, targets, type(model).__name__)


def paired_in_order(sources, targets, owner):
    """`zip(sources, targets)`, checked: as many, each pair alike in name (up
    to Keras's numbering) and shape; `owner` names the model in errors."""
    if len(targets) != len(sources):
        raise ValueError(
            f"rewrite: {owner} has {len(sources)} weights but its LAuReL "
            f"version {len(targets)} besides LAuReL's; they cannot be copied."
        )
    for source, target in zip(sources, targets):
        alike = _unnumbered(source.name) == _unnumbered(target.name)
        if not alike or tuple(source.shape) != tuple(target.shape):
            raise ValueError(
                f"rewrite: could not copy weight '{source.path}' {tuple(source.shape)} of "
                f"{owner} into its LAuReL version, whose weight in that "
                f"place is '{target.path}' {tuple(target.shape)}."
            )
    return list(zip(sources, targets))


def freeze_all_but_laurel(model):
    """`freeze_base`: every weight of `model` but LAuReL's non-trainable."""
    inside = {
        id(sub)
        for layer in internals.sublayers(model)
        if isinstance(layer, SITE_LAYERS)
        for sub in [layer, *internals.sublayers(layer)]
    }
    for layer in internals.sublayers(model):
        if id(layer) not in inside and internals.is_leaf(layer):
            layer.trainable = False
    # Weights of layers that also hold sublayers (ViT's class token).
    laurel = _laurel_variable_ids(model)
    for variable in model.weights:
        if id(variable) not in laurel:
            variable.trainable = False


def laurel_backbone_subclass(base, methods, module):
    """`Laurel<base>`: a subclass of the KerasHub backbone class `base` with
    `methods` (its `__init__` and `get_config`) and an `enable_lora` that
    keeps LAuReL trainable, registered for saving, with its companions for
    KerasHub's presets (`register_companions`)."""

    def enable_lora(self, rank, target_layer_names=None):
        """KerasHub's `enable_lora`, with the LAuReL weights kept trainable.

        KerasHub's freezes every weight before adding LoRA to the attention
        projections; this then makes the LAuReL layers trainable again, so
        that a fine-tune trains the LoRA factors and LAuReL. Save the two
        adapters with `save_lora_weights` and `keras_laurel.save_laurel_weights`.
        """
        base.enable_lora(self, rank, target_layer_names=target_layer_names)
        for layer in internals.sublayers(self):
            if isinstance(layer, SITE_LAYERS):
                layer.trainable = True

    cls = type(
        f"Laurel{base.__name__}",
        (base,),
        {
            "enable_lora": enable_lora,
            **methods,
            "__module__": module,
            "__doc__": f"`{base.__name__}` with LAuReL residual connections "
            "(see `keras_laurel.rewrite`).",
        },
    )
    cls = keras.saving.register_keras_serializable(package="keras_laurel")(cls)
    register_companions(base, cls)
    return cls


def register_companions(base, cls):
    """KerasHub finds the task, preprocessor, tokenizer and converter of a
    preset by their `backbone_cls`, which must be the preset's backbone class
    itself. For each KerasHub class whose `backbone_cls` is `base`, this
    registers a subclass (same name with `Laurel`) whose `backbone_cls` is
    `cls` (listed in `cls.laurel_companions`), so that
    `keras_hub.models.Llama3CausalLM.from_preset` (and `Backbone`,
    `Tokenizer`, ...) load a saved LAuReL preset."""
    companions = [
        obj
        for obj in set(keras.saving.get_custom_objects().values())
        if isinstance(obj, type)
        and obj.__module__.startswith("keras_hub")
        and obj.__dict__.get("backbone_cls") is base
    ]
    cls.laurel_companions = {}
    for companion in sorted(companions, key=lambda c: c.__name__):
        subclass = type(
            f"Laurel{companion.__name__}",
            (companion,),
            {
                "backbone_cls": cls,
                "__module__": __name__,
                "__doc__": f"`{companion.__name__}` for `{cls.__name__}` presets.",
            },
        )
        keras.saving.register_keras_serializable(package="keras_laurel")(subclass)
        cls.laurel_companions[companion] = subclass


def laurel_layers(model):
    """The `Laurel` layers of a model, in computation order, nested ones included.

    A model's own LAuReL blocks (KerasHub's Gemma 3n `Gemma3nTextLaurelBlock`s)
    are not `Laurel` layers: `keras_laurel.summary` lists them.
    """
    found, seen = [], set()
    for layer in model.layers:
        inner = (
            [layer]
            if isinstance(layer, SITE_LAYERS)
            else [sub for sub in internals.sublayers(layer) if isinstance(sub, SITE_LAYERS)]
        )
        for sub in inner:
            if id(sub) not in seen:
                seen.add(id(sub))
                found.append(sub)
    if found and all(hasattr(layer, "site_index") for layer in found):
        # Sites inside transformer layers: Keras tracks a layer's sublayers in
        # an order of its own; the sites know their place in the call order.
        found.sort(key=lambda layer: layer.site_index)
    return found


def rewrite(model, variant="rw", *, targets=None, freeze_base=False, copy=True, **settings):
    """Returns `model` with LAuReL on its residual connections.

    Every residual connection chosen becomes a `keras_laurel.Laurel` layer
    of the given settings; every original weight is kept bit-exactly, so
    with the default initialisation the new model computes exactly what
    `model` does. The new model is built without allocating its weights
    and then given `model`'s: copies (`copy=True`, the default: `model` is
    never modified and stays usable) or the very same storage
    (`copy=False`: one copy of the weights in memory, for models that fit
    only once; `model` must not be used afterwards, as it shares its
    weights with the new model, which trains them).

    Supported models (one rewriter each, see `keras_laurel.rewriting`):

    * functional models (KerasHub / KerasCV ResNets, your own
      `keras.Model(inputs, outputs)`): residuals written as
      `keras.layers.Add()([x, fx])`, `x + fx` or `keras.ops.add(x, fx)`;
      see `keras_laurel.graph`;
    * KerasHub backbones built from `keras_hub.layers.TransformerDecoder` /
      `TransformerEncoder` (GPT-2, OPT, BERT, Whisper, ...), the decoder
      LLMs, T5, the encoders and the vision transformers with layers of
      their own; see `keras_laurel.transformers`;
    * KerasHub backbones built around other backbones (SAM, SegFormer,
      DepthAnything, DeepLabV3; CLIP, SigLIP and MetaCLIP 2's two towers):
      their encoders, the wrapper kept as its class; see
      `keras_laurel.wrapped`;
    * KerasHub tasks (`Llama3CausalLM`, `BertTextClassifier`,
      `ViTImageClassifier`, ...) of any of those backbones: an instance of
      the task's class comes back (for a transformer backbone its LAuReL
      subclass, `LaurelLlama3CausalLM`, which KerasHub's `from_preset`
      finds for LAuReL presets) with the LAuReL backbone, the same
      preprocessor and the head's weights, compiled with KerasHub's
      defaults.

    Args:
        model: the `keras.Model` (or KerasHub task) to rewrite.
        variant: a variant name (`"rw"`, `"lr"`, `"pa"`, `"rw+lr"`, ...; or
            `"layerscale"`, `"rezero"`, LAuReL's RW-family relatives), or a
            `keras_laurel.LaurelSettings` holding every setting.
        targets: functional models only: which residual sites to rewrite, as
            for `Model.quantize(filters=...)`: `None` (all), a regex searched
            in the site's name, a list of names, or a callable taking the
            site's `Add` layer or add operation and returning a bool.
        freeze_base: fine-tuning mode: make every original layer
            non-trainable so that only the LAuReL weights train.
        copy: `True` to copy `model`'s weights, `False` to hand them over
            (see above).
        **settings: the other fields of `keras_laurel.LaurelSettings`:
            `rank`, `k`, `normalization`, `per_channel`, `a_initializer`,
            `b_initializer`, `gamma_initializer`, the regularizers and
            constraints of each weight (`rw_`, `a_`, `b_`, `gamma_`,
            `norm_scale_regularizer` / `_constraint`), `axis` (`None`: the
            model's channel axis), `placement` (transformers only:
            `"attention"` (default), `"feedforward"` or `"both"`),
            `lr_form` (`"paper"` or `"gemma3n"`).

    Returns:
        A new model. A functional model comes back as a functional model
        with the same inputs and outputs; a KerasHub backbone as an
        instance of a LAuReL subclass of its class; a KerasHub task as an
        instance of its class.

    Raises:
        TypeError: `model` is not a Keras model, or a setting has the wrong
            type or is unknown.
        ValueError: a setting is out of range, the model already has LAuReL,
            or no residual connection can be found.

    Example:

    >>> backbone = keras_hub.models.ResNetBackbone(...)
    >>> laurel_backbone = keras_laurel.rewrite(backbone, "rw+lr", rank=16)
    >>> causal_lm = keras_hub.models.Llama3CausalLM.from_preset("llama3_8b_en")
    >>> causal_lm = keras_laurel.rewrite(causal_lm, "rw", copy=False)
    """
    settings = settings_from(variant, "rewrite", **settings)
    if not isinstance(model, keras.Model):
        raise TypeError(f"rewrite: `model` must be a keras.Model; received {type(model).__name__}.")
    if not isinstance(copy, bool):
        raise TypeError(f"rewrite: `copy` must be True or False; received {copy!r}.")
    existing = laurel_layers(model)
    if existing:
        raise ValueError(
            f"rewrite: model '{model.name}' already has LAuReL at "
            f"{len(existing)} site(s): {[layer.path for layer in existing]}. "
            "Rewrite the original model instead (rewrite leaves it unchanged)."
        )
    if internals.is_keras_hub_task(model):
        return _rewrite_task(model, settings, targets, freeze_base, copy)
    return rewrite_with_rewriter(model, settings, targets, freeze_base, copy)


def rewrite_with_rewriter(model, settings, targets, freeze_base, copy):
    """`model` (a backbone or a functional model, not a task) rewritten by the
    first rewriter that supports it; a KerasHub backbone `rewrite` refuses
    raises with the reason docs/models.md gives."""
    from keras_laurel.unsupported import reason_for

    reason = reason_for(model) if internals.is_keras_hub_backbone(model) else None
    if reason is not None:
        raise ValueError(
            f"rewrite: {type(model).__name__} '{model.name}' is not supported: {reason} "
            "(docs/models.md lists every KerasHub backbone)."
        )
    for rewriter in _REWRITERS:
        if rewriter.supports(model):
            return rewriter.rewrite(
                model, settings, targets=targets, freeze_base=freeze_base, copy=copy
            )
    supported = "; ".join(f"{r.name}: {r.description}" for r in _REWRITERS)
    raise ValueError(
        f"rewrite: no rewriter supports {type(model).__name__} '{model.name}'. "
        f"Supported: {supported}."
    )


def _rewrite_task(task, settings, targets, freeze_base, copy):
    """The task's class (or its LAuReL subclass) around the rewritten
    backbone: the preprocessor is the task's own object, the head's weights
    are the task's."""
    backbone = rewrite_with_rewriter(task.backbone, settings, targets, freeze_base, copy)
    # KerasHub's subclass for LAuReL presets (`LaurelLlama3CausalLM`), so
    # that the saved task loads back through `Llama3CausalLM.from_preset`.
    cls = getattr(type(backbone), "laurel_companions", {}).get(type(task), type(task))
    config = {**task.get_config(), "backbone": backbone, "preprocessor": task.preprocessor}
    with internals.deferred_variables() as created:
        new = cls(**config, compile=False)
    head = _head_weights(task)
    new_head = _head_weights(new)
    if len(head) != len(new_head):
        raise ValueError(
            f"rewrite: {type(task).__name__} has {len(head)} weights outside its backbone "
            f"but its LAuReL version {len(new_head)}; they cannot be copied."
        )
    adopt_weights(list(zip(head, new_head)), created, copy)
    if freeze_base:
        for variable in new_head:
            variable.trainable = False
    new.compile()
    return new


def _head_weights(task):
    inner = {id(v) for v in task.backbone.weights}
    return [v for v in task.weights if id(v) not in inner]
