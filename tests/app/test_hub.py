"""The results hub: the latest prediction, one message per prediction or event for every
output; outputs attach from any thread while results flow, a broken output is counted and
skipped, and a stuck one costs the publisher nothing (bounded queue)."""
from __future__ import annotations

import json
import threading

import numpy as np

from app.hub import Message, PredictionMaker, ResultsHub
from app.outputs.queued import QueuedOutput
from serving import wait_for

LABELS = ["cat", "dog"]


class Recorder:
    """An output that keeps the messages it is given."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.messages: list[Message] = []

    @property
    def frames(self) -> list[int]:
        return [message.prediction.frame for message in self.messages]

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> dict:
        return {"state": "ok"}

    def publish(self, message: Message) -> None:
        self.messages.append(message)


class Broken(Recorder):
    def publish(self, message: Message) -> None:
        raise RuntimeError("this output is broken")


class Stuck(QueuedOutput):
    """Its slow work waits until released."""

    name = "stuck"

    def __init__(self) -> None:
        super().__init__(limit=8)
        self.release = threading.Event()
        self.handled: list[int] = []

    def _handle(self, message: Message) -> None:
        self.release.wait(30)
        self.handled.append(message.prediction.frame)


def prediction(maker: PredictionMaker, frame: int):
    return maker.make(np.array([0.7, 0.3], np.float32), frame, float(frame), {"total": 0.01})


def test_the_latest_is_the_last_prediction_and_events_reach_the_outputs_beside_them():
    hub, maker = ResultsHub(), PredictionMaker(LABELS, "toy")
    output = Recorder("output")
    hub.attach(output)
    assert hub.latest is None
    first, second = prediction(maker, 1), prediction(maker, 2)
    hub.publish(first)
    hub.publish(second)
    event = {"id": "e1", "label": "cat", "end": None}
    hub.publish_event(event, b"JPEG")
    assert hub.latest is second and hub.published == 2  # an event is not a prediction
    assert [m.type for m in output.messages] == ["prediction", "prediction", "event"]
    assert output.messages[1].prediction is second
    assert json.loads(output.messages[1].json) == second.to_dict()
    announced = output.messages[2]
    assert json.loads(announced.json) == {"type": "event", "event": event}  # no picture in it
    assert announced.snapshot == b"JPEG" and announced.prediction is None
    assert hub.output_errors == {"output": 0}


def test_outputs_attach_while_publishing_and_a_broken_one_is_skipped():
    hub, maker = ResultsHub(), PredictionMaker(LABELS, "toy")
    first, broken = Recorder("first"), Broken("broken")
    hub.attach(first)
    hub.attach(broken)
    late = Recorder("late")
    halfway, attached = threading.Event(), threading.Event()
    published = []

    def worker():  # 1000 frames, then on until 1000 more after the attach is over
        frame, stop_at = 0, None
        while stop_at is None or frame < stop_at:
            frame += 1
            hub.publish(prediction(maker, frame))
            if frame == 1000:
                halfway.set()
            if stop_at is None and attached.is_set():
                stop_at = frame + 1000
        published.append(frame)

    thread = threading.Thread(target=worker)
    thread.start()
    halfway.wait(30)
    hub.attach(late)  # from this thread, while the worker publishes
    attached.set()
    thread.join(30)
    last = published[0]
    assert first.frames == list(range(1, last + 1))
    assert len(late.frames) >= 1000 and late.frames == list(range(late.frames[0], last + 1))
    assert hub.output_errors == {"first": 0, "broken": last, "late": 0}
    hub.detach(first)
    hub.publish(prediction(maker, last + 1))
    assert first.frames[-1] == last and late.frames[-1] == last + 1


def test_a_stuck_output_never_blocks_the_publisher_and_stays_bounded():
    hub, maker = ResultsHub(), PredictionMaker(LABELS, "toy")
    stuck, other = Stuck(), Recorder("other")
    stuck.start()
    hub.attach(stuck)
    hub.attach(other)
    try:
        for frame in range(1, 1001):
            hub.publish(prediction(maker, frame))
        # all 1000 went out while the stuck output still holds its first message
        assert not stuck.release.is_set() and stuck.handled == []
        assert other.frames == list(range(1, 1001))
        assert stuck.queued <= 8 and stuck.dropped >= 1000 - 8 - 1
        stuck.release.set()
        # what it kept is the newest: the oldest messages were the ones dropped
        wait_for(lambda: stuck.handled[-1:] == [1000], timeout=10)
        assert len(stuck.handled) <= 9
    finally:
        stuck.release.set()
        stuck.stop()
