"""Activation functions of conv2d (spec §3.4); the GLSL twins live in shaders/conv2d.frag."""
from __future__ import annotations

import numpy as np

NAMES = ("default", "brelu6", "sigmoid_like")
SHADER_IDS = {name: index for index, name in enumerate(NAMES)}


def apply(name: str, z: np.ndarray) -> np.ndarray:
    if name == "default":
        return np.clip(z, 0.0, 1.0)
    if name == "brelu6":
        return np.clip(0.167 * z, 0.0, 1.0)
    piecewise = np.clip(0.1 * z, -0.05, 0.05) + np.clip(0.05 * z, -0.125, 0.125) + 0.05 * z + 0.5
    return np.clip(piecewise, 0.0, 1.0)
