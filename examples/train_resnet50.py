"""Train a ResNet-50 with LAuReL on an image dataset from TFDS, resumable.

    python examples/train_resnet50.py --backend tensorflow --distribution tpu \
        --variant rw+lr --rank 16 --dataset cifar10 --epochs 30 --checkpoint-dir runs/resnet50

`--pretrained PRESET` starts from a KerasHub preset (e.g. `resnet_50_imagenet`,
downloaded from Kaggle) and adds LAuReL to it; otherwise the network is built
from its configuration. Interrupt at any point and run the same command again:
`BackupAndRestore` continues from `<checkpoint-dir>/backup` with no finished
epoch lost.
"""

import argparse
import json
import os

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"], default=None)
parser.add_argument("--variant", default="rw+lr", help="LAuReL variant, or 'none'")
parser.add_argument("--rank", type=int, default=16)
parser.add_argument("--k", type=int, default=3)
parser.add_argument("--dataset", default="cifar10", help="TFDS image dataset")
parser.add_argument("--image-size", type=int, default=32)
parser.add_argument("--train-examples", type=int, default=None)
parser.add_argument("--test-examples", type=int, default=None)
parser.add_argument("--pretrained", default=None, help="KerasHub ResNet preset to start from")
parser.add_argument("--freeze-base", action="store_true", help="train only LAuReL's weights")
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--steps-per-epoch", type=int, default=None)
parser.add_argument("--learning-rate", type=float, default=1e-3)
parser.add_argument("--distribution", default="auto")
parser.add_argument("--data-dir", default=None)
parser.add_argument("--checkpoint-dir", default="runs/resnet50")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
if args.backend:
    os.environ["KERAS_BACKEND"] = args.backend

import keras  # noqa: E402
import keras_hub  # noqa: E402

import keras_laurel  # noqa: E402
from keras_laurel.compare import data as data_lib  # noqa: E402

keras.utils.set_random_seed(args.seed)
x, y, test_x, test_y, num_classes = data_lib.images(
    args.dataset, args.image_size, args.data_dir, args.train_examples, args.test_examples
)
setup = keras_laurel.distribution.configure(args.distribution)
print(setup)
with setup.scope():
    if args.pretrained:
        backbone = keras_hub.models.ResNetBackbone.from_preset(args.pretrained)
    else:
        backbone = keras_hub.models.ResNetBackbone(
            input_conv_filters=[64],
            input_conv_kernel_sizes=[7],
            stackwise_num_filters=[64, 128, 256, 512],
            stackwise_num_blocks=[3, 4, 6, 3],
            stackwise_num_strides=[1, 2, 2, 2],
            block_type="bottleneck_block",
            image_shape=(args.image_size, args.image_size, x.shape[-1]),
        )
    if args.variant != "none":
        parts = args.variant.split("+")
        backbone = keras_laurel.rewrite(
            backbone,
            args.variant,
            rank=args.rank if "lr" in parts else None,
            k=args.k if "pa" in parts else None,
            freeze_base=args.freeze_base,
        )
        keras_laurel.summary(backbone)
    model = keras_hub.models.ImageClassifier(backbone=backbone, num_classes=num_classes)
    model.compile(
        optimizer=keras.optimizers.AdamW(args.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
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
        monitor="val_accuracy",
        mode="max",
    ),
]
model.fit(
    x,
    y,
    batch_size=args.batch_size,
    epochs=args.epochs,
    steps_per_epoch=args.steps_per_epoch,
    validation_data=(test_x, test_y),
    callbacks=callbacks,
)
model.save(os.path.join(args.checkpoint_dir, "final.keras"))
if args.variant != "none":
    keras_laurel.save_laurel_weights(backbone, os.path.join(args.checkpoint_dir, "final.laurel.h5"))
with open(os.path.join(args.checkpoint_dir, "final.json"), "w") as f:
    json.dump({"optimizer_iterations": int(model.optimizer.iterations.numpy())}, f)
print(model.evaluate(test_x, test_y, batch_size=args.batch_size, return_dict=True, verbose=0))
