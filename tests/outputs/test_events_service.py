"""Events from the running service: the demo model watching a files source whose pictures
change class on a known schedule, over real HTTP and websockets."""
from __future__ import annotations

import asyncio
import io
import json

import httpx
import websockets
from PIL import Image

from openapi_check import OpenAPI
from serving import engine_up, running_service, wait_for
from shape_schedule import FRAMES_PER_CLASS, class_of_frame

FPS = 8


def test_events_follow_the_schedule_with_snapshots_and_survive_a_restart(
        demo_model, shape_schedule, tmp_path):
    folder, order = shape_schedule
    events_dir = tmp_path / "events"
    settings = dict(camera_source=f"files:{folder}", camera_fps=FPS, model_top_k=3,
                    events_dir=str(events_dir), events_start_frames=2, events_end_s=0.3,
                    events_cooldown_s=0.0, events_threshold=0.6, events_max_count=5)
    with running_service(demo_model, **settings) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        engine_up(run)

        classified = []  # the frames the worker classified: a busy machine skips some

        async def listen():
            async with websockets.connect(run.ws) as ws:
                got = []
                while sum(m["event"]["state"] == "ended" for m in got) < 6:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if message["type"] == "event":
                        got.append(message)
                    elif message["type"] == "prediction":
                        classified.append(message["frame"])
                return got

        def classified_in_its_run(frame: int) -> list[int]:
            return [f for f in classified if (f - 1) // FRAMES_PER_CLASS ==
                    (frame - 1) // FRAMES_PER_CLASS]

        messages = asyncio.run(listen())
        api = OpenAPI(http.get("/openapi.json").json())
        for message in messages:
            api.message("EventMessage", message)
        ended = [m["event"] for m in messages if m["event"]["state"] == "ended"]
        started = {m["event"]["id"] for m in messages if m["event"]["state"] == "active"}
        # each event is announced when it starts and when it ends (the first may have started
        # before the websocket connected)
        assert all(e["id"] in started for e in ended[1:])
        for index, event in enumerate(ended):
            label = event["label"]
            # the event spans its class's run of pictures and nothing else
            assert class_of_frame(order, event["start_frame"]) == label, event
            assert class_of_frame(order, event["end_frame"]) == label, event
            assert class_of_frame(order, event["peak_frame"]) == label, event
            # it starts with its run (events.start_frames is 2) and ends with it, except the
            # first: the pictures shown while the engine was still starting were never classified
            run_frames = classified_in_its_run(event["start_frame"])
            assert index == 0 or len([f for f in run_frames if f < event["start_frame"]]) <= 2, \
                (event, run_frames)
            assert len([f for f in run_frames if f > event["end_frame"]]) <= 2, (event, run_frames)
            assert event["start"] < event["end"] and event["peak"] > 0.9
        labels = [e["label"] for e in ended]
        cycle = list(dict.fromkeys(order))
        for before, after in zip(labels, labels[1:]):  # in the order they are shown
            assert cycle.index(after) == (cycle.index(before) + 1) % len(cycle), labels

        # the API has them, newest first, with their snapshot: the camera's picture, which
        # the classifier itself recognises as the event's class
        listed = api.answer("/api/events", "GET",
                            http.get("/api/events", params={"limit": 50}))["events"]
        assert len([e for e in listed if e["state"] == "ended"]) <= 5  # events.max_count
        assert [e["start"] for e in listed] == sorted((e["start"] for e in listed), reverse=True)
        newest = next(e for e in listed if e["state"] == "ended")
        assert api.answer("/api/events/{event_id}", "GET",
                          http.get(f"/api/events/{newest['id']}")) == newest
        picture = http.get(newest["snapshot"])
        assert picture.headers["content-type"] == "image/jpeg"
        again = http.get(newest["snapshot"], headers={"If-None-Match": picture.headers["etag"]})
        assert again.status_code == 304 and not again.content
        with Image.open(io.BytesIO(picture.content)) as image:
            assert image.format == "JPEG" and image.size == (240, 240)  # not the 64x64 input
        verdict = http.post("/api/classify",
                            files={"file": ("s.jpg", picture.content, "image/jpeg")}).json()
        assert verdict["label"] == newest["label"]

        label = newest["label"]
        only = http.get("/api/events", params={"label": label}).json()["events"]
        assert only and all(e["label"] == label for e in only)
        since = http.get("/api/events", params={"since": newest["start"]}).json()["events"]
        assert newest["id"] in {e["id"] for e in since}
        assert all(e["start"] >= newest["start"] for e in since)
        assert api.answer("/api/events/{event_id}", "GET",
                          missing := http.get("/api/events/nonsense"))
        assert missing.status_code == 404
        assert http.get("/api/events/20200101T000000000-abcdef/snapshot.jpg").status_code == 404

        # the newest ended one: the oldest may be dropped by events.max_count meanwhile
        assert api.answer("/api/events/{event_id}", "DELETE",
                          http.delete(f"/api/events/{newest['id']}")) == {"deleted": newest["id"]}
        assert http.get(f"/api/events/{newest['id']}").status_code == 404
        assert not list(events_dir.glob(f"{newest['id']}.*"))

        health = api.answer("/api/health", "GET", http.get("/api/health"))
        assert health["outputs"]["events"]["state"] == "ok"
        assert health["outputs"]["events"]["store"]["dir"] == str(events_dir)
        run.service.stop()
        kept = {e["id"]: e for e in http.get("/api/events").json()["events"]}

    # restarted with no pictures to see, so no new event can push a kept one out
    with running_service(demo_model, **{**settings,
                                        "camera_source": f"files:{tmp_path / 'none'}"}) as again, \
            httpx.Client(base_url=again.base, timeout=20) as http:
        after = {e["id"]: e for e in http.get("/api/events").json()["events"]}
        assert set(kept) <= set(after)
        for event_id, event in kept.items():
            assert after[event_id]["label"] == event["label"]
            assert after[event_id]["state"] == "ended"  # one open at the stop is closed
            if event["snapshot"]:
                assert http.get(event["snapshot"]).content[:2] == b"\xff\xd8"
        wait_for(lambda: http.get("/api/health").json()["outputs"]["events"]["state"] == "ok")


def test_a_full_disk_leaves_the_service_classifying_and_announcing(demo_model, shape_schedule,
                                                                   tiny_disk):
    folder, _ = shape_schedule
    with running_service(demo_model, camera_source=f"files:{folder}", camera_fps=8,
                         events_dir=str(tiny_disk), events_start_frames=2, events_end_s=0.3,
                         events_cooldown_s=0) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        engine_up(run)

        def events_output():
            return http.get("/api/health").json()["outputs"]["events"]

        health = wait_for(lambda: (h := http.get("/api/health").json())["outputs"]["events"][
            "state"] == "error" and h, timeout=60)
        full = health["outputs"]["events"]
        assert "No space left on device" in full["error"] and full["store"]["write_errors"] >= 1
        assert health["status"] == "degraded"
        processed, recorded = run.service.worker.frames_processed, full["recorded"]

        async def next_event():  # the next one to start
            async with websockets.connect(run.ws) as ws:
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if message["type"] == "event" and message["event"]["state"] == "active":
                        return message["event"]

        # events go on being made, announced and listed; the classifier never stopped
        event = asyncio.run(next_event())
        assert event["id"] in {e["id"] for e in http.get("/api/events").json()["events"]}
        assert events_output()["recorded"] > recorded
        assert run.service.worker.frames_processed > processed
        assert run.service.worker.frames_failed == 0
