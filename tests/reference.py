"""An independent numpy reference for the LAuReL equations (docs/method.md).

It reads the layer's raw variables by name and recomputes the output with
plain numpy, written from the equations, not from the layer's code.
"""

import numpy as np


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def raw_weights(layer):
    """`{variable name: float64 numpy array}` for a built layer."""
    return {
        v.name: np.asarray(v.numpy() if hasattr(v, "numpy") else v, dtype=np.float64)
        for v in layer.weights
    }


def residual_weights(w, normalization):
    if normalization == "softmax":
        logits = np.stack([w["alpha_logit"], w["beta_logit"]])
        e = np.exp(logits - logits.max(axis=0))
        soft = 2.0 * e / e.sum(axis=0)
        return soft[0], soft[1]
    if normalization == "sigmoid":
        alpha = 2.0 * _sigmoid(w["mix_logit"])
        return alpha, 2.0 - alpha
    return w["alpha"], w["beta"]


def laurel_reference(variant, w, inputs, normalization="softmax", axis=-1):
    """LAuReL output in float64 for the canonical `variant` and raw weights `w`."""
    inputs = [np.asarray(t, dtype=np.float64) for t in inputs]
    # Move the channel axis last so every product is a plain matrix product.
    inputs = [np.moveaxis(t, axis, -1) for t in inputs]
    fx, x, prev = inputs[0], inputs[1], inputs[2:]
    parts = set(variant.split("+"))
    if "pa" in parts:
        history = [x] + prev
        mix = np.zeros_like(x)
        for j, act in enumerate(history):
            h = act @ w[f"a_{j}"] @ w[f"b_{j}"] if "lr" in parts else act
            mix = mix + w["gamma"][j] * h
        skip = x + mix
    elif "lr" in parts:
        skip = x + x @ w["a"] @ w["b"]
    else:
        skip = x
    if "rw" in parts:
        alpha, beta = residual_weights(w, normalization)
        out = alpha * fx + beta * skip
    else:
        out = fx + skip
    return np.moveaxis(out, -1, axis)


def gemma3n_reference(w, inputs, axis=-1, epsilon=1e-6):
    """Gemma 3n's LAuReL form, `(fx + x + x + RMSNorm_s((x A) B)) / sqrt(2)`,
    written from Gemma3nTextLaurelBlock's equations, in float64."""
    fx, x = (np.moveaxis(np.asarray(t, dtype=np.float64), axis, -1) for t in inputs)
    low = x @ w["a"] @ w["b"]
    normed = low / np.sqrt(np.mean(low**2, axis=-1, keepdims=True) + epsilon) * w["norm_scale"]
    return np.moveaxis((fx + x + (x + normed)) / np.sqrt(2.0), -1, axis)


def parameter_count(
    variant, dim, rank=None, k=3, normalization="softmax", per_channel=False, pa_terms=None
):
    """The per-connection parameter count from docs/method.md's table.

    `pa_terms` is the number of activations the site mixes (k, or fewer for
    the first blocks of a network)."""
    if variant in ("layerscale", "rezero"):  # lambda per channel; one alpha
        return dim if variant == "layerscale" else 1
    parts = set(variant.split("+"))
    terms = k if pa_terms is None else pa_terms
    count = 0
    if "rw" in parts:
        count += (1 if normalization == "sigmoid" else 2) * (dim if per_channel else 1)
    if "pa" in parts:
        count += terms
        if "lr" in parts:
            count += 2 * rank * terms * dim
    elif "lr" in parts:
        count += 2 * rank * dim
    return count
