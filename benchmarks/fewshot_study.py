"""Which descriptor of the dog classifier lets a taught head learn a fixed camera's states?

    python benchmarks/fewshot_study.py [--jobs 2] [--runs region/193/gles2,...] [--seeds 3]
                                       [--shots 10] [--test 40] [--json FILE]

Builds state tasks from scikit-image's photos the way a fixed camera sees them (a parcel on a
shelf: present/absent/moved; a door: closed/open/ajar; who is at a flap: cat/person/nobody),
with camera nuisances (exposure, gamma, noise, blur, JPEG, small shifts and zoom, passers-by
hiding up to a quarter of the watched region). Every frame goes through the engine's NumPy
reference (level 'gles2': the 8-bit codes the GPU stores and reads back; level 'float' to see
what the quantization costs), whole frame (centre square) or with the region cropped and
stretched to the model's input, at 385x385 and at 193x193. Candidate descriptors are
grid-pooled maps of the later layers; each is scored with the head of app/teach/head.py and
with nearest-class-mean, `shots` examples per class, on `test` unseen frames per class, for
several random splits of each task's frames. Prints markdown tables (docs/TEACH.md).

The pooled maps are cached per frame under ~/.cache/shadercam/fewshot (about 300 MB); a first
run takes about 40 minutes of one core (2,700 frames), a second one a few minutes.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import io
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.teach.head import HeadSettings, fit  # noqa: E402
from gpu_engine.errors import ModelError  # noqa: E402
from gpu_engine.model import Model, load_model  # noqa: E402
from gpu_engine.ops import activation  # noqa: E402
from gpu_engine.ops.base import MAIN, RESIDUAL, quantize  # noqa: E402
from gpu_engine.ops.conv2d import Conv2D  # noqa: E402
from gpu_engine.reference import op_inputs  # noqa: E402

DOG_MODEL = ROOT.parent / "shared" / "models" / "dog_classifier.chunks"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "shadercam" / "fewshot"
VERSION = "1"                       # bump when the frames or the cached maps change
FRAME_H, FRAME_W = 480, 640         # the camera's inference stream
LAYERS = ("b3-scale", "b4-stage4-dw", "b4-scale", "b5-stage5-dw", "b5-scale", "b6-conv",
          "b7-pool")
GRIDS = (1, 2, 3, 4)
RUNS = ("region/193/gles2", "region/385/gles2", "whole/193/gles2", "region/193/float",
        "whole/385/gles2", "region/385/float")
DEFAULT = "b3-scale 3x3"   # the descriptor docs/TEACH.md chose

# (x, y, width, height) in frame pixels: the region the user draws around what is watched.
TASKS = {
    "parcel": (("present", "absent", "moved"), (200, 230, 300, 170)),
    "door": (("closed", "open", "ajar"), (250, 170, 140, 270)),
    "flap": (("cat", "person", "nobody"), (220, 160, 200, 200)),
}


# ---- photos and scenes ------------------------------------------------------------------------

def photos() -> dict[str, np.ndarray]:
    """scikit-image's photos as float RGB in [0, 1] (grey ones tinted where they are material)."""
    import skimage.data as data
    rgb = {name: getattr(data, name)().astype(np.float64) / 255.0
           for name in ("astronaut", "coffee", "chelsea", "rocket")}
    grey = {name: getattr(data, name)().astype(np.float64) / 255.0
            for name in ("brick", "gravel", "grass", "camera")}
    rgb["wood"] = grey["grass"][..., None] * 0.5 * np.array([1.0, 0.65, 0.35]) + \
        np.array([0.3, 0.17, 0.07])
    rgb["cardboard"] = grey["gravel"][..., None] * 0.35 * np.array([1.0, 0.8, 0.55]) + \
        np.array([0.45, 0.33, 0.2])
    rgb["wall"] = grey["brick"][..., None] * np.array([0.95, 0.8, 0.7])
    rgb["room"] = np.repeat(grey["camera"][..., None] * 0.3, 3, axis=2)
    return rgb


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    pil = Image.fromarray(np.uint8(np.clip(image, 0, 1) * 255 + 0.5))
    return np.asarray(pil.resize((width, height), Image.BILINEAR), np.float64) / 255.0


