"""ShaderCam's inference engine: Beatmup chunkfile models as GLSL ES 1.00 shaders, ES 2.0."""
from gpu_engine.context import GLInfo
from gpu_engine.errors import ModelError, ProfileError
from gpu_engine.model import Model, load_model, load_model_bytes
from gpu_engine.runtime import Engine
from gpu_engine.topk import top_k

__all__ = ["Engine", "GLInfo", "Model", "ModelError", "ProfileError", "load_model",
           "load_model_bytes", "top_k"]
