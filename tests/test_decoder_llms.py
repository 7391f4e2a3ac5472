"""LAuReL on KerasHub's decoder LLMs (Llama, Gemma, Mistral, Qwen, Phi-3, ...),
what is particular to them (placement, Qwen 3.5's linear attention, Gemma 3's
float16 branch, LoRA, mixed precision), on the current backend; every family's
contract is in tests/test_contract.py. Each family is built from a tiny
configuration (`tests/llms.py`)."""

import keras
import llms
import numpy as np
import pytest
from contract import cached_logits

import keras_laurel as kl
from keras_laurel import internals
from keras_laurel.transformers import families
from keras_laurel.transformers import laurel_backbone_class

# The contract of every family (identity at init, exact weights, cached
# decoding and generate(), `.keras` and preset round trips, adapters,
# freeze_base, a fit step) is tests/test_contract.py's; here, what is
# particular to the decoder LLMs.
PROMPT, LENGTH = 4, 8


def test_qwen3_5_linear_attention_layers_are_rewritten():
    # Qwen 3.5 mixes Gated DeltaNet (linear attention) and full-attention
    # layers in one decoder class; both get LAuReL at both sites.
    mixed = dict(layer_types=["linear_attention", "full_attention"])
    mixed.update(linear_num_key_heads=2, linear_num_value_heads=2)
    mixed.update(linear_key_head_dim=4, linear_value_head_dim=4, linear_conv_kernel_dim=2)
    base = llms.backbone("qwen3_5", **mixed)
    inputs = llms.token_inputs()
    new = kl.rewrite(base, "rw+lr", rank=2, placement="both")
    assert len(kl.laurel_layers(new)) == 2 * llms.LAYERS
    np.testing.assert_array_equal(llms.numpy_out(new(inputs)), llms.numpy_out(base(inputs)))
    llms.randomize_laurel(new)
    assert np.abs(llms.numpy_out(new(inputs)) - llms.numpy_out(base(inputs))).max() > 1e-3
    # Why the cache checks use full-attention layers: KerasHub's own cached
    # linear attention differs from its full pass. If this fails, KerasHub
    # fixed it: add the linear-attention layers to the family's config.
    lm = llms.causal_lm("qwen3_5", base)
    full = llms.numpy_out(lm(llms.token_inputs(length=LENGTH)))
    cached = cached_logits(lm, llms.token_inputs(length=LENGTH), PROMPT)
    assert np.abs(cached - full[:, PROMPT:]).max() > 1e-3


@pytest.mark.parametrize("placement", ["attention", "feedforward"])
def test_placement(placement):
    for name in ("llama", "gpt_neox"):
        new = kl.rewrite(llms.backbone(name), "rw", placement=placement)
        names = [l.path.split("/")[-1] for l in kl.laurel_layers(new)]
        want = "parallel" if name == "gpt_neox" else placement
        assert names == [f"{want}_laurel"] * llms.LAYERS


def test_plain_and_laurel_llama_side_by_side():
    plain = llms.backbone("llama")
    laurel = kl.rewrite(plain, "rw+lr+pa", rank=2)
    again = llms.backbone("llama")  # built after the rewrite: plain
    assert not kl.laurel_layers(again)
    assert type(again.transformer_layers[0]).__name__ == "LlamaTransformerDecoder"
    inputs = llms.token_inputs()
    for model in (plain, laurel, again):
        llms.causal_lm("llama", model)(inputs)


def test_unsupported_backbone_gives_its_reason():
    import keras_hub

    vgg = keras_hub.models.VGGBackbone(
        stackwise_num_repeats=[1], stackwise_num_filters=[4], image_shape=(8, 8, 3)
    )
    with pytest.raises(
        ValueError, match=r"VGGBackbone 'vgg_backbone' is not supported: no plain residual"
    ):
        kl.rewrite(vgg, "rw")
    with pytest.raises(ValueError, match=r"LlamaBackbone.*GemmaBackbone"):
        laurel_backbone_class(type(vgg))


def test_rwkv7_pa_refuses_a_dropout_between_layers_and_relatives_refuse_its_ln0():
    settings = dict(placement="both")
    with pytest.raises(ValueError, match=r"dropout between its layers \(`dropout_rate`=0.1\)"):
        kl.rewrite(llms.backbone("rwkv7", dropout_rate=0.1), "rw+pa", **settings)
    kl.rewrite(llms.backbone("rwkv7", dropout_rate=0.1), "rw", **settings)  # no history: fine
    for variant in ("hc", "denseformer"):
        with pytest.raises(ValueError, match=r"RWKV7_Block: its first block normalises"):
            kl.rewrite(llms.backbone("rwkv7"), variant)


