"""Taught classifiers' state changes and events, as pure logic on predictions: a state None
keeps the last known one, each change ends one event and starts the next, a classifier that
stops running or predictions that stop end its event."""
from app.events.taught import TaughtEvents, TaughtStates
from app.hub import Prediction


def prediction(timestamp: float, **states) -> Prediction:
    taught = {name: {"label": state or "unknown", "probability": 0.9, "uncertain": False,
                     "state": state, "frame": int(timestamp), "timestamp": timestamp}
              for name, state in states.items()}
    return Prediction(frame=int(timestamp), timestamp=timestamp, label=None, display_label=None,
                      uncertain=True, top_k=[], timings_ms={}, model_name="dogs", origin="camera",
                      taught=taught)


def test_a_state_of_none_keeps_the_last_known_one():
    states = TaughtStates()
    assert [(c.previous, c.state) for c in states.feed({"door": {"state": "open"}})] == \
        [(None, "open")]
    assert states.feed({"door": {"state": None}}) == []  # refitted, not agreed yet
    assert states.feed({"door": {"state": "open"}}) == []
    assert [(c.previous, c.state) for c in states.feed({"door": {"state": "shut"}})] == \
        [("open", "shut")]
    assert states.forget({"gate"}) == ["door"] and states.states == {}


def test_each_state_is_an_event_until_the_next():
    events = TaughtEvents(end_s=2.0)
    (start,) = events.feed(prediction(10.0, door="open"), {"door"})
    assert start.kind == "start" and start.event.taught == "door"
    assert start.event.label == "open" and start.event.previous is None
    assert start.event.display_label == "door: open"
    assert events.feed(prediction(11.0, door="open"), {"door"}) == []
    assert events.feed(prediction(12.0, door=None), {"door"}) == []
    end, start = events.feed(prediction(13.0, door="shut"), {"door"})
    assert end.kind == "end" and end.event.label == "open" and end.event.end == 13.0
    assert end.event.last_seen == 11.0
    assert start.event.label == "shut" and start.event.previous == "open"
    # the classifier stops running: its event ends when its state was last seen
    (end,) = events.feed(prediction(14.0), set())
    assert end.kind == "end" and end.event.end == 13.0 and events.active == []


def test_events_end_when_the_predictions_stop():
    events = TaughtEvents(end_s=2.0)
    events.feed(prediction(10.0, door="open", gate="shut"), {"door", "gate"})
    assert events.tick(12.0) == []
    ended = events.tick(20.0)
    assert {c.event.taught for c in ended} == {"door", "gate"}
    assert all(c.kind == "end" for c in ended)
    (start,) = events.feed(prediction(30.0, door="open"), {"door"})
    assert start.event.previous is None  # a fresh start after the pause
