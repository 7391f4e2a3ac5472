"""Where LAuReL goes in a transformer layer, and how PA's history travels.

GPT-2's residual connections are `x = x + residual` inside
`keras_hub.layers.TransformerDecoder.call`, not graph nodes. The LAuReL
transformer layers replace them with `Laurel` layers. PA needs the `x` of the
previous residual connections, which live in earlier transformer layers, so a
LAuReL layer passes that history on *with* its output: every layer but the
last returns `(x, x_prev1, ..., x_prev_m)`, newest first (`m <= k - 1`), and the
next layer takes that tuple as its input. The backbone's own loop
(`x = layer(x, ...)`) and `GPT2CausalLM.call_with_cache` carry the tuple
without knowing it; the last layer returns a plain tensor, so the final layer
norm sees what it always did. Nothing is stacked or concatenated: the history
is the `k - 1` tensors themselves, `Theta(k D)` per position.
"""

from keras_laurel.layers.settings import PLACEMENTS  # noqa: F401

# Default placement: the attention residual only. The paper's LLM parameter
# counts fit one LR site per layer (24 layers x 2 r D = 1.2M for LR, r = 32),
# and Google's production use (Gemma 3n) puts its LR-style branch around
# attention; "both" is the per-residual-connection reading.
DEFAULT_PLACEMENT = "attention"


def sites_in_layer(placement, has_cross_attention=False):
    """Names of the residual connections a layer rewrites, in call order."""
    attention = ["attention"] + (["cross_attention"] if has_cross_attention else [])
    if placement == "attention":
        return attention
    if placement == "feedforward":
        return ["feedforward"]
    return attention + ["feedforward"]


def history_length(site_index, k):
    """Previous activations PA site `site_index` (global, 0-based) receives."""
    return min(site_index, k - 1) if k else 0
