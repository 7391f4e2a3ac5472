"""Tiny configurations of KerasHub's decoder LLMs, randomly initialised
(presets cannot be downloaded here), and the helpers their tests share."""

import keras
import keras_hub
import numpy as np

VOCAB, LAYERS, HIDDEN = 40, 2, 16
_ATTENTION = dict(num_query_heads=2, num_key_value_heads=1)

# name -> (backbone class, constructor arguments, causal LM class)
CONFIGS = {
    "llama": ("LlamaBackbone", _ATTENTION, "LlamaCausalLM"),
    "llama3": ("Llama3Backbone", _ATTENTION, "Llama3CausalLM"),
    "mistral": ("MistralBackbone", _ATTENTION, "MistralCausalLM"),
    "mixtral": ("MixtralBackbone", dict(_ATTENTION, num_experts=2, top_k=1), "MixtralCausalLM"),
    "qwen": ("QwenBackbone", _ATTENTION, "QwenCausalLM"),
    "qwen3": ("Qwen3Backbone", dict(_ATTENTION, head_dim=8), "Qwen3CausalLM"),
    "qwen_moe": (
        "QwenMoeBackbone",
        dict(
            _ATTENTION,
            moe_intermediate_dim=8,
            shared_expert_intermediate_dim=8,
            num_experts=2,
            top_k=1,
        ),
        "QwenMoeCausalLM",
    ),
    "qwen3_moe": (
        "Qwen3MoeBackbone",
        dict(_ATTENTION, moe_intermediate_dim=8, num_experts=2, top_k=1, head_dim=8),
        "Qwen3MoeCausalLM",
    ),
    "phi3": ("Phi3Backbone", _ATTENTION, "Phi3CausalLM"),
    "falcon": ("FalconBackbone", dict(num_attention_heads=2), "FalconCausalLM"),
    "bloom": ("BloomBackbone", dict(num_heads=2), "BloomCausalLM"),
    "gpt_neox": ("GPTNeoXBackbone", dict(num_heads=2), "GPTNeoXCausalLM"),
    "smollm3": (
        "SmolLM3Backbone",
        dict(
            num_attention_heads=2,
            num_key_value_heads=1,
            attention_bias=False,
            attention_dropout=0.0,
            rope_layer_enabled_list=[True, False],
            layer_types=["attention"] * LAYERS,
            mlp_bias=False,
            layer_norm_epsilon=1e-6,
            max_position_embeddings=64,
            rope_theta=10000.0,
            partial_rotary_factor=1.0,
        ),
        "SmolLM3CausalLM",
    ),
    "gpt_oss": (
        "GptOssBackbone",
        dict(_ATTENTION, num_experts=2, top_k=1, head_dim=8, sliding_window=4),
        "GptOssCausalLM",
    ),
    "qwen3_5": (
        "Qwen3_5Backbone",
        dict(
            _ATTENTION,
            head_dim=8,
            # KerasHub's own cached Gated DeltaNet (linear attention) layers
            # differ from its full pass by ~0.02 in the logits, without LAuReL
            # too; the cache checks use its full-attention layers
            # (test_qwen3_5_linear_attention_layers_are_rewritten: the others).
            layer_types=["full_attention"] * LAYERS,
        ),
        "Qwen3_5CausalLM",
    ),
    "qwen3_5_moe": (
        "Qwen3_5MoeBackbone",
        dict(
            _ATTENTION,
            head_dim=8,
            moe_intermediate_dim=8,
            shared_expert_intermediate_size=8,
            num_experts=2,
            top_k=1,
            layer_types=["full_attention"] * LAYERS,
        ),
        "Qwen3_5MoeCausalLM",
    ),
    "gemma": ("GemmaBackbone", dict(_ATTENTION, head_dim=8), "GemmaCausalLM"),
    "gemma2": (
        "GemmaBackbone",
        dict(
            _ATTENTION,
            head_dim=8,
            use_post_ffw_norm=True,
            use_post_attention_norm=True,
            final_logit_soft_cap=30.0,
            attention_logit_soft_cap=50.0,
            use_sliding_window_attention=True,
            sliding_window_size=4,
        ),
        "GemmaCausalLM",
    ),
    "gemma3": (
        "Gemma3Backbone",
        dict(_ATTENTION, head_dim=8, image_size=16, vision_encoder=None),
        "Gemma3CausalLM",
    ),
    "gemma4": (
        "Gemma4Backbone",
        dict(
            _ATTENTION,
            head_dim=8,
            image_size=16,
            sliding_window_size=4,
            sliding_window_pattern=2,
        ),
        "Gemma4CausalLM",
    ),
    # Gemma 3n's text model (no vision or audio encoder): two AltUp
    # predictions, KV sharing off; its arguments are named its own way.
    "gemma3n": (
        "Gemma3nBackbone",
        dict(
            vocabulary_size=None,
            num_layers=None,
            hidden_dim=None,
            intermediate_dim=None,
            text_vocab_size=VOCAB,
            text_hidden_size=HIDDEN,
            num_hidden_layers=LAYERS,
            intermediate_size=[2 * HIDDEN] * LAYERS,
            pad_token_id=0,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=8,
            hidden_activation="gelu_approximate",
            layer_types=["sliding_attention", "full_attention"],
            sliding_window=4,
            rope_theta=10000.0,
            max_position_embeddings=32,
            vocab_size_per_layer_input=VOCAB,
            hidden_size_per_layer_input=4,
            altup_num_inputs=2,
            laurel_rank=4,
        ),
        "Gemma3nCausalLM",
    ),
    # RWKV-7: recurrent blocks (time mix, channel mix); its own argument names.
    "rwkv7": (
        "RWKV7Backbone",
        dict(
            hidden_dim=None,
            hidden_size=HIDDEN,
            head_size=8,
            gate_lora=4,
            mv_lora=4,
            aaa_lora=4,
            decay_lora=4,
        ),
        "RWKV7CausalLM",
    ),
    # PaliGemma: a tiny vision encoder (16 patches) before Gemma's decoder.
    "pali_gemma": (
        "PaliGemmaBackbone",
        dict(
            _ATTENTION,
            head_dim=8,
            image_size=16,
            vit_patch_size=4,
            vit_num_heads=2,
            vit_hidden_dim=8,
            vit_num_layers=1,
            vit_intermediate_dim=16,
        ),
        "PaliGemmaCausalLM",
    ),
}


