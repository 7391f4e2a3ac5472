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

import ast
import contextlib
import copy
import importlib
import inspect
import re
import textwrap
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


def sublayers(layer):
    """Every layer nested in `layer` (recursively, `layer` excluded), in the
    order Keras tracks them: depth first, `layer`'s own sublayers in the order
    they were assigned, deeper levels in reverse (`Layer._flatten_layers`)."""
    try:
        return list(layer._flatten_layers(include_self=False, recursive=True))
    except AttributeError as error:
        raise _moved("Layer._flatten_layers", error) from None


def is_leaf(layer):
    """A layer with no sublayers of its own."""
    return not sublayers(layer)


def optimizer_variable_index(optimizer, variable):
    """The index of `variable` in the optimizer's list (Keras's private
    `BaseOptimizer._get_variable_index`): `update_step` receives the
    backend's variable (a `tf.Variable` on TensorFlow), not Keras's."""
    try:
        index = optimizer._get_variable_index
    except AttributeError as error:
        raise _moved("keras.optimizers.Optimizer._get_variable_index", error) from None
    return index(variable)


def is_default(method):
    """Whether a layer method is Keras's default (not overridden)."""
    return getattr(method, "_is_default", False)


def is_keras_hub_instance(obj, names):
    """Whether `obj`'s class is, or extends, a KerasHub class named in `names`."""
    return any(
        cls.__name__ in names and cls.__module__.startswith("keras_hub")
        for cls in type(obj).__mro__
    )


def is_keras_hub_task(model):
    """Whether `model` is a `keras_hub.models.Task` with a backbone."""
    return is_keras_hub_instance(model, ("Task",)) and getattr(model, "backbone", None) is not None


def is_keras_hub_backbone(model):
    """Whether `model` is a `keras_hub.models.Backbone`."""
    return is_keras_hub_instance(model, ("Backbone",))


def raised_inside(error):
    """The exception a layer raised, of `error`'s type, before Keras re-raised
    it with its own text around the message (`Operation.compute_output_spec`'s
    "Could not automatically infer the output shape ... Either the call()
    method is incorrect ..."): Keras re-raises `type(error)(new message)`
    inside its `except`, so Python keeps the original as `__context__`.
    `error` itself where Keras stops doing so."""
    while type(error.__context__) is type(error):
        error = error.__context__
    return error


# KerasHub layers that are LAuReL blocks of their own: the model's built-in
# LAuReL (Gemma 3n's low-rank block, `docs/method.md`).
BUILTIN_LAUREL_BLOCKS = ("Gemma3nTextLaurelBlock",)


def builtin_laurel_blocks(model):
    """KerasHub's own LAuReL blocks inside `model` (Gemma 3n's) in the order of
    their layers (`decoder_block_0` before `decoder_block_1`, by path), each as
    `(layer, rank, dim, scale variable)`."""
    found = []
    for layer in sublayers(model):
        if not is_keras_hub_instance(layer, BUILTIN_LAUREL_BLOCKS):
            continue
        try:
            rank, dim = int(layer.laurel_rank), int(layer.hidden_size)
            scale = layer.post_laurel_norm.scale
        except AttributeError as error:
            what = f"{type(layer).__name__}'s laurel_rank / post_laurel_norm"
            raise _moved(what, error) from None
        found.append((layer, rank, dim, scale))
    return sorted(found, key=lambda block: _numbered(block[0].path))


