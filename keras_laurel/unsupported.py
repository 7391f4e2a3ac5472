"""Why `rewrite` refuses the KerasHub backbones it does not support.

`rewrite` raises, for a backbone of one of these classes, an error with
the reason; docs/models.md gives the same reason in the class's row
(tests/test_model_table.py checks that the two agree).
"""

# {backbone class name: the reason}
REASONS = {
    "BLIP2Backbone": (
        "wraps other models: Composes BLIP2VisionEncoder (ViTEncoderBlock.call `x + "
        "f(x)`), BLIP2QFormer (post-LN `layer_norm(x + f(x))`) and an OPT "
        "(TransformerDecoder) or Flan-T5 (T5Backbone) language model"
    ),
    "DFineBackbone": (
        "wraps other models: Wraps an HGNetV2Backbone; own "
        "DFineEncoderLayer/DFineDecoderLayer.call use `residual + h` (self-attention, "
        "FFN), but decoder cross-attention residual is gated by DFineGate (`g1*x + "
        "g2*h`)"
    ),
    "DenseNetBackbone": (
        "no plain residual: Dense connectivity: apply_conv_block concatenates block "
        "input and output with `Concatenate`; no additive residual anywhere"
    ),
    "FeaturePyramidBackbone": (
        "no plain residual: Abstract base class (Backbone plus a pyramid_outputs "
        "property) with no layers; residual handling depends on the concrete subclass "
        "(ResNet, CSPNet, MiT, EfficientNet, ...)"
    ),
    "FluxBackbone": (
        "no plain residual: Residuals are adaLN-gated `x + gate * f(modulate(x))` in "
        "DoubleStreamBlock.call and SingleStreamBlock.call, gates from timestep/vector "
        "conditioning; not plain `x + f(x)`"
    ),
    "HGNetV2Backbone": (
        "residuals in layer code not described yet: A `keras.layers.Add` sublayer "
        "(add_layer) in HGNetV2BasicLayer.call adds [drop_path(features), identity]; "
        "nested in HGNetV2Stage/HGNetV2Encoder; first block per stage has no residual"
    ),
    "MobileNetBackbone": (
        "residuals in layer code not described yet: Residuals `inputs + x` in "
        "InvertedResidualBlock.call (stride 1, equal channels) and optional `x + "
        "inputs` in DepthwiseConvBlock.call; layer classes live in the backbone module"
    ),
    "MobileNetV5Backbone": (
        "residuals in layer code not described yet: Residuals "
        "`drop_path(layer_scale(f(x))) + shortcut` in "
        "UniversalInvertedResidual/EdgeResidual/CondConvResidual/MobileAttention.call "
        "when has_skip; builder may also use MobileNet InvertedResidualBlock"
    ),
    "SAM3PromptableConceptBackbone": (
        "residuals in layer code not described yet: Composes SAM3 Layer components; "
        "`ops.add` residuals in SAM3ViTLayer, CLIPEncoderLayer, "
        "SAM3GeometryEncoderLayer, SAM3DetrEncoderLayer, SAM3DetrDecoderLayer and "
        "SAM3MaskDecoder call methods"
    ),
    "StableDiffusion3Backbone": (
        "no plain residual: MMDiT residuals are adaLN-gated `ops.add(x, gate * f(x))` "
        "in DismantledBlock._compute_post_attention*; also composes CLIP-L/G, T5 text "
        "encoders and a VAE"
    ),
    "VGGBackbone": (
        "no plain residual: Plain Conv2D/MaxPooling2D stacks built by apply_vgg_block; "
        "no residual additions"
    ),
}


def reason_for(model):
    """Why `rewrite` refuses `model`, a KerasHub backbone; `None` if it does
    not. Its own KerasHub class decides (`ResNetBackbone` extends the
    refused `FeaturePyramidBackbone`)."""
    own = next((c for c in type(model).__mro__ if c.__module__.startswith("keras_hub")), None)
    return REASONS.get(own.__name__) if own is not None else None
