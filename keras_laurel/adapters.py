"""Saving and loading only the LAuReL weights (as KerasHub does for LoRA)."""

import h5py
import numpy as np

from keras_laurel.layers.settings import STRUCTURE
from keras_laurel.rewriting import laurel_layers

_FORMAT = "keras_laurel.adapter"
_SUFFIX = ".laurel.h5"


def save_laurel_weights(model, filepath):
    """Saves the weights of every LAuReL layer of `model` to `filepath`.

    Like `Backbone.save_lora_weights`: only the adapter is written (a few KB
    for RW), to be loaded onto the same base model rewritten the same way.
    `filepath` must end in `.laurel.h5`.
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
    with h5py.File(filepath, "w") as f:
        f.attrs["format"] = _FORMAT
        f.attrs["version"] = 1
        for layer in layers:
            group = f.create_group(layer.path)
            for key in STRUCTURE:
                value = getattr(layer, key)
                group.attrs[key] = "None" if value is None else value
            for variable in layer.weights:
                group.create_dataset(variable.name, data=np.asarray(variable.numpy()))


def load_laurel_weights(model, filepath):
    """Loads weights saved by `save_laurel_weights` into `model`'s LAuReL layers.

    `model` must carry the same LAuReL sites (rewrite a fresh copy of the base
    model with the same settings); a missing or extra site, a different
    variant or a weight of a different shape raises `ValueError`.
    """
    filepath = str(filepath)
    layers = {layer.path: layer for layer in laurel_layers(model)}
    with h5py.File(filepath, "r") as f:
        if f.attrs.get("format") != _FORMAT:
            raise ValueError(
                f"load_laurel_weights: {filepath!r} is not a keras_laurel adapter file."
            )
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
            group = f[name]
            for key in STRUCTURE:
                saved = group.attrs[key]
                saved = None if isinstance(saved, str) and saved == "None" else saved
                current = getattr(layer, key)
                if saved != current and not (
                    isinstance(saved, np.generic) and saved.item() == current
                ):
                    raise ValueError(
                        f"load_laurel_weights: site '{name}' has {key}={current!r} "
                        f"in the model but {saved!r} in the file."
                    )
            for variable in layer.weights:
                if variable.name not in group:
                    raise ValueError(
                        f"load_laurel_weights: site '{name}' has no weight "
                        f"'{variable.name}' in the file."
                    )
                value = group[variable.name][()]
                if tuple(value.shape) != tuple(variable.shape):
                    raise ValueError(
                        f"load_laurel_weights: weight '{name}/{variable.name}' has "
                        f"shape {tuple(variable.shape)} in the model but "
                        f"{tuple(value.shape)} in the file."
                    )
                variable.assign(value)


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
