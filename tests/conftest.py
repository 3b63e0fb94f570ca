"""Shared test set-up: an ES 2.0-exact GL on llvmpipe, and where the dog classifier is."""
import os
import tempfile
from pathlib import Path

import pytest

from published_models import find_dog_model

# The model store is looked up in the user's environment, before STATE_DIRECTORY is set
# below (which would move the store into the tests' fresh folder).
USER_ENV = dict(os.environ)

# Must be set before any GL context exists: an ES 2.0 request then gives exactly ES 2.0 (the
# Pi Zero's API level) instead of the newest ES version llvmpipe supports.
os.environ.setdefault("MESA_GLES_VERSION_OVERRIDE", "2.0")
# What services started by the tests write (the event history) goes to a fresh folder, as
# systemd's StateDirectory= would give, never into the user's own data folder.
os.environ.setdefault("STATE_DIRECTORY", tempfile.mkdtemp(prefix="shadercam-test-state-"))

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def dog_model_path() -> Path:
    """The published dog classifier (see published_models: skips without it, fails in CI)."""
    return find_dog_model(USER_ENV, SHARED)