def _numbered(path):
    """`path` as a sort key that puts `block_2` before `block_10`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def module_namespace(cls):
    """The namespace of the module that defines `cls`."""
    return vars(importlib.import_module(cls.__module__))


def init_arguments(cls):
    """The argument names of `cls.__init__`."""
    code = cls.__init__.__code__
    return code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]


# One lock for every rebinding, so that two threads building LAuReL backbones
# of the same module do not see each other's stand-ins.
_REBIND_LOCK = threading.RLock()


class _ModuleForThisThread:
    """A module's attributes as `replacement` gives them in the thread that
    bound it, as the module itself gives them in every other thread."""

    def __init__(self, original, replacement, owner):
        self._original, self._replacement, self._owner = original, replacement, owner

    def __getattr__(self, name):
        target = self._replacement if threading.get_ident() == self._owner else self._original
        return getattr(target, name)


class ModuleOverrides:
    """A stand-in for a module (`keras`, `keras.layers`) with some attributes
    replaced: `ModuleOverrides(keras.layers, Add=factory)`."""

    def __init__(self, module, **overrides):
        self._module, self._overrides = module, overrides

    def __getattr__(self, name):
        if name in self._overrides:
            return self._overrides[name]
        return getattr(self._module, name)


def _for_this_thread(original, replacement):
    """`replacement` when called from the thread that bound it, else
    `original`: a plain model built in another thread meanwhile is unchanged.
    A module is replaced attribute by attribute the same way."""
    owner = threading.get_ident()
    if inspect.ismodule(original):
        return _ModuleForThisThread(original, replacement, owner)

    def call(*args, **kwargs):
        target = replacement if threading.get_ident() == owner else original
        return target(*args, **kwargs)

    return call


def init_namespaces(cls):
    """The distinct module namespaces of every `__init__` in `cls`'s MRO (a
    subclass's `__init__` may build its layers through `super().__init__`)."""
    spaces, seen = [], set()
    for klass in cls.__mro__:
        function = klass.__dict__.get("__init__")
        names = getattr(function, "__globals__", None)
        if names is not None and id(names) not in seen:
            seen.add(id(names))
            spaces.append(names)
    return spaces


@contextlib.contextmanager
def names_bound_in_init(cls, replacements, builders=()):
    """Binds global names of `cls.__init__`'s module while the block runs.

    `replacements` maps each name to its stand-in; it is bound in the module
    of every `__init__` along `cls`'s MRO that has the name, and in the
    modules of the classes in `builders` (layers the backbone builds that
    build the replaced layers themselves, as ViT's encoder builds its
    blocks); names no such module has are skipped. Only the calling thread sees the stand-ins,
    and the original bindings are restored on exit, even after an error, so
    the modules are unchanged for every other model. Yields the rebound names.
    """
    spaces = init_namespaces(cls) + [module_namespace(b) for b in builders]
    with _REBIND_LOCK:
        saved = [
            (names, {name: names[name] for name in replacements if name in names})
            for names in spaces
        ]
        try:
            for names, originals in saved:
                for name, original in originals.items():
                    names[name] = _for_this_thread(original, replacements[name])
            yield sorted({name for _, originals in saved for name in originals})
        finally:
            for names, originals in saved:
                names.update(originals)


def _root(node):
    """What an operand of an addition is made of: a name, the first argument
    of a call (`ops.cast(x, "float32")` is `x`), or its source text."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call) and node.args:
        return _root(node.args[0])
    return ast.unparse(node)


def _is_add_call(node):
    """`ops.add(a, b)` / `keras.ops.add(a, b)`."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add"
        and ast.unparse(node.func.value) in ("ops", "keras.ops")
        and len(node.args) == 2
        and not node.keywords
    )


def _operands(node):
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return node.left, node.right
    if _is_add_call(node):
        return tuple(node.args)
    return None


def _fx_and_x(operands, roots, fx, x):
    """`(f(x) operand, x operand)` of an addition whose roots are `{fx, x}`.
    Where both are made of the same name (Swin: `x + drop_path(mlp(x))`), `x`
    is the operand that is the bare name."""
    if fx != x:
        return operands if roots[0] == fx else operands[::-1]
    bare = [isinstance(o, ast.Name) and o.id == x for o in operands]
    if bare.count(True) != 1:
        raise InternalsError(
            f"keras_laurel cannot tell f(x) from x in `{ast.unparse(operands[0])} + "
            f"{ast.unparse(operands[1])}`: exactly one operand must be `{x}` itself."
        )
    return operands[::-1] if bare[0] else operands


def _self_call(method, *args):
    return ast.Call(
        func=ast.Attribute(value=ast.Name("self", ast.Load()), attr=method, ctx=ast.Load()),
        args=list(args),
        keywords=[],
    )


