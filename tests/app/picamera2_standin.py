"""A stand-in for the parts of picamera2 the camera adapter calls, since no camera exists here.

Same names, arguments and array layout as picamera2: YUV420 streams come back from
`capture_array` as one (height*3/2, stride) uint8 array with the stride padded to 64 bytes
(padding filled with 0xEE so a reader that forgets to cut it off is caught), the encoder's
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
    lock: threading.Lock = field(default_factory=threading.Lock)


WORLD = World()


def frame_content(n: int, width: int, height: int) -> tuple[np.ndarray, int, int]:
    """The Y plane and the U, V values the stand-in shows on frame n (a moving ramp)."""
    x = np.arange(width, dtype=np.int32)
    y = ((x[None, :] + 7 * n + np.arange(height)[:, None]) % 256).astype(np.uint8)
    return y, (40 + n) % 256, (200 - n) % 256


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


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
        return {"use_case": use_case, "buffer_count": buffer_count, "queue": queue,
                "main": dict(main), "lores": dict(lores) if lores else None,
                "controls": dict(controls), "display": display, "encode": encode}

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
            stream["stride"] = _align(stream["size"][0], 64)
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
        array = np.full((height * 3 // 2, stride), PAD, np.uint8)
        array[:height, :width] = y
        chroma = np.full((height // 2, stride // 2), PAD, np.uint8)
        for start, value in ((height, u), (height + height // 4, v)):
            chroma[:, :width // 2] = value
            array[start:start + height // 4] = chroma.reshape(height // 4, stride)
        return array

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
    """Make `import picamera2` (and its encoders/outputs modules) give this stand-in."""
    global WORLD
    WORLD = World()
    package = types.ModuleType("picamera2")
    package.Picamera2 = Picamera2
    encoders = types.ModuleType("picamera2.encoders")
    encoders.MJPEGEncoder = MJPEGEncoder
    outputs = types.ModuleType("picamera2.outputs")
    outputs.FileOutput = FileOutput
    package.encoders, package.outputs = encoders, outputs
    for name, module in (("picamera2", package), ("picamera2.encoders", encoders),
                         ("picamera2.outputs", outputs)):
        monkeypatch.setitem(sys.modules, name, module)
    return WORLD
