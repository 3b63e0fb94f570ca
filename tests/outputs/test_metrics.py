"""/metrics from the running service, read with prometheus_client's own text parser."""
from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from serving import engine_up, running_service, wait_for


def scrape(http: httpx.Client) -> dict[str, dict]:
    """family name -> {"type": its type, (sample name, sorted labels): value, ...}."""
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families = {}
    for family in text_string_to_metric_families(response.text):
        families[family.name] = {(s.name, tuple(sorted(s.labels.items()))): s.value
                                 for s in family.samples}
        families[family.name]["type"] = family.type
    return families


def samples(families, family: str) -> list[tuple]:
    return [key for key in families.get(family, {}) if key != "type"]


def value(families, family: str, sample: str | None = None, **labels) -> float:
    return families[family][(sample or family, tuple(sorted(labels.items())))]


def test_metrics_parse_and_move(demo_model, shape_schedule):
    folder, _ = shape_schedule
    with running_service(demo_model, camera_source=f"files:{folder}", camera_fps=8,
                         events_start_frames=2, events_end_s=0.3) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        engine_up(run)
        wait_for(lambda: run.service.worker.frames_processed >= 3)
        first = scrape(http)
        for name in ("captured", "processed", "dropped", "failed"):
            assert first[f"shadercam_frames_{name}"]["type"] == "counter"
        assert first["shadercam_inference_latency_seconds"]["type"] == "histogram"
        for name in ("camera_fps", "inference_fps", "websocket_clients", "stream_clients"):
            assert first[f"shadercam_{name}"]["type"] == "gauge"
        buckets = [dict(key[1])["le"] for key in samples(first, "shadercam_inference_latency_seconds")
                   if key[0].endswith("_bucket")]
        assert buckets[0] == "0.05" and "5.0" in buckets and buckets[-1] == "+Inf"
        build = dict(samples(first, "shadercam_build_info")[0][1])
        assert build["version"] and build["python"]
        model = dict(samples(first, "shadercam_model_info")[0][1])
        assert model["name"] == "demo_model" and model["classes"] == "8" and model["renderer"]
        assert value(first, "shadercam_output_up", output="events") == 1.0
        assert value(first, "shadercam_output_errors", "shadercam_output_errors_total",
                     output="websocket") == 0.0

        def moved():
            later = scrape(http)
            processed = "shadercam_frames_processed", "shadercam_frames_processed_total"
            latency = "shadercam_inference_latency_seconds", \
                "shadercam_inference_latency_seconds_count"
            events = sum(later["shadercam_events"][key] for key in samples(later, "shadercam_events")
                         if key[0] == "shadercam_events_total")
            return (value(later, *processed) >= value(first, *processed) + 8
                    and value(later, *latency) >= value(first, *latency) + 8
                    and events >= 2 and later)

        later = wait_for(moved, timeout=60)
        assert value(later, "shadercam_inference_fps") > 0
        assert value(later, "shadercam_frames_captured", "shadercam_frames_captured_total") >= \
            value(later, "shadercam_frames_processed", "shadercam_frames_processed_total")
        labels = {dict(key[1])["label"] for key in samples(later, "shadercam_events")}
        assert labels <= {"circle", "triangle", "ring", "cross"} and labels
