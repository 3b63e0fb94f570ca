"""dense: the logits, y = A·x + b (§3.7); on ES 2.0 in Q8.8 fixed point with staged sums (§4.6)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_engine import fixed_point as fp
from gpu_engine.ops.base import LOGITS, MAIN, Op, Params, Shape, WeightChunk
from gpu_engine.ops.kernel import draw, offset, program
from gpu_engine.plan import Affine, Texture, literal

BLOCK = 8      # inputs per partial sum of the multiplication stage
FAN_IN = 4     # partials added per summation stage
PARTIAL_BITS = 9
OUTPUT_BITS = 8


@dataclass
class Dense(Op):
    TYPE = "dense"
    OUTPUT = LOGITS
    STORES_CODES = False

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

    def weight_chunks(self) -> list[WeightChunk]:
        """The matrix is sized by the input, so it is known once shapes are."""
        n = self.inputs_count
        chunks = [WeightChunk("w", (self.outputs, n), n)]
        return chunks + [WeightChunk("b", (self.outputs,))] if self.use_bias else chunks

    def set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        self.matrix = arrays["w"]
        self.bias = arrays["b"] if self.use_bias else np.zeros(self.outputs, np.float32)

    def weight_arrays(self) -> dict[str, np.ndarray]:
        return {"w": self.matrix, "b": self.bias} if self.use_bias else {"w": self.matrix}

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

    def needs_row(self, slot: int) -> bool:
        return True

    def parameters(self) -> int:
        return self.matrix.size + (self.bias.size if self.use_bias else 0)

    # ---- GPU plan -------------------------------------------------------------------------

    def plan(self, builder) -> None:
        """Multiplication pass, then summation passes, each into a texture of Q8.8 byte pairs.

        Texel (j, r) of every stage holds the values of outputs 2r (RG) and 2r+1 (BA); a stage
        texture starts with the encoded zeros its summation pads the partials with on the left.
        """
        source, tiles = builder.input(self, MAIN)
        rows, n = self.outputs // 2, self.inputs_count
        lsb, msb, off, inv = fp.remap(self.matrix)
        matrix = builder.add_texture(Texture(
            f"{self.name}/w", n, rows,
            data=np.stack([lsb[0::2], msb[0::2], lsb[1::2], msb[1::2]], axis=-1)))
        b_lsb, b_msb, b_off, b_inv = fp.remap(self.bias)
        bias = builder.add_texture(Texture(
            f"{self.name}/b", rows, 1,
            data=np.stack([b_lsb[0::2], b_msb[0::2], b_lsb[1::2], b_msb[1::2]], axis=-1)[None]))
        widths = self.stage_widths()
        stages = []
        for s, width in enumerate(widths):
            pad = FAN_IN * widths[s + 1] - width if s + 1 < len(widths) else 0
            zeros = np.tile(np.array([0, 128, 0, 128], np.uint8), (rows, pad + width, 1))
            stages.append((builder.add_texture(Texture(
                f"{self.name}/stage{s}" if s + 1 < len(widths) else self.name, pad + width,
                rows, data=zeros)), pad))
        self._plan_multiply(builder, source, tiles, matrix, stages[0], (off, inv))
        for s in range(1, len(widths)):
            last = s == len(widths) - 1
            self._plan_sum(builder, stages[s - 1][0], stages[s], widths[s], rows,
                           bias if last else None, (b_off, b_inv))
        builder.readback = (self.name, (0, 0, 1, rows))
        builder.decode = self.decode_logits

    def _plan_multiply(self, builder, source, tiles, matrix: Texture, stage, remap) -> None:
        textures = {t.texture for t in tiles}
        if len(textures) > 1:
            raise self.error(f"its input {source.name!r} does not fit one texture row")
        texture = builder.texture(tiles[0].texture)
        h, w, c = source.shape

        def texel(index: int) -> tuple[float, float]:
            pixel, channel = divmod(index, c)
            y, x = divmod(pixel, w)
            tile = tiles[channel // 4]
            return ((tile.x + x + 0.5) / texture.width, (tile.y + y + 0.5) / texture.height)

        rows = matrix.height
        n_blocks = self.inputs_count // BLOCK
        blocks = [texel(BLOCK * j) + texel(BLOCK * j + 4) for j in range(n_blocks)]
        runs, start = [], 0
        for j in range(1, n_blocks + 1):  # maximal runs of blocks whose inputs move evenly
            if j < n_blocks and (j - start < 2 or np.allclose(
                    np.subtract(blocks[j], blocks[j - 1]),
                    np.subtract(blocks[start + 1], blocks[start]), atol=1e-9)):
                continue
            runs.append((start, j))
            start = j
        target, pad = stage
        rects, coords = [], []
        for first, end in runs:
            step = np.subtract(blocks[first + 1], blocks[first]) if end - first > 1 else (0,) * 4
            rects.append((pad + first, 0, end - first, rows))
            coords.append([
                Affine(blocks[first][:2], tuple(step[:2])),
                Affine(blocks[first][2:], tuple(step[2:])),
                Affine(((BLOCK * first + 0.5) / matrix.width, 0.5 / rows),
                       (BLOCK / matrix.width, 0.0), (0.0, 1.0 / rows))])
        key = f"dense_multiply {self.name}"
        lines = []
        for t in range(8):
            half, component = ("A", "xyzw"[t]) if t < 4 else ("B", "xyzw"[t - 4])
            lines.append(f"    w = texture2D(uMatrix, {offset('vCoord1', t, 0, matrix)});")
            for parity, channels in (("even", "xy"), ("odd", "zw")):
                lines.append(f"    {parity}{half}.{component} = "
                             f"{_unmap(f'decodeFixed(w.{channels}, 8.0)', *remap)};")
        builder.add_program(program(key, "dense_multiply.frag", 3, ("uInput", "uMatrix"),
                                    weights="\n".join(lines)))
        builder.add_pass(draw(self.name, key, target, rects, coords,
                              (texture.name, matrix.name), fetches=2 + BLOCK))

    def _plan_sum(self, builder, previous: Texture, stage, width: int, rows: int,
                  bias: Texture | None, remap) -> None:
        target, pad = stage
        key = f"dense_sum {self.name} {target.name}"
        taps = []
        for t in range(FAN_IN):
            taps.append(f"    pair = texture2D(uPartials, {offset('vCoord0.xy', t, 0, previous)});")
            taps.append("    sum += vec2(decodeFixed(pair.xy, 9.0), decodeFixed(pair.zw, 9.0));")
        if bias is None:
            finish = "    gl_FragColor = vec4(encodeFixed(sum.x, 9.0), encodeFixed(sum.y, 9.0));"
        else:
            finish = ("    highp vec4 b = texture2D(uBias, vCoord0.zw);\n"
                      f"    sum += vec2({_unmap('decodeFixed(b.xy, 8.0)', *remap)}, "
                      f"{_unmap('decodeFixed(b.zw, 8.0)', *remap)});\n"
                      "    gl_FragColor = vec4(encodeFixed(sum.x, 8.0), encodeFixed(sum.y, 8.0));")
        samplers = ("uPartials",) + (("uBias",) if bias is not None else ())
        builder.add_program(program(key, "dense_sum.frag", 2, samplers, taps="\n".join(taps),
                                    finish=finish))
        partials = Affine((0.5 / previous.width, 0.5 / rows), (FAN_IN / previous.width, 0.0),
                          (0.0, 1.0 / rows))
        bias_at = Affine((0.5 / rows, 0.5), (0.0, 0.0), (1.0 / rows, 0.0))
        builder.add_pass(draw(
            self.name, key, target, [(pad, 0, width, rows)], [[partials, bias_at]],
            (previous.name,) + ((bias.name,) if bias is not None else ()),
            fetches=FAN_IN + int(bias is not None)))

    @staticmethod
    def decode_logits(texels: np.ndarray) -> np.ndarray:
        """Logits from the last stage's bytes (lsb, msb of 2r and of 2r+1 per texel r)."""
        texels = texels.reshape(-1, 4)
        even = fp.decode_bytes(texels[:, 0], texels[:, 1])
        odd = fp.decode_bytes(texels[:, 2], texels[:, 3])
        return np.stack([even, odd], axis=1).reshape(-1)


def _unmap(decoded: str, off: float, inv: float) -> str:
    """GLSL of fixed_point.unmap with its OFF, INV literals (identity when there are none)."""
    if off == 0.0 and inv == 1.0:
        return decoded
    return f"({decoded} - {literal(off)}) * {literal(inv)}"
