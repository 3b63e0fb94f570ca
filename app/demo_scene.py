"""Procedural pictures of coloured shapes: what the demo camera shows and the demo model learns.

One shape (the class) on a varied background: a gradient, stripes or a checkerboard, with a
little noise. The same drawing code renders training samples and animated camera frames, so
the built-in demo model sees on the live page exactly the kind of picture it was trained on.
Pure NumPy and cheap: a frame's background is cached per scene, each frame only redraws the
shape's bounding box.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

CLASSES = ["circle", "square", "triangle", "star", "ring", "cross", "crescent", "heart"]
SCENE_SECONDS = 3.0  # how long the animated camera shows one shape
_SCENE_SEED = 20240527


@dataclass(frozen=True)
class Scene:
    """Everything that defines one picture; positions in units of half the central square."""

    shape: int
    center: tuple[float, float]
    radius: float
    angle: float
    colour: tuple[float, float, float]
    background: int  # 0 gradient, 1 radial, 2 stripes, 3 checkerboard
    colours: tuple[tuple[float, float, float], tuple[float, float, float]]
    pattern_angle: float
    pattern_scale: float
    noise: float
    seed: int


def _random_scene(rng: np.random.Generator, shape: int) -> Scene:
    base = rng.uniform(0.0, 1.0, 3)
    second = np.clip(base + rng.uniform(-0.3, 0.3, 3), 0.0, 1.0)
    while True:  # the shape must stand out from the background it sits on
        colour = rng.uniform(0.0, 1.0, 3)
        if np.linalg.norm(colour - (base + second) / 2) > 0.5:
            break
    radius = rng.uniform(0.4, 0.75)
    reach = 0.95 - radius
    return Scene(shape=shape, center=tuple(rng.uniform(-reach, reach, 2)), radius=radius,
                 angle=rng.uniform(0.0, 2 * math.pi), colour=tuple(colour),
                 background=int(rng.integers(4)), colours=(tuple(base), tuple(second)),
                 pattern_angle=rng.uniform(0.0, math.pi), pattern_scale=rng.uniform(3.0, 9.0),
                 noise=rng.uniform(0.0, 0.05), seed=int(rng.integers(2**31)))


@lru_cache(maxsize=8)
def _axes(width: int, height: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Pixel-centre coordinates along x and y, the central square spanning [-1, 1]."""
    half = min(width, height) / 2
    xs = ((np.arange(width, dtype=np.float32) + 0.5) - width / 2) / half
    ys = ((np.arange(height, dtype=np.float32) + 0.5) - height / 2) / half
    return xs, ys, half


def _background(scene: Scene, width: int, height: int) -> np.ndarray:
    xs, ys, _ = _axes(width, height)
    c, s = math.cos(scene.pattern_angle), math.sin(scene.pattern_angle)
    along = xs[None, :] * c + ys[:, None] * s
    if scene.background == 0:
        mix = np.clip(along * 0.5 + 0.5, 0.0, 1.0)
    elif scene.background == 1:
        mix = np.clip(np.hypot(xs[None, :], ys[:, None]) * 0.7, 0.0, 1.0)
    elif scene.background == 2:
        mix = (np.sin(along * scene.pattern_scale * math.pi) > 0).astype(np.float32)
    else:
        across = ys[:, None] * c - xs[None, :] * s
        mix = ((np.floor(along * scene.pattern_scale / 2)
                + np.floor(across * scene.pattern_scale / 2)) % 2).astype(np.float32)
    first, second = (np.asarray(colour, np.float32) for colour in scene.colours)
    image = first + mix[..., None] * (second - first)
    if scene.noise:
        rng = np.random.default_rng(scene.seed)
        image += rng.normal(0.0, scene.noise, image.shape).astype(np.float32)
    return np.clip(image * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)


