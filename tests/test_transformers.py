"""LAuReL inside KerasHub transformers: GPT-2 (training, cached generation),
encoder models, on the current backend."""

import os

import keras
import keras_hub
import numpy as np
import pytest
import supported
from reference import parameter_count

import keras_laurel as kl

BACKEND = keras.backend.backend()
RANK, K = 4, 3
VOCAB, LAYERS, HIDDEN = 65, 3, 32


def gpt2(**kwargs):
    config = dict(
        vocabulary_size=VOCAB,
        num_layers=LAYERS,
        num_heads=2,
        hidden_dim=HIDDEN,
        intermediate_dim=64,
        max_sequence_length=64,
    )
    config.update(kwargs)
    return keras_hub.models.GPT2Backbone(**config)


def settings(variant, **extra):
    parts = variant.split("+")
    return dict(rank=RANK if "lr" in parts else None, k=K if "pa" in parts else None, **extra)


def token_inputs(model, batch=2, length=12, seed=0):
    return supported.text_inputs(model, batch, length, seed, vocabulary=VOCAB)


def numpy_out(outputs):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)


def randomize_laurel(model, seed=1, scale=0.1):
    rng = np.random.default_rng(seed)
    for layer in kl.laurel_layers(model):
        for v in layer.weights:
            v.assign(v.numpy() + rng.normal(scale=scale, size=v.shape).astype("float32"))


def expected_added(variant, sites_per_layer, layers=LAYERS, dim=HIDDEN):
    return sum(
        parameter_count(variant, dim, rank=RANK, k=K, pa_terms=min(g, K - 1) + 1)
        for g in range(layers * sites_per_layer)
    )


@pytest.mark.parametrize(
    "variant, placement",
    [(v, None) for v in kl.VARIANTS] + [("rw+lr+pa", "both"), ("pa", "feedforward")],
)
def test_gpt2_identity_weights_and_parameters(variant, placement):
    base = gpt2()
    x = token_inputs(base)
    want = numpy_out(base(x))
    new = kl.rewrite(base, variant, placement=placement, **settings(variant))
    assert isinstance(new, keras_hub.models.GPT2Backbone)
    assert all(
        isinstance(l, kl.transformers.LaurelTransformerDecoder) for l in new.transformer_layers
    )
    np.testing.assert_allclose(numpy_out(new(x)), want, rtol=0, atol=1e-5)
    # Weights copied exactly; the original keeps its own variables.
    new_vars = {v.path: v for v in new.weights}
    for v in base.weights:
        np.testing.assert_array_equal(np.array(new_vars[v.path]), np.array(v))
        assert new_vars[v.path] is not v
    assert not kl.laurel_layers(base)
    sites_per_layer = 2 if placement == "both" else 1
    added = new.count_params() - base.count_params()
    assert added == expected_added(variant, sites_per_layer)
    assert kl.summary(new, print_fn=lambda _: None).added_params == added


def test_gpt2_pa_history_really_mixes_previous_layers():
    base = gpt2()
    new = kl.rewrite(base, "pa", k=K)
    x = token_inputs(base)
    layers = kl.laurel_layers(new)
    assert [l.num_inputs for l in layers] == [2, 3, 4]
    before = numpy_out(new(x))
    layers[-1].gamma.assign(np.array([0.0, 0.0, 0.5], "float32"))  # gamma on x_{i-2}
    after = numpy_out(new(x))
    assert np.abs(after - before).max() > 1e-3


@pytest.mark.parametrize("variant", list(kl.VARIANTS))
def test_gpt2_keras_save_load(variant, tmp_path):
    new = kl.rewrite(gpt2(), variant, placement="both", **settings(variant))
    randomize_laurel(new)
    x = token_inputs(new)
    path = os.path.join(tmp_path, "gpt2.keras")
    new.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(new) and loaded.laurel == new.laurel
    np.testing.assert_array_equal(numpy_out(loaded(x)), numpy_out(new(x)))


