"""The contract (tests/contract.py) for every model `rewrite` supports
(tests/supported.py), on the current backend: identity at init with exact
weights, cached generation equal to the full pass, `.keras` and preset round
trips, adapters, `freeze_base` and a fit step in the model's task."""

import dataclasses

import keras_hub
import pytest
import supported
from contract import run_contract
from test_model_table import documented

import keras_laurel as kl


@pytest.mark.parametrize("name", list(supported.MODELS))
def test_contract(name, tmp_path):
    run_contract(supported.MODELS[name], tmp_path)


# LAuReL's relatives through the same rewrite keep the same promises: the
# RW-family ones on a decoder LLM (cached decoding), a vision transformer and a
# functional graph; the hyper-connections (n streams between the layers) and
# DenseFormer (every earlier layer's output) on the decoder LLM and the vision
# transformer.
@pytest.mark.parametrize(
    "name, variant",
    [
        ("llama", "layerscale"),
        ("vit", "rezero"),
        ("resnet", "layerscale"),
        ("llama", "hc"),
        ("vit", "hc"),
        ("llama", "mhc"),
        ("vit", "mhc"),
        ("llama", "denseformer"),
        ("vit", "denseformer"),
    ],
)
def test_contract_of_the_relatives(name, variant, tmp_path):
    run_contract(dataclasses.replace(supported.MODELS[name], variant=variant), tmp_path)


def test_every_supported_backbone_has_the_contract():
    """Every backbone docs/models.md calls supported (which test_model_table
    checks against what `rewrite` supports) has an entry in tests/supported.py
    (`Qwen2Backbone` is `QwenBackbone` under another name)."""
    covered = set()
    for model in supported.MODELS.values():
        covered |= set(type(model.backbone()).__mro__)
    rows = documented()
    untested = [
        name
        for name, (status, _) in rows.items()
        if status == "supported" and getattr(keras_hub.models, name) not in covered
    ]
    assert untested == []


def test_a_wrapper_names_its_encoder_when_the_encoder_cannot_take_laurel():
    wrapper = supported.deeplab_v3()
    with pytest.raises(
        ValueError, match=r"DeepLabV3Backbone .* `image_encoder` \(ResNetBackbone\).*`placement`"
    ):
        kl.rewrite(wrapper, "rw", placement="both")


def test_pa_refuses_a_tower_that_outputs_an_intermediate_block():
    tower = keras_hub.models.CLIPVisionEncoder(
        patch_size=8,
        hidden_dim=16,
        num_layers=2,
        num_heads=2,
        intermediate_dim=32,
        image_shape=(32, 32, 3),
        intermediate_output_index=0,
    )
    with pytest.raises(ValueError, match=r"block 0 \(`intermediate_output_index`\).*rw\+lr"):
        kl.rewrite(tower, "rw+pa")
    assert len(kl.laurel_layers(kl.rewrite(tower, "rw+lr", rank=2))) == 2
