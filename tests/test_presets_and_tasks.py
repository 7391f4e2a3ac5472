"""The fine-tuner's path: KerasHub tasks through `rewrite`, plain presets
loaded into LAuReL with one copy of the weights (`from_preset`), LAuReL
presets loaded back through KerasHub's own `from_preset`, and LoRA beside
LAuReL through the backbone's own `enable_lora`. Presets are saved locally
from tiny configurations (nothing can be downloaded here)."""

import json
import os
import subprocess
import sys

import keras
import keras_hub
import llms
import numpy as np
import pytest
import supported
from contract import check_cached_equals_full
from contract import check_seq2seq_generate

import keras_laurel as kl

HERE = os.path.dirname(__file__)


def _bert():
    return supported.MODELS["bert"].backbone()


def _gpt2():
    return supported.MODELS["gpt2"].backbone()


def _vit():
    return keras_hub.models.ViTBackbone(
        image_shape=(16, 16, 3), patch_size=4, num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=16
    )


def _resnet():
    return supported.resnet(image_size=16)


_TOKENS = np.array([[1, 2, 3, 4, 5, 6]], "int32")
_TEXT = {"token_ids": _TOKENS, "padding_mask": np.ones_like(_TOKENS)}
_IMAGES = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")

# task name -> (build the plain task, its inputs)
TASKS = {
    "Llama3CausalLM": (
        lambda: keras_hub.models.Llama3CausalLM(
            backbone=llms.backbone("llama3"), preprocessor=None
        ),
        _TEXT,
    ),
    "GPT2CausalLM": (
        lambda: keras_hub.models.GPT2CausalLM(backbone=_gpt2(), preprocessor=None),
        _TEXT,
    ),
    "BertTextClassifier": (
        lambda: keras_hub.models.BertTextClassifier(
            backbone=_bert(), num_classes=3, preprocessor=None
        ),
        {**_TEXT, "segment_ids": np.zeros_like(_TOKENS)},
    ),
    "ViTImageClassifier": (
        lambda: keras_hub.models.ViTImageClassifier(
            backbone=_vit(), num_classes=3, preprocessor=None
        ),
        _IMAGES,
    ),
    "ResNetImageClassifier": (
        lambda: keras_hub.models.ResNetImageClassifier(
            backbone=_resnet(), num_classes=3, preprocessor=None
        ),
        _IMAGES,
    ),
}


def _out(model, inputs):
    return keras.ops.convert_to_numpy(model(inputs))


def _non_laurel(model):
    laurel = {id(v) for layer in kl.laurel_layers(model) for v in layer.weights}
    return [v for v in model.weights if id(v) not in laurel]


@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("copy", [True, False])
def test_task_is_rewritten_into_its_class(name, copy):
    build, inputs = TASKS[name]
    task = build()
    plain = _out(task, inputs)
    before = {v.path: np.copy(keras.ops.convert_to_numpy(v)) for v in task.weights}

    new = kl.rewrite(task, "rw+lr+pa", rank=2, copy=copy)
    assert isinstance(new, type(task)) and new.preprocessor is task.preprocessor
    assert len(kl.laurel_layers(new)) > 0
    # Identity at init; every weight of the task (head included) exact.
    np.testing.assert_array_equal(_out(new, inputs), plain)
    kept = {v.path: keras.ops.convert_to_numpy(v) for v in _non_laurel(new)}
    assert sorted(kept) == sorted(before)
    for path, value in before.items():
        np.testing.assert_array_equal(kept[path], value)
    if copy:
        # The caller's task is independent of the result.
        for variable in new.weights:
            variable.assign(keras.ops.zeros(variable.shape, variable.dtype))
        for variable in task.weights:
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(variable), before[variable.path]
            )


def test_rewrite_refuses_a_bad_copy_argument():
    with pytest.raises(TypeError, match="`copy` must be True or False"):
        kl.rewrite(_gpt2(), "rw", copy="no")


def test_causal_lm_task_generates_exactly():
    task = keras_hub.models.Llama3CausalLM(backbone=llms.backbone("llama"), preprocessor=None)
    new = kl.rewrite(task, "rw+lr+pa", rank=2, placement="both")
    llms.randomize_laurel(new)
    # The task's own backbone: cached decoding and generate() equal full passes.
    check_cached_equals_full("llama", new.backbone, compiled=True)


