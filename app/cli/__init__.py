"""The `shadercam` command: one sub-command per module, each registering its own parser."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from app.cli import batch, engine, model, serve, teach
from app.cli.errors import CliError
from app.version import version

INTERRUPTED = 130  # the shell's status for a command stopped by SIGINT

# Each module exposes register(subparsers); the parser it adds carries func=handler(args) -> int.
COMMAND_MODULES = [engine, model, serve, batch, teach]


class HelpFormatter(argparse.HelpFormatter):
    """Help that shows each option's default, where it has a meaningful one (not for on/off
    flags, whose "default: True" would read as if `--no-self-test` were the default)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("%(default)" not in text and action.option_strings and action.default is not None
                and not isinstance(action, argparse._StoreConstAction)
                and action.default is not argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shadercam", description="Live image classification on a Raspberry Pi GPU.",
        formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    _use_formatter(parser)
    return parser


def _use_formatter(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.formatter_class = HelpFormatter
                _use_formatter(child)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"shadercam {args.command}: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:  # Ctrl-C: what was finished is kept (batch continues from it)
        end_progress = "\n" if sys.stderr.isatty() else ""  # a progress line may be open
        print(f"{end_progress}shadercam {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # the reader went away (`shadercam classify ... | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1

