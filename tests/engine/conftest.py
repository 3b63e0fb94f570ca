import numpy as np
import pytest

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
def vc4_tool(dog_model_path):
    """../shared/tools/vc4-compiler: vc4's extension lists, its driver build and env.sh."""
    return dog_model_path.parents[1] / "tools" / "vc4-compiler"
