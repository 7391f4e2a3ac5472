"""Every model `rewrite` supports, as a tiny KerasHub configuration (presets
cannot be downloaded here) with its inputs and a task to fit it in: what
`tests/test_contract.py` runs its contract on."""

import dataclasses

import keras
import keras_hub
import llms
import numpy as np

VOCAB, HIDDEN, SIZE = 40, 16, 32


@dataclasses.dataclass(frozen=True)
class Supported:
    """One supported model, as the contract needs it."""

    backbone: object  # () -> a tiny backbone with random weights
    inputs: object  # (backbone) -> the backbone's inputs (batch of 2)
    task: object  # (backbone) -> (a task or head around it, x, y) for a fit step
    # "decoder", "causal_lm", "seq2seq", "audio_to_text", "speech", "encoder", "vision", "graph"
    kind: str
    variant: str = "rw+lr+pa"
    family: str = None  # tests/llms.py's name, for the decoder LLMs


def _sgd_labels(batch, classes=3):
    return np.arange(batch, dtype="int32") % classes


# The decoder LLMs (tests/llms.py): cached decoding, generate() and a fit
# step inside their CausalLM.


def _decoder(name):
    def task(backbone):
        x = llms.token_inputs(batch=4, name=name)
        return llms.causal_lm(name, backbone), x, np.roll(x["token_ids"], -1, axis=1)

    return Supported(
        backbone=lambda: llms.backbone(name),
        inputs=lambda backbone: llms.token_inputs(name=name),
        task=task,
        kind="decoder",
        family=name,
    )


# keras_hub.layers.TransformerEncoder / TransformerDecoder backbones.


def _text(name, **extra):
    def build():
        config = dict(
            vocabulary_size=VOCAB,
            num_layers=2,
            num_heads=2,
            hidden_dim=HIDDEN,
            intermediate_dim=2 * HIDDEN,
            max_sequence_length=16,
        )
        config.update(extra)
        config = {k: v for k, v in config.items() if v is not None}  # None: not an argument
        if name == "ElectraBackbone":
            config["vocab_size"] = config.pop("vocabulary_size")
        return getattr(keras_hub.models, name)(**config)

    return build


