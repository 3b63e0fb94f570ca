"""The engine: compile a plan once, then per frame upload, draw the passes, read the logits."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import moderngl
import numpy as np

from gpu_engine import egl, shader_source
from gpu_engine.context import GLContext, GLInfo
from gpu_engine.model import Model
from gpu_engine.ops.dense import Dense
from gpu_engine.ops.softmax import softmax
from gpu_engine.plan import Pass, TextureRef
from gpu_engine.planner import make_plan
from gpu_engine.profile import VC4_GLES2, DeviceProfile, ProfileError, check_plan


@dataclass
class _Draw:
    """A pass resolved to GL objects, so a frame only binds, writes and draws."""

    gpu_pass: Pass
    vao: moderngl.VertexArray
    framebuffer: moderngl.Framebuffer
    textures: list[moderngl.Texture]
    writes: list[tuple[object, bytes]]


class Engine:
    """Runs one model on the GPU. Create it, and call it, from one thread only: the GL context
    is current in the thread that made it."""

    def __init__(self, model: Model, api: str = egl.API_GLES2,
                 profile: DeviceProfile = VC4_GLES2):
        self.model = model
        self.plan = make_plan(model)
        check_plan(self.plan, profile)
        self._gl = GLContext(api)
        self.ctx = self._gl.ctx
        try:
            self._set_up()
        except BaseException:
            self._gl.release()  # a model this GPU refuses must not leak its context
            raise

    def _set_up(self) -> None:
        self._check_live_limits()
        self.last_timings: dict[str, float] = {}
        self._programs: dict[tuple, moderngl.Program] = {}
        self._vaos: dict[tuple, moderngl.VertexArray] = {}
        self._textures: dict[TextureRef, moderngl.Texture] = {}
        self._framebuffers: dict[TextureRef, moderngl.Framebuffer] = {}
        self._frame_textures: dict[tuple, moderngl.Texture] = {}
        self._quad = self.ctx.buffer(np.array([-1, -1, 3, -1, -1, 3], np.float32).tobytes())
        self._allocate()
        self._draws = [self._resolve(p) for p in self.plan.passes]
        self._frame_calls = self._lean_calls(self._draws)
        sampler = self.model.sampler
        self._sampler_passes = sampler.gpu_passes(self.plan.layouts[sampler.name])
        self._warm_up()
        self._check_gl("start-up")

    @property
    def gl_info(self) -> GLInfo:
        return self._gl.info

    # ---- set-up -------------------------------------------------------------------------

    def _check_live_limits(self) -> None:
        units = self._gl.limit("GL_MAX_TEXTURE_IMAGE_UNITS", 8)
        size = self._gl.limit("GL_MAX_TEXTURE_SIZE", 2048)
        live = DeviceProfile(f"live {self.gl_info.renderer}", max_samplers=units,
                             max_texture_size=size, max_uniform_vectors=1 << 30)
        check_plan(self.plan, live)

    def _program(self, key: tuple) -> moderngl.Program:
        if key not in self._programs:
            shader, defines = key
            try:
                program = self.ctx.program(
                    vertex_shader=shader_source.vertex_source(),
                    fragment_shader=shader_source.fragment_source(shader, defines))
            except moderngl.Error as exc:
                raise ProfileError(f"shader {shader} {dict(defines)} does not compile on "
                                   f"{self.gl_info.renderer}: {exc}") from exc
            self._programs[key] = program
            self._vaos[key] = self.ctx.vertex_array(program, [(self._quad, "2f", "aPosition")])
        return self._programs[key]

    def _new_texture(self, size: tuple[int, int], data: bytes | None = None,
                     components: int = 4) -> moderngl.Texture:
        texture = self.ctx.texture(size, components, data, alignment=1)
        texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
        texture.repeat_x = texture.repeat_y = False
        return texture

    def _allocate(self) -> None:
        """Every tensor's textures, zero-filled (the borders stay zero for good)."""
        for layout in self.plan.layouts.values():
            width, height = layout.texture_size
            zeros = bytes(4 * width * height)
            for index in range(layout.texture_count):
                ref = TextureRef(layout.name, index)
                self._textures[ref] = self._new_texture((width, height), zeros)
                self._framebuffers[ref] = self.ctx.framebuffer([self._textures[ref]])
        for name, constant in self.plan.constants.items():
            height, width = constant.data.shape[:2]
            self._textures[TextureRef(name)] = self._new_texture(
                (width, height), np.ascontiguousarray(constant.data, np.uint8).tobytes())

    def _resolve(self, gpu_pass: Pass, frame: list[moderngl.Texture] | None = None) -> _Draw:
        program = self._program(gpu_pass.program_key)
        textures = []
        for unit, (name, ref) in enumerate(gpu_pass.samplers):
            textures.append(frame[ref.index] if ref.tensor == "frame" else self._textures[ref])
            base = name.split("[")[0]
            if base in program:
                member = program[base]
                if "[" in name:
                    index = int(name.split("[")[1].rstrip("]"))
                    current = list(member.value) if member.array_length > 1 else [member.value]
                    current[index] = unit
                    member.value = current if member.array_length > 1 else current[0]
                else:
                    member.value = unit
        writes = [(program[name], np.ascontiguousarray(value, np.float32).tobytes())
                  for name, value in gpu_pass.uniforms.items() if name in program]
        return _Draw(gpu_pass, self._vaos[gpu_pass.program_key],
                     self._framebuffers[gpu_pass.target], textures, writes)

    def _warm_up(self) -> None:
        """Drivers compile shaders lazily at the first draw; pay for it now, not on frame one."""
        width, height = self.model.input_size
        self.upload_rgb(np.zeros((height, width, 3), np.uint8))
        self.upload_yuv420(*(np.zeros((height // s, width // s), np.uint8) for s in (1, 2, 2)))
        self._draw(self._draws)
        self.ctx.finish()

    def _check_gl(self, when: str) -> None:
        """Raise on errors that mean lost work. moderngl issues a few desktop/ES3-only calls
        (glDrawBuffers, glReadBuffer, uniform-block queries) that an ES 2.0 context answers
        with INVALID_ENUM/INVALID_OPERATION and otherwise ignores; those are not ours."""
        error = self.ctx.error
        if error not in ("GL_NO_ERROR", "GL_INVALID_ENUM", "GL_INVALID_OPERATION"):
            raise RuntimeError(f"OpenGL error {error} during {when}")

    # ---- per frame ------------------------------------------------------------------------

    def _draw(self, draws: list[_Draw]) -> None:
        """Draw passes with every binding and uniform set (any subset, in any state)."""
        for draw in draws:
            draw.framebuffer.viewport = draw.gpu_pass.viewport
            draw.framebuffer.use()
            for unit, texture in enumerate(draw.textures):
                texture.use(unit)
            for member, data in draw.writes:
                member.write(data)
            draw.vao.render(moderngl.TRIANGLES, vertices=3)

    @staticmethod
    def _lean_calls(draws: list[_Draw]) -> list[Callable[[], object]]:
        """The whole pass sequence as a flat list of GL calls, leaving out every bind and
        uniform write that repeats what an earlier pass of the sequence already set. Python is
        slow on a Pi Zero; this removes over half of the calls of a frame."""
        calls: list[Callable[[], object]] = []
        units: dict[int, moderngl.Texture] = {}
        uniforms: dict[int, bytes] = {}
        framebuffer, viewports = None, {}
        for draw in draws:
            target, viewport = draw.framebuffer, draw.gpu_pass.viewport
            if viewports.get(id(target)) != viewport:
                calls.append(partial(setattr, target, "viewport", viewport))
                viewports[id(target)] = viewport
                framebuffer = None
            if target is not framebuffer:
                calls.append(target.use)
                framebuffer = target
            for unit, texture in enumerate(draw.textures):
                if units.get(unit) is not texture:
                    calls.append(partial(texture.use, unit))
                    units[unit] = texture
            for member, data in draw.writes:
                if uniforms.get(id(member)) != data:
                    calls.append(partial(member.write, data))
                    uniforms[id(member)] = data
            calls.append(partial(draw.vao.render, moderngl.TRIANGLES, vertices=3))
        return calls

    def _frame_texture(self, key: tuple, size: tuple[int, int], components: int,
                       data: np.ndarray) -> moderngl.Texture:
        """Textures for incoming frames, made again only when the frame format changes."""
        texture = self._frame_textures.get(key)
        if texture is None or texture.size != size:
            if texture is not None:
                texture.release()
            texture = self._frame_textures[key] = self._new_texture(size, components=components)
        texture.write(np.ascontiguousarray(data))  # a buffer: no second copy of the frame
        return texture

    def _sample(self, kind: str, frame: list[moderngl.Texture], width: int, height: int) -> None:
        gpu_pass = self._sampler_passes[kind]
        draw = self._resolve(gpu_pass, frame)
        program = self._programs[gpu_pass.program_key]
        for name, value in self.model.sampler.frame_uniforms(width, height).items():
            if name in program:
                draw.writes.append((program[name], value.tobytes()))
        self._draw([draw])

    def upload_rgb(self, image: np.ndarray) -> None:
        """Resample an RGB(A) uint8 frame into the network input on the GPU."""
        self._gl.make_current()
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4) \
                or min(image.shape[:2]) < 1:
            raise ValueError(f"expected an H×W×3 or H×W×4 uint8 image, got {image.dtype} "
                             f"{image.shape}")
        height, width, components = image.shape
        texture = self._frame_texture(("rgb", components), (width, height), components, image)
        self._sample("rgb", [texture], width, height)

    def upload_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        """Convert and resample a YUV420 frame (three planes) on the GPU."""
        self._gl.make_current()
        y, u, v = (np.asarray(p) for p in (y, u, v))
        height, width = y.shape if y.ndim == 2 else (0, 0)
        half = (height // 2, width // 2)
        if y.dtype != np.uint8 or height < 2 or width < 2 or u.shape != half or v.shape != half \
                or u.dtype != np.uint8 or v.dtype != np.uint8:
            raise ValueError(f"expected uint8 planes Y H×W and U, V (H/2)×(W/2); got "
                             f"{y.shape}, {u.shape}, {v.shape}")
        planes = [self._frame_texture(("yuv", i), (p.shape[1], p.shape[0]), 1, p)
                  for i, p in enumerate((y, u, v))]
        self._sample("yuv420", planes, width, height)

    def _logits(self) -> np.ndarray:
        rows = self.plan.logits_count // 2
        framebuffer = self._framebuffers[self.plan.logits]
        data = framebuffer.read(viewport=(0, 0, 1, rows), components=4, alignment=1)
        return Dense.decode_logits(np.frombuffer(data, np.uint8).reshape(rows, 4))

    def _infer(self, upload) -> np.ndarray:
        start = time.perf_counter()
        upload()
        uploaded = time.perf_counter()
        for call in self._frame_calls:
            call()
        self.ctx.finish()
        drawn = time.perf_counter()
        logits = self._logits()
        self._check_gl("inference")
        done = time.perf_counter()
        self.last_timings = {"upload": uploaded - start, "gpu": drawn - uploaded,
                             "readback": done - drawn}
        return softmax(logits) if self.model.ops[-1].TYPE == "softmax" else logits

    def classify_rgb(self, image: np.ndarray) -> np.ndarray:
        """Probabilities (or logits, for a model without softmax) for an RGB(A) frame."""
        return self._infer(lambda: self.upload_rgb(image))

    def classify_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self._infer(lambda: self.upload_yuv420(y, u, v))

    # ---- self-test and op by op (tests, debugging) ------------------------------------------

    def clear_targets(self, code: int) -> None:
        """Fill every region a pass draws (the sampler's included) with `code` in all four
        channels; borders stay zero. A draw the GPU skips then leaves the code visible."""
        if not 0 <= code <= 255:
            raise ValueError(f"code {code} is not an 8-bit value")
        self._gl.make_current()
        value = code / 255.0
        for gpu_pass in [*self.plan.passes, *self._sampler_passes.values()]:
            self._framebuffers[gpu_pass.target].clear(value, value, value, value,
                                                      viewport=gpu_pass.viewport)
        self._check_gl("clearing the targets")

    def write_tensor(self, name: str, values: np.ndarray) -> None:
        """Store an op's output (values in [0, 1], H×W×C) as its 8-bit codes."""
        self._gl.make_current()
        layout = self.plan.layouts[name]
        codes = np.floor(np.clip(values, 0, 1) * 255 + 0.5).astype(np.uint8)
        codes = _pad_channels(codes, layout.quads)
        for q in range(layout.quads):
            ref, (x, y) = layout.quad(q)
            h, w = layout.shape[:2]
            self._textures[ref].write(np.ascontiguousarray(codes[..., 4 * q:4 * q + 4]).tobytes(),
                                      viewport=(x, y, w, h))

    def read_tensor(self, name: str) -> np.ndarray:
        """An op's stored output as H×W×C codes."""
        self._gl.make_current()
        layout = self.plan.layouts[name]
        h, w, c = layout.shape
        quads = []
        for q in range(layout.quads):
            ref, (x, y) = layout.quad(q)
            data = self._framebuffers[ref].read(viewport=(x, y, w, h), components=4, alignment=1)
            quads.append(np.frombuffer(data, np.uint8).reshape(h, w, 4))
        return np.concatenate(quads, axis=2)[..., :c]

    def run_op(self, name: str) -> None:
        """Draw only the passes of one op, on whatever its input tensors hold."""
        self._gl.make_current()
        self._draw([d for d in self._draws if d.gpu_pass.op == name])
        self._check_gl(f"op {name}")

    def logits(self) -> np.ndarray:
        self._gl.make_current()
        return self._logits()

    def release(self) -> None:
        self._gl.make_current()
        self._gl.release()


def _pad_channels(codes: np.ndarray, quads: int) -> np.ndarray:
    missing = 4 * quads - codes.shape[2]
    if missing:
        codes = np.concatenate([codes, np.zeros(codes.shape[:2] + (missing,), np.uint8)], axis=2)
    return codes


