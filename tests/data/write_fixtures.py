"""Writes the files that tests/test_previous_release.py loads: `.keras` and
adapter files of every kind of LAuReL layer and of the generic and family
transformer layers, with random LAuReL weights, and their outputs.

    KERAS_BACKEND=jax python tests/data/write_fixtures.py tests/data/<version>

Run once by the version whose files are kept (the folder says which), never
by the tests: later versions must load what it wrote.
"""

import os
import sys

import keras
import keras_hub
import numpy as np

import keras_laurel as kl


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    for layer in kl.laurel_layers(model):
        for v in layer.weights:
            v.assign(rng.normal(scale=0.3, size=v.shape).astype("float32"))


def layers_model():
    """One functional model with a LAuReL layer of every kind and setting."""
    keras.utils.set_random_seed(0)
    x0 = keras.Input((6,), name="x")
    dense = lambda: keras.layers.Dense(6, activation="tanh")  # noqa: E731
    x1 = kl.LaurelRW(name="rw")([dense()(x0), x0])
    x2 = kl.LaurelRW(normalization="sigmoid", per_channel=True, name="rw_sigmoid")(
        [dense()(x1), x1]
    )
    x3 = kl.Laurel("rw", normalization=None, name="rw_raw")([dense()(x2), x2])
    x4 = kl.LaurelLR(rank=2, name="lr")([dense()(x3), x3])
    x5 = kl.LaurelLR(rank=2, lr_form="gemma3n", name="lr_gemma3n")([dense()(x4), x4])
    x6 = kl.LaurelPA(k=3, name="pa")([dense()(x5), x5, x4, x3])
    # The variant "lr+pa" as LaurelPA took it up to 026a9a1 (today: Laurel("lr+pa", ...)).
    x7 = kl.LaurelPA(k=3, rank=2, name="pa_rank")([dense()(x6), x6, x5])
    x8 = kl.Laurel("rw+lr+pa", rank=2, k=3, name="rw_lr_pa")([dense()(x7), x7, x6, x5])
    return keras.Model(x0, x8, name="layers")


def gpt2():
    keras.utils.set_random_seed(0)
    return keras_hub.models.GPT2Backbone(
        vocabulary_size=40,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=16,
    )


def bart():
    keras.utils.set_random_seed(0)
    return keras_hub.models.BartBackbone(
        vocabulary_size=40,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=16,
    )


def main(folder):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 40, (2, 8)).astype("int32")
    cases = {
        "layers": (layers_model(), None, {"x": rng.normal(size=(3, 6)).astype("float32")}),
        "gpt2": (
            gpt2(),
            ("rw+lr+pa", dict(rank=2, placement="both")),
            {"token_ids": tokens, "padding_mask": np.ones_like(tokens)},
        ),
        "bart": (
            bart(),
            ("rw+lr", dict(rank=2, placement="both")),
            {
                "encoder_token_ids": tokens,
                "encoder_padding_mask": np.ones_like(tokens),
                "decoder_token_ids": tokens,
                "decoder_padding_mask": np.ones_like(tokens),
            },
        ),
    }
    for name, (model, rewrite, inputs) in cases.items():
        if rewrite is not None:
            model.save(os.path.join(folder, f"{name}_plain.keras"))
            model = kl.rewrite(model, rewrite[0], **rewrite[1])
        _randomize(model, seed=1)
        model.save(os.path.join(folder, f"{name}.keras"))
        if name != "bart":  # this version's adapter files number BART's two stacks alike
            kl.save_laurel_weights(model, os.path.join(folder, f"{name}.laurel.h5"))
        output = keras.tree.map_structure(keras.ops.convert_to_numpy, model(inputs))
        output = output if isinstance(output, dict) else {"output": output}
        np.savez(
            os.path.join(folder, f"{name}_outputs.npz"),
            **{f"in_{k}": v for k, v in inputs.items()},
            **{f"out_{k}": v for k, v in output.items()},
        )
        print(name, [v.path for layer in kl.laurel_layers(model) for v in layer.weights][:3])


if __name__ == "__main__":
    main(sys.argv[1])
