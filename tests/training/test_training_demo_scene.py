"""The demo camera's pictures: every class appears, frames move, shapes stay where the model
looks (the central square its image sampler crops)."""
import numpy as np

from app import demo_scene


def test_random_samples_cover_every_class_at_the_requested_size():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        image, label = demo_scene.random_sample(rng, 48)
        assert image.shape == (48, 48, 3) and image.dtype == np.uint8
        seen.add(label)
    assert seen == set(range(len(demo_scene.CLASSES)))


def test_samples_are_reproducible_from_the_generator_state():
    first = demo_scene.random_sample(np.random.default_rng(4), 32)
    second = demo_scene.random_sample(np.random.default_rng(4), 32)
    assert first[1] == second[1] and np.array_equal(first[0], second[0])


def test_frames_animate_and_cycle_through_the_classes():
    a = demo_scene.render_scene(1.0, 320, 240)
    assert a.shape == (240, 320, 3) and a.dtype == np.uint8
    assert np.array_equal(a, demo_scene.render_scene(1.0, 320, 240))
    assert not np.array_equal(a, demo_scene.render_scene(1.5, 320, 240))
    shown = [demo_scene.class_at(t) for t in np.arange(0, 8 * demo_scene.SCENE_SECONDS, 1.0)]
    assert sorted(set(shown)) == list(range(len(demo_scene.CLASSES)))


def test_shapes_stay_inside_the_central_square():
    for t in np.arange(0.2, 30, 0.7):
        frame = demo_scene.render_scene(t, 400, 200).astype(int)
        index = int(t // demo_scene.SCENE_SECONDS)
        _, background = demo_scene._scene_frame(index, 400, 200)
        changed = np.any(frame != background, axis=2)
        columns = np.nonzero(changed.any(axis=0))[0]
        assert columns.size and columns.min() >= 100 and columns.max() < 300
