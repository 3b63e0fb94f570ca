"""Shared test set-up: an ES 2.0-exact GL on llvmpipe, and where the shared models live."""
import os
import tempfile
from pathlib import Path

import pytest

# Must be set before any GL context exists: an ES 2.0 request then gives exactly ES 2.0 (the
# Pi Zero's API level) instead of the newest ES version llvmpipe supports.
os.environ.setdefault("MESA_GLES_VERSION_OVERRIDE", "2.0")
# What services started by the tests write (the event history) goes to a fresh folder, as
# systemd's StateDirectory= would give, never into the user's own data folder.
os.environ.setdefault("STATE_DIRECTORY", tempfile.mkdtemp(prefix="shadercam-test-state-"))

SHARED = Path(__file__).resolve().parents[2] / "shared"
DOG_MODEL = SHARED / "models" / "dog_classifier.chunks"


@pytest.fixture(scope="session")
def dog_model_path() -> Path:
    if not DOG_MODEL.exists():
        pytest.fail(f"the dog classifier is expected at {DOG_MODEL} (../shared/models)")
    return DOG_MODEL