class _ResidualCall(ast.NodeTransformer):
    """Routes the described additions through `self._laurel_site`, unpacks
    the hidden-state argument and packs every returned value."""

    def __init__(self, additions):
        self.pairs = {frozenset((fx, x)) for _, fx, x in additions}
        self.additions = list(additions)
        self.found = []

    def visit_FunctionDef(self, node):
        if getattr(self, "_entered", False):
            return node  # a nested function: not the layer's own code
        self._entered = True
        self.generic_visit(node)
        return node

    def visit_Lambda(self, node):
        return node

    def visit_Return(self, node):
        self.generic_visit(node)
        if node.value is not None:
            node.value = _self_call(
                "_laurel_pack_output", node.value, ast.Name("_laurel_history", ast.Load())
            )
        return node

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id == "super" and not node.args:
            node.args = [ast.Name("__laurel_class__", ast.Load()), ast.Name("self", ast.Load())]
        delegated = self._delegated(node)
        if delegated is not None:
            return delegated
        return self._addition(node)

    def _delegated(self, node):
        """A residual addition a helper layer makes: the description's `fx` is
        the helper's call, e.g. `self.output_layer(y, x)` (DeiT), which adds
        its argument `x` to what it computes from `y`. The helper is called
        with zeros in place of `x` (so it returns `f` exactly) and LAuReL
        makes the addition."""
        if len(self.found) >= len(self.additions):
            return None
        site, fx, x = self.additions[len(self.found)]
        if "(" not in fx or ast.unparse(node) != fx:
            return None
        self.found.append((fx, x))
        args = [
            ast.Call(ast.Name("__laurel_zeros_like__", ast.Load()), [a], [])
            if isinstance(a, ast.Name) and a.id == x
            else a
            for a in node.args
        ]
        helper = ast.Call(node.func, args, node.keywords)
        history = ast.Name("_laurel_history", ast.Load())
        return _self_call(
            "_laurel_site", ast.Constant(site), helper, ast.Name(x, ast.Load()), history
        )

    def visit_BinOp(self, node):
        return self._addition(node)

    def _addition(self, node):
        operands = _operands(node)
        if operands is not None:
            roots = tuple(_root(o) for o in operands)
            if frozenset(roots) in self.pairs and len(self.found) < len(self.additions):
                site, fx, x = self.additions[len(self.found)]
                self.found.append(roots)
                if set(roots) == {fx, x}:
                    fx_node, x_node = _fx_and_x(operands, roots, fx, x)
                    return _self_call(
                        "_laurel_site",
                        ast.Constant(site),
                        self.visit(fx_node),
                        self.visit(x_node),
                        ast.Name("_laurel_history", ast.Load()),
                    )
            elif frozenset(roots) in self.pairs:
                self.found.append(roots)
        self.generic_visit(node)
        return node


# Decorators a compiled method keeps (re-applied from the method's module);
# any other is refused by name rather than dropped: it may change what the
# method computes. KerasHub's layer `call`s have none today.
KEPT_DECORATORS = frozenset()


def _check_decorators(cls, method, definition):
    names = [ast.unparse(d) for d in definition.decorator_list]
    refused = [name for name in names if name not in KEPT_DECORATORS]
    if refused:
        raise InternalsError(
            f"{cls.__module__}.{cls.__name__}.{method} is decorated with "
            f"{['@' + name for name in refused]}, which keras_laurel does not know "
            "how to keep in its compiled copy; this KerasHub version's code differs "
            "from the one keras_laurel describes. Please report it with the versions "
            "installed."
        )


class _Inlined(ast.NodeTransformer):
    """Replaces each call of a nested helper `def helper(a, b): return expr`
    by `expr` with its parameters bound to the call's arguments (FNet's
    `add_and_norm(x, fx, norm)` becomes `norm(x + fx)`), so that the
    additions inside the helper are the method's own."""

    def __init__(self, helpers):
        self.helpers = helpers  # {name: (parameters, expression)}

    def visit_Call(self, node):
        self.generic_visit(node)
        if not (isinstance(node.func, ast.Name) and node.func.id in self.helpers):
            return node
        parameters, expression = self.helpers[node.func.id]
        if node.keywords or len(node.args) != len(parameters):
            raise _moved(f"the calls of `{node.func.id}` with its {len(parameters)} arguments")
        bound = dict(zip(parameters, node.args))

        class Bind(ast.NodeTransformer):
            def visit_Name(self, name):
                return copy.deepcopy(bound[name.id]) if name.id in bound else name

        return Bind().visit(copy.deepcopy(expression))


def _helpers_to_inline(cls, definition, names):
    """`{name: (parameters, expression)}` of the nested helpers `names` of a
    method, each `def name(params): return expression` using each parameter
    once (so that inlining it evaluates every argument once, as the call did)."""
    helpers = {}
    for node in definition.body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            parameters = [a.arg for a in node.args.args]
            simple = len(node.body) == 1 and isinstance(node.body[0], ast.Return)
            uses = [n.id for n in ast.walk(node) if isinstance(n, ast.Name)] if simple else []
            if not simple or any(uses.count(p) != 1 for p in parameters):
                raise _moved(f"{cls.__name__}'s helper `{node.name}` as `return <expression>`")
            helpers[node.name] = (parameters, node.body[0].value)
    missing = sorted(set(names) - set(helpers))
    if missing:
        raise _moved(f"the nested helpers {missing} of {cls.__name__}")
    return helpers


