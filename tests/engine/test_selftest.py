"""The GPU self-test: passes on a GPU that computes right, and names the op and kernel when
the GPU got a wrong weight or skipped the draws of a kernel (what vc4 does with a kernel it
cannot compile), in a real OpenGL ES 2.0 context; built from the model in memory and run in
the engine's own context."""
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.test_engine_cli import shadercam
from engine.test_engine_gpu_features import feature_model
from gl_intercept import EVERY_PROGRAM, GLRecorder
from app.cli import main
from gpu_engine import Engine, FeatureSpec, GPURefused, load_model, open_engine
from gpu_engine.chunkfile import parse_chunks, read_chunks
from gpu_engine.context import GLContext
from gpu_engine.features import feature_model as feature_extractor
from gpu_engine.model import build_model
from gpu_engine.selftest import check, probe_model, run_self_test

DEMO = Path(__file__).resolve().parents[2] / "app" / "assets" / "demo_model.chunks"


@pytest.fixture(scope="module")
def feature_chunks():
    return parse_chunks(feature_model())


def test_the_shipped_models_pass(dog_model_path):
    for path in (dog_model_path, DEMO):
        engine, report = open_engine(load_model(path))
        engine.release()
        assert report.ok, report.error
        assert report.error is None and report.kernels >= 5


def test_the_model_holds_its_chunks(dog_model_path):
    """The probe is built from what the model holds: its description and the weights its ops
    hold encode back to the file's chunks, byte for byte."""
    chunks = read_chunks(dog_model_path)
    held = load_model(dog_model_path).chunks()
    assert {k: v for k, v in held.items() if k != "labels"} == \
        {k: v for k, v in chunks.items() if k != "labels"}
    assert held["labels"].decode().splitlines() == chunks["labels"].decode().splitlines()


def test_no_second_file_read_and_no_second_context(tmp_path, monkeypatch):
    """The model file is gone once loaded, and one EGL context serves the probe and the engine,
    which then classifies as an engine that never ran a probe."""
    import gpu_engine.context
    path = tmp_path / "demo.chunks"
    path.write_bytes(DEMO.read_bytes())
    model = load_model(path)
    path.unlink()
    made = []
    create = gpu_engine.context.egl.create_context
    monkeypatch.setattr(gpu_engine.context.egl, "create_context",
                        lambda *args: made.append(args) or create(*args))
    engine, report = open_engine(model)
    try:
        assert report.ok and len(made) == 1
        picture = np.random.default_rng(3).integers(0, 256, (50, 70, 3), np.uint8)
        probabilities = engine.classify_rgb(picture)
    finally:
        engine.release()
    plain = Engine(model)
    try:
        np.testing.assert_array_equal(plain.classify_rgb(picture), probabilities)
    finally:
        plain.release()


def test_the_probe_keeps_every_kernel_at_a_smaller_input(dog_model_path):
    chunks = read_chunks(dog_model_path)
    probe = probe_model(build_model(chunks, "dog"))
    full = Engine(build_model(chunks, "dog"))
    small = Engine(probe)
    try:
        assert probe.input_size[0] < 385 / 2
        # the same kernel variants; texel offsets (folded per texture size) and weights folded
        # into the large draws' own programs on a software renderer aside
        def variants(engine):
            return {re.sub(r" in\d+x\d+| \S+#\d+$", "", p.program_key)
                    for p in engine.plan.passes}
        assert variants(small) == variants(full)
        assert [op.name for op in probe.ops] == [op.name for op in full.model.ops]
    finally:
        small.release()
        full.release()


def test_a_wrong_weight_is_found_and_named(feature_chunks):
    probe = probe_model(build_model(feature_chunks, "features"))
    op = next(op for op in probe.ops if op.name == "dw")
    right = op.weights.copy()
    op.weights[1, 1, 0, 5] += 0.5  # the GPU gets this weight ...
    engine = Engine(probe)
    op.weights[:] = right  # ... the reference the right one
    try:
        failures = check(engine, probe)
    finally:
        engine.release()
    assert len(failures) == 1, failures
    assert failures[0].startswith("op 'dw' (conv2d k3 s1 depthwise")
    assert "codes differ from the reference" in failures[0]


def test_skipped_draws_are_found_and_named(feature_chunks):
    """vc4 skips every draw of a program it failed to compile, with no GL error: drop the
    draws of the pointwise convolution's program between the engine and the driver."""
    probe = probe_model(build_model(feature_chunks, "features"))
    recorder = GLRecorder()
    with recorder.installed():
        engine = Engine(probe)
    try:
        engine.run_op("pw")
        recorder.drop.add(recorder.draws[-1].program)
        failures = check(engine, probe)
    finally:
        engine.release()
    named = [f for f in failures if f.startswith("op 'pw' (conv2d k1")]
    assert named and "were never drawn" in named[0], failures


