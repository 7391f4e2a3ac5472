"""`summary`: what LAuReL added to a model, site by site."""

import dataclasses

import keras

from keras_laurel import internals
from keras_laurel.layers.laurel import Laurel
from keras_laurel.rewriting import laurel_layers


@dataclasses.dataclass
class SiteReport:
    name: str  # the LAuReL layer's name
    variant: str
    shape: tuple  # shape of x at the site (batch dimension included)
    params: int
    pa_connected: list  # LAuReL layers whose x this site mixes, newest first
    pa_left_out: list  # (layer name, reason) within the k - 1 window
    # A LAuReL block the model has built in (Gemma 3n's), not added by
    # keras_laurel: its rank and the mean of its learned RMSNorm scale.
    builtin: bool = False
    rank: int = None
    scale: float = None


@dataclasses.dataclass
class LaurelReport:
    """The LAuReL sites of a model and the parameters they add. Sites with
    `builtin=True` are the model's own LAuReL blocks (Gemma 3n's): listed, but
    part of the base model, not of what keras_laurel added."""

    model_name: str
    sites: list
    total_params: int

    @property
    def added_params(self):
        return sum(site.params for site in self.sites if not site.builtin)

    @property
    def base_params(self):
        return self.total_params - self.added_params

    @property
    def added_percent(self):
        return 100.0 * self.added_params / max(self.base_params, 1)

    def __str__(self):
        rows = [("site", "variant", "x shape", "params", "PA mixes")]
        for s in self.sites:
            mixes = "-"
            if s.builtin:
                mixes = f"built in: rank {s.rank}, learned scale (mean) {s.scale:.4g}"
            elif "pa" in s.variant:
                mixes = "x" + "".join(f", {n}" for n in s.pa_connected)
                if s.pa_left_out:
                    mixes += "; left out: " + ", ".join(f"{n} ({r})" for n, r in s.pa_left_out)
            rows.append((s.name, s.variant, str(s.shape[1:]), f"{s.params:,}", mixes))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        lines = [f"LAuReL sites of '{self.model_name}'"]
        for r in rows:
            lines.append("  ".join(r[c].ljust(widths[c]) for c in range(4)) + "  " + r[4])
        builtin = sum(s.builtin for s in self.sites)
        lines.append(
            f"{len(self.sites) - builtin} sites"
            + (f" and {builtin} built-in LAuReL blocks" if builtin else "")
            + f"; parameters added: {self.added_params:,} "
            f"over {self.base_params:,} ({self.added_percent:.3f}%)"
        )
        return "\n".join(lines)

    def __repr__(self):
        return (
            f"LaurelReport({len(self.sites)} sites, +{self.added_params:,} "
            f"params, +{self.added_percent:.3f}%)"
        )


def _laurel_nodes(model):
    if not internals.is_functional(model):
        return []
    return [node for node in internals.nodes_in_order(model) if isinstance(node.operation, Laurel)]


def _nested_report(model):
    """Sites inside layers (LAuReL transformer layers): mixed in call order."""
    layers = laurel_layers(model)
    sites = []
    for i, layer in enumerate(layers):
        # A relative's settings are its host layer's (none when built by hand).
        settings = getattr(layer, "settings", None)
        history = layer.num_inputs - 2 if settings is not None and settings.use_pa else 0
        if settings is None:
            variant = type(layer).__name__
        elif settings.uses_streams:
            variant = f"{settings.variant} (n = {settings.streams})"
        else:
            variant = settings.variant
        sites.append(
            SiteReport(
                name=layer.path,
                variant=variant,
                shape=(None, getattr(layer, "dim", None)),
                params=layer.count_params(),
                pa_connected=[layers[i - j].path for j in range(1, history + 1)],
                pa_left_out=[],
            )
        )
    return sites


def _builtin_report(model):
    """The model's own LAuReL blocks (Gemma 3n's low-rank blocks)."""
    import numpy as np

    return [
        SiteReport(
            name=layer.path,
            variant="lr (gemma3n)",
            shape=(None, dim),
            params=layer.count_params(),
            pa_connected=[],
            pa_left_out=[],
            builtin=True,
            rank=rank,
            scale=float(np.mean(keras.ops.convert_to_numpy(scale))),
        )
        for layer, rank, dim, scale in internals.builtin_laurel_blocks(model)
    ]


def _report(model):
    """The `LaurelReport` of a model (rewritten, loaded, or hand-built),
    including the LAuReL blocks a model has built in (Gemma 3n's)."""
    nodes = _laurel_nodes(model)
    if not nodes:
        return LaurelReport(
            model_name=model.name,
            sites=_builtin_report(model) + _nested_report(model),
            total_params=model.count_params(),
        )
    x_owner = {id(internals.node_inputs(node)[1]): node.operation.name for node in nodes}
    sites = []
    for i, node in enumerate(nodes):
        layer = node.operation
        x = internals.node_inputs(node)[1]
        connected = [x_owner.get(id(t), t.name) for t in internals.node_inputs(node)[2:]]
        left_out = []
        if layer.use_pa:
            for prev in reversed(nodes[max(0, i - (layer.k - 1)) : i]):
                if prev.operation.name in connected:
                    continue
                prev_shape = tuple(internals.node_inputs(prev)[1].shape)
                reason = (
                    f"shape {prev_shape[1:]} != {tuple(x.shape)[1:]}"
                    if prev_shape != tuple(x.shape)
                    else "not an ancestor"
                )
                left_out.append((prev.operation.name, reason))
        sites.append(
            SiteReport(
                name=layer.name,
                variant=layer.variant,
                shape=tuple(x.shape),
                params=layer.count_params(),
                pa_connected=connected,
                pa_left_out=left_out,
            )
        )
    return LaurelReport(model_name=model.name, sites=sites, total_params=model.count_params())


def summary(model, print_fn=None):
    """Prints the LAuReL sites of `model` and returns its `LaurelReport`.

    Lists every LAuReL layer in computation order with its variant, the
    shape of `x`, the parameters it adds and, for PA, which previous sites it
    mixes and which it left out (with the reason), then the total added and
    its percentage over the original model. A model's own LAuReL blocks
    (Gemma 3n's) are listed too, with `builtin=True`.

    Args:
        model: a Keras model (rewritten, loaded or hand-built).
        print_fn: as in `keras.Model.summary`, the function that prints the
            text (default `print`); `lambda line: None` prints nothing.
    """
    result = _report(model)
    (print_fn or print)(str(result))
    return result
