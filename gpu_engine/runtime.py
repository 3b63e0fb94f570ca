"""The engine: make the plan's GL objects once, then per frame upload, replay the recorded
command list, read the logits; every GL error is drained and raised with its call."""
from __future__ import annotations

import time

import numpy as np

from gpu_engine import egl, frame_input, shader_source
from gpu_engine import gles2 as g
from gpu_engine.command_list import Bindings, Draw, Recorder, UniformWrite, record
from gpu_engine.context import GLContext, GLInfo
from gpu_engine.gl_objects import (SAMPLER_2D, UNIFORM_SETTERS, Program, Texture,
                                   compile_program, location, new_framebuffer, new_quad_buffer,
                                   new_texture, specify)
from gpu_engine.model import Model
from gpu_engine.ops.dense import Dense
from gpu_engine.ops.softmax import softmax
from gpu_engine.plan import Pass, TextureRef
from gpu_engine.planner import make_plan
from gpu_engine.profile import VC4_GLES2, DeviceProfile, ProfileError, check_plan


class Engine:
    """Runs one model on the GPU. Create it, and call it, from one thread only: the GL context
    is current in the thread that made it. `gl_calls` (benchmarks, tests) counts every GL call."""

    def __init__(self, model: Model, api: str = egl.API_GLES2,
                 profile: DeviceProfile = VC4_GLES2, gl_calls: g.CallLog | None = None):
        self.model = model
        self.plan = make_plan(model)
        check_plan(self.plan, profile)
        self._context = GLContext(api, gl_calls)
        self._gl = self._context.gl
        try:
            self._set_up(profile)
        except BaseException:
            self._context.release()  # a model this GPU refuses must not leak its context
            raise

    def _set_up(self, profile: DeviceProfile) -> None:
        gl = self._gl
        self.last_timings: dict[str, float] = {}
        self._max_frame = min(self._check_live_limits(), profile.max_texture_size)
        self._plane_format = g.GL_RED if self.gl_info.api == egl.API_GL else g.GL_LUMINANCE
        gl.checked("glPixelStorei", g.GL_UNPACK_ALIGNMENT, 1)
        gl.checked("glPixelStorei", g.GL_PACK_ALIGNMENT, 1)
        gl.checked("glDisable", g.GL_DITHER)  # ES 2.0 starts with dithering on
        new_quad_buffer(gl, desktop=self.gl_info.api == egl.API_GL)
        self._programs: dict[tuple, Program] = {}
        self._textures: dict[TextureRef, Texture] = {}
        self._framebuffers: dict[TextureRef, int] = {}
        self._frame_textures: dict[tuple, Texture] = {}
        self._allocate()
        self._draws = [self._resolve(p) for p in self.plan.passes]
        sampler = self.model.sampler
        self._sampler_passes = sampler.gpu_passes(self.plan.layouts[sampler.name])
        # What is bound and what each program's uniforms hold now, so that no call repeats it.
        self._bound = Bindings()
        self._uniforms: dict[tuple[int, int], bytes] = {}
        self._frames: dict[tuple, dict[bool, Recorder]] = {}
        self._last_frame: tuple | None = None  # the frame format whose command list ran last
        self._warm_up()

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

    def _program(self, key: tuple) -> Program:
        if key not in self._programs:
            shader, defines = key
            label = f"{shader} {dict(defines)}"
            try:
                self._programs[key] = compile_program(
                    self._gl, shader_source.vertex_source(),
                    shader_source.fragment_source(shader, defines), label)
            except ProfileError as exc:
                raise ProfileError(f"{exc} (on {self.gl_info.renderer})") from exc
        return self._programs[key]

    def _allocate(self) -> None:
        """Every tensor's textures, zero-filled (the borders stay zero for good)."""
        for layout in self.plan.layouts.values():
            width, height = layout.texture_size
            for index in range(layout.texture_count):
                ref = TextureRef(layout.name, index)
                self._textures[ref] = new_texture(self._gl, width, height, g.GL_RGBA)
                self._framebuffers[ref] = new_framebuffer(self._gl, self._textures[ref])
        for name, constant in self.plan.constants.items():
            height, width = constant.data.shape[:2]
            self._textures[TextureRef(name)] = new_texture(self._gl, width, height, g.GL_RGBA,
                                                           constant.data)

    def _uniform(self, program: Program, name: str, value) -> UniformWrite | None:
        where = location(self._gl, program, name)
        if where < 0:
            return None  # not used by this variant: the compiler dropped it
        kind, size = program.active[name.split("[")[0]]
        if kind == SAMPLER_2D:
            return UniformWrite(program.id, where, "glUniform1i", 1, False,
                                np.array([value], np.int32))
        setter, floats, matrix = UNIFORM_SETTERS[kind]
        data = np.ascontiguousarray(value, np.float32).ravel()
        if data.size % floats:
            raise ValueError(f"uniform {name} of {program.label}: {data.size} floats do not "
                             f"fill whole elements of {floats}")
        count = min(data.size // floats, 1 if "[" in name else size)
        return UniformWrite(program.id, where, setter, count, matrix, data)

    def _resolve(self, gpu_pass: Pass, frame: list[Texture] | None = None,
                 extra: dict[str, np.ndarray] | None = None) -> Draw:
        program = self._program(gpu_pass.program_key)
        textures, writes = [], []
        for unit, (name, ref) in enumerate(gpu_pass.samplers):
            textures.append((unit, frame[ref.index] if ref.tensor == "frame"
                             else self._textures[ref]))
            writes.append(self._uniform(program, name, unit))
        for name, value in {**gpu_pass.uniforms, **(extra or {})}.items():
            writes.append(self._uniform(program, name, value))
        return Draw(f"op {gpu_pass.op} ({program.label}) into {gpu_pass.target}", program.id,
                    self._framebuffers[gpu_pass.target], gpu_pass.viewport, textures,
                    [w for w in writes if w is not None])

    def _warm_up(self) -> None:
        """Drivers compile shaders lazily at the first draw; pay for it now, not on frame one."""
        width, height = self.model.input_size
        self.upload_rgb(np.zeros((height, width, 3), np.uint8))
        self.upload_yuv420(*(np.zeros((height // s, width // s), np.uint8) for s in (1, 2, 2)))
        self._run_frame()
        self._gl.checked("glFinish")

    # ---- per frame ------------------------------------------------------------------------

    def _sample(self, kind: str, planes: list[np.ndarray], formats: list[int]) -> None:
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
                                    self.model.sampler.frame_uniforms(width, height)))
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

    def upload_rgb(self, image: np.ndarray) -> None:
        """Resample an RGB(A) uint8 frame into the network input on the GPU."""
        self._context.make_current()
        image = frame_input.reduce_rgb(frame_input.check_rgb(image), self._max_frame)
        self._sample("rgb", [image], [g.GL_RGBA if image.shape[2] == 4 else g.GL_RGB])

    def upload_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        """Convert and resample a YUV420 frame (three planes) on the GPU."""
        self._context.make_current()
        planes = frame_input.reduce_yuv420(*frame_input.check_yuv420(y, u, v), self._max_frame)
        self._sample("yuv420", list(planes), [self._plane_format] * 3)

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
        rows = self.plan.logits_count // 2
        pixels = self._read(self._framebuffers[self.plan.logits], 0, 0, 1, rows)
        return Dense.decode_logits(pixels.reshape(rows, 4))

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
        return softmax(logits) if self.model.ops[-1].TYPE == "softmax" else logits

    def classify_rgb(self, image: np.ndarray) -> np.ndarray:
        """Probabilities (or logits, for a model without softmax) for an RGB(A) frame."""
        return self._infer(lambda: self.upload_rgb(image))

    def classify_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self._infer(lambda: self.upload_yuv420(y, u, v))

    def texture_bytes(self) -> int:
        """Texture memory the engine holds now, frame textures included."""
        return sum(t.bytes for t in [*self._textures.values(), *self._frame_textures.values()])

    # ---- self-test and op by op (tests, debugging) ------------------------------------------

    def clear_targets(self, code: int) -> None:
        """Fill every region a pass draws (the sampler's included) with `code` in all four
        channels; borders stay zero. A draw the GPU skips then leaves the code visible."""
        if not 0 <= code <= 255:
            raise ValueError(f"code {code} is not an 8-bit value")
        self._context.make_current()
        gl, value = self._gl, code / 255.0
        sampler = next(iter(self._sampler_passes.values()))
        regions = {(d.framebuffer, d.viewport) for d in self._draws}
        regions.add((self._framebuffers[sampler.target], sampler.viewport))
        self._forget_state()
        gl.checked("glClearColor", value, value, value, value)
        gl.checked("glEnable", g.GL_SCISSOR_TEST)
        try:
            for framebuffer, viewport in sorted(regions):
                gl.checked("glBindFramebuffer", g.GL_FRAMEBUFFER, framebuffer)
                gl.checked("glScissor", *viewport)
                gl.checked("glClear", g.GL_COLOR_BUFFER_BIT)
        finally:
            gl.checked("glDisable", g.GL_SCISSOR_TEST)

    def write_tensor(self, name: str, values: np.ndarray) -> None:
        """Store an op's output (values in [0, 1], H×W×C) as its 8-bit codes."""
        self._context.make_current()
        layout = self.plan.layouts[name]
        codes = np.floor(np.clip(values, 0, 1) * 255 + 0.5).astype(np.uint8)
        codes = _pad_channels(codes, layout.quads)
        h, w = layout.shape[:2]
        self._forget_state()
        for q in range(layout.quads):
            ref, (x, y) = layout.quad(q)
            quad = np.ascontiguousarray(codes[..., 4 * q:4 * q + 4])
            self._gl.checked("glActiveTexture", g.GL_TEXTURE0)
            self._gl.checked("glBindTexture", g.GL_TEXTURE_2D, self._textures[ref].id)
            self._gl.checked("glTexSubImage2D", g.GL_TEXTURE_2D, 0, x, y, w, h, g.GL_RGBA,
                             g.GL_UNSIGNED_BYTE, quad.ctypes.data)

    def read_tensor(self, name: str) -> np.ndarray:
        """An op's stored output as H×W×C codes."""
        self._context.make_current()
        layout = self.plan.layouts[name]
        h, w, c = layout.shape
        quads = []
        for q in range(layout.quads):
            ref, (x, y) = layout.quad(q)
            quads.append(self._read(self._framebuffers[ref], x, y, w, h))
        self._gl.check(f"reading tensor {name}")
        return np.concatenate(quads, axis=2)[..., :c]

    def run_op(self, name: str) -> None:
        """Draw only the passes of one op, on whatever its input tensors hold."""
        self._context.make_current()
        self._forget_state()  # the op's uniform writes change what the warm frame expects
        draws = [d for d, p in zip(self._draws, self.plan.passes) if p.op == name]
        self._run(record(self._gl, draws), checked=True)

    def logits(self) -> np.ndarray:
        self._context.make_current()
        logits = self._logits()
        self._gl.check("reading the logits")
        return logits

    def release(self) -> None:
        self._context.make_current()
        self._context.release()


def _pad_channels(codes: np.ndarray, quads: int) -> np.ndarray:
    missing = 4 * quads - codes.shape[2]
    if missing:
        codes = np.concatenate([codes, np.zeros(codes.shape[:2] + (missing,), np.uint8)], axis=2)
    return codes
