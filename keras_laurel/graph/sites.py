"""Finding the residual connections of a functional graph.

A *residual site* is an addition of exactly two tensors of the same shape,
written as a `keras.layers.Add` layer or as an operation (`x + y`,
`keras.ops.add(x, y)`, which Keras records in the graph as an add
operation; both follow the same rules below), where
both come from one earlier tensor, the *fork* `s`: one operand is the block's
input path (`s` itself, an identity shortcut, or a short projection of it such
as `Conv2D` + `BatchNormalization`), the other the residual branch `f(s)`.

Which operand is which is decided from the graph alone, never from names:
the fork is the common ancestor closest to both operands (fewest operations
in total), and the operand fewer operations away from it is `x`, the other is
`f(x)`. An `Add` is *not* a residual site when

* its operands share no ancestor (e.g. two model inputs added),
* both operands are equally far from the fork (parallel branches, no skip),
* the branch consists only of layers whose output does not depend on their
  input's values (position embeddings / encodings, so `tokens + positions`
  is left alone),
* its operands differ in shape (a broadcasting add), or
* the `Add` layer is called more than once in the model.

An `Add` layer's site is named after the layer. An add operation's name is
made up by Keras from a process-wide counter (`add_3`), so its site is named
after the layer that produces `f(x)`, the last layer on the branch:
`x = x + mlp(x)` gives the site `mlp_residual`.
"""

import collections
import dataclasses
import re

import keras

from keras_laurel import internals

# Layers whose output depends only on the shape of their input.
_VALUE_INDEPENDENT = re.compile(r"Position(al)?(Embedding|Encoding)")


@dataclasses.dataclass
class ResidualSite:
    """One residual connection `x + f(x)` of a functional model."""

    name: str  # the `Add` layer's name, or `<branch layer>_residual` for an add operation
    operation: object  # the original `Add` layer or add operation
    fx_index: int  # position of `f(x)` among the `Add`'s inputs
    x_index: int  # position of `x`
    shape: tuple  # shape of the operands (batch dimension included)
    order: int  # position in the network's computation order
    x_tensor: object = dataclasses.field(repr=False, default=None)
    shortcut: str = "identity"  # "identity" or "projection"
    fx_tensor: object = dataclasses.field(repr=False, default=None)

    @property
    def layer(self):
        """The `Add` layer or add operation (what a `targets` callable receives)."""
        return self.operation

    @property
    def is_operation(self):
        """Whether the residual is written as an operation (`x + y`)."""
        return not isinstance(self.operation, keras.layers.Layer)


def _upward_distances(tensor):
    """Shortest distance, in operations, from each ancestor tensor to `tensor`.

    Returns `(distances, parent)` keyed by `id(ancestor)`; `parent` maps a
    tensor id to `(child tensor id, operation)` along a shortest path.
    """
    distances = {id(tensor): 0}
    parent = {}
    queue = collections.deque([tensor])
    while queue:
        current = queue.popleft()
        node = internals.node_of(current)
        if node is None or internals.node_is_input(node):
            continue
        for inp in internals.node_inputs(node):
            if id(inp) not in distances:
                distances[id(inp)] = distances[id(current)] + 1
                parent[id(inp)] = (id(current), node.operation)
                queue.append(inp)
    return distances, parent


def _branch_operations(parent, start_id, end_id):
    """Operations on the shortest path from tensor `start_id` down to `end_id`."""
    operations, current = [], start_id
    while current != end_id:
        current, operation = parent[current]
        operations.append(operation)
    return operations


