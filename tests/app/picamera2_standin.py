"""A stand-in for the parts of picamera2 the camera adapter calls, since no camera exists here.

Same names, arguments and array layout as picamera2: a YUV420 buffer is laid out as libcamera
fills it (Y: height rows of `stride` bytes; U, then V: height/2 rows of stride/2 bytes each)
and `capture_array` hands it over reshaped to (height*3/2, stride) rows as picamera2 does,
so for height % 4 == 2 a chroma plane starts in the middle of a row. Strides are padded to
`World.stride_align` bytes (padding filled with 0xEE so a reader that forgets to cut it off
is caught). Without `colour_space` the video configuration is limited-range Smpte170m, as
picamera2 picks for streams smaller than 1280 pixels wide; `libcamera.ColorSpace` gives the
colour spaces by name. The encoder's
FileOutput only accepts io.BufferedIOBase and calls write() then flush() for every JPEG. The
`World` decides when the camera is missing or fails, like an unplugged ribbon cable would.
"""
from __future__ import annotations

import io
import sys
import threading
import time
import types
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

PAD = 0xEE


@dataclass
class World:
    present: bool = True
    fail_after_frames: int | None = None  # capture_array raises after this many frames
    then_missing: int = 0  # after that failure, Picamera2() fails this many times
    missing_opens: int = 0
    opened: int = 0
    frames: int = 0
    instances: list = field(default_factory=list)
    stride_align: int = 64  # bytes a row of a stream is padded to
    lock: threading.Lock = field(default_factory=threading.Lock)


WORLD = World()


def frame_content(n: int, width: int, height: int) -> tuple[np.ndarray, int, int]:
    """The Y plane and the U, V values the stand-in shows on frame n (a moving ramp)."""
    x = np.arange(width, dtype=np.int32)
    y = ((x[None, :] + 7 * n + np.arange(height)[:, None]) % 256).astype(np.uint8)
    return y, (40 + n) % 256, (200 - n) % 256


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


class ColorSpace:
    """libcamera.ColorSpace: the named colour spaces; `range` is "Full" or "Limited"."""

    def __init__(self, name: str, full_range: bool):
        self.name, self.range = name, "Full" if full_range else "Limited"

    def __eq__(self, other) -> bool:
        return isinstance(other, ColorSpace) and (self.name, self.range) == (other.name,
                                                                            other.range)

    def __repr__(self) -> str:
        return f"<libcamera.ColorSpace '{self.name}'>"

    @staticmethod
    def Sycc():
        return ColorSpace("sYCC", True)

    @staticmethod
    def Smpte170m():
        return ColorSpace("SMPTE170M", False)

    @staticmethod
    def Rec709():
        return ColorSpace("Rec709", False)


class FileOutput:
    def __init__(self, file=None, pts=None, split=None):
        if not isinstance(file, io.BufferedIOBase):
            raise RuntimeError("Must pass io.BufferedIOBase")
        self.fileoutput = file

    def outputframe(self, frame, keyframe=True, timestamp=None):
        self.fileoutput.write(frame)
        self.fileoutput.flush()


class MJPEGEncoder:
    def __init__(self, bitrate=None):
        self.output = None