def _distance(shape: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed distance-like value in the shape's frame (radius 1, y up): negative inside."""
    r = np.hypot(x, y)
    if shape == 0:  # circle
        return r - 1.0
    if shape == 1:  # square
        return np.maximum(np.abs(x), np.abs(y)) - 0.8
    if shape == 2:  # triangle, corners on the unit circle
        normals = [-math.pi / 2 + k * 2 * math.pi / 3 for k in range(3)]
        edges = [x * math.cos(a) + y * math.sin(a) for a in normals]
        return np.maximum(np.maximum(edges[0], edges[1]), edges[2]) - 0.5
    if shape == 3:  # five-pointed star
        phase = (np.arctan2(x, y) * (5 / (2 * math.pi))) % 1.0
        return r - (0.42 + 0.58 * np.abs(2 * phase - 1) ** 1.5)
    if shape == 4:  # ring
        return np.abs(r - 0.72) - 0.25
    if shape == 5:  # cross
        ax, ay = np.abs(x), np.abs(y)
        return np.minimum(np.maximum(ax - 0.95, ay - 0.3), np.maximum(ax - 0.3, ay - 0.95))
    if shape == 6:  # crescent: a disc with an offset disc cut out
        return np.maximum(r - 1.0, 0.78 - np.hypot(x - 0.5, y - 0.15))
    # heart: two lobes resting on the upper sides of a diamond whose tip points down
    lobes = np.minimum(np.hypot(x + 0.42, y - 0.28), np.hypot(x - 0.42, y - 0.28)) - 0.5
    diamond = (np.abs(x) + np.abs(y - 0.2) - 1.2) * 0.7071
    return np.minimum(lobes, np.where(y < 0.28, diamond, 1.0))


def _draw_shape(image: np.ndarray, scene: Scene, center: tuple[float, float], radius: float,
                angle: float) -> None:
    """Paint the scene's shape, anti-aliased, into `image` in place (only its bounding box)."""
    height, width = image.shape[:2]
    xs, ys, half = _axes(width, height)
    cx, cy = width / 2 + center[0] * half, height / 2 + center[1] * half
    reach = radius * half * 1.05 + 2
    x0, x1 = max(0, int(cx - reach)), min(width, int(cx + reach) + 1)
    y0, y1 = max(0, int(cy - reach)), min(height, int(cy + reach) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    dx = (xs[x0:x1] - center[0])[None, :] / radius
    dy = (ys[y0:y1] - center[1])[:, None] / radius
    c, s = math.cos(angle), math.sin(angle)
    local_x = dx * c + dy * s
    local_y = dx * s - dy * c  # image rows grow downwards, the shape's y up
    coverage = np.clip(0.5 - _distance(scene.shape, local_x, local_y) * radius * half, 0.0, 1.0)
    region = image[y0:y1, x0:x1].astype(np.float32)
    colour = np.asarray(scene.colour, np.float32) * 255.0
    region += coverage[..., None] * (colour - region)
    image[y0:y1, x0:x1] = (region + 0.5).astype(np.uint8)


def random_sample(rng: np.random.Generator, size: int) -> tuple[np.ndarray, int]:
    """One training picture (size×size×3 uint8) of a random shape, and its class index."""
    shape = int(rng.integers(len(CLASSES)))
    scene = _random_scene(rng, shape)
    image = _background(scene, size, size)
    _draw_shape(image, scene, scene.center, scene.radius, scene.angle)
    return image, shape


def class_at(t: float) -> int:
    """The class the animated demo camera shows at time `t` seconds."""
    return int(t // SCENE_SECONDS) % len(CLASSES)


@lru_cache(maxsize=2)
def _scene_frame(index: int, width: int, height: int) -> tuple[Scene, np.ndarray]:
    rng = np.random.default_rng([_SCENE_SEED, index])
    scene = _random_scene(rng, index % len(CLASSES))
    return scene, _background(scene, width, height)


def render_scene(t: float, width: int, height: int) -> np.ndarray:
    """Frame `t` seconds into the demo camera's loop: a new shape every few seconds, drifting
    and turning over its background, always inside the central square the model looks at."""
    index = int(t // SCENE_SECONDS)
    scene, background = _scene_frame(index, width, height)
    phase = t - index * SCENE_SECONDS
    reach = 0.95 - scene.radius
    center = (min(reach, max(-reach, scene.center[0] + 0.12 * math.sin(1.3 * phase))),
              min(reach, max(-reach, scene.center[1] + 0.12 * math.sin(0.9 * phase))))
    frame = background.copy()
    _draw_shape(frame, scene, center, scene.radius, scene.angle + 0.35 * phase)
    return frame