def test_plain_preset_loads_into_laurel_and_back(tmp_path):
    plain = keras_hub.models.Llama3CausalLM(backbone=llms.backbone("llama3"), preprocessor=None)
    plain.save_to_preset(str(tmp_path / "plain"))
    inputs = llms.token_inputs()
    expected = _out(plain, inputs)

    # A plain preset straight into a LAuReL task and backbone.
    task = kl.from_preset(
        str(tmp_path / "plain"),
        "rw+lr",
        rank=2,
        cls=keras_hub.models.CausalLM,
        preprocessor=None,
    )
    assert isinstance(task, keras_hub.models.Llama3CausalLM)
    assert isinstance(task.backbone, keras_hub.models.Llama3Backbone)
    np.testing.assert_array_equal(_out(task, inputs), expected)
    for variable, source in zip(_non_laurel(task), plain.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(variable), keras.ops.convert_to_numpy(source)
        )
    # It trains: every LAuReL weight moves in one step (its weights are its own).
    task.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    llms.randomize_laurel(task)  # B != 0, so that A receives a gradient too
    laurel = [v for layer in kl.laurel_layers(task) for v in layer.weights]
    before = [keras.ops.convert_to_numpy(v) for v in laurel]
    task.fit(inputs, np.roll(inputs["token_ids"], -1, axis=1), batch_size=2, verbose=0)
    for variable, value in zip(laurel, before):
        assert np.abs(keras.ops.convert_to_numpy(variable) - value).max() > 0, variable.path
    backbone = kl.from_preset(str(tmp_path / "plain"), "rw")
    assert isinstance(backbone, keras_hub.models.Llama3Backbone) and kl.laurel_layers(backbone)
    np.testing.assert_array_equal(
        _out(backbone, inputs), keras.ops.convert_to_numpy(plain.backbone(inputs))
    )

    # A LAuReL preset through KerasHub's own from_preset, LAuReL weights included.
    llms.randomize_laurel(task)
    trained = _out(task, inputs)
    task.save_to_preset(str(tmp_path / "laurel"))
    for cls in (keras_hub.models.CausalLM, keras_hub.models.Llama3CausalLM):
        loaded = cls.from_preset(str(tmp_path / "laurel"), preprocessor=None)
        assert isinstance(loaded, keras_hub.models.Llama3CausalLM)
        assert loaded.backbone.laurel == task.backbone.laurel
        np.testing.assert_array_equal(_out(loaded, inputs), trained)
    backbone = keras_hub.models.Backbone.from_preset(str(tmp_path / "laurel"))
    np.testing.assert_array_equal(
        _out(backbone, inputs), keras.ops.convert_to_numpy(task.backbone(inputs))
    )
    with pytest.raises(ValueError, match="already holds a LAuReL model"):
        kl.from_preset(str(tmp_path / "laurel"), "rw")
    with pytest.raises(ValueError, match="variant"):
        kl.from_preset(str(tmp_path / "plain"), "rw+xx")
    with pytest.raises(TypeError, match="`cls` must be a KerasHub task or backbone class"):
        kl.from_preset(str(tmp_path / "plain"), "rw", cls="CausalLM")


def test_classifier_preset_keeps_its_head(tmp_path):
    build, inputs = TASKS["BertTextClassifier"]
    task = kl.rewrite(build(), "rw")
    llms.randomize_laurel(task)
    task.save_to_preset(str(tmp_path / "laurel"))
    loaded = keras_hub.models.BertTextClassifier.from_preset(
        str(tmp_path / "laurel"), preprocessor=None
    )
    assert isinstance(loaded, keras_hub.models.BertTextClassifier)
    np.testing.assert_array_equal(_out(loaded, inputs), _out(task, inputs))


def test_backbone_enable_lora_keeps_laurel_trainable():
    backbone = kl.rewrite(llms.backbone("llama"), "rw+lr", rank=2)
    backbone.enable_lora(2)
    laurel = [v for layer in kl.laurel_layers(backbone) for v in layer.weights]
    assert laurel and all(v.trainable for v in laurel)
    laurel_ids = {id(v) for v in laurel}
    others = [v.path for v in backbone.trainable_weights if id(v) not in laurel_ids]
    # Besides LAuReL, only LoRA's factors train (KerasHub's default targets).
    assert others and all("lora" in path for path in others)


@pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="the job runs on JAX whatever the pass; it runs once, in the torch pass",
)
@pytest.mark.parametrize("model", ["llama", "gemma"])
def test_preset_loads_sharded_under_model_parallel(model):
    # JAX's keras.distribution on 4 forced host devices, in a fresh process
    # (run from every backend's pass: the job sets KERAS_BACKEND=jax).
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "sharded_preset_job.py"), "--model", model],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-6000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    # Every variable laid out as KerasHub's layout map plus LAuReL's says.
    assert result["mismatched"] == [] and result["sharded"] > 10
    assert len(result["laurel_sharded"]) == 8  # A and B of 2 sites x 2 layers
    assert result["weights_exact"]
    # The sharded LAuReL program adds (x A) B = 0 in its own order: round-off only.
    assert result["max_abs_diff"] < 1e-5


