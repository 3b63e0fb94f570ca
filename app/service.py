"""Wires the parts together: camera supervisor -> frame slot -> inference worker -> results hub
-> outputs, plus the preview; and is the one facade the web layer talks to (it implements
app.api.port.ServicePort): reports for /api/health and /api/stats, the latest prediction,
pictures, uploads, the page's settings, the event history, the metrics and the taught
classifiers, all as plain data.
What cannot be done is raised as one of app.errors' kinds."""
from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from app.cameras import CameraSupervisor, FrameSlot, Preview, make_camera
from app.cameras.base import Camera
from app.config import Config
from app.errors import Conflict, Invalid, NotFound, Unavailable
from app.events.rules import ID_PATTERN, Event, EventRules
from app.events.store import EventStore, older_than
from app.hub import Prediction, ResultsHub
from app.labels import display_label
from app.outputs import ServiceView, build_outputs
from app.outputs.websocket import Subscription
from app.runtime_settings import (BY_NAME, RUNTIME_KEYS, SettingsFile, SettingsProblem,
                                  checked, state_dir as default_state_dir)
from app.teach.service import Teaching
from app.teach.store import Store
from app.worker import InferenceWorker

DEMO_MODEL_NAME = "demo_model"


def stall_after_s(fps: float) -> float:
    """A camera silent this long is reported stalled."""
    return max(10.0, 5.0 / fps)


def frame_wait_s(fps: float) -> float:
    """How long after an upload a camera frame is waited for (see InferenceWorker)."""
    return min(1.0, 2.0 / fps)

STALL_INTERVALS = 5  # health is degraded when the newest prediction is this many intervals old
STALL_GRACE_S = 3.0  # ...and at least this many seconds


