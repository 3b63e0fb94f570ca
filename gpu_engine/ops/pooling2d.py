"""pooling2d: max or average over k×k windows, per channel (spec §3.6)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_engine.ops.base import MAIN, Params, Shape, quantize
from gpu_engine.ops.shuffle import quad_permutation
from gpu_engine.ops.window import WindowOp
from gpu_engine.plan import Layout, Pass, vec


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

    def gpu_passes(self, inputs: dict[int, tuple[Layout, int]], output: Layout) -> list[Pass]:
        """One pass per quad: the window of its own input quad."""
        source, shuffle = inputs[MAIN]
        perm = quad_permutation(source.quads, shuffle)
        defines = (("K", self.size), ("STRIDE", self.stride), ("MAX", int(self.operator == "max")))
        passes = []
        for q in range(output.quads):
            target, origin = output.quad(q)
            passes.append(Pass(
                op=self.name, shader="pooling2d.frag", defines=defines, target=target,
                viewport=(origin[0], origin[1], output.shape[1], output.shape[0]),
                samplers=[("uInput", source.quad(perm[q])[0])],
                uniforms={"uOutputOrigin": vec(*origin), "uScale": vec(self.scale),
                          **self.input_uniforms(source)},
                fetches_per_fragment=self.size ** 2, uniform_vectors=4))
        return passes


def tap_code(defines: dict[str, int]) -> str:
    """Every tap after the first written out (the first initialises the accumulator)."""
    k, lines = defines["K"], []
    for tap in range(1, k * k):
        dy, dx = divmod(tap, k)
        texel = f"texture2D(uInput, corner + vec2({dx}.0, {dy}.0) * uInputStep)"
        lines.append(f"    acc = max(acc, {texel});" if defines["MAX"] else f"    acc += {texel};")
    return "\n".join(lines)
