"""The websocket output: fan-out from the hub that a slow subscriber cannot stall."""
from __future__ import annotations

import asyncio
import json
import queue
import threading

import numpy as np
import pytest

from app.hub import PredictionMaker, ResultsHub
from app.outputs.websocket import SubscriptionClosed, WebsocketOutput

LABELS = ["cat", "dog", "fox", "owl"]


def _prediction(maker, n):
    probabilities = np.zeros(len(LABELS), np.float32)
    probabilities[n % len(LABELS)] = 1.0
    return maker.make(probabilities, n, float(n), {"total": 0.01})


def test_fan_out_from_a_worker_thread_with_a_stalled_subscriber():
    hub = ResultsHub()
    ws = WebsocketOutput(mailbox=3, stale_after_s=0.3)
    hub.attach(ws)
    maker = PredictionMaker(LABELS, "toy", top_k=2)
    assert hub.latest is None

    async def scenario():
        fast, stalled = ws.subscribe(), ws.subscribe()
        received = []
        taken = queue.Queue()  # the fast one keeps up by construction, however busy the machine

        def worker():
            for n in range(1, 41):
                hub.publish(_prediction(maker, n))
                threading.Event().wait(0.02)
                taken.get(timeout=5)

        thread = threading.Thread(target=worker)
        thread.start()
        while len(received) < 40:
            received.append(json.loads(await asyncio.wait_for(fast.get(), 5)))
            taken.put(received[-1]["frame"])
        thread.join()
        await asyncio.sleep(0.05)
        return received, stalled

    received, stalled = asyncio.run(scenario())
    assert [m["frame"] for m in received] == list(range(1, 41))
    assert received[0]["type"] == "prediction" and received[0]["top_k"][0]["label"] == "dog"
    assert hub.latest.frame == 40 and hub.published == 40
    # the stalled one kept at most its mailbox, lost older messages, and was dropped after
    # 0.3 s of falling behind, long before the 40 messages (0.8 s) were over
    assert stalled.closed and 0 < stalled.lost < 37 and len(stalled._messages) <= 3
    assert ws.dropped_subscribers == 1 and ws.subscribers == 1
    assert ws.lost_messages == stalled.lost


def test_dropped_subscriber_drains_then_learns_it_was_dropped():
    hub = ResultsHub()
    ws = WebsocketOutput(mailbox=2, stale_after_s=0.0)
    hub.attach(ws)
    maker = PredictionMaker(LABELS, "toy")

    async def scenario():
        sub = ws.subscribe()
        for n in range(1, 6):
            hub.publish(_prediction(maker, n))
        await asyncio.sleep(0.05)
        frames = []
        with pytest.raises(SubscriptionClosed):
            while True:
                frames.append(json.loads(await sub.get())["frame"])
        return frames

    frames = asyncio.run(scenario())
    assert 1 <= len(frames) <= 2 and frames == sorted(frames) and frames[0] > 1
    assert ws.dropped_subscribers == 1 and ws.subscribers == 0


def test_a_new_subscriber_starts_with_the_latest_prediction_exactly_once():
    hub = ResultsHub()
    ws = WebsocketOutput(mailbox=4)
    hub.attach(ws)
    maker = PredictionMaker(LABELS, "m", top_k=2)

    async def scenario():
        first = ws.subscribe()  # binds the hub to this loop
        hub.publish(_prediction(maker, 1))
        # published but not yet fanned out: a subscriber made now must not get frame 1 twice
        late = ws.subscribe()
        await asyncio.sleep(0)
        hub.publish(_prediction(maker, 2))
        await asyncio.sleep(0.01)
        frames = [json.loads(await late.get())["frame"] for _ in range(2)]
        assert [json.loads(await first.get())["frame"] for _ in range(2)] == [1, 2]
        newcomer = ws.subscribe()  # after the fan-out: starts with the latest, frame 2
        assert json.loads(await newcomer.get())["frame"] == 2 and not newcomer._messages
        return frames, late

    frames, late = asyncio.run(scenario())
    assert frames == [1, 2] and not late._messages
