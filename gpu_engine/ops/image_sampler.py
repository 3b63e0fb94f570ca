"""image_sampler: centre-crop and corner-aligned bilinear resize of the camera image (§3.2),
or, per frame, a region of it (fractions of the frame) stretched to the input in its place."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gpu_engine.ops.base import IMAGE, Op, Params, Shape, quantize
from gpu_engine.ops.kernel import draw, program
from gpu_engine.plan import FRAME
from gpu_engine.profile import VC4_GLES2


@dataclass
class ImageSampler(Op):
    TYPE = "image_sampler"
    INPUTS = ()
    OUTPUT = IMAGE

    width: int = 0
    height: int = 0
    center_crop: bool = True
    linear: bool = True

    @classmethod
    def parse(cls, name: str, params: Params) -> ImageSampler:
        return cls(name=name,
                   width=params.int("output_width", maximum=VC4_GLES2.max_texture_size),
                   height=params.int("output_height", maximum=VC4_GLES2.max_texture_size),
                   center_crop=params.bool("center_crop", True),
                   linear=params.bool("linear_interp", True))

    def infer_shape(self, inputs: dict[int, Shape]) -> Shape:
        return (self.height, self.width, 3)

    def crop(self, width: int, height: int,
             region: Region | None = None) -> tuple[float, float, float, float]:
        """Crop rectangle (x0, y0, x1, y1) in source pixel-centre coordinates: the centre crop
        (or the whole frame), or `region` snapped to whole pixels, so that a region reads the
        same pixels as cropping the frame to it would, and positions stay exact in float32."""
        if region is not None:
            x, y, w, h = check_region(region)
            x0, y0 = min(round(x * width), width - 1), min(round(y * height), height - 1)
            x1 = max(x0, min(round((x + w) * width), width) - 1)
            y1 = max(y0, min(round((y + h) * height), height) - 1)
            return float(x0), float(y0), float(x1), float(y1)
        mx = my = 0.0
        if self.center_crop:
            if width * self.height > height * self.width:
                mx = (width - height * self.width / self.height) / 2
            else:
                my = (height - width * self.height / self.width) / 2
        return mx, my, width - 1 - mx, height - 1 - my

    def positions(self, width: int, height: int,
                  region: Region | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Source x for every output column and y for every output row."""
        x0, y0, x1, y1 = self.crop(width, height, region)
        xs = x0 + np.arange(self.width) * ((x1 - x0) / max(self.width - 1, 1))
        ys = y0 + np.arange(self.height) * ((y1 - y0) / max(self.height - 1, 1))
        return xs, ys

    def reference(self, image: np.ndarray, level: str,
                  region: Region | None = None) -> np.ndarray:
        """Resample an RGB(A) uint8 image (or its `region`) to the output size; values in
        [0, 1]."""
        rgb = image[..., :3].astype(np.float64) / 255.0
        height, width = rgb.shape[:2]
        xs, ys = self.positions(width, height, region)
        out = np.stack([_bilinear(rgb[..., c], xs, ys, self.linear) for c in range(3)], axis=-1)
        return out if level == "float" else quantize(out)

    def reference_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray,
                         level: str, region: Region | None = None) -> np.ndarray:
        """The sampler on a YUV420 frame: Y, U, V interpolated at their own sites, then RGB."""
        height, width = y.shape
        xs, ys = self.positions(width, height, region)
        planes = []
        for plane, factor in ((y, 1.0), (u, 0.5), (v, 0.5)):
            px = (xs + 0.5) * factor - 0.5  # chroma sites sit between luma pairs (JPEG)
            py = (ys + 0.5) * factor - 0.5
            planes.append(_bilinear(plane.astype(np.float64) / 255.0, px, py, self.linear))
        out = yuv_to_rgb(*planes)
        return out if level == "float" else quantize(out)

    # ---- GPU plan -------------------------------------------------------------------------

    def plan(self, builder) -> None:
        """One pass per frame format, drawn per frame; frame-size params come per frame."""
        output = builder.output(self)
        target = builder.texture(output.tiles[0].texture)
        defines = (("LINEAR", int(self.linear)),)
        fetches = 4 if self.linear else 1
        for kind, kernel, samplers in (("rgb", "image_rgb.frag", ("uImage",)),
                                       ("yuv420", "image_yuv420.frag",
                                        ("uLuma", "uChromaU", "uChromaV"))):
            key = f"{kernel} linear{int(self.linear)}"
            builder.add_program(program(key, kernel, 0, samplers, params=3, defines=defines))
            gpu_pass = draw(self.name, key, target, [output.rect(0)], [[]],
                            tuple(f"{FRAME}:{n}" for n in range(len(samplers))),
                            fetches=fetches * len(samplers))
            builder.frame_passes[kind] = gpu_pass
            target.target = True
        origin = output.tiles[0]
        builder.frame_params = lambda width, height, region=None: self.frame_params(
            width, height, (origin.x, origin.y), region)

    def frame_params(self, width: int, height: int, origin: tuple[int, int],
                     region: Region | None = None) -> np.ndarray:
        """Positions as numerator / (output size − 1), exact in float32 for centred crops and
        regions (whole pixels); a region is only other values of the same uniforms."""
        x0, y0, x1, y1 = self.crop(width, height, region)
        dx, dy = max(self.width - 1, 1), max(self.height - 1, 1)
        return np.array([[x0 * dx, y0 * dy, x1 - x0, y1 - y0], [dx, dy, width, height],
                         [origin[0], origin[1], 0, 0]], np.float32)


