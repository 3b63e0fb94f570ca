"""GPU self-test: does this GPU compute what the NumPy reference computes, kernel by kernel?

A Pi's driver can get a kernel wrong without any GL error (vc4 skips the draws of a program
it failed to compile; its division is not correctly rounded), so before a model publishes
anything it runs a probe: the same model at a small input size. The probe keeps every op,
parameter, connection and weight (so it uses the same shader variants), reads a smaller
picture, and takes 'same' padding wherever an op accepts it so the picture can shrink; ops
that collapse their input to one position keep their input shape, so every weight still fits.

The probe is built from the model in memory (its description and the weights its ops hold)
and runs in the context of the engine it vets, its GL objects freed afterwards: no second read
of the file, no second EGL context.

Every region the passes draw is first filled with a sentinel code, so a skipped draw shows.
Then the frame samplers (RGB and YUV420, RGB with a region of the frame) and each op run one
at a time, each op's output compared with the op's reference computed from the codes the GPU
actually gave its inputs, by the rule of `oracle`. A mismatch names the op and its kernel. A
feature extractor's probe (gpu_engine.features) checks its grid pooling the same way.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from gpu_engine.context import GLContext
from gpu_engine.errors import ModelError
from gpu_engine.listing import format_listing, parse_listing
from gpu_engine.model import Model, build_model
from gpu_engine.ops import OP_TYPES
from gpu_engine.ops.base import LOGITS, Params, to_codes
from gpu_engine.oracle import codes_problem, logits_problem
from gpu_engine.reference import view

SENTINEL = 0x5A
SMALLEST_SIDE = 8
REGION = (0.15, 0.3, 0.5, 0.45)  # x, y, width, height: off centre, of another aspect


@dataclass
class SelfTestReport:
    ok: bool
    seconds: float
    probe: str  # the probe's input size, e.g. "133x133"
    kernels: int  # shader variants checked
    failures: list[str] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        if self.ok:
            return None
        return "GPU self-test failed: " + "; ".join(self.failures)


def run_self_test(model: Model, context: GLContext) -> SelfTestReport:
    """Build the probe of `model`, run it on this GPU in `context` and compare; never raises
    for a wrong result (the report says what is wrong)."""
    from gpu_engine.runtime import Engine
    start = time.perf_counter()
    probe = probe_model(model)
    size = "x".join(map(str, probe.input_size))
    try:
        engine = Engine(probe, context=context)
    except Exception as exc:  # a kernel this GPU refuses is what the self-test is for
        return SelfTestReport(False, time.perf_counter() - start, size, 0,
                              [f"the probe does not run: {type(exc).__name__}: {exc}"])
    try:
        failures = check(engine, probe)
        kernels = len({p.program_key for p in engine.plan.passes}) + 2
    finally:
        engine.release()
    return SelfTestReport(not failures, time.perf_counter() - start, size, kernels, failures)


# ---- the probe --------------------------------------------------------------------------

def probe_model(model: Model) -> Model:
    """The model with a small input (see the module docstring); the model itself when no
    smaller input fits it."""
    chunks = model.chunks()
    chapters = parse_listing(model.description)
    blocks = {block["_name"]: block for block in chapters["ops"]}
    sampler = model.sampler.name
    fed_by_sampler = {op.name for op in model.ops if any(c.source == sampler
                                                        for c in op.inputs.values())}
    for op_name, block in blocks.items():
        if block.get("padding", "").strip() == "valid" and op_name not in fed_by_sampler:
            block["padding"] = "same"
            if not _parses(block):
                block["padding"] = "valid"
    width, height = model.input_size
    for side in range(SMALLEST_SIDE, max(width, height)):
        size = (max(2, round(side * width / max(width, height))),
                max(2, round(side * height / max(width, height))))
        if _fits(model, blocks, sampler, size):
            blocks[sampler]["output_width"], blocks[sampler]["output_height"] = map(str, size)
            try:
                return build_model({**chunks, "": format_listing(chapters).encode()},
                                   model.name)
            except ModelError:
                break
    return model


def _parses(block: dict[str, str]) -> bool:
    try:
        OP_TYPES[block["_type"]].parse(block["_name"], Params(block, block["_name"]))
        return True
    except ModelError:
        return False


def _fits(model: Model, blocks: dict, sampler: str, size: tuple[int, int]) -> bool:
    """Shapes at this input size: every op fits, and ops that collapse their input to one
    position see the input shape they see in the model."""
    shapes = {sampler: (size[1], size[0], model.sampler.shape[2])}
    for op in model.ops[1:]:
        inputs = {slot: shapes[c.source] for slot, c in op.inputs.items()}
        block = blocks[op.name]
        try:
            shapes[op.name] = OP_TYPES[block["_type"]].parse(
                op.name, Params(block, op.name)).infer_shape(inputs)
        except ModelError:
            return False
        if op.shape[:2] == (1, 1) and any(
                inputs[slot] != _shape(model, c.source) for slot, c in op.inputs.items()):
            return False
    return True


def _shape(model: Model, name: str):
    return next(op.shape for op in model.ops if op.name == name)


# ---- the check --------------------------------------------------------------------------

def check(engine, model: Model) -> list[str]:
    """Run the samplers and every GPU op of `model` on `engine` one at a time; what differs
    from the reference, by op and kernel."""
    failures: list[str] = []
    sampler = model.sampler
    rng = np.random.default_rng(20240601)
    width, height = model.input_size
    image = rng.integers(0, 256, (height + 7, width + 5, 3), dtype=np.uint8)
    planes = (image[..., 0], *rng.integers(0, 256, (2, (height + 7) // 2, (width + 5) // 2),
                                           dtype=np.uint8))

    engine.clear_targets(SENTINEL)  # once: from here on each region is drawn at most once more
    engine.upload_yuv420(*planes)
    _compare(failures, f"op {sampler.name!r} (image sampler, YUV420)",
             engine.read_tensor(sampler.name), sampler.reference_yuv420(*planes, "float"))

    # a region of the frame instead of the sampler's own crop: only its uniforms differ
    engine.upload_rgb(image, REGION)
    _compare(failures, f"op {sampler.name!r} (image sampler, RGB, region)",
             engine.read_tensor(sampler.name), sampler.reference(image, "float", REGION))

    engine.upload_rgb(image)
    codes = {sampler.name: engine.read_tensor(sampler.name)}
    _compare(failures, f"op {sampler.name!r} (image sampler, RGB)", codes[sampler.name],
             sampler.reference(image, "float"))

    passes = engine.plan.passes
    for op in model.ops[1:]:
        # the kernel variants of the op's draws (programs folded per draw named once)
        kernels = sorted({p.program.split(f" {op.name}#")[0] for p in passes if p.op == op.name})
        if not kernels:
            continue  # computed on the CPU (softmax)
        engine.run_op(op.name)
        inputs = {slot: view(codes[c.source].astype(np.float64) / 255, c)
                  for slot, c in op.inputs.items()}
        what = f"op {op.name!r} ({'; '.join(kernels)})"
        if op.OUTPUT == LOGITS:
            _compare_logits(failures, what, engine.logits(), op.reference(inputs, "gles2"))
        else:
            codes[op.name] = engine.read_tensor(op.name)
            _compare(failures, what, codes[op.name], op.reference(inputs, "float"))
    return failures


def _compare(failures: list[str], what: str, gpu: np.ndarray, exact: np.ndarray) -> None:
    problem = codes_problem(gpu, exact)
    if problem is None:
        return
    expected = to_codes(exact)
    skipped = [q for q in range(0, gpu.shape[2], 4)
               if np.all(gpu[..., q:q + 4] == SENTINEL) and not np.all(expected[..., q:q + 4]
                                                                       == SENTINEL)]
    detail = (f"channels {', '.join(f'{q}-{q + 3}' for q in skipped)} were never drawn"
              if skipped else problem)
    failures.append(f"{what}: {detail}")


def _compare_logits(failures: list[str], what: str, gpu: np.ndarray, exact: np.ndarray) -> None:
    problem = logits_problem(gpu, exact)
    if problem is not None:
        failures.append(f"{what}: {problem}")
