"""Every shader of a model through the Raspberry Pi's real compiler (Mesa vc4 under drm-shim).

`compile_report(model_path)` runs an Engine for the model in a child process whose GL is the
vc4 driver of `../shared/tools/vc4-compiler` (built by its build.sh) with VC4_DEBUG=shaderdb,
and runs one inference. The driver prints a VC4STAT line per compiled shader (VC4FAIL when it
does not compile: on a Pi that program's draws are skipped without a GL error). The child
puts a recorder (tests/gl_intercept.py) between the engine and the driver and reads the
driver's output before and after every link and draw, so each line belongs to exactly one
program; the report gives per program its kernel, the ops that draw with it, the link-time
and draw-time compiles, and per inference its draws and the fragments each fills (the plan's
region of the pass the draw makes, in the plan's order).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO.parent / "shared" / "tools" / "vc4-compiler"
STAT = re.compile(r"VC4STAT (\S+) shader: (\d+) inst, (\d+) threads, (\d+) uniforms, "
                  r"(\d+) max-temps, (\d+) estimated-cycles, (\d+) tex-samples")
FIELDS = ("instructions", "threads", "uniforms", "temps", "cycles", "tex_samples")
STAGES = {"MESA_SHADER_FRAGMENT": "FS", "MESA_SHADER_VERTEX": "VS", "MESA_SHADER_COORD": "CS"}


class ShimMissing(RuntimeError):
    """The vc4 compiler build is not there."""


def shim_prefix() -> Path:
    return Path(os.environ.get("VC4_MESA") or Path.home() / ".cache/shadercam/vc4-mesa")


def shim_problem() -> str | None:
    """Why the vc4 compiler cannot run here, or None when it can."""
    lib = shim_prefix() / "lib" / "x86_64-linux-gnu"
    for needed in (lib / "libvc4_noop_drm_shim.so", lib / "dri" / "vc4_dri.so",
                   TOOL / "env.sh"):
        if not needed.exists():
            return (f"the vc4 compiler build is missing ({needed}); build it with "
                    f"{TOOL / 'build.sh'}")
    return None


def parse_stat(line: str) -> dict | None:
    match = STAT.search(line)
    if not match:
        return None
    stage = STAGES.get(match.group(1), match.group(1))
    return {"stage": stage, **dict(zip(FIELDS, map(int, match.groups()[1:])))}


def compile_report(model_path: str | os.PathLike, timeout: float = 900,
                   engine_checkout: str | os.PathLike | None = None) -> dict:
    """Run the model on the vc4 compiler; see the module docstring for what comes back.
    `engine_checkout`: another checkout of this repository whose engine runs instead."""
    problem = shim_problem()
    if problem:
        raise ShimMissing(problem)
    command = (f'source "{TOOL / "env.sh"}" "{shim_prefix()}" && '
               f'exec "{sys.executable}" -m benchmarks.vc4_shaderdb "{Path(model_path).resolve()}"')
    paths = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "VC4_DEBUG": "shaderdb", "PYTHONPATH": paths,
           "VC4_ENGINE_CHECKOUT": str(Path(engine_checkout).resolve()) if engine_checkout else ""}
    done = subprocess.run(["bash", "-c", command], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"the vc4 run of {model_path} failed (exit {done.returncode}):\n"
                           f"{done.stderr[-4000:]}")
    return summarise(json.loads(done.stdout.splitlines()[-1]))


def summarise(raw: dict) -> dict:
    """Per program: its compiles parsed, whether any failed, and its cost in one inference."""
    frame: dict[str, list[int]] = {}
    for program, fragments in raw["frame"]:
        frame.setdefault(str(program), []).append(fragments)
    programs, failures = [], []
    for key, entry in raw["programs"].items():
        link = [s for s in map(parse_stat, entry["link"]) if s]
        draw = [s for s in map(parse_stat, entry["draw"]) if s]
        fails = [line for line in entry["link"] + entry["draw"] if line.startswith("VC4FAIL")]
        fs = [s for s in draw if s["stage"] == "FS"]
        drawn = frame.get(key, [])
        record = {"program": int(key), "kernel": entry["kernel"], "ops": entry["ops"],
                  "link": link, "draw": draw, "failed": bool(fails),
                  "single_threaded": any("single-threaded" in line for line in entry["draw"]),
                  "fs": max(fs, key=lambda s: s["cycles"]) if fs else None,
                  "fs_variants": len(fs), "draws": len(drawn), "fragments": sum(drawn)}
        if fails:
            failures.append(f"{entry['kernel']} ({', '.join(entry['ops'][:3]) or 'no op'}): "
                            f"{fails[0]}")
        elif drawn and not fs:
            failures.append(f"{entry['kernel']}: drawn but no draw-time compile was reported")
        programs.append(record)
    failures += [f"outside any link or draw: {line}" for line in raw["unattributed"]
                 if line.startswith("VC4FAIL")]
    if raw.get("error"):
        failures.append(f"the engine failed: {raw['error']}")
    costed = [p for p in programs if p["draws"] and p["fs"]]
    return {
        "model": raw["model"], "renderer": raw["renderer"], "engine": raw["engine"],
        "programs": programs,
        "failures": failures,
        "frame": {
            "draws": len(raw["frame"]),
            "fragments": sum(f for _, f in raw["frame"]),
            "fragment_cycles": sum(p["fs"]["cycles"] * p["fragments"] for p in costed),
            "fragment_instructions": sum(p["fs"]["instructions"] * p["fragments"]
                                         for p in costed),
            "uncosted_fragments": sum(p["fragments"] for p in programs
                                      if p["draws"] and not p["fs"]),
        },
    }


def table(report: dict) -> str:
    """The per-kernel VC4STAT table (draw-time fragment shader compiles) as Markdown."""
    frame = report["frame"]
    lines = [f"### {report['model']} on {report['renderer']} (engine: {report['engine']})", "",
             "| kernel | ops | inst | threads | uniforms | temps | est. cycles | tex | "
             "draws | fragments | fragment-cycles |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in sorted(report["programs"], key=lambda p: -(p["fs"] or {}).get("cycles", 1 << 30)
                    * max(p["fragments"], 1)):
        ops = ", ".join(p["ops"][:2]) + (f" +{len(p['ops']) - 2}" if len(p["ops"]) > 2 else "")
        fs = p["fs"]
        stats = ("FAILED | | | | | |" if p["failed"] or not fs else
                 f"{fs['instructions']} | {fs['threads']} | {fs['uniforms']} | {fs['temps']} | "
                 f"{fs['cycles']} | {fs['tex_samples']} |")
        cost = fs["cycles"] * p["fragments"] if fs else 0
        lines.append(f"| {p['kernel']} | {ops} | {stats} {p['draws']} | {p['fragments']} | "
                     f"{cost:,} |")
    lines += ["", f"Per inference: {frame['draws']} draws, {frame['fragments']:,} fragments, "
                  f"{frame['fragment_cycles']:,} estimated fragment-cycles "
                  f"({frame['fragment_instructions']:,} fragment-instructions)"
                  + (f"; {frame['uncosted_fragments']:,} fragments of failed kernels not costed"
                     if frame["uncosted_fragments"] else ""), ""]
    if report["failures"]:
        lines += ["Failures:", *(f"- {f}" for f in report["failures"]), ""]
    return "\n".join(lines)


# ---- the child: runs under the vc4 driver ------------------------------------------------

class _StderrTap:
    """fd 2 into a file, read in pieces: what the driver printed since the last take()."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()
        self._saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        self._offset = 0

    def take(self) -> list[str]:
        sys.stderr.flush()
        size = os.fstat(self._file.fileno()).st_size
        data = os.pread(self._file.fileno(), size - self._offset, self._offset)
        self._offset = size
        return [line for line in data.decode("utf-8", "replace").splitlines()
                if line.startswith("VC4")]

    def close(self) -> None:
        os.dup2(self._saved, 2)
        self._file.seek(0)
        sys.stderr.write(self._file.read()[-20000:].decode("utf-8", "replace"))


