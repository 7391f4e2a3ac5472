"""Saving and loading only the LAuReL weights (as KerasHub does for LoRA).

An adapter file (`.laurel.h5`, format version 2) holds, for every LAuReL
site, its weights and structure (variant, rank, k, ...) under
`sites/<index>`, where the index is the site's place among the model's
residual connections in computation order: stable for a given architecture,
whatever names Keras gave the layers. The file also records the settings
the model was rewritten with (placement included) and, for functional
models, which of the model's residual connections carry LAuReL, so that
`load_laurel_weights` can add LAuReL to a plain model itself, as
`Backbone.load_lora_weights` enables LoRA from its file. Version 1 files
(keyed by layer path, written by keras_laurel 0.1.0) load into a model
rewritten the same way.
"""

import json

import h5py
import numpy as np

from keras_laurel import internals
from keras_laurel.layers.laurel import Laurel
from keras_laurel.layers.settings import LaurelSettings
from keras_laurel.rewriting import laurel_layers
from keras_laurel.rewriting import rewrite
from keras_laurel.wrapped import laurel_host
from keras_laurel.wrapped import laurel_hosts

_FORMAT = "keras_laurel.adapter"
_VERSION = 2
_SUFFIX = ".laurel.h5"


def _graph_model(model):
    """The model whose graph holds the LAuReL layers (a task's backbone, a
    wrapper's image encoder)."""
    return laurel_host(model.backbone if internals.is_keras_hub_task(model) else model)


def _residual_order(model):
    """`{id(operation): index}` of the residual connections of a functional
    model in computation order, LAuReL layers and plain additions alike."""
    from keras_laurel.graph.sites import find_residual_sites

    plain = {id(site.operation) for site in find_residual_sites(model)[0]}
    order = {}
    for node in internals.nodes_in_order(model):
        operation = node.operation
        if (isinstance(operation, Laurel) or id(operation) in plain) and id(operation) not in order:
            order[id(operation)] = len(order)
    return order


def _site_indices(model, layers):
    """Each LAuReL layer's index among the model's residual connections, and
    how many the model has (`None` where it is not a graph)."""
    if all(hasattr(layer, "site_index") for layer in layers):  # transformer layers
        indices = [layer.site_index for layer in layers]
        # Two towers (CLIP's) number their sites alike: laurel_layers' order.
        unique = len(set(indices)) == len(indices)
        return (indices if unique else list(range(len(layers)))), None
    graph = _graph_model(model)
    if not internals.is_functional(graph):
        return list(range(len(layers))), None  # a model's own code: laurel_layers' order
    order = _residual_order(graph)
    return [order[id(layer)] for layer in layers], len(order)


def _settings_of(model, layers):
    """The settings every site of `model` shares (placement included), or
    `None` where the sites differ (a hand-built model)."""
    held = [getattr(host, "laurel", None) for host in laurel_hosts(_graph_model(model))]
    settings = held[0] if all(s == held[0] for s in held) else None
    if not isinstance(settings, LaurelSettings):
        distinct = {json.dumps(layer.settings.get_config(), default=str) for layer in layers}
        settings = layers[0].settings if len(distinct) == 1 else None
    try:
        return json.dumps(settings.get_config()) if settings is not None else "null"
    except TypeError:  # an initializer object with no JSON form
        return "null"


def save_laurel_weights(model, filepath):
    """Saves the weights of every LAuReL layer of `model` to `filepath`.

    Like `Backbone.save_lora_weights`: only the adapter is written (a few KB
    for RW), with what `load_laurel_weights` needs to add LAuReL to the plain
    model itself. `filepath` must end in `.laurel.h5`.
    """
    filepath = str(filepath)
    if not filepath.endswith(_SUFFIX):
        raise ValueError(
            f"save_laurel_weights: `filepath` must end in '{_SUFFIX}'; received {filepath!r}."
        )
    layers = laurel_layers(model)
    if not layers:
        raise ValueError(
            f"save_laurel_weights: model '{model.name}' has no LAuReL layer; "
            "rewrite it with `keras_laurel.rewrite` first."
        )
    indices, residuals = _site_indices(model, layers)
    with h5py.File(filepath, "w") as f:
        f.attrs["format"] = _FORMAT
        f.attrs["version"] = _VERSION
        f.attrs["settings"] = _settings_of(model, layers)
        f.attrs["residual_connections"] = -1 if residuals is None else residuals
        sites = f.create_group("sites")
        for index, layer in zip(indices, layers):
            group = sites.create_group(str(index))
            for key, value in layer.settings.structure().items():
                group.attrs[key] = "None" if value is None else value
            for variable in layer.weights:
                group.create_dataset(variable.name, data=np.asarray(variable.numpy()))


