"""`shadercam model ...` as a person types it: exit codes, messages and progress output."""
from __future__ import annotations

import json

import pytest

from app.cli import main
from gpu_engine import load_model

DOG_SHA = "59723e406f593959a5ac3d7b930b4b8385e7dc3066e1683b0fb4005bce809fcd"


@pytest.fixture
def store(tmp_path, monkeypatch):
    folder = tmp_path / "store"
    monkeypatch.setenv("SHADERCAM_MODEL_STORE", str(folder))
    return folder


def test_list_install_default_remove(store, dog_model, capsys):
    assert main(["model", "list"]) == 0
    assert "(none; the built-in demo model is used)" in capsys.readouterr().out

    assert main(["model", "install", str(dog_model)]) == 0
    out = capsys.readouterr().out
    assert f"installed dog_classifier (default): {store / 'dog_classifier.chunks'}" in out
    assert DOG_SHA in out

    assert main(["model", "install", str(dog_model), "--name", "copy"]) == 0
    assert main(["model", "default", "copy"]) == 0
    capsys.readouterr()
    assert main(["model", "default"]) == 0
    assert capsys.readouterr().out.strip() == "copy"

    assert main(["model", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"models in {store}:"
    assert lines[1].startswith("* copy ")
    assert lines[2].startswith("  dog_classifier ") and "861371 bytes" in lines[2]

    assert main(["model", "remove", "copy"]) == 0
    assert "it was the default" in capsys.readouterr().out
    assert sorted(p.name for p in store.iterdir()) == ["dog_classifier.chunks"]


def test_errors_are_one_line_and_exit_1(store, dog_model, http_server, capsys):
    assert main(["model", "remove", "nothing"]) == 1
    assert capsys.readouterr().err.startswith("shadercam model: error: no model named 'nothing'")

    http_server.files["/m.chunks"] = dog_model.read_bytes()
    assert main(["model", "install", f"{http_server.base}/m.chunks"]) == 1
    assert "--sha256" in capsys.readouterr().err
    assert main(["model", "install", f"{http_server.base}/m.chunks", "--sha256", "1" * 64]) == 1
    err = capsys.readouterr().err
    assert "sha256 mismatch" in err and "Traceback" not in err
    assert list(store.iterdir()) == []


def test_a_download_logs_no_progress_and_is_not_repeated(store, dog_model, http_server, capsys):
    http_server.files["/m.chunks"] = dog_model.read_bytes()
    url = f"{http_server.base}/m.chunks"
    assert main(["model", "install", url, "--sha256", DOG_SHA, "--store", str(store)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # progress only on a terminal, never in a log
    assert captured.out.startswith("installed m (default): ")
    assert main(["model", "install", url, "--sha256", DOG_SHA, "--store", str(store)]) == 0
    assert capsys.readouterr().out.startswith("already installed m (default): ")
    assert http_server.requests == ["/m.chunks"]  # the checksum said it was there: no download


def test_classify_without_model_uses_the_store_default(store, dog_model, tmp_path, capsys):
    """Without the store's default this would be the demo model (or no model at all)."""
    from PIL import Image

    picture = tmp_path / "grey.png"
    Image.new("RGB", (64, 48), (120, 120, 120)).save(picture)
    assert main(["model", "install", str(dog_model), "--name", "dogs"]) == 0
    capsys.readouterr()

    assert main(["classify", "--json", "--top-k", "3", str(picture)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert main(["classify", "--json", "--top-k", "3", "--model", str(dog_model),
                 str(picture)]) == 0
    explicit = json.loads(capsys.readouterr().out)
    assert explicit["top_k"] == result["top_k"]
    assert result["model_name"] == "dogs" and explicit["model_name"] == "dog_classifier"
    labels = load_model(dog_model).labels
    assert len(labels) == 120
    assert [top["label"] for top in result["top_k"]] == [
        labels[top["index"]] for top in result["top_k"]]
