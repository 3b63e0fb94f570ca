"""The event history's API on a real service: pages that follow each other without a gap or a
repeat, filters by label and time, the labels present, the bounds of a page, and a delete of
many events that keeps the ongoing one and says so, behind the token."""
from __future__ import annotations

import io
import time

import httpx
from PIL import Image

from app.events.rules import Event, new_event_id
from openapi_check import OpenAPI
from serving import engine_up, running_service, wait_for

TOKEN = "history-token-0123456789abcdef"
# earlier events (label, display label, taught classifier): two of the model's classes and
# the same state "open" of two taught classifiers, which is no class of the model
LABELS = (("green", "Green", None), ("blue", "Blue", None), ("open", "door: open", "door"),
          ("open", "flap: open", "flap"))


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 200, 20)).save(out, format="JPEG")
    return out.getvalue()


def earlier_events(store, count: int, first: float) -> list[Event]:
    """`count` ended events a minute apart from `first` on, labels in turn, two on the same
    start (as when two classes start on one frame)."""
    made = []
    for i in range(count):
        start = first + 60.0 * (i - (i == count - 1))  # the last shares the one before's start
        label, shown, taught = LABELS[i % len(LABELS)]
        event = Event(id=new_event_id(start), label=label, display_label=shown,
                      model_name="colours", start=start, start_frame=i * 10 + 1, peak=0.9,
                      peak_frame=i * 10 + 2, last_seen=start + 5, end_frame=i * 10 + 9,
                      end=start + 5, taught=taught)
        store.save(event, jpeg() if i % 2 else None)
        made.append(event)
    return made


def pages(http: httpx.Client, api: OpenAPI, limit: int, **filters) -> list[dict]:
    """Every page of a listing, following `next`."""
    got, before = [], None
    while True:
        params = {**filters, "limit": limit, **({"before": before} if before else {})}
        page = api.answer("/api/events", "GET", http.get("/api/events", params=params))
        assert page["count"] == len(page["events"]) <= limit
        got.append(page)
        before = page["next"]
        if before is None:
            return got


