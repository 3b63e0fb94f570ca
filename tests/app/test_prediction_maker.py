"""The worker's prediction maker on its own: ranking, smoothing over camera frames, threshold,
settings changed between frames, and the one shape a prediction has everywhere."""
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


def test_ties_keep_the_models_order_and_top_k_is_at_most_every_class():
    maker = PredictionMaker(LABELS, "toy", top_k=10)
    tied = maker.make(np.array([0.1, 0.4, 0.1, 0.4]), 1, 0.0, {})
    assert [(r.index, r.label) for r in tied.top_k] == [(1, "dog"), (3, "owl"), (0, "cat"),
                                                        (2, "fox")]
    assert tied.top_k[0].probability == pytest.approx(0.4)


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


def test_settings_changed_between_frames_apply_to_the_next_and_keep_recent_frames():
    maker = PredictionMaker(LABELS, "toy", smoothing=3)
    for probabilities in ([0.9, 0.1, 0, 0], [0.0, 0.9, 0.1, 0], [0.0, 0.9, 0.1, 0]):
        maker.make(np.array(probabilities), 1, 0.0, {})
    maker.configure(smoothing=2, threshold=0.95)  # the newest two frames stay in the window
    narrower = maker.make(np.array([0.0, 0.0, 0.0, 1.0]), 4, 0.0, {})
    assert [(r.label, r.probability) for r in narrower.top_k[:2]] == \
        [("owl", pytest.approx(0.5)), ("dog", pytest.approx(0.45))]
    assert narrower.uncertain and narrower.smoothing == 2 and narrower.threshold == 0.95
    maker.configure(smoothing=1, threshold=0.5)
    single = maker.make(np.array([0.0, 0.0, 0.8, 0.2]), 5, 0.0, {})
    assert single.label == "fox" and single.top_k[0].probability == pytest.approx(0.8)
    assert single.smoothing == 1 and single.threshold == 0.5


def test_a_prediction_has_one_shape_with_readable_labels():
    maker = PredictionMaker(["n02085620-Chihuahua", "golden_retriever"], "dogs", top_k=1)
    prediction = maker.make(np.array([0.25, 0.75]), 7, 12.5, {"total": 0.0123456})
    assert prediction.to_dict() == {
        "type": "prediction", "frame": 7, "timestamp": 12.5, "label": "golden_retriever",
        "display_label": "Golden retriever", "uncertain": False,
        "top_k": [{"index": 1, "label": "golden_retriever", "display_label": "Golden retriever",
                   "probability": 0.75}],
        "timings_ms": {"total": 12.346}, "model_name": "dogs", "origin": "camera",
        "smoothing": 1, "threshold": 0.0, "taught": {}}
    assert maker.display_labels == ["Chihuahua", "Golden retriever"]