def residual_call(cls, additions, method="call", inline=(), paired=False):
    """`cls.<method>` with its residual additions routed through LAuReL.

    `additions` lists, in source order, each residual addition of the method
    as `(site, fx, x)`: the site's name and what its two operands are made
    of (see `_root`). The copy calls `self._laurel_site(site, fx, x,
    history)` in their place, starts with `arg, _laurel_history =
    self._laurel_unpack(arg)` for the hidden-state argument `arg` and returns
    `self._laurel_pack_output(value, _laurel_history)`. It is compiled from
    KerasHub's own source, so nothing is copied by hand; if the additions
    found differ from `additions` (KerasHub's code changed), this raises
    `InternalsError` naming both. `inline` names nested helper functions of
    the method whose calls are replaced by their bodies first (FNet's
    `add_and_norm`), so that their additions can be described. `paired`: the
    hidden-state argument is a tuple `(hidden, ...)` (T5Gemma's decoder
    layer takes the encoder's sequence with it), whose first element is
    unpacked.
    """
    function = getattr(cls, method)
    try:
        source = textwrap.dedent(inspect.getsource(function))
        filename = inspect.getsourcefile(function)
        _, first_line = inspect.getsourcelines(function)
    except (OSError, TypeError) as error:
        raise _moved(f"the source of {cls.__name__}.{method}", error) from None
    tree = ast.parse(source)
    definition = tree.body[0]
    if not isinstance(definition, ast.FunctionDef):
        raise _moved(f"{cls.__name__}.{method} as a plain function")
    _check_decorators(cls, method, definition)
    parameters = [a.arg for a in definition.args.args]
    if len(parameters) < 2 or parameters[0] != "self":
        raise _moved(f"{cls.__name__}.{method}(self, hidden, ...)")
    hidden = parameters[1]
    if inline:
        _Inlined(_helpers_to_inline(cls, definition, inline)).visit(definition)
    transformer = _ResidualCall(additions)
    transformer.visit(definition)
    expected = [(fx, x) for _, fx, x in additions]
    found = transformer.found
    if len(found) != len(expected) or any(set(f) != set(e) for f, e in zip(found, expected)):
        raise InternalsError(
            f"{cls.__module__}.{cls.__name__}.{method}: keras_laurel expects its "
            f"residual additions to be (f(x), x) = {expected}, in this order, but "
            f"finds {found}; this KerasHub version's code differs from the one "
            "keras_laurel describes. Please report it with the versions installed."
        )
    body = definition.body
    start = (
        1
        if body
        and isinstance(body[0], ast.Expr)
        and isinstance(getattr(body[0], "value", None), ast.Constant)
        else 0
    )
    if paired:
        unpack = ast.parse(
            f"_laurel_hidden, _laurel_history = self._laurel_unpack({hidden}[0])\n"
            f"{hidden} = (_laurel_hidden, *{hidden}[1:])"
        ).body
    else:
        unpack = ast.parse(f"{hidden}, _laurel_history = self._laurel_unpack({hidden})").body
    body[start:start] = unpack
    ast.fix_missing_locations(tree)
    ast.increment_lineno(tree, first_line - 1)
    namespace = dict(function.__globals__)  # a copy: KerasHub's module is not touched
    namespace["__laurel_zeros_like__"] = keras.ops.zeros_like
    namespace["__laurel_class__"] = next(k for k in cls.__mro__ if method in k.__dict__)
    local = {}
    exec(compile(tree, filename or f"<{cls.__name__}.{method}>", "exec"), namespace, local)
    return local[definition.name]


def _deferred_probe():
    """A layer built with deferred variables, one of them handed another
    layer's storage and the other initialised, computes as expected."""
    source = keras.layers.Dense(3, bias_initializer="ones")
    source.build((None, 2))
    with deferred_variables() as created:
        target = keras.layers.Dense(3, bias_initializer="ones")
        target.build((None, 2))
    if not all(is_deferred(v) for v in target.weights) or len(created) != 2:
        return False
    adopt_value(target.kernel, source.kernel, copy=False)
    initialize_deferred(created)
    x = keras.ops.ones((1, 2))
    same = keras.ops.convert_to_numpy(target(x)) == keras.ops.convert_to_numpy(source(x))
    waiting = {id(v) for v in _pending()}
    return bool(same.all()) and not any(id(v) in waiting for v in created)


