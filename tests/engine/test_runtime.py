"""Runtime services beyond classification: sentinel-cleared render targets (self-test) and
the texture memory the engine holds."""
import numpy as np
import pytest

from engine.images import natural


def test_clear_targets_fills_every_drawn_region_and_keeps_borders(gles2_engine, dog_model):
    image = natural("chelsea")
    before = gles2_engine.classify_rgb(image)
    gles2_engine.clear_targets(77)
    plan = gles2_engine.plan
    for name in ("input", *[op.name for op in dog_model.ops[1:3]]):
        codes = gles2_engine.read_tensor(name)
        assert (codes[..., :3] == 77).all(), name  # every texel a pass draws
    layout = next(l for l in plan.layouts.values() if l.border > 0)
    texture = gles2_engine._textures[layout.quad(0)[0]]
    framebuffer = gles2_engine._framebuffers[layout.quad(0)[0]]
    corner = gles2_engine._read(framebuffer, 0, 0, texture.width, layout.border)
    assert not corner.any()  # the zero border the consumers' padding reads is untouched
    np.testing.assert_array_equal(gles2_engine.classify_rgb(image), before)  # all redrawn


def test_clear_targets_takes_an_8_bit_code(gles2_engine):
    with pytest.raises(ValueError, match="8-bit"):
        gles2_engine.clear_targets(256)


def test_texture_memory_counts_every_texture(gles2_engine):
    planned = gles2_engine.plan.texture_bytes()
    frames = sum(t.bytes for t in gles2_engine._frame_textures.values())
    assert frames > 0 and gles2_engine.texture_bytes() == planned + frames