def greedy_uncached(lm, token_ids, prompt_length, max_length):
    ids = token_ids.copy()
    for t in range(prompt_length, max_length):
        inputs = {"token_ids": ids[:, :t], "padding_mask": np.ones_like(ids[:, :t])}
        logits = keras.ops.convert_to_numpy(lm(inputs))
        ids[:, t] = logits[:, -1].argmax(-1)
    return ids


@pytest.mark.parametrize("variant", list(kl.VARIANTS))
def test_gpt2_greedy_generate_equals_uncached_argmax(variant):
    new = kl.rewrite(gpt2(dropout=0.0), variant, placement="both", **settings(variant))
    randomize_laurel(new, scale=0.3)
    lm = keras_hub.models.GPT2CausalLM(backbone=new, preprocessor=None)
    lm.compile(sampler="greedy")
    prompt, total = 4, 12
    ids = np.zeros((2, total), "int32")
    ids[:, :prompt] = np.random.default_rng(0).integers(0, VOCAB, (2, prompt))
    mask = np.zeros_like(ids)
    mask[:, :prompt] = 1
    out = lm.generate({"token_ids": ids, "padding_mask": mask}, stop_token_ids=None)
    generated = keras.ops.convert_to_numpy(out["token_ids"])
    np.testing.assert_array_equal(generated, greedy_uncached(lm, ids, prompt, total))


def shakespeare_batches(length=32, count=64):
    import tensorflow_datasets as tfds

    ds = tfds.load(
        "tiny_shakespeare", split="train", data_dir=os.environ["TFDS_DATA_DIR"], download=False
    )
    text = next(iter(tfds.as_numpy(ds)))["text"].decode("utf-8")
    vocab = sorted(set(text))
    assert len(vocab) == VOCAB
    index = {c: i for i, c in enumerate(vocab)}
    ids = np.array([index[c] for c in text[: count * (length + 1)]], "int32")
    ids = ids.reshape(count, length + 1)
    x = {"token_ids": ids[:, :-1], "padding_mask": np.ones((count, length), "int32")}
    return x, ids[:, 1:]


@pytest.mark.parametrize("variant", list(kl.VARIANTS))
def test_gpt2_fit_on_tiny_shakespeare_lowers_the_loss(variant):
    x, y = shakespeare_batches()
    new = kl.rewrite(gpt2(), variant, **settings(variant))
    lm = keras_hub.models.GPT2CausalLM(backbone=new, preprocessor=None)
    lm.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    initial = {v.path: np.array(v) for layer in kl.laurel_layers(new) for v in layer.weights}
    history = lm.fit(x, y, batch_size=16, epochs=3, verbose=0).history["loss"]
    assert history[-1] < history[0] - 0.1
    # LAuReL's own weights trained too.
    changed = [
        path
        for layer in kl.laurel_layers(new)
        for v in layer.weights
        for path in [v.path]
        if not np.array_equal(np.array(v), initial[path])
    ]
    assert len(changed) == len(initial)


def test_gpt2_mixed_bfloat16():
    base = gpt2()
    reference = numpy_out(kl.rewrite(base, "rw+lr+pa", rank=RANK, k=K)(token_inputs(base)))
    keras.config.set_dtype_policy("mixed_bfloat16")
    low = gpt2()
    low.set_weights(base.get_weights())
    new = kl.rewrite(low, "rw+lr+pa", rank=RANK, k=K)
    for layer in kl.laurel_layers(new):
        assert layer.dtype_policy.name == "mixed_bfloat16"
        assert all(v.dtype == "float32" for v in layer.weights)
    out = new(token_inputs(base))
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    got = keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))
    np.testing.assert_allclose(got, reference, atol=0.1)
    lm = keras_hub.models.GPT2CausalLM(backbone=new, preprocessor=None)
    lm.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = shakespeare_batches(count=8)
    assert np.isfinite(lm.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0])


