"""GLSL ES 1.00 kernels of the engine, one file per kernel."""
from importlib import resources


def source(name: str) -> str:
    """The text of one shader file of this folder."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
