"""The k most probable classes, best first."""
from __future__ import annotations

import numpy as np


def top_k(probabilities: np.ndarray, labels: list[str], k: int) -> list[tuple[int, str, float]]:
    p = np.asarray(probabilities, np.float64).ravel()
    k = max(0, min(k, p.size))
    order = np.argsort(-p, kind="stable")[:k]
    return [(int(i), labels[i] if i < len(labels) else f"class {i}", float(p[i])) for i in order]
