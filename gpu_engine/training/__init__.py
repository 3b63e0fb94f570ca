"""Train models for the engine in PyTorch and export them (the optional `train` extra).

Importing this package needs torch; nothing else in gpu_engine does.
"""
from gpu_engine.training.export import check_network, describe, export_model, model_chunks
from gpu_engine.training.layers import Conv2d, Dense, ImageSampler, Pooling2d, sigmoid_like
from gpu_engine.training.network import Network, images_to_tensor

__all__ = ["Conv2d", "Dense", "ImageSampler", "Network", "Pooling2d", "check_network", "describe",
           "export_model", "images_to_tensor", "model_chunks", "sigmoid_like"]
