"""`keras_laurel.rewrite`: one entry point over a registry of rewriters.

A model's residual connections live in different places: `Add` layers and
`x + y` operations of a functional graph (`keras_laurel.graph`), or code
inside the layers of a KerasHub backbone (`keras_laurel.transformers`). Each
place has a `Rewriter`, which says whether it supports a model and rewrites
it; `rewrite` validates the settings once, refuses a model that already has
LAuReL, and hands the model to the first rewriter that supports it (the most
specific first).
"""

import keras

from keras_laurel import internals
from keras_laurel.layers.laurel import Laurel
from keras_laurel.layers.settings import settings_from


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

    def rewrite(self, model, settings, targets=None, freeze_base=False):
        """A new model with LAuReL; `model` itself is left unchanged."""
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


def laurel_layers(model, builtin=False):
    """The `Laurel` layers of a model, in computation order, nested ones included.

    With `builtin=True` the LAuReL blocks the model has built in (KerasHub's
    Gemma 3n `Gemma3nTextLaurelBlock`s) come first; `keras_laurel.report`
    lists them with their rank and learned scale.
    """
    if builtin:
        blocks = [layer for layer, *_ in internals.builtin_laurel_blocks(model)]
        return blocks + laurel_layers(model)
    found, seen = [], set()
    for layer in model.layers:
        inner = (
            [layer]
            if isinstance(layer, Laurel)
            else [sub for sub in internals.sublayers(layer) if isinstance(sub, Laurel)]
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


def rewrite(model, variant="rw", *, targets=None, freeze_base=False, **settings):
    """Returns a copy of `model` with LAuReL on its residual connections.

    Every residual connection chosen becomes a `keras_laurel.Laurel` layer
    of the given settings; every original weight is copied bit-exactly, so
    with the default initialisation the new model computes exactly what
    `model` does. `model` itself is never modified.

    Supported models (one rewriter each, see `keras_laurel.rewriting`):

    * functional models (KerasHub / KerasCV ResNets, your own
      `keras.Model(inputs, outputs)`): residuals written as
      `keras.layers.Add()([x, fx])`, `x + fx` or `keras.ops.add(x, fx)`;
      see `keras_laurel.graph`;
    * KerasHub backbones built from `keras_hub.layers.TransformerDecoder` /
      `TransformerEncoder` (GPT-2, OPT, BERT, ...); see
      `keras_laurel.transformers`.

    Args:
        model: the `keras.Model` to rewrite.
        variant: a variant name (`"rw"`, `"lr"`, `"pa"`, `"rw+lr"`, ...), or
            a `keras_laurel.LaurelSettings` holding every setting.
        targets: functional models only: which residual sites to rewrite, as
            for `Model.quantize(filters=...)`: `None` (all), a regex searched
            in the site's name, a list of names, or a callable taking the
            site's `Add` layer or add operation and returning a bool.
        freeze_base: fine-tuning mode: make every original layer
            non-trainable so that only the LAuReL weights train.
        **settings: the other fields of `keras_laurel.LaurelSettings`:
            `rank`, `k`, `normalization`, `per_channel`, `a_initializer`,
            `b_initializer`, `gamma_initializer`, `axis` (`None`: the
            model's channel axis), `placement` (transformers only:
            `"attention"`, `"feedforward"` or `"both"`).

    Returns:
        A new model. A functional model comes back as a functional model
        with the same inputs and outputs; a KerasHub backbone as an
        instance of a LAuReL subclass of its class.

    Raises:
        TypeError: `model` is not a Keras model, or a setting has the wrong
            type or is unknown.
        ValueError: a setting is out of range, the model already has LAuReL,
            or no residual connection can be found.

    Example:

    >>> backbone = keras_hub.models.ResNetBackbone(...)
    >>> laurel_backbone = keras_laurel.rewrite(backbone, "rw+lr", rank=16)
    >>> keras_laurel.summary(laurel_backbone)
    """
    settings = settings_from(variant, "rewrite", **settings)
    if not isinstance(model, keras.Model):
        raise TypeError(f"rewrite: `model` must be a keras.Model; received {type(model).__name__}.")
    existing = laurel_layers(model)
    if existing:
        raise ValueError(
            f"rewrite: model '{model.name}' already has LAuReL at "
            f"{len(existing)} site(s): {[layer.path for layer in existing]}. "
            "Rewrite the original model instead (rewrite leaves it unchanged)."
        )
    for rewriter in _REWRITERS:
        if rewriter.supports(model):
            return rewriter.rewrite(model, settings, targets=targets, freeze_base=freeze_base)
    supported = "; ".join(f"{r.name}: {r.description}" for r in _REWRITERS)
    raise ValueError(
        f"rewrite: no rewriter supports {type(model).__name__} '{model.name}'. "
        f"Supported: {supported}."
    )
