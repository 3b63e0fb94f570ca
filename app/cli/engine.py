"""`shadercam classify` and `shadercam bench`: the engine from the command line."""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

from app.cli.errors import CliError
from app.config import default
from app.hub import PredictionMaker
from app.images import ImageError, read
from app.models.catalog import KNOWN_MODELS
from app.models.store import (DEMO_MODEL, ModelStore, ModelStoreError, describe,
                              describe_self_test, resolve_model_path)
from gpu_engine.trust import POLICIES

MODEL_HELP = ("chunkfile path, installed model name, or 'demo' for the built-in demo model "
              "(default: the store's default model)")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    classify = subparsers.add_parser("classify", help="classify image files on the GPU")
    classify.add_argument("images", nargs="+", metavar="IMAGE")
    classify.add_argument("--model", help=MODEL_HELP)
    classify.add_argument("--top-k", type=positive_int, default=default("model.top_k"),
                          metavar="K", dest="top_k", help="classes to show per image")
    classify.add_argument("--threshold", type=probability, default=default("model.threshold"),
                          help="below this probability the result is 'uncertain', 0 = off")
    classify.add_argument("--json", action="store_true",
                          help="one prediction a line, as the API's (`path` names the file)")
    trust_flags(classify)
    classify.set_defaults(func=run_classify)

    bench = subparsers.add_parser("bench", help="measure the engine on this machine's GPU")
    bench.add_argument("--model", help=MODEL_HELP)
    bench.add_argument("--iterations", type=positive_int, default=20, metavar="N",
                       help="inferences to time")
    bench.add_argument("--image", help="image file to classify (default: a fixed noise frame "
                                       "1.5x the model's input size)")
    bench.add_argument("--reference", action="store_true",
                       help="also time the NumPy reference (gles2 level) in the same run")
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    trust_flags(bench)
    bench.set_defaults(func=run_bench)


def trust_flags(parser: argparse.ArgumentParser) -> None:
    """The options of gpu_engine.open_engine, as the service's model.self_test and
    model.software_gl."""
    parser.add_argument("--no-self-test", dest="self_test", action="store_false",
                        help="skip the GPU self-test against the NumPy reference")
    parser.add_argument("--software-gl", choices=POLICIES, default="auto",
                        help="a software GL renderer is an error (refuse), accepted (allow), or "
                             "an error on a Raspberry Pi only (auto)")


def model_path(explicit: str | None):
    """The model to run. Unlike the service, never the demo model unless asked for: a photo
    classified by a model of eight shapes gives confident nonsense."""
    if explicit == "demo":
        return DEMO_MODEL
    store = ModelStore()
    install = ", ".join(f"`shadercam model install {m.name}`" for m in KNOWN_MODELS)
    if explicit is None:
        path = store.default_path()
        if path is None:
            raise CliError(f"no model installed in {store.directory}: install one ({install}) "
                           "or pass --model demo for the built-in demo model (shapes only)")
        return path
    path = resolve_model_path(explicit)
    if not path.is_file():
        try:
            installed = ", ".join(m.name for m in store.list()) or "none"
        except ModelStoreError:
            installed = "none"
        raise CliError(f"no model {explicit!r}: no such file and no installed model of that "
                       f"name (installed: {installed}; see `shadercam model list`). Known models "
                       f"to install: {install}")
    return path


def _engine(args, gl_calls=None):
    """The model, its engine and its description as the API's `model` object, opened as the
    service opens it (open_model)."""
    path = model_path(args.model)
    model, engine, report = open_model(path, args, gl_calls)
    info = describe(model, path)
    if report is not None:
        info["self_test"] = describe_self_test(report)
    return model, engine, info


def open_model(path, args, gl_calls=None):
    """The model at `path`, its engine and its self-test report, opened as the service opens
    them (gpu_engine.open_engine: the software-GL policy, then the self-test, whose result goes
    to stderr); taught classifiers open their backbone so."""
    from gpu_engine import GPURefused, ModelError, load_model, open_engine
    try:
        model = load_model(path)
        engine, report = open_engine(model, software_gl=args.software_gl,
                                     self_test=args.self_test, gl_calls=gl_calls)
    except (ModelError, GPURefused) as exc:
        raise CliError(str(exc)) from None
    if report is not None:
        print(f"self-test    passed: {report.kernels} kernels on a {report.probe} probe in "
              f"{report.seconds * 1000:.0f} ms", file=sys.stderr)
    return model, engine, report


def run_classify(args: argparse.Namespace) -> int:
    """Each picture's prediction as the service makes it for an upload (PredictionMaker: top-k,
    threshold, uncertain); with --json one API prediction object a line, `path` first as in
    `batch`'s records. A taught classifier ranks its own classes, on its backbone's features."""
    from app.cli.teach import TaughtRunner, find_taught
    taught = find_taught(args.model)
    if taught is not None:
        runner = TaughtRunner(taught, args)
        model, labels, name = runner.model, taught.classes, taught.name
        score, release, stages = runner.probabilities, runner.close, lambda: {}
    else:
        model, engine, _ = _engine(args)
        labels, name = model.labels, model.name
        score, release = engine.classify_rgb, engine.release
        stages = lambda: engine.last_timings  # noqa: E731
    maker = PredictionMaker(labels, name, args.top_k, threshold=args.threshold)
    status = 0
    try:
        for path in args.images:
            started = time.monotonic()
            try:
                probabilities = score(read(path, target=_target(model)))
            except ImageError as exc:
                print(f"shadercam classify: error: {exc}", file=sys.stderr)
                status = 1
                continue
            timings = {**stages(), "total": time.monotonic() - started}
            prediction = maker.make(probabilities, 0, time.time(), timings, origin="upload")
            if args.json:
                print(json.dumps({"path": path, **prediction.to_dict()}), flush=True)
                continue
            print(path)
            if prediction.uncertain:
                print(f"  uncertain: the best is below the threshold {prediction.threshold:.0%}")
            for ranked in prediction.top_k:
                print(f"  {ranked.probability:7.2%}  {ranked.display_label} ({ranked.label}, "
                      f"{ranked.index})")
            sys.stdout.flush()
    finally:
        release()
    return status