@pytest.mark.parametrize("variant", ["rw", "rw+lr+pa"])
def test_resnet_backbone_keeps_its_class(variant, tmp_path):
    base = _resnet()
    plain_pyramid = keras.Model(base.inputs, base.pyramid_outputs)
    expected = {k: keras.ops.convert_to_numpy(v) for k, v in plain_pyramid(_IMAGES).items()}

    new = kl.rewrite(base, variant, **({"rank": 2} if "lr" in variant else {}))
    assert isinstance(new, keras_hub.models.ResNetBackbone) and type(new) is not type(base)
    assert len(kl.laurel_layers(new)) == 4
    # Its pyramid outputs are tensors of its own graph, equal at init.
    pyramid = keras.Model(new.inputs, new.pyramid_outputs)
    got = pyramid(_IMAGES)
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got[key]), value)

    # Inside its task, through KerasHub's presets and `.keras`.
    plain_task = keras_hub.models.ResNetImageClassifier(
        backbone=base, num_classes=3, preprocessor=None
    )
    task = kl.rewrite(plain_task, new.laurel)
    assert isinstance(task.backbone, type(new))
    llms.randomize_laurel(task)
    trained = _out(task, _IMAGES)
    task.save_to_preset(str(tmp_path / "preset"))
    loaded = keras_hub.models.ImageClassifier.from_preset(
        str(tmp_path / "preset"), preprocessor=None
    )
    assert isinstance(loaded.backbone, keras_hub.models.ResNetBackbone)
    np.testing.assert_array_equal(_out(loaded, _IMAGES), trained)
    backbone = keras_hub.models.Backbone.from_preset(str(tmp_path / "preset"))
    assert backbone.laurel == new.laurel
    task.save(str(tmp_path / "task.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "task.keras"))
    np.testing.assert_array_equal(_out(loaded, _IMAGES), trained)


def test_resnet_targets_are_kept_in_the_config():
    new = kl.rewrite(_resnet(), "rw", targets="stack1_")
    assert new.laurel_sites == [2, 3] and len(kl.laurel_layers(new)) == 2
    again = type(new).from_config(new.get_config())
    assert [l.name for l in kl.laurel_layers(again)] == [l.name for l in kl.laurel_layers(new)]


def test_hugging_face_checkpoint_loads_into_laurel(tmp_path):
    # A Transformers-format checkpoint written by KerasHub's own exporter, read
    # back by KerasHub's converter (what `hf://` presets go through).
    plain = keras_hub.models.Llama3CausalLM(backbone=llms.backbone("llama3"), preprocessor=None)
    plain.export_to_transformers(str(tmp_path / "hf"))
    inputs = llms.token_inputs()
    task = kl.from_preset(
        str(tmp_path / "hf"), "rw+lr+pa", rank=2, cls=keras_hub.models.CausalLM, preprocessor=None
    )
    assert isinstance(task, keras_hub.models.Llama3CausalLM) and kl.laurel_layers(task)
    for variable, source in zip(_non_laurel(task), plain.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(variable), keras.ops.convert_to_numpy(source)
        )
    np.testing.assert_array_equal(_out(task, inputs), _out(plain, inputs))


def test_adapter_of_a_task_travels_into_the_plain_task(tmp_path):
    build, inputs = TASKS["BertTextClassifier"]
    plain = build()
    task = kl.rewrite(plain, "rw+lr", rank=2, placement="both")
    llms.randomize_laurel(task)
    kl.save_laurel_weights(task, str(tmp_path / "bert.laurel.h5"))
    tuned = kl.load_laurel_weights(plain, str(tmp_path / "bert.laurel.h5"), copy=False)
    assert isinstance(tuned, keras_hub.models.BertTextClassifier)
    assert tuned.backbone.laurel == task.backbone.laurel
    np.testing.assert_array_equal(_out(tuned, inputs), _out(task, inputs))


def test_seq2seq_task_generates_exactly():
    # BART's task rewritten as a task: LAuReL in the encoder and the decoder
    # (self- and cross-attention residuals too); generate()'s cached
    # decoding equals greedy full passes.
    plain = keras_hub.models.BartSeq2SeqLM(
        backbone=supported.MODELS["bart"].backbone(), preprocessor=None
    )
    task = kl.rewrite(plain, "rw+lr+pa", rank=2, placement="both")
    assert isinstance(task, keras_hub.models.BartSeq2SeqLM)
    inputs = supported.text_inputs(plain.backbone)
    np.testing.assert_array_equal(_out(task, inputs), _out(plain, inputs))
    llms.randomize_laurel(task)
    check_seq2seq_generate(task, compiled=True)
