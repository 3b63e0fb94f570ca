"""What conv2d and pooling2d share: a k×k window slid with a stride, 'valid' or 'same'."""
from __future__ import annotations

import numpy as np

from gpu_engine.ops.base import Op
from gpu_engine.plan import Layout, vec


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

    def border_needed(self, size: int) -> int:
        """Zero texels this op reads beyond either edge of a `size`-long input."""
        return max(self.padding_before(size), self.padding_after(size))

    def windows(self, x: np.ndarray) -> list[np.ndarray]:
        """The input seen by each tap (dy, dx) in row-major order, zero-padded: Ho×Wo×C each."""
        h, w, _ = x.shape
        ho, wo, s = self.output_size(h), self.output_size(w), self.stride
        x = np.pad(x, ((self.padding_before(h), self.padding_after(h)),
                       (self.padding_before(w), self.padding_after(w)), (0, 0)))
        return [x[dy:dy + s * (ho - 1) + 1:s, dx:dx + s * (wo - 1) + 1:s, :]
                for dy in range(self.window) for dx in range(self.window)]

    def input_uniforms(self, source: Layout) -> dict[str, np.ndarray]:
        """Where the shader finds tap (0, 0) of output pixel (0, 0), and the texel step."""
        h, w, _ = source.shape
        width, height = source.texture_size
        x, y = source.quad(0)[1]
        return {"uInputStep": vec(1.0 / width, 1.0 / height),
                "uInputOrigin": vec(x - self.padding_before(w) + 0.5,
                                    y - self.padding_before(h) + 0.5)}
