"""A card that turns read-only under the running service (a common Pi failure), made with a
read-only bind mount inside the service's own mount namespace (`unshare -m`, then `nsenter`):
the list in memory keeps to events.max_count, a delete that cannot remove the file says so
and keeps the event, and a restart brings back nothing that was said to be deleted."""
from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from attack_server import serve_process
from serving import wait_for

MAX_COUNT = 5


def on_disk(folder: Path) -> set[str]:
    return {path.stem for path in folder.glob("*.json")}


def make_read_only(pid: int, folder: Path) -> None:
    """Only the service sees the folder read-only; the test still sees the real disk."""
    for mount in (["--bind", str(folder), str(folder)],
                  ["-o", "remount,ro,bind", str(folder)]):
        subprocess.run(["nsenter", "-t", str(pid), "-m", "mount", *mount], check=True,
                       capture_output=True)


def test_a_read_only_card_keeps_retention_and_deletes_say_what_happened(shape_schedule,
                                                                         tmp_path):
    folder, _ = shape_schedule
    events_dir = tmp_path / "events"
    settings = {"camera_source": f"files:{folder}", "events_dir": str(events_dir),
                "events_max_count": str(MAX_COUNT), "events_start_frames": "2",
                "events_end_s": "0.3", "events_cooldown_s": "0"}
    with serve_process(tmp_path, wrap=["unshare", "-m", "--propagation", "private"],
                       **settings) as served, \
            httpx.Client(base_url=served.base, timeout=20) as http:
        def events() -> list[dict]:
            answer = http.get("/api/events", params={"limit": 1000}).json()
            assert answer["total"] <= MAX_COUNT, answer  # at every look, whatever the disk does
            return answer["events"]

        def store() -> dict:
            return http.get("/api/health").json()["outputs"]["events"]

        wait_for(lambda: len(on_disk(events_dir)) >= MAX_COUNT, timeout=90)
        make_read_only(served.process.pid, events_dir)
        written = on_disk(events_dir)

        # an event whose file is on the read-only card: the delete fails, says why, keeps it
        kept = next(e for e in events() if e["state"] == "ended" and e["id"] in written)
        answer = http.delete(f"/api/events/{kept['id']}")
        assert answer.status_code == 503, answer.text
        assert "cannot remove event" in answer.json()["detail"]
        assert "Read-only file system" in answer.json()["detail"]
        assert http.get(f"/api/events/{kept['id']}").status_code == 200

        # new events go on, in memory only, within max_count; health says the card fails
        recorded = store()["recorded"]
        failing = wait_for(lambda: store()["recorded"] >= recorded + 3 * MAX_COUNT and
                           store(), timeout=120, seen=store)
        assert failing["state"] == "error" and "Read-only file system" in failing["error"]
        assert failing["store"]["count"] <= MAX_COUNT
        assert http.get("/api/health").json()["status"] == "degraded"
        assert len(events()) <= MAX_COUNT

        # an event that never reached the card has no file to keep it: it is really gone
        gone = next(e for e in events() if e["state"] == "ended" and e["id"] not in written)
        answer = http.delete(f"/api/events/{gone['id']}")
        assert answer.status_code == 200 and answer.json() == {"deleted": gone["id"]}
        assert http.get(f"/api/events/{gone['id']}").status_code == 404
    assert on_disk(events_dir) == written  # the card really was read-only to the service

    # a restart reads the card: the kept event is there, the deleted one is not
    with serve_process(tmp_path, **settings) as served, \
            httpx.Client(base_url=served.base, timeout=20) as http:
        listed = {e["id"] for e in http.get("/api/events", params={"limit": 1000}).json()
                  ["events"]}
        assert kept["id"] in listed and gone["id"] not in listed
