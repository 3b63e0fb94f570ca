"""The NumPy reference of a whole model: the test oracle of the GPU path (spec §3-§4).

Levels: 'float' (ideal maths), 'gl' (8-bit activations, float dense), 'gles2' (8-bit
activations, Q8.8 fixed-point dense: what ShaderCam computes on a Pi).
"""
from __future__ import annotations

import numpy as np

from gpu_engine.model import Model
from gpu_engine.ops.base import LEVELS, PROBABILITIES, Connection
from gpu_engine.ops.image_sampler import Region
from gpu_engine.ops.shuffle import channel_permutation


def view(tensor: np.ndarray, connection: Connection) -> np.ndarray:
    """What a connection delivers: the source tensor with its channel shuffle applied."""
    if connection.shuffle <= 1:
        return tensor
    return tensor[..., channel_permutation(tensor.shape[-1], connection.shuffle)]


def op_inputs(model: Model, index: int, outputs: dict[str, np.ndarray]) -> dict[int, np.ndarray]:
    op = model.ops[index]
    return {slot: view(outputs[c.source], c) for slot, c in op.inputs.items()}


def run(model: Model, image: np.ndarray, level: str = "gles2",
        region: Region | None = None) -> dict[str, np.ndarray]:
    """Every op's output for an RGB(A) uint8 image (or its `region`, fractions of the frame,
    stretched to the input), by op name (the last is the model's output)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    outputs = {model.ops[0].name: model.sampler.reference(image, level, region)}
    for index, op in enumerate(model.ops[1:], start=1):
        outputs[op.name] = op.reference(op_inputs(model, index, outputs), level)
    return outputs


def classify(model: Model, image: np.ndarray, level: str = "gles2") -> np.ndarray:
    from gpu_engine.ops.softmax import softmax
    last = run(model, image, level)[model.ops[-1].name]
    return last if model.ops[-1].OUTPUT == PROBABILITIES else softmax(last)
