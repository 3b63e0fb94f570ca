"""Taught classifiers' states as the outputs see them: which debounced state changes the camera
predictions bring, and the events they make.

A taught classifier's result (a prediction's `taught[name]`) carries its debounced `state`: the
label that several results in a row agreed on, None until they have. A *change* is a state
other than the last one known for that classifier; the first state known counts as one. A state
of None (a classifier just started or refitted, not agreed yet) keeps the last known state, so
adding an example does not make a change unless the classifier then says something else.

A taught event is one state lasting: it starts when the state changes to its label and ends
when the state changes again, when the classifier stops running (deleted, disabled) or when the
predictions stop. Pure logic, like app.events.rules; the recorder output does the pictures and
the storage.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from app.events.rules import STALLED_AFTER_S, Change, Event, new_event_id
from app.hub import Prediction


@dataclass(frozen=True)
class StateChange:
    name: str  # the taught classifier's
    previous: str | None  # the state before; None when none was known
    state: str
    result: Mapping[str, Any]  # the result that made the change


class TaughtStates:
    """Each taught classifier's last known state; feed it the predictions in order."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}

    def feed(self, taught: Mapping[str, Mapping[str, Any]]) -> list[StateChange]:
        changes = []
        for name, result in taught.items():
            state, previous = result.get("state"), self.states.get(name)
            if state is not None and state != previous:
                self.states[name] = state
                changes.append(StateChange(name, previous, state, result))
        return changes

    def forget(self, keep: Collection[str]) -> list[str]:
        """Drop the classifiers not in `keep` (no longer running); their names."""
        gone = [name for name in self.states if name not in keep]
        for name in gone:
            del self.states[name]
        return gone


class TaughtEvents:
    """The events of taught classifiers' states, from the camera predictions in order."""

    def __init__(self, end_s: float) -> None:
        """`end_s`: as the events' rule, how long predictions may pause before events end."""
        self.end_s = end_s
        self.states = TaughtStates()
        self._active: dict[str, Event] = {}  # classifier name -> the event of its state
        self._last_fed: float | None = None

    @property
    def active(self) -> list[Event]:
        return list(self._active.values())

    def feed(self, prediction: Prediction, running: Collection[str]) -> list[Change]:
        """`running`: the names of the taught classifiers that run now; the events of the
        others end."""
        self._last_fed = prediction.timestamp
        changes = [self._end(name) for name in self.states.forget(running)
                   if name in self._active]
        taught = {name: result for name, result in prediction.taught.items() if name in running}
        for change in self.states.feed(taught):
            if change.name in self._active:
                changes.append(self._end(change.name, change.result["timestamp"]))
            changes.append(self._start(change, prediction.model_name))
        for name, result in taught.items():
            event = self._active.get(name)
            if event is not None and result.get("state") == event.label and \
                    result["timestamp"] > event.last_seen:
                event.last_seen, event.end_frame = result["timestamp"], result["frame"]
        return changes

    def tick(self, now: float) -> list[Change]:
        """End the open events when the classifier has stopped sending predictions; the next
        state seen starts afresh."""
        if self._last_fed is None or now - self._last_fed < self.end_s + STALLED_AFTER_S:
            return []
        self.states.forget(())
        return [self._end(name) for name in list(self._active)]

    def _start(self, change: StateChange, model_name: str) -> Change:
        result = change.result
        event = Event(id=new_event_id(result["timestamp"]), label=change.state,
                      display_label=f"{change.name}: {change.state}", model_name=model_name,
                      start=result["timestamp"], start_frame=result["frame"],
                      peak=result["probability"], peak_frame=result["frame"],
                      last_seen=result["timestamp"], end_frame=result["frame"],
                      taught=change.name, previous=change.previous)
        self._active[change.name] = event
        return Change("start", event)

    def _end(self, name: str, at: float | None = None) -> Change:
        """End at `at` (the next state's start), else when the state was last seen."""
        event = self._active.pop(name)
        event.end = event.last_seen if at is None else max(at, event.last_seen)
        return Change("end", event)
