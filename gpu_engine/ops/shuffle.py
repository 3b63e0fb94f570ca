"""Channel shuffling on quads (spec §3.5): a connection reads a permuted view of its source."""
from __future__ import annotations

import numpy as np


def quad_permutation(quads: int, step: int) -> list[int]:
    """Storage quad read by each view quad: perm(v) = (n·v mod Q) + floor(n·v / Q)."""
    if step <= 1:
        return list(range(quads))
    return [(step * v) % quads + (step * v) // quads for v in range(quads)]


def channel_permutation(channels: int, step: int) -> np.ndarray:
    """Storage channel read by each view channel."""
    quads = quad_permutation(channels // 4, step)
    return np.array([4 * quads[c // 4] + c % 4 for c in range(channels)], dtype=np.int64)
