"""The contract every supported model keeps, checked in one place (as
KerasHub's `run_backbone_test` checks every backbone):

1. `rewrite` returns a LAuReL subclass of the backbone's class (a wrapper:
   its own class around a LAuReL image encoder) with LAuReL at every site,
   computing exactly what the plain model did, with every original weight
   bit-exact and the caller's model untouched;
2. with random LAuReL weights the output changes, and for the generative
   models the cached path equals the full pass: decoding step by step from
   the cache, and `generate()` equal to greedy full passes;
3. `.keras` and KerasHub preset round trips give the same outputs;
4. an adapter file adds LAuReL, with its weights, to the plain model;
5. `freeze_base=True` leaves LAuReL alone trainable, and a `fit` step inside
   the model's task moves every LAuReL weight.
"""

import inspect

import keras
import keras_hub
import llms
import numpy as np

import keras_laurel as kl
from keras_laurel.wrapped import encoder_arguments

PROMPT, LENGTH = 4, 8
# KerasHub's own cached and full passes of GPT-NeoX differ by ~1.5e-4 in the
# logits (without LAuReL too); every other family agrees to ~1e-6.
ATOL = {"gpt_neox": 5e-4}
# SmolLM3's call_with_cache cannot run eagerly in KerasHub (it raises
# without LAuReL too); its generate() (compiled) is checked.
NO_STEPS = {"smollm3"}
# KerasHub's Gemma3CausalLM.generate() fails on a text-only backbone
# (`vision_encoder=None`) without LAuReL too (tests/test_decoder_llms.py
# fails when KerasHub fixes it); its cached decoding is checked step by step.
NO_GENERATE = {"gemma3"}
# Recurrent: the state after the prompt is the cache, and generate() takes
# RWKV-7's preprocessed form (check_recurrent_cache).
RECURRENT = {"rwkv7"}


def numpy_out(outputs):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)


def assert_same(a, b):
    keras.tree.map_structure(np.testing.assert_array_equal, numpy_out(a), numpy_out(b))


def max_difference(a, b):
    pairs = zip(keras.tree.flatten(numpy_out(a)), keras.tree.flatten(numpy_out(b)))
    return max(float(np.abs(x.astype("float32") - y.astype("float32")).max()) for x, y in pairs)


def laurel_values(model):
    return {v.path: np.copy(keras.ops.convert_to_numpy(v)) for v in laurel_variables(model)}


def laurel_variables(model):
    return [v for layer in kl.laurel_layers(model) for v in layer.weights]


def assert_weights_copied(base, new):
    """Every weight of `base` has its bit-exact copy in `new`."""
    laurel = {id(v) for v in laurel_variables(new)}
    copied = [v for v in new.weights if id(v) not in laurel]
    assert len(copied) == len(base.weights)
    if sorted(v.path for v in copied) == sorted(v.path for v in base.weights):
        # Paired by path (a mixture of experts lists its weights in another order).
        copied = sorted(copied, key=lambda v: v.path)
        sources = sorted(base.weights, key=lambda v: v.path)
    else:  # DINOv2 prefixes its sublayers' paths with the backbone's name
        sources = base.weights
    for target, source in zip(copied, sources):
        assert tuple(target.shape) == tuple(source.shape), (target.path, source.path)
        assert_same(target, source)


def encoders(model):
    """The backbones a wrapper (`keras_laurel.wrapped.WRAPPERS`) is built
    around: SAM's image encoder, CLIP's two towers; `[]` for any other model
    (Gemma 3's optional `vision_encoder` is its own, not a wrapped backbone)."""
    return [getattr(model, name) for name in encoder_arguments(type(model))]


def own_weights(wrapper):
    """A wrapper's weights outside its encoders (its neck, head, decoder)."""
    inner = {id(v) for encoder in encoders(wrapper) for v in encoder.weights}
    return [v for v in wrapper.weights if id(v) not in inner]


