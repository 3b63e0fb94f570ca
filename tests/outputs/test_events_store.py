"""The event history on disk: atomic files, reload after a restart, retention by count, bytes
and age, and a full disk that is reported without losing the service or the event."""
from __future__ import annotations

import io
import json
import os
import time

from PIL import Image

from app.events.rules import Event, new_event_id
from app.events.store import EventStore


def jpeg(size=64, colour=(200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, format="JPEG")
    return out.getvalue()


def event(label="cat", start=None, length=2.0, ended=True) -> Event:
    start = time.time() - 60 if start is None else start
    return Event(id=new_event_id(start), label=label, display_label=label.capitalize(),
                 model_name="toy", start=start, start_frame=1,
                 peak=0.9, peak_frame=2, last_seen=start + length, end_frame=5,
                 end=start + length if ended else None)


def test_events_survive_a_restart_and_open_ones_are_closed(tmp_path):
    store = EventStore(tmp_path, max_age_s=1e12)
    store.load()
    done, open_ = event("cat", 1000.0), event("dog", 2000.0, ended=False)
    store.save(done, jpeg())
    store.save(open_, jpeg(colour=(0, 0, 255)))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{done.id}.json", f"{done.id}.jpg", f"{open_.id}.json", f"{open_.id}.jpg"])
    # a crash in the middle of a write leaves a temporary file, and an unreferenced picture
    (tmp_path / f".{done.id}.json.tmp").write_text('{"half": ')
    (tmp_path / "20240101T000000000-abcdef.jpg").write_bytes(jpeg())

    again = EventStore(tmp_path, max_age_s=1e12)
    again.load()
    assert [e.id for e in again.list()] == [open_.id, done.id]  # newest first
    reloaded = again.get(open_.id)
    assert reloaded.end == reloaded.last_seen and not reloaded.active
    assert json.loads((tmp_path / f"{open_.id}.json").read_text())["state"] == "ended"
    assert again.snapshot(done.id) == store.snapshot(done.id)
    Image.open(io.BytesIO(again.snapshot(open_.id))).verify()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{done.id}.json", f"{done.id}.jpg", f"{open_.id}.json", f"{open_.id}.jpg"])
    assert json.loads((tmp_path / f"{done.id}.json").read_text())["snapshot"] == \
        f"/api/events/{done.id}/snapshot.jpg"
    assert [e.label for e in again.list(label="dog")] == ["dog"]
    assert [e.label for e in again.list(since=1500.0)] == ["dog"]
    assert len(again.list(limit=1)) == 1


def test_retention_by_count_bytes_and_age(tmp_path):
    now = time.time()
    store = EventStore(tmp_path, max_count=3, max_age_s=1e12)
    store.load()
    saved = [event(start=now + i) for i in range(5)]
    for e in saved:
        store.save(e, jpeg())
    assert [e.id for e in store.list()] == [e.id for e in reversed(saved[2:])]
    assert len(list(tmp_path.glob("*.json"))) == 3 and len(list(tmp_path.glob("*.jpg"))) == 3

    picture = jpeg(256)
    bounded = EventStore(tmp_path / "bytes", max_bytes=3 * len(picture) + 1500, max_age_s=1e12)
    bounded.load()
    for i in range(5):
        bounded.save(event(start=now + i), picture)
    assert bounded.status()["count"] == 3 and bounded.status()["bytes"] <= bounded.max_bytes
    on_disk = sum(p.stat().st_size for p in (tmp_path / "bytes").iterdir())
    assert on_disk == bounded.status()["bytes"]

    aged = EventStore(tmp_path / "age", max_age_s=86400.0)
    aged.load()
    old, recent, running = (event(start=now - 3 * 86400), event(start=now - 3600),
                            event(start=now - 5 * 86400, ended=False))
    for e in (old, recent, running):
        aged.save(e)  # each save applies the retention
    assert {e.id for e in aged.list()} == {recent.id, running.id}  # open events are kept
    assert aged.prune(now + 86400) == 1 and [e.id for e in aged.list()] == [running.id]


def test_delete_removes_both_files(tmp_path):
    store = EventStore(tmp_path)
    store.load()
    e = event()
    store.save(e, jpeg())
    assert store.delete(e.id) and not list(tmp_path.iterdir())
    assert store.get(e.id) is None and not store.delete(e.id)


def test_a_full_disk_is_reported_and_not_fatal(tiny_disk, caplog):
    store = EventStore(tiny_disk / "events", max_bytes=10 * 2**20)
    store.load()
    big = jpeg(900, colour=(10, 200, 30)) + os.urandom(30_000)  # JPEG bytes; size is what counts
    saved = []
    for i in range(4):
        e = event(start=time.time() - 100 + i)
        store.save(e, big)
        saved.append(e)
    status = store.status()
    assert status["write_errors"] >= 1 and "No space left on device" in status["error"]
    assert len([r for r in caplog.records if "kept in memory only" in r.message]) == 1
    # every event is still listed; none left a temporary file or half a file behind
    assert [e.id for e in store.list()] == [e.id for e in reversed(saved)]
    for path in (tiny_disk / "events").iterdir():
        assert not path.name.endswith(".tmp")
        if path.suffix == ".json":
            json.loads(path.read_text())
    # room again: the next write succeeds and clears the error
    for e in saved[:2]:
        store.delete(e.id)
    store.save(event(), jpeg())
    assert store.status()["error"] is None
