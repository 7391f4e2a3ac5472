"""The relatives that change what a layer reads or returns, hyper-connections
(n residual streams between the layers) and DenseFormer (every earlier layer's
output), in every model `rewrite` supports (tests/supported.py), on the
current backend: the plain model at init and, with random weights,
hyper-connections' cached decoding and generate() equal to the full passes;
or, where docs/models.md says they cannot go, an error naming the variant and
the reason. Their full contract (round trips, adapters, a fit step, mHC) is
tests/test_contract.py's, on Llama and ViT."""

import llms
import pytest
import supported
from contract import assert_same
from contract import check_decoding
from contract import max_difference

import keras_laurel as kl

# Where docs/models.md refuses them, and the words of the reason.
POST_NORM = "post-norm"
REFUSED = {
    **dict.fromkeys(
        (
            "bert",
            "roberta",
            "distil_bert",
            "xlm_roberta",
            "albert",
            "electra",
            "deberta_v3",
            "f_net",
            "roformer_v2",
            "xlnet",
            "bart",
        ),
        POST_NORM,
    ),
    "gemma4": "its output is not what its last residual connection gave",
    "gemma3n": "AltUp",
    "rwkv7": "ln0",
    **dict.fromkeys(("resnet", "xception", "deeplab_v3", "retinanet"), "functional graph"),
}


def _refused(name, variant):
    """Whether docs/models.md refuses `variant` in `name`: then checks the error."""
    if name not in REFUSED:
        return False
    model = supported.MODELS[name]
    base = model.backbone()
    with pytest.raises(ValueError, match=rf"'{variant}'(.|\n)*{REFUSED[name]}"):
        kl.rewrite(base, variant)(model.inputs(base))  # some refuse at the first call
    return True


def _plain_at_init(model, variant):
    """`model`'s backbone, and `variant` in it: the plain model's outputs at
    init, different ones with random weights."""
    base = model.backbone()
    inputs = model.inputs(base)
    base_out = base(inputs)
    new = kl.rewrite(base, variant)
    assert len(kl.laurel_layers(new)) > 0
    assert_same(new(inputs), base_out)
    llms.randomize_laurel(new)
    assert max_difference(new(inputs), base_out) > 1e-3
    return new, inputs


@pytest.mark.parametrize("name", sorted(supported.MODELS))
def test_hyper_connections_plain_at_init_and_cached_decoding_exact(name):
    if not _refused(name, "hc"):
        model = supported.MODELS[name]
        check_decoding(model, *_plain_at_init(model, "hc"))


# DenseFormer's averages travel through the cache as PA's history does, which
# every model's contract checks (tests/test_contract.py); its decoding is
# checked on Llama there.
@pytest.mark.parametrize("name", sorted(supported.MODELS))
def test_denseformer_plain_at_init(name):
    if not _refused(name, "denseformer"):
        _plain_at_init(supported.MODELS[name], "denseformer")