def text_inputs(backbone, batch=2, length=8, seed=0, vocabulary=VOCAB):
    """Random token ids (no padding) for every input of a text backbone."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for key in backbone.input:
        if "mask" in key:
            inputs[key] = np.ones((batch, length), "int32")
        elif "segment" in key:
            inputs[key] = np.zeros((batch, length), "int32")
        else:
            inputs[key] = rng.integers(1, vocabulary, (batch, length)).astype("int32")
    return inputs


def _classifier(task_name):
    def task(backbone):
        x = text_inputs(backbone, batch=4)
        if task_name is None:  # ELECTRA, XLNet: no classifier task; a head on the first token
            inputs = {k: keras.Input((None,), dtype="int32", name=k) for k in backbone.input}
            outputs = backbone(inputs)
            if isinstance(outputs, dict):
                outputs = outputs["sequence_output"]
            logits = keras.layers.Dense(3)(outputs[:, 0])
            model = keras.Model(inputs, logits)
        else:
            model = getattr(keras_hub.models, task_name)(
                backbone=backbone, num_classes=3, preprocessor=None
            )
        return model, x, _sgd_labels(4)

    return task


def _causal_lm(task_name):
    def task(backbone):
        x = text_inputs(backbone, batch=4)
        model = getattr(keras_hub.models, task_name)(backbone=backbone, preprocessor=None)
        return model, x, np.roll(x["token_ids"], -1, axis=1)

    return task


def _seq2seq_lm(task_name):
    def task(backbone):
        x = text_inputs(backbone, batch=4)
        model = getattr(keras_hub.models, task_name)(backbone=backbone, preprocessor=None)
        return model, x, np.roll(x["decoder_token_ids"], -1, axis=1)

    return task


def _edrec_seq2seq_lm(backbone):
    """EdRec's Seq2SeqLM with a head that never prefers token 0: KerasHub's
    cached decoding treats a generated 0 as padding (`token != 0` is its
    step's padding mask) where a full pass does not, in the plain model too;
    with the padding id's logit at 0 among 39 random ones, greedy decoding
    keeps to real tokens and the comparison with full passes runs over them."""
    model, x, y = _seq2seq_lm("EdRecSeq2SeqLM")(backbone)
    kernel = keras.ops.convert_to_numpy(model.lm_head.kernel).copy()
    kernel[:, 0] = 0.0
    model.lm_head.kernel.assign(kernel)
    return model, x, y


def t5gemma(name):
    def build():
        stack = dict(
            hidden_dim=HIDDEN,
            intermediate_dim=2 * HIDDEN,
            num_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=8,
            layer_types=["sliding_attention", "full_attention"],
        )
        config = {f"{side}_{k}": v for side in ("encoder", "decoder") for k, v in stack.items()}
        return getattr(keras_hub.models, name)(vocabulary_size=VOCAB, sliding_window=4, **config)

    return build


def _encoder(name, task_name, **extra):
    return Supported(_text(name, **extra), text_inputs, _classifier(task_name), "encoder")


# Vision transformers.


def _vision(name, builder, key=None, task_name=None):
    def inputs(backbone, batch=2):
        x = np.random.default_rng(0).random((batch, SIZE, SIZE, 1)).astype("float32")
        return x if key is None else {key: x}

    def task(backbone):
        x = inputs(backbone, batch=4)
        if task_name is None:  # DINOv2/v3: no classifier task; a head on the class token
            images = keras.Input((SIZE, SIZE, 1))
            tokens = backbone(images if key is None else {key: images})
            model = keras.Model(images, keras.layers.Dense(3)(tokens[:, 0]))
            x = x if key is None else x[key]
        else:
            model = getattr(keras_hub.models, task_name)(
                backbone=backbone, num_classes=3, preprocessor=None
            )
        return model, x, _sgd_labels(4)

    return Supported(builder, inputs, task, "vision")


PATCHES = dict(patch_size=8, num_heads=2, hidden_dim=HIDDEN, image_shape=(SIZE, SIZE, 1))


def vit(layers=3):
    return keras_hub.models.ViTBackbone(num_layers=layers, mlp_dim=2 * HIDDEN, **PATCHES)


def deit(layers=2):
    return keras_hub.models.DeiTBackbone(num_layers=layers, intermediate_dim=2 * HIDDEN, **PATCHES)


def dinov2(layers=2):
    return keras_hub.models.DINOV2Backbone(
        num_layers=layers,
        intermediate_dim=2 * HIDDEN,
        position_embedding_shape=(SIZE, SIZE, 1),
        **PATCHES,
    )


def dinov3(layers=2):
    return keras_hub.models.DINOV3Backbone(
        num_layers=layers, intermediate_dim=2 * HIDDEN, num_register_tokens=1, **PATCHES
    )


def swin(layers=2):
    # Two stages (8 x 8 patches of width 8, then 4 x 4 of width 16); the
    # second block of the first stage shifts its windows.
    return keras_hub.models.SwinTransformerBackbone(
        image_shape=(SIZE, SIZE, 1),
        embed_dim=8,
        depths=(layers, layers),
        num_heads=(2, 2),
        window_size=4,
        patch_size=4,
    )


# CNNs whose residuals are `Add` layers.


def resnet(image_size=SIZE):
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 16],
        stackwise_num_blocks=[2, 2],
        stackwise_num_strides=[1, 2],
        block_type="basic_block",
        image_shape=(image_size, image_size, 3),
    )


def xception():
    return keras_hub.models.XceptionBackbone(
        stackwise_conv_filters=[[8, 8], [16, 16], [16, 16], [16, 16], [32, 32]],
        stackwise_pooling=[True, True, False, False, False],
        image_shape=(SIZE, SIZE, 3),
    )


def _graph(builder, task_name):
    def inputs(backbone, batch=2):
        return np.random.default_rng(0).random((batch, SIZE, SIZE, 3)).astype("float32")

    def task(backbone):
        x = inputs(backbone, batch=4)
        if task_name is None:
            images = keras.Input((SIZE, SIZE, 3))
            pooled = keras.layers.GlobalAveragePooling2D()(backbone(images))
            return keras.Model(images, keras.layers.Dense(3)(pooled)), x, _sgd_labels(4)
        model = getattr(keras_hub.models, task_name)(
            backbone=backbone, num_classes=3, preprocessor=None
        )
        return model, x, _sgd_labels(4)

    return Supported(builder, inputs, task, "graph")


# ViTDet and MiT: their KerasHub tasks are SAM's and SegFormer's (below).


def vit_det(layers=2):
    return keras_hub.models.ViTDetBackbone(
        hidden_size=HIDDEN,
        num_layers=layers,
        intermediate_dim=2 * HIDDEN,
        num_heads=2,
        global_attention_layer_indices=[1],
        image_shape=(SIZE, SIZE, 3),
        patch_size=8,
        num_output_channels=8,
        window_size=2,
    )


def mit(layers=2):
    # Two stages (8 x 8 tokens of width 8, then 4 x 4 of width 16).
    return keras_hub.models.MiTBackbone(
        layerwise_depths=[layers, layers],
        num_layers=2,
        layerwise_num_heads=[1, 2],
        layerwise_sr_ratios=[4, 2],
        max_drop_path_rate=0.0,
        layerwise_patch_sizes=[7, 3],
        layerwise_strides=[4, 2],
        image_shape=(SIZE, SIZE, 3),
        hidden_dims=[8, 16],
    )


def _images(size=SIZE):
    def inputs(backbone, batch=2):
        return np.random.default_rng(0).random((batch, size, size, 3)).astype("float32")

    return inputs


def _head(inputs, output=lambda outputs: outputs):
    """A linear head on a backbone without a classifier task."""

    def task(backbone):
        x = inputs(backbone, batch=4)
        symbolic = keras.tree.map_structure(lambda a: keras.Input(a.shape[1:]), x)
        features = keras.layers.Flatten()(output(backbone(symbolic)))
        return keras.Model(symbolic, keras.layers.Dense(3)(features)), x, _sgd_labels(4)

    return task


def _segmenter(task_name, inputs):
    def task(backbone):
        x = inputs(backbone, batch=4)
        model = getattr(keras_hub.models, task_name)(
            backbone=backbone, num_classes=3, preprocessor=None
        )
        labels = np.random.default_rng(1).integers(0, 3, model(x[:1]).shape[:-1] + (1,))
        return model, x, np.repeat(labels, 4, axis=0)

    return task


# Speech: Whisper (KerasHub has no Whisper task: a linear head on the
# decoder's output).


def whisper():
    return keras_hub.models.WhisperBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=HIDDEN,
        intermediate_dim=2 * HIDDEN,
        num_mels=8,
        max_encoder_sequence_length=16,
        max_decoder_sequence_length=8,
    )


def whisper_inputs(backbone, batch=2):
    rng = np.random.default_rng(0)
    return {
        "encoder_features": rng.random((batch, 16, 8)).astype("float32"),
        "decoder_token_ids": rng.integers(1, VOCAB, (batch, 8)).astype("int32"),
        "decoder_padding_mask": np.ones((batch, 8), "int32"),
    }


# Image-text models: two towers (each a supported backbone) around one head.


def image_text(prefix):
    def build():
        models = keras_hub.models
        vision = getattr(models, f"{prefix}VisionEncoder")(
            patch_size=8,
            hidden_dim=HIDDEN,
            num_layers=2,
            num_heads=2,
            intermediate_dim=2 * HIDDEN,
            image_shape=(SIZE, SIZE, 3),
        )
        text = dict(
            vocabulary_size=VOCAB,
            embedding_dim=HIDDEN,
            hidden_dim=HIDDEN,
            num_layers=2,
            num_heads=2,
            intermediate_dim=2 * HIDDEN,
            max_sequence_length=8,
        )
        text = getattr(models, f"{prefix}TextEncoder")(**text)
        head = {} if prefix == "SigLIP" else {"projection_dim": 8}
        return getattr(models, f"{prefix}Backbone")(
            vision_encoder=vision, text_encoder=text, **head
        )

    return build


def image_text_inputs(backbone, batch=2):
    rng = np.random.default_rng(0)
    return {
        "images": rng.random((batch, SIZE, SIZE, 3)).astype("float32"),
        "token_ids": rng.integers(1, VOCAB, (batch, 8)).astype("int32"),
    }


def _contrastive(backbone):
    """The contrastive objective: image i goes with text i in each batch of 2."""
    x = image_text_inputs(backbone, batch=4)
    symbolic = {k: keras.Input(v.shape[1:], dtype=v.dtype, name=k) for k, v in x.items()}
    model = keras.Model(symbolic, backbone(symbolic)["vision_logits"])
    return model, x, np.tile(np.arange(2, dtype="int32"), 2)


def moonshine():
    return keras_hub.models.MoonshineBackbone(
        vocabulary_size=VOCAB,
        filter_dim=HIDDEN,
        encoder_num_layers=2,
        decoder_num_layers=2,
        hidden_dim=HIDDEN,
        intermediate_dim=2 * HIDDEN,
        encoder_num_heads=2,
        decoder_num_heads=2,
        feedforward_expansion_factor=2,
        decoder_use_swiglu_activation=True,
        max_position_embeddings=64,
        partial_rotary_factor=0.62,
    )


def moonshine_inputs(backbone, batch=2):
    rng = np.random.default_rng(0)
    return {
        "encoder_input_values": rng.random((batch, 1600, 1)).astype("float32"),
        "encoder_padding_mask": np.ones((batch, 1600), "bool"),
        "decoder_token_ids": rng.integers(1, VOCAB, (batch, 8)).astype("int32"),
        "decoder_padding_mask": np.ones((batch, 8), "bool"),
    }


def _moonshine_task(backbone):
    x = moonshine_inputs(backbone, batch=4)
    model = keras_hub.models.MoonshineAudioToText(backbone=backbone, preprocessor=None)
    return model, x, np.roll(x["decoder_token_ids"], -1, axis=1)


# Backbones built around a supported image encoder (keras_laurel.wrapped).


def sam():
    return keras_hub.models.SAMBackbone(
        image_encoder=vit_det(),
        prompt_encoder=keras_hub.layers.SAMPromptEncoder(
            hidden_size=8,
            image_embedding_size=(SIZE // 8, SIZE // 8),
            input_image_size=(SIZE, SIZE),
            mask_in_channels=16,
        ),
        mask_decoder=keras_hub.layers.SAMMaskDecoder(
            num_layers=2,
            hidden_size=8,
            intermediate_dim=16,
            num_heads=2,
            embedding_dim=8,
            num_multimask_outputs=3,
            iou_head_depth=2,
            iou_head_hidden_dim=8,
        ),
    )


def sam_inputs(backbone, batch=2):
    return {
        "images": _images()(backbone, batch),
        "points": np.ones((batch, 1, 2), "float32"),
        "labels": np.ones((batch, 1), "float32"),
        "boxes": np.ones((batch, 1, 2, 2), "float32"),
        "masks": np.zeros((batch, 0, SIZE, SIZE, 1), "float32"),
    }


def segformer():
    return keras_hub.models.SegFormerBackbone(image_encoder=mit(), projection_filters=8)


def depth_anything():
    # 8 x 8 patches: the neck's coarsest level (factor 0.5) needs 3 x 3.
    encoder = keras_hub.models.DINOV2Backbone(
        patch_size=8,
        num_layers=4,
        hidden_dim=HIDDEN,
        num_heads=2,
        intermediate_dim=2 * HIDDEN,
        image_shape=(2 * SIZE, 2 * SIZE, 3),
        position_embedding_shape=(2 * SIZE, 2 * SIZE),
    )
    return keras_hub.models.DepthAnythingBackbone(
        image_encoder=encoder,
        reassemble_factors=[4, 2, 1, 0.5],
        neck_hidden_dims=[8, 8, 8, 8],
        fusion_hidden_dim=8,
        head_hidden_dim=8,
        head_in_index=-1,
        feature_keys=["stage1", "stage2", "stage3", "stage4"],
    )


def deeplab_v3():
    return keras_hub.models.DeepLabV3Backbone(
        image_encoder=resnet(),
        spatial_pyramid_pooling_key="P3",
        upsampling_size=2,
        dilation_rates=[1, 2],
        low_level_feature_key="P2",
        projection_filters=8,
    )


def video_prism():
    """Two frames; spatial, temporal, auxiliary and text encoders (four stacks)."""
    return keras_hub.models.VideoPrismBackbone(
        num_frames=2,
        patch_size=8,
        hidden_dim=HIDDEN,
        intermediate_dim=2 * HIDDEN,
        num_heads=2,
        num_spatial_layers=2,
        num_temporal_layers=1,
        num_auxiliary_layers=1,
        vocabulary_size=VOCAB,
        num_text_layers=2,
        image_shape=(16, 16, 3),
    )


def video_prism_inputs(backbone, batch=2):
    rng = np.random.default_rng(0)
    return {
        "pixel_values": rng.random((batch, 2, 16, 16, 3)).astype("float32"),
        "token_ids": rng.integers(1, VOCAB, (batch, 6)).astype("int32"),
        "padding_mask": np.ones((batch, 6), "int32"),
    }


def _video_text(backbone):
    """The video-text objective: video i goes with text i in each batch of 2,
    as in `_contrastive`."""
    x = video_prism_inputs(backbone, batch=4)
    symbolic = {k: keras.Input(v.shape[1:], dtype=v.dtype, name=k) for k, v in x.items()}
    out = backbone(symbolic)
    logits = keras.ops.matmul(out["vision_embeddings"], keras.ops.transpose(out["text_embeddings"]))
    return keras.Model(symbolic, logits), x, np.tile(np.arange(2, dtype="int32"), 2)


def retinanet():
    return keras_hub.models.RetinaNetBackbone(
        image_encoder=resnet(), min_level=3, max_level=4, use_p5=False
    )


def parseq():
    encoder = keras_hub.models.ViTBackbone(
        num_layers=2,
        mlp_dim=2 * HIDDEN,
        use_class_token=False,
        **dict(PATCHES, image_shape=(SIZE, SIZE, 3)),
    )
    return keras_hub.models.PARSeqBackbone(
        image_encoder=encoder,
        vocabulary_size=12,
        max_label_length=6,
        decoder_hidden_dim=HIDDEN,
        num_decoder_layers=1,
        num_decoder_heads=2,
        decoder_mlp_dim=2 * HIDDEN,
    )


def parseq_inputs(backbone, batch=2):
    rng = np.random.default_rng(0)
    return {
        "images": rng.random((batch, SIZE, SIZE, 3)).astype("float32"),
        "token_ids": rng.integers(1, 10, (batch, 7)).astype("int32"),
        "padding_mask": np.ones((batch, 7), "int32"),
    }


def _parseq_head(backbone):
    """A head on the first position's logits (PARSeqCausalLM's permutation
    loss needs its preprocessor's labels)."""
    x = parseq_inputs(backbone, batch=4)
    symbolic = {k: keras.Input(v.shape[1:], dtype=v.dtype, name=k) for k, v in x.items()}
    model = keras.Model(symbolic, keras.layers.Dense(3)(backbone(symbolic)[:, 0]))
    return model, x, _sgd_labels(4)


MODELS = {
    **{name: _decoder(name) for name in llms.CONFIGS},
    "gpt2": Supported(_text("GPT2Backbone"), text_inputs, _causal_lm("GPT2CausalLM"), "causal_lm"),
    "opt": Supported(_text("OPTBackbone"), text_inputs, _causal_lm("OPTCausalLM"), "causal_lm"),
    "bart": Supported(_text("BartBackbone"), text_inputs, _seq2seq_lm("BartSeq2SeqLM"), "seq2seq"),
    "t5": Supported(
        _text("T5Backbone", key_value_dim=8, max_sequence_length=None),
        text_inputs,
        _seq2seq_lm("T5Seq2SeqLM"),
        "seq2seq",
    ),
    "bert": _encoder("BertBackbone", "BertTextClassifier", num_segments=2),
    "roberta": _encoder("RobertaBackbone", "RobertaTextClassifier"),
    "distil_bert": _encoder("DistilBertBackbone", "DistilBertTextClassifier"),
    "xlm_roberta": _encoder("XLMRobertaBackbone", "XLMRobertaTextClassifier"),
    # ALBERT's layers share one encoder layer, which PA cannot mix across.
    "albert": dataclasses.replace(
        _encoder("AlbertBackbone", "AlbertTextClassifier", embedding_dim=HIDDEN // 2),
        variant="rw+lr",
    ),
    "electra": _encoder("ElectraBackbone", None, embedding_dim=HIDDEN // 2),
    # XLNet's query stream is for pretraining: the backbone runs the content stream.
    "xlnet": _encoder("XLNetBackbone", None, max_sequence_length=None),
    "deberta_v3": _encoder("DebertaV3Backbone", "DebertaV3TextClassifier", bucket_size=8),
    "esm": _encoder("ESMBackbone", "ESMProteinClassifier"),
    "f_net": _encoder("FNetBackbone", "FNetTextClassifier", num_heads=None),
    "roformer_v2": _encoder(
        "RoformerV2Backbone", "RoformerV2TextClassifier", head_size=8, max_sequence_length=None
    ),
    "vit": _vision("vit", vit, task_name="ViTImageClassifier"),
    "deit": _vision("deit", deit, task_name="DeiTImageClassifier"),
    "swin": _vision("swin", swin, task_name="SwinTransformerImageClassifier"),
    "dinov2": _vision("dinov2", dinov2, key="images"),
    "dinov3": _vision("dinov3", dinov3, key="pixel_values"),
    "resnet": _graph(resnet, "ResNetImageClassifier"),
    "xception": _graph(xception, None),
    "whisper": Supported(
        whisper,
        whisper_inputs,
        _head(whisper_inputs, lambda out: out["decoder_sequence_output"]),
        "speech",
    ),
    "moonshine": Supported(moonshine, moonshine_inputs, _moonshine_task, "audio_to_text"),
    "t5gemma": Supported(
        t5gemma("T5GemmaBackbone"), text_inputs, _seq2seq_lm("T5GemmaSeq2SeqLM"), "seq2seq"
    ),
    "t5gemma2": Supported(
        t5gemma("T5Gemma2Backbone"), text_inputs, _seq2seq_lm("T5Gemma2Seq2SeqLM"), "seq2seq"
    ),
    "edrec": Supported(
        _text(
            "EdRecBackbone",
            vocabulary_size=None,
            vocab_size=VOCAB,
            num_layers=None,
            num_layers_enc=2,
            num_layers_dec=2,
            max_sequence_length=None,
        ),
        text_inputs,
        _edrec_seq2seq_lm,
        "seq2seq",
    ),
    "vit_det": Supported(vit_det, _images(), _head(_images()), "vision"),
    "mit": Supported(mit, _images(), _head(_images()), "vision"),
    "sam": Supported(
        sam, sam_inputs, _head(sam_inputs, lambda out: out["image_embeddings"]), "vision"
    ),
    "segformer": Supported(
        segformer, _images(), _segmenter("SegFormerImageSegmenter", _images()), "vision"
    ),
    "depth_anything": Supported(
        depth_anything, _images(2 * SIZE), _head(_images(2 * SIZE)), "vision"
    ),
    **{
        name: Supported(image_text(prefix), image_text_inputs, _contrastive, "vision")
        for name, prefix in (("clip", "CLIP"), ("siglip", "SigLIP"), ("metaclip_2", "MetaCLIP2"))
    },
    "retinanet": Supported(retinanet, _images(), _head(_images(), lambda out: out["P3"]), "graph"),
    "parseq": Supported(parseq, parseq_inputs, _parseq_head, "vision"),
    "video_prism": Supported(video_prism, video_prism_inputs, _video_text, "vision"),
    # Its ResNet encoder's residuals are graph additions: no `placement`.
    "deeplab_v3": Supported(
        deeplab_v3, _images(), _segmenter("DeepLabV3ImageSegmenter", _images()), "graph"
    ),
}