def classify_add(node):
    """`(fx_index, x_index, shortcut)` if `node` is a residual add, else a reason string."""
    tensors = internals.node_inputs(node)
    if len(tensors) != 2:
        return f"adds {len(tensors)} tensors, not 2"
    u, v = tensors
    if tuple(u.shape) != tuple(v.shape):
        return f"operand shapes differ ({tuple(u.shape)} vs {tuple(v.shape)})"
    du, pu = _upward_distances(u)
    dv, pv = _upward_distances(v)
    common = set(du) & set(dv)
    if not common:
        return "operands share no ancestor"
    fork = min(common, key=lambda t: (du[t] + dv[t], max(du[t], dv[t])))
    if du[fork] == dv[fork]:
        return "both operands are equally far from their common input"
    if du[fork] < dv[fork]:
        x_index, fx_index, branch_parent, x_dist = 0, 1, pv, du[fork]
        branch = _branch_operations(branch_parent, fork, id(v))
    else:
        x_index, fx_index, branch_parent, x_dist = 1, 0, pu, dv[fork]
        branch = _branch_operations(branch_parent, fork, id(u))
    if all(_VALUE_INDEPENDENT.search(type(op).__name__) for op in branch):
        names = ", ".join(type(op).__name__ for op in branch)
        return f"the branch ({names}) does not depend on its input's values"
    return fx_index, x_index, ("identity" if x_dist == 0 else "projection")


def _branch_layer_name(fx):
    """The name of the layer closest to `fx` on its path up the graph."""
    current = fx
    while True:
        node = internals.node_of(current)
        if node is None or internals.node_is_input(node):
            return None
        if isinstance(node.operation, keras.layers.Layer):
            return node.operation.name
        inputs = internals.node_inputs(node)
        if not inputs:
            return None
        current = inputs[0]


def _is_addition(operation):
    return isinstance(operation, keras.layers.Add) or internals.is_add_operation(operation)


def find_residual_sites(model):
    """Residual sites of a functional `model`, in computation order.

    Returns `(sites, rejected)` where `rejected` maps the names of additions
    (`Add` layers and add operations) that are not residual connections to
    the reason.
    """
    nodes = internals.nodes_in_order(model)
    calls = {}
    for node in nodes:
        calls[id(node.operation)] = calls.get(id(node.operation), 0) + 1
    sites, rejected, names = [], {}, set()
    for node in nodes:
        operation = node.operation
        if not _is_addition(operation):
            continue
        if calls[id(operation)] != 1:
            rejected[operation.name] = "the Add layer is called more than once in the model"
            continue
        verdict = classify_add(node)
        if isinstance(verdict, str):
            rejected[operation.name] = verdict
            continue
        fx_index, x_index, shortcut = verdict
        tensors = internals.node_inputs(node)
        x_tensor, fx_tensor = tensors[x_index], tensors[fx_index]
        name = operation.name
        if not isinstance(operation, keras.layers.Layer):
            base = f"{_branch_layer_name(fx_tensor) or 'input'}_residual"
            name, n = base, 1
            while name in names:
                n += 1
                name = f"{base}_{n}"
        names.add(name)
        sites.append(
            ResidualSite(
                name=name,
                operation=operation,
                fx_index=fx_index,
                x_index=x_index,
                shape=tuple(x_tensor.shape),
                order=len(sites),
                x_tensor=x_tensor,
                shortcut=shortcut,
                fx_tensor=fx_tensor,
            )
        )
    return sites, rejected


def select_sites(sites, targets):
    """Filters `sites` by `targets`: `None`, a regex, a list of names or a callable.

    Mirrors `Model.quantize(filters=...)`: a string is a regular expression
    searched in the site's name, a list holds exact names, a callable
    receives the site's `Add` layer or add operation and returns a bool.
    """
    if targets is None:
        return list(sites)
    if isinstance(targets, str):
        pattern = re.compile(targets)
        chosen = [s for s in sites if pattern.search(s.name)]
    elif isinstance(targets, (list, tuple, set)):
        names = set(targets)
        unknown = sorted(names - {s.name for s in sites})
        if unknown:
            raise ValueError(
                f"rewrite: `targets` names {unknown}, which are not residual "
                f"sites of the model; its sites are {[s.name for s in sites]}."
            )
        chosen = [s for s in sites if s.name in names]
    elif callable(targets):
        chosen = [s for s in sites if targets(s.operation)]
    else:
        raise TypeError(
            "rewrite: `targets` must be None, a regex string, a list of site "
            f"names or a callable; received {targets!r}."
        )
    if not chosen:
        raise ValueError(
            f"rewrite: `targets`={targets!r} matches no residual site; the "
            f"model's sites are {[s.name for s in sites]}."
        )
    return chosen
