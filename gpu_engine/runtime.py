"""The engine: make the plan's GL objects once, then per frame upload, replay the recorded
command list, read the logits; every GL error is drained and raised with its call."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from gpu_engine import frame_input, shader_source
from gpu_engine import gles2 as g
from gpu_engine.command_list import Bindings, Draw, Recorder, UniformWrite, record
from gpu_engine.context import GLContext, GLInfo
from gpu_engine.gl_objects import (SAMPLER_2D, UNIFORM_SETTERS, Program, Texture,
                                   compile_program, delete, location, new_framebuffer,
                                   new_texture, new_vertex_buffer, point_attributes,
                                   specify)
from gpu_engine.model import Model
from gpu_engine.ops.image_sampler import Region, check_region
from gpu_engine.plan import FRAME, Pass
from gpu_engine.planner import make_plan
from gpu_engine.profile import VC4_GLES2, DeviceProfile, ProfileError, check_plan

ATTRIBUTES = 8  # vertex attributes ES 2.0 guarantees (and vc4 has): what another engine enabled

if TYPE_CHECKING:
    from gpu_engine.features import Embedder, FeatureSpec


class Engine:
    """Runs one model on the GPU. Create it, and call it, from one thread only: the GL context
    is current in the thread that made it. `gl_calls` (benchmarks, tests) counts every GL call."""

    def __init__(self, model: Model,
                 profile: DeviceProfile = VC4_GLES2, gl_calls: g.CallLog | None = None,
                 fold_weights: bool | None = None, context: GLContext | None = None,
                 owns_context: bool = False):
        """`fold_weights`: weights as literals of a program per draw (see planner.make_plan);
        by default on software renderers, where it makes the kernels several times faster,
        and not on a GPU, which reads both from the same uniform stream.

        `context`: make the GL objects in this context (made with its own `gl_calls`, so
        `gl_calls` is then not used), so that a self-test probe and the engine it vets
        share one context. `release` then deletes only the engine's own objects and leaves the
        context to its maker, unless `owns_context` hands the context over to the engine."""
        self.model = model
        self.plan = make_plan(model)
        check_plan(self.plan, profile)
        self._owns_context = context is None or owns_context
        self._context = context or GLContext(gl_calls)
        self._context.make_current()
        self._context.user = self
        self._gl = self._context.gl
        self._programs: dict[str, Program] = {}
        self._textures: dict[str, Texture] = {}
        self._framebuffers: dict[str, int] = {}
        self._frame_textures: dict[tuple, Texture] = {}
        self._buffer = 0
        self._embedders: list[Embedder] = []
        try:
            if self.gl_info.software if fold_weights is None else fold_weights:
                self.plan = make_plan(model, fold_weights=True)
                check_plan(self.plan, profile)
            self._set_up(profile)
        except BaseException:
            self.release()  # a model this GPU refuses must not leak its context or objects
            raise

    def _set_up(self, profile: DeviceProfile) -> None:
        gl = self._gl
        self.last_timings: dict[str, float] = {}
        self._max_frame = min(self._check_live_limits(), profile.max_texture_size)
        gl.checked("glPixelStorei", g.GL_UNPACK_ALIGNMENT, 1)
        gl.checked("glPixelStorei", g.GL_PACK_ALIGNMENT, 1)
        gl.checked("glDisable", g.GL_DITHER)  # ES 2.0 starts with dithering on
        gl.checked("glEnable", g.GL_SCISSOR_TEST)  # each draw's box: see Draw.scissor
        self._allocate()
        self._sampler_passes = self.plan.frame_passes
        self._first = self._vertex_buffer()
        self._scissors = _span_boxes(self.plan.passes)
        self._draws = [self._resolve(p) for p in self.plan.passes]
        # What is bound and what each program's uniforms hold now, so that no call repeats it.
        self._bound = Bindings()
        self._uniforms: dict[tuple[int, int], bytes] = {}
        self._frames: dict[tuple, dict[bool, Recorder]] = {}
        self._last_frame: tuple | None = None  # the frame format whose command list ran last
        self._warm_up()

    def _enter(self) -> None:
        """Make the context current; if another engine in it ran since, nothing it left bound
        or set is what this engine's command lists assume, its vertex arrays included."""
        self._context.make_current()
        if self._context.user is not self:
            self._forget_state()
            point_attributes(self._gl, self._buffer, self._vertex_floats, ATTRIBUTES)
            self._context.user = self

    @property
    def gl_info(self) -> GLInfo:
        return self._context.info

    # ---- set-up -------------------------------------------------------------------------

    def _check_live_limits(self) -> int:
        units = self._context.limit(g.GL_MAX_TEXTURE_IMAGE_UNITS)
        size = self._context.limit(g.GL_MAX_TEXTURE_SIZE)
        live = DeviceProfile(f"live {self.gl_info.renderer}", max_samplers=units,
                             max_texture_size=size, max_uniform_vectors=1 << 30)
        check_plan(self.plan, live)
        return size

    def _program(self, key: str) -> Program:
        if key not in self._programs:
            source = self.plan.programs[key]
            try:
                self._programs[key] = compile_program(
                    self._gl, source.vertex_source, source.fragment_source, key,
                    tuple(name for name, _ in source.attributes))
            except ProfileError as exc:
                raise ProfileError(f"{exc} (on {self.gl_info.renderer})") from exc
        return self._programs[key]

    def _allocate(self) -> None:
        """Every texture of the plan, zero-filled unless it has contents (the borders of tiles
        stay zero for good); a framebuffer for each one drawn into."""
        for name, texture in self.plan.textures.items():
            self._textures[name] = new_texture(self._gl, texture.width, texture.height,
                                               g.GL_RGBA, texture.data)
            if texture.target:
                self._framebuffers[name] = new_framebuffer(self._gl, self._textures[name])

    def _vertex_buffer(self) -> dict[int, int]:
        """All passes' vertices in one buffer, rows padded to the widest program's; the first
        vertex of each pass by id."""
        passes = [*self.plan.passes, *self._sampler_passes.values()]
        width = max(p.vertices.shape[1] for p in passes)
        width = 2 + 4 * -(-(width - 2) // 4)
        rows = np.zeros((sum(p.vertex_count for p in passes), width), np.float32)
        first, at = {}, 0
        for gpu_pass in passes:
            first[id(gpu_pass)] = at
            rows[at:at + gpu_pass.vertex_count, :gpu_pass.vertices.shape[1]] = gpu_pass.vertices
            at += gpu_pass.vertex_count
        self._buffer = new_vertex_buffer(self._gl, rows)
        self._vertex_floats = width
        return first

    def _uniform(self, program: Program, name: str, value) -> UniformWrite | None:
        where = location(self._gl, program, name)
        if where < 0:
            return None  # not used by this variant: the compiler dropped it
        kind, size = program.active[name.split("[")[0]]
        if kind == SAMPLER_2D:
            return UniformWrite(program.id, where, "glUniform1i", 1, np.array([value], np.int32))
        if kind not in UNIFORM_SETTERS:
            raise ProfileError(f"uniform {name} of {program.label}: only float, vec2-4 and "
                               f"sampler2D uniforms are written (GL type 0x{kind:04x})")
        setter, floats = UNIFORM_SETTERS[kind]
        data = np.ascontiguousarray(value, np.float32).ravel()
        if data.size % floats:
            raise ValueError(f"uniform {name} of {program.label}: {data.size} floats do not "
                             f"fill whole elements of {floats}")
        count = min(data.size // floats, 1 if "[" in name else size)
        return UniformWrite(program.id, where, setter, count, data)

    def _resolve(self, gpu_pass: Pass, frame: list[Texture] | None = None,
                 params: np.ndarray | None = None) -> Draw:
        program = self._program(gpu_pass.program)
        source = self.plan.programs[gpu_pass.program]
        textures, writes = [], []
        for unit, name in enumerate(gpu_pass.textures):
            kind, _, index = name.partition(":")
            textures.append((unit, frame[int(index)] if kind == FRAME else self._textures[name]))
        for unit, name in enumerate(source.samplers):
            writes.append(self._uniform(program, name, unit))
        params = gpu_pass.params if params is None else params
        if source.params and params is not None:
            writes.append(self._uniform(program, source.params, params))
        target = self.plan.textures[gpu_pass.target]
        scissor = self._scissors.get(id(gpu_pass)) or _box(gpu_pass.rects)
        return Draw(f"op {gpu_pass.op} ({program.label}) into {gpu_pass.target}", program.id,
                    self._framebuffers[gpu_pass.target], (0, 0, target.width, target.height),
                    scissor, textures, [w for w in writes if w is not None],
                    self._first[id(gpu_pass)], gpu_pass.vertex_count)

    def _warm_up(self) -> None:
        """Drivers compile shaders lazily at the first draw; pay for it now, not on frame one."""
        width, height = self.model.input_size
        self.upload_rgb(np.zeros((height, width, 3), np.uint8))
        self.upload_yuv420(*(np.zeros((height // s, width // s), np.uint8) for s in (1, 2, 2)))
        self._run_frame()
        self._gl.checked("glFinish")

    # ---- per frame ------------------------------------------------------------------------

    def _sample(self, kind: str, planes: list[np.ndarray], formats: list[int],
                region: Region | None = None) -> None:
        """Upload the frame's planes and draw the sampler pass, each call checked."""
        gl, key = self._gl, (kind, *formats)
        if key != self._last_frame:
            self._last_frame = None  # other units bound: the next frame list starts cold
        planes = [np.ascontiguousarray(p) for p in planes]  # alive until the calls have run
        textures, fresh = [], set()
        for unit, (plane, format) in enumerate(zip(planes, formats)):
            texture = self._frame_textures.get((key, unit))
            if texture is None:  # made with the frame's contents: nothing left to upload
                height, width = plane.shape[:2]
                texture = new_texture(gl, width, height, format, plane)
                self._frame_textures[(key, unit)], self._bound = texture, Bindings()
                fresh.add(unit)
            textures.append(texture)
        recorder = Recorder(gl, self._bound, self._uniforms)
        label = "frame upload"
        for unit, (texture, plane) in enumerate(zip(textures, planes)):
            recorder.bind_texture(unit, texture, label)
            recorder.activate(unit, label)
            height, width = plane.shape[:2]
            if unit in fresh:
                continue
            if (texture.width, texture.height) == (width, height):
                recorder.call("glTexSubImage2D", g.GL_TEXTURE_2D, 0, 0, 0, width, height,
                              texture.format, g.GL_UNSIGNED_BYTE, plane.ctypes.data, label=label)
            else:  # the frame size changed: new storage, same texture
                texture.width, texture.height = width, height
                specify(lambda *call: recorder.call(*call, label=label), texture, plane)
        height, width = planes[0].shape[:2]
        recorder.draw(self._resolve(self._sampler_passes[kind], textures,
                                    self.plan.frame_params(width, height, region)))
        self._run(recorder, checked=True)
        self._uploaded = key

    def _frame(self, key: tuple) -> Recorder:
        """The command list of the plan's passes right after a sampler pass of this format:
        'cold' assumes only what that pass left bound, 'warm' also what the same list left
        the frame before (textures on the other units, every program's uniforms)."""
        if key not in self._frames:
            textures = [self._frame_textures[(key, unit)] for unit in range(len(key) - 1)]
            after_sampler = Bindings(active_unit=len(textures) - 1,
                                     units={unit: t.id for unit, t in enumerate(textures)})
            sampler = self._resolve(self._sampler_passes[key[0]], textures)
            sampler_only = Recorder(self._gl, after_sampler, {})
            sampler_only.draw(sampler)
            cold = record(self._gl, self._draws, sampler_only.bound, {})
            warm_start = sampler_only.bound.copy()
            warm_start.units = {**cold.bound.units, **after_sampler.units}
            warm = record(self._gl, self._draws, warm_start, dict(cold.uniforms))
            self._frames[key] = {False: cold, True: warm}
        return self._frames[key][self._last_frame == key]

    def upload_rgb(self, image: np.ndarray, region: Region | None = None) -> None:
        """Resample an RGB(A) uint8 frame (or its `region`: x, y, width, height as fractions
        of the frame) into the network input on the GPU."""
        self._enter()
        region = None if region is None else check_region(region)
        image = frame_input.reduce_rgb(frame_input.check_rgb(image), self._max_frame)
        self._sample("rgb", [image], [g.GL_RGBA if image.shape[2] == 4 else g.GL_RGB], region)

    def upload_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray,
                      region: Region | None = None) -> None:
        """Convert and resample a YUV420 frame (three planes), or its `region`, on the GPU."""
        self._enter()
        region = None if region is None else check_region(region)
        planes = frame_input.reduce_yuv420(*frame_input.check_yuv420(y, u, v), self._max_frame)
        self._sample("yuv420", list(planes), [g.GL_LUMINANCE] * 3, region)

    def _run(self, recorder: Recorder, checked: bool = False) -> None:
        try:
            recorder.run_checked() if checked else recorder.run()
        except BaseException:
            self._forget_state()
            raise
        self._bound = recorder.bound.copy()
        self._uniforms.update(recorder.uniforms)

    def _forget_state(self) -> None:
        """After an error, or calls made outside a recorder, assume nothing is bound or set."""
        self._bound = Bindings()
        self._uniforms.clear()
        self._last_frame = None

    def _run_frame(self) -> None:
        self._run(self._frame(self._uploaded))
        self._last_frame = self._uploaded

    def _check_frame(self) -> None:
        """One drain per frame; on an error, replay the frame call by call to name the call."""
        errors = self._gl.errors()
        if not errors:
            return
        self._forget_state()
        what = f"OpenGL error {g.error_names(errors)} during a frame"
        try:
            record(self._gl, self._draws).run_checked()
        except g.GLError as located:
            raise g.GLError(f"{what}; replayed call by call: {located}") from None
        raise g.GLError(f"{what} (replayed call by call, no single call reproduced it)")

    def _read(self, framebuffer: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        if framebuffer != self._bound.framebuffer:
            self._gl.glBindFramebuffer(g.GL_FRAMEBUFFER, framebuffer)
            self._bound.framebuffer = framebuffer
        pixels = np.empty((height, width, 4), np.uint8)
        self._gl.glReadPixels(x, y, width, height, g.GL_RGBA, g.GL_UNSIGNED_BYTE,
                              pixels.ctypes.data)
        return pixels

    def _logits(self) -> np.ndarray:
        texture, rect = self.plan.readback
        return self.plan.decode(self._read(self._framebuffers[texture], *rect))

    def _infer(self, upload) -> np.ndarray:
        start = time.perf_counter()
        upload()
        uploaded = time.perf_counter()
        self._run_frame()
        self._gl.glFinish()
        drawn = time.perf_counter()
        logits = self._logits()
        self._check_frame()
        done = time.perf_counter()
        self.last_timings = {"upload": uploaded - start, "gpu": drawn - uploaded,
                             "readback": done - drawn}
        return self.plan.finish(logits)

    def classify_rgb(self, image: np.ndarray, region: Region | None = None) -> np.ndarray:
        """Probabilities (or logits, for a model without softmax) for an RGB(A) frame; the
        model's output for `region` of it when one is given."""
        return self._infer(lambda: self.upload_rgb(image, region))

    def classify_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray,
                        region: Region | None = None) -> np.ndarray:
        return self._infer(lambda: self.upload_yuv420(y, u, v, region))

    def embedder(self, spec: FeatureSpec) -> Embedder:
        """A feature extractor of this engine's model (see gpu_engine.features), made in this
        engine's context: call it from this engine's thread. Released with the engine."""
        from gpu_engine.features import Embedder
        embedder = Embedder(self.model, spec, self._context)
        self._embedders.append(embedder)
        return embedder

    def texture_bytes(self) -> int:
        """Texture memory the engine holds now, frame textures included."""
        return sum(t.bytes for t in [*self._textures.values(), *self._frame_textures.values()])

    # ---- self-test and op by op (tests, debugging) ------------------------------------------

    def clear_targets(self, code: int) -> None:
        """Fill every region a pass draws (the sampler's included) with `code` in all four
        channels; borders stay zero. A draw the GPU skips then leaves the code visible."""
        if not 0 <= code <= 255:
            raise ValueError(f"code {code} is not an 8-bit value")
        self._enter()
        gl, value = self._gl, code / 255.0
        regions = {(self._framebuffers[p.target], rect)
                   for p in [*self.plan.passes, *self._sampler_passes.values()]
                   for rect in p.rects}
        self._forget_state()
        gl.checked("glClearColor", value, value, value, value)
        for framebuffer, box in sorted(regions):  # the scissor test is always on
            gl.checked("glBindFramebuffer", g.GL_FRAMEBUFFER, framebuffer)
            gl.checked("glScissor", *box)
            gl.checked("glClear", g.GL_COLOR_BUFFER_BIT)

    def write_tensor(self, name: str, values: np.ndarray) -> None:
        """Store an op's output (values in [0, 1], H×W×C) as its 8-bit codes."""
        self._enter()
        layout = self.plan.tensors[name]
        codes = np.floor(np.clip(values, 0, 1) * 255 + 0.5).astype(np.uint8)
        codes = _pad_channels(codes, layout.quads)
        self._forget_state()
        for q, tile in enumerate(layout.tiles):
            x, y, w, h = layout.rect(q)
            quad = np.ascontiguousarray(codes[..., 4 * q:4 * q + 4])
            self._gl.checked("glActiveTexture", g.GL_TEXTURE0)
            self._gl.checked("glBindTexture", g.GL_TEXTURE_2D, self._textures[tile.texture].id)
            self._gl.checked("glTexSubImage2D", g.GL_TEXTURE_2D, 0, x, y, w, h, g.GL_RGBA,
                             g.GL_UNSIGNED_BYTE, quad.ctypes.data)

    def read_tensor(self, name: str) -> np.ndarray:
        """An op's stored output as H×W×C codes."""
        self._enter()
        layout = self.plan.tensors[name]
        quads = [self._read(self._framebuffers[tile.texture], *layout.rect(q))
                 for q, tile in enumerate(layout.tiles)]
        c = layout.shape[2]
        self._gl.check(f"reading tensor {name}")
        return np.concatenate(quads, axis=2)[..., :c]

    def run_op(self, name: str) -> None:
        """Draw only the passes of one op, on whatever its input tensors hold."""
        self._enter()
        self._forget_state()  # the op's uniform writes change what the warm frame expects
        draws = [d for d, p in zip(self._draws, self.plan.passes) if p.op == name]
        self._run(record(self._gl, draws), checked=True)

    def logits(self) -> np.ndarray:
        self._enter()
        logits = self._logits()
        self._gl.check("reading the logits")
        return logits

    def release(self) -> None:
        """Free the engine's GPU memory: its context, or in a context it was given its own
        programs, textures, framebuffers and vertex buffer. Its embedders go first."""
        for embedder in self._embedders:
            embedder.release()
        self._embedders.clear()
        self._context.make_current()
        if self._owns_context:
            self._context.release()  # destroying the context frees every object made in it
            return
        gl = self._gl
        delete(gl, "glDeleteFramebuffers", list(self._framebuffers.values()))
        delete(gl, "glDeleteTextures", [t.id for t in [*self._textures.values(),
                                                       *self._frame_textures.values()]])
        delete(gl, "glDeleteBuffers", [self._buffer] if self._buffer else [])
        for program in self._programs.values():
            gl.checked("glDeleteProgram", program.id)
        for made in (self._programs, self._textures, self._framebuffers, self._frame_textures):
            made.clear()
        self._buffer = 0


def _box(rects: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """The smallest (x, y, width, height) holding every rectangle."""
    x0, y0 = min(r[0] for r in rects), min(r[1] for r in rects)
    x1, y1 = max(r[0] + r[2] for r in rects), max(r[1] + r[3] for r in rects)
    return x0, y0, x1 - x0, y1 - y0


def _span_boxes(passes: list[Pass]) -> dict[int, tuple[int, int, int, int]]:
    """For each pass (by id), the box of all rectangles of the run of consecutive passes
    drawing into its target: one scissor per framebuffer bind."""
    boxes, start = {}, 0
    for end in range(1, len(passes) + 1):
        if end == len(passes) or passes[end].target != passes[start].target:
            box = _box([r for p in passes[start:end] for r in p.rects])
            boxes.update({id(p): box for p in passes[start:end]})
            start = end
    return boxes


def _pad_channels(codes: np.ndarray, quads: int) -> np.ndarray:
    missing = 4 * quads - codes.shape[2]
    if missing:
        codes = np.concatenate([codes, np.zeros(codes.shape[:2] + (missing,), np.uint8)], axis=2)
    return codes