def load_laurel_weights(model, filepath, copy=True):
    """Loads an adapter saved by `save_laurel_weights`; returns the model.

    If `model` has LAuReL, its sites must match the file's, and their weights
    are loaded in place; `model` is returned. If `model` has none (the plain
    model the adapter was trained on), LAuReL is added first, as the file
    records (`keras_laurel.rewrite` with the file's settings and sites, and
    `copy`), and the new model is returned. A missing or extra site, a
    different variant or a weight of a different shape raises `ValueError`.
    """
    filepath = str(filepath)
    with h5py.File(filepath, "r") as f:
        if f.attrs.get("format") != _FORMAT:
            raise ValueError(
                f"load_laurel_weights: {filepath!r} is not a keras_laurel adapter file."
            )
        version = int(f.attrs.get("version", 0))
        if version not in (1, _VERSION):
            raise ValueError(
                f"load_laurel_weights: {filepath!r} has adapter format version {version}; "
                f"this keras_laurel reads versions 1 and {_VERSION}."
            )
        if not laurel_layers(model):
            if version == 1:
                raise ValueError(
                    f"load_laurel_weights: {filepath!r} is a version 1 adapter file, which "
                    "does not record how LAuReL was added: rewrite the model as it was "
                    "(`keras_laurel.rewrite`) and load it into the result."
                )
            model = _add_laurel(model, f, filepath, copy)
        if version == 1:
            _load_v1(model, f)
        else:
            _load_sites(model, f["sites"])
    return model


def _add_laurel(model, f, filepath, copy):
    settings = json.loads(f.attrs["settings"])
    if settings is None:
        raise ValueError(
            f"load_laurel_weights: the sites of {filepath!r} have different settings (a "
            "model built by hand); build that model and load the file into it."
        )
    settings = LaurelSettings.from_config(settings)
    residuals = int(f.attrs["residual_connections"])
    if residuals < 0:
        return rewrite(model, settings, copy=copy)
    from keras_laurel.graph.sites import find_residual_sites

    sites = find_residual_sites(_graph_model(model))[0]
    if len(sites) != residuals:
        raise ValueError(
            f"load_laurel_weights: model '{model.name}' has {len(sites)} residual "
            f"connections but the model {filepath!r} was saved from had {residuals}."
        )
    chosen = {id(sites[int(index)].operation) for index in f["sites"]}
    targets = None if len(chosen) == residuals else (lambda op: id(op) in chosen)
    return rewrite(model, settings, targets=targets, copy=copy)


def _check_structure(name, layer, group):
    for key, current in layer.settings.structure().items():
        saved = group.attrs.get(key, "None")  # older files have no `streams`, `dynamic`
        saved = None if isinstance(saved, str) and saved == "None" else saved
        if saved != current and not (isinstance(saved, np.generic) and saved.item() == current):
            raise ValueError(
                f"load_laurel_weights: site '{name}' has {key}={current!r} "
                f"in the model but {saved!r} in the file."
            )


def _assign(name, layer, group):
    for variable in layer.weights:
        if variable.name not in group:
            raise ValueError(
                f"load_laurel_weights: site '{name}' has no weight '{variable.name}' in the file."
            )
        value = group[variable.name][()]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(
                f"load_laurel_weights: weight '{name}/{variable.name}' has shape "
                f"{tuple(variable.shape)} in the model but {tuple(value.shape)} in the file."
            )
        variable.assign(value)


def _load_sites(model, sites):
    layers = laurel_layers(model)
    indices, _ = _site_indices(model, layers)
    by_index = dict(zip((str(i) for i in indices), layers))
    missing = sorted(set(by_index) - set(sites), key=int)
    extra = sorted(set(sites) - set(by_index), key=int)
    if missing or extra:
        raise ValueError(
            "load_laurel_weights: the file's LAuReL sites do not match the model's: "
            f"sites {missing} are missing from the file, sites {extra} are not in the model."
        )
    for index, layer in by_index.items():
        _check_structure(f"{index} ({layer.path})", layer, sites[index])
    for index, layer in by_index.items():
        _assign(f"{index} ({layer.path})", layer, sites[index])


def _load_v1(model, f):
    """Version 1: one group per LAuReL layer, keyed by the layer's path."""
    layers = {layer.path: layer for layer in laurel_layers(model)}
    saved_sites = []
    f.visititems(
        lambda name, obj: (
            saved_sites.append(name)
            if isinstance(obj, h5py.Group) and "variant" in obj.attrs
            else None
        )
    )
    missing = sorted(set(layers) - set(saved_sites))
    extra = sorted(set(saved_sites) - set(layers))
    if missing or extra:
        raise ValueError(
            "load_laurel_weights: the file's LAuReL sites do not match the "
            f"model's: missing from the file {missing}, not in the model {extra}."
        )
    for name, layer in layers.items():
        _check_structure(name, layer, f[name])
    for name, layer in layers.items():
        _assign(name, layer, f[name])


def enable_lora(backbone, rank, target_layer_names=None):
    """`backbone.enable_lora(rank)` for a KerasHub backbone with LAuReL.

    The LAuReL backbones' own `enable_lora` keeps LAuReL trainable (KerasHub's
    freezes every weight before adding LoRA); this function is its alias,
    kept for code written before, and checks that `backbone` has LAuReL.

    Args:
        backbone: a KerasHub backbone returned by `keras_laurel.rewrite`.
        rank: the LoRA rank.
        target_layer_names: as for `Backbone.enable_lora` (`None`: KerasHub's
            default, the query and value projections).
    """
    layers = laurel_layers(backbone)
    if not layers:
        raise ValueError(
            f"enable_lora: backbone '{backbone.name}' has no LAuReL layer; rewrite it "
            "with `keras_laurel.rewrite` first (or use `backbone.enable_lora`)."
        )
    if not callable(getattr(backbone, "enable_lora", None)):
        raise TypeError(
            f"enable_lora: {type(backbone).__name__} is not a KerasHub backbone with `enable_lora`."
        )
    backbone.enable_lora(rank, target_layer_names=target_layer_names)
    for layer in layers:  # a backbone class of another origin
        layer.trainable = True
    return backbone
