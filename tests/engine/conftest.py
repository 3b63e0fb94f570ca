import os
from pathlib import Path

import numpy as np
import pytest

from benchmarks.vc4_shaderdb import TOOL
from published_models import in_ci

from engine.builder import feature_model
from gpu_engine import Engine, load_model, load_model_bytes


@pytest.fixture(scope="session")
def dog_model(dog_model_path):
    return load_model(dog_model_path)


@pytest.fixture(scope="session")
def gles2_engine(dog_model):
    engine = Engine(dog_model)
    yield engine
    engine.release()


@pytest.fixture(scope="session")
def features():
    """The feature model (every kernel option) and an ES 2.0 engine running it."""
    model = load_model_bytes(feature_model())
    engine = Engine(model)
    yield model, engine
    engine.release()


@pytest.fixture(scope="session")
def feature_images():
    """Random frames of another aspect than the model's input, and a natural photo."""
    from engine.images import natural
    rng = [np.random.default_rng(seed) for seed in (0, 1)]
    return [r.integers(0, 256, (57, 83, 3), dtype=np.uint8) for r in rng] + [natural("coffee")]


@pytest.fixture(scope="session")
def vc4_tool() -> Path:
    """../shared/tools/vc4-compiler: vc4's extension lists, its driver build and env.sh. A
    checkout without it skips what needs it, saying so; under CI that fails."""
    if not TOOL.is_dir():
        reason = f"needs the vc4 compiler's folder {TOOL} (../shared beside the checkout)"
        if in_ci(os.environ):
            pytest.fail(f"CI must run every test: {reason}")
        pytest.skip(reason)
    return TOOL
