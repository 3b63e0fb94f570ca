"""The schedule of the files source in the event tests: each class for a few frames in turn."""
from __future__ import annotations

SCHEDULE_CLASSES = ("circle", "triangle", "ring", "cross")
FRAMES_PER_CLASS = 8


def class_of_frame(order: list[str], frame: int) -> str:
    """The files source plays its files in order, in a loop; frames count from 1."""
    return order[(frame - 1) % len(order)]