def test_description_guard_fails_clearly_when_the_code_differs():
    class Changed(keras.layers.Layer):
        def call(self, x):
            residual = x
            x = x * 2.0
            return x - residual  # no addition where the description expects one

    with pytest.raises(internals.InternalsError, match=r"Changed.call: keras_laurel expects"):
        internals.residual_call(Changed, families.FAMILIES[0].additions)


def test_lora_together_with_laurel(tmp_path):
    base = llms.backbone("llama")
    new = kl.rewrite(base, "rw+lr", rank=2)
    # The backbone's own enable_lora keeps LAuReL trainable, as the free
    # function (its alias) does.
    alias = kl.rewrite(base, "rw+lr", rank=2)
    kl.enable_lora(alias, rank=2)
    new.enable_lora(2)
    trainable = {v.path for v in new.trainable_weights}
    laurel_paths = {v.path for l in kl.laurel_layers(new) for v in l.weights}
    lora_paths = {v.path for v in new.weights if "lora_kernel" in v.path}
    assert lora_paths and trainable == laurel_paths | lora_paths
    assert {v.path for v in alias.trainable_weights} == trainable

    lm = llms.causal_lm("llama", new)
    lm.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    inputs = llms.token_inputs(batch=4)
    lm.fit(inputs, np.roll(inputs["token_ids"], -1, axis=1), batch_size=4, epochs=2, verbose=0)
    out = llms.numpy_out(new(inputs))
    assert np.abs(out - llms.numpy_out(base(inputs))).max() > 0

    new.save_lora_weights(str(tmp_path / "llama.lora.h5"))
    kl.save_laurel_weights(new, str(tmp_path / "llama.laurel.h5"))
    # Both adapters into the plain model: the LAuReL file adds LAuReL itself
    # (its settings and placement are in the file), then LoRA as KerasHub does.
    fresh = kl.load_laurel_weights(base, str(tmp_path / "llama.laurel.h5"))
    assert fresh.laurel == new.laurel
    fresh.enable_lora(2)
    fresh.load_lora_weights(str(tmp_path / "llama.lora.h5"))
    np.testing.assert_allclose(llms.numpy_out(fresh(inputs)), out, rtol=1e-6, atol=1e-6)


def test_kerashub_gemma3_text_only_generate_still_fails():
    """Why the contract leaves out Gemma 3's generate() (contract.NO_GENERATE):
    KerasHub's own fails on a text-only backbone, without LAuReL. When this
    test fails, KerasHub fixed it: remove gemma3 from NO_GENERATE."""
    lm = llms.causal_lm("gemma3", llms.backbone("gemma3"))
    lm.compile(sampler="greedy")
    tokens = np.array([[1, 2, 3, 4, 0, 0]] * 2, "int32")
    with pytest.raises(ValueError):
        lm.generate({"token_ids": tokens, "padding_mask": tokens > 0}, stop_token_ids=None)


def test_gemma3_float16_branch_keeps_laurel():
    # Gemma 3 adds its residuals in float32 (clipped) when it computes in
    # float16: that branch is described too, so LAuReL is not skipped there.
    keras.config.set_dtype_policy("mixed_float16")
    base = llms.backbone("gemma3")
    new = kl.rewrite(base, "rw+lr", rank=2, placement="both")
    inputs = llms.token_inputs()
    base_out = llms.numpy_out(base(inputs)).astype("float32")
    np.testing.assert_array_equal(llms.numpy_out(new(inputs)).astype("float32"), base_out)
    assert {l.dtype_policy.name for l in kl.laurel_layers(new)} == {"mixed_float16"}
    llms.randomize_laurel(new)
    changed = llms.numpy_out(new(inputs)).astype("float32")
    assert np.all(np.isfinite(changed)) and np.abs(changed - base_out).max() > 1e-2


def test_mixed_bfloat16():
    keras.config.set_dtype_policy("mixed_bfloat16")
    base = llms.backbone("llama")
    new = kl.rewrite(base, "rw+lr+pa", rank=2)
    inputs = llms.token_inputs()
    np.testing.assert_array_equal(
        llms.numpy_out(new(inputs)).astype("float32"),
        llms.numpy_out(base(inputs)).astype("float32"),
    )
    layer = kl.laurel_layers(new)[0]
    assert layer.compute_dtype == "bfloat16" and layer.variable_dtype == "float32"
