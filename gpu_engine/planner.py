"""Turn a model into a Plan: lay every tensor out as tiles of shared textures, then let each op
add its programs and passes. Knows no op by type: ops declare what they need (ops/base.py)."""
from __future__ import annotations

import numpy as np

from gpu_engine.errors import ProfileError
from gpu_engine.model import Model
from gpu_engine.ops.base import Op
from gpu_engine.ops.shuffle import quad_permutation
from gpu_engine.plan import Pass, Plan, Program, TensorLayout, Texture, Tile
from gpu_engine.profile import VC4_GLES2

MAX_SIZE = VC4_GLES2.max_texture_size
# Draws at least this large get folded weights (make_plan): for the dog classifier the 96
# draws of its 191×191 and 95×95 layers, three quarters of its multiply-adds.
FOLD_MIN_FRAGMENTS = 4096


class PlanBuilder:
    """What an op's `plan` method sees: its inputs' layouts, and where to add its work."""

    def __init__(self, model: Model, tensors: dict[str, TensorLayout],
                 textures: dict[str, Texture], fold_weights: bool = False):
        self.model = model
        self.fold_weights = fold_weights  # weights as literals, a program per large draw
        self.tensors = tensors
        self.textures = textures
        self.programs: dict[str, Program] = {}
        self.passes: list[Pass] = []
        self.frame_passes: dict[str, Pass] = {}
        self.frame_params = None
        self.readback = None
        self.decode = None

    def folds(self, fragments: int) -> bool:
        """Whether a draw of this many fragments gets its weights as literals of a program of
        its own: where the kernel time saved outweighs compiling one more program."""
        return self.fold_weights and fragments >= FOLD_MIN_FRAGMENTS

    def input(self, op: Op, slot: int) -> tuple[TensorLayout, list[Tile]]:
        """The layout of an input and its tiles in the order the op sees them (shuffled)."""
        connection = op.inputs[slot]
        layout = self.tensors[connection.source]
        perm = quad_permutation(layout.quads, connection.shuffle)
        return layout, [layout.tiles[p] for p in perm]

    def output(self, op: Op) -> TensorLayout:
        return self.tensors[op.name]

    def texture(self, name: str) -> Texture:
        return self.textures[name]

    def add_texture(self, texture: Texture) -> Texture:
        self.textures[texture.name] = texture
        return texture

    def add_program(self, program: Program) -> str:
        self.programs.setdefault(program.key, program)
        return program.key

    def add_pass(self, gpu_pass: Pass) -> None:
        self.passes.append(gpu_pass)
        self.textures[gpu_pass.target].target = True


def make_plan(model: Model, fold_weights: bool = False) -> Plan:
    """The plan of a model. `fold_weights` writes the weights of each large draw into a program
    of its own instead of a uniform array: several times faster kernels where uniform reads
    are slow (llvmpipe), for a program per such draw to compile at start-up."""
    tensors, textures = _layouts(model)
    builder = PlanBuilder(model, tensors, textures, fold_weights)
    cpu_ops = []
    for op in model.ops:
        if op.ON_GPU:
            op.plan(builder)
        else:
            cpu_ops.append(op)
    if builder.readback is None:
        raise ProfileError("the model has no op that produces logits on the GPU")

    def finish(logits: np.ndarray) -> np.ndarray:
        for op in cpu_ops:
            logits = op.reference({0: logits}, "gles2")
        return logits

    return Plan(textures=textures, tensors=tensors, programs=builder.programs,
                passes=builder.passes, frame_passes=builder.frame_passes,
                frame_params=builder.frame_params, readback=builder.readback,
                decode=builder.decode, finish=finish)


def _layouts(model: Model) -> tuple[dict[str, TensorLayout], dict[str, Texture]]:
    """Tiles with the widest border any consumer reads. A texture is reused once every reader
    of its tensor has run, by a tensor with tiles at the same places (borders stay zero)."""
    consumers: dict[str, list[tuple[Op, int]]] = {op.name: [] for op in model.ops}
    last_use = {}
    for index, op in enumerate(model.ops):
        for slot, connection in op.inputs.items():
            consumers[connection.source].append((op, slot))
            last_use[connection.source] = index
    tensors: dict[str, TensorLayout] = {}
    textures: dict[str, Texture] = {}
    free: dict[tuple, list[str]] = {}
    for index, op in enumerate(model.ops):
        if op.STORES_CODES:
            readers = consumers[op.name]
            border = max([reader.border_needed(slot, op.shape) for reader, slot in readers],
                         default=0)
            row = any(reader.needs_row(slot) for reader, slot in readers)
            names, places = _place(op, readers, border, row, textures, free)
            tiles = [Tile(names[t], x, y) for t, x, y in places]
            tensors[op.name] = TensorLayout(op.name, op.shape, border, tiles)
        for connection in set(c.source for c in op.inputs.values()):
            if last_use.get(connection) == index and connection in tensors:
                for name in dict.fromkeys(t.texture for t in tensors[connection].tiles):
                    free.setdefault(textures[name].key, []).append(name)
    return tensors, textures