def _label(labels: dict, engine, frame, sampler: str) -> None:
    """Kernel name and ops per program, from the plan's passes, which the last draws of an
    inference follow one to one (the draws before them resample the frame)."""
    passes = engine.plan.passes
    first = len(frame) - len(passes)
    for index, draw in enumerate(frame):
        if index < first:
            name, op = f"image sampler ({sampler})", engine.model.sampler.name
        else:
            gpu_pass = passes[index - first]
            name = (gpu_pass.program if isinstance(getattr(gpu_pass, "program", None), str)
                    else " ".join([gpu_pass.shader] + [f"{k}={v}" for k, v in gpu_pass.defines]))
            op = gpu_pass.op
        kernel, ops = labels.setdefault(draw.program, (name, []))
        if op not in ops:
            ops.append(op)


def _fragments(engine, frame) -> list[tuple[int, int]]:
    """(program, fragments) per draw of an inference: each pass of the plan covers its region,
    and the draws before them fill the sampler's output (one region of the input size)."""
    passes = engine.plan.passes
    first = len(frame) - len(passes)
    if first != 1:
        raise RuntimeError(f"an inference made {len(frame)} draws for {len(passes)} passes and "
                           "the sampler: cannot tell which draw is which")
    height, width = engine.model.sampler.shape[:2]
    return [(frame[0].program, width * height)] + [
        (draw.program, gpu_pass.fragments) for draw, gpu_pass in zip(frame[1:], passes)]


