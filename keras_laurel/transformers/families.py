"""Where LAuReL goes in KerasHub's decoder LLMs: one description per family.

Every current decoder LLM in KerasHub has a decoder layer of its own
(`LlamaTransformerDecoder`, `GemmaDecoderBlock`, ...), whose `call` computes
its residual connections as plain additions. A `Family` names, for each
backbone class, the decoder layer class its `__init__` builds and, in source
order, the residual additions of that layer's `call` as `(site, f(x), x)`:
what each operand is made of (`keras_laurel.internals.residual_call`).

Where `f(x)` ends, per family:

* pre-norm blocks (Llama, Mistral, Mixtral, Qwen, Qwen-MoE, Qwen 3, Qwen 3
  MoE, Qwen 3.5 and its MoE, Phi-3, SmolLM3, Falcon, Bloom, GPT-OSS): `f` is
  the attention (or MLP / MoE) block including its dropout, `x` the block's
  input; Qwen 3.5's linear-attention layers (Gated DeltaNet) and
  full-attention layers share one `call` and the same two sites;
* sandwich norms (Gemma with `use_post_attention_norm` /
  `use_post_ffw_norm`, i.e. Gemma 2 style, and Gemma 3): `f` includes the
  post-norm, which KerasHub applies before the addition; PaliGemma's
  language model is Gemma's block (`PaliGemmaDecoderBlock`, a subclass for
  its image-prefix mask), rewritten the same way, its vision encoder not;
* Gemma 3's and Gemma 4's float16 branch adds in float32 with clipping: it
  is described too (each of its sites appears twice, once per branch), so
  LAuReL is not skipped there; Gemma 4 multiplies the block's output by its
  checkpoint's `layer_scalar` after both sites, and its per-layer-input gate
  (`residual + gated`) is not a residual connection of the block and stays
  plain;
* Gemma 3n's decoder block carries AltUp's stack of predictions: the
  attention's `f` (after its post-norm) is added to the active prediction,
  before Gemma 3n's own LAuReL block is averaged in (that block stays as it
  is), and the MLP's `f` (after its post-norm) to that average; the
  prediction, the correction and the per-layer-input residual stay plain;
* RWKV-7's block (`RWKV7_Block`, a recurrent time mix and channel mix,
  pre-norm): `f` is the time mix (its `att`) and the channel mix (its
  `ffn`), each after its norm; the same two additions in `generate_call`,
  the path its CausalLM decodes with, are rewritten too;
* the parallel block of GPT-NeoX (`x + attn(x) + mlp(x)`) is one site,
  `"parallel"`, whose `f` is the sum of both branches; it is rewritten for
  every `placement`.

Vision transformers: ViT's encoder blocks (`ViTEncoderBlock`, built by
`ViTEncoder.build`) have the same two residuals, `f` being the attention
(with its dropout) and the MLP, each after its pre-norm. DINOv2's and DINOv3's
blocks (built by their encoders' `__init__`) too, with `f` ending after the
LayerScale and the drop path (one drop-path object, without weights, serves
both additions); their encoders collect every block's output in
`pyramid_outputs`, which stay plain tensors with PA (`Family.collector`).
DeiT's block adds its attention residual itself and leaves the second to a
helper layer, `DeiTOutput(y, x)` (dense, dropout, `+ x`): `f` is the helper's
output without the `+ x` (it is called with zeros for `x`, exactly), and
LAuReL makes the addition (`Family.helpers` checks the helper's code).
Swin's blocks (built by each `SwinTransformerStage`) have the same two
residuals; the attention's `f` ends after its output is reshaped back from
windows (and rolled back), with the drop path; the MLP's `f` includes its
drop path. Its stages change width, so PA mixes within a stage only
(`Family.stages_argument`). ViTDet's `WindowedTransformerEncoder` (built by
the backbone; SAM's image encoder) has the same two residuals on its
(batch, height, width, channels) hidden state: the attention's `f` ends after
the windows are merged back, the MLP's is the MLP after its pre-norm. MiT's
`HierarchicalTransformerEncoder` (SegFormer's image encoder) adds
`drop_path(attn(norm1(x)))` and `drop_path(mlp(norm2(x)))`; its stages
change width, so PA mixes within a stage, as in Swin. VideoPrism's
`VideoPrismEncoderBlock` (pre-norm: `f` the attention with its dropout, the
MLP) serves its spatial, temporal, auxiliary and text encoders
(`VideoPrismEncoder`), each a stack of its own size with its own PA history.

T5's `T5TransformerLayer` serves its encoder (`is_decoder=False`) and its
decoder: pre-norm, `f` the attention, the cross-attention (decoder layers
only) or the feed-forward block with its dropout. The backbone builds two
stacks of `num_layers` (`Family.stacks`), each with its own PA history; the
cross-attention site is rewritten with the attention's, in decoder layers
(`Family.cross_attention_flag`).

Moonshine, EdRec, T5Gemma and T5Gemma 2 build an encoder and a decoder block
class of their own (`Family.companion`), pre-norm: `f` the attention, the
cross-attention or the feed-forward block after its norm (T5Gemma's with its
post-norm and dropout, as Gemma 2's). T5Gemma's decoder layers take
`(hidden, encoder_hidden)` as one argument (`Family.paired_input`); T5Gemma
2's attend to the decoder's and the encoder's keys in one attention, one
site; its optional vision encoder (Gemma 3's) stays plain.

The towers of CLIP, SigLIP and MetaCLIP 2 (`CLIPVisionEncoder`,
`CLIPTextEncoder`, ...: backbones of their own) add `ops.add(residual, x)`
after the attention and the MLP, each after its pre-norm.

Encoders with layers of their own: DeBERTa-v3's `DisentangledAttentionEncoder`
(post-norm: `f` is the disentangled attention or the feed-forward block with
its dropout, normalised after the addition), ESM's `ESMEncoder` (pre-norm; the
feed-forward residual's `x` is the attention site's output) and RoFormer-V2's
`RoformerV2Encoder` (post-norm, as DeBERTa-v3; KerasHub spells its feed-forward
output `feedroward_output`), and FNet's `FNetEncoder` (post-norm; its additions
are made by a helper, `add_and_norm(x, fx, norm)`, inlined first; the first
site's `f` is the Fourier mixing, which has no weights). XLNet's
`XLNetEncoder` (post-norm) runs a second stream, the query stream of its
pretraining, through the same residuals and weights: its additions are
described after the content stream's, so each site's LAuReL layer serves
both (`Family.second_stream`; PA refuses a query stream).

Why a description and not per-family subclasses with `call` copied by hand:
the LAuReL decoder's `call` is compiled from KerasHub's own source with only
the described additions replaced, so a KerasHub fix to the rest of `call`
is picked up, and a change to the additions themselves fails
`residual_call`'s check (one clear test, `tests/test_decoder_llms.py`) rather
than silently computing something else. KerasHub's classes are not modified:
the LAuReL decoder is a subclass, and the backbone's module sees it only
while a LAuReL backbone's `__init__` runs (`internals.names_bound_in_init`).
"""

