"""`shadercam teach`: a taught classifier from a folder with one subfolder of pictures per class."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from app.cli.engine import MODEL_HELP, model_path, open_model, trust_flags
from app.cli.errors import CliError
from app.images import ImageError, read
from app.teach.head import TeachError
from app.teach.store import (WHOLE_FRAME, Store, TaughtClassifier, check_name, check_region,
                             thumbnail)


def register(subparsers: argparse._SubParsersAction) -> None:
    teach = subparsers.add_parser(
        "teach", help="teach a classifier of your own classes from a folder of examples",
        description="Teach NAME from DIR, whose subfolders are the classes and hold their "
                    "example pictures (about ten each). NAME is created, or replaced; it then "
                    "runs in the service and in `eval`/`classify --model NAME`.")
    teach.add_argument("name", metavar="NAME", help="lower-case letters, digits, '_' and '-'")
    teach.add_argument("folder", metavar="DIR")
    teach.add_argument("--model", help="the backbone whose features are used: " + MODEL_HELP)
    teach.add_argument("--region", type=region_argument, default=WHOLE_FRAME,
                       metavar="X,Y,W,H", help="the part of each picture that matters, as "
                                               "fractions (default: the whole picture)")
    teach.add_argument("--json", action="store_true", help="print the result as JSON")
    trust_flags(teach)
    teach.set_defaults(func=run_teach)


def region_argument(text: str) -> tuple[float, float, float, float]:
    try:
        return check_region(text.split(","))
    except TeachError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def taught_store() -> Store:
    """The store the service reads: the state directory's `taught/`."""
    from app.runtime_settings import state_dir
    return Store(state_dir())


def class_folders(root: str) -> dict[str, list[str]]:
    """Class name -> its pictures, from the subfolders of `root` (hidden ones left out)."""
    from app.batch import BatchError
    from app.batch.sources import collect
    if not os.path.isdir(root):
        raise CliError(f"{root} is not a folder")
    folders = [entry for entry in sorted(os.scandir(root), key=lambda e: e.name)
               if entry.is_dir() and not entry.name.startswith(".")]
    if len(folders) < 2:
        raise CliError(f"{root} needs a subfolder per class, at least two")
    try:
        return {entry.name: collect([entry.path]).images for entry in folders}
    except BatchError as exc:  # a class without a picture
        raise CliError(str(exc)) from None


def run_teach(args: argparse.Namespace) -> int:
    from app.teach.runner import Embedders, descriptor_for, file_sha256
    store = taught_store()
    folders = class_folders(args.folder)
    backbone = model_path(args.model)
    try:
        check_name(args.name)
    except TeachError as exc:
        raise CliError(str(exc)) from None
    model, engine, _ = open_model(backbone, args)
    embedders = Embedders(engine)
    skipped = 0
    try:
        classifier = TaughtClassifier(
            name=args.name, classes=list(folders), region=args.region,
            backbone={"name": Path(backbone).stem, "sha256": file_sha256(backbone),
                      "path": str(Path(backbone).absolute())},
            features=descriptor_for(model))
        for label, paths in folders.items():
            vectors, thumbs = [], []
            for path in paths:
                try:
                    rgb = read(path, target=2 * max(model.input_size))
                except ImageError as exc:
                    print(f"shadercam teach: {path}: {exc}; left out", file=sys.stderr)
                    skipped += 1
                    continue
                vectors.append(embedders.embed_rgb(classifier.features, rgb, classifier.region))
                thumbs.append(thumbnail(rgb, classifier.region))
            if not vectors:
                raise CliError(f"class {label!r} has no readable picture in {args.folder}")
            classifier.add(label, vectors, thumbs)
        store.save(classifier)
    except TeachError as exc:
        raise CliError(str(exc)) from None
    finally:
        embedders.release()
        engine.release()
    report = {**classifier.summary(), "unreadable": skipped, "store": str(store.directory)}
    if args.json:
        print(json.dumps(report))
        return 0
    fit = classifier.report
    accuracy = "-" if fit["accuracy"] is None else f"{fit['accuracy']:.1%}"
    print(f"taught {classifier.name!r} on {model.name}: cross-validated accuracy {accuracy} "
          f"({fit['folds']}-fold)")
    for label, count in fit["counts"].items():
        share = fit["class_accuracy"].get(label)
        print(f"  {label:24s} {count:4d} examples" + ("" if share is None else f", {share:.1%}"))
    for line in fit["advice"]:
        print(f"  advice: {line}")
    return 0


def find_taught(name: str | None) -> TaughtClassifier | None:
    """The taught classifier `--model NAME` means: a file or an installed model of that name
    comes first, then the taught classifiers."""
    from app.models.store import resolve_model_path
    from app.teach.store import NAME_PATTERN
    if not name or not NAME_PATTERN.fullmatch(name) or resolve_model_path(name).is_file():
        return None
    store = taught_store()
    if not store.exists(name):
        return None
    try:
        return store.load(name)
    except TeachError as exc:
        raise CliError(str(exc)) from None


def runnable_backbone(classifier: TaughtClassifier) -> Path:
    """The installed model `classifier` was taught on, or why it cannot answer yet."""
    from app.teach.runner import find_backbone
    if classifier.head is None:
        raise CliError(f"{classifier.name!r} has no examples of two classes yet")
    backbone = find_backbone(classifier)
    if backbone is None:
        raise CliError(f"{classifier.name!r} was taught on model "
                       f"{classifier.backbone['name']!r} (sha256 "
                       f"{classifier.backbone['sha256'][:12]}...), which is not installed")
    return backbone


class TaughtRunner:
    """Scores pictures with a taught classifier on its backbone's engine, in this thread (for
    `classify`; `batch` and `eval` run it as app.batch does)."""

    def __init__(self, classifier: TaughtClassifier, args: argparse.Namespace) -> None:
        from app.teach.runner import Embedders
        self.classifier = classifier
        self.model, self.engine, _ = open_model(runnable_backbone(classifier), args)
        self.embedders = Embedders(self.engine)

    def probabilities(self, rgb) -> list[float]:
        vector = self.embedders.embed_rgb(self.classifier.features, rgb, self.classifier.region)
        return [float(p) for p in self.classifier.head.probabilities(vector)]

    def close(self) -> None:
        self.embedders.release()
        self.engine.release()
