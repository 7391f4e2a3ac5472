"""LAuReL-LR in Gemma 3n's form (`lr_form="gemma3n"`) against a numpy
reference and KerasHub's own block, on the current backend; the report of
Gemma 3n's built-in LAuReL blocks."""

import keras
import numpy as np
import pytest
from reference import gemma3n_reference
from reference import raw_weights

import keras_laurel as kl
from keras_laurel import internals
from keras_laurel.layers.settings import LaurelSettings

SHAPES = {"BD": ((3, 8), -1), "BTD": ((2, 5, 8), -1), "BCHW": ((2, 8, 3, 4), 1)}


def inputs(shape, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype("float32") for _ in range(2)]


@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_matches_the_numpy_reference(shape_name):
    shape, axis = SHAPES[shape_name]
    layer = kl.LaurelLR(rank=2, lr_form="gemma3n", axis=axis)
    data = inputs(shape)
    layer(data)
    rng = np.random.default_rng(1)
    for v in layer.weights:
        v.assign(rng.normal(scale=0.5, size=v.shape).astype("float32"))
    got = keras.ops.convert_to_numpy(layer(data))
    want = gemma3n_reference(raw_weights(layer), data, axis=axis)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert [v.name for v in layer.weights] == ["a", "b", "norm_scale"]
    assert layer.norm_scale is layer.weights[2]


def test_at_init_it_is_not_the_plain_residual():
    # B = 0 makes the normalised branch 0: (fx + 2 x) / sqrt(2), as documented.
    fx, x = inputs((4, 8))
    got = keras.ops.convert_to_numpy(kl.LaurelLR(rank=2, lr_form="gemma3n")([fx, x]))
    np.testing.assert_allclose(got, (fx + 2 * x) / np.sqrt(2), rtol=1e-6, atol=1e-6)
    paper = keras.ops.convert_to_numpy(kl.LaurelLR(rank=2)([fx, x]))
    np.testing.assert_array_equal(paper, fx + x)


def test_settings_and_serialisation():
    layer = kl.Laurel.from_settings(LaurelSettings("lr", rank=2, lr_form="gemma3n"))
    revived = keras.layers.deserialize(keras.layers.serialize(layer))
    assert revived.lr_form == "gemma3n" and revived.settings == layer.settings
    with pytest.raises(ValueError, match=r"`lr_form`='gemma3n' applies to variant 'lr' alone"):
        LaurelSettings("rw+lr", rank=2, lr_form="gemma3n")
    with pytest.raises(ValueError, match=r"`lr_form` must be one of \['paper', 'gemma3n'\]"):
        kl.LaurelLR(rank=2, lr_form="gemma")
    with pytest.raises(TypeError, match=r"`lr_form` must be one of"):
        kl.LaurelLR(rank=2, lr_form=None)


def test_rewrite_with_the_gemma3n_form():
    x = keras.Input((8,))
    y = x + keras.layers.Dense(8, name="mlp")(x)
    new = kl.rewrite(keras.Model(x, y), "lr", rank=2, lr_form="gemma3n")
    (layer,) = kl.laurel_layers(new)
    assert layer.lr_form == "gemma3n" and layer.settings.structure()["lr_form"] == "gemma3n"


def test_the_form_is_kerashubs_gemma3n_block():
    # KerasHub's own block computes x + RMSNorm_s((x A) B); the layer's form
    # with f(x) = 0 is (x + that) / sqrt(2), with the same A, B and s.
    from keras_hub.src.models.gemma3n.gemma3n_text_layers import Gemma3nTextLaurelBlock

    x = np.random.default_rng(3).normal(size=(2, 5, 8)).astype("float32")
    block = Gemma3nTextLaurelBlock(hidden_size=8, laurel_rank=2, rms_norm_eps=1e-6)
    block.build(x.shape)
    block.post_laurel_norm.scale.assign(np.linspace(0.5, 1.5, 8).astype("float32"))
    layer = kl.LaurelLR(rank=2, lr_form="gemma3n", b_initializer="glorot_uniform")
    layer.build([x.shape, x.shape])
    layer.a[0].assign(keras.ops.convert_to_numpy(block.linear_left.kernel))
    layer.b[0].assign(keras.ops.convert_to_numpy(block.linear_right.kernel))
    layer.norm_scale.assign(keras.ops.convert_to_numpy(block.post_laurel_norm.scale))
    got = keras.ops.convert_to_numpy(layer([np.zeros_like(x), x]))
    want = (x + keras.ops.convert_to_numpy(block(x))) / np.sqrt(2.0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_report_lists_gemma3n_builtin_blocks_with_rank_and_scale():
    import keras_hub

    backbone = keras_hub.models.Gemma3nBackbone(
        text_vocab_size=64,
        text_hidden_size=16,
        num_hidden_layers=2,
        pad_token_id=0,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        intermediate_size=[32, 32],
        hidden_activation="gelu_approximate",
        layer_types=["sliding_attention", "full_attention"],
        sliding_window=4,
        rope_theta=10000.0,
        max_position_embeddings=32,
        vocab_size_per_layer_input=64,
        hidden_size_per_layer_input=4,
        altup_num_inputs=2,
        laurel_rank=4,
    )
    blocks = [layer for layer, *_ in internals.builtin_laurel_blocks(backbone)]
    assert len(blocks) == 2 and kl.laurel_layers(backbone) == []
    blocks[1].post_laurel_norm.scale.assign(np.full((16,), 0.25, "float32"))
    result = kl.summary(backbone, print_fn=lambda line: None)
    assert [s.builtin for s in result.sites] == [True, True]
    assert [s.rank for s in result.sites] == [4, 4]
    assert [s.scale for s in result.sites] == [1.0, 0.25]  # RMSNorm scale starts at 1
    assert [s.params for s in result.sites] == [2 * 4 * 16 + 16] * 2
    assert [s.name for s in result.sites] == [b.path for b in blocks]
    assert ["decoder_block_0" in b.path for b in blocks] == [True, False]  # in depth order
    assert all("/laurel" in s.name for s in result.sites)
    assert result.added_params == 0  # part of Gemma 3n, not added by keras_laurel
    text = str(result)
    assert "built in: rank 4, learned scale (mean) 0.25" in text
    assert "0 sites and 2 built-in LAuReL blocks" in text


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_the_norm_runs_in_float32_under_mixed_precision(policy):
    # The low-rank branch reaches 300: its square (9e4) overflows float16,
    # so a float16 norm would be 0 or inf; the float32 norm matches numpy.
    fx = np.zeros((2, 8), "float32")
    x = np.full((2, 8), 10.0, "float32")
    layer = kl.LaurelLR(rank=2, lr_form="gemma3n", dtype=policy)
    layer([fx, x])
    assert layer.norm_scale.dtype == "float32" and layer.a[0].dtype == "float32"
    layer.a[0].assign(np.full((8, 2), 1.0, "float32"))
    layer.b[0].assign(np.full((2, 8), 1.875, "float32"))  # (x A) B = 300 everywhere
    layer.norm_scale.assign(np.linspace(0.5, 2.0, 8).astype("float32"))
    got = keras.ops.convert_to_numpy(keras.ops.cast(layer([fx, x]), "float32"))
    want = gemma3n_reference(raw_weights(layer), [fx, x], axis=-1)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-2)