@pytest.mark.skipif(BACKEND == "torch", reason="XLA compilation is TensorFlow/JAX only")
def test_gpt2_xla_compiled_fit_and_generate():
    x, y = shakespeare_batches(count=16)
    new = kl.rewrite(gpt2(), "rw+lr+pa", rank=RANK, k=K, placement="both")
    lm = keras_hub.models.GPT2CausalLM(backbone=new, preprocessor=None)
    lm.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        sampler="greedy",
        jit_compile=True,
    )
    assert lm.jit_compile
    loss = lm.fit(x, y, batch_size=8, epochs=2, verbose=0).history["loss"]
    assert loss[-1] < loss[0]
    eager = keras.ops.convert_to_numpy(lm(x))
    compiled = lm.predict(x, verbose=0)
    np.testing.assert_allclose(compiled, eager, atol=1e-4)


def small(name):
    cls = getattr(keras_hub.models, name)
    config = dict(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=HIDDEN,
        intermediate_dim=64,
        max_sequence_length=32,
    )
    if name == "BertBackbone":
        config["num_segments"] = 2
    if name == "AlbertBackbone":  # one encoder layer shared by both repetitions
        config["embedding_dim"] = HIDDEN // 2
    if name == "ElectraBackbone":
        config["vocab_size"] = config.pop("vocabulary_size")
        config["embedding_dim"] = HIDDEN // 2
    return cls(**config)


def test_albert_shared_layers_refuse_pa_and_share_laurel():
    base = small("AlbertBackbone")  # one group: one encoder layer at both depths
    with pytest.raises(ValueError, match="shares its 1 layer group.*PA"):
        kl.rewrite(base, "rw+pa")
    new = kl.rewrite(base, "rw+lr", rank=RANK, placement="both")
    assert len(kl.laurel_layers(new)) == 2  # the shared layer's two sites
    x = token_inputs(base)
    np.testing.assert_array_equal(
        numpy_out(new(x))["sequence_output"], numpy_out(base(x))["sequence_output"]
    )


def test_xlnet_query_stream_passes_the_content_streams_sites_and_refuses_pa():
    base = supported.MODELS["xlnet"].backbone()
    x = supported.text_inputs(base)
    new = kl.rewrite(base, "rw+lr", rank=RANK, placement="both")
    randomize_laurel(new)
    word, position = new.content_query_embedding(x["token_ids"])
    mask, _ = new.attn_mask_layer(x["padding_mask"])
    streams = dict(
        attn_mask_content=mask,
        attn_mask_query=mask,
        pos_emb=position,
        seg_mat=new.seg_mat_layer(x["segment_ids"]),
    )
    content, query = new.transformer_layers[0](output_content=word, output_query=word, **streams)
    plain, _ = base.transformer_layers[0](output_content=word, **streams)
    # The same input in both streams: the same output, LAuReL's sites included.
    assert np.abs(numpy_out(content) - numpy_out(plain)).max() > 1e-3
    np.testing.assert_allclose(numpy_out(query), numpy_out(content), atol=1e-6)
    with_pa = kl.rewrite(base, "rw+pa")
    layer = with_pa.transformer_layers[0]
    layer(output_content=word, **streams)  # the content stream alone: fine
    with pytest.raises(ValueError, match=r"with PA .* `output_query` must be None"):
        layer(output_content=word, output_query=word, **streams)


def test_bert_encoder_train_and_save(tmp_path):
    base = small("BertBackbone")
    new = kl.rewrite(base, "rw+lr+pa", rank=RANK, k=K, placement="both")
    layers = kl.laurel_layers(new)
    assert all(
        isinstance(l, kl.transformers.LaurelTransformerEncoder) for l in new.transformer_layers
    )
    assert len(layers) == 4 and [l.num_inputs for l in layers] == [2, 3, 4, 4]
    added = new.count_params() - base.count_params()
    assert added == expected_added("rw+lr+pa", 2, layers=2)
    classifier = keras_hub.models.BertTextClassifier(backbone=new, num_classes=2, preprocessor=None)
    classifier.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x = token_inputs(base, batch=16, length=16)
    y = (x["token_ids"][:, 0] % 2).astype("int32")
    loss = classifier.fit(x, y, batch_size=8, epochs=4, verbose=0).history["loss"]
    assert loss[-1] < loss[0]
    randomize_laurel(new)
    path = os.path.join(tmp_path, "bert.keras")
    new.save(path)
    loaded = keras.saving.load_model(path)
    keras.tree.map_structure(np.testing.assert_array_equal, numpy_out(loaded(x)), numpy_out(new(x)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(variant="rw", placement="everywhere"), r"`placement` must be one of"),
        (
            dict(variant="rw", targets="transformer_layer_0"),
            r"`targets` selects additions of a functional graph.*`placement`",
        ),
        (dict(variant="lr", rank=64), r"`rank`=64 is invalid .* hidden dimension is 32"),
        (dict(variant="pa", k=0), r"`k` must be"),
    ],
)
def test_gpt2_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kl.rewrite(gpt2(), **kwargs)


