"""`shadercam batch` in this process: what it writes, resuming, CSV, videos, bad input, progress."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from app.batch.progress import Progress
from app.cli import main
from app.images import TEXTURE_LIMIT as MAX_SIDE
from batch_helpers import DEMO_MODEL, REPO, assert_same_as_engine, read_records
from gpu_engine import Engine, load_model


def batch(*args: str) -> int:
    return main(["batch", "--model", str(DEMO_MODEL), *args])


@pytest.fixture(scope="module")
def engine():
    engine = Engine(load_model(DEMO_MODEL))
    yield engine
    engine.release()


def test_folder_gives_the_engines_answers_and_reports_a_corrupt_picture(pictures, expected,
                                                                         tmp_path):
    out = tmp_path / "out.jsonl"
    assert batch("--top-k", "3", "--output", str(out), str(pictures)) == 1  # one picture failed
    records = read_records(out)
    broken = str(pictures / "top" / "broken.jpg")
    assert_same_as_engine(records, expected, broken=[broken])
    assert all(len(r["top_k"]) == 3 for r in records if "top_k" in r)
    failed = next(r for r in records if r["path"] == broken)
    assert "image" in failed["error"]
    assert not any(r["path"].endswith("notes.txt") for r in records)  # not a picture suffix


def test_resume_classifies_only_what_is_missing(pictures, expected, tmp_path):
    out = tmp_path / "out.jsonl"
    batch("--output", str(out), str(pictures))
    complete = out.read_text().splitlines(keepends=True)
    # A run killed after 10 records, in the middle of writing the 11th.
    out.write_text("".join(complete[:10]) + complete[10][: len(complete[10]) // 2])
    batch("--output", str(out), str(pictures))
    records = read_records(out)
    assert records[:10] == [json.loads(line) for line in complete[:10]]
    assert_same_as_engine(records, expected, broken=[str(pictures / "top" / "broken.jpg")])
    before = out.read_text()
    assert batch("--output", str(out), str(pictures)) == 0  # nothing left to do, no errors
    assert out.read_text() == before


def test_csv_output_resumes_and_refuses_other_columns(pictures, expected, tmp_path, capsys):
    out = tmp_path / "out.csv"
    one = str(sorted(pictures.rglob("p*.png"))[0])
    batch("--top-k", "2", "--output", str(out), one)
    batch("--top-k", "2", "--output", str(out), str(pictures))
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["path"] for r in rows].count(one) == 1
    assert sorted(r["path"] for r in rows if not r["error"]) == sorted(expected)
    for row in rows:
        if row["error"]:
            assert row["label_1"] == "" and row["path"].endswith("broken.jpg")
            continue
        probabilities = expected[row["path"]]
        best = np.argsort(-probabilities, kind="stable")[:2]
        labels = load_model(DEMO_MODEL).labels
        assert [row["label_1"], row["label_2"]] == [labels[i] for i in best]
        assert float(row["probability_1"]) == pytest.approx(float(probabilities[best[0]]),
                                                            abs=1e-6)
    assert batch("--top-k", "3", "--output", str(out), str(pictures)) == 1
    assert "other columns (another --top-k?)" in capsys.readouterr().err
    assert {row["model_name"] for row in rows} == {"demo_model"}


def test_an_output_of_another_model_is_refused_not_mixed(pictures, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    one = str(sorted(pictures.rglob("p*.png"))[0])
    batch("--output", str(out), one)
    before = out.read_text()
    other = tmp_path / "other.chunks"
    other.write_bytes(DEMO_MODEL.read_bytes())
    assert main(["batch", "--model", str(other), "--output", str(out), str(pictures)]) == 1
    assert "holds results of model demo_model, not other" in capsys.readouterr().err
    assert out.read_text() == before


def write_video(path, shapes: list[np.ndarray]) -> None:
    import av
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 160, "yuv420p"
        for image in shapes:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def test_video_every_nth_frame(tmp_path, engine):
    av = pytest.importorskip("av", reason="videos are decoded with PyAV")
    from app import demo_scene
    rng = np.random.default_rng(5)
    video = tmp_path / "clips" / "clip.mp4"
    video.parent.mkdir()
    write_video(video, [demo_scene.random_sample(rng, 160)[0] for _ in range(10)])
    (tmp_path / "clips" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video")
    with av.open(str(video)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    out = tmp_path / "frames.jsonl"
    assert batch("--every", "3", "--output", str(out), str(tmp_path / "clips")) == 1
    records = read_records(out)
    frames = {r["frame"]: r for r in records if r["path"] == str(video)}
    assert sorted(frames) == [1, 4, 7, 10]  # numbered from 1, the first always taken
    for number, record in frames.items():
        assert record["time_s"] == pytest.approx((number - 1) / 10)  # 10 frames a second
        probabilities = engine.classify_rgb(decoded[number - 1])
        assert record["top_k"][0]["index"] == int(np.argmax(probabilities))
        assert abs(record["top_k"][0]["probability"] - probabilities.max()) <= 1e-6
    broken = [r for r in records if r["path"].endswith("broken.mp4")]
    assert len(broken) == 1 and broken[0]["error"].startswith("cannot decode video")


def test_a_picture_larger_than_the_pi_texture_limit_is_shrunk_not_refused(tmp_path, engine):
    from app import demo_scene
    wide = np.concatenate([demo_scene.random_sample(np.random.default_rng(8), 64)[0]] * 66,
                          axis=1)
    assert wide.shape[1] > MAX_SIDE
    Image.fromarray(wide).save(tmp_path / "wide.png")
    out = tmp_path / "out.jsonl"
    assert batch("--output", str(out), str(tmp_path / "wide.png")) == 0
    [record] = read_records(out)
    halved = np.asarray(Image.fromarray(wide).reduce(3))
    assert halved.shape[1] <= MAX_SIDE
    probabilities = engine.classify_rgb(halved)
    assert abs(record["top_k"][0]["probability"] - probabilities.max()) <= 1e-6


def test_bad_model_and_missing_files_are_clear(tmp_path, capsys):
    broken_model = tmp_path / "broken.chunks"
    broken_model.write_bytes(DEMO_MODEL.read_bytes()[:3000])
    assert main(["batch", "--model", str(broken_model), str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("shadercam batch: error: ") and "truncated" in error
    out = tmp_path / "out.jsonl"
    assert batch("--output", str(out), str(tmp_path / "nowhere.png")) == 1
    error = capsys.readouterr().err
    assert error == f"shadercam batch: error: {tmp_path / 'nowhere.png'}: no such file or folder\n"
    assert not out.exists()  # stopped before anything was written


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_and_lines_elsewhere():
    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        progress = Progress(4, stream=stream, interval=0.0)
        for number in range(3):
            progress.advance(error=number == 1)
        progress.finish()
    assert terminal.getvalue().count("\r\x1b[K") == 4 and "|" in terminal.getvalue()
    assert "3/4" in terminal.getvalue() and "ETA" in terminal.getvalue()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 4
    assert lines[0].startswith("batch: 1/4 done, ") and "images/s, ETA " in lines[0]
    assert lines[-1].startswith("batch: 3 done in ") and lines[-1].endswith("1 errors")


def test_command_line_prints_results_and_a_closing_line(pictures):
    one, two = (str(path) for path in sorted(pictures.rglob("p*.png"))[:2])
    result = subprocess.run([sys.executable, "-m", "app.cli", "batch", "--model",
                             str(DEMO_MODEL), one, two, one], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()  # JSON lines on standard output, each path once
    assert [json.loads(line)["path"] for line in lines] == [one, two]
    assert result.stderr.startswith("batch: 2 done in ") and "\r" not in result.stderr
