"""softmax: probabilities from logits, on the CPU (spec §3.8)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_engine.ops.base import MAIN, Op, Params, Shape


@dataclass
class Softmax(Op):
    TYPE = "softmax"

    @classmethod
    def parse(cls, name: str, params: Params) -> Softmax:
        return cls(name=name)

    def infer_shape(self, inputs: dict[int, Shape]) -> Shape:
        return inputs[MAIN]

    def reference(self, inputs: dict[int, np.ndarray], level: str) -> np.ndarray:
        return softmax(inputs[MAIN])


def softmax(logits: np.ndarray) -> np.ndarray:
    """Max-subtracted, so no logit can overflow; equals the engine's float32 form in range."""
    z = np.asarray(logits, np.float64).ravel()
    e = np.exp(z - z.max())
    return (e / e.sum()).astype(np.float32)
