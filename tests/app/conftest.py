"""Fixtures of the service tests: the tiny colour model and pictures for the files source."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from colour_model import COLOURS, write_colour_model


@pytest.fixture(scope="session")
def colour_model(tmp_path_factory) -> Path:
    return write_colour_model(tmp_path_factory.mktemp("model") / "colours.chunks")


@pytest.fixture
def colour_pictures(tmp_path) -> Path:
    """A folder with one red picture, for a files source showing red only."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    Image.new("RGB", (160, 120), COLOURS["red"]).save(folder / "red.png")
    return folder
