"""grid_pooling: the average of each cell of a grid×grid split of a map, per channel, stored
as 8-bit codes and read back as a feature vector: the last op of a feature extractor
(gpu_engine.features). Cells split the map as evenly as it allows, the first `size % grid`
rows (columns) of cells one longer, as numpy.array_split splits."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_engine.ops.base import FEATURES, MAIN, Op, Params, Shape, quantize
from gpu_engine.ops.kernel import draw, offset, program
from gpu_engine.plan import Affine, literal

MAX_GRID = 16
MAX_TAPS = 256  # texels one fragment averages, each a fetch written out in the kernel


@dataclass(frozen=True)
class Band:
    """A run of equal cells along one axis: its first cell, how many, first texel, cell size."""

    first: int
    count: int
    start: int
    size: int


@dataclass
class GridPooling(Op):
    TYPE = "grid_pooling"
    OUTPUT = FEATURES

    grid: int = 3

    @classmethod
    def parse(cls, name: str, params: Params) -> GridPooling:
        return cls(name=name, grid=params.int("grid", maximum=MAX_GRID))

    def bands(self, size: int) -> list[Band]:
        """The cells along an axis of `size` texels as at most two runs of equal cells."""
        long, remainder = divmod(size, self.grid)
        runs = [Band(0, remainder, 0, long + 1), Band(remainder, self.grid - remainder,
                                                      remainder * (long + 1), long)]
        return [band for band in runs if band.count]

    def cells(self, size: int) -> list[tuple[int, int]]:
        """(first texel, length) of every cell along an axis of `size` texels."""
        return [(band.start + k * band.size, band.size) for band in self.bands(size)
                for k in range(band.count)]

    def infer_shape(self, inputs: dict[int, Shape]) -> Shape:
        h, w, c = inputs[MAIN]
        if self.grid > min(h, w):
            raise self.error(f"a {self.grid}x{self.grid} grid does not fit the {h}x{w} map")
        taps = -(-h // self.grid) * -(-w // self.grid)
        if taps > MAX_TAPS:
            raise self.error(f"cells of the {h}x{w} map average {taps} texels, more than "
                             f"{MAX_TAPS}: pool a later layer, or a finer grid")
        return (self.grid, self.grid, c)

    @staticmethod
    def scale(count: int) -> float:
        """The averaging factor of a cell of `count` texels, as the kernel's float32 literal."""
        return float(np.float32(1.0 / count))

    def reference(self, inputs: dict[int, np.ndarray], level: str) -> np.ndarray:
        x = inputs[MAIN].astype(np.float64)
        h, w, c = x.shape
        y = np.empty((self.grid, self.grid, c))
        for i, (top, rows) in enumerate(self.cells(h)):
            for j, (left, columns) in enumerate(self.cells(w)):
                window = x[top:top + rows, left:left + columns]
                y[i, j] = (window.mean(axis=(0, 1)) if level == "float" else
                           window.sum(axis=(0, 1)) * self.scale(rows * columns))
        return y if level == "float" else quantize(y)

    # ---- GPU plan -------------------------------------------------------------------------

    def plan(self, builder) -> None:
        """Per band of equal cells (at most four), one rectangle per quad, each fragment one
        cell; then the read-back of the pooled tiles, which lie in one small texture."""
        source, tiles = builder.input(self, MAIN)
        output = builder.output(self)
        h, w, _ = source.shape
        targets = dict.fromkeys(t.texture for t in output.tiles)
        if len(targets) > 1:
            raise self.error(f"its {output.quads} pooled quads do not fit one texture")
        target = builder.texture(next(iter(targets)))
        by_input: dict[str, list[int]] = {}
        for q in range(output.quads):
            by_input.setdefault(tiles[q].texture, []).append(q)
        for input_name, group in by_input.items():
            texture = builder.texture(input_name)
            for rows in self.bands(h):
                for columns in self.bands(w):
                    key = self._program(builder, texture, rows.size, columns.size)
                    rects = [(output.tiles[q].x + columns.first, output.tiles[q].y + rows.first,
                              columns.count, rows.count) for q in group]
                    coords = [[Affine(((tiles[q].x + columns.start + 0.5) / texture.width,
                                       (tiles[q].y + rows.start + 0.5) / texture.height),
                                      (columns.size / texture.width, 0.0),
                                      (0.0, rows.size / texture.height))] for q in group]
                    builder.add_pass(draw(self.name, key, target, rects, coords, (input_name,),
                                          fetches=rows.size * columns.size))
        x0, y0 = min(t.x for t in output.tiles), min(t.y for t in output.tiles)
        x1 = max(t.x for t in output.tiles) + self.grid
        y1 = max(t.y for t in output.tiles) + self.grid
        builder.readback = (target.name, (x0, y0, x1 - x0, y1 - y0))
        places = [(t.x - x0, t.y - y0) for t in output.tiles]
        channels = self.shape[2]

        def decode(texels: np.ndarray) -> np.ndarray:
            quads = [texels[y:y + self.grid, x:x + self.grid] for x, y in places]
            codes = np.concatenate(quads, axis=2)[..., :channels]
            return (codes.reshape(-1).astype(np.float32) / np.float32(255)).astype(np.float32)

        builder.decode = decode

    def _program(self, builder, texture, rows: int, columns: int) -> str:
        key = f"grid_pooling {rows}x{columns} in{texture.width}x{texture.height}"
        if key not in builder.programs:
            taps = [f"    acc += texture2D(uInput, {offset('vCoord0', dx, dy, texture)});"
                    for dy in range(rows) for dx in range(columns) if dx or dy]
            builder.add_program(program(key, "grid_pooling.frag", 1, ("uInput",),
                                        taps="\n".join(taps),
                                        scale=literal(self.scale(rows * columns))))
        return key