def _optimizer_probe():
    variables = [keras.Variable([0.0, 0.0]), keras.Variable([0.0])]
    optimizer = keras.optimizers.SGD()
    optimizer.build(variables)
    return optimizer_variable_index(optimizer, variables[1]) == 1


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
        "deferred variables (Variable._value, _initialize, _deferred_initialize, "
        "uninitialized_variables)": _deferred_probe,
        "Optimizer._get_variable_index": _optimizer_probe,
    }
    problems = []
    for what, probe in probes.items():
        try:
            ok = probe()
        except (InternalsError, AttributeError, IndexError, TypeError) as error:
            ok, what = False, f"{what} ({type(error).__name__}: {error})"
        if not ok:
            problems.append(what)
    return problems


# Building a model without allocating its weights, then giving its variables
# the values of another model's (`keras_laurel.rewrite`, `keras_laurel.from_preset`).


@contextlib.contextmanager
def deferred_variables():
    """Variables created in the block are not allocated: each keeps its
    initializer until `adopt_value` gives it a value or
    `initialize_deferred` runs it (Keras's lazy initialisation,
    `keras.StatelessScope(initialize_variables=False)`). Yields a list that
    holds, once the block ends, every variable created in it."""
    if in_stateless_scope():
        raise RuntimeError(
            "keras_laurel cannot build a model inside a keras.StatelessScope (or while "
            "tracing a function); call it eagerly."
        )
    before = {id(v) for v in _pending()}
    created = []
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield created
    finally:
        created.extend(v for v in _pending() if id(v) not in before)


def _global_state():
    try:
        from keras.src.backend.common import global_state
    except ImportError as error:
        raise _moved("keras.src.backend.common.global_state", error) from None
    return global_state


def _pending():
    """Keras's list of the variables awaiting their initializer."""
    return list(_global_state().get_global_attribute("uninitialized_variables") or [])


def _forget_deferred(variables):
    ids = {id(v) for v in variables}
    _global_state().set_global_attribute(
        "uninitialized_variables", [v for v in _pending() if id(v) not in ids]
    )


def is_deferred(variable):
    """Whether `variable` was created by `deferred_variables` and has no value yet."""
    try:
        return variable._value is None
    except AttributeError as error:
        raise _moved("Variable._value", error) from None


def adopt_value(target, source, copy):
    """Gives the deferred variable `target` the value of `source` (same
    shape and dtype): its very storage (a JAX array, a torch `Parameter`, a
    `tf.Variable`), so the two variables share it, or, with `copy=True`, a
    copy of it made on its device."""
    if not is_deferred(target):
        raise _moved(f"a deferred variable '{target.path}' (it already has a value)")
    value = source._value
    if copy:
        value = _device_copy(value)
    if keras.backend.backend() == "tensorflow" and not copy:
        target._value = value  # the same tf.Variable
    else:
        # JAX: laid out as `target`'s layout says; torch: a Parameter is kept.
        target._initialize(value)
    target._initializer = None
    _forget_deferred([target])


def _device_copy(value):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax.numpy as jnp

        return jnp.array(value, copy=True)
    if backend == "torch":
        return value.detach().clone()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.identity(value)
    return keras.ops.copy(value)


def discard_deferred(variables):
    """Drops deferred variables that will never be used (a model built only
    to be looked at) from Keras's list of variables awaiting initialisation."""
    _forget_deferred([v for v in variables if is_deferred(v)])


def in_stateless_scope():
    """Whether the caller runs inside a `keras.StatelessScope` (a
    `deferred_variables` block among them)."""
    try:
        from keras.src.backend.common.stateless_scope import in_stateless_scope as inside
    except ImportError as error:
        raise _moved("keras.src.backend.common.stateless_scope", error) from None
    return inside()


def initialize_deferred(variables):
    """Runs the initializer of every deferred variable in `variables`."""
    pending = [v for v in variables if is_deferred(v)]
    for variable in pending:
        variable._deferred_initialize()
    _forget_deferred(pending)
