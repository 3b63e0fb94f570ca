"""The `shadercam` command's rough edges: no silent demo model, clear errors naming the file or
model, a quiet end when its reader goes away, checked flags, --version, help with defaults."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from app.cli import main
from app.config import unknown_env
from app.demo_scene import CLASSES

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_store(tmp_path, monkeypatch) -> Path:
    store = tmp_path / "store"
    monkeypatch.setenv("SHADERCAM_MODEL_STORE", str(store))
    return store


@pytest.fixture
def picture(tmp_path) -> Path:
    path = tmp_path / "square.png"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(path)
    return path


def test_no_installed_model_is_an_error_not_the_demo_model(empty_store, picture, capsys):
    assert main(["classify", str(picture)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("shadercam classify: error: no model installed")
    assert "--model demo" in err and "shadercam model install dog_classifier" in err
    assert main(["classify", "--model", "demo", "--json", "--top-k", "2", str(picture)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model_name"] == "demo_model" and len(result["top_k"]) == 2
    best = result["top_k"][0]
    assert best["label"] in CLASSES and best["display_label"] == best["label"].capitalize()
    assert set(best) == {"index", "label", "display_label", "probability"}


def test_an_unknown_model_name_points_at_model_list(empty_store, picture, capsys):
    assert main(["classify", "--model", "dog", str(picture)]) == 1
    err = capsys.readouterr().err
    assert "no model 'dog'" in err and "shadercam model list" in err
    assert "dog_classifier" in err and "installed: none" in err


def test_a_file_that_is_no_image_is_named(empty_store, picture, tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert main(["classify", "--model", "demo", str(text), str(picture)]) == 1
    captured = capsys.readouterr()
    assert f"shadercam classify: error: {text}: not an image" in captured.err
    assert "BytesIO" not in captured.err
    assert str(picture) in captured.out  # the good file after it was still classified


def test_flags_are_checked_and_help_shows_defaults(capsys):
    with pytest.raises(SystemExit) as refused:
        main(["classify", "--top-k", "0", "x.png"])
    assert refused.value.code == 2 and "must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as shown:
        main(["--version"])
    assert shown.value.code == 0 and capsys.readouterr().out.startswith("shadercam 0.1.0")
    assert main([]) == 0
    assert "classify" in capsys.readouterr().out  # bare `shadercam` prints its help
    with pytest.raises(SystemExit):
        main(["classify", "--help"])
    help_text = capsys.readouterr().out
    assert "(default: 5)" in help_text and "--api" not in help_text  # one GL API: ES 2.0
    assert "(default: None)" not in help_text


def test_classify_into_a_closed_pipe_ends_quietly(picture, tmp_path):
    images = " ".join([str(picture)] * 200)
    done = subprocess.run(
        f"{sys.executable} -m app.cli classify --model demo {images} | head -n 1",
        shell=True, cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.stdout == f"{picture}\n"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_unknown_shadercam_variables_are_named_with_the_closest_key():
    warnings = unknown_env({"SHADERCAM_SERVER_PROT": "9000", "SHADERCAM_SERVER_PORT": "1",
                            "SHADERCAM_MODEL_STORE": "/x", "HOME": "/root"})
    assert warnings == ["SHADERCAM_SERVER_PROT is not a setting and is ignored; did you mean "
                        "SHADERCAM_SERVER_PORT?"]
