"""Scoring a model on a labelled set: one subfolder per class, named after the model's label.

Folder names match labels ignoring case and treating spaces, '_' and '-' alike ("Tiger cat",
"tiger_cat"); folders that match no label are reported and left out. Pictures that cannot be
read are counted and listed, not scored.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field

from app.batch.sources import collect

CONFUSED_PAIRS = 10


def normalise(name: str) -> str:
    return re.sub(r"[\s_-]+", " ", name.strip().lower())


@dataclass
class LabelledSet:
    pictures: dict[str, int] = field(default_factory=dict)  # path -> true class index
    folders: dict[int, str] = field(default_factory=dict)   # class index -> its folder
    unknown: list[str] = field(default_factory=list)         # folders matching no label


def find_labelled(root: str, labels: list[str]) -> LabelledSet:
    by_name = {normalise(label): index for index, label in enumerate(labels)}
    found = LabelledSet()
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        index = by_name.get(normalise(entry.name))
        if index is None:
            found.unknown.append(entry.name)
            continue
        found.folders[index] = entry.name
        for path in collect([entry.path]).images:
            found.pictures[path] = index
    return found


class Scores:
    """Accumulates records of a labelled set; `report()` gives the figures."""

    def __init__(self, labels: list[str], labelled: LabelledSet):
        self.labels, self.labelled = labels, labelled
        self.confusion: Counter[tuple[int, int]] = Counter()  # (true, predicted) -> pictures
        self.top5 = 0
        self.errors: list[dict] = []

    def add(self, record: dict) -> None:
        truth = self.labelled.pictures[record["path"]]
        if "error" in record:
            self.errors.append({"path": record["path"], "error": record["error"]})
            return
        ranked = [entry["index"] for entry in record["top_k"]]
        self.confusion[truth, ranked[0]] += 1
        self.top5 += truth in ranked[:5]

    def classes(self) -> list[int]:
        """Class indices in the matrix: the set's classes and anything they were taken for."""
        return sorted(set(self.labelled.folders) | {p for _, p in self.confusion})

    def report(self, seconds: float) -> dict:
        scored = sum(self.confusion.values())
        correct = sum(n for (t, p), n in self.confusion.items() if t == p)
        per_class = {}
        for index in sorted(self.labelled.folders):
            total = sum(n for (t, _), n in self.confusion.items() if t == index)
            per_class[self.labels[index]] = {
                "folder": self.labelled.folders[index], "images": total,
                "top1": self.confusion[index, index] / total if total else None}
        pairs = sorted(((n, t, p) for (t, p), n in self.confusion.items() if t != p),
                       key=lambda item: (-item[0], item[1], item[2]))[:CONFUSED_PAIRS]
        classes = self.classes()
        return {
            "images": scored, "errors": len(self.errors),
            "top1": correct / scored if scored else None,
            "top5": self.top5 / scored if scored else None,
            "images_per_second": (scored + len(self.errors)) / seconds if seconds > 0 else None,
            "seconds": seconds,
            "per_class": per_class,
            "most_confused": [{"true": self.labels[t], "predicted": self.labels[p], "images": n,
                               "share_of_true": n / per_class[self.labels[t]]["images"]}
                              for n, t, p in pairs],
            "confusion": {"labels": [self.labels[i] for i in classes],
                          "counts": [[self.confusion[t, p] for p in classes] for t in classes]},
            "unknown_folders": self.labelled.unknown,
            "failed": self.errors,
        }
