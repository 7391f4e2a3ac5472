"""LAuReL on KerasHub's decoder LLMs (Llama, Gemma, Mistral, Qwen, Phi-3, ...):
identity at init with exact weights, cached generation equal to the full
pass with random LAuReL weights, `.keras` save/load, on the current backend.

Each family is built from a tiny configuration (`tests/llms.py`)."""

import os

import keras
import llms
import numpy as np
import pytest

import keras_laurel as kl
from keras_laurel import internals
from keras_laurel.transformers import families

BACKEND = keras.backend.backend()
# Every family runs on every backend with LAUREL_ALL_FAMILIES=1 (the whole
# matrix passes on tensorflow, jax and torch). In CI, for its 50 minutes on
# two cores, the passes share the families: Llama and Gemma 2 run in all
# three, the rest in the torch pass (the lightest) and some also in the
# tensorflow one; the JAX pass, the slowest, runs the two shared ones.
_SHARED = ["llama", "gemma2"]
_IN_CI = {
    "torch": list(llms.CONFIGS),
    "tensorflow": _SHARED + ["gpt_neox", "gemma3", "smollm3"],
    "jax": _SHARED,
}
FAMILIES = list(llms.CONFIGS) if os.environ.get("LAUREL_ALL_FAMILIES") else _IN_CI[BACKEND]
PROMPT, LENGTH = 4, 8
# KerasHub's own cached and full passes of GPT-NeoX differ by ~1.5e-4 in the
# logits (without LAuReL too); every other family agrees to ~1e-6.
ATOL = {"gpt_neox": 5e-4}
# Every family's cached path is checked step by step on every backend
# (call_with_cache, the code generate() runs). Greedy generate() itself is
# checked on one family of each kind of block and cache: pre-norm with a
# stacked cache, sandwich norms, the parallel block, MoE with router outputs,
# SmolLM3, whose call_with_cache KerasHub cannot run eagerly (it raises
# without LAuReL too), and PaliGemma, whose cache starts with the image.
# Compiling generate() costs 10-40 s a family, so for CI's time all six run
# in the torch pass (the lightest) and one or two in each of the others
# (LAUREL_ALL_FAMILIES=1: all six everywhere).
GENERATE = {
    "torch": {"llama", "gemma2", "gpt_neox", "qwen3_moe", "smollm3", "pali_gemma"},
    "jax": {"llama"},
    "tensorflow": {"gemma2", "smollm3"},
}[BACKEND]
NO_STEPS = {"smollm3"}


def cached_logits(lm, inputs, start):
    """Logits of positions `start..` computed one token at a time from the cache."""
    token_ids, offset = inputs["token_ids"], 0
    if "images" in inputs:  # PaliGemma: the cache starts with the image; seeded by the prompt
        prompt_mask = np.broadcast_to(np.arange(token_ids.shape[1]) < start, token_ids.shape)
        images = lm.backbone.vit_encoder(inputs["images"])
        _, cache = lm._build_cache(token_ids, images, prompt_mask.astype("int32"))
        offset = lm.backbone.image_sequence_length
    else:
        try:
            _, cache = lm._build_cache(token_ids)
        except TypeError:  # Gemma 3: images, vision mask, padding mask, vision indices
            _, cache = lm._build_cache(token_ids, None, None, np.ones_like(token_ids), None)
    steps = []
    for i in range(start, token_ids.shape[1]):
        logits, _, cache = lm.call_with_cache(token_ids[:, i : i + 1], cache, offset + i)
        steps.append(llms.numpy_out(logits)[:, 0])
    return np.stack(steps, axis=1)


def uncached_greedy(lm, prompt, steps, name=None):
    tokens = prompt
    for _ in range(steps):
        logits = llms.numpy_out(lm(llms.inputs_for(name, tokens, prompt.shape[1])))
        tokens = np.concatenate([tokens, logits[:, -1].argmax(-1)[:, None].astype("int32")], 1)
    return tokens


def check_cached_equals_full(name, model, generate, always=False):
    lm = llms.causal_lm(name, model)
    inputs = llms.token_inputs(length=LENGTH, name=name, prompt=PROMPT)
    full = llms.numpy_out(lm(inputs))
    if name not in NO_STEPS:
        np.testing.assert_allclose(
            cached_logits(lm, inputs, PROMPT),
            full[:, PROMPT:],
            atol=ATOL.get(name, 1e-5),
            rtol=0,
        )
    if generate and (always or name in GENERATE or os.environ.get("LAUREL_ALL_FAMILIES")):
        lm.compile(sampler="greedy")
        prompt = inputs["token_ids"][:, :PROMPT]
        pad = np.zeros((2, LENGTH - PROMPT), "int32")
        images = {"images": inputs["images"]} if "images" in inputs else {}
        out = lm.generate(
            {
                "token_ids": np.concatenate([prompt, pad], 1),
                "padding_mask": np.concatenate([np.ones_like(prompt), pad], 1),
                **images,
            },
            max_length=LENGTH,
            stop_token_ids=None,
        )
        np.testing.assert_array_equal(
            llms.numpy_out(out["token_ids"]), uncached_greedy(lm, prompt, LENGTH - PROMPT, name)
        )


