"""Kernels, limits and engines beyond single ops: every generated program compiles in a real
OpenGL ES 2.0 context, the profile check keeps kernels within the Pi's limits, two engines
share a thread."""
import numpy as np
import pytest

from engine.builder import build, conv, feature_model
from engine.images import natural
from gpu_engine import Engine, ProfileError, load_model_bytes, shader_source
from gpu_engine.profile import VC4_GLES2, check_model


def test_feature_model_shapes():
    model = load_model_bytes(feature_model())
    assert [op.shape for op in model.ops][1:] == [
        (14, 19, 16), (7, 10, 16), (7, 10, 16), (7, 10, 16), (4, 5, 16), (3, 4, 32), (1, 2, 32),
        (1, 1, 12), (1, 1, 12)]


def test_every_kernel_file_is_used_and_compiles_in_a_real_es2_context(dog_model):
    """The programs generated for the feature model, the dog classifier and one of its feature
    extractors use every kernel file, and each compiles with the ES 2.0 context's GLSL ES 1.00
    compiler."""
    from gpu_engine import FeatureSpec
    from gpu_engine.context import GLContext
    from gpu_engine.features import feature_model as extractor
    from gpu_engine.gl_objects import compile_program
    from gpu_engine.planner import make_plan
    programs = {}
    for model in (load_model_bytes(feature_model()), dog_model,
                  extractor(dog_model, FeatureSpec("b3-scale", 3))):
        programs.update(make_plan(model).programs)
    assert sorted({p.kernel for p in programs.values()}) == shader_source.all_kernels()
    gl = GLContext()
    assert "OpenGL ES 2.0" in gl.info.version
    try:
        for key, program in programs.items():
            assert program.fragment_source.startswith("#version 100\n")
            assert "highp" in program.fragment_source and "$" not in program.fragment_source
            compile_program(gl.gl, program.vertex_source, program.fragment_source, key,
                            tuple(name for name, _ in program.attributes))
    finally:
        gl.release()


def test_profile_refuses_a_group_needing_more_than_8_samplers():
    ops = [{"_name": "in", "_type": "image_sampler", "output_width": 8, "output_height": 8},
           conv("c0", 3, 64, 1),
           conv("wide", 64, 64, 1, groups=1),   # 16 input quads in one group: 16 samplers
           {"_name": "avg", "_type": "pooling2d", "operator": "average", "size": 8},
           {"_name": "fc", "_type": "dense", "output_dims": 4, "use_bias": "true"}]
    connections = [{"from": "in", "to": "c0"}, {"from": "c0", "to": "wide"},
                   {"from": "wide", "to": "avg"}, {"from": "avg", "to": "fc"}]
    model = load_model_bytes(build(ops, connections))
    with pytest.raises(ProfileError, match=r"op 'wide'.*16 samplers.*8 of profile vc4-gles2"):
        check_model(model, VC4_GLES2)
    with pytest.raises(ProfileError, match="op 'wide'"):
        Engine(model)


def test_profile_refuses_textures_beyond_2048():
    ops = [{"_name": "in", "_type": "image_sampler", "output_width": 2048, "output_height": 8},
           conv("c0", 3, 4, 1, padding="valid"),
           conv("c1", 4, 4, 3, padding="same"),
           {"_name": "fc", "_type": "dense", "output_dims": 4, "use_bias": "true"}]
    connections = [{"from": "in", "to": "c0"}, {"from": "c0", "to": "c1"},
                   {"from": "c1", "to": "fc"}]
    with pytest.raises(ProfileError, match=r"op 'c0'.*2050x10 texture.*2048"):
        check_model(load_model_bytes(build(ops, connections)), VC4_GLES2)


def test_two_engines_in_one_thread_each_use_their_own_context():
    from gpu_engine import reference
    first = load_model_bytes(feature_model())
    engines = [Engine(first), Engine(first)]
    try:
        image = natural("coffee")
        expected = reference.run(first, image, "gles2")["fc"]
        for engine in engines + engines[::-1]:
            engine.classify_rgb(image)
            np.testing.assert_allclose(engine.logits(), expected, atol=4 / 256)
    finally:
        for engine in engines:
            engine.release()