def run_bench(args: argparse.Namespace) -> int:
    figures = benchmark(args)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    model = figures["model"]
    print(f"model        {model['name']} ({figures['multiply_adds'] / 1e6:.1f} M multiply-adds, "
          f"{model['classes']} classes, input {model['input_size'][0]}x{model['input_size'][1]})")
    print(f"renderer     {figures['renderer']} [{figures['gl_version']}]")
    print(f"passes       {figures['passes']} draw calls, {figures['programs']} shader programs")
    print(f"fetches      {figures['texel_fetches'] / 1e6:.1f} M texels per inference")
    model_bytes = figures["model_texture_bytes"]
    print(f"textures     {figures['texture_bytes'] / 2**20:.2f} MiB: the model's "
          f"{model_bytes / 2**20:.2f} MiB, the frame's "
          f"{(figures['texture_bytes'] - model_bytes) / 2**20:.2f} MiB")
    calls = figures["gl_calls"]
    print(f"GL calls     {calls['total']} per inference: {calls['glDrawArrays']} draws, "
          f"{calls['glBindFramebuffer']} framebuffer binds, {calls['glUseProgram']} program "
          f"switches, {calls['glBindTexture']} texture binds, {calls['uniform_writes']} uniform "
          "writes")
    latency = figures["latency_ms"]
    print(f"latency      min {latency['min']:.1f} / median {latency['median']:.1f} / "
          f"max {latency['max']:.1f} ms over {figures['iterations']} inferences "
          f"({figures['fps']:.1f} fps)")
    stages = figures["stages_ms"]
    print("stages       " + ", ".join(f"{k} {v:.2f} ms" for k, v in stages.items()))
    if "reference_ms" in figures:
        print(f"reference    NumPy gles2 reference {figures['reference_ms']:.1f} ms per image "
              f"({figures['reference_ms'] / latency['median']:.1f}x the GPU median)")
    return 0


def _frame(args, model) -> np.ndarray:
    if getattr(args, "image", None):
        try:
            return read(args.image, target=_target(model))
        except ImageError as exc:
            raise CliError(str(exc)) from None
    width, height = model.input_size
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (height * 3 // 2, width * 3 // 2, 3), dtype=np.uint8)


def _target(model) -> int:
    """The shorter side pictures are decoded at: twice the model input, as for uploads."""
    return 2 * max(model.input_size)


def gl_calls_per_inference(args, frame: np.ndarray) -> dict:
    """Every GL call of one steady-state inference, counted on an engine of its own (the
    counting wrapper slows each call, so latency is measured on an engine without it)."""
    from gpu_engine.gles2 import CallLog
    log = CallLog()
    _, engine, _ = _engine(argparse.Namespace(**{**vars(args), "self_test": False}),
                           gl_calls=log)
    try:
        engine.classify_rgb(frame)
        log.reset()
        engine.classify_rgb(frame)
    finally:
        engine.release()
    counts = dict(log.counts)
    return {"total": log.total, **{name: counts.get(name, 0) for name in (
        "glDrawArrays", "glBindFramebuffer", "glUseProgram", "glBindTexture")},
        "uniform_writes": sum(n for name, n in counts.items() if name.startswith("glUniform")),
        "by_function": dict(log.counts.most_common())}


def benchmark(args: argparse.Namespace) -> dict:
    """Latency of whole inferences on one frame (and the frames per second that makes, one
    after another), the GL calls of one, and the plan's figures."""
    model, engine, info = _engine(args)
    frame = _frame(args, model)
    try:
        engine.classify_rgb(frame)
        times, stages = [], {"upload": [], "gpu": [], "readback": []}
        for _ in range(args.iterations):
            start = time.perf_counter()
            engine.classify_rgb(frame)
            times.append(1000 * (time.perf_counter() - start))
            for key in stages:
                stages[key].append(1000 * engine.last_timings[key])
        plan = engine.plan
        figures = {
            "model": info, "renderer": engine.gl_info.renderer,
            "gl_version": engine.gl_info.version, "software": engine.gl_info.software,
            "iterations": len(times), "passes": len(plan.passes) + 1,
            "programs": len({p.program_key for p in plan.passes}) + 1,
            "texel_fetches": plan.texel_fetches(), "multiply_adds": model.multiply_adds(),
            "texture_bytes": engine.texture_bytes(), "model_texture_bytes": plan.texture_bytes(),
            "latency_ms": {"min": min(times), "median": statistics.median(times),
                           "max": max(times)},
            "fps": 1000 / statistics.median(times),
            "stages_ms": {key: statistics.median(values) for key, values in stages.items()},
        }
    finally:
        engine.release()
    figures["gl_calls"] = gl_calls_per_inference(args, frame)
    if args.reference:
        from gpu_engine import reference
        start = time.perf_counter()
        reference.classify(model, frame, "gles2")
        figures["reference_ms"] = 1000 * (time.perf_counter() - start)
    return figures