Region = tuple[float, float, float, float]  # x, y, width, height as fractions of the frame


def check_region(region: Region) -> Region:
    """A region as four floats, or a ValueError saying what is wrong with it."""
    try:
        x, y, w, h = (float(v) for v in region)
    except (TypeError, ValueError):
        raise ValueError(f"a region is four numbers (x, y, width, height as fractions of the "
                         f"frame), not {region!r}") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError(f"region {region!r} has a value that is not a finite number")
    if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > 1 + 1e-9 or y + h > 1 + 1e-9:
        raise ValueError(f"region {region!r} does not lie within the frame: x, y >= 0, "
                         f"width, height > 0, x + width <= 1, y + height <= 1")
    return x, y, w, h


# Full-range BT.601 (the JPEG/sYCC matrix libcamera uses for the Pi camera's YUV420 streams).
YUV_TO_RGB = np.array([[1.0, 0.0, 1.402],
                       [1.0, -0.344136, -0.714136],
                       [1.0, 1.772, 0.0]])


def yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    yuv = np.stack([y, u - 0.5, v - 0.5], axis=-1)
    return np.clip(yuv @ YUV_TO_RGB.T, 0.0, 1.0)


def _bilinear(plane: np.ndarray, xs: np.ndarray, ys: np.ndarray, linear: bool) -> np.ndarray:
    """Sample a 2-D plane at columns xs and rows ys with clamp-to-edge."""
    height, width = plane.shape
    if not linear:
        cx = np.clip(np.floor(xs + 0.5).astype(int), 0, width - 1)
        cy = np.clip(np.floor(ys + 0.5).astype(int), 0, height - 1)
        return plane[cy][:, cx]
    fx, fy = xs - np.floor(xs), ys - np.floor(ys)
    left, up = np.floor(xs).astype(int), np.floor(ys).astype(int)
    x0, x1 = np.clip(left, 0, width - 1), np.clip(left + 1, 0, width - 1)
    y0, y1 = np.clip(up, 0, height - 1), np.clip(up + 1, 0, height - 1)
    top = plane[y0][:, x0] * (1 - fx) + plane[y0][:, x1] * fx
    bottom = plane[y1][:, x0] * (1 - fx) + plane[y1][:, x1] * fx
    return top * (1 - fy)[:, None] + bottom * fy[:, None]
