"""`LaurelSettings`: one validated value that the layers, `rewrite` and the
transformer layers all take; the registry `rewrite` dispatches over."""

import dataclasses
import inspect
import json

import keras
import numpy as np
import pytest

import keras_laurel as kl
from keras_laurel import rewriting
from keras_laurel.layers.settings import LaurelSettings


def residual_mlp(width=8, blocks=2):
    x = inputs = keras.Input((width,))
    for i in range(blocks):
        x = keras.layers.Add(name=f"add{i}")([x, keras.layers.Dense(width, name=f"fx{i}")(x)])
    return keras.Model(inputs, x)


def test_settings_are_canonical_and_fill_k():
    s = LaurelSettings("pa+rw")
    assert s.variant == "rw+pa" and s.k == 3 and s.rank is None
    assert (s.use_rw, s.use_lr, s.use_pa) == (True, False, True)
    assert LaurelSettings("rw").k is None


def test_settings_config_is_json_and_round_trips():
    s = LaurelSettings(
        "rw+lr+pa",
        rank=4,
        k=2,
        a_initializer=keras.initializers.Constant(0.5),
        gamma_initializer="ones",
        placement="both",
    )
    config = json.loads(json.dumps(s.get_config()))
    assert LaurelSettings.from_config(config) == s
    assert isinstance(s.initializer("a"), keras.initializers.Constant)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(variant=3), TypeError, r"`variant` must be a string"),
        (dict(variant="rw+xx"), ValueError, r"`variant` must be one of"),
        (dict(variant="lr", rank="4"), TypeError, r"`rank` must be an integer"),
        (dict(variant="lr", rank=0), ValueError, r"`rank` must be an integer >= 1"),
        (dict(variant="pa", k=1.5), TypeError, r"`k` must be an integer"),
        (dict(variant="rw", placement="everywhere"), ValueError, r"`placement` must be one of"),
        (dict(variant="rw", placement=1), TypeError, r"`placement` must be one of"),
        (dict(variant="rw", axis=1.0), TypeError, r"`axis` must be an integer"),
    ],
)
def test_settings_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        LaurelSettings(**kwargs)


def test_layer_defaults_are_the_settings_defaults():
    # The layers' signatures repeat the defaults (Keras layers show them in
    # their signature); they must not drift from LaurelSettings'.
    defaults = {f.name: f.default for f in dataclasses.fields(LaurelSettings)}
    for cls in (kl.Laurel, kl.LaurelRW, kl.LaurelLR, kl.LaurelPA):
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if name in defaults and name != "axis" and parameter.default is not inspect._empty:
                assert parameter.default == defaults[name], (cls.__name__, name)


def test_layer_from_settings():
    s = LaurelSettings("rw+lr", rank=2, placement="both")
    layer = kl.Laurel.from_settings(s, name="site")
    assert layer.name == "site" and layer.settings == s.replace(axis=-1, placement=None)
    assert kl.LaurelRW.from_settings(LaurelSettings("rw", per_channel=True)).per_channel
    with pytest.raises(ValueError, match=r"use keras_laurel.Laurel"):
        kl.LaurelRW.from_settings(s)


def test_rewrite_takes_a_settings_value_or_keywords_not_both():
    model = residual_mlp()
    by_value = rewriting.rewrite(model, LaurelSettings("rw+lr", rank=2))
    by_keywords = kl.rewrite(model, "rw+lr", rank=2)
    assert [l.settings for l in kl.laurel_layers(by_value)] == [
        l.settings for l in kl.laurel_layers(by_keywords)
    ]
    with pytest.raises(TypeError, match=r"either a LaurelSettings or keyword settings"):
        kl.rewrite(model, LaurelSettings("rw"), per_channel=True)
    with pytest.raises(TypeError, match=r"unknown LAuReL setting\(s\) \['ranks'\]"):
        kl.rewrite(model, "lr", ranks=2)
    with pytest.raises(TypeError, match=r"`model` must be a keras.Model"):
        kl.rewrite("model", "rw")


def test_rewrite_passes_gamma_initializer_on():
    # Issue: `rewrite` accepted no `gamma_initializer` although the layer does.
    new = kl.rewrite(residual_mlp(), "pa", gamma_initializer=keras.initializers.Constant(0.25))
    for layer in kl.laurel_layers(new):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.gamma), 0.25)


def test_validating_settings_does_not_consume_layer_names():
    # Issue: validation built a throw-away Laurel, so a user's next layer was
    # auto-named `laurel_1`.
    kl.rewrite(residual_mlp(), "rw+lr", rank=2)
    LaurelSettings("rw")
    assert kl.Laurel("rw").name == "laurel"


def test_rewriting_a_rewritten_model_says_so():
    new = kl.rewrite(residual_mlp(), "rw")
    with pytest.raises(
        ValueError, match=r"already has LAuReL at 2 site\(s\): \['add0_laurel', 'add1_laurel'\]"
    ):
        kl.rewrite(new, "rw")


def test_registry_dispatches_to_the_most_specific_rewriter():
    names = [r.name for r in rewriting.rewriters()]
    assert names[-1] == "functional"  # the fallback comes last
    priorities = [r.priority for r in rewriting.rewriters()]
    assert priorities == sorted(priorities, reverse=True)

    class Never(rewriting.Rewriter):
        name, priority, description = "never", 100, "nothing"

        def supports(self, model):
            return False

    rewriting.register_rewriter(Never())
    try:
        assert rewriting.rewriters()[0].name == "never"
        assert len(kl.laurel_layers(kl.rewrite(residual_mlp(), "rw"))) == 2
    finally:
        rewriting._REWRITERS[:] = [r for r in rewriting._REWRITERS if r.name != "never"]
    with pytest.raises(TypeError, match="expected a keras_laurel.rewriting.Rewriter"):
        rewriting.register_rewriter(object())
