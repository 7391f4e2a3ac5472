"""The `keras-laurel` command line (also `python -m keras_laurel`)."""

import argparse
import sys


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-laurel", description="LAuReL for Keras 3: demos and comparisons."
    )
    commands = parser.add_subparsers(dest="command")
    demo = commands.add_parser(
        "demo", help="build a small residual model with every variant and print it"
    )
    demo.add_argument("--dim", type=int, default=64)
    demo.add_argument("--depth", type=int, default=4)
    demo.add_argument("--rank", type=int, default=8)
    demo.add_argument("--k", type=int, default=3)
    return parser


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    command = args.command or "demo"
    if command == "demo":
        from keras_laurel import demo

        demo.main(
            dim=getattr(args, "dim", 64),
            depth=getattr(args, "depth", 4),
            rank=getattr(args, "rank", 8),
            k=getattr(args, "k", 3),
        )
    return 0
