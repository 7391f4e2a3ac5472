"""Layouts of the weights for `keras.distribution.ModelParallel` (JAX)."""

import keras

# Keys are regexes fully matched against variable paths. LAuReL's scalars
# (alpha/beta logits, gamma) match nothing and are therefore replicated.
LAUREL_A = r".*_laurel/a(_\d+)?"  # D x r
LAUREL_B = r".*_laurel/b(_\d+)?"  # r x D

BASE_LAYOUTS = {
    # KerasHub GPT-2: embeddings and the hidden axis of every projection are
    # split over "model" (Megatron style: heads and the MLP's inner dim).
    "gpt2": {
        r"token_embedding/embeddings": (None, "model"),
        r"position_embedding/embeddings": (None, "model"),
        r".*self_attention/(query|key|value)/kernel": (None, "model", None),
        r".*self_attention/(query|key|value)/bias": ("model", None),
        r".*self_attention/attention_output/kernel": ("model", None, None),
        r".*feedforward_intermediate_dense/kernel": (None, "model"),
        r".*feedforward_intermediate_dense/bias": ("model",),
        r".*feedforward_output_dense/kernel": ("model", None),
    },
    # KerasHub / KerasCV ResNets: convolutions split over output channels;
    # batch norm and the head replicated.
    "resnet": {
        r".*conv[^/]*/kernel": (None, None, None, "model"),
    },
}


def layout_map(model_kind, device_mesh, lowrank="sharded", model_dim="model"):
    """A `keras.distribution.LayoutMap` for a LAuReL model of `model_kind`.

    `model_kind` is a KerasHub backbone class or instance with
    `get_layout_map` (Llama, Gemma, Mistral, Qwen, ...: KerasHub's own
    layouts are used, LAuReL's added), `"gpt2"` or `"resnet"` (the tables
    above), or `None` (LAuReL's weights only). LAuReL's low-rank factors are
    sharded along their `D` axis over `model_dim` (`lowrank="sharded"`: `A`
    is `(model, None)`, `B` is `(None, model)`, so `(x A) B` needs one
    all-reduce, like a Megatron MLP) or replicated
    (`lowrank="replicated"`); the scalars are replicated.
    """
    if callable(getattr(model_kind, "get_layout_map", None)):
        layouts = model_kind.get_layout_map(device_mesh, model_parallel_dim_name=model_dim)
    elif model_kind is None or model_kind in BASE_LAYOUTS:
        layouts = keras.distribution.LayoutMap(device_mesh)
        for key, axes in BASE_LAYOUTS.get(model_kind, {}).items():
            layouts[key] = tuple(model_dim if a == "model" else a for a in axes)
    else:
        raise ValueError(
            f"layout_map: `model_kind` must be a KerasHub backbone (class or instance) "
            f"with `get_layout_map`, one of {sorted(BASE_LAYOUTS)}, or None; received "
            f"{model_kind!r}."
        )
    if lowrank == "sharded":
        layouts[LAUREL_A] = (model_dim, None)
        layouts[LAUREL_B] = (None, model_dim)
    else:
        layouts[LAUREL_A] = (None, None)
        layouts[LAUREL_B] = (None, None)
    return layouts
