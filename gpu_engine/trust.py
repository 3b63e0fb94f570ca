"""One way to open an engine the caller can trust: this model, on this GPU, refusing a software
renderer where a GPU is expected, and self-tested against the NumPy reference before any result
is used. The service's worker, the command line and batch runs all open their engines here.

Mesa silently falls back to a software renderer when the GPU cannot be opened (a service user
without the `render` group, a missing vc4 overlay); on a Pi Zero that is seconds per frame, so
there it is an error, not a warning. A Pi's driver can also get a kernel wrong without any GL
error (vc4 skips the draws of a program it failed to compile), which the self-test finds.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from gpu_engine import gles2
from gpu_engine.context import GLContext, GLInfo
from gpu_engine.model import Model
from gpu_engine.runtime import Engine
from gpu_engine.selftest import SelfTestReport, run_self_test

log = logging.getLogger(__name__)

POLICIES = ("auto", "allow", "refuse")  # auto: refuse on Raspberry Pi hardware
# The device tree's model string; SHADERCAM_DEVICE_MODEL_FILE names another file to read.
MODEL_FILES = ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model")
MODEL_FILE_ENV = "SHADERCAM_DEVICE_MODEL_FILE"


class GPURefused(RuntimeError):
    """The GPU cannot be trusted with the model: a software renderer where a GPU is expected,
    or a self-test result that differs from the reference. Carries what the GPU is and the
    self-test's report (None when it did not run) for the caller to show."""

    def __init__(self, reason: str, gl_info: GLInfo, report: SelfTestReport | None = None):
        super().__init__(reason)
        self.gl_info, self.report = gl_info, report

    def __reduce__(self):  # whole across processes (a Dask worker's task fails with it)
        return type(self), (str(self), self.gl_info, self.report)


def device_model() -> str:
    """The hardware's model string ("Raspberry Pi Zero W Rev 1.1"), or "" when unknown."""
    override = os.environ.get(MODEL_FILE_ENV)
    for path in (override,) if override else MODEL_FILES:
        try:
            return Path(path).read_bytes().rstrip(b"\0\n").decode("utf-8", "replace")
        except OSError:
            continue
    return ""


def software_gl_problem(info: GLInfo, policy: str = "auto") -> str | None:
    """Why this renderer is refused, or None when it is accepted."""
    if policy not in POLICIES:
        raise ValueError(f"software GL policy {policy!r} is not one of {', '.join(POLICIES)}")
    if not info.software or policy == "allow":
        return None
    hardware = device_model()
    if policy == "auto" and "Raspberry Pi" not in hardware:
        return None
    where = f"on this {hardware}" if "Raspberry Pi" in hardware else "(model.software_gl = refuse)"
    return (f"GL renderer {info.renderer!r} is a software renderer {where}: the GPU could not "
            "be opened. Is /dev/dri/renderD128 there (dtoverlay=vc4-kms-v3d) and is the service "
            "user in the 'render' and 'video' groups?")


def open_engine(model: Model, *, software_gl: str = "auto", self_test: bool = True,
                gl_calls: gles2.CallLog | None = None) -> tuple[Engine, SelfTestReport | None]:
    """An engine for `model` on this thread's GPU, and the self-test's report (None when
    `self_test` is off). One EGL context serves the policy check, the self-test's probe and
    the engine. Raises GPURefused with the reason, a ModelError or ProfileError for a model
    this GPU cannot run; nothing is left open when it raises."""
    context = GLContext(calls=gl_calls)
    try:
        info = context.info
        problem = software_gl_problem(info, software_gl)
        if problem:
            raise GPURefused(problem, info)
        report = run_self_test(model, context) if self_test else None
        if report is not None and not report.ok:
            raise GPURefused(report.error, info, report)
        if report is not None:
            log.info("GPU self-test passed: %d kernels on a %s probe in %.2f s", report.kernels,
                     report.probe, report.seconds)
        return Engine(model, context=context, owns_context=True), report
    except BaseException:
        context.release()
        raise