import dataclasses

ATTENTION, FEEDFORWARD, PARALLEL = "attention", "feedforward", "parallel"
CROSS_ATTENTION = "cross_attention"

# KerasHub's generic `TransformerEncoder` / `TransformerDecoder` (GPT-2, OPT,
# BERT, RoBERTa, DistilBERT, XLM-R, ALBERT, ELECTRA, BART): `f` is the
# attention, cross-attention or feed-forward block with its dropout (after
# the pre-norm when `normalize_first`; post-norm layers normalise the sum).
ENCODER_ADDITIONS = ((ATTENTION, "x", "residual"), (FEEDFORWARD, "x", "residual"))
DECODER_ADDITIONS = (
    (ATTENTION, "x", "residual"),
    (CROSS_ATTENTION, "x", "residual"),
    (FEEDFORWARD, "x", "residual"),
)


@dataclasses.dataclass(frozen=True)
class Family:
    """The LAuReL sites of one KerasHub decoder family."""

    name: str
    backbones: tuple  # KerasHub backbone class names
    decoder: str  # the decoder layer (or encoder block) class, as its builder names it
    additions: tuple  # ((site, f(x), x), ...) in source order
    # The layer class that builds the blocks, as the backbone's module names
    # it, when that is not the backbone itself (ViT's encoder builds its
    # blocks in `build`).
    builder: str = None
    # The layer class, as the backbone's module names it, that collects every
    # block's output in a dict (DINOv2's encoder and its `pyramid_outputs`):
    # with PA a block hands on a tuple, so the LAuReL backbone builds a
    # subclass that keeps the hidden state alone in those dicts.
    collector: str = None
    # Helper layers that make a residual addition themselves, each as
    # `(class name in the block's module, f(x), x)` of the helper's `call`
    # (DeiT's `DeiTOutput` adds the block's `x`); the block's description
    # names the helper's call as `f(x)`, e.g. `"self.output_layer(y, x)"`.
    helpers: tuple = ()
    # The backbone argument giving the blocks of each stage, for backbones
    # whose width changes between stages (Swin's `depths`): PA's history
    # restarts at every stage, whose last block hands on a plain tensor.
    stages_argument: str = None
    # The backbone arguments counting the layers of each stack, in the order
    # the backbone builds them, for stacks of their own sizes (VideoPrism's
    # spatial, temporal, auxiliary and text encoders); a stack counted 0 is
    # not built. Each stack has its own PA history.
    stacks_arguments: tuple = ()
    # How many stacks of `num_layers` of these layers the backbone builds,
    # each with its own PA history (T5's encoder and decoder: 2).
    stacks: int = 1
    # The layer attribute that is true where the layer has cross-attention
    # (T5's `is_decoder`), whose site is then rewritten with the attention's;
    # without it, every layer of a family with a cross-attention site has it.
    cross_attention_flag: str = None
    # The backbone argument that counts these layers.
    layers_argument: str = "num_layers"
    # A second layer class the same backbone builds, described as a family
    # of its own (Moonshine's decoder blocks beside its encoder blocks).
    companion: "Family" = None
    # Nested helper functions of `call` inlined before the additions are
    # found (FNet's `add_and_norm(x, fx, norm)`, `norm(x + fx)`).
    inline: tuple = ()
    # The layer's first argument is a tuple whose first element is the
    # hidden state (T5Gemma's decoder layers: `(hidden, encoder_hidden)`;
    # Gemma 3n's: `(AltUp stack, per-layer input, padding mask)`): PA's
    # history travels in that first element.
    paired_input: bool = False
    # Why the relatives that change what a layer reads or returns (the
    # hyper-connections, DenseFormer) cannot go in these layers, if they
    # cannot (Gemma 3n's stack of AltUp predictions).
    relatives_refused: str = None
    # The argument of a second stream that passes the same residual
    # connections with the same weights (XLNet's query stream; its additions
    # are described after the content stream's, site by site). PA keeps one
    # history per layer, so a PA layer refuses a second stream.
    second_stream: str = None
    # Methods other than `call` that make the same additions, compiled the
    # same way (RWKV-7's `generate_call`, which its CausalLM decodes with).
    also_methods: tuple = ()
    # The backbone argument of a dropout it applies between layers
    # (RWKV-7's `dropout_rate`): a nonzero rate cannot pass PA's history tuple.
    dropout_between_layers: str = None

    @property
    def sites(self):
        """The distinct sites of one layer, in call order."""
        return tuple(dict.fromkeys(site for site, _, _ in self.additions))


