"""The `shadercam` commands speak the API's vocabulary and say plainly when there is nothing to
do: each test runs the real command in its own process and reads its output and exit status."""
from __future__ import annotations

import hashlib
import json
import os
import pty
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import demo_scene
from app.models.store import DEMO_MODEL

REPO = Path(__file__).resolve().parents[2]
# every key of the API's prediction object (app.hub.Prediction.to_dict)
PREDICTION_KEYS = {"type", "frame", "timestamp", "label", "display_label", "uncertain", "top_k",
                   "timings_ms", "model_name", "origin", "smoothing", "threshold", "taught"}


def shadercam(*args: str, env: dict[str, str] | None = None,
              **options) -> subprocess.CompletedProcess:
    if "stderr" not in options:
        options["capture_output"] = True
    return subprocess.run([sys.executable, "-m", "app.cli", *args], text=True, timeout=300,
                          cwd=REPO, env=env, **options)


def draw_samples(folder: Path, names: dict[str, int], seed: int) -> None:
    """`count` fresh pictures of each named class of the demo model, in `folder`/NAME/."""
    rng = np.random.default_rng(seed)
    wanted = dict(names)
    while any(wanted.values()):
        image, label = demo_scene.random_sample(rng, 64)
        name = demo_scene.CLASSES[label]
        if wanted.get(name):
            (folder / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / name / f"{wanted[name]}.png")
            wanted[name] -= 1


@pytest.fixture
def store_env(tmp_path) -> dict[str, str]:
    return dict(os.environ, SHADERCAM_MODEL_STORE=str(tmp_path / "store"))


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    """Two of the demo model's own pictures: circle/1.png and star/1.png."""
    folder = tmp_path_factory.mktemp("shapes")
    draw_samples(folder, {"circle": 1, "star": 1}, seed=7)
    return folder


def test_classify_json_is_the_api_prediction_with_batch_path(shapes, tmp_path):
    circle, broken = str(shapes / "circle" / "1.png"), tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    result = shadercam("classify", "--model", "demo", "--json", "--top-k", "3", circle,
                       str(broken))
    assert result.returncode == 1 and f"{broken}: " in result.stderr  # the others still done
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    assert list(record)[0] == "path" and record["path"] == circle
    assert set(record) == {"path", *PREDICTION_KEYS}  # no raw probabilities, no `image`
    assert record["type"] == "prediction" and record["model_name"] == "demo_model"
    assert record["threshold"] == 0.5 and record["origin"] == "upload"
    assert len(record["top_k"]) == 3 and record["label"] == record["top_k"][0]["label"]
    assert record["uncertain"] is False and record["display_label"] == "Circle"
    assert record["timings_ms"]["gpu"] > 0

    # the same picture through `batch`: the same path and the same ranking
    batch = shadercam("batch", "--model", "demo", "--top-k", "3", circle)
    assert batch.returncode == 0, batch.stderr
    [batch_record] = [json.loads(line) for line in batch.stdout.splitlines()]
    assert batch_record["path"] == record["path"]
    assert [r["index"] for r in batch_record["top_k"]] == [r["index"] for r in record["top_k"]]
    for mine, theirs in zip(record["top_k"], batch_record["top_k"]):
        assert abs(mine["probability"] - theirs["probability"]) <= 1e-6

    # a threshold above the best probability: uncertain, and no label named
    unsure = shadercam("classify", "--model", "demo", "--json", "--threshold", "1", circle)
    assert unsure.returncode == 0, unsure.stderr
    unsure_record = json.loads(unsure.stdout)
    assert unsure_record["uncertain"] is True and unsure_record["threshold"] == 1.0
    assert unsure_record["label"] is None and unsure_record["display_label"] is None
    assert unsure_record["top_k"][0]["label"] == "circle"
    text = shadercam("classify", "--model", "demo", "--threshold", "1", circle)
    assert text.stdout.startswith(f"{circle}\n  uncertain: the best is below the threshold "
                                  "100%\n")
    refused = shadercam("classify", "--model", "demo", "--threshold", "1.5", circle)
    assert refused.returncode == 2 and "must be between 0 and 1" in refused.stderr


