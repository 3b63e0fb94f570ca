"""pooling2d: max or average over k×k windows, per channel (spec §3.6)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_engine.ops.base import MAIN, Params, Shape, quantize
from gpu_engine.ops.kernel import draw, offset, program
from gpu_engine.ops.window import WindowOp
from gpu_engine.plan import literal, sampling


@dataclass
class Pooling2D(WindowOp):
    TYPE = "pooling2d"

    operator: str = "max"
    size: int = 2
    stride: int = 1
    padding: str = "valid"

    @classmethod
    def parse(cls, name: str, params: Params) -> Pooling2D:
        op = cls(name=name,
                 operator=params.choice("operator", ("max", "average")),
                 size=params.int("size", minimum=2, maximum=64),
                 stride=params.int("stride", 1, maximum=64),
                 padding=params.choice("padding", ("valid", "same"), "valid"))
        if op.operator == "average" and op.padding != "valid":
            raise op.error("average pooling supports only 'valid' padding")
        return op

    @property
    def scale(self) -> float:
        """The averaging factor as the shader's 10-decimal literal (1/9 -> 0.1111111119)."""
        return float(np.float32(float(f"{1.0 / self.size ** 2:.10f}")))

    @property
    def window(self) -> int:
        return self.size

    def infer_shape(self, inputs: dict[int, Shape]) -> Shape:
        h, w, c = inputs[MAIN]
        ho, wo = self.output_size(h), self.output_size(w)
        if ho < 1 or wo < 1:
            raise self.error(f"a {self.size}x{self.size} window does not fit the {h}x{w} input")
        return (ho, wo, c)

    def reference(self, inputs: dict[int, np.ndarray], level: str) -> np.ndarray:
        windows = self.windows(inputs[MAIN].astype(np.float64))
        if self.operator == "max":
            y = np.max(windows, axis=0)
        elif level == "float":
            y = np.mean(windows, axis=0)
        else:
            y = np.sum(windows, axis=0) * self.scale
        return y if level == "float" else quantize(y)

    # ---- GPU plan -------------------------------------------------------------------------

    def plan(self, builder) -> None:
        """One rectangle per quad, the window of its own input quad; one draw for the op."""
        source, tiles = builder.input(self, MAIN)
        output = builder.output(self)
        h, w, _ = source.shape
        pad_x, pad_y = self.padding_before(w), self.padding_before(h)
        for texture_name in dict.fromkeys(t.texture for t in output.tiles):
            quads = [q for q in range(output.quads) if output.tiles[q].texture == texture_name]
            by_input: dict[str, list[int]] = {}
            for q in quads:
                by_input.setdefault(tiles[q].texture, []).append(q)
            for input_name, group in by_input.items():
                texture = builder.texture(input_name)
                key = self._program(builder, texture)
                target = builder.texture(texture_name)
                coords = [[sampling(texture, tiles[q].x - pad_x, tiles[q].y - pad_y,
                                    self.stride)] for q in group]
                builder.add_pass(draw(self.name, key, target, [output.rect(q) for q in group],
                                      coords, (input_name,), fetches=self.size ** 2))

    def _program(self, builder, texture) -> str:
        key = (f"pooling2d {self.operator} k{self.size} s{self.stride} "
               f"in{texture.width}x{texture.height}")
        if key not in builder.programs:
            lines = []
            for tap in range(1, self.size ** 2):
                dy, dx = divmod(tap, self.size)
                texel = f"texture2D(uInput, {offset('vCoord0', dx, dy, texture)})"
                lines.append(f"    acc = max(acc, {texel});" if self.operator == "max"
                             else f"    acc += {texel};")
            finish = "acc" if self.operator == "max" else f"acc * {literal(self.scale)}"
            builder.add_program(program(key, "pooling2d.frag", 1, ("uInput",),
                                        taps="\n".join(lines), finish=finish))
        return key