def paste(canvas: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """Paste `patch` with its top-left at (x, y), clipped to the canvas."""
    h, w = patch.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, canvas.shape[1]), min(y + h, canvas.shape[0])
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = patch[y0 - y:y1 - y, x0 - x:x1 - x]


def door_panel(panel: np.ndarray, room: np.ndarray, opening: float) -> np.ndarray:
    """The door's frame seen from the front: the panel swung open by `opening` (0 closed,
    1 wide open) about its left hinge, in perspective (its free edge grows as it nears the
    camera), with the dark room showing where the panel no longer covers."""
    h, w = panel.shape[:2]
    out = room.copy()
    visible = max(1.0 - opening * 0.85, 0.02)        # projected width fraction
    grow = 0.25 * opening                             # the free edge is nearer: taller
    for column in range(int(round(w * visible))):
        u = column / (w * visible)                    # where on the panel this column is
        source_x = min(int(u * w), w - 1)
        height = h * (1.0 + grow * u)
        top = (h - height) / 2
        rows = np.arange(h)
        source_y = ((rows - top) / height * h).astype(int)
        inside = (source_y >= 0) & (source_y < h)
        out[rows[inside], column] = panel[source_y[inside], source_x]
    return out


def scene(task: str, state: str, rng: np.random.Generator, p: dict[str, np.ndarray]) -> np.ndarray:
    """What is in front of the camera (before the camera's own nuisances)."""
    if task == "parcel":
        frame = resize(p["coffee"], FRAME_W, FRAME_H)
        box = resize(p["cardboard"][100:300, 50:300], 110, 90)
        box[40:50] = box[40:50] * 0.4 + 0.5          # a band of tape
        jitter = rng.integers(-6, 7, 2)
        if state != "absent":
            x = 230 if state == "present" else 370
            paste(frame, box, x + jitter[0], 290 + jitter[1])
    elif task == "door":
        frame = resize(p["wall"], FRAME_W, FRAME_H)
        panel = resize(p["wood"][:400, :200], 120, 250)
        panel[120:135, 95:108] = 0.15                # the handle
        opening = {"closed": 0.0, "ajar": rng.uniform(0.3, 0.45),
                   "open": rng.uniform(0.85, 1.0)}[state]
        room = resize(p["room"][100:400, 200:350], 120, 250)
        paste(frame, door_panel(panel, room, opening), 260, 180)
    else:
        frame = resize(p["wall"], FRAME_W, FRAME_H)
        flap = resize(p["room"][200:400, 250:450], 180, 180) * 0.6 + 0.05
        if state != "nobody":
            source = (p["chelsea"][20:280, 80:340] if state == "cat"
                      else p["astronaut"][0:260, 110:370])
            size = int(rng.uniform(150, 185))
            face = resize(source[:, ::-1] if rng.random() < 0.5 else source, size, size)
            paste(flap, face, int(rng.integers(-15, 16)) + (180 - size) // 2,
                  int(rng.integers(-10, 25)))
        paste(frame, flap, 230, 170)
    return frame


def passer_by(frame: np.ndarray, region: tuple[int, int, int, int], rng: np.random.Generator,
              p: dict[str, np.ndarray]) -> None:
    """Someone or something in front of the region, hiding up to a quarter of it."""
    x, y, w, h = region
    area = rng.uniform(0.05, 0.25) * w * h
    aspect = rng.uniform(0.5, 2.0)
    pw, ph = int(np.sqrt(area * aspect)), int(np.sqrt(area / aspect))
    source = p[str(rng.choice(["astronaut", "rocket", "coffee", "chelsea"]))]
    sy = int(rng.integers(0, source.shape[0] - 64))
    sx = int(rng.integers(0, source.shape[1] - 64))
    patch = resize(source[sy:sy + 64 + int(rng.integers(0, 200)),
                          sx:sx + 64 + int(rng.integers(0, 200))], max(pw, 8), max(ph, 8))
    paste(frame, patch, x + int(rng.integers(0, max(w - pw, 1))),
          y + int(rng.integers(0, max(h - ph, 1))))