class Service:
    def __init__(self, config: Config, model_path: Path, state_dir: Path | None = None) -> None:
        """`state_dir`: where the page's settings are kept; None keeps them in memory only."""
        self.config = config
        self.settings_file = None if state_dir is None else SettingsFile(state_dir)
        # per-model settings are kept under the model file's name, known before it loads
        self.model_key = Path(model_path).stem
        self.stored = self.settings_file.load() if self.settings_file else {"models": {}}
        settings = {key.name: config.get(key.config) for key in RUNTIME_KEYS}
        settings.update({name: value for name, value in self.stored.items() if name != "models"})
        settings.update(self.stored["models"].get(self.model_key, {}))
        self.camera_fps = settings["camera_fps"]
        self._settings_lock = threading.Lock()
        self.hub = ResultsHub()
        self.preview = Preview(config.camera_jpeg_quality)
        self.slot = FrameSlot()
        size = (config.camera_width, config.camera_height)
        inference_size = (config.camera_inference_width, config.camera_inference_height)

        def new_camera() -> Camera:
            return make_camera(config.camera_source, self.camera_fps, size, inference_size,
                               config.camera_buffer_count)

        self.supervisor = CameraSupervisor(new_camera, self.slot, self.preview,
                                           config.camera_retry_min_s, config.camera_retry_max_s,
                                           source=config.camera_source,
                                           stall_after_s=stall_after_s(self.camera_fps))
        self.worker = InferenceWorker(model_path, self.slot, self.hub, settings["top_k"],
                                      settings["smoothing"], settings["threshold"],
                                      preview=self.preview,
                                      self_test=config.model_self_test == "on",
                                      software_gl=config.model_software_gl,
                                      fold_weights={"auto": None, "on": True, "off": False}[
                                          config.model_fold_weights],
                                      frame_wait_s=frame_wait_s(self.camera_fps),
                                      taught_interval_s=config.teach_interval_s,
                                      taught_agree=config.teach_agree)
        self.teaching = Teaching(Store(state_dir or default_state_dir()), self.worker,
                                 config.teach_active)
        self.started_at = time.monotonic()
        self.stream_clients = 0
        self.outputs = build_outputs(config, state_dir, ServiceView(
            self.hub, self.preview, lambda: self.worker.labels, self.model,
            lambda: self.worker.gl_info, self.stats, self.outputs_status,
            self.worker.taught_running, lambda: self.teaching.stored))
        self.websocket, self.metrics, self.events = \
            self.outputs.websocket, self.outputs.metrics, self.outputs.events
        self.event_rules = replace(EventRules.from_config(config),
                                   labels=tuple(settings["event_labels"]),
                                   threshold=settings["event_threshold"],
                                   thresholds=settings["event_thresholds"])
        self._use_event_rules()

    def start(self) -> None:
        for output in self.outputs.all:
            output.start()
            self.hub.attach(output)
        self.teaching.activate()
        self.worker.start()  # the engine compiles while the camera starts
        self.supervisor.start()

    def stop(self) -> None:
        self.supervisor.stop()
        self.worker.stop()
        for output in self.outputs.all:
            self.hub.detach(output)
            output.stop()

    def model(self) -> dict[str, Any]:
        info = {**self.worker.model_info, "state": self.worker.state, "error": self.worker.error,
                "error_kind": self.worker.error_kind,
                "threshold": self.worker.threshold, "smoothing": self.worker.smoothing}
        info["demo"] = Path(info["path"]).stem == DEMO_MODEL_NAME
        return info

    def settings(self) -> dict[str, Any]:
        """The runtime settings in use (app.runtime_settings.RUNTIME_KEYS), and the model
        whose threshold and smoothing they are."""
        rules = self.event_rules
        return {"model": self.model_key, "top_k": self.worker.top_k,
                "threshold": self.worker.threshold, "smoothing": self.worker.smoothing,
                "event_labels": list(rules.labels), "event_threshold": rules.threshold,
                "event_thresholds": dict(rules.thresholds), "camera_fps": self.camera_fps}

    def change_settings(self, change: Any) -> dict[str, Any]:
        """Check every key against its config key's type and range (raises Invalid naming
        each bad one, changing nothing), keep them in the state directory, apply them at once.
        Threshold and smoothing are the running model's only."""
        try:
            values = checked(change)
        except SettingsProblem as exc:
            raise Invalid(f"settings refused: {exc}",
                          {f"body.{name}" if name else "body": problem
                           for name, problem in exc.problems.items()}
                          ) from None
        with self._settings_lock:
            new = {**self.settings(), **values}
            stored = {name: value for name, value in self.stored.items() if name != "models"}
            stored.update({name: new[name] for name in values if not BY_NAME[name].per_model})
            models = dict(self.stored["models"])
            mine = {**models.get(self.model_key, {}),
                    **{name: new[name] for name in values if BY_NAME[name].per_model}}
            if mine:
                models[self.model_key] = mine
            stored["models"] = models
            if self.settings_file is not None:
                try:
                    self.settings_file.save(stored)
                except OSError as exc:
                    raise Unavailable(f"cannot store the settings in {self.settings_file.path}: "
                                      f"{exc.strerror or exc}") from None
            self.stored = stored
            self.worker.configure(new["smoothing"], new["threshold"], new["top_k"])
            self.event_rules = replace(self.event_rules, labels=tuple(new["event_labels"]),
                                       threshold=new["event_threshold"],
                                       thresholds=dict(new["event_thresholds"]))
            self._use_event_rules()
            if new["camera_fps"] != self.camera_fps:
                self.camera_fps = new["camera_fps"]
                self.supervisor.set_fps(self.camera_fps, stall_after_s(self.camera_fps))
                self.worker.frame_wait_s = frame_wait_s(self.camera_fps)
        return self.settings()

    def _use_event_rules(self) -> None:
        """The recorder and MQTT's class sensors follow the event rules from the next
        prediction on."""
        if self.events is not None:
            self.events.detector.rules = self.event_rules
        if self.outputs.mqtt is not None:
            self.outputs.mqtt.watched = self.event_rules.watches

    def health(self) -> dict[str, Any]:
        camera = self.supervisor.status()
        worker = self.worker.state
        if worker == "error":
            status = "error"
        elif worker == "loading" or camera["state"] == "starting":
            status = "starting"
        elif camera["state"] != "running" or worker != "running" or self.predictions_stalled():
            status = "degraded"
        else:
            status = "ok"
        outputs = self.outputs_status()
        if status == "ok" and any(o["state"] == "error" for o in outputs.values()):
            status = "degraded"
        return {"status": status, "camera": camera, "model": self.model(), "gl": self.worker.gl_info,
                "fps": round(self.worker.meter.rate(), 2),
                "prediction_age_s": self.prediction_age_s(),
                "uptime_s": round(time.monotonic() - self.started_at, 1), "outputs": outputs,
                "server_time": round(time.time(), 3)}

    def outputs_status(self) -> dict[str, dict[str, Any]]:
        """Each output's state ("starting", "ok" or "error") and its own figures; `errors`
        includes the times the hub could not hand it a message."""
        report = {}
        for output in self.outputs.all:
            status = output.status()
            status["errors"] = status.get("errors", 0) + self.hub.output_errors.get(output.name, 0)
            report[output.name] = status
        return report

    def prediction_age_s(self) -> float | None:
        """Seconds since the frame of the newest camera prediction was captured."""
        latest = self.hub.latest
        return None if latest is None else round(max(0.0, time.time() - latest.timestamp), 2)

    def predictions_stalled(self) -> bool:
        """True when the newest prediction is older than a few frame intervals (each at least
        as long as the last inference took)."""
        age = self.prediction_age_s()
        if age is None:
            return time.monotonic() - self.started_at > STALL_GRACE_S
        interval = max(1.0 / self.camera_fps,
                       self.worker.last_timings_ms.get("total", 0.0) / 1000.0)
        return age > max(STALL_GRACE_S, STALL_INTERVALS * interval)

    def stats(self) -> dict[str, Any]:
        return {
            "timings_ms": self.worker.last_timings_ms,
            "fps": round(self.worker.meter.rate(), 2),
            "camera_fps": round(self.supervisor.meter.rate(), 2),
            "frames": {"captured": self.supervisor.frames,
                       "processed": self.worker.frames_processed,
                       "dropped": self.slot.overwritten, "failed": self.worker.frames_failed},
            "clients": {"websocket": self.websocket.subscribers, "stream": self.stream_clients},
            "hub": {"published": self.hub.published,
                    "lost_messages": self.websocket.lost_messages,
                    "dropped_subscribers": self.websocket.dropped_subscribers},
            "preview": {"cpu_jpeg_encodes": self.preview.encoded},
        }

    def hello(self) -> dict[str, Any]:
        return {"type": "hello", **self.health()}

    def latest(self) -> dict[str, Any]:
        """The newest prediction, or a waiting message that says why there is none yet."""
        prediction = self.hub.latest
        if prediction is not None:
            return prediction.to_dict()
        health = self.health()
        return {"type": "waiting", "status": health["status"],
                "detail": "no prediction yet: " + self.waiting_reason(health)}

    def labels(self) -> dict[str, Any]:
        labels = self.worker.labels
        if not labels:
            error = self.worker.error
            raise Unavailable(f"model not loaded ({self.worker.state}"
                              f"{': ' + error if error else ''})")
        return {"model_name": self.worker.model_info["name"], "labels": labels,
                "display_labels": [display_label(label) for label in labels]}

    def classify(self, rgb: np.ndarray) -> concurrent.futures.Future[Prediction]:
        """Queue an uploaded picture (raises Busy, or Unavailable without a model)."""
        return self.worker.classify_upload(rgb)

    def picture(self, frame: int | None = None) -> tuple[int, bytes]:
        """(frame, JPEG). With `frame`: that classified picture, if still kept. Without: the
        picture of the newest prediction while the classifier runs, else the newest camera
        picture. Blocking (it may encode): call it from a worker thread."""
        if frame is not None:
            got = self.preview.classified_jpeg(frame)
            if got is None:
                raise NotFound(f"frame {frame} is not kept (only the last few classified "
                                  f"are); the newest is "
                                  f"{self.hub.latest.frame if self.hub.latest else 'none yet'}")
            return got
        got = self.newest_picture()
        if got is None:
            raise Unavailable("no picture yet: " + self.waiting_reason(self.health()))
        return got

    def newest_picture(self) -> tuple[int, bytes] | None:
        """(frame, JPEG) of the newest prediction while the classifier runs, else of the
        newest camera picture; None before the first. Blocking, like `picture`."""
        got = self.preview.classified_jpeg() if self.worker.state == "running" else None
        return got or self.preview.jpeg()

    async def wait_picture(self, seq: int, timeout: float) -> int:
        """Wait until the pictures change after `seq` (see Preview.wait_newer)."""
        return await self.preview.wait_newer(seq, timeout)

    def subscribe(self) -> Subscription:
        return self.websocket.subscribe()

    def unsubscribe(self, subscription: Subscription) -> None:
        self.websocket.unsubscribe(subscription)

    @contextlib.contextmanager
    def streaming(self) -> Iterator[None]:
        """Counts an MJPEG client (for /api/stats and the metrics) while it watches."""
        self.stream_clients += 1
        try:
            yield
        finally:
            self.stream_clients -= 1

    def metrics_text(self) -> str:
        """The metrics in Prometheus' text format."""
        return self.metrics.render()

    def events_list(self, label: str | None = None, since: float | None = None,
                    limit: int = 50, until: float | None = None, before: str | None = None,
                    taught: str | None = None) -> dict[str, Any]:
        """A page of events, newest first, with what a history view needs around it: how many
        match (`matching`), the cursor of the next page (`next`), the labels present."""
        store = self._event_store()
        matching = store.matching(label, since, until, taught)
        older = older_than(matching, before)
        events = older[:limit]
        return {"events": [event.to_dict() for event in events], "count": len(events),
                "total": store.status()["count"], "matching": len(matching),
                "next": events[-1].id if len(older) > limit else None,
                "labels": [{"label": label, "display_label": shown, "taught": taught,
                            "count": count} for (label, taught), (shown, count)
                           in sorted(store.labels().items(), key=lambda i: (i[0][1] or "",
                                                                             i[0][0]))]}

    def delete_events(self, label: str | None = None, since: float | None = None,
                      until: float | None = None, taught: str | None = None) -> dict[str, Any]:
        """Remove every ended event that matches, with its snapshot; the ongoing ones are kept
        and named. When the disk refuses a removal, the ones before it are gone and the rest
        are kept (and listed), as a restart would show."""
        store = self._event_store()
        matching = store.matching(label, since, until, taught)
        # decided once: an event that ends meanwhile is kept, not deleted and named kept too
        ended = [e for e in matching if not e.active]
        ended_ids = {e.id for e in ended}
        ongoing = [e.id for e in matching if e.id not in ended_ids]
        deleted: list[str] = []
        for event in ended:
            try:
                store.delete(event.id)
            except OSError as exc:
                raise Unavailable(f"cannot remove event {event.id!r} from {store.directory}: "
                                  f"{exc.strerror or exc}; {len(deleted)} events were deleted "
                                  f"before it, the others are kept") from None
            deleted.append(event.id)
        return {"deleted": deleted, "count": len(deleted), "kept": ongoing,
                "note": _deleted_note(len(deleted), len(ongoing))}

    def event(self, event_id: str) -> dict[str, Any]:
        return self._find_event(event_id).to_dict()

    def event_snapshot(self, event_id: str) -> bytes:
        """The JPEG of the event's best frame."""
        data = self._event_store().snapshot(self._find_event(event_id).id)
        if data is None:
            raise NotFound(f"event {event_id!r} has no snapshot")
        return data

    def delete_event(self, event_id: str) -> dict[str, Any]:
        """Remove an event that has ended, with its snapshot; when the disk refuses, the event
        is kept (and listed) so that a restart cannot bring back one said to be deleted."""
        if self._find_event(event_id).active:
            raise Conflict(f"event {event_id!r} is still going on")
        store = self._event_store()
        try:
            store.delete(event_id)
        except OSError as exc:
            raise Unavailable(f"cannot remove event {event_id!r} from {store.directory}: "
                              f"{exc.strerror or exc}; the event is kept") from None
        return {"deleted": event_id}

    def _event_store(self) -> EventStore:
        if self.events is None:
            raise NotFound("events are turned off (events.enabled = false)")
        return self.events.store

    def _find_event(self, event_id: str) -> Event:
        event = self._event_store().get(event_id) if ID_PATTERN.fullmatch(event_id) else None
        if event is None:
            raise NotFound(f"no event {event_id!r}")
        return event

    def test_mqtt(self) -> dict[str, Any]:
        """Send a test message through the running MQTT output and say whether the broker
        took it (bounded wait); Conflict when MQTT is off."""
        if self.outputs.mqtt is None:
            raise Conflict("MQTT is turned off: set mqtt.host to a broker")
        return {"output": "mqtt", **self.outputs.mqtt.send_test()}

    def test_webhooks(self) -> dict[str, Any]:
        """POST a test message to every webhook URL at once and say how each answered
        (bounded by webhooks.timeout_s); Conflict when no URL is set."""
        if self.outputs.webhooks is None:
            raise Conflict("webhooks are turned off: set webhooks.urls")
        return {"output": "webhooks", **self.outputs.webhooks.send_test()}

    @staticmethod
    def waiting_reason(health: dict[str, Any]) -> str:
        model, camera = health["model"], health["camera"]
        if model["state"] == "error":
            return f"the model failed to load: {model['error']}"
        if model["state"] == "loading":
            return "the model is loading"
        if camera["state"] != "running":
            return f"camera {camera['state']}" + (f" ({camera['error']})" if camera["error"] else "")
        return "the first frame is being classified"


def _deleted_note(deleted: int, ongoing: int) -> str:
    """What a delete of many events did, in words a page can show as it is."""
    done = f"deleted {deleted} event{'s' * (deleted != 1)}" if deleted else \
        "no ended event to delete"
    if not ongoing:
        return done
    return (f"{done}; {ongoing} ongoing event{' is' if ongoing == 1 else 's are'} kept: an "
            "event can be deleted once it has ended")