def test_bench_json_names_the_model_as_the_api_does_and_reports_fps():
    result = shadercam("bench", "--model", "demo", "--iterations", "3", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    model = figures["model"]
    assert set(model) == {"name", "path", "classes", "input_size", "demo", "self_test"}
    assert (model["name"], model["path"], model["classes"]) == ("demo_model", str(DEMO_MODEL), 8)
    assert model["demo"] is True
    assert len(model["input_size"]) == 2 and min(model["input_size"]) > 0
    assert model["self_test"]["ok"] is True and model["self_test"]["kernels"] > 0
    assert figures["fps"] == pytest.approx(1000 / figures["latency_ms"]["median"])
    text = shadercam("bench", "--model", "demo", "--iterations", "2", "--no-self-test")
    assert text.returncode == 0, text.stderr
    assert "demo_model (" in text.stdout and " fps)" in text.stdout


def test_model_list_json_and_installing_twice(store_env, tmp_path):
    empty = shadercam("model", "list", "--json", env=store_env)
    assert empty.returncode == 0
    assert json.loads(empty.stdout) == {"store": store_env["SHADERCAM_MODEL_STORE"],
                                        "models": []}

    installed = shadercam("model", "install", str(DEMO_MODEL), "--name", "shapes", env=store_env)
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout.startswith("installed shapes (default): ")
    assert installed.stderr == ""  # no progress lines when nobody watches a terminal
    target = Path(store_env["SHADERCAM_MODEL_STORE"]) / "shapes.chunks"
    before = target.stat()

    again = shadercam("model", "install", str(DEMO_MODEL), "--name", "shapes", env=store_env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("already installed shapes (default): ")
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    listing = json.loads(shadercam("model", "list", "--json", env=store_env).stdout)
    digest = hashlib.sha256(DEMO_MODEL.read_bytes()).hexdigest()
    assert listing["models"] == [{"name": "shapes", "path": str(target),
                                  "size": DEMO_MODEL.stat().st_size, "sha256": digest,
                                  "default": True}]


def test_install_progress_shows_on_a_terminal(store_env):
    """stderr on a real pseudo-terminal: the progress line is drawn (and ended)."""
    controller, terminal = pty.openpty()
    try:
        result = shadercam("model", "install", str(DEMO_MODEL), env=store_env,
                           stderr=terminal, stdout=subprocess.PIPE, capture_output=False)
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal's other end is closed: all was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    assert result.returncode == 0
    assert f"\rfetching {DEMO_MODEL}: ".encode() in shown and b"(100%)" in shown


def test_help_shows_the_true_defaults():
    serve = shadercam("serve", "--help").stdout
    assert "(config default: 127.0.0.1)" in serve.replace("\n", " ").replace("  ", " ")
    assert "config default: 0.0.0.0" not in serve
    for command in ("classify", "bench", "batch", "eval"):
        text = shadercam(command, "--help").stdout
        assert "--no-self-test" in text and "(default: True)" not in text, command
        assert "(default: False)" not in text and "(default: None)" not in text, command


@pytest.mark.parametrize("case", ["empty", "not-pictures", "missing"])
def test_batch_with_nothing_to_classify_is_an_error(case, tmp_path):
    folder = tmp_path / "pictures"
    if case != "missing":
        folder.mkdir()
    if case == "not-pictures":
        (folder / "notes.txt").write_text("no picture")
        (folder / "sub").mkdir()
        (folder / "sub" / "clip.srt").write_text("1\n")
    result = shadercam("batch", "--model", "demo", "--output", str(tmp_path / "out.jsonl"),
                       str(folder))
    assert result.returncode == 1 and result.stdout == ""
    reason = {"empty": "no pictures or videos to classify in this folder (no files; pictures",
              "not-pictures": "no pictures or videos to classify in this folder (only 2 other "
                              "files; pictures",
              "missing": "no such file or folder\n"}[case]
    assert result.stderr.startswith(f"shadercam batch: error: {folder}: {reason}")
    assert result.stderr.count("\n") == 1  # one line
    assert "done" not in result.stderr and not (tmp_path / "out.jsonl").exists()


def test_batch_with_an_unreachable_scheduler_names_it(shapes):
    pytest.importorskip("distributed", reason="--scheduler needs Dask (the `cluster` extra)")
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    result = shadercam("batch", "--model", "demo", "--scheduler", address, str(shapes))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"shadercam batch: error: cannot reach the Dask scheduler "
                                    f"at {address}: ")
    assert "after 3 s" in result.stderr  # Dask's own word for the connect timeout it was given
    assert "Traceback" not in result.stderr


def test_eval_matrix_keeps_its_title_and_footer_inside_the_picture(tmp_path):
    """Two classes make a narrow matrix, narrower than its title and footer."""
    root = tmp_path / "a_labelled_set_with_a_long_name"
    draw_samples(root, {"circle": 3, "star": 2}, seed=5)
    report = tmp_path / "report.json"
    result = shadercam("eval", "--model", "demo", "--report", str(report), str(root))
    assert result.returncode == 0, result.stderr
    picture = np.asarray(Image.open(json.loads(report.read_text())["confusion_png"]).convert("L"))
    edges = [picture[:, -4:], picture[-4:, :], picture[:4, :], picture[:, :4]]
    assert all((edge == 255).all() for edge in edges)  # nothing drawn reaches an edge
    title, footer = picture[:30], picture[-30:]
    assert (title < 128).any() and (footer < 128).any()
