"""softmax: probabilities from logits, on the CPU (spec §3.8)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_engine.ops.base import LOGITS, MAIN, PROBABILITIES, Op, Params, Shape


@dataclass
class Softmax(Op):
    TYPE = "softmax"
    OUTPUT = PROBABILITIES
    ON_GPU = False  # on the CPU, from the read-back logits
    STORES_CODES = False

    @classmethod
    def parse(cls, name: str, params: Params) -> Softmax:
        return cls(name=name)

    def infer_shape(self, inputs: dict[int, Shape]) -> Shape:
        return inputs[MAIN]

    def accepts(self, slot: int) -> tuple[str, ...]:
        return (LOGITS,)

    def reference(self, inputs: dict[int, np.ndarray], level: str) -> np.ndarray:
        return softmax(inputs[MAIN])


def softmax(logits: np.ndarray) -> np.ndarray:
    """Max-subtracted, so no logit can overflow; equals the engine's float32 form in range."""
    z = np.asarray(logits, np.float64).ravel()
    e = np.exp(z - z.max())
    return (e / e.sum()).astype(np.float32)
