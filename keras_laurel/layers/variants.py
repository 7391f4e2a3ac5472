"""Names of the LAuReL variants (explained once).

* ``rw`` -- learned Residual Weights: ``alpha * f(x) + beta * x``.
* ``lr`` -- Low-Rank skip path: ``f(x) + x + (x A) B``, i.e. ``W = I + A B``.
* ``pa`` -- Previous Activations: ``f(x) + x + sum_j gamma_j h_j(x_{i-j})``.

Combinations join names with ``+``; the order of the names does not matter and
the canonical spelling is ``rw+lr+pa`` order.

Two of LAuReL's relatives are forms of RW, a learned weight on the branch with
the skip's weight fixed at 1, and are variants of their own (not combined):

* ``layerscale`` -- LayerScale: ``x + lambda * f(x)``, ``lambda`` per channel.
* ``rezero`` -- ReZero: ``x + alpha * f(x)``, one scalar ``alpha``.

Two more replace the one residual stream by ``n`` (transformer layers only):

* ``hc`` -- hyper-connections (static, or dynamic: input-dependent mixing).
* ``mhc`` -- manifold-constrained hyper-connections (a doubly stochastic mix).

and one averages every earlier layer's output (transformer layers only):

* ``denseformer`` -- DenseFormer's depth-weighted average after each layer.
"""

COMPONENTS = ("rw", "lr", "pa")
VARIANTS = ("rw", "lr", "pa", "rw+lr", "rw+pa", "lr+pa", "rw+lr+pa")
BRANCH_SCALES = ("layerscale", "rezero")
STREAM_VARIANTS = ("hc", "mhc")
DEPTH_AVERAGE = "denseformer"
# LAuReL's relatives that are variants of their own (not combined).
RELATIVES = BRANCH_SCALES + STREAM_VARIANTS + (DEPTH_AVERAGE,)
NORMALIZATIONS = ("softmax", "sigmoid", None)


def canonical_variant(variant, owner=None):
    """Returns the canonical spelling of `variant` or raises `ValueError`
    (its message starts with `owner: ` when an owner is given)."""
    if isinstance(variant, str):
        if variant.strip().lower() in RELATIVES:
            return variant.strip().lower()
        parts = [p.strip() for p in variant.lower().split("+")]
        if parts and len(set(parts)) == len(parts) and set(parts) <= set(COMPONENTS):
            return "+".join(c for c in COMPONENTS if c in parts)
    prefix = "" if owner is None else f"{owner}: "
    raise ValueError(
        f"{prefix}`variant` must be one of {list(VARIANTS)} (names joined "
        f"with '+', in any order) or one of LAuReL's relatives {list(RELATIVES)}; "
        f"received {variant!r}."
    )
