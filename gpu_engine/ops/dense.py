"""dense: the logits, y = A·x + b (§3.7); on ES 2.0 in Q8.8 fixed point with staged sums (§4.6)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_engine import fixed_point as fp
from gpu_engine.ops.base import MAIN, Op, Params, Shape, float_array

BLOCK = 8      # inputs per partial sum of the multiplication stage
FAN_IN = 4     # partials added per summation stage
PARTIAL_BITS = 9
OUTPUT_BITS = 8


@dataclass
class Dense(Op):
    TYPE = "dense"

    outputs: int = 4
    use_bias: bool = True
    inputs_count: int = 0
    matrix: np.ndarray | None = None  # outputs × inputs
    bias: np.ndarray | None = None

    @classmethod
    def parse(cls, name: str, params: Params) -> Dense:
        op = cls(name=name, outputs=params.int("output_dims", maximum=65536),
                 use_bias=params.bool("use_bias"))  # use_bias has no default
        if op.outputs % 4:
            raise op.error(f"output_dims = {op.outputs} is not a multiple of 4")
        return op

    def infer_shape(self, inputs: dict[int, Shape]) -> Shape:
        h, w, c = inputs[MAIN]
        n = h * w * c
        if n % BLOCK:
            raise self.error(f"the input has {n} values, not a multiple of {BLOCK}")
        self.inputs_count = n
        return (1, 1, self.outputs)

    def load_weights(self, chunks: dict[str, bytes], where: str) -> None:
        """The matrix is sized by the input, so it is read once shapes are known."""
        n = self.inputs_count
        self.matrix = float_array(chunks, f"{self.name}/w", self.outputs * n,
                                  where).reshape(self.outputs, n)
        self.bias = (float_array(chunks, f"{self.name}/b", self.outputs, where)
                     if self.use_bias else np.zeros(self.outputs, np.float32))

    def stage_widths(self) -> list[int]:
        """Partials per output after the multiplication stage and after each summation stage."""
        widths = [self.inputs_count // BLOCK]
        while widths[-1] > 1 or len(widths) == 1:
            widths.append(-(-widths[-1] // FAN_IN))
        return widths

    def reference(self, inputs: dict[int, np.ndarray], level: str) -> np.ndarray:
        x = inputs[MAIN].reshape(-1)
        if level == "float":
            return self.matrix.astype(np.float64) @ x + self.bias
        if level == "gl":
            return (self.matrix @ x.astype(np.float32) + self.bias).astype(np.float32)
        return self.fixed_point_logits(x)

    def fixed_point_logits(self, x: np.ndarray) -> np.ndarray:
        """The ES 2.0 arithmetic, step by step, in float32 (§4.6)."""
        f32 = np.float32
        lsb, msb, off, inv = fp.remap(self.matrix)
        matrix = fp.unmap(fp.decode_bytes(lsb, msb), off, inv)
        x = x.astype(f32)
        rows, n = matrix.shape
        products = (matrix * x[None, :]).reshape(rows, n // BLOCK, 2, 4)
        partial = products[..., 0, :].sum(-1, dtype=f32) + products[..., 1, :].sum(-1, dtype=f32)
        bias_lsb, bias_msb, bias_off, bias_inv = fp.remap(self.bias)
        bias = fp.unmap(fp.decode_bytes(bias_lsb, bias_msb), bias_off, bias_inv)
        values = fp.decode_bytes(*fp.shader_encode(partial, PARTIAL_BITS), PARTIAL_BITS)
        widths = self.stage_widths()
        for stage, width in enumerate(widths[1:], start=1):
            padded = np.zeros((rows, FAN_IN * width), f32)
            padded[:, FAN_IN * width - values.shape[1]:] = values
            quads = padded.reshape(rows, width, FAN_IN)
            total = ((quads[..., 0] + quads[..., 1]) + quads[..., 2]) + quads[..., 3]
            last = stage == len(widths) - 1
            if last:
                total = total + bias[:, None]
            bits = OUTPUT_BITS if last else PARTIAL_BITS
            values = fp.decode_bytes(*fp.shader_encode(total, bits), bits)
        return values[:, 0]

    def multiply_adds(self) -> int:
        return self.matrix.size