def test_history_pages_filters_and_deletes_keeping_the_ongoing_event(colour_model,
                                                                      colour_pictures):
    with running_service(colour_model, camera_source=f"files:{colour_pictures}", camera_fps=8,
                         server_token=TOKEN, events_start_frames=2, events_end_s=3600,
                         events_max_count=1000) as run, \
            httpx.Client(base_url=run.base, timeout=20,
                         headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        engine_up(run)
        api = OpenAPI(http.get("/openapi.json").json())
        # the camera shows red without a break: its event goes on for the whole test
        ongoing = wait_for(lambda: next((e for e in http.get("/api/events").json()["events"]
                                         if e["state"] == "active"), None))
        assert ongoing["label"] == "red"
        store = run.service.events.store
        first = time.time() - 86400
        made = earlier_events(store, 121, first)

        # pages of 50 follow each other: every event once, newest first, the ongoing one too
        walked = pages(http, api, 50)
        assert [p["count"] for p in walked] == [50, 50, 22]
        assert all(p["matching"] == p["total"] == 122 for p in walked)
        ids = [e["id"] for p in walked for e in p["events"]]
        assert ids[0] == ongoing["id"] and len(set(ids)) == 122
        assert set(ids) == {e.id for e in made} | {ongoing["id"]}
        starts = [e["start"] for p in walked for e in p["events"]]
        assert starts == sorted(starts, reverse=True)
        # the cursor stays valid when its event is deleted meanwhile
        cursor = walked[0]["next"]
        assert http.delete(f"/api/events/{cursor}").status_code == 200
        after = http.get("/api/events", params={"before": cursor, "limit": 50}).json()
        assert [e["id"] for e in after["events"]] == ids[50:100]
        assert after["matching"] == 121

        # the labels present, whatever the filters, with their display labels and counts: the
        # model's classes, then each taught classifier's states apart
        labels = http.get("/api/events", params={"label": "blue", "limit": 1}).json()["labels"]
        counted = {(label, taught): sum(e.label == label and e.taught == taught
                                        for e in made if e.id != cursor)
                   for label, _, taught in LABELS}
        assert labels == [{"label": label, "display_label": shown, "taught": taught,
                           "count": counted.get((label, taught), 1)}
                          for label, shown, taught in (LABELS[1], LABELS[0],
                                                       ("red", "Red", None), *LABELS[2:])]

        # by label and taught classifier, over pages: a state is a label like any other
        door = pages(http, api, 16, label="open", taught="door")
        listed = [e for p in door for e in p["events"]]
        assert {(e["label"], e["taught"], e["display_label"]) for e in listed} == \
            {("open", "door", "door: open")}
        assert len(listed) == door[0]["matching"] == counted["open", "door"]
        both = http.get("/api/events", params={"label": "open", "limit": 1000}).json()
        assert both["matching"] == counted["open", "door"] + counted["open", "flap"]

        # by time: since is inclusive, until exclusive, on the start
        window = made[10:20]
        since, until = window[0].start, made[20].start
        inside = http.get("/api/events", params={"since": since, "until": until}).json()
        assert {e["id"] for e in inside["events"]} == {e.id for e in window}
        assert inside["matching"] == 10 and inside["next"] is None
        both = http.get("/api/events", params={"since": since, "until": until,
                                               "label": "green"}).json()
        assert {e["id"] for e in both["events"]} == {e.id for e in window if e.label == "green"}
        assert http.get("/api/events", params={"since": until, "until": since}
                        ).json()["events"] == []

        # bounds: a page holds 1 to 1000 events; a cursor is at most an id's length
        for params in ({"limit": 0}, {"limit": 1001}, {"before": "x" * 65}, {"since": "noon"}):
            refused = http.get("/api/events", params=params)
            assert refused.status_code == 422, params
            field = f"query.{next(iter(params))}"
            assert [e["field"] for e in api.answer("/api/events", "GET", refused)["errors"]] \
                == [field]
        assert http.get("/api/events", params={"limit": 1000}).json()["count"] == 121

        # delete many: the token is needed like everywhere
        assert httpx.delete(run.base + "/api/events").status_code == 401
        assert http.get("/api/events").json()["total"] == 121
        # one taught classifier's states only
        flap = {e.id for e in made if e.taught == "flap" and e.id != cursor}
        answer = api.answer("/api/events", "DELETE",
                            http.delete("/api/events", params={"taught": "flap"}))
        assert set(answer["deleted"]) == flap
        assert http.get("/api/events", params={"label": "open"}).json()["matching"] == \
            counted["open", "door"]
        # a label's events only
        green = {e.id for e in made if e.label == "green" and e.id != cursor}
        answer = api.answer("/api/events", "DELETE",
                            http.delete("/api/events", params={"label": "green"}))
        assert set(answer["deleted"]) == green and answer["count"] == len(green)
        assert answer["kept"] == [] and answer["note"] == f"deleted {len(green)} events"
        assert http.get("/api/events", params={"label": "green"}).json()["matching"] == 0
        assert not [p for p in store.directory.iterdir() if p.stem in green]

        # everything: the ongoing event is kept, and the answer says so
        answer = api.answer("/api/events", "DELETE", http.delete("/api/events"))
        assert answer["count"] == len(made) - 1 - len(flap) - len(green) == \
            len(answer["deleted"])
        assert answer["kept"] == [ongoing["id"]]
        assert answer["note"] == (f"deleted {answer['count']} events; 1 ongoing event is kept: "
                                  "an event can be deleted once it has ended")
        left = http.get("/api/events").json()
        assert [e["id"] for e in left["events"]] == [ongoing["id"]] and left["total"] == 1
        assert {p.stem for p in store.directory.iterdir()} == {ongoing["id"]}
        again = api.answer("/api/events", "DELETE", http.delete("/api/events"))
        assert again["deleted"] == [] and again["note"].startswith("no ended event to delete;")


def test_the_history_page_needs_the_login_like_the_others(colour_model):
    with running_service(colour_model, server_token=TOKEN) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        assert http.get("/events", follow_redirects=False).headers["location"] == \
            "/login?next=%2Fevents"
        page = http.get("/events", headers={"Authorization": f"Bearer {TOKEN}"})
        assert page.status_code == 200 and "/static/history.js" in page.text