def _recorder_module():
    """This checkout's recorder, also when the engine comes from another checkout."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "_vc4_gl_intercept", REPO / "tests" / "gl_intercept.py")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _use_checkout(checkout: str) -> None:
    """Import the engine's packages from another checkout, before any installed copy."""
    import importlib.util
    for package in ("shaders", "gpu_engine"):
        init = Path(checkout) / package / "__init__.py"
        spec = importlib.util.spec_from_file_location(
            package, init, submodule_search_locations=[str(init.parent)])
        module = sys.modules[package] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


def _child(model_path: str) -> None:
    import numpy as np

    if os.environ.get("VC4_ENGINE_CHECKOUT"):
        _use_checkout(os.environ["VC4_ENGINE_CHECKOUT"])

    from gpu_engine import Engine, load_model
    recording = _recorder_module()
    GLRecorder, defines = recording.GLRecorder, recording.defines

    tap = _StderrTap()
    lines: dict[tuple[str, int], list[str]] = {}
    unattributed: list[str] = []

    def listener(phase: str, what: str, program: int) -> None:
        taken = tap.take()
        (unattributed if phase == "before" else lines.setdefault((what, program), [])).extend(
            taken)

    recorder = GLRecorder(listener=listener)
    model = load_model(model_path)
    import gpu_engine
    out = {"model": model.name, "renderer": "", "programs": {}, "frame": [], "error": None,
           "engine": str(Path(gpu_engine.__file__).parent.parent)}
    labels: dict[int, tuple[str, list[str]]] = {}
    try:
        with recorder.installed():
            engine = Engine(model)
        out["renderer"] = engine.gl_info.renderer
        width, height = model.input_size
        image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
        start = len(recorder.draws)
        engine.classify_rgb(image)
        frame = recorder.draws[start:]
        out["frame"] = _fragments(engine, frame)
        _label(labels, engine, frame, "rgb")
        start = len(recorder.draws)
        chroma = image[:height // 2 * 2:2, :width // 2 * 2:2]
        engine.classify_yuv420(image[..., 0], chroma[..., 1], chroma[..., 2])
        _label(labels, engine, recorder.draws[start:], "yuv420")
        engine.release()
    except Exception as exc:  # reported, with every line gathered up to here
        out["error"] = f"{type(exc).__name__}: {exc}"
    unattributed += tap.take()
    for program in dict.fromkeys(recorder.linked + [p for _, p in lines]):
        source = recorder.fragment_source(program)
        fallback = " ".join(f"{k}={v}" for k, v in defines(source).items()) or "kernel"
        kernel, ops = labels.get(program, (f"program {program}: {fallback}", []))
        out["programs"][str(program)] = {"kernel": kernel, "ops": ops,
                                         "link": lines.get(("link", program), []),
                                         "draw": lines.get(("draw", program), [])}
    out["unattributed"] = unattributed
    tap.close()
    print(json.dumps(out))


if __name__ == "__main__":
    _child(sys.argv[1])
