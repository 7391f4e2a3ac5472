"""Every public layer and every LAuReL transformer layer through Keras's own
layer test harness (`keras.src.testing.TestCase.run_layer_test`, as Keras's
layers are tested): config round trip, `deserialize(serialize())`, equal
outputs with copied weights, training, mixed precision, `.keras` saving."""

import re

import keras
import numpy as np
import pytest
from absl.testing import parameterized
from keras.src import testing

import keras_laurel as kl
from keras_laurel.layers.settings import LaurelSettings

D = 8

# (class, init kwargs, inputs, trainable weights)
LAYERS = {
    "rw": (kl.LaurelRW, {}, 2, 2),
    "rw_sigmoid_per_channel": (
        kl.LaurelRW,
        {"normalization": "sigmoid", "per_channel": True},
        2,
        1,
    ),
    "lr": (kl.LaurelLR, {"rank": 2, "a_initializer": "column_orthogonal"}, 2, 2),
    "lr_gemma3n": (kl.LaurelLR, {"rank": 2, "lr_form": "gemma3n"}, 2, 3),
    "pa": (kl.LaurelPA, {"k": 3}, 4, 1),
    "lr_pa": (kl.Laurel, {"variant": "lr+pa", "k": 3, "rank": 2}, 3, 1 + 2 * 2),
    "laurel_rw_lr_pa": (kl.Laurel, {"variant": "rw+lr+pa", "rank": 2, "k": 2}, 3, 2 + 1 + 2 * 2),
    "laurel_channels_first": (kl.Laurel, {"variant": "rw+lr", "rank": 2, "axis": 1}, 2, 4),
}


class KerasLayerHarnessTest(testing.TestCase):
    @parameterized.named_parameters(*[(name, name) for name in LAYERS])
    def test_layer(self, name):
        cls, kwargs, inputs, trainable = LAYERS[name]
        shape = (2, D, 3) if kwargs.get("axis") == 1 else (2, 3, D)
        self.run_layer_test(
            cls,
            init_kwargs=kwargs,
            input_shape=[shape] * inputs,
            expected_output_shape=shape,
            expected_num_trainable_weights=trainable,
            expected_num_non_trainable_weights=0,
            supports_masking=True,
            # The harness's fit on TensorFlow builds a tf.data generator whose
            # signature cannot hold a list input (a limitation of the harness,
            # not of the layer: tests/test_layers.py trains every variant on
            # TensorFlow with model.fit).
            run_training_check=keras.backend.backend() != "tensorflow",
        )


def test_settings_layer_round_trip_through_serialize():
    layer = kl.Laurel.from_settings(
        LaurelSettings("rw+lr+pa", rank=2, k=3, a_initializer=keras.initializers.Orthogonal())
    )
    revived = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(revived) is kl.Laurel and revived.settings == layer.settings


keras_hub = pytest.importorskip("keras_hub")  # a declared dependency

from keras_laurel.transformers import LaurelTransformerDecoder  # noqa: E402
from keras_laurel.transformers import LaurelTransformerEncoder  # noqa: E402

# name -> (settings, LAuReL weights added to the layer's 16: attention's
# 8, two layer norms' 4, the MLP's 4)
TRANSFORMER_SETTINGS = {
    "rw": (LaurelSettings("rw"), 2),
    # two sites, each two logits, A and B
    "rw_lr_both": (LaurelSettings("rw+lr", rank=2, placement="both"), 2 * 4),
    # the first site mixes x alone (logits, gamma, A_0, B_0), the second
    # also the first's x (logits, 2 gamma, 2 A, 2 B)
    "rw_lr_pa": (LaurelSettings("rw+lr+pa", rank=2, k=3, placement="both"), 5 + 7),
}


