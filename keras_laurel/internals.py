"""Every use of a private Keras or KerasHub API, in one place.

keras_laurel reads a functional model's graph (nodes, their operations and
their order), walks a layer's sublayers, reuses one KerasHub helper and, to
build a LAuReL backbone, rebinds names in a KerasHub module while that
backbone's `__init__` runs. None of that is public API, so it lives here,
each access guarded, and `tests/test_internals.py` checks every one against
the installed versions: after an upgrade that moves them, that test fails
with the name of what moved, instead of a user's training run.

`check()` runs the same checks and returns the problems it finds.
"""

import contextlib
import threading

import keras

try:  # Keras 3 keeps the functional model class here.
    from keras.src.models.functional import Functional
except ImportError:  # pragma: no cover - reported by check()
    Functional = None

try:  # The operation `x + y` and `keras.ops.add` record in a functional graph.
    from keras.src.ops.numpy import Add as AddOperation
except ImportError:  # pragma: no cover - reported by check()
    AddOperation = None


class InternalsError(RuntimeError):
    """A private Keras / KerasHub API keras_laurel relies on has changed."""


def _moved(what, error=None):
    detail = f" ({type(error).__name__}: {error})" if error is not None else ""
    return InternalsError(
        f"keras_laurel relies on {what}, which this version of Keras / KerasHub "
        f"(keras {keras.__version__}) does not provide{detail}. Please report it "
        "with the versions installed."
    )


# ----------------------------------------------------------- functional graphs


def is_functional(model):
    """Whether `model` is a functional model (a graph of layers and ops)."""
    if Functional is None:
        raise _moved("keras.src.models.functional.Functional")
    return isinstance(model, Functional)


def nodes_in_order(model):
    """The nodes of a functional model in the order the network computes them."""
    try:
        by_depth = model._nodes_by_depth
    except AttributeError as error:
        raise _moved("Functional._nodes_by_depth", error) from None
    order = []
    for depth in sorted(by_depth, reverse=True):
        order.extend(by_depth[depth])
    return order


def node_of(tensor):
    """The graph node that produced a symbolic tensor, or `None` for a constant."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None
    try:
        operation, node_index, _ = history
        return operation._inbound_nodes[node_index]
    except (AttributeError, IndexError, TypeError, ValueError) as error:
        raise _moved("KerasTensor._keras_history / Operation._inbound_nodes", error) from None


def is_add_operation(operation):
    """Whether a graph node's operation is `x + y` / `keras.ops.add`."""
    if AddOperation is None:
        raise _moved("keras.src.ops.numpy.Add")
    return isinstance(operation, AddOperation)


def node_inputs(node):
    """The symbolic tensors a node consumes, in argument order."""
    return list(node.input_tensors)


def node_is_input(node):
    return bool(node.is_input)


# ------------------------------------------------------------------ sublayers


def sublayers(layer):
    """Every layer nested in `layer` (recursively, `layer` excluded), in the
    order Keras tracks them (the order they were assigned in `__init__`)."""
    try:
        return list(layer._flatten_layers(include_self=False, recursive=True))
    except AttributeError as error:
        raise _moved("Layer._flatten_layers", error) from None


def is_leaf(layer):
    """A layer with no sublayers of its own."""
    return not sublayers(layer)


# ------------------------------------------------------------------- KerasHub


def merge_padding_and_attention_mask(*args, **kwargs):
    """KerasHub's helper, as its transformer layers use it."""
    try:
        from keras_hub.src.layers.modeling.transformer_layer_utils import (
            merge_padding_and_attention_mask as merge,
        )
    except ImportError as error:
        raise _moved(
            "keras_hub.src.layers.modeling.transformer_layer_utils."
            "merge_padding_and_attention_mask",
            error,
        ) from None
    return merge(*args, **kwargs)


def is_keras_hub_backbone(model):
    """Whether `model` is a `keras_hub.models.Backbone`."""
    return any(
        cls.__name__ == "Backbone" and cls.__module__.startswith("keras_hub")
        for cls in type(model).__mro__
    )


def init_globals(cls):
    """The module namespace `cls.__init__` looks its global names up in."""
    try:
        return cls.__init__.__globals__
    except AttributeError as error:
        raise _moved(f"{cls.__name__}.__init__.__globals__", error) from None


def init_arguments(cls):
    """The argument names of `cls.__init__`."""
    code = cls.__init__.__code__
    return code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]


# One lock for every rebinding, so that two threads building LAuReL backbones
# of the same module do not see each other's stand-ins.
_REBIND_LOCK = threading.RLock()


def _for_this_thread(original, replacement):
    """`replacement` when called from the thread that bound it, else
    `original`: a plain model built in another thread meanwhile is unchanged."""
    owner = threading.get_ident()

    def call(*args, **kwargs):
        target = replacement if threading.get_ident() == owner else original
        return target(*args, **kwargs)

    return call


@contextlib.contextmanager
def names_bound_in_init(cls, replacements):
    """Binds global names of `cls.__init__`'s module while the block runs.

    `replacements` maps each name to its stand-in; names the module does not
    have are skipped. Only the calling thread sees the stand-ins, and the
    original bindings are restored on exit, even after an error, so the
    module is unchanged for every other model. Yields the rebound names.
    """
    names = init_globals(cls)
    with _REBIND_LOCK:
        saved = {name: names[name] for name in replacements if name in names}
        try:
            for name, original in saved.items():
                names[name] = _for_this_thread(original, replacements[name])
            yield sorted(saved)
        finally:
            names.update(saved)


def check():
    """The private APIs keras_laurel relies on that are missing; `[]` if none."""
    if Functional is None or AddOperation is None:
        return ["keras.src.models.functional.Functional / keras.src.ops.numpy.Add"]
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(4)
    outputs = keras.ops.add(inputs, dense(inputs))
    model = keras.Model(inputs, outputs)
    probes = {
        "Functional._nodes_by_depth": lambda: len(nodes_in_order(model)) == 3,
        "KerasTensor._keras_history / Operation._inbound_nodes": (
            lambda: node_of(outputs) is not None and node_of(inputs).is_input
        ),
        "Node.input_tensors": lambda: len(node_inputs(node_of(outputs))) == 2,
        "keras.ops.add recorded as keras.src.ops.numpy.Add": (
            lambda: is_add_operation(node_of(outputs).operation)
        ),
        "Layer._flatten_layers": lambda: sublayers(model)[-1] is dense,
    }
    problems = []
    for what, probe in probes.items():
        try:
            ok = probe()
        except (InternalsError, AttributeError, IndexError, TypeError) as error:
            ok, what = False, f"{what} ({type(error).__name__}: {error})"
        if not ok:
            problems.append(what)
    try:
        import keras_hub  # noqa: F401
    except ImportError:
        return problems
    try:
        from keras_hub.src.layers.modeling.transformer_layer_utils import (  # noqa: F401
            merge_padding_and_attention_mask,
        )
    except ImportError as error:
        problems.append(f"merge_padding_and_attention_mask ({error})")
    return problems
