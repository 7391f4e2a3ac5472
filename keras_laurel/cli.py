"""The `keras-laurel` command line (also `python -m keras_laurel`).

`keras-laurel compare` (the default) trains the baseline, the baseline with
one more block and LAuReL variants on real data and prints a table;
`keras-laurel demo` shows the layers on a small model without data.
"""

import argparse
import sys


def _add_compare(commands):
    from keras_laurel.compare import config
    from keras_laurel.compare.tasks import TASKS

    p = commands.add_parser(
        "compare",
        help="train baseline, baseline+1 block and LAuReL variants side by side (default)",
        description="Trains, with the same data, seed and budget, the baseline, the baseline "
        "with one more block and the chosen LAuReL variants; prints a table and writes "
        "JSON, Markdown and a PNG figure. The backend is KERAS_BACKEND's.",
    )
    p.add_argument("--task", choices=list(TASKS), default="gpt2-shakespeare")
    p.add_argument(
        "--variants",
        help="comma-separated, e.g. rw,lr,pa,rw+lr,rw+lr+pa (the default), and the "
        "relatives layerscale,rezero,hc,mhc,denseformer (hc and mhc at every residual, "
        "4 streams; denseformer after every layer); "
        "none: only the baseline and its +1 control",
    )
    p.add_argument(
        "--no-plus-one",
        dest="plus_one",
        action="store_false",
        default=None,
        help="skip the baseline + 1 block control",
    )
    p.add_argument("--steps", type=int, help="training steps per model (default 300)")
    p.add_argument("--eval-steps", type=int, help="GPT-2: validation batches (default 20)")
    p.add_argument("--batch-size", type=int, help="global batch size (default 32)")
    p.add_argument("--learning-rate", type=float, help="AdamW learning rate (default 1e-3)")
    p.add_argument(
        "--lowrank-lr-scale",
        type=float,
        help="multiplies the learning rate of LR's A and B (default 1)",
    )
    p.add_argument(
        "--lr-schedule",
        choices=config.SCHEDULES,
        help="constant (default) or cosine decay to 0 at the last step",
    )
    p.add_argument(
        "--warmup-steps", type=int, help="linear warm-up from 0 over this many steps (default 0)"
    )
    p.add_argument("--rank", type=int, help="LR rank r (default 8)")
    p.add_argument("--k", type=int, help="PA: activations mixed (default 3)")
    p.add_argument(
        "--placement",
        choices=config.PLACEMENTS,
        help="GPT-2: residuals that get LAuReL (default attention)",
    )
    p.add_argument("--seed", type=int, help="seed for weights and data order (default 0)")
    p.add_argument(
        "--distribution",
        choices=config.DISTRIBUTIONS,
        help="keras_laurel.distribution.configure mode (default none)",
    )
    p.add_argument(
        "--data-dir", help="TFDS data_dir (default: TFDS_DATA_DIR or ~/tensorflow_datasets)"
    )
    p.add_argument("--output-dir", default="laurel_compare", help="where JSON/MD/PNG go")
    p.add_argument(
        "--reuse-from",
        metavar="DIR",
        help="take the models a finished comparison in DIR shares with this one (same task, "
        "seed and settings) from its JSON instead of training them again",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    g = p.add_argument_group("gpt2-shakespeare")
    g.add_argument(
        "--decoder",
        choices=config.DECODERS,
        help="KerasHub's GPT-2 (default) or Llama (pre-norm RMSNorm, rotary, gated MLP)",
    )
    g.add_argument("--layers", type=int, help="decoder layers (default 4)")
    g.add_argument("--hidden", type=int, help="hidden size (default 64)")
    g.add_argument("--heads", type=int, help="attention heads (default 4)")
    g.add_argument("--seq-len", type=int, help="characters per sequence (default 64)")
    r = p.add_argument_group("resnet-cifar10")
    r.add_argument(
        "--dataset",
        choices=config.IMAGE_DATASETS,
        help="TFDS image dataset (default cifar10)",
    )
    r.add_argument("--image-size", type=int, help="images are resized to this (default 32)")
    r.add_argument(
        "--stage-filters",
        help="bottleneck widths per stage (default 64,128,256,512; "
        "KerasHub requires the first to be 64)",
    )
    r.add_argument("--stage-blocks", help="blocks per stage (default 3,4,6,3: ResNet-50)")
    r.add_argument("--train-examples", type=int, help="use the first N training images")
    r.add_argument("--test-examples", type=int, help="evaluate on the first N test images")


def config_from_args(args):
    """The `Config` of parsed `compare` options (it validates itself)."""
    from keras_laurel.compare import Config

    values = {k: v for k, v in vars(args).items() if k in Config.fields() and v is not None}
    for key in ("variants", "stage_filters", "stage_blocks"):
        if isinstance(values.get(key), str):
            items = [s.strip() for s in values[key].split(",") if s.strip()]
            if key == "variants":
                values[key] = () if items == ["none"] else tuple(items)
            else:
                values[key] = _integers(key, items, Config)
    return Config(**values)


def _integers(key, items, config_class):
    from keras_laurel.compare.config import option

    try:
        return tuple(int(s) for s in items)
    except ValueError:
        raise ValueError(
            f"`{key}` ({option(key)}) must be comma-separated integers, e.g. "
            f"{','.join(map(str, getattr(config_class, key)))}; received "
            f"{','.join(items)!r}."
        ) from None


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-laurel", description="LAuReL for Keras 3: comparisons and demos."
    )
    commands = parser.add_subparsers(dest="command")
    _add_compare(commands)
    demo = commands.add_parser(
        "demo", help="build a small residual model with every variant and print it"
    )
    demo.add_argument("--dim", type=int, default=64)
    demo.add_argument("--depth", type=int, default=4)
    demo.add_argument("--rank", type=int, default=8)
    demo.add_argument("--k", type=int, help="PA: activations mixed (default 3)")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["compare"] + argv
    args = parser.parse_args(argv)
    if args.command == "demo":
        from keras_laurel import demo

        demo.main(dim=args.dim, depth=args.depth, rank=args.rank, k=args.k)
        return 0
    from keras_laurel.compare import DatasetUnavailableError
    from keras_laurel.compare import compare
    from keras_laurel.compare.runner import ReuseMismatchError

    try:
        config = config_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    try:
        compare(
            config,
            output_dir=args.output_dir,
            verbose=0 if args.quiet else 1,
            reuse_from=args.reuse_from,
        )
    except ReuseMismatchError as error:
        parser.error(str(error))
    except DatasetUnavailableError as error:
        print(f"keras-laurel: {error}", file=sys.stderr)
        return 2
    return 0
