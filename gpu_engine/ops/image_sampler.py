"""image_sampler: centre-crop and corner-aligned bilinear resize of the camera image (§3.2)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_engine.ops.base import Op, Params, Shape, quantize

MAX_OUTPUT = 2048


@dataclass
class ImageSampler(Op):
    TYPE = "image_sampler"
    INPUTS = ()

    width: int = 0
    height: int = 0
    center_crop: bool = True
    linear: bool = True

    @classmethod
    def parse(cls, name: str, params: Params) -> ImageSampler:
        return cls(name=name,
                   width=params.int("output_width", maximum=MAX_OUTPUT),
                   height=params.int("output_height", maximum=MAX_OUTPUT),
                   center_crop=params.bool("center_crop", True),
                   linear=params.bool("linear_interp", True))

    def infer_shape(self, inputs: dict[int, Shape]) -> Shape:
        return (self.height, self.width, 3)

    def crop(self, width: int, height: int) -> tuple[float, float, float, float]:
        """Crop rectangle (x0, y0, x1, y1) in source pixel-centre coordinates."""
        mx = my = 0.0
        if self.center_crop:
            if width * self.height > height * self.width:
                mx = (width - height * self.width / self.height) / 2
            else:
                my = (height - width * self.height / self.width) / 2
        return mx, my, width - 1 - mx, height - 1 - my

    def positions(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Source x for every output column and y for every output row."""
        x0, y0, x1, y1 = self.crop(width, height)
        xs = x0 + np.arange(self.width) * ((x1 - x0) / max(self.width - 1, 1))
        ys = y0 + np.arange(self.height) * ((y1 - y0) / max(self.height - 1, 1))
        return xs, ys

    def reference(self, image: np.ndarray, level: str) -> np.ndarray:
        """Resample an RGB(A) uint8 image to the output size; values in [0, 1]."""
        rgb = image[..., :3].astype(np.float64) / 255.0
        height, width = rgb.shape[:2]
        xs, ys = self.positions(width, height)
        if self.linear:
            fx, fy = xs - np.floor(xs), ys - np.floor(ys)
            cx0 = np.clip(np.floor(xs).astype(int), 0, width - 1)
            cy0 = np.clip(np.floor(ys).astype(int), 0, height - 1)
            cx1 = np.clip(cx0 + 1, 0, width - 1)
            cy1 = np.clip(cy0 + 1, 0, height - 1)
            top = rgb[cy0][:, cx0] * (1 - fx)[None, :, None] + rgb[cy0][:, cx1] * fx[None, :, None]
            bottom = (rgb[cy1][:, cx0] * (1 - fx)[None, :, None]
                      + rgb[cy1][:, cx1] * fx[None, :, None])
            out = top * (1 - fy)[:, None, None] + bottom * fy[:, None, None]
        else:
            cx = np.clip(np.floor(xs + 0.5).astype(int), 0, width - 1)
            cy = np.clip(np.floor(ys + 0.5).astype(int), 0, height - 1)
            out = rgb[cy][:, cx]
        return out if level == "float" else quantize(out)
