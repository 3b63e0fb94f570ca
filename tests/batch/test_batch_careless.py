"""The `shadercam batch` process given careless input: an --output that is a folder or cannot
be written, Ctrl-C, and a FIFO named like a picture. Each ends in one line and a stated exit
status (0 all classified, 1 error records or no start, 130 interrupted), never a traceback
or a hang."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from batch_helpers import DEMO_MODEL, REPO, read_records


# root writes read-only files anyway: without its capabilities it is refused like anyone
NO_CAPABILITIES = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"] \
    if os.geteuid() == 0 and shutil.which("setpriv") else []


def shadercam_batch(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*NO_CAPABILITIES, sys.executable, "-m", "app.cli", "batch", "--model",
                           str(DEMO_MODEL), *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout)


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    [line] = [line for line in stderr.splitlines() if line.startswith("shadercam batch:")]
    return line


def test_an_output_that_is_a_folder_or_cannot_be_written_is_one_line(pictures, tmp_path):
    picture = str(next(pictures.rglob("p*.png")))
    folder = tmp_path / "results"
    folder.mkdir()
    result = shadercam_batch("--output", str(folder), picture)
    assert result.returncode == 1
    assert one_error_line(result.stderr) == (
        f"shadercam batch: error: --output {folder} is a folder; name a file (.jsonl or .csv)")

    outputs = [tmp_path / "missing-folder" / "out.jsonl"]
    locked = tmp_path / "locked.jsonl"
    locked.write_text("")
    locked.chmod(0o444)
    if NO_CAPABILITIES or os.geteuid() != 0:
        outputs.append(locked)
    for output in outputs:
        result = shadercam_batch("--output", str(output), picture)
        assert result.returncode == 1
        assert one_error_line(result.stderr).startswith(
            f"shadercam batch: error: cannot write {output}: "), result.stderr


def test_a_fifo_named_like_a_picture_is_an_error_record_not_a_hang(pictures, tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    shutil.copy(next(pictures.rglob("p*.png")), folder / "a.png")
    os.mkfifo(folder / "b.jpg")
    os.mkfifo(folder / "c.mp4")
    out = tmp_path / "out.jsonl"
    result = shadercam_batch("--output", str(out), str(folder), str(folder / "b.jpg"),
                             timeout=60)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    records = {record["path"]: record for record in read_records(out)}
    assert "top_k" in records[str(folder / "a.png")]
    for name in ("b.jpg", "c.mp4"):
        path = str(folder / name)
        assert records[path]["error"] == f"{path} is not a regular file"


def _ctrl_c_as_in_a_terminal() -> None:
    """A suite run in the background of a shell (as CI runs one) inherits SIGINT ignored, and
    so would the command: give it the default a terminal's foreground job has."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_with_one_line_and_status_130_keeping_the_results(pictures, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    source = next(pictures.rglob("p*.png"))
    count = 2000  # seconds of work even where a picture takes a millisecond
    for number in range(count):
        shutil.copy(source, folder / f"{number:04d}.png")
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "batch", "--model",
                                str(DEMO_MODEL), "--output", str(out), str(folder)],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=_ctrl_c_as_in_a_terminal)
    try:
        deadline = time.monotonic() + 120
        while not (out.exists() and out.read_text().count("\n") >= 3):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no results within 120 s"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert one_error_line(stderr) == "shadercam batch: interrupted"
    records = read_records(out)  # every line written is a whole record
    assert 3 <= len(records) < count and all("top_k" in record for record in records)
    assert len({record["path"] for record in records}) == len(records)
