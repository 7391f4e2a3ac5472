"""The private Keras / KerasHub APIs keras_laurel relies on, all used from
`keras_laurel.internals` alone and each present in the installed versions.

An upgrade of Keras or KerasHub that moves one of them fails here, by name."""

import functools
import pathlib
import re
import threading

import keras
import numpy as np
import pytest

import keras_laurel as kl
from keras_laurel import internals

PACKAGE = pathlib.Path(kl.__file__).parent

# What only keras_laurel/internals.py may touch.
PRIVATE = re.compile(
    r"keras\.src|keras_hub\.src|_flatten_layers|_nodes_by_depth|_inbound_nodes"
    r"|_keras_history|__globals__|\._layers\b"
)


def test_every_private_api_is_present():
    assert internals.check() == []


def lines_matching(pattern, allowed):
    """`file:line: text` of every package line matching `pattern`, outside
    the file `allowed` (a path relative to the package)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name == allowed:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_private_apis_are_used_in_internals_only():
    assert lines_matching(PRIVATE, allowed="internals.py") == []


def test_the_check_above_can_fail():
    assert lines_matching(PRIVATE, allowed="layers/laurel.py")  # internals.py itself


def test_graph_does_not_import_transformers():
    imports = [
        module
        for path in (PACKAGE / "graph").rglob("*.py")
        for module in re.findall(r"^\s*(?:from|import)\s+(\S+)", path.read_text(), re.M)
    ]
    assert "keras_laurel.rewriting" in imports  # the pattern finds the imports
    assert [m for m in imports if m.startswith("keras_laurel.transformers")] == []


def test_graph_probes_see_a_functional_graph():
    x = keras.Input((4,))
    dense = keras.layers.Dense(4)
    y = x + dense(x)
    model = keras.Model(x, y)
    nodes = internals.nodes_in_order(model)
    assert internals.node_is_input(nodes[0])
    assert internals.is_add_operation(internals.node_of(y).operation)
    assert [t is x for t in internals.node_inputs(internals.node_of(y))] == [True, False]
    assert internals.sublayers(model)[-1] is dense and internals.is_leaf(dense)
    assert internals.is_functional(model) and not internals.is_functional(keras.Sequential())


class _Host:
    """A class whose __init__ looks up the global name `_PROBE`."""

    def __init__(self):
        self.made = _PROBE()


def _PROBE():
    return "original"


def test_names_bound_in_init_restores_the_module_even_after_an_error():
    with internals.names_bound_in_init(
        _Host, {"_PROBE": lambda: "stand-in", "absent": None}
    ) as bound:
        assert bound == ["_PROBE"]
        assert _Host().made == "stand-in"
    assert _Host().made == "original"
    with pytest.raises(RuntimeError):
        with internals.names_bound_in_init(_Host, {"_PROBE": lambda: "stand-in"}):
            raise RuntimeError
    assert _Host().made == "original" and "absent" not in globals()


def test_names_bound_in_init_is_seen_by_its_own_thread_only():
    seen = []
    with internals.names_bound_in_init(_Host, {"_PROBE": lambda: "stand-in"}):
        thread = threading.Thread(target=lambda: seen.append(_Host().made))
        thread.start()
        thread.join(timeout=10)
        assert _Host().made == "stand-in"
    assert seen == ["original"]


def test_names_bound_in_init_serialises_binders():
    seen = []
    with internals.names_bound_in_init(_Host, {"_PROBE": lambda: "first"}):

        def other():
            with internals.names_bound_in_init(_Host, {"_PROBE": lambda: "second"}):
                seen.append(_Host().made)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive() and seen == []  # waits for the first binder
    thread.join(timeout=10)
    assert seen == ["second"] and _Host().made == "original"


def test_keras_hub_internals():
    pytest.importorskip("keras_hub")  # a declared dependency; skipped only without it
    import keras_hub

    from keras_laurel.transformers import backbone
    from keras_laurel.transformers.families import family_of

    for name in backbone.KNOWN_BACKBONES:
        cls = getattr(keras_hub.models, name)
        assert backbone.is_supported(cls), name
        family = family_of(cls)
        # Swin counts by `depths`, Moonshine by `encoder_num_layers` and `decoder_num_layers`.
        for counted in [family, family and family.companion] if family else [None]:
            if family is None or counted is not None:
                counted_by = backbone._layers_argument(counted)
                assert counted_by in internals.init_arguments(cls), (name, counted_by)


class _Helper(keras.layers.Layer):
    """A helper layer that makes the residual addition itself (as DeiT's
    `DeiTOutput` does)."""

    def call(self, hidden_states, input_tensor):
        hidden_states = hidden_states * 3.0
        return hidden_states + input_tensor


class _Block(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.output_layer = _Helper()

    def branch(self, x):
        return x * 5.0

    def call(self, x):
        x = x + self.branch(x)  # both operands are made of `x`: x is the bare one
        y = self.output_layer(x * 7.0, x)
        return y


class _Recorder:
    """Stands in for the LAuReL mixin: a site computes 2 f(x) + 10 x."""

    def _laurel_unpack(self, x):
        return x, []

    def _laurel_site(self, site, fx, x, history):
        self.sites.append(site)
        return 2.0 * fx + 10.0 * x

    def _laurel_pack_output(self, output, history):
        return output


def test_residual_call_tells_fx_from_x_and_routes_helper_additions():
    call = internals.residual_call(
        _Block,
        (("attention", "x", "x"), ("feedforward", "self.output_layer(x * 7.0, x)", "x")),
    )
    block = type("Routed", (_Recorder, _Block), {"call": call})()
    block.sites = []
    x = np.array([[1.0, -2.0]], "float32")
    h = 2.0 * (5.0 * x) + 10.0 * x  # f = branch(x), not x
    want = 2.0 * (3.0 * 7.0 * h) + 10.0 * h  # f = the helper without its `+ x`
    np.testing.assert_allclose(keras.ops.convert_to_numpy(block.call(x)), want)
    assert block.sites == ["attention", "feedforward"]
    internals.residual_call(_Helper, ((None, "hidden_states", "input_tensor"),))


class _Nested(keras.layers.Layer):
    """FNet's shape: the additions are made by a nested helper."""

    def call(self, inputs):
        def add_and_scale(first, second, scale):
            return scale * (first + second)

        mixed = add_and_scale(inputs, 3.0 * inputs, 0.5)
        return add_and_scale(mixed, keras.ops.square(mixed), 4.0)


