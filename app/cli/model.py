"""`shadercam model list | install SOURCE | remove NAME | default [NAME]`: the model store."""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from app.cli.errors import CliError
from app.models.store import ModelStore, ModelStoreError


def register(subparsers: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", type=Path, metavar="DIR",
                        help="store folder (default: $SHADERCAM_MODEL_STORE, the service's "
                             "/var/lib/shadercam/models, or ~/.local/share/shadercam/models)")
    model = subparsers.add_parser("model", help="list, install, remove or choose models",
                                  description="Manage the installed models.")
    actions = model.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    listing = actions.add_parser("list", parents=[common], help="show installed models")
    listing.add_argument("--json", action="store_true",
                         help="the store and its models as one JSON object")
    listing.set_defaults(func=_list)

    install = actions.add_parser(
        "install", parents=[common], help="install a model from a file, URL or known name",
        description="SOURCE is a chunkfile path, an http(s) URL (with --sha256), or the name "
                    "of a known model: dog_classifier.")
    install.add_argument("source", metavar="SOURCE")
    install.add_argument("--name", help="name to install under (default: from SOURCE)")
    install.add_argument("--sha256", metavar="HEX", help="expected sha256 of the file")
    install.add_argument("--force", action="store_true",
                         help="replace a different model installed under the same name")
    install.set_defaults(func=_install)

    remove = actions.add_parser("remove", parents=[common], help="delete an installed model")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(func=_remove)

    default = actions.add_parser("default", parents=[common],
                                 help="show or set the model used when --model is not given")
    default.add_argument("name", metavar="NAME", nargs="?")
    default.set_defaults(func=_default)


def _list(args: argparse.Namespace) -> int:
    store = ModelStore(args.store)
    models = _guard(store.list)
    if args.json:
        print(json.dumps({"store": str(store.directory), "models": [
            {"name": m.name, "path": str(m.path), "size": m.size, "sha256": m.sha256,
             "default": m.is_default} for m in models]}, indent=2))
        return 0
    print(f"models in {store.directory}:")
    if not models:
        print("  (none; the built-in demo model is used)")
    for model in models:
        mark = "*" if model.is_default else " "
        print(f"{mark} {model.name:<24} {model.size:>10} bytes  sha256 {model.sha256[:16]}")
    return 0


def _install(args: argparse.Namespace) -> int:
    store = ModelStore(args.store)
    # progress only where someone watches it: a log or a pipe gets the result line alone
    progress = ProgressLine(sys.stderr, f"fetching {args.source}") if sys.stderr.isatty() else None
    try:
        installed = _guard(lambda: store.install(args.source, name=args.name,
                                                 sha256=args.sha256, force=args.force,
                                                 progress=progress))
    finally:
        if progress is not None:
            progress.finish()
    default = " (default)" if installed.is_default else ""
    done = "already installed" if installed.unchanged else "installed"
    print(f"{done} {installed.name}{default}: {installed.path}, {installed.size} bytes, "
          f"sha256 {installed.sha256}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    store = ModelStore(args.store)
    was_default = _guard(lambda: store.remove(args.name))
    print(f"removed {args.name}")
    if was_default:
        print("it was the default: choose another with `shadercam model default NAME`; "
              "until then the built-in demo model is used")
    return 0


def _default(args: argparse.Namespace) -> int:
    store = ModelStore(args.store)
    if args.name is None:
        print(store.default_name() or "(none: the built-in demo model is used)")
        return 0
    _guard(lambda: store.set_default(args.name))
    print(f"default model: {args.name} (restart the service to use it: "
          "sudo systemctl restart shadercam)")
    return 0


def _guard(action: Callable[[], Any]) -> Any:
    """Run a store action; its refusal becomes the command's one-line error."""
    try:
        return action()
    except ModelStoreError as exc:
        raise CliError(str(exc)) from None


class ProgressLine:
    """Download progress on a terminal: one line, rewritten at most ten times a second."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream, self.label = stream, label
        self.last_time = 0.0
        self.shown = False

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.last_time < 0.1 and done != total:
            return
        self.last_time = now
        if total:
            text = f"{self.label}: {done // 1024} of {total // 1024} KiB ({done * 100 // total}%)"
        else:
            text = f"{self.label}: {done // 1024} KiB"
        self.stream.write("\r" + text)
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
