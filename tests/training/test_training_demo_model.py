"""The shipped demo model (app/assets/demo_model.chunks) on the real GPU engine in an OpenGL ES
2.0 context, on pictures drawn fresh for this test (seeds the training script never uses).

docs/DEMO-MODEL.md records the accuracy measured here; the bounds leave a margin below it.
"""
from pathlib import Path

import numpy as np
import pytest

from app import demo_scene
from gpu_engine import Engine, load_model, profile

DEMO_MODEL = Path(__file__).resolve().parents[2] / "app" / "assets" / "demo_model.chunks"
SAMPLES = 300


@pytest.fixture(scope="module")
def demo():
    model = load_model(DEMO_MODEL)
    engine = Engine(model)
    yield model, engine
    engine.release()


def test_demo_model_is_small_labelled_and_fits_the_pi():
    assert DEMO_MODEL.stat().st_size < 300_000
    model = load_model(DEMO_MODEL)
    assert model.labels == demo_scene.CLASSES
    assert model.input_size == (64, 64)
    profile.check_model(model)


def test_accuracy_on_fresh_samples(demo):
    _, engine = demo
    rng = np.random.default_rng(987654)
    correct = 0
    for _ in range(SAMPLES):
        image, label = demo_scene.random_sample(rng, 64)
        correct += int(np.argmax(engine.classify_rgb(image))) == label
    accuracy = correct / SAMPLES
    print(f"demo model accuracy on {SAMPLES} fresh samples: {accuracy:.3f}")
    assert accuracy >= 0.9


def test_demo_camera_frames_are_classified_as_shown(demo):
    """What `shadercam serve` shows with no camera: 640x480 frames, resized on the GPU."""
    _, engine = demo
    times = np.arange(0.4, 16 * demo_scene.SCENE_SECONDS, demo_scene.SCENE_SECONDS / 2)
    hits = [int(np.argmax(engine.classify_rgb(demo_scene.render_scene(t, 640, 480))))
            == demo_scene.class_at(t) for t in times]
    print(f"demo camera frames classified as shown: {sum(hits)}/{len(hits)}")
    assert sum(hits) >= 0.85 * len(hits)