def camera(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The camera's nuisances: shake (shift, zoom), exposure, gamma, blur, noise, JPEG."""
    shift = rng.uniform(-0.02, 0.02, 2) * (FRAME_W, FRAME_H)
    zoom = rng.uniform(0.97, 1.03)
    cx, cy = FRAME_W / 2, FRAME_H / 2
    affine = (1 / zoom, 0, cx - (cx + shift[0]) / zoom, 0, 1 / zoom, cy - (cy + shift[1]) / zoom)
    image = Image.fromarray(np.uint8(np.clip(frame, 0, 1) * 255 + 0.5))
    image = image.transform(image.size, Image.AFFINE, affine, Image.BILINEAR)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.2)))
    x = np.asarray(image, np.float64) / 255.0
    x = np.clip(x * rng.uniform(0.6, 1.5), 0, 1) ** rng.uniform(0.7, 1.4)
    x = np.clip(x + rng.normal(0, rng.uniform(0.0, 0.03), x.shape), 0, 1)
    buffer = io.BytesIO()
    Image.fromarray(np.uint8(x * 255 + 0.5)).save(buffer, "JPEG",
                                                  quality=int(rng.integers(40, 91)))
    return np.asarray(Image.open(buffer).convert("RGB"))


def frames(task: str, state: str, count: int, p: dict[str, np.ndarray]) -> list[np.ndarray]:
    """`count` camera frames (uint8 RGB) of one state, the same on every run."""
    seed = int.from_bytes(hashlib.sha256(f"{task}/{state}".encode()).digest()[:4], "little")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        frame = scene(task, state, rng, p)
        if rng.random() < 0.5:
            passer_by(frame, TASKS[task][1], rng, p)
        out.append(camera(frame, rng))
    return out


# ---- the engine's reference, up to the candidate layers ----------------------------------------

def variant(model: Model, size: int, region: bool) -> Model:
    """The model at input `size`; with a region the sampler stretches the crop to the input
    (as the GPU path would), whole frames keep its centre crop. Ops whose window no longer fits
    (b6/b7 below 385) are left off."""
    m = copy.deepcopy(model)
    m.sampler.width = m.sampler.height = size
    m.sampler.center_crop = not region
    shapes, kept = {}, []
    for op in m.ops:
        try:
            op.shape = op.infer_shape({s: shapes[c.source] for s, c in op.inputs.items()})
        except ModelError:
            break
        shapes[op.name] = op.shape
        kept.append(op)
        if op.name == LAYERS[-1]:
            break
    m.ops = kept
    return m


def conv_reference(op: Conv2D, inputs: dict[int, np.ndarray], level: str) -> np.ndarray:
    """Conv2D.reference with its per-tap sums as array products, about three times faster: the
    same products summed in the same tap order (main() checks the codes agree on one frame)."""
    if not (op.depthwise or op.groups == 1):
        return op.reference(inputs, level)
    windows = op.windows(inputs[MAIN].astype(np.float64))
    weights = op.effective_weights().astype(np.float64)
    z = np.zeros(windows[0].shape[:2] + (op.out_channels,))
    for tap, window in enumerate(windows):
        dy, dx = divmod(tap, op.kernel)
        z += window * weights[dy, dx, 0] if op.depthwise else window @ weights[dy, dx]
    if RESIDUAL in inputs:
        z += inputs[RESIDUAL]
    z += op.effective_bias().astype(np.float64)
    y = activation.apply(op.activation, z)
    return y if level == "float" else quantize(y)


def run_ops(model: Model, image: np.ndarray, level: str, fast: bool) -> dict[str, np.ndarray]:
    """Every op's output, as gpu_engine.reference.run computes it."""
    outputs = {model.ops[0].name: model.sampler.reference(image, level)}
    for index, op in enumerate(model.ops[1:], start=1):
        inputs = op_inputs(model, index, outputs)
        outputs[op.name] = (conv_reference(op, inputs, level) if fast and isinstance(op, Conv2D)
                            else op.reference(inputs, level))
    return outputs


def check_fast_path(model: Model, image: np.ndarray) -> None:
    """The study's faster convolutions give the reference's codes on a real frame."""
    fast, exact = (run_ops(model, image, "gles2", f) for f in (True, False))
    worst = max(np.count_nonzero(fast[k] != exact[k]) for k in exact)
    if worst:
        raise SystemExit(f"the fast convolutions differ from the reference in {worst} codes")