_PRE_NORM = ((ATTENTION, "x", "residual"), (FEEDFORWARD, "x", "residual"))

FAMILIES = (
    Family("llama", ("LlamaBackbone", "Llama3Backbone"), "LlamaTransformerDecoder", _PRE_NORM),
    Family("mistral", ("MistralBackbone",), "MistralTransformerDecoder", _PRE_NORM),
    Family("mixtral", ("MixtralBackbone",), "MixtralTransformerDecoder", _PRE_NORM),
    Family("qwen", ("QwenBackbone",), "QwenTransformerDecoder", _PRE_NORM),
    Family("qwen3", ("Qwen3Backbone",), "Qwen3TransformerDecoder", _PRE_NORM),
    Family("qwen_moe", ("QwenMoeBackbone",), "QwenMoeTransformerDecoder", _PRE_NORM),
    Family("qwen3_moe", ("Qwen3MoeBackbone",), "Qwen3MoeTransformerDecoder", _PRE_NORM),
    Family("phi3", ("Phi3Backbone",), "Phi3Decoder", _PRE_NORM),
    Family("falcon", ("FalconBackbone",), "FalconTransformerDecoder", _PRE_NORM),
    Family("bloom", ("BloomBackbone",), "BloomDecoder", _PRE_NORM),
    Family(
        "smollm3",
        ("SmolLM3Backbone",),
        "SmolLM3DecoderLayer",
        ((ATTENTION, "attn_output", "residual"), (FEEDFORWARD, "hidden_states", "residual")),
    ),
    Family(
        "gpt_neox",
        ("GPTNeoXBackbone",),
        "GPTNeoXDecoder",
        ((PARALLEL, "feedforward_output + attention_output", "residual"),),
    ),
    Family("gpt_oss", ("GptOssBackbone",), "GptOssTransformerDecoder", _PRE_NORM),
    Family("qwen3_5", ("Qwen3_5Backbone",), "Qwen3_5TransformerDecoder", _PRE_NORM),
    Family("qwen3_5_moe", ("Qwen3_5MoeBackbone",), "Qwen3_5MoeTransformerDecoder", _PRE_NORM),
    Family(
        "rwkv7",
        ("RWKV7Backbone",),
        "RWKV7_Block",
        ((ATTENTION, "xx", "x"), (FEEDFORWARD, "xx", "x")),
        also_methods=("generate_call",),
        dropout_between_layers="dropout_rate",
        relatives_refused=(
            "its first block normalises its input (`ln0`) before the first residual, "
            "so the residuals would not add to the streams or the outputs handed over"
        ),
    ),
    Family(
        "gemma",
        ("GemmaBackbone",),
        "GemmaDecoderBlock",
        ((ATTENTION, "attention", "x"), (FEEDFORWARD, "x", "attention_x")),
    ),
    Family(
        "pali_gemma",
        ("PaliGemmaBackbone",),
        "PaliGemmaDecoderBlock",
        ((ATTENTION, "attention", "x"), (FEEDFORWARD, "x", "attention_x")),
    ),
    Family(
        "gemma3",
        ("Gemma3Backbone",),
        "Gemma3DecoderBlock",
        (
            (ATTENTION, "attention", "x"),  # float16 branch
            (ATTENTION, "attention", "x"),
            (FEEDFORWARD, "x", "attention_x"),  # float16 branch
            (FEEDFORWARD, "x", "attention_x"),
        ),
    ),
    Family(
        "gemma3n",
        ("Gemma3nBackbone",),
        "Gemma3nTextDecoderBlock",
        ((ATTENTION, "attn", "active_prediction"), (FEEDFORWARD, "attn_ffw_norm", "attn_laurel")),
        builder="Gemma3nTextModel",
        layers_argument="num_hidden_layers",
        paired_input=True,
        relatives_refused=(
            "its hidden state is AltUp's stack of predictions, which the layer mixes itself, "
            "and its residual connections add to one prediction"
        ),
    ),
    Family(
        "gemma4",
        ("Gemma4Backbone",),
        "Gemma4TextDecoderBlock",
        (
            (ATTENTION, "attention", "residual"),  # float16 branch
            (ATTENTION, "attention", "residual"),
            (FEEDFORWARD, "x", "residual"),  # float16 branch
            (FEEDFORWARD, "x", "residual"),
        ),
    ),
)

