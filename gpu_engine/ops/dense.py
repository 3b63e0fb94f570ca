"""dense: the logits, y = A·x + b (§3.7); on ES 2.0 in Q8.8 fixed point with staged sums (§4.6)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_engine import fixed_point as fp
from gpu_engine.ops.base import MAIN, Op, Params, Shape, float_array
from gpu_engine.plan import FLAT, Constant, Layout, Pass, TextureRef, vec

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

    # ---- GPU plan -------------------------------------------------------------------------

    def gpu_passes(self, inputs: dict[int, tuple[Layout, int]], output: Layout,
                   ) -> tuple[list[Pass], dict[str, Constant], list[Layout]]:
        """Multiplication pass, then summation passes, each a texture of Q8.8 byte pairs.

        Texel (j, r) of every stage holds the values of outputs 2r (RG) and 2r+1 (BA).
        """
        source = inputs[MAIN][0]
        rows = self.outputs // 2
        n = self.inputs_count
        lsb, msb, off, inv = fp.remap(self.matrix)
        weight_texels = np.stack([lsb[0::2], msb[0::2], lsb[1::2], msb[1::2]], axis=-1)
        b_lsb, b_msb, b_off, b_inv = fp.remap(self.bias)
        bias_texels = np.stack([b_lsb[0::2], b_msb[0::2], b_lsb[1::2], b_msb[1::2]],
                               axis=-1)[None]
        constants = {f"{self.name}/w": Constant(f"{self.name}/w", weight_texels),
                     f"{self.name}/b": Constant(f"{self.name}/b", bias_texels)}
        widths = self.stage_widths()
        stages = [Layout(f"{self.name}/stage{s}", (rows, width, 4), FLAT)
                  for s, width in enumerate(widths)]
        stages[-1] = Layout(output.name, (rows, 1, 4), FLAT)
        h, w, c = source.shape
        src_w, src_h = source.texture_size
        passes = [Pass(
            op=self.name, shader="dense_multiply.frag", defines=(), target=TextureRef(
                stages[0].name), viewport=(0, 0, widths[0], rows),
            samplers=[("uMatrix", TextureRef(f"{self.name}/w")), ("uInput", source.quad(0)[0])],
            uniforms={"uInputShape": vec(w, h, c), "uInputStep": vec(1.0 / src_w, 1.0 / src_h),
                      "uMatrixStep": vec(1.0 / n, 1.0 / rows), "uRemap": vec(off, inv)},
            fetches_per_fragment=2 * BLOCK // 2 + 2, uniform_vectors=4)]
        for s in range(1, len(widths)):
            last = s == len(widths) - 1
            samplers = [("uPartials", TextureRef(stages[s - 1].name))]
            if last:
                samplers.append(("uBias", TextureRef(f"{self.name}/b")))
            passes.append(Pass(
                op=self.name, shader="dense_sum.frag", defines=(("LAST", int(last)),),
                target=TextureRef(stages[s].name), viewport=(0, 0, widths[s], rows),
                samplers=samplers,
                uniforms={"uPadding": vec(FAN_IN * widths[s] - widths[s - 1]),
                          "uPartialsStep": vec(1.0 / widths[s - 1], 1.0 / rows),
                          "uBiasStep": vec(1.0 / rows), "uRemap": vec(b_off, b_inv)},
                fetches_per_fragment=FAN_IN + int(last), uniform_vectors=4))
        return passes, constants, stages

    @staticmethod
    def decode_logits(texels: np.ndarray) -> np.ndarray:
        """Logits from the last stage's bytes (rows × 4: lsb, msb of 2r and of 2r+1)."""
        even = fp.decode_bytes(texels[:, 0], texels[:, 1])
        odd = fp.decode_bytes(texels[:, 2], texels[:, 3])
        return np.stack([even, odd], axis=1).reshape(-1)
