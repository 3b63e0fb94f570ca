"""/docs says what the service does: its curl examples, copied from the page as a reader
would, work against a real service behind its token (run by curl itself, or the same request
from Python where curl is not installed), and every websocket message a real client receives
follows the schema /docs names for its type, as do the page's own examples."""
from __future__ import annotations

import asyncio
import html
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import httpx
import websockets
from PIL import Image

from colour_model import COLOURS
from openapi_check import OpenAPI
from serving import engine_up, running_service, wait_for

TOKEN = "docs-token-0123456789abcdef"
ROUTE = re.compile(r'<article class="route" id="[^"]*" data-method="(\w+)" data-path="([^"]+)">'
                   r'.*?<pre class="curl"><code>(.*?)</code></pre>', re.S)
MESSAGE = re.compile(r'<article [^>]*data-type="(\w+)" data-schema="(\w+)">'
                     r'.*?<pre class="example"><code>(.*?)</code></pre>', re.S)
STATUS_LINE = '\n%{http_code}'


def curl_examples(page: str) -> dict[tuple[str, str], str]:
    return {(method, path): html.unescape(command)
            for method, path, command in ROUTE.findall(page)}


def run_example(command: str, cwd: Path, variables: dict[str, str]) -> httpx.Response:
    """The example as a reader runs it, in a shell with TOKEN and the path's variables set;
    the answer's status from curl's --write-out."""
    env = {**os.environ, "TOKEN": TOKEN, **variables}
    if shutil.which("curl") is None:
        return _same_request_in_python(command, cwd, env)
    done = subprocess.run(["bash", "-c", f"{command} --silent --show-error "
                                         f"--write-out '{STATUS_LINE}'"],
                          cwd=cwd, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, (command, done.stderr)
    body, _, status = done.stdout.rpartition(b"\n")
    return httpx.Response(int(status), content=body)


def _same_request_in_python(command: str, cwd: Path, env: dict[str, str]) -> httpx.Response:
    """What curl would send for the options the examples use: -X, -H, -d, -F, -OJ."""
    words = [re.sub(r"\$\{?(\w+)\}?", lambda m: env[m[1]], word)
             for word in shlex.split(command.replace("\\\n", " "))[1:]]
    method, headers, options, url, save = "GET", {}, {}, "", False
    while words:
        word = words.pop(0)
        if word == "-X":
            method = words.pop(0)
        elif word == "-H":
            name, value = words.pop(0).split(": ", 1)
            headers[name] = value
        elif word == "-d":
            method, options["content"] = "POST" if method == "GET" else method, words.pop(0)
        elif word == "-F":
            field, name = words.pop(0).split("=@", 1)
            options.setdefault("files", {})[field] = (name, (cwd / name).read_bytes())
            method = "POST" if method == "GET" else method
        elif word == "-OJ":
            save = True
        else:
            url = word
    answer = httpx.request(method, url, headers=headers, timeout=60, **options)
    if save:
        disposition = answer.headers.get("content-disposition", "")
        name = re.search(r'filename="([^"]+)"', disposition)
        (cwd / (name[1] if name else url.rsplit("/", 1)[-1])).write_bytes(answer.content)
        return httpx.Response(answer.status_code, content=b"")
    return answer


def test_the_curl_examples_work_as_shown(colour_model, colour_pictures, tmp_path):
    work = tmp_path / "reader"
    work.mkdir()
    Image.new("RGB", (64, 48), COLOURS["red"]).save(work / "picture.jpg")
    with running_service(colour_model, camera_source=f"files:{colour_pictures}", camera_fps=8,
                         state_dir=tmp_path / "state", server_token=TOKEN) as run, \
            httpx.Client(base_url=run.base, timeout=20,
                         headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        engine_up(run)
        api = OpenAPI(http.get("/openapi.json").json())
        examples = curl_examples(http.get("/docs").text)
        documented = {(method.upper(), path) for path, operations in api.document["paths"].items()
                      for method in operations}
        assert set(examples) == documented
        for command in examples.values():
            assert command.startswith(f'curl "{run.base}/') or \
                command.startswith('curl -X '), command
            assert '-H "Authorization: Bearer $TOKEN"' in command, command

        def works(method: str, path: str, **variables: str) -> httpx.Response:
            answer = run_example(examples[(method, path)], work, variables)
            assert 200 <= answer.status_code < 300, (method, path, answer.text)
            if answer.content:  # a JSON answer: as documented; a file: saved by -OJ
                api.answer(path, method, answer)
            return answer

        def preview_of_the_newest() -> int | None:
            """The newest frame if its picture came: only the last few classified are kept."""
            frame = http.get("/api/latest").json().get("frame")
            answer = run_example(examples[("GET", "/preview/{frame}.jpg")], work,
                                 {"FRAME": str(frame)})
            return frame if frame and 200 <= answer.status_code < 300 else None

        frame = wait_for(preview_of_the_newest)
        assert Image.open(work / f"{frame}.jpg").format == "JPEG"
        assert works("GET", "/api/latest").json()["type"] == "prediction"
        assert works("GET", "/api/health").json()["status"] in ("ok", "degraded")
        assert works("PUT", "/api/settings").json()["threshold"] == 0.6
        assert http.get("/api/settings").json()["threshold"] == 0.6
        classified = works("POST", "/api/classify").json()
        assert classified["origin"] == "upload" and classified["top_k"][0]["label"] == "red"

        assert works("POST", "/api/teach").json()["name"] == "door"
        works("GET", "/api/teach/{name}/export", NAME="door")
        assert works("DELETE", "/api/teach/{name}", NAME="door").json()["deleted"] == "door"
        assert (work / "door.shadercam-taught.zip").exists()
        assert works("POST", "/api/teach/import").json()["name"] == "door"
        assert [c["name"] for c in http.get("/api/teach").json()["classifiers"]] == ["door"]

        event = wait_for(lambda: http.get("/api/events").json()["events"])[0]["id"]
        assert works("GET", "/api/events/{event_id}", EVENT_ID=event).json()["label"] == "red"
        works("GET", "/api/events/{event_id}/snapshot.jpg", EVENT_ID=event)
        assert Image.open(work / "snapshot.jpg").format == "JPEG"
        metrics = run_example(examples[("GET", "/metrics")], work, {})
        assert metrics.status_code == 200 and b"shadercam_frames_processed_total" in \
            metrics.content


def test_every_websocket_message_follows_the_schema_docs_name(colour_model, tmp_path):
    pictures = tmp_path / "pictures"  # red, green, blue, red...: an event starts at each frame
    pictures.mkdir()
    for i, name in enumerate(("red", "green", "blue")):
        Image.new("RGB", (160, 120), COLOURS[name]).save(pictures / f"{i}-{name}.png")
    with running_service(colour_model, camera_source=f"files:{pictures}", camera_fps=8,
                         events_start_frames=1, events_end_s=0, events_cooldown_s=0,
                         server_token=TOKEN) as run, \
            httpx.Client(base_url=run.base, timeout=20,
                         headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        engine_up(run)
        api = OpenAPI(http.get("/openapi.json").json())
        page = http.get("/docs").text
        documented = {kind: schema for kind, schema, _ in MESSAGE.findall(page)}
        assert set(documented) == {"hello", "prediction", "event"}
        for kind, schema, example in MESSAGE.findall(page):
            assert api.message(schema, json.loads(html.unescape(example)))["type"] == kind
        assert f'python3 -m websockets "{run.ws}?token=$TOKEN"' in html.unescape(page)

        async def receive_each_type() -> dict[str, dict]:
            received: dict[str, dict] = {}
            async with websockets.connect(f"{run.ws}?token={TOKEN}") as ws:
                while set(received) != set(documented):
                    message = json.loads(await ws.recv())
                    received.setdefault(message["type"], message)
            return received

        received = asyncio.run(asyncio.wait_for(receive_each_type(), 60))
        for kind, message in received.items():
            api.message(documented[kind], message)
        assert received["event"]["event"]["label"] in COLOURS
        assert received["prediction"]["top_k"][0]["label"] in COLOURS


def test_descriptions_show_marked_names_as_code_and_escape_everything_else():
    from app.api.docs import prose
    assert str(prose("the `teach.agree` key, `a<b>`")) == \
        "the <code>teach.agree</code> key, <code>a&lt;b&gt;</code>"
    assert str(prose("<script>x</script> & `")) == "&lt;script&gt;x&lt;/script&gt; &amp; `"