def run_contract(model, tmp_path):
    """Runs the contract on `model`, a `tests.supported.Supported`."""
    base = model.backbone()
    inputs = model.inputs(base)
    base_out = base(inputs)
    # After the call: SegFormer's and DeepLabV3's batch norms update their
    # moving statistics at every call of the backbone (KerasHub's graphs).
    before = [np.copy(w) for w in base.get_weights()]
    settings = dict(rank=2) if "lr" in model.variant else {}
    if model.kind != "graph":
        settings["placement"] = "both"

    # 1. Identity at init, exact weights, the caller's model untouched.
    new = kl.rewrite(base, model.variant, **settings)
    if encoders(base):  # a wrapper keeps its class, its encoders get LAuReL's
        assert type(new) is type(base)
        for encoder, new_encoder in zip(encoders(base), encoders(new)):
            assert isinstance(new_encoder, type(encoder))
            assert type(new_encoder) is not type(encoder)
    else:
        assert isinstance(new, type(base)) and type(new) is not type(base)
    assert len(kl.laurel_layers(new)) > 0
    if encoders(base):
        for encoder, new_encoder in zip(encoders(base), encoders(new)):
            assert_weights_copied(encoder, new_encoder)
        assert_same(own_weights(new), own_weights(base))
    else:
        assert_weights_copied(base, new)
    if model.variant == "mhc":  # the plain network up to rounding: H_pre = sigmoid(-log 3)
        np.testing.assert_allclose(numpy_out(new(inputs)), numpy_out(base_out), atol=1e-5)
    else:
        assert_same(new(inputs), base_out)
    for weight, saved in zip(base.get_weights(), before):
        np.testing.assert_array_equal(weight, saved)

    # 2. Random LAuReL weights change the output; cached == full.
    llms.randomize_laurel(new)
    out = new(inputs)
    assert max_difference(out, base_out) > 1e-3
    check_decoding(model, new, inputs)

    # 3. `.keras` and preset round trips.
    path = str(tmp_path / "model.keras")
    new.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(new)
    assert_same(loaded(inputs), out)
    new.save_to_preset(str(tmp_path / "preset"))
    loaded = keras_hub.models.Backbone.from_preset(str(tmp_path / "preset"))
    assert type(loaded) is type(new)
    assert_same(loaded(inputs), out)

    # 4. The adapter file adds LAuReL to the plain model, with its weights.
    kl.save_laurel_weights(new, str(tmp_path / "model.laurel.h5"))
    fresh = kl.load_laurel_weights(base, str(tmp_path / "model.laurel.h5"))
    assert type(fresh) is type(new)
    assert_same(fresh(inputs), out)

    # 5. freeze_base, and a fit step in the task moving every LAuReL weight.
    frozen = kl.rewrite(base, model.variant, freeze_base=True, **settings)
    assert {v.path for v in frozen.trainable_weights} == {v.path for v in laurel_variables(frozen)}
    task, x, y = model.task(frozen)
    # Adam moves every weight whose gradient is not zero by about its
    # learning rate (SGD's steps are too small for float32 where the loss is
    # far, as in BART's encoder); from random LAuReL weights, since at init
    # `A` has no gradient (its partner `B` is 0).
    # Eagerly: the step's gradients are the point, not its compilation (the
    # compiled fit is tests/test_transformers.py's; this saves CI a compile
    # per model).
    task.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        run_eagerly=True,
    )
    llms.randomize_laurel(frozen, seed=2)
    start = laurel_values(frozen)
    task.fit(x, y, batch_size=2, epochs=1, verbose=0)
    end = laurel_values(frozen)
    unmoved = [p for p in start if np.array_equal(start[p], end[p])]
    if model.variant == "mhc":
        # A doubly stochastic H_res maps equal streams to themselves (the first
        # site's: the embedding's n copies; its gradient is Sinkhorn's rounding
        # at most) and keeps their mean (the last site's, before the output):
        # those two `b_res` may stay (docs/method.md); no other weight.
        sites = kl.laurel_layers(frozen)
        assert set(unmoved) <= {sites[0].bias_res.path, sites[-1].bias_res.path}, unmoved
        return
    assert unmoved == [], f"LAuReL weights the fit step did not move: {unmoved}"


