"""`shadercam classify` and `shadercam bench` as a user runs them."""
import json
import subprocess
import sys

from PIL import Image

from engine.images import natural


def shadercam(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_classify_json_lines(tmp_path, dog_model_path):
    cat = tmp_path / "chelsea.png"
    Image.fromarray(natural("chelsea")).save(cat)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    result = shadercam("classify", "--model", str(dog_model_path), "--top-k", "3", "--json",
                       str(cat), str(broken), str(cat))
    assert result.returncode == 1  # one file failed, the others were still classified
    assert "broken.jpg" in result.stderr and "Traceback" not in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    first = lines[0]
    assert first["path"] == str(cat) and "probabilities" not in first  # the API's prediction
    assert [entry["index"] for entry in first["top_k"]][0] == 119
    assert first["top_k"][0]["label"] == "tiger_cat" and first["top_k"][0]["probability"] > 0.99
    assert len(first["top_k"]) == 3 and first["label"] == "tiger_cat"
    assert first["uncertain"] is False and first["model_name"] == "dog_classifier"


def test_classify_text_and_a_corrupt_model(tmp_path, dog_model_path):
    cat = tmp_path / "cat.png"
    Image.fromarray(natural("chelsea")).save(cat)
    result = shadercam("classify", "--model", str(dog_model_path), str(cat))
    assert result.returncode == 0 and "tiger_cat" in result.stdout
    corrupt = tmp_path / "corrupt.chunks"
    corrupt.write_bytes(dog_model_path.read_bytes()[:5000])
    result = shadercam("classify", "--model", str(corrupt), str(cat))
    assert result.returncode != 0
    assert "truncated" in result.stderr and "Traceback" not in result.stderr


def test_bench_reports_its_figures(dog_model_path):
    result = shadercam("bench", "--model", str(dog_model_path), "--iterations", "2", "--json",
                       "--reference")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["passes"] == 1126 and figures["iterations"] == 2
    assert figures["model"]["name"] == "dog_classifier" and figures["model"]["classes"] == 120
    assert figures["model"]["path"] == str(dog_model_path) and not figures["model"]["demo"]
    assert figures["fps"] > 0
    assert figures["multiply_adds"] == 398_405_856
    assert 27e6 < figures["texel_fetches"] < 29e6   # the seed article's ~28 M
    latency = figures["latency_ms"]
    assert 0 < latency["min"] <= latency["median"] <= latency["max"]
    assert figures["reference_ms"] > 0 and "llvmpipe" in figures["renderer"]
    assert 5 * 2**20 < figures["texture_bytes"] < 64 * 2**20  # fits the Pi Zero's CMA pool
    assert 0 < figures["model_texture_bytes"] < figures["texture_bytes"]  # and the frame's
    calls = figures["gl_calls"]  # counted on an engine of its own, one steady inference
    assert calls["glDrawArrays"] == figures["passes"]
    assert 0 < calls["glBindFramebuffer"] <= calls["glDrawArrays"]
    assert calls["total"] == sum(calls["by_function"].values()) > calls["glDrawArrays"]
