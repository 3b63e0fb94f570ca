""""Send a test message": through the running MQTT output to a real mosquitto, and to real
webhook receivers on loopback; the answer says what happened to each, in words, within a
bounded wait; an output that is off is a 409. And the watched classes, changed on the settings
page, reach Home Assistant's class sensors."""
from __future__ import annotations

import json
import threading

import httpx

from mqtt_watch import Watcher
from serving import running_service, wait_for
from test_webhooks import receiver


def test_mqtt_test_message_reaches_the_broker_and_a_gone_broker_is_said(demo_model, broker):
    watcher = Watcher(broker.port, "cam/porch/#")
    try:
        with running_service(demo_model, camera_source="demo", mqtt_host="127.0.0.1",
                             mqtt_port=broker.port, mqtt_topic_prefix="cam/porch",
                             mqtt_discovery=False) as run, \
                httpx.Client(base_url=run.base, timeout=30) as http:
            assert http.post("/api/outputs/webhooks/test").status_code == 409  # none set
            wait_for(lambda: http.get("/api/health").json()["outputs"]["mqtt"]["connected"])
            answer = http.post("/api/outputs/mqtt/test")
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"output": "mqtt", "delivered": True, "results": [
                {"target": f"cam/porch/test on 127.0.0.1:{broker.port}", "delivered": True,
                 "error": None}]}
            [payload] = wait_for(lambda: watcher.on("cam/porch/test"))
            message = json.loads(payload)
            assert message["type"] == "test" and message["test"] is True
            assert "test message" in message["message"]

            broker.stop()
            wait_for(lambda: not http.get("/api/health").json()["outputs"]["mqtt"]["connected"])
            gone = http.post("/api/outputs/mqtt/test").json()
            assert gone["delivered"] is False
            assert gone["results"][0]["error"].startswith("not connected to the broker")
    finally:
        watcher.client.loop_stop()


def test_webhooks_test_message_says_how_each_url_answered(demo_model, tmp_path):
    hold = threading.Event()
    with receiver() as (good, received), receiver(status=500) as (failing, _), \
            receiver(hold=hold) as (stuck, _):
        urls = [f"{good}/hook?token=secret", f"{failing}/hook", f"{stuck}/hook"]
        with running_service(demo_model, camera_source="demo", webhooks_urls=urls,
                             webhooks_timeout_s=3.0, webhooks_retries=5,
                             events_enabled=False) as run, \
                httpx.Client(base_url=run.base, timeout=30) as http:
            assert http.post("/api/outputs/mqtt/test").status_code == 409  # no broker set
            answer = http.post("/api/outputs/webhooks/test")
            hold.set()
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["output"] == "webhooks" and body["delivered"] is False
            good_result, failing_result, stuck_result = body["results"]
            assert good_result == {"target": f"{good}/hook", "delivered": True, "error": None}
            assert failing_result["delivered"] is False
            assert failing_result["error"] == \
                f"POST to {failing}/hook failed: HTTP 500 Internal Server Error"
            assert stuck_result["delivered"] is False and "within 3 s" in stuck_result["error"]
            assert "secret" not in answer.text
            [(headers, posted)] = received
            assert headers["Content-Type"] == "application/json"
            assert json.loads(posted)["type"] == "test"
            # one try each (no retries), apart from the events: none counted as sent or failed
            hooks = http.get("/api/health").json()["outputs"]["webhooks"]["urls"]
            assert [(h["sent"], h["failed"]) for h in hooks] == [(0, 0)] * 3


def test_watched_classes_changed_at_run_time_reach_home_assistant(demo_model, broker):
    device = "homeassistant/device/cam_yard/config"
    watcher = Watcher(broker.port, device)
    try:
        with running_service(demo_model, camera_source="demo", mqtt_host="127.0.0.1",
                             mqtt_port=broker.port, mqtt_topic_prefix="cam/yard") as run, \
                httpx.Client(base_url=run.base, timeout=30) as http:
            def sensors() -> set[str]:
                payload = watcher.last(device)
                components = json.loads(payload)["components"] if payload else {}
                # a removed entity is its platform alone, which tells Home Assistant to drop it
                return {name for name, c in components.items()
                        if c["platform"] == "binary_sensor" and len(c) > 1}

            wait_for(lambda: len(sensors()) == 8, seen=sensors)  # every class: "*"
            assert http.put("/api/settings", json={"event_labels": ["star", "heart"]}
                            ).status_code == 200
            wait_for(lambda: sensors() == {"class_star", "class_heart"}, seen=sensors)
            removed = json.loads(watcher.last(device))["components"]["class_circle"]
            assert removed == {"platform": "binary_sensor"}
    finally:
        watcher.client.loop_stop()
