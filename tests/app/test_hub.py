"""Results hub: ranking, smoothing, threshold."""
from __future__ import annotations

import numpy as np
import pytest

from app.hub import PredictionMaker

LABELS = ["cat", "dog", "fox", "owl"]


def test_ranking_and_threshold():
    maker = PredictionMaker(LABELS, "toy", top_k=3, threshold=0.5)
    sure = maker.make(np.array([0.1, 0.7, 0.15, 0.05]), frame=3, timestamp=1.0,
                      timings_s={"gpu": 0.25})
    assert [r.label for r in sure.top_k] == ["dog", "fox", "cat"]
    assert sure.label == "dog" and not sure.uncertain
    assert sure.timings_ms == {"gpu": 250.0}
    unsure = maker.make(np.array([0.3, 0.3, 0.35, 0.05]), 4, 2.0, {})
    assert unsure.uncertain and unsure.label is None and unsure.top_k[0].label == "fox"


def test_smoothing_averages_recent_camera_frames_only():
    maker = PredictionMaker(LABELS, "toy", top_k=2, smoothing=2)
    maker.make(np.array([1.0, 0, 0, 0]), 1, 0.0, {})
    mixed = maker.make(np.array([0, 0.6, 0.4, 0]), 2, 0.0, {})
    assert mixed.top_k[0].label == "cat" and mixed.top_k[0].probability == pytest.approx(0.5)
    assert mixed.top_k[1].probability == pytest.approx(0.3)
    upload = maker.make(np.array([0, 0, 0, 1.0]), 0, 0.0, {}, origin="upload")
    assert upload.label == "owl" and upload.smoothing == 1
    later = maker.make(np.array([0, 0.6, 0.4, 0]), 3, 0.0, {})
    assert later.label == "dog"  # the upload did not enter the window; frame 1 left it