@pytest.mark.parametrize("name", FAMILIES)
def test_family(name, tmp_path):
    base = llms.backbone(name)
    before = [np.copy(w) for w in base.get_weights()]
    inputs = llms.token_inputs(name=name)
    base_out = llms.numpy_out(base(inputs))

    new = kl.rewrite(base, "rw+lr+pa", rank=2, placement="both")
    assert isinstance(new, type(base)) and type(new) is not type(base)
    family = families.family_of(type(base))
    sites = families.sites_for(family, "both")
    assert [l.path.split("/")[-1] for l in kl.laurel_layers(new)] == [
        f"{site}_laurel" for site in sites
    ] * llms.LAYERS

    # Identity at init, every original weight bit-exact, the caller's model untouched.
    np.testing.assert_array_equal(llms.numpy_out(new(inputs)), base_out)
    laurel = {id(v) for l in kl.laurel_layers(new) for v in l.weights}
    copied = [v for v in new.weights if id(v) not in laurel]
    assert len(copied) == len(base.weights)
    for target, source in zip(copied, base.weights):
        np.testing.assert_array_equal(llms.numpy_out(target), llms.numpy_out(source))
    for w, b in zip(base.get_weights(), before):
        np.testing.assert_array_equal(w, b)

    # Random LAuReL weights: every site changes the output; the cached path
    # (PA's history travelling through it too) equals the full pass.
    llms.randomize_laurel(new)
    assert np.abs(llms.numpy_out(new(inputs)) - base_out).max() > 1e-3
    check_cached_equals_full(name, new, generate=True)

    # `.keras` save / load.
    path = str(tmp_path / f"{name}.keras")
    new.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(new) and loaded.laurel == new.laurel
    np.testing.assert_array_equal(llms.numpy_out(loaded(inputs)), llms.numpy_out(new(inputs)))


@pytest.mark.parametrize("name", FAMILIES)
def test_rw_cached_equals_full(name):
    new = kl.rewrite(llms.backbone(name), "rw", placement="both")
    llms.randomize_laurel(new)
    check_cached_equals_full(name, new, generate=False)


@pytest.mark.skipif("qwen3_5" not in FAMILIES, reason="CI time: runs with the Qwen 3.5 family")
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


def test_adapters_and_freeze_base(tmp_path):
    base = llms.backbone("gemma")
    new = kl.rewrite(base, "rw+lr", rank=2, freeze_base=True)
    assert {v.path for v in new.trainable_weights} == {
        v.path for l in kl.laurel_layers(new) for v in l.weights
    }
    llms.randomize_laurel(new)
    path = str(tmp_path / "gemma.laurel.h5")
    kl.save_laurel_weights(new, path)
    fresh = kl.rewrite(base, "rw+lr", rank=2)
    kl.load_laurel_weights(fresh, path)
    inputs = llms.token_inputs()
    np.testing.assert_array_equal(llms.numpy_out(fresh(inputs)), llms.numpy_out(new(inputs)))


def test_fit_inside_causal_lm_moves_every_laurel_weight():
    new = kl.rewrite(llms.backbone("llama"), "rw+lr+pa", rank=2, placement="both")
    lm = llms.causal_lm("llama", new)
    lm.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = {v.path: np.copy(llms.numpy_out(v)) for l in kl.laurel_layers(new) for v in l.weights}
    inputs = llms.token_inputs(batch=4)
    labels = np.roll(inputs["token_ids"], -1, axis=1)
    lm.fit(inputs, labels, batch_size=4, epochs=2, verbose=0)  # A has no gradient on step 1
    after = {v.path: llms.numpy_out(v) for l in kl.laurel_layers(new) for v in l.weights}
    assert [p for p in before if np.array_equal(before[p], after[p])] == []


def test_unsupported_backbone_names_the_supported_ones():
    import keras_hub

    t5 = keras_hub.models.T5Backbone(
        vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16
    )
    with pytest.raises(ValueError, match=r"LlamaBackbone.*GemmaBackbone"):
        kl.rewrite(t5, "rw")


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


@pytest.mark.parametrize("name", ["llama", "gemma2"])
def test_preset_round_trip(name, tmp_path):
    import keras_hub

    new = kl.rewrite(llms.backbone(name), "rw+lr+pa", rank=2, placement="both")
    llms.randomize_laurel(new)
    new.save_to_preset(str(tmp_path / name))
    loaded = keras_hub.models.Backbone.from_preset(str(tmp_path / name))
    assert type(loaded) is type(new) and loaded.laurel == new.laurel
    inputs = llms.token_inputs()
    np.testing.assert_array_equal(llms.numpy_out(loaded(inputs)), llms.numpy_out(new(inputs)))


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


def test_every_decoder_family_has_a_tiny_configuration():
    """A family added to `families.FAMILIES` without a configuration here
    would be supported and never tested."""
    described = {b for f in families.FAMILIES for b in f.backbones} - {
        b for f in families.VISION_FAMILIES for b in f.backbones
    }
    assert described - {cls for cls, _, _ in llms.CONFIGS.values()} == set()