def test_placement_on_a_graph_model_is_an_error():
    x = keras.Input((4,))
    y = keras.layers.Add()([x, keras.layers.Dense(4)(x)])
    with pytest.raises(ValueError, match=r"`placement` applies to KerasHub transformer"):
        kl.rewrite(keras.Model(x, y), "rw", placement="both")


def test_backbone_with_decoder_layers_of_its_own_is_found():
    # Llama's decoder layers are its own, not TransformerDecoder: the family
    # rewriter takes it (tests/test_decoder_llms.py tests it thoroughly).
    llama = keras_hub.models.LlamaBackbone(
        vocabulary_size=VOCAB,
        num_layers=1,
        num_query_heads=2,
        num_key_value_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
    )
    assert type(kl.rewrite(llama, "rw")).__name__ == "LaurelLlamaBackbone"


@pytest.mark.parametrize("variant", ["rw", "rw+lr+pa"])
def test_every_rewritten_decoder_round_trips_its_config(variant):
    # Issue: from_config(get_config()) raised for every LaurelTransformerDecoder
    # of a rewritten GPT-2 (its config holds decoder_sequence_shape).
    new = kl.rewrite(gpt2(), variant, placement="both", **settings(variant))
    randomize_laurel(new)
    x = np.random.default_rng(0).normal(size=(2, 5, HIDDEN)).astype("float32")
    hidden = x
    for layer in new.transformer_layers:
        assert isinstance(layer, kl.transformers.LaurelTransformerDecoder)
        for revived in (
            type(layer).from_config(layer.get_config()),
            keras.layers.deserialize(keras.layers.serialize(layer)),
        ):
            assert revived.built and revived.get_config() == layer.get_config()
            revived.set_weights(layer.get_weights())
            keras.tree.map_structure(
                np.testing.assert_array_equal, numpy_out(revived(hidden)), numpy_out(layer(hidden))
            )
        hidden = layer(hidden)


def test_transformer_axis_is_checked_not_dropped():
    # Issue: rewrite(gpt2, "rw", axis=...) silently dropped `axis`.
    with pytest.raises(ValueError, match=r"channel `axis` is the hidden axis, -1; received axis=1"):
        kl.rewrite(gpt2(), "rw", axis=1)
    new = kl.rewrite(gpt2(), "rw", axis=-1, per_channel=True)
    assert {l.axis for l in kl.laurel_layers(new)} == {-1}
    assert all(tuple(l.rw_variables[0].shape) == (HIDDEN,) for l in kl.laurel_layers(new))


def test_transformer_gamma_initializer_reaches_the_layers():
    new = kl.rewrite(gpt2(), "pa", gamma_initializer=keras.initializers.Constant(0.5))
    assert all(np.all(numpy_out(l.gamma) == 0.5) for l in kl.laurel_layers(new))


def test_rewriting_a_rewritten_gpt2_says_so():
    # Issue: it said "LaurelGPT2Backbone does not build its layers from TransformerDecoder".
    new = kl.rewrite(gpt2(), "rw")
    with pytest.raises(
        ValueError,
        match=r"already has LAuReL at 3 site\(s\): \['transformer_layer_0/attention_laurel'",
    ):
        kl.rewrite(new, "rw+lr", rank=RANK)


def test_plain_gpt2_built_after_a_rewrite_is_plain():
    kl.rewrite(gpt2(), "rw")
    plain = gpt2()
    assert not kl.laurel_layers(plain)
    assert type(plain.transformer_layers[0]) is keras_hub.layers.TransformerDecoder