def check_decoding(model, new, inputs):
    """Where `model` (a `tests.supported.Supported`) generates: `new`'s cached
    decoding or `generate()` equal to its full passes."""
    if model.kind == "decoder":
        check_cached_equals_full(model.family, new)
    elif model.kind == "causal_lm":
        check_generate(new, model)
    elif model.kind == "seq2seq":
        check_seq2seq_generate(model.task(new)[0])
    elif model.kind == "audio_to_text":
        encoder = {k: v for k, v in inputs.items() if k.startswith("encoder_")}
        check_seq2seq_generate(model.task(new)[0], encoder=encoder)
    elif model.kind == "speech":
        check_whisper_cache(new, inputs)


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
        except TypeError:  # Gemma 3 and 3n: text only, every other input None but the mask
            names = inspect.signature(lm._build_cache).parameters
            other = {name: None for name in names if name != "token_ids"}
            other["padding_mask"] = np.ones_like(token_ids)
            _, cache = lm._build_cache(token_ids, **other)
    steps = []
    for i in range(start, token_ids.shape[1]):
        logits, _, cache = lm.call_with_cache(token_ids[:, i : i + 1], cache, offset + i)
        steps.append(numpy_out(logits)[:, 0])
    return np.stack(steps, axis=1)


def uncached_greedy(lm, prompt, steps, name=None):
    tokens = prompt
    for _ in range(steps):
        logits = numpy_out(lm(llms.inputs_for(name, tokens, prompt.shape[1])))
        tokens = np.concatenate([tokens, logits[:, -1].argmax(-1)[:, None].astype("int32")], 1)
    return tokens


def check_cached_equals_full(name, backbone, compiled=False):
    """A decoder LLM's cached decoding, step by step and through generate(),
    equals its full passes. `generate()` runs eagerly unless `compiled`
    (compiling it costs 10-40 s a model on JAX and TensorFlow; the compiled
    path is tested on Llama, GPT-2 and BART by their own tests), and always
    compiled for SmolLM3, whose cached call KerasHub cannot run eagerly."""
    lm = llms.causal_lm(name, backbone)
    inputs = llms.token_inputs(length=LENGTH, name=name, prompt=PROMPT)
    full = numpy_out(lm(inputs))
    if name in RECURRENT:
        return check_recurrent_cache(lm, inputs["token_ids"], full)
    if name not in NO_STEPS:
        np.testing.assert_allclose(
            cached_logits(lm, inputs, PROMPT), full[:, PROMPT:], atol=ATOL.get(name, 1e-5), rtol=0
        )
    if name in NO_GENERATE:
        return
    lm.compile(sampler="greedy", run_eagerly=not compiled and name not in NO_STEPS)
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
        numpy_out(out["token_ids"]), uncached_greedy(lm, prompt, LENGTH - PROMPT, name)
    )


def check_recurrent_cache(lm, token_ids, full):
    """RWKV-7: decoding token by token from the state after the prompt, and
    generate() (the prompt's last token starts the decoded part, as its
    preprocessor does), equal full passes."""
    ones = np.ones_like(token_ids[:, :PROMPT])
    _, cache = lm._build_cache(token_ids[:, :PROMPT], ones)
    steps = []
    for i in range(PROMPT, LENGTH):
        logits, _, cache = lm.call_with_cache(token_ids[:, i : i + 1], cache)
        steps.append(numpy_out(logits)[:, 0])
    np.testing.assert_allclose(np.stack(steps, axis=1), full[:, PROMPT:], atol=1e-5, rtol=0)
    lm.compile(sampler="greedy", run_eagerly=True)
    prompt = token_ids[:, :PROMPT]
    decoded = np.concatenate([prompt[:, -1:], np.zeros((2, LENGTH - PROMPT), "int32")], 1)
    out = lm.generate(
        {
            "token_ids": prompt[:, :-1],
            "input_padding_mask": ones[:, :-1].astype(bool),
            "predict_token_ids": decoded,
            "padding_mask": decoded != 0,
        },
        stop_token_ids=None,
    )
    np.testing.assert_array_equal(
        numpy_out(out["token_ids"]), uncached_greedy(lm, prompt, LENGTH - PROMPT)
    )


