"""Event rules on real predictions: start after N frames at the threshold, end after M seconds
below, per-class thresholds, the class filter, the cooldown, and a classifier that stops."""
from __future__ import annotations

import numpy as np

from app.events.rules import ID_PATTERN, EventDetector, EventRules
from app.hub import PredictionMaker

LABELS = ["cat", "dog", "fox", "owl"]


def feed(detector, maker, rows, start=1000.0, step=0.5, frame=1):
    """Each row: probabilities of LABELS for one frame, `step` seconds apart."""
    changes = []
    for i, row in enumerate(rows):
        prediction = maker.make(np.array(row, np.float32), frame + i, start + i * step, {})
        changes += [(c.kind, c.event.label, frame + i) for c in detector.feed(prediction)]
    return changes


CAT, DOG, NONE = [0.9, 0.05, 0.03, 0.02], [0.1, 0.8, 0.05, 0.05], [0.3, 0.3, 0.2, 0.2]


def test_start_after_n_frames_and_end_after_m_seconds_below():
    detector = EventDetector(EventRules(start_frames=3, end_s=1.0, cooldown_s=0))
    maker = PredictionMaker(LABELS, "toy", top_k=4)
    changes = feed(detector, maker, [CAT, CAT, NONE, CAT, CAT, CAT, CAT, NONE, NONE, NONE, NONE])
    # frames 1-2 are only two in a row; 4-6 are three: the event starts at frame 6; frame 9
    # is the first 1 s after frame 7, the last one with the cat, and ends it
    assert [c for c in changes if c[0] != "peak"] == [("start", "cat", 6), ("end", "cat", 9)]


def test_an_event_records_its_span_and_its_best_frame():
    detector = EventDetector(EventRules(start_frames=3, end_s=1.0, cooldown_s=0))
    maker = PredictionMaker(LABELS, "toy", top_k=4)
    best = [0.95, 0.03, 0.01, 0.01]
    changes = []
    for i, row in enumerate([CAT, CAT, CAT, best, CAT, NONE, NONE, NONE]):
        changes += detector.feed(maker.make(np.array(row), 10 + i, 2000.0 + i * 0.5, {}))
    assert [c.kind for c in changes] == ["start", "peak", "end"]
    event = changes[-1].event
    assert ID_PATTERN.fullmatch(event.id) and event.model_name == "toy" and event.label == "cat"
    assert event.display_label == "Cat"
    assert (event.start, event.start_frame) == (2000.0, 10)  # dated from the run's first frame
    assert (event.end, event.end_frame) == (2002.0, 14)  # the last frame at the threshold
    assert abs(event.peak - 0.95) < 1e-6 and event.peak_frame == 13
    assert event.to_dict()["state"] == "ended" and changes[0].event is event


def test_per_class_thresholds_and_the_class_filter():
    rules = EventRules(labels=("cat", "dog"), threshold=0.85, thresholds={"dog": 0.7},
                       start_frames=1, end_s=0, cooldown_s=0)
    maker = PredictionMaker(LABELS, "toy", top_k=4)
    changes = feed(EventDetector(rules), maker,
                   [DOG, NONE, [0.02, 0.02, 0.9, 0.06], NONE, [0.8, 0.1, 0.05, 0.05], NONE, CAT])
    # dog at 0.8 passes its own 0.7; the fox is not watched; cat at 0.8 misses 0.85
    assert [c for c in changes if c[0] != "peak"] == [("start", "dog", 1), ("end", "dog", 2),
                                                      ("start", "cat", 7)]
    assert EventRules().watches("anything") and not rules.watches("fox")


def test_cooldown_keeps_a_class_from_starting_again_too_soon():
    detector = EventDetector(EventRules(start_frames=1, end_s=0, cooldown_s=3.0))
    maker = PredictionMaker(LABELS, "toy", top_k=4)
    # 0.5 s per frame: the cat event ends at frame 2 (dated 1000.0, its last sighting), so
    # the cat cannot start again before 1003.0 (frame 7); the dog is not affected
    rows = [CAT, NONE, CAT, DOG, CAT, NONE, NONE, CAT]
    changes = [c for c in feed(detector, maker, rows) if c[0] != "peak"]
    assert changes == [("start", "cat", 1), ("end", "cat", 2), ("start", "dog", 4),
                       ("end", "dog", 5), ("start", "cat", 8)]


def test_open_events_end_when_the_classifier_stops():
    detector = EventDetector(EventRules(start_frames=1, end_s=1.0))
    maker = PredictionMaker(LABELS, "toy", top_k=4)
    feed(detector, maker, [CAT, CAT], start=500.0)
    assert [e.label for e in detector.active] == ["cat"]
    assert detector.tick(503.0) == []  # a slow classifier is not a stopped one
    [change] = detector.tick(507.0)
    assert change.kind == "end" and change.event.end == 500.5 and not detector.active


def test_uncertain_and_smoothed_predictions_count_by_probability():
    detector = EventDetector(EventRules(start_frames=2, end_s=0, threshold=0.5))
    maker = PredictionMaker(LABELS, "toy", top_k=2, smoothing=2, threshold=0.95)
    changes = feed(detector, maker, [CAT, CAT, NONE, NONE])
    # the prediction says "uncertain" (0.9 < 0.95) but the cat is at 0.9 >= 0.5; the smoothed
    # cat is (0.9 + 0.3) / 2 = 0.6 at frame 3, still seen, and 0.3 at frame 4
    assert [c for c in changes if c[0] != "peak"] == [("start", "cat", 2), ("end", "cat", 4)]