def test_the_feature_path_is_checked(dog_model, feature_chunks):
    """A feature extractor's probe checks its grid pooling and the sampler with a region, and
    names the grid pooling when its draws are skipped."""
    extractor = feature_extractor(dog_model, FeatureSpec("b4-scale", 3, (193, 193)))
    probe = probe_model(extractor)
    assert probe.input_size < (193, 193) and probe.ops[-1].TYPE == "grid_pooling"
    context = GLContext()
    try:
        report = run_self_test(extractor, context)
    finally:
        context.release()
    assert report.ok, report.error
    small = probe_model(feature_extractor(build_model(feature_chunks, "features"),
                                          FeatureSpec("c1", 3)))
    recorder = GLRecorder()
    with recorder.installed():
        engine = Engine(small)
    try:
        engine.run_op(small.ops[-1].name)
        drawn = sum(p.op == small.ops[-1].name for p in engine.plan.passes)
        recorder.drop.update(draw.program for draw in recorder.draws[-drawn:])
        failures = check(engine, small)
    finally:
        engine.release()
    assert any(f.startswith("op 'c1-grid3' (grid_pooling") and "were never drawn" in f
               for f in failures), failures
    assert not any("region" in f for f in failures), failures


def test_a_model_whose_sampler_is_skipped_fails_as_a_whole(feature_chunks, tmp_path):
    path = tmp_path / "features.chunks"
    path.write_bytes(feature_model())
    recorder = GLRecorder(drop=EVERY_PROGRAM)
    with recorder.installed(), pytest.raises(GPURefused) as refused:
        open_engine(load_model(path))
    report = refused.value.report
    assert not report.ok and str(refused.value) == report.error
    assert report.error.startswith("GPU self-test failed: op 'in' (image sampler, YUV420): "
                                   "channels 0-3 were never drawn")


def test_probe_falls_back_to_the_model_when_nothing_smaller_fits(tmp_path):
    from engine.builder import build, chain, conv
    ops = [{"_name": "in", "_type": "image_sampler", "output_width": 7, "output_height": 7},
           conv("c", 3, 8, 7, activation="sigmoid_like"),
           {"_name": "fc", "_type": "dense", "output_dims": 4, "use_bias": "true"}]
    chunks = parse_chunks(build(ops, chain("in", "c", "fc")))
    probe = probe_model(build_model(chunks, "model"))
    assert probe.input_size == (7, 7)
    engine = Engine(probe)
    try:
        assert check(engine, probe) == []
    finally:
        engine.release()


def test_codes_on_a_rounding_tie_may_differ_by_one():
    from gpu_engine.selftest import _compare
    exact = np.array([[[10.5 / 255, 20.2 / 255, 30.0 / 255, 0.0]]])
    failures = []
    _compare(failures, "t", np.array([[[10, 20, 30, 0]]], np.uint8), exact)
    _compare(failures, "t", np.array([[[11, 20, 30, 0]]], np.uint8), exact)
    assert failures == []
    _compare(failures, "t", np.array([[[11, 21, 30, 0]]], np.uint8), exact)
    assert failures == ["t: 1 of 4 codes differ from the reference, by up to 1"]


def test_bench_and_classify_run_it_unless_told_not_to(tmp_path):
    result = shadercam("bench", "--model", str(DEMO), "--iterations", "1", "--json")
    assert result.returncode == 0, result.stderr
    assert "self-test    passed:" in result.stderr
    picture = tmp_path / "a.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(picture)
    result = shadercam("classify", "--model", str(DEMO), "--no-self-test", str(picture))
    assert result.returncode == 0, result.stderr
    assert "self-test" not in result.stderr


def test_classify_stops_when_the_self_test_fails(tmp_path, capsys):
    picture = tmp_path / "a.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(picture)
    with GLRecorder(drop=EVERY_PROGRAM).installed():
        status = main(["classify", "--model", str(DEMO), str(picture)])
    out, err = capsys.readouterr()
    assert status == 1 and out == ""
    assert err.startswith("shadercam classify: error: GPU self-test failed: op ")


def test_results_hold_while_other_threads_allocate():
    """The GPU must read the values the engine recorded whatever other threads do with memory
    (the service's camera and web threads allocate all the time): a recorded call that holds
    the address of an array must keep that array alive."""
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            [np.full(n, 7.0, np.float32) for n in (2, 4, 16, 64) for _ in range(8)]

    threads = [threading.Thread(target=churn, daemon=True) for _ in range(2)]
    model, context = load_model(DEMO), GLContext()
    for thread in threads:
        thread.start()
    try:  # probes made and freed one after another in one context
        failures = [report.error for report in (run_self_test(model, context) for _ in range(8))
                    if not report.ok]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        context.release()
    assert failures == []
