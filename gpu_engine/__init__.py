"""ShaderCam's inference engine: Beatmup chunkfile models as GLSL ES 1.00 shaders, ES 2.0."""
from gpu_engine.context import GLInfo
from gpu_engine.errors import ModelError, ProfileError
from gpu_engine.features import Embedder, FeatureSpec
from gpu_engine.model import Model, load_model, load_model_bytes
from gpu_engine.runtime import Engine
from gpu_engine.selftest import SelfTestReport
from gpu_engine.topk import top_k
from gpu_engine.trust import GPURefused, open_engine

__all__ = ["Embedder", "Engine", "FeatureSpec", "GLInfo", "GPURefused", "Model", "ModelError",
           "ProfileError", "SelfTestReport", "load_model", "load_model_bytes", "open_engine",
           "top_k"]
