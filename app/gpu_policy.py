"""Whether the service accepts the GL renderer it got. Mesa silently falls back to a software
renderer when the GPU cannot be opened (a service user without the `render` group, a missing
vc4 overlay); on a Pi Zero that is seconds per frame, so there it is an error, not a warning.
"""
from __future__ import annotations

import os
from pathlib import Path

from gpu_engine import GLInfo

POLICIES = ("auto", "allow", "refuse")  # auto: refuse on Raspberry Pi hardware
# The device tree's model string; SHADERCAM_DEVICE_MODEL_FILE names another file to read.
MODEL_FILES = ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model")
MODEL_FILE_ENV = "SHADERCAM_DEVICE_MODEL_FILE"


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
