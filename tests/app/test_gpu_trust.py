"""The service trusts the GPU only after checking it: a software renderer on a Raspberry Pi (or
when configured to refuse one) and a failed GPU self-test each put the model in error, with
the reason, in /api/health (503) and the log, and nothing is published. The command line and
batch runs open their engines the same way (gpu_engine.open_engine): a GPU that drops its draws
is refused by each of the three."""
import logging

import httpx
import pytest
from PIL import Image

from app.cli import main

from gpu_engine.trust import MODEL_FILE_ENV, device_model, software_gl_problem
from gpu_engine import GLInfo
from gl_intercept import EVERY_PROGRAM, GLRecorder
from serving import running_service, wait_for

LLVMPIPE = GLInfo("Mesa", "llvmpipe (LLVM 15.0.6, 256 bits)", "OpenGL ES 2.0 Mesa 22.3.6",
                  "gles2", True)
VC4 = GLInfo("Broadcom", "VC4 V3D 2.1", "OpenGL ES 2.0 Mesa 22.3.6", "gles2", False)


@pytest.fixture
def on_a_pi(tmp_path, monkeypatch):
    """The device tree's model file as a Pi Zero W has it (NUL-terminated)."""
    model = tmp_path / "model"
    model.write_bytes(b"Raspberry Pi Zero W Rev 1.1\0")
    monkeypatch.setenv(MODEL_FILE_ENV, str(model))


def _error_health(run):
    with httpx.Client(base_url=run.base, timeout=20) as http:
        response = wait_for(lambda: (r := http.get("/api/health")).json()["status"] == "error"
                            and r, timeout=60)
        assert response.status_code == 503
        assert http.get("/api/latest").json()["type"] == "waiting"
        return response.json()


def test_the_hardware_is_read_from_the_device_tree(on_a_pi, tmp_path, monkeypatch):
    assert device_model() == "Raspberry Pi Zero W Rev 1.1"
    assert "on this Raspberry Pi Zero W" in software_gl_problem(LLVMPIPE)
    assert software_gl_problem(VC4) is None
    assert software_gl_problem(LLVMPIPE, "allow") is None
    monkeypatch.setenv(MODEL_FILE_ENV, str(tmp_path / "absent"))
    assert device_model() == ""
    assert software_gl_problem(LLVMPIPE) is None
    assert "model.software_gl = refuse" in software_gl_problem(LLVMPIPE, "refuse")


def test_software_gl_on_a_pi_is_an_error(on_a_pi, colour_model, colour_pictures, caplog):
    with caplog.at_level(logging.ERROR), \
            running_service(colour_model, camera_source=f"files:{colour_pictures}") as run:
        health = _error_health(run)
    assert health["model"]["state"] == "error"
    assert "software renderer on this Raspberry Pi Zero W" in health["model"]["error"]
    assert health["gl"]["software"] is True
    assert "software renderer on this Raspberry Pi" in caplog.text
    assert run.service.hub.latest is None


def test_software_gl_refused_by_configuration(colour_model, colour_pictures, tmp_path,
                                              monkeypatch):
    monkeypatch.setenv(MODEL_FILE_ENV, str(tmp_path / "not-a-pi"))
    with running_service(colour_model, camera_source=f"files:{colour_pictures}",
                         model_software_gl="refuse") as run:
        health = _error_health(run)
    assert "model.software_gl = refuse" in health["model"]["error"]


def test_software_gl_allowed_on_a_pi_when_configured(on_a_pi, colour_model, colour_pictures):
    with running_service(colour_model, camera_source=f"files:{colour_pictures}",
                         model_software_gl="allow") as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        assert wait_for(lambda: http.get("/api/latest").json().get("label"), timeout=60)
        health = http.get("/api/health")
        assert health.status_code == 200
        assert health.json()["model"]["self_test"]["ok"] is True


def test_a_failed_self_test_names_the_kernel(colour_model, colour_pictures, caplog):
    """The GPU drops every draw (as vc4 does for a program it could not compile)."""
    recorder = GLRecorder(drop=EVERY_PROGRAM)
    with caplog.at_level(logging.ERROR), recorder.installed(), \
            running_service(colour_model, camera_source=f"files:{colour_pictures}") as run:
        health = _error_health(run)
    error = health["model"]["error"]
    assert error.startswith("GPU self-test failed: op ")  # in words; its kind apart
    assert health["model"]["error_kind"] == "GPURefused"
    assert "were never drawn" in error and "image sampler" in error
    assert health["model"]["self_test"]["ok"] is False
    assert "GPU self-test failed" in caplog.text
    assert run.service.hub.latest is None


def test_the_self_test_can_be_turned_off(colour_model, colour_pictures):
    with running_service(colour_model, camera_source=f"files:{colour_pictures}",
                         model_self_test="off") as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        assert wait_for(lambda: http.get("/api/latest").json().get("label"), timeout=60)
        assert http.get("/api/health").json()["model"]["self_test"] is None


def test_a_gpu_that_drops_draws_is_refused_by_classify(colour_model, tmp_path, capsys):
    picture = tmp_path / "red.png"
    Image.new("RGB", (40, 30), (230, 20, 20)).save(picture)
    with GLRecorder(drop=EVERY_PROGRAM).installed():
        status = main(["classify", "--model", str(colour_model), str(picture)])
    out, err = capsys.readouterr()
    assert status == 1 and out == ""
    assert err.startswith("shadercam classify: error: GPU self-test failed: op ")
    assert "were never drawn" in err


def test_a_gpu_that_drops_draws_stops_a_batch(colour_model, colour_pictures, tmp_path, capsys):
    """No record is written: an output of errors would pass for finished work when continued."""
    out = tmp_path / "out.jsonl"
    with GLRecorder(drop=EVERY_PROGRAM).installed():
        status = main(["batch", "--model", str(colour_model), "--output", str(out),
                       str(colour_pictures)])
    err = capsys.readouterr().err
    assert status == 1
    assert "shadercam batch: error: the GPU is refused: GPU self-test failed: op " in err
    assert not out.exists() or out.read_text() == ""


def test_batch_and_classify_follow_the_software_gl_policy(colour_model, colour_pictures,
                                                          tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(MODEL_FILE_ENV, str(tmp_path / "not-a-pi"))
    picture = colour_pictures / "red.png"
    assert main(["classify", "--model", str(colour_model), "--software-gl", "refuse",
                 str(picture)]) == 1
    assert "model.software_gl = refuse" in capsys.readouterr().err
    out = tmp_path / "out.jsonl"
    assert main(["batch", "--model", str(colour_model), "--software-gl", "refuse",
                 "--no-self-test", "--output", str(out), str(colour_pictures)]) == 1
    assert "the GPU is refused: GL renderer" in capsys.readouterr().err
    assert main(["batch", "--model", str(colour_model), "--output", str(out),
                 str(colour_pictures)]) == 0
    assert '"label": "red"' in out.read_text()