def test_residual_call_inlines_a_nested_helper():
    call = internals.residual_call(
        _Nested,
        (
            ("attention", "3.0 * inputs", "inputs"),
            ("feedforward", "mixed", "mixed"),  # f = square(mixed), x = mixed itself
        ),
        inline=("add_and_scale",),
    )
    block = type("Inlined", (_Recorder, _Nested), {"call": call})()
    block.sites = []
    x = np.array([[1.0, -2.0]], "float32")
    mixed = 0.5 * (2.0 * (3.0 * x) + 10.0 * x)
    want = 4.0 * (2.0 * mixed**2 + 10.0 * mixed)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(block.call(x)), want, rtol=1e-6)
    assert block.sites == ["attention", "feedforward"]


class _Paired(keras.layers.Layer):
    """T5Gemma's decoder layer's shape: the hidden state comes paired with
    the encoder's sequence."""

    def call(self, inputs):
        hidden, memory = inputs
        return hidden + memory * hidden, memory


class _PairRecorder(_Recorder):
    def _laurel_unpack(self, x):
        self.unpacked.append(x)
        return x * 100.0, []


def test_residual_call_unpacks_the_first_element_of_a_paired_argument():
    call = internals.residual_call(
        _Paired, (("cross_attention", "memory * hidden", "hidden"),), paired=True
    )
    block = type("PairedRouted", (_PairRecorder, _Paired), {"call": call})()
    block.sites, block.unpacked = [], []
    hidden, memory = np.float32(2.0), np.float32(3.0)
    out, kept = block.call((hidden, memory))
    unpacked = 100.0 * hidden  # what `_laurel_unpack` made of the pair's first element
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out), 2.0 * memory * unpacked + 10.0 * unpacked
    )
    assert kept == memory and block.unpacked == [hidden] and block.sites == ["cross_attention"]


def test_residual_call_refuses_a_helper_it_cannot_inline():
    class Twice(keras.layers.Layer):
        def call(self, x):
            def add(a, b):
                return a + b + b  # `b` evaluated twice once inlined

            return add(x, keras.ops.square(x))

    with pytest.raises(internals.InternalsError, match="helper `add` as `return <expression>`"):
        internals.residual_call(Twice, (("attention", "x", "x"),), inline=("add",))
    with pytest.raises(internals.InternalsError, match=r"nested helpers \['missing'\]"):
        internals.residual_call(_Nested, (("attention", "x", "x"),), inline=("missing",))


def test_residual_call_refuses_an_addition_it_cannot_orient():
    class Ambiguous(keras.layers.Layer):
        def call(self, x):
            return keras.ops.abs(x) + keras.ops.square(x)

    with pytest.raises(internals.InternalsError, match="cannot tell f"):
        internals.residual_call(Ambiguous, (("attention", "x", "x"),))


def _keras_hub_private_names():
    """Every `self._name` KerasHub's own source assigns."""
    import keras_hub

    root = pathlib.Path(keras_hub.__file__).parent
    assigned = re.compile(r"self\.(_[A-Za-z]\w*)\s*(?::[^=]*)?=[^=]")
    return {name for path in root.rglob("*.py") for name in assigned.findall(path.read_text())}


def private_reads(source, names):
    """`(line, attribute)` of every `obj._name` in `source` naming one of `names`."""
    import ast

    return [
        (node.lineno, node.attr)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr in names
    ]


def test_keras_hub_private_attributes_are_read_in_internals_only():
    names = _keras_hub_private_names()
    assert "_self_attention_layer" in names  # what the scan looks for
    found = [
        f"{path.relative_to(PACKAGE)}:{line}: .{attribute}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "internals.py"
        for line, attribute in private_reads(path.read_text(), names)
    ]
    assert found == []
    # The scan does fail on such a read (a hand-copied KerasHub call body).
    assert private_reads("x = self._self_attention_layer(x)", names) == [
        (1, "_self_attention_layer")
    ]


def test_a_decorated_call_is_refused_by_name_or_kept(monkeypatch):
    def double(function):
        @functools.wraps(function)
        def wrapped(self, x):
            return function(self, x) * 2.0

        return wrapped

    class Decorated(keras.layers.Layer):
        @double
        def call(self, x):
            x = x + self.branch(x)
            return x

        def branch(self, x):
            return x * 5.0

    globals()["double"] = double  # the decorator's name in the method's module
    with pytest.raises(internals.InternalsError, match=r"\['@double'\]"):
        internals.residual_call(Decorated, (("attention", "x", "x"),))
    monkeypatch.setattr(internals, "KEPT_DECORATORS", frozenset({"double"}))
    call = internals.residual_call(Decorated, (("attention", "x", "x"),))
    block = type("Routed", (_Recorder, Decorated), {"call": call})()
    block.sites = []
    x = np.array([[1.0, -2.0]], "float32")
    want = 2.0 * (2.0 * (5.0 * x) + 10.0 * x)  # the decorator kept: doubled
    np.testing.assert_allclose(keras.ops.convert_to_numpy(block.call(x)), want)
