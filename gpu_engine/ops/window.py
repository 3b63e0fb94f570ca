"""What conv2d and pooling2d share: a k×k window slid with a stride, 'valid' or 'same'."""
from __future__ import annotations

import numpy as np

from gpu_engine.ops.base import MAIN, Op, Shape


class WindowOp(Op):
    """Mixed into ops with `stride`, `padding` and a square `window` side."""

    stride: int
    padding: str

    @property
    def window(self) -> int:
        raise NotImplementedError

    def output_size(self, size: int) -> int:
        if self.padding == "same":
            return -(-size // self.stride)
        return (size - self.window) // self.stride + 1

    def padding_before(self, size: int) -> int:
        """Zero rows/columns read before the first input row/column (TensorFlow's rule)."""
        if self.padding == "valid":
            return 0
        return max(0, ((self.output_size(size) - 1) * self.stride + self.window - size) // 2)

    def padding_after(self, size: int) -> int:
        before = self.padding_before(size)
        return max(0, (self.output_size(size) - 1) * self.stride + self.window - size - before)

    def border_needed(self, slot: int, shape: Shape) -> int:
        """Zero texels this op reads beyond the edges of its main input."""
        if slot != MAIN:
            return 0
        return max(max(self.padding_before(size), self.padding_after(size)) for size in shape[:2])

    def windows(self, x: np.ndarray) -> list[np.ndarray]:
        """The input seen by each tap (dy, dx) in row-major order, zero-padded: Ho×Wo×C each."""
        h, w, _ = x.shape
        ho, wo, s = self.output_size(h), self.output_size(w), self.stride
        x = np.pad(x, ((self.padding_before(h), self.padding_after(h)),
                       (self.padding_before(w), self.padding_after(w)), (0, 0)))
        return [x[dy:dy + s * (ho - 1) + 1:s, dx:dx + s * (wo - 1) + 1:s, :]
                for dy in range(self.window) for dx in range(self.window)]
