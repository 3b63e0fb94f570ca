"""Folder-per-class picture sets cut from scikit-image's photos, as a fixed camera would see
one scene in a few states: the same background with a different thing in the watched spot."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

WATCHED = (0.3, 0.25, 0.4, 0.5)  # x, y, w, h of the spot that changes, as fractions


def _things() -> dict[str, np.ndarray]:
    import skimage.data as data
    return {"cat": data.chelsea(), "coffee": data.coffee(), "rocket": data.rocket()}


def jpeg(rgb: np.ndarray) -> bytes:
    """A frame as a camera folder or an upload holds it."""
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=85)
    return out.getvalue()


def scene(state: str, rng: np.random.Generator, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """A frame of the state: a brick wall with the thing in the watched spot, jittered."""
    import skimage.data as data
    width, height = size
    wall = np.repeat(data.brick()[..., None], 3, axis=2)
    frame = np.array(Image.fromarray(wall).resize((width, height)), np.float32)
    x, y, w, h = WATCHED
    left, top = int(x * width) + rng.integers(-4, 5), int(y * height) + rng.integers(-4, 5)
    thing = _things()[state]
    crop_h, crop_w = thing.shape[:2]
    zoom = rng.uniform(0.8, 1.0)
    cy = rng.integers(0, int(crop_h * (1 - zoom)) + 1)
    cx = rng.integers(0, int(crop_w * (1 - zoom)) + 1)
    patch = thing[cy:cy + int(crop_h * zoom), cx:cx + int(crop_w * zoom)]
    patch = np.array(Image.fromarray(patch).resize((int(w * width), int(h * height))))
    frame[top:top + patch.shape[0], left:left + patch.shape[1]] = patch[
        : height - top, : width - left]
    frame = frame * rng.uniform(0.7, 1.3) + rng.normal(0, 4, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)


def write_set(root: Path, per_class: int, seed: int,
              states: tuple[str, ...] = ("cat", "coffee", "rocket")) -> Path:
    rng = np.random.default_rng(seed)
    for state in states:
        (root / state).mkdir(parents=True)
        for number in range(per_class):
            Image.fromarray(scene(state, rng)).save(root / state / f"{number:02d}.jpg",
                                                    quality=85)
    return root


def write_camera(folder: Path, states: tuple[str, ...], block: int, seed: int) -> Path:
    """A camera folder (`files:` source, played in a loop): `block` frames of each state in
    turn."""
    rng = np.random.default_rng(seed)
    for number in range(len(states) * block):
        state = states[number // block]
        (folder / f"{number:03d}-{state}.jpg").write_bytes(jpeg(scene(state, rng)))
    return folder


def teach_over_api(http, name: str, states: tuple[str, ...], region: tuple[float, ...],
                   rng: np.random.Generator, per_class: int = 4) -> list[dict]:
    """Makes the taught classifier `name` over a running service's API (an authorised httpx
    client) and uploads `per_class` fresh scenes of each state; returns the answers in order
    (the creation's first)."""
    made = http.post("/api/teach", json={"name": name, "classes": list(states),
                                         "region": list(region)})
    assert made.status_code == 201, made.text
    answers = [made.json()]
    for state in states:
        for _ in range(per_class):
            added = http.post(f"/api/teach/{name}/examples", params={"label": state},
                              files={"file": ("x.jpg", jpeg(scene(state, rng)), "image/jpeg")})
            assert added.status_code == 201, added.text
            answers.append(added.json())
    return answers
