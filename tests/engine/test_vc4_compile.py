"""Every shader of the shipped models, the feature model and the dog classifier's feature
extractors (grid pooling, at two input sizes) through the Raspberry Pi's real
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
from gpu_engine import FeatureSpec, load_model
from gpu_engine.chunkfile import write_chunks
from gpu_engine.features import feature_model as extractor

# The descriptors the few-shot study weighs, at the model's input and at 193x193.
EXTRACTORS = {"features_b3_385": FeatureSpec("b3-scale", 3),
              "features_b4_193": FeatureSpec("b4-scale", 3, (193, 193)),
              "features_b3_193": FeatureSpec("b3-scale", 4, (193, 193))}

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
    if name in EXTRACTORS:
        path = tmp_path / f"{name}.chunks"
        write_chunks(path, extractor(load_model(dog_model_path), EXTRACTORS[name]).chunks().items())
        return path
    path = tmp_path / "feature_model.chunks"
    path.write_bytes(feature_model())
    return path


@pytest.mark.parametrize("name", ["dog_classifier", "demo_model", "feature_model", *EXTRACTORS])
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
