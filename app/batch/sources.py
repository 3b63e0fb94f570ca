"""What to classify: the command's paths as picture files, folders and videos, made into jobs.

Folders are walked recursively in name order and contribute the files whose suffix is a known
picture or video format; a file named on the command line is taken whatever its suffix (a
picture unless it is a known video format), so a mistyped or broken one is reported rather
than silently skipped. Videos are decoded here, every Nth frame becoming a job that carries
its pixels, so workers need no video decoder and no access to the file.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace

from app.batch import BatchError
from app.batch.tasks import Job
from app.images import shrink

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                            ".ppm", ".pgm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm", ".mpg", ".mpeg",
                            ".h264"})

# a FIFO or a device named like a picture would block its reader or never end
_NOT_REGULAR = "{path} is not a regular file"

Key = tuple[str, "int | None"]  # (path as in the output, video frame or None)


@dataclass
class Inputs:
    images: list[str] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)

    def estimated_count(self, every: int) -> int:
        """Pictures plus the video frames that will be taken (from the containers' headers)."""
        return len(self.images) + sum(-(-_frame_count(v) // every) for v in self.videos)


def collect(paths: Sequence[str]) -> Inputs:
    """The pictures and videos the paths name; a path that does not exist, or a folder with
    nothing to classify, is a BatchError naming it (most likely a typo or the wrong folder)."""
    inputs = Inputs()
    for path in paths:
        if not os.path.exists(path):
            raise BatchError(f"{path}: no such file or folder")
        if os.path.isdir(path):
            found = len(inputs.images) + len(inputs.videos)
            others = 0
            for folder, subfolders, files in os.walk(path):
                subfolders.sort()
                for name in sorted(files):
                    suffix = os.path.splitext(name)[1].lower()
                    if suffix in IMAGE_SUFFIXES:
                        inputs.images.append(os.path.join(folder, name))
                    elif suffix in VIDEO_SUFFIXES:
                        inputs.videos.append(os.path.join(folder, name))
                    else:
                        others += 1
            if len(inputs.images) + len(inputs.videos) == found:
                what = f"only {others} other files" if others else "no files"
                raise BatchError(f"{path}: no pictures or videos to classify in this folder "
                                 f"({what}; pictures are {', '.join(sorted(IMAGE_SUFFIXES))})")
        elif os.path.splitext(path)[1].lower() in VIDEO_SUFFIXES:
            inputs.videos.append(path)
        else:
            inputs.images.append(path)
    # A path named twice (or a file named beside its folder) is classified once.
    inputs.images = list(dict.fromkeys(inputs.images))
    inputs.videos = list(dict.fromkeys(inputs.videos))
    return inputs


def jobs(inputs: Inputs, every: int, done: Collection[Key] = ()) -> Iterator[Job]:
    """Jobs for everything in `inputs` that is not in `done`: pictures first, then videos."""
    for path in inputs.images:
        if (path, None) not in done:
            yield picture_job(path)
    for path in inputs.videos:
        if (path, None) not in done:  # a video that failed as a whole is finished too
            yield from video_jobs(path, every, done)


def picture_job(path: str) -> Job:
    """A job naming the file, for workers that share this machine's files."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return Job(path, error=f"cannot read {path}: {exc.strerror or exc}")
    if not stat.S_ISREG(info.st_mode):
        return Job(path, error=_NOT_REGULAR.format(path=path))
    return Job(path, location=os.path.abspath(path), size=info.st_size)


def with_bytes(job: Job) -> Job:
    """The job carrying the file itself, for workers that cannot read this machine's files."""
    if job.location is None or job.error is not None:
        return job
    try:
        with open(job.location, "rb") as handle:
            return replace(job, data=handle.read(), location=None)
    except OSError as exc:
        return replace(job, error=f"cannot read {job.path}: {exc.strerror or exc}")


def video_jobs(path: str, every: int, done: Collection[Key] = ()) -> Iterator[Job]:
    """Frames 1, 1 + every, 1 + 2·every, ... of the video, or one job with the error."""
    import av  # PyAV: python3-av on Debian and Raspberry Pi OS, `av` on PyPI
    if not _is_regular(path):
        yield Job(path, error=_NOT_REGULAR.format(path=path))
        return
    try:
        with av.open(path) as container:
            for number, frame in enumerate(container.decode(video=0), 1):
                if (number - 1) % every == 0 and (path, number) not in done:
                    pixels = shrink(frame.to_ndarray(format="rgb24"))  # less to send
                    time_s = None if frame.time is None else round(frame.time, 3)
                    yield Job(path, frame=number, time_s=time_s, pixels=pixels)
    except (av.error.FFmpegError, OSError) as exc:
        yield Job(path, error=f"cannot decode video {path}: {exc}")


def _is_regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True  # the reader reports why it cannot read it


def _frame_count(path: str) -> int:
    import av
    if not _is_regular(path):
        return 1
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            if stream.frames:
                return stream.frames
            if stream.duration and stream.average_rate:
                return int(stream.duration * stream.time_base * stream.average_rate)
    except (av.error.FFmpegError, OSError, IndexError):
        pass
    return 1