def grid_pool(tensor: np.ndarray, grid: int) -> np.ndarray:
    """Average over a grid x grid split of the map (as even as the size allows), flattened."""
    h, w, _ = tensor.shape
    rows = np.array_split(np.arange(h), min(grid, h))
    cols = np.array_split(np.arange(w), min(grid, w))
    return np.concatenate([tensor[r[0]:r[-1] + 1, c[0]:c[-1] + 1].mean(axis=(0, 1))
                           for r in rows for c in cols])


def maps(model: Model, image: np.ndarray, level: str) -> dict[str, np.ndarray]:
    """Grid-pooled candidate layers of one image, by 'layer/grid'."""
    outputs = run_ops(model, image, level, fast=True)
    pooled = {}
    for op in model.ops[1:]:
        if op.name in LAYERS:
            for grid in GRIDS:
                if grid <= op.shape[0]:
                    pooled[f"{op.name}/{grid}"] = grid_pool(outputs[op.name], grid)
    return pooled


_MODELS: dict = {}


def cache_path(task: str, state: str, index: int, view: str, size: int, level: str) -> Path:
    return CACHE / f"v{VERSION}-{task}-{state}-{index:03d}-{view}-{size}-{level}.npz"


def compute(job: tuple) -> None:
    """Run the reference on one frame and cache its pooled maps (one job of the pool)."""
    task, state, index, frame, (view, size, level) = job
    if "base" not in _MODELS:
        _MODELS["base"] = load_model(DOG_MODEL)
    if (size, view) not in _MODELS:
        _MODELS[size, view] = variant(_MODELS["base"], size, view == "region")
    if view == "region":
        x, y, w, h = TASKS[task][1]
        frame = frame[y:y + h, x:x + w]
    pooled = maps(_MODELS[size, view], frame, level)
    path = cache_path(task, state, index, view, size, level)
    temporary = path.with_suffix(f".{os.getpid()}.npz")
    np.savez(temporary, **{k.replace("/", "|"): v.astype(np.float32) for k, v in pooled.items()})
    os.replace(temporary, path)


def cached(task: str, state: str, index: int, run: tuple) -> dict[str, np.ndarray]:
    with np.load(cache_path(task, state, index, *run)) as stored:
        return {k.replace("|", "/"): stored[k] for k in stored.files}


# ---- descriptors and scoring -----------------------------------------------------------------

def descriptor(pooled: dict[str, np.ndarray], name: str, requantize: bool) -> np.ndarray | None:
    """'b4-scale 3x3 + b7-pool' from the pooled maps; None when a part is missing. With
    `requantize` the pooled values are stored as 8-bit codes, as a GPU pooling pass would."""
    parts = []
    for part in name.split(" + "):
        layer, _, grid = part.partition(" ")
        key = f"{layer}/{grid.split('x')[0] if grid else 1}"
        if key not in pooled:
            return None
        parts.append(pooled[key])
    x = np.concatenate(parts).astype(np.float64)
    return np.floor(x * 255 + 0.5) / 255 if requantize else x


