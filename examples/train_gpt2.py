"""Train a GPT-2 with LAuReL on Tiny Shakespeare (characters), resumable.

    python examples/train_gpt2.py --backend jax --variant rw+lr --rank 16 \
        --epochs 10 --checkpoint-dir runs/gpt2

Interrupt it at any point and run the same command again: `BackupAndRestore`
restores the weights, the optimizer and the epoch counter from
`<checkpoint-dir>/backup`, so training continues and no finished epoch is lost.
`--distribution` takes `keras_laurel.distribution.configure` modes
(`auto`, `tpu`, `mirrored` on TensorFlow; `data` on JAX).
"""

import argparse
import json
import os

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument(
    "--backend",
    choices=["tensorflow", "jax", "torch"],
    default=None,
    help="Keras backend (default: KERAS_BACKEND or tensorflow)",
)
parser.add_argument("--variant", default="rw+lr", help="LAuReL variant, or 'none' for the baseline")
parser.add_argument("--rank", type=int, default=16)
parser.add_argument("--k", type=int, default=3)
parser.add_argument(
    "--placement", default="attention", choices=["attention", "feedforward", "both"]
)
parser.add_argument("--layers", type=int, default=6)
parser.add_argument("--hidden", type=int, default=256)
parser.add_argument("--heads", type=int, default=8)
parser.add_argument("--seq-len", type=int, default=128)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--steps-per-epoch", type=int, default=200)
parser.add_argument("--learning-rate", type=float, default=1e-3)
parser.add_argument("--distribution", default="auto")
parser.add_argument("--data-dir", default=None, help="TFDS data_dir (default TFDS_DATA_DIR)")
parser.add_argument("--checkpoint-dir", default="runs/gpt2")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
if args.backend:
    os.environ["KERAS_BACKEND"] = args.backend

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402

import keras_laurel  # noqa: E402
from keras_laurel.compare import data as data_lib  # noqa: E402

keras.utils.set_random_seed(args.seed)
train, val, vocabulary = data_lib.shakespeare(args.seq_len, args.data_dir)
total = args.epochs * args.steps_per_epoch
# Random windows of the text, enough for every step of every epoch.
x, y = data_lib.lm_batches(train, args.seq_len, args.batch_size, total, args.seed)
vx, vy = data_lib.lm_batches(val, args.seq_len, args.batch_size, 10, args.seed + 1)

setup = keras_laurel.distribution.configure(args.distribution)
print(setup)
with setup.scope():
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=len(vocabulary),
        num_layers=args.layers,
        num_heads=args.heads,
        hidden_dim=args.hidden,
        intermediate_dim=4 * args.hidden,
        max_sequence_length=args.seq_len,
    )
    if args.variant != "none":
        parts = args.variant.split("+")
        backbone = keras_laurel.rewrite(
            backbone,
            args.variant,
            rank=args.rank if "lr" in parts else None,
            k=args.k if "pa" in parts else None,
            placement=args.placement,
            a_initializer="column_orthogonal",
        )
        keras_laurel.summary(backbone)
    model = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    model.compile(
        optimizer=keras.optimizers.AdamW(args.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
    )

os.makedirs(args.checkpoint_dir, exist_ok=True)
callbacks = [
    # CSVLogger first: a kill between the two writes repeats a row, never loses one.
    keras.callbacks.CSVLogger(os.path.join(args.checkpoint_dir, "log.csv"), append=True),
    keras.callbacks.BackupAndRestore(os.path.join(args.checkpoint_dir, "backup")),
    keras.callbacks.ModelCheckpoint(
        os.path.join(args.checkpoint_dir, "best.weights.h5"),
        save_weights_only=True,
        save_best_only=True,
        monitor="val_loss",
    ),
]
model.fit(
    x,
    y,
    batch_size=args.batch_size,
    epochs=args.epochs,
    steps_per_epoch=args.steps_per_epoch,
    shuffle=False,
    validation_data=(vx, vy),
    callbacks=callbacks,
)
model.save(os.path.join(args.checkpoint_dir, "final.keras"))
if args.variant != "none":
    keras_laurel.save_laurel_weights(backbone, os.path.join(args.checkpoint_dir, "final.laurel.h5"))
with open(os.path.join(args.checkpoint_dir, "final.json"), "w") as f:
    json.dump(
        {
            "optimizer_iterations": int(model.optimizer.iterations.numpy()),
            "expected_iterations": total,
        },
        f,
    )

prompt = np.array([[vocabulary.index(c) for c in "ROMEO:\n"]], "int32")
ids = np.zeros((1, args.seq_len), "int32")
mask = np.zeros_like(ids)
ids[0, : prompt.shape[1]] = prompt
mask[0, : prompt.shape[1]] = 1
model.compile(sampler="greedy")
out = model.generate({"token_ids": ids, "padding_mask": mask}, stop_token_ids=None)
print("".join(vocabulary[i] for i in keras.ops.convert_to_numpy(out["token_ids"])[0]))