class TransformerLayerHarnessTest(testing.TestCase):
    @parameterized.named_parameters(
        *[
            (f"{layer.__name__}_{name}", layer, name)
            for layer in (LaurelTransformerDecoder, LaurelTransformerEncoder)
            for name in TRANSFORMER_SETTINGS
        ]
    )
    def test_transformer_layer(self, layer_cls, name):
        settings, added = TRANSFORMER_SETTINGS[name]
        self.run_layer_test(
            layer_cls,
            init_kwargs={"intermediate_dim": 16, "num_heads": 2, "laurel": settings.get_config()},
            input_shape=(2, 4, D),
            expected_output_shape=(2, 4, D),
            expected_num_trainable_weights=16 + added,
            expected_num_non_trainable_weights=0,
        )

    @parameterized.named_parameters(*[(name, name) for name in TRANSFORMER_SETTINGS])
    def test_built_decoder_round_trips(self, name):
        # Issue: a built decoder's config holds `decoder_sequence_shape`, and
        # KerasHub's __init__ built the layer before LAuReL's settings existed.
        layer = LaurelTransformerDecoder(
            intermediate_dim=16, num_heads=2, laurel=TRANSFORMER_SETTINGS[name][0]
        )
        x = np.random.default_rng(0).normal(size=(2, 4, D)).astype("float32")
        layer(x)
        for laurel_layer in layer.laurel_layers.values():
            for v in laurel_layer.weights:
                v.assign(np.random.default_rng(1).normal(size=v.shape).astype("float32"))
        self.assertIn("decoder_sequence_shape", layer.get_config())
        self.run_class_serialization_test(layer)
        for revived in (
            type(layer).from_config(layer.get_config()),
            keras.layers.deserialize(keras.layers.serialize(layer)),
        ):
            self.assertTrue(revived.built)
            revived.set_weights(layer.get_weights())
            np.testing.assert_allclose(
                keras.ops.convert_to_numpy(revived(x)),
                keras.ops.convert_to_numpy(layer(x)),
                rtol=1e-6,
                atol=1e-6,
            )


def _family_layer(module, name, family):
    """The LAuReL subclass of KerasHub's family layer `module.name`."""
    import importlib

    from keras_laurel.transformers.decoders import laurel_decoder_class
    from keras_laurel.transformers.families import FAMILIES

    base = getattr(importlib.import_module(f"keras_hub.src.models.{module}"), name)
    return laurel_decoder_class(base, next(f for f in FAMILIES if f.name == family))


# name -> (KerasHub module, layer class, family, its init kwargs)
FAMILY_LAYERS = {
    "gemma2": (
        "gemma.gemma_decoder_block",
        "GemmaDecoderBlock",
        "gemma",
        {
            "hidden_dim": D,
            "intermediate_dim": 16,
            "head_dim": 4,
            "num_query_heads": 2,
            "num_key_value_heads": 1,
            "use_post_ffw_norm": True,
            "use_post_attention_norm": True,
        },
    ),
    "mistral": (
        "mistral.mistral_transformer_decoder",
        "MistralTransformerDecoder",
        "mistral",
        {"intermediate_dim": 16, "num_query_heads": 2, "num_key_value_heads": 1},
    ),
    "dinov2": (
        "dinov2.dinov2_layers",
        "DINOV2Layer",
        "dinov2",
        {"hidden_dim": D, "num_heads": 2, "intermediate_dim": 16},
    ),
}
# Family layers whose KerasHub class fails the harness itself (its own
# `get_config` / `__init__` disagree); the LAuReL subclass inherits that.
KERAS_HUB_FAILS = {
    "llama": (
        "llama.llama_decoder",
        "LlamaTransformerDecoder",
        "llama",
        {"intermediate_dim": 16, "num_query_heads": 2, "num_key_value_heads": 1},
        "no attribute 'rope_scaling_factor'",
    ),
    "vit": (
        "vit.vit_layers",
        "ViTEncoderBlock",
        "vit",
        {"num_heads": 2, "hidden_dim": D, "mlp_dim": 16},
        "Unrecognized keyword arguments passed to ViTEncoderBlock: {'key_dim'",
    ),
    "deit": (
        "deit.deit_layers",
        "DeiTEncoderBlock",
        "deit",
        {"hidden_dim": D, "num_heads": 2, "intermediate_dim": 16},
        "Unrecognized keyword arguments passed to DeiTEncoderBlock: {'key_dim'",
    ),
}


class FamilyLayerHarnessTest(testing.TestCase):
    def _run(self, cls, kwargs):
        self.run_layer_test(
            cls,
            init_kwargs=kwargs,
            input_shape=(2, 4, D),
            expected_output_shape=(2, 4, D),
            expected_num_non_trainable_weights=0,
        )

    @parameterized.named_parameters(*[(name, name) for name in FAMILY_LAYERS])
    def test_family_layer(self, name):
        module, layer_name, family, kwargs = FAMILY_LAYERS[name]
        settings = LaurelSettings("rw+lr", rank=2, placement="both")
        self._run(
            _family_layer(module, layer_name, family), {**kwargs, "laurel": settings.get_config()}
        )

    @parameterized.named_parameters(*[(name, name) for name in KERAS_HUB_FAILS])
    def test_keras_hub_class_itself_fails_the_harness(self, name):
        # If this fails, KerasHub fixed its layer: move it to FAMILY_LAYERS.
        import importlib

        module, layer_name, _, kwargs, message = KERAS_HUB_FAILS[name]
        base = getattr(importlib.import_module(f"keras_hub.src.models.{module}"), layer_name)
        with self.assertRaisesRegex(Exception, re.escape(message)):
            self._run(base, kwargs)
