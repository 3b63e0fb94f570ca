"""Every shader of the shipped models and the feature model through the Raspberry Pi's real
compiler (Mesa vc4 under drm-shim): a kernel vc4 cannot compile has its draws skipped on a Pi
with no GL error, so any VC4FAIL fails here. Writes the per-kernel VC4STAT table to
test-artifacts/vc4/. Without the compiler build this skips (saying how to build it), except
in CI (CI set), where a missing build is a failure."""
import json
import os
from pathlib import Path

import pytest

from benchmarks.vc4_shaderdb import compile_report, shim_problem, table
from engine.test_engine_gpu_features import feature_model

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "vc4"


@pytest.fixture(scope="module", autouse=True)
def vc4_compiler():
    problem = shim_problem()
    if problem and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must run the vc4 compile check: {problem}")
    if problem:
        pytest.skip(problem)


def _model(name: str, tmp_path: Path, dog_model_path: Path) -> Path:
    if name == "dog_classifier":
        return dog_model_path
    if name == "demo_model":
        return REPO / "app" / "assets" / "demo_model.chunks"
    path = tmp_path / "feature_model.chunks"
    path.write_bytes(feature_model())
    return path


@pytest.mark.parametrize("name", ["dog_classifier", "demo_model", "feature_model"])
def test_every_kernel_compiles_on_vc4(name, tmp_path, dog_model_path):
    report = compile_report(_model(name, tmp_path, dog_model_path))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.md").write_text(table(report))
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(report, indent=1))

    assert report["renderer"].startswith("VC4"), report["renderer"]
    assert not report["failures"], f"{name} on vc4:\n" + "\n".join(report["failures"])
    drawn = [p for p in report["programs"] if p["draws"]]
    assert drawn and all(p["fs"] for p in drawn)
    assert report["frame"]["draws"] == sum(p["draws"] for p in drawn)
    assert report["frame"]["uncosted_fragments"] == 0