def nearest_mean(train: np.ndarray, y: np.ndarray, test: np.ndarray) -> np.ndarray:
    mean, scale = train.mean(0), np.maximum(train.std(0), 1 / 255)
    a, b = (train - mean) / scale, (test - mean) / scale
    centres = np.stack([a[y == c].mean(0) for c in range(y.max() + 1)])
    return np.argmin(((b[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)


def score(x: np.ndarray, y: np.ndarray, shots: int, test: int, seeds: int,
          settings: HeadSettings) -> dict[str, float]:
    """Mean held-out top-1 of the head and of nearest-class-mean over `seeds` random splits."""
    results = {"head": [], "ncm": [], "cv": [], "prob": [], "unknown": []}
    classes = y.max() + 1
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        train, held = [], []
        for c in range(classes):
            members = rng.permutation(np.flatnonzero(y == c))
            train += list(members[:shots])
            held += list(members[shots:shots + test])
        head, report = fit(x[train], [str(v) for v in y[train]], [str(c) for c in range(classes)],
                           settings)
        p = head.probabilities(x[held])
        results["head"].append(np.mean(np.argmax(p, 1) == y[held]))
        results["prob"].append(np.median(p.max(1)))
        results["unknown"].append(np.mean(p.max(1) < settings.threshold))
        results["cv"].append(report.accuracy)
        results["ncm"].append(np.mean(nearest_mean(x[train], y[train], x[held]) == y[held]))
    return {k: float(np.mean(v)) for k, v in results.items()}


CANDIDATES = [f"{layer} {g}x{g}" if g > 1 else layer
              for layer in LAYERS for g in GRIDS if not (layer == "b7-pool" and g > 1)
              and not (layer == "b6-conv" and g > 3)]
COMBOS = ["b4-scale 2x2 + b5-scale", "b4-scale 3x3 + b7-pool", "b5-scale 2x2 + b7-pool",
          "b3-scale 2x2 + b5-scale 2x2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--test", type=int, default=40)
    parser.add_argument("--runs", default=",".join(RUNS),
                        help="view/size/level of each run (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=1, help="processes running the reference")
    parser.add_argument("--json", type=Path, help="also write every score here")
    args = parser.parse_args()
    per_class = args.shots + args.test
    started = time.time()
    p = photos()
    runs = [tuple(int(v) if v.isdigit() else v for v in run.split("/"))
            for run in args.runs.split(",")]
    missing = [(task, state, i, run) for run in runs for task, (states, _) in TASKS.items()
               for state in states for i in range(per_class)
               if not cache_path(task, state, i, *run).exists()]
    print(f"# {len(missing)} frames to run through the reference", file=sys.stderr)
    if missing:
        states_frames = {(task, state): frames(task, state, per_class, p)
                         for task, state in dict.fromkeys((m[0], m[1]) for m in missing)}
        check_fast_path(variant(load_model(DOG_MODEL), 193, True),
                        frames("door", "ajar", 1, p)[0][170:440, 250:390])
        CACHE.mkdir(parents=True, exist_ok=True)
        jobs = [(task, state, i, states_frames[task, state][i], run)
                for task, state, i, run in missing]
        with multiprocessing.Pool(args.jobs) as pool:
            for done, _ in enumerate(pool.imap(compute, jobs, chunksize=2), start=1):
                if done % 50 == 0:
                    print(f"# {done}/{len(jobs)} after {time.time() - started:.0f} s",
                          file=sys.stderr)
    data = {}
    for task, (states, _) in TASKS.items():
        for run in runs:
            rows = [cached(task, state, i, run) for state in states for i in range(per_class)]
            data[task, run] = (rows, np.repeat(np.arange(len(states)), per_class))

    settings = HeadSettings()
    scores = {}
    for (task, run), (rows, y) in data.items():
        for name in CANDIDATES + COMBOS:
            for requantize in ((False, True) if run[2] == "gles2" else (False,)):
                vectors = [descriptor(r, name, requantize) for r in rows]
                if vectors[0] is None:
                    continue
                s = score(np.stack(vectors), y, args.shots, args.test, args.seeds, settings)
                s["dim"] = int(vectors[0].size)
                scores[task, run, name, requantize] = s
    print_tables(scores, runs, args)
    print_summary(scores, runs)
    print_failures(data, runs, args)
    regions = [run for run in runs if run[0] == "region" and run[2] == "gles2"]
    if regions:
        print_head_settings(data, max(regions, key=lambda run: run[1]), args)
    if args.json:
        args.json.write_text(json.dumps([{"task": t, "view": r[0], "size": r[1], "level": r[2],
                                          "descriptor": n, "requantized": q, **s}
                                         for (t, r, n, q), s in scores.items()], indent=1))
    print(f"\n{time.time() - started:.0f} s", file=sys.stderr)


def print_tables(scores: dict, runs: list, args: argparse.Namespace) -> None:
    tasks = list(TASKS)
    names = CANDIDATES + COMBOS
    print(f"\n## Head top-1 on {args.test} unseen frames per class, {args.shots} shots, mean of "
          f"{args.seeds} splits (nearest-class-mean in brackets)\n")
    for run in runs:
        for requantize in ((False, True) if run[2] == "gles2" else (False,)):
            title = (f"{run[0]}, {run[1]}x{run[1]}, "
                     + ("float" if run[2] == "float" else
                        "8-bit maps, pooled then stored as 8-bit" if requantize else
                        "8-bit maps, pooled on the CPU"))
            print(f"\n### {title}\n")
            print("| descriptor | dim | " + " | ".join(tasks) + " | mean | min |")
            print("|---|---|" + "---|" * (len(tasks) + 2))
            for name in names:
                cells = [scores.get((t, run, name, requantize)) for t in tasks]
                if any(c is None for c in cells):
                    continue
                heads = [c["head"] for c in cells]
                print(f"| {name} | {cells[0]['dim']} | "
                      + " | ".join(f"{c['head']:.3f} ({c['ncm']:.2f})" for c in cells)
                      + f" | {np.mean(heads):.3f} | {min(heads):.3f} |")


def print_summary(scores: dict, runs: list) -> None:
    """The main candidates across every run: mean top-1 over the tasks (the worst task)."""
    columns = [(run, q) for run in runs for q in ((False, True) if run[2] == "gles2" else (False,))]
    names = ["b7-pool", "b5-scale", "b5-scale 2x2", "b4-scale 2x2", "b4-scale 3x3",
             "b3-scale 2x2", "b3-scale 3x3", "b3-scale 4x4", DEFAULT]
    print("\n### Summary: mean top-1 over the tasks (worst task)\n")
    print("| descriptor | " + " | ".join(f"{r[0]} {r[1]} {r[2]}{' requantized' * q}"
                                       for r, q in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name in dict.fromkeys(names):
        cells = []
        for run, q in columns:
            heads = [scores[t, run, name, q]["head"] for t in TASKS
                     if (t, run, name, q) in scores]
            cells.append(f"{np.mean(heads):.3f} ({min(heads):.2f})" if len(heads) == len(TASKS)
                         else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")


def print_failures(data: dict, runs: list, args: argparse.Namespace) -> None:
    """Where the default descriptor errs: held-out frames by true and predicted state."""
    print(f"\n### Where {DEFAULT} errs: held-out frames (all splits) as 'true -> said: count'\n")
    for run in runs:
        cells = []
        for task, (states, _) in TASKS.items():
            rows, y = data[task, run]
            x = np.stack([descriptor(r, DEFAULT, False) for r in rows])
            errors: dict[str, int] = {}
            for seed in range(args.seeds):
                rng = np.random.default_rng(seed)
                train, held = [], []
                for c in range(len(states)):
                    members = rng.permutation(np.flatnonzero(y == c))
                    train += list(members[:args.shots])
                    held += list(members[args.shots:args.shots + args.test])
                head, _ = fit(x[train], [states[v] for v in y[train]], list(states))
                said = np.argmax(head.probabilities(x[held]), axis=1)
                for truth, guess in zip(y[held], said):
                    if truth != guess:
                        key = f"{states[truth]} -> {states[guess]}"
                        errors[key] = errors.get(key, 0) + 1
            total = args.seeds * args.test * len(states)
            cells.append(f"{task} ({total}): " + (", ".join(f"{k}: {v}" for k, v in
                                                          sorted(errors.items())) or "none"))
        print(f"- {run[0]} {run[1]} {run[2]}: " + "; ".join(cells))


def print_head_settings(data: dict, run: tuple, args: argparse.Namespace) -> None:
    """The head's L2 and step count on the default descriptor with a region: top-1, k-fold
    accuracy of the shots, the median best probability and the share of answers below 0.7."""
    print(f"\n### The head's L2 and steps ({DEFAULT}, region, {run[1]}, 8-bit maps): top-1 / "
          "k-fold accuracy of the shots / median best probability / share below 0.7, "
          "each the mean over the tasks\n")
    print("| l2 | steps | top-1 | k-fold | probability | below 0.7 |")
    print("|---|---|---|---|---|---|")
    for l2 in (1e-2, 1e-3, 1e-4, 1e-5):
        for steps in (20, 30, 60):
            results = []
            for task in TASKS:
                rows, y = data[task, run]
                x = np.stack([descriptor(r, DEFAULT, False) for r in rows])
                results.append(score(x, y, args.shots, args.test, args.seeds,
                                     HeadSettings(l2=l2, iterations=steps)))
            mean = {k: np.mean([r[k] for r in results]) for k in results[0]}
            print(f"| {l2:g} | {steps} | {mean['head']:.3f} | {mean['cv']:.3f} | "
                  f"{mean['prob']:.2f} | {mean['unknown']:.2f} |")


if __name__ == "__main__":
    main()