def backbone(name, **overrides):
    cls, kwargs, _ = CONFIGS[name]
    config = dict(
        vocabulary_size=VOCAB, num_layers=LAYERS, hidden_dim=HIDDEN, intermediate_dim=2 * HIDDEN
    )
    config.update(kwargs)
    config.update(overrides)
    config = {k: v for k, v in config.items() if v is not None}  # None: not an argument
    return getattr(keras_hub.models, cls)(**config)


def causal_lm(name, model):
    return getattr(keras_hub.models, CONFIGS[name][2])(backbone=model, preprocessor=None)


def token_inputs(batch=2, length=8, seed=0, name=None, prompt=None):
    rng = np.random.default_rng(seed)
    return inputs_for(name, rng.integers(1, VOCAB, (batch, length)).astype("int32"), prompt)


def inputs_for(name, token_ids, prompt=None):
    """The backbone inputs of family `name` for `token_ids` (no padding).
    PaliGemma's prefix (the image and the prompt) attends both ways, so its
    positions from `prompt` on are marked as the response, which is causal
    as in generation (with no `prompt`, all of them are prefix)."""
    inputs = {"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)}
    if name == "gemma4":  # Gemma 4's backbone takes the positions as an input
        inputs["position_ids"] = np.broadcast_to(
            np.arange(token_ids.shape[1], dtype="int32"), token_ids.shape
        ).copy()
    if name == "pali_gemma":
        batch, length = token_ids.shape
        size = CONFIGS[name][1]["image_size"]
        images = np.random.default_rng(7).normal(size=(batch, size, size, 3))
        inputs["images"] = images.astype("float32")
        response = np.arange(length) >= (length if prompt is None else prompt)
        inputs["response_mask"] = np.broadcast_to(response, token_ids.shape).astype("int32")
    return inputs


def numpy_out(outputs):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)


def randomize_laurel(model, seed=1, scale=0.2):
    """Random (not init) LAuReL weights, so that every site changes the output."""
    import keras_laurel as kl

    rng = np.random.default_rng(seed)
    for layer in kl.laurel_layers(model):
        for v in layer.weights:
            v.assign(
                keras.ops.convert_to_numpy(v)
                + rng.normal(scale=scale, size=v.shape).astype("float32")
            )