def check_generate(backbone, model):
    """generate() of a KerasHub causal LM equals greedy full passes."""
    lm, _, _ = model.task(backbone)
    lm.compile(sampler="greedy", run_eagerly=True)  # compiled: tests/test_transformers.py
    prompt = np.random.default_rng(0).integers(1, 40, (2, PROMPT)).astype("int32")
    pad = np.zeros((2, LENGTH - PROMPT), "int32")
    out = lm.generate(
        {
            "token_ids": np.concatenate([prompt, pad], 1),
            "padding_mask": np.concatenate([np.ones_like(prompt), pad], 1),
        },
        stop_token_ids=None,
    )
    tokens = prompt
    for _ in range(LENGTH - PROMPT):
        logits = numpy_out(lm({"token_ids": tokens, "padding_mask": np.ones_like(tokens)}))
        tokens = np.concatenate([tokens, logits[:, -1].argmax(-1)[:, None].astype("int32")], 1)
    np.testing.assert_array_equal(numpy_out(out["token_ids"]), tokens)


def check_whisper_cache(backbone, inputs):
    """Whisper's decoder run one token at a time, from its self-attention
    cache and with the encoder's keys and values cached for cross-attention
    at the first step (KerasHub has no Whisper task that generates), equals
    the full pass."""
    full = numpy_out(backbone(inputs))
    encoder = full["encoder_sequence_output"]
    tokens = inputs["decoder_token_ids"]
    (batch, length), heads = tokens.shape, backbone.num_heads
    layers = backbone.decoder_transformer_layers
    shape = (batch, 2, length, heads, backbone.hidden_dim // heads)
    self_caches = [np.zeros(shape, "float32") for _ in layers]
    cross_caches = [np.zeros(shape[:2] + encoder.shape[1:2] + shape[3:], "float32") for _ in layers]
    steps = []
    for t in range(length):
        x = backbone.decoder_embeddings(tokens[:, t : t + 1], start_index=t)
        for i, layer in enumerate(layers):
            x, self_caches[i], cross_caches[i] = layer(
                decoder_sequence=x,
                encoder_sequence=encoder,
                self_attention_cache=self_caches[i],
                self_attention_cache_update_index=t,
                cross_attention_cache=cross_caches[i],
                cross_attention_cache_update_index=0 if t == 0 else None,
            )
        steps.append(numpy_out(backbone.decoder_layer_norm(x)))
    np.testing.assert_allclose(
        np.concatenate(steps, axis=1), full["decoder_sequence_output"], atol=1e-5
    )


def check_seq2seq_generate(lm, compiled=False, encoder=None):
    """generate() of a KerasHub Seq2SeqLM `lm` (the encoder's output cached
    for cross-attention) equals greedy full passes; eagerly unless `compiled`.
    `encoder`: the encoder's inputs (by default, two padded token sequences)."""
    encoder = encoder or {
        "encoder_token_ids": np.array([[1, 2, 3, 4, 5, 0], [7, 8, 9, 0, 0, 0]], "int32"),
        "encoder_padding_mask": np.array([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]], "int32"),
    }
    prompt = np.array([[2, 6], [2, 11]], "int32")

    def full(tokens):
        inputs = {**encoder, "decoder_token_ids": tokens}
        inputs["decoder_padding_mask"] = np.ones_like(tokens)
        return numpy_out(lm(inputs))

    tokens = prompt
    for _ in range(4):
        step = full(tokens)[:, -1].argmax(-1)[:, None].astype("int32")
        tokens = np.concatenate([tokens, step], axis=1)
    lm.compile(sampler="greedy", run_eagerly=not compiled)
    pad = np.zeros((2, 4), "int32")
    out = lm.generate(
        {
            **encoder,
            "decoder_token_ids": np.concatenate([prompt, pad], 1),
            "decoder_padding_mask": np.concatenate([np.ones_like(prompt), pad], 1),
        },
        stop_token_ids=None,
    )
    np.testing.assert_array_equal(numpy_out(out["decoder_token_ids"]), tokens)
