"""The review queue: recent camera frames a taught classifier was unsure of, to label with a tap.

The inference worker offers each running classifier's answers here. A frame is kept when the
answer is uncertain (below the head's threshold) or its two best classes are close, at most
one every GAP_S seconds per classifier (a scene that stays puzzling gives one item, not a
dozen copies of one moment), the newest SIZE per classifier. An item holds what labelling it
needs without a second GPU pass: its feature vector and the region's thumbnail, a few KB, in
memory only (a restart empties the queue; nothing grows on a 512 MB Pi).
"""
from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from app.teach.head import Answer
from app.teach.store import EXAMPLE_ID, NoSuchClassifier

SIZE = 12       # items kept per classifier
GAP_S = 3.0     # the least time between two items of one classifier, seconds
CLOSE = 0.15    # two best probabilities nearer than this: unsure, even above the threshold


@dataclass(frozen=True, eq=False)  # one item is itself only
class Item:
    id: str
    frame: int
    timestamp: float         # the frame's Unix time
    answer: Answer
    vector: np.ndarray       # the descriptor, as a new example of any class would store it
    thumb: bytes             # the region's JPEG, as an example's

    def to_dict(self, name: str) -> dict:
        """What the API lists of it (no feature vector)."""
        ranked = sorted(self.answer.probabilities.items(), key=lambda kv: -kv[1])
        return {"id": self.id, "frame": self.frame, "timestamp": self.timestamp,
                "label": self.answer.label, "guess": ranked[0][0],
                "probability": round(ranked[0][1], 6), "uncertain": self.answer.uncertain,
                "probabilities": {k: round(v, 6) for k, v in self.answer.probabilities.items()},
                "thumb": f"/api/teach/{name}/review/{self.id}.jpg"}


def unsure(answer: Answer) -> bool:
    """Below the threshold, or the two best classes nearly tie."""
    best = sorted(answer.probabilities.values(), reverse=True)
    return answer.uncertain or (len(best) > 1 and best[0] - best[1] < CLOSE)


class ReviewQueues:
    """One bounded queue per running classifier; the worker adds, the web layer reads and
    takes, from their own threads."""

    def __init__(self, size: int = SIZE, gap_s: float = GAP_S) -> None:
        self.size, self.gap_s = size, gap_s
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Item]] = {}
        self._last: dict[str, float] = {}      # monotonic time of each one's newest item
        self._inputs: dict[str, tuple] = {}    # what its items' vectors were computed from

    def wants(self, name: str, answer: Answer, now: float) -> bool:
        """Whether a frame with this answer would be kept (asked before its thumbnail is made)."""
        last = self._last.get(name)
        return unsure(answer) and (last is None or now - last >= self.gap_s)

    def add(self, name: str, answer: Answer, vector: np.ndarray, thumb: bytes, frame: int,
            timestamp: float, now: float) -> None:
        item = Item(secrets.token_hex(6), frame, timestamp, answer,
                    np.asarray(vector, np.float32).copy(), thumb)
        with self._lock:
            self._queues.setdefault(name, deque(maxlen=self.size)).append(item)
            self._last[name] = now

    def keep_only(self, running: dict[str, tuple]) -> None:
        """Forget the queues of classifiers that no longer run, or whose inputs (region,
        descriptor, backbone) changed: their vectors would not fit. `running`: name -> inputs."""
        with self._lock:
            for name in list(self._queues) + list(self._last):
                if self._inputs.get(name) != running.get(name):
                    self._queues.pop(name, None)
                    self._last.pop(name, None)
            self._inputs = dict(running)

    def items(self, name: str) -> list[Item]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._queues.get(name, ())))

    def get(self, name: str, item_id: str) -> Item:
        with self._lock:
            for item in self._queues.get(name, ()) if EXAMPLE_ID.fullmatch(item_id) else ():
                if item.id == item_id:
                    return item
        raise NoSuchClassifier(f"{name!r} has no frame {item_id!r} to review (labelled, "
                               "dismissed, or pushed out by newer ones)")

    def remove(self, name: str, item_id: str) -> None:
        """Take an item out (NoSuchClassifier when it is not there)."""
        item = self.get(name, item_id)
        with self._lock:
            queue = self._queues.get(name)
            if queue is not None and item in queue:  # not pushed out meanwhile
                queue.remove(item)
