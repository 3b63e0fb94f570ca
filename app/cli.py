"""The `shadercam` command: one sub-command per module, each registering its own parser."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app import cli_batch, cli_engine, cli_model, cli_serve

# Each module exposes register(subparsers); the parser it adds carries func=handler(args) -> int.
COMMAND_MODULES = [cli_engine, cli_model, cli_serve, cli_batch]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shadercam", description="Live image classification on a Raspberry Pi GPU.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