def _place(op: Op, readers: list[tuple[Op, int]], border: int, row: bool,
           textures: dict[str, Texture], free: dict[tuple, list[str]]):
    """Textures and tile places for an op's output: the fewest textures that let each reader
    find the quads it reads together at one position of as many textures, preferring an
    arrangement whose textures are free for reuse."""
    quads = -(-op.shape[2] // 4)
    needs = [(reader.quads_together(slot),
              quad_permutation(quads, reader.inputs[slot].shuffle)) for reader, slot in readers]
    needs = [(count, order) for count, order in needs if count > 1 and quads % count == 0]
    candidates = [(1, None)] if row or not needs else []
    for count in (1, 2, 4, 8, 16, 32):
        for order in [None] + [order for _, order in needs]:
            if not row and needs and quads % count == 0 and count >= max(c for c, _ in needs):
                candidates.append((count, order))
    chosen = None
    # The last resort, where readers want incompatible orders: one grid, the kernels then
    # stepping from tile to tile by offsets (slower on vc4, still right).
    for index, (together, order) in enumerate(candidates + [(1, None)]):
        last_resort = index == len(candidates)
        if last_resort and chosen is not None:
            break
        sizes, places = _arrange(op.shape, border, row, together, order)
        if not last_resort and not all(_serves(places, count, order_needed)
                                       for count, order_needed in needs):
            continue
        keys = [_key(w, h, border, frozenset((x, y) for texture, x, y in places if texture == t))
                for t, (w, h) in enumerate(sizes)]
        reused = _reusable(keys, free)
        if chosen is None or (reused and not chosen[2]):
            chosen = (keys, places, reused)
        if reused:
            break
    keys, places, reused = chosen
    if reused:
        return [free[key].pop() for key in reused], places
    names = []
    for t, key in enumerate(keys):
        name = op.name if len(keys) == 1 else f"{op.name}/{t}"
        textures[name] = Texture(name, key[1], key[2], key=key)
        names.append(name)
    return names, places


def _key(width: int, height: int, border: int, places: frozenset) -> tuple:
    """Which tensors a texture can serve once free. Tiles with a border need their zero
    margins where they were: the same places. Tiles without one read nothing outside their
    rectangles, so any texture at least as large serves them ('open')."""
    return ("open", width, height) if border == 0 else ("exact", width, height, places)


def _reusable(keys: list[tuple], free: dict[tuple, list[str]]) -> list[tuple] | None:
    """Free textures for `keys`, as the keys to take them from (None if there are none):
    the same keys, or for open ones the smallest free size that holds them, all of one size
    (kernels step from texture to texture by the same normalised offsets)."""
    if all(len(free.get(key, [])) >= keys.count(key) for key in keys):
        return keys
    if keys[0][0] != "open":
        return None
    width, height = keys[0][1], keys[0][2]
    sizes = sorted((k[1] * k[2], k) for k, names in free.items()
                   if k[0] == "open" and k[1] >= width and k[2] >= height
                   and len(names) >= len(keys))
    return [sizes[0][1]] * len(keys) if sizes else None


def _serves(places, count: int, order: list[int]) -> bool:
    """Whether each run of `count` quads of a reader's view lies at one place of distinct
    textures."""
    for start in range(0, len(order), count):
        run = [places[order[v]] for v in range(start, start + count)]
        if len({(x, y) for _, x, y in run}) != 1 or len({t for t, _, _ in run}) != count:
            return False
    return True


def _arrange(shape, border: int, row: bool, together: int, order: list[int] | None):
    """Texture sizes and (texture, x, y) of each quad's tile: C/4 quads in a grid (a single
    row for readers that need one), neighbouring tiles sharing their border. Quads a reader
    reads together (its view order `order` taken in runs of `together`) go to the same place
    of `together` textures, so one texture position serves them all."""
    h, w, c = shape
    quads = -(-c // 4)
    per_group = quads // together
    pitch_x, pitch_y = w + border, h + border
    if row:
        columns = per_group
    else:  # the grid of least area (fewest empty tiles), the squarest among equals
        fits = [c for c in range(1, per_group + 1) if c * pitch_x + border <= MAX_SIZE] or [1]
        columns = min(fits, key=lambda c: ((c * pitch_x + border) * (-(-per_group // c) * pitch_y
                                                                       + border),
                                           abs(c * pitch_x - -(-per_group // c) * pitch_y)))
    rows_fit = max(1, (MAX_SIZE - border) // pitch_y)
    per_texture = min(per_group, columns * rows_fit)
    rows = -(-per_texture // columns)
    count = together * -(-per_group // per_texture)
    # all of one size: kernels step from tile to tile by fixed offsets
    sizes = [(columns * pitch_x + border, rows * pitch_y + border)] * count
    position = list(range(quads)) if order is None else [order.index(s) for s in range(quads)]
    places = []
    for storage in range(quads):
        group, member = divmod(position[storage], together)  # view quad g·together + member
        k = group % per_texture
        places.append((member + together * (group // per_texture),
                       border + (k % columns) * pitch_x, border + (k // columns) * pitch_y))
    return sizes, places
