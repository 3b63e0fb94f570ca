"""The installed ShaderCam version, for the build-info metric and Home Assistant's device."""
from __future__ import annotations

from importlib import metadata


def version() -> str:
    try:
        return metadata.version("shadercam")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
