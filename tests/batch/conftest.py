"""Fixtures of the batch tests: a folder of pictures and what the engine itself says about
each of them (the answer every runner must reproduce)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import demo_scene
from app.images import read
from batch_helpers import DEMO_MODEL
from gpu_engine import Engine, load_model

sys.path.insert(0, str(Path(__file__).parents[1] / "app"))  # serving.py: wait_for

PICTURES = 30


@pytest.fixture(scope="session")
def pictures(tmp_path_factory) -> Path:
    """Demo-scene pictures of several sizes as PNG and JPEG in nested folders, a corrupt
    JPEG, and a text file that a folder walk must pass over."""
    root = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(2024)
    for number in range(PICTURES):
        image, _ = demo_scene.random_sample(rng, int(rng.choice([64, 100, 180, 300])))
        folder = root / ("deep/er" if number % 3 == 0 else "top")
        folder.mkdir(parents=True, exist_ok=True)
        if number % 2:
            Image.fromarray(image).save(folder / f"p{number:02d}.jpg", quality=90)
        else:
            Image.fromarray(image).save(folder / f"p{number:02d}.png")
    (root / "top" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 a truncated jpeg")
    (root / "top" / "notes.txt").write_text("not a picture")
    return root


@pytest.fixture(scope="session")
def expected(pictures) -> dict[str, np.ndarray]:
    """The engine's probabilities for every readable picture, classified directly."""
    engine = Engine(load_model(DEMO_MODEL))
    try:
        return {str(path): engine.classify_rgb(read(path))
                for path in sorted(pictures.rglob("p*.*"))}
    finally:
        engine.release()