class Picamera2:
    def __init__(self, camera_num=0, tuning=None):
        with WORLD.lock:
            if not WORLD.present or WORLD.missing_opens > 0:
                WORLD.missing_opens = max(0, WORLD.missing_opens - 1)
                raise IndexError("list index out of range")
            WORLD.opened += 1
            WORLD.instances.append(self)
        self.camera_num = camera_num
        self.camera_config = None
        self.started = False
        self.closed = False
        self.encoder = None
        self._encoder_thread = None
        self._encoding = None
        self._frame_no = 0

    def create_video_configuration(self, main={}, lores=None, raw={}, transform=None,
                                   colour_space=None, buffer_count=6, controls={},
                                   display="main", encode="main", queue=True, sensor={},
                                   use_case="video"):
        if colour_space is None:
            wide = main.get("size", (640, 480))[0] >= 1280
            colour_space = ColorSpace.Rec709() if wide else ColorSpace.Smpte170m()
        return {"use_case": use_case, "buffer_count": buffer_count, "queue": queue,
                "main": dict(main), "lores": dict(lores) if lores else None,
                "controls": dict(controls), "display": display, "encode": encode,
                "colour_space": colour_space}

    def configure(self, camera_config):
        config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in camera_config.items()}
        main, lores = config["main"], config["lores"]
        if lores is not None:
            if lores["format"] not in ("YUV420", "YVU420"):
                raise RuntimeError("lores stream must be YUV")
            if lores["size"][0] > main["size"][0] or lores["size"][1] > main["size"][1]:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
        if config["buffer_count"] > 6:
            raise RuntimeError("Failed to allocate buffers (CMA exhausted)")
        for stream in filter(None, (main, lores)):
            stream["size"] = (_align(stream["size"][0], 2), _align(stream["size"][1], 2))
            stream["stride"] = _align(stream["size"][0], WORLD.stride_align)
            stream["framesize"] = stream["stride"] * stream["size"][1] * 3 // 2
        self.camera_config = config

    def stream_configuration(self, name="main"):
        return self.camera_config[name]

    def start_encoder(self, encoder=None, output=None, pts=None, quality=None, name=None):
        if self.camera_config is None or self.camera_config.get(name or "main") is None:
            raise RuntimeError(f"Encode stream {name} is not defined")
        encoder.output = output
        self.encoder = encoder

    def start(self):
        self.started = True
        if self.encoder is not None:
            self._encoder_thread = self._encoding = threading.Thread(target=self._encode_loop,
                                                                     daemon=True)
            self._encoder_thread.start()

    def set_controls(self, controls):
        """Like picamera2's: taken up from the next frames on, while it streams."""
        self.camera_config["controls"].update(controls)

    def _period(self) -> float:
        low, _ = self.camera_config["controls"].get("FrameDurationLimits", (33333, 33333))
        return low / 1e6

    def _encode_loop(self):
        width, height = self.camera_config["main"]["size"]
        n = 0
        while self.started and self._encoding is threading.current_thread():
            y, _, _ = frame_content(n, width, height)
            out = io.BytesIO()
            Image.fromarray(y).save(out, format="JPEG", quality=70)
            self.encoder.output.outputframe(out.getvalue())
            n += 1
            time.sleep(self._period())

    def capture_array(self, name="main", wait=None):
        if not self.started:
            raise RuntimeError("Camera must be started before capture")
        time.sleep(self._period())
        with WORLD.lock:
            if WORLD.fail_after_frames is not None and WORLD.frames >= WORLD.fail_after_frames:
                WORLD.fail_after_frames = None
                WORLD.missing_opens = WORLD.then_missing
                raise RuntimeError("Camera frontend has timed out!")
            WORLD.frames += 1
        stream = self.camera_config[name]
        width, height = stream["size"]
        stride = stream["stride"]
        self._frame_no += 1
        y, u, v = frame_content(self._frame_no, width, height)
        luma = np.full((height, stride), PAD, np.uint8)
        luma[:, :width] = y
        planes = [luma.reshape(-1)]
        for value in (u, v):
            chroma = np.full((height // 2, stride // 2), PAD, np.uint8)
            chroma[:, :width // 2] = value
            planes.append(chroma.reshape(-1))
        return np.concatenate(planes).reshape(height * 3 // 2, stride)

    def stop_encoder(self, encoders=None):
        """Like picamera2: returns once the encoder has stopped delivering frames."""
        encoding, self._encoding = self._encoder_thread, None
        if encoding is not None and encoding is not threading.current_thread():
            encoding.join()
        self.encoder = None

    def stop(self):
        self.started = False
        if self._encoder_thread is not None:
            self._encoder_thread.join()

    def close(self):
        self.started = False
        self.closed = True


def install(monkeypatch) -> World:
    """Make `import picamera2` (with its encoders/outputs modules) and `import libcamera` give
    this stand-in."""
    global WORLD
    WORLD = World()
    package = types.ModuleType("picamera2")
    package.Picamera2 = Picamera2
    encoders = types.ModuleType("picamera2.encoders")
    encoders.MJPEGEncoder = MJPEGEncoder
    outputs = types.ModuleType("picamera2.outputs")
    outputs.FileOutput = FileOutput
    package.encoders, package.outputs = encoders, outputs
    libcamera = types.ModuleType("libcamera")
    libcamera.ColorSpace = ColorSpace
    for name, module in (("picamera2", package), ("picamera2.encoders", encoders),
                         ("picamera2.outputs", outputs), ("libcamera", libcamera)):
        monkeypatch.setitem(sys.modules, name, module)
    return WORLD
