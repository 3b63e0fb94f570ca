"""The installed ShaderCam version: `shadercam --version`, the build-info metric, and the
device Home Assistant shows."""
from __future__ import annotations

from importlib import metadata


def version() -> str:
    try:
        return metadata.version("shadercam")
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown (not installed)"
