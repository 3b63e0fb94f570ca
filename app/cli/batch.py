"""`shadercam batch` and `shadercam eval`: archives and labelled sets, here or on a Dask cluster."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from app.batch import BatchError
from app.cli.engine import MODEL_HELP, model_path, positive_int, trust_flags
from app.cli.errors import CliError


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help=MODEL_HELP)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on the Dask cluster whose scheduler is here (tcp://host:8786); "
                            "its workers run `dask worker ADDRESS --nthreads 1 --resources GPU=1`")
    where.add_argument("--workers", type=positive_int, metavar="N",
                       help="run on N worker processes of this machine (a local Dask cluster)")
    parser.add_argument("--send-files", action="store_true",
                        help="send the pictures' bytes to the workers instead of their paths "
                             "(automatic once a worker cannot read a path)")
    trust_flags(parser)


def register(subparsers: argparse._SubParsersAction) -> None:
    batch = subparsers.add_parser(
        "batch", help="classify pictures, folders and videos, here or on a Dask cluster",
        description="Classify picture files, folders (recursively) and videos (every Nth "
                    "frame). Results are JSON lines, or CSV when --output ends in .csv; an "
                    "--output that already holds results is continued, skipping what it has. "
                    "Exit status: 0 when every picture was classified, 1 when some gave an "
                    "error record or the run could not start, 130 when interrupted (Ctrl-C; "
                    "the results written so far are kept).")
    batch.add_argument("paths", nargs="+", metavar="PATH")
    _add_common(batch)
    batch.add_argument("--top-k", type=positive_int, default=5, metavar="K",
                       help="classes per picture")
    batch.add_argument("--output", metavar="FILE",
                       help="where results go (.jsonl or .csv; default: standard output)")
    batch.add_argument("--every", type=positive_int, default=1, metavar="N",
                       help="classify every Nth frame of videos")
    batch.set_defaults(func=run_batch)

    evaluate = subparsers.add_parser(
        "eval", help="score a model on a labelled set (one subfolder per class)",
        description="Top-1, top-5 and per-class accuracy, the most confused pairs and the speed "
                    "on DIR, whose subfolders are named after the model's labels.")
    evaluate.add_argument("folder", metavar="DIR")
    _add_common(evaluate)
    evaluate.add_argument("--report", default="eval-report.json", metavar="FILE",
                          help="the JSON report; the confusion matrix goes beside it as a .png")
    evaluate.set_defaults(func=run_eval)


def _model(args: argparse.Namespace, path: Path | None = None):
    """(path, ModelBytes, Model) of --model (or of `path`): checked here so a bad model fails
    before any work starts."""
    from app.batch.tasks import model_bytes
    from gpu_engine import ModelError, load_model_bytes
    path = model_path(args.model) if path is None else path
    try:
        model = model_bytes(path)
        return path, model, load_model_bytes(model.data, name=model.name)
    except OSError as exc:
        raise CliError(f"cannot read model {path}: {exc.strerror or exc}") from None
    except ModelError as exc:
        raise CliError(str(exc)) from None


def _taught_model(taught):
    """(backbone path, TaughtModel) of a taught classifier, or why it cannot run."""
    from app.batch.tasks import TaughtModel
    from app.cli.teach import runnable_backbone
    return runnable_backbone(taught), TaughtModel(
        taught.name, tuple(taught.classes), tuple(taught.region), dict(taught.features),
        taught.head)


@contextmanager
def _runner(args: argparse.Namespace, model, model_file: Path, top_k: int, taught=None):
    """A local or Dask runner of `model`; with `taught` (a TaughtModel), `model` is its
    backbone and the taught classifier answers."""
    from app.batch.tasks import Trust
    trust = Trust(args.software_gl, args.self_test)
    if args.workers is None and args.scheduler is None:
        from app.batch.local import LocalRunner
        runner = LocalRunner(model, top_k, trust, taught)
        try:
            yield runner
        finally:
            runner.close()
        return
    from app.batch.cluster import ClusterRunner, connect
    with connect(args.workers, args.scheduler) as client:
        yield ClusterRunner(client, model, model_file, top_k, send_files=args.send_files,
                            trust=trust, taught=taught)


def run_batch(args: argparse.Namespace) -> int:
    from app.batch.progress import Progress
    from app.batch.sources import collect, jobs
    from app.batch.writers import open_output
    from app.cli.teach import find_taught
    found = find_taught(args.model)
    if found is None:
        model_file, model, loaded = _model(args)
        name, top_k, taught = loaded.name, args.top_k, None
    else:  # a taught classifier: its backbone's engine computes the descriptor
        backbone, taught = _taught_model(found)
        model_file, model, _ = _model(args, backbone)
        name, top_k = taught.name, min(args.top_k, len(taught.classes))
    try:
        inputs = collect(args.paths)
        writer, done = open_output(args.output, top_k, name, taught is not None)
        try:
            with _runner(args, model, model_file, top_k, taught) as runner:
                progress = Progress(max(0, inputs.estimated_count(args.every) - len(done)))
                for record in runner.run(jobs(inputs, args.every, done)):
                    writer.write(record)
                    progress.advance(error="error" in record)
                progress.finish()
        finally:
            writer.close()
    except BatchError as exc:
        raise CliError(str(exc)) from None
    return 1 if progress.errors else 0


def run_eval(args: argparse.Namespace) -> int:
    from app.batch.confusion_png import draw_confusion
    from app.batch.evaluation import Scores, find_labelled
    from app.batch.progress import Progress
    from app.batch.sources import picture_job
    from app.cli.teach import find_taught
    found = find_taught(args.model)
    if found is None:
        model_file, model, loaded = _model(args)
        name, labels, sha256, taught = loaded.name, loaded.labels, model.sha256, None
    else:  # a taught classifier: scored as `batch` runs it, on its backbone's engine
        backbone, taught = _taught_model(found)
        model_file, model, _ = _model(args, backbone)
        name, labels, sha256 = found.name, found.classes, found.backbone["sha256"]
    if not os.path.isdir(args.folder):
        raise CliError(f"{args.folder} is not a folder")
    if not Path(args.report).absolute().parent.is_dir():
        raise CliError(f"no folder for the report {args.report}")
    labelled = find_labelled(args.folder, labels)
    for folder in labelled.unknown:
        print(f"shadercam eval: folder {folder!r} matches no label of {name}; left out",
              file=sys.stderr)
    if not labelled.pictures:
        raise CliError(f"no pictures in folders named after {name}'s labels in "
                       f"{args.folder}")
    scores = Scores(labels, labelled)
    try:
        with _runner(args, model, model_file, min(5, len(labels)),  # top-5 accuracy
                     taught) as runner:
            progress = Progress(len(labelled.pictures), label="eval")
            start = time.monotonic()
            for record in runner.run(picture_job(path) for path in labelled.pictures):
                scores.add(record)
                progress.advance(error="error" in record)
            seconds = time.monotonic() - start
            progress.finish()
    except BatchError as exc:
        raise CliError(str(exc)) from None
    report = {"model_name": name, "model_sha256": sha256, "folder": args.folder,
              **scores.report(seconds)}
    picture = str(Path(args.report).with_suffix(".png"))
    report["confusion_png"] = picture
    Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    draw_confusion(report["confusion"]["labels"], report["confusion"]["counts"],
                   f"{name} on {os.path.basename(os.path.abspath(args.folder))}: "
                   f"top-1 {_percent(report['top1'])}", picture)
    _print_summary(report, args.report)
    return 0


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction:.1%}"


def _print_summary(report: dict, path: str) -> None:
    print(f"{report['images']} images: top-1 {_percent(report['top1'])}, top-5 "
          f"{_percent(report['top5'])}, {report['images_per_second']:.1f} images/s, "
          f"{report['errors']} unreadable")
    for label, figures in report["per_class"].items():
        print(f"  {label:24s} {_percent(figures['top1']):>7s}  of {figures['images']}")
    for pair in report["most_confused"][:5]:
        print(f"  confused: {pair['true']} taken for {pair['predicted']} "
              f"({pair['images']} images)")
    print(f"report {path}, confusion matrix {report['confusion_png']}")