# Vision transformers: the encoder blocks' residuals.
VISION_FAMILIES = (
    Family(
        "vit",
        ("ViTBackbone",),
        "ViTEncoderBlock",
        ((ATTENTION, "x", "inputs"), (FEEDFORWARD, "y", "x")),
        builder="ViTEncoder",
    ),
    Family(
        "deit",
        ("DeiTBackbone",),
        "DeiTEncoderBlock",
        ((ATTENTION, "x", "hidden_states"), (FEEDFORWARD, "self.output_layer(y, x)", "x")),
        builder="DeiTEncoder",
        helpers=(("DeiTOutput", "hidden_states", "input_tensor"),),
    ),
    Family(
        "swin",
        ("SwinTransformerBackbone",),
        "SwinTransformerBlock",
        ((ATTENTION, "x", "shortcut"), (FEEDFORWARD, "x", "x")),
        builder="SwinTransformerStage",
        stages_argument="depths",
    ),
    Family(
        "dinov2",
        ("DINOV2Backbone",),
        "DINOV2Layer",
        ((ATTENTION, "x", "inputs"), (FEEDFORWARD, "x", "hidden_states")),
        builder="DINOV2Encoder",
        collector="DINOV2Encoder",
    ),
    Family(
        "dinov3",
        ("DINOV3Backbone",),
        "DINOV3Layer",
        ((ATTENTION, "hidden_states", "residual"), (FEEDFORWARD, "hidden_states", "residual")),
        builder="DINOV3Encoder",
        collector="DINOV3Encoder",
    ),
    Family(
        "vit_det",
        ("ViTDetBackbone",),
        "WindowedTransformerEncoder",
        ((ATTENTION, "x", "shortcut"), (FEEDFORWARD, "x", "x")),
    ),
    Family(
        "video_prism",
        ("VideoPrismBackbone",),
        "VideoPrismEncoderBlock",
        ((ATTENTION, "x", "inputs"), (FEEDFORWARD, "y", "x")),
        builder="VideoPrismEncoder",
        stacks_arguments=(
            "num_spatial_layers",
            "num_temporal_layers",
            "num_auxiliary_layers",
            "num_text_layers",
        ),
    ),
    Family(
        "mit",
        ("MiTBackbone",),
        "HierarchicalTransformerEncoder",
        ((ATTENTION, "x", "x"), (FEEDFORWARD, "x", "x")),
        stages_argument="layerwise_depths",
    ),
)
# Encoder-decoders whose encoder and decoder stacks are one layer class.
SEQ2SEQ_FAMILIES = (
    Family(
        "t5",
        ("T5Backbone",),
        "T5TransformerLayer",
        (
            (ATTENTION, "x", "residual"),
            (CROSS_ATTENTION, "x", "residual"),
            (FEEDFORWARD, "x", "residual"),
        ),
        stacks=2,
        cross_attention_flag="is_decoder",
    ),
)
# The towers of the image-text models (each a backbone of its own, which
# CLIP / SigLIP / MetaCLIP 2 wrap: keras_laurel.wrapped): pre-norm,
# `ops.add(residual, x)` after the attention and the MLP.
_TOWER = ((ATTENTION, "x", "residual"), (FEEDFORWARD, "x", "residual"))
TOWER_FAMILIES = (
    Family("clip", ("CLIPVisionEncoder", "CLIPTextEncoder"), "CLIPEncoderLayer", _TOWER),
    Family("siglip", ("SigLIPVisionEncoder", "SigLIPTextEncoder"), "SigLIPEncoderLayer", _TOWER),
    Family(
        "metaclip_2",
        ("MetaCLIP2VisionEncoder", "MetaCLIP2TextEncoder"),
        "MetaCLIP2EncoderLayer",
        _TOWER,
    ),
)
# T5Gemma's sandwich norms: `residual + dropout(post_norm(f(pre_norm(x))))`.
_SANDWICH = ((ATTENTION, "hidden_states", "residual"), (FEEDFORWARD, "hidden_states", "residual"))
# Encoder-decoders with an encoder and a decoder block class of their own
# (Moonshine's speech-to-text, EdRec), each counted by its own argument.
OWN_BLOCK_SEQ2SEQ_FAMILIES = (
    Family(
        "moonshine",
        ("MoonshineBackbone",),
        "MoonshineEncoderBlock",
        ((ATTENTION, "x", "attention_residual"), (FEEDFORWARD, "x", "ff_residual")),
        layers_argument="encoder_num_layers",
        companion=Family(
            "moonshine_decoder",
            (),
            "MoonshineDecoderBlock",
            (
                (ATTENTION, "x_self_attn", "residual"),
                (CROSS_ATTENTION, "x_cross_attn", "residual"),
                (FEEDFORWARD, "x_ff", "residual"),
            ),
            layers_argument="decoder_num_layers",
        ),
    ),
    Family(
        "edrec",
        ("EdRecBackbone",),
        "EdRecEncoderBlock",
        ((ATTENTION, "attn_out", "residual"), (FEEDFORWARD, "ff_out", "residual")),
        layers_argument="num_layers_enc",
        companion=Family(
            "edrec_decoder",
            (),
            "EdRecDecoderBlock",
            (
                (ATTENTION, "self_attn_out", "residual"),
                (CROSS_ATTENTION, "cross_attn_out", "residual"),
                (FEEDFORWARD, "ff_out", "residual"),
            ),
            layers_argument="num_layers_dec",
        ),
    ),
    Family(
        "t5gemma",
        ("T5GemmaBackbone",),
        "T5GemmaEncoderLayer",
        _SANDWICH,
        layers_argument="encoder_num_layers",
        companion=Family(
            "t5gemma_decoder",
            (),
            "T5GemmaDecoderLayer",
            (
                (ATTENTION, "hidden_states", "residual"),
                (CROSS_ATTENTION, "hidden_states", "residual"),
                (FEEDFORWARD, "hidden_states", "residual"),
            ),
            layers_argument="decoder_num_layers",
            paired_input=True,
        ),
    ),
    Family(
        "t5gemma2",
        ("T5Gemma2Backbone",),
        "T5Gemma2EncoderLayer",
        _SANDWICH,
        layers_argument="encoder_num_layers",
        # One attention over the decoder's and the encoder's keys: one site.
        companion=Family(
            "t5gemma2_decoder",
            (),
            "T5Gemma2DecoderLayer",
            _SANDWICH,
            layers_argument="decoder_num_layers",
            paired_input=True,
        ),
    ),
)
# Encoders with layers of their own: both residuals of every layer (post-norm
# in DeBERTa-v3 and RoFormer-V2, pre-norm in ESM), `f` being the attention and
# the feed-forward block with its dropout.
ENCODER_FAMILIES = (
    Family(
        "deberta_v3",
        ("DebertaV3Backbone",),
        "DisentangledAttentionEncoder",
        ((ATTENTION, "x", "residual"), (FEEDFORWARD, "x", "residual")),
    ),
    Family(
        "esm",
        ("ESMBackbone",),
        "ESMEncoder",
        ((ATTENTION, "attention_output", "x"), (FEEDFORWARD, "feedforward_output", "residual")),
    ),
    Family(
        "xlnet",
        ("XLNetBackbone",),
        "XLNetEncoder",
        (
            (ATTENTION, "attn_out_content", "output_content"),
            (ATTENTION, "attn_out_query", "output_query"),
            (FEEDFORWARD, "ff_out_content", "attn_out_content"),
            (FEEDFORWARD, "ff_out_query", "attn_out_query"),
        ),
        second_stream="output_query",
    ),
    Family(
        "f_net",
        ("FNetBackbone",),
        "FNetEncoder",
        (
            (ATTENTION, "mixing_output", "inputs"),
            (FEEDFORWARD, "feed_forward_output", "mixing_output"),
        ),
        inline=("add_and_norm",),
    ),
    Family(
        "roformer_v2",
        ("RoformerV2Backbone",),
        "RoformerV2Encoder",
        ((ATTENTION, "attention_output", "x"), (FEEDFORWARD, "feedroward_output", "x")),
    ),
)
FAMILIES = (
    FAMILIES
    + VISION_FAMILIES
    + SEQ2SEQ_FAMILIES
    + OWN_BLOCK_SEQ2SEQ_FAMILIES
    + TOWER_FAMILIES
    + ENCODER_FAMILIES
)

BY_BACKBONE = {name: family for family in FAMILIES for name in family.backbones}


def family_of(backbone_class):
    """The `Family` of a backbone class (or of the KerasHub class it extends)."""
    for cls in backbone_class.__mro__:
        if cls.__name__ in BY_BACKBONE and cls.__module__.startswith("keras_hub"):
            return BY_BACKBONE[cls.__name__]
    return None


def sites_for(family, placement, has_cross_attention=False):
    """The sites of one layer that `placement` rewrites, in call order
    (cross-attention with attention, in a layer that has it)."""
    wanted = {
        "attention": {ATTENTION},
        "feedforward": {FEEDFORWARD},
        "both": {ATTENTION, FEEDFORWARD},
    }[placement] | {PARALLEL}
    if has_cross_attention and ATTENTION in wanted:
        wanted.add(CROSS_ATTENTION)
    return [site for site in family.sites if site in wanted]
