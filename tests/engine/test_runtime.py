"""Runtime services beyond classification: sentinel-cleared render targets (self-test) and
the texture memory the engine holds."""
import numpy as np
import pytest

from engine.images import natural


def test_clear_targets_fills_every_drawn_region_and_keeps_borders(gles2_engine, dog_model):
    image = natural("chelsea")
    before = gles2_engine.classify_rgb(image)
    gles2_engine.clear_targets(77)
    for op in dog_model.ops[:4]:
        codes = gles2_engine.read_tensor(op.name)
        assert (codes == 77).all(), op.name  # every texel a pass draws
    # The zero borders that 'same' padding reads were left alone: the next frame, drawing
    # every region again, gives exactly the same probabilities.
    np.testing.assert_array_equal(gles2_engine.classify_rgb(image), before)


def test_clear_targets_takes_an_8_bit_code(gles2_engine):
    with pytest.raises(ValueError, match="8-bit"):
        gles2_engine.clear_targets(256)


def test_texture_memory_counts_every_texture(gles2_engine):
    planned = gles2_engine.plan.texture_bytes()
    frames = sum(t.bytes for t in gles2_engine._frame_textures.values())
    assert frames > 0 and gles2_engine.texture_bytes() == planned + frames


def test_frames_in_any_order_give_what_a_first_frame_gives(dog_model):
    """The command lists assume what the calls before them left bound and set (warm after the
    first frame of a format); switching formats, frame sizes and op-by-op use in between must
    never leave a stale texture, program or uniform behind."""
    from engine.images import yuv420
    from gpu_engine import Engine
    image, other = natural("chelsea"), natural("coffee")
    planes = yuv420(image)
    engine = Engine(dog_model)
    try:
        first = {"rgb": engine.classify_rgb(image)}
        first["yuv"] = engine.classify_yuv420(*planes)
        first["other"] = engine.classify_rgb(other)
        for _ in range(2):
            np.testing.assert_array_equal(engine.classify_rgb(image), first["rgb"])
            np.testing.assert_array_equal(engine.classify_rgb(image), first["rgb"])
            np.testing.assert_array_equal(engine.classify_yuv420(*planes), first["yuv"])
            np.testing.assert_array_equal(engine.classify_rgb(other), first["other"])
            rgba = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
            np.testing.assert_array_equal(engine.classify_rgb(rgba), first["rgb"])
            engine.run_op(dog_model.ops[2].name)
            engine.write_tensor(dog_model.ops[1].name,
                                np.zeros(dog_model.ops[1].shape, np.float32))
            engine.clear_targets(3)
    finally:
        engine.release()
