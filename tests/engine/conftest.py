import pytest

from gpu_engine import Engine, load_model


@pytest.fixture(scope="session")
def dog_model(dog_model_path):
    return load_model(dog_model_path)


@pytest.fixture(scope="session")
def gles2_engine(dog_model):
    engine = Engine(dog_model, api="gles2")
    yield engine
    engine.release()


@pytest.fixture(scope="session")
def vc4_tool(dog_model_path):
    """../shared/tools/vc4-compiler: vc4's extension lists, its driver build and env.sh."""
    return dog_model_path.parents[1] / "tools" / "vc4-compiler"
