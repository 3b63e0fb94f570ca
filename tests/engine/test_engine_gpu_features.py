"""Every kernel and option on small random models, GPU against reference, op by op, in a real
OpenGL ES 2.0 context; and the profile check that keeps kernels within the Pi's limits."""
import numpy as np
import pytest

from engine.builder import build, conv
from engine.images import natural
from engine.test_engine_gpu_ops import check_every_op
from gpu_engine import Engine, ProfileError, load_model_bytes, shader_source
from gpu_engine.profile import VC4_GLES2, check_model


def feature_model() -> bytes:
    """Non-square input, nearest sampling, stride 2 with odd 'same' padding, depthwise,
    shuffle, residual, all activations, max pooling with padding, dense without bias."""
    ops = [
        {"_name": "in", "_type": "image_sampler", "output_width": 40, "output_height": 30,
         "linear_interp": "false", "center_crop": "false"},
        conv("c0", 3, 16, 3, stride=2, activation="brelu6"),
        conv("c1", 16, 16, 3, stride=2, padding="same", groups=2, activation="default"),
        conv("dw", 16, 16, 3, padding="same", groups=16, activation="sigmoid_like"),
        conv("pw", 16, 16, 1, padding="same", groups=2, activation="sigmoid_like"),
        {"_name": "mp", "_type": "pooling2d", "operator": "max", "size": 2, "stride": 2,
         "padding": "same"},
        conv("c2", 16, 32, 2, use_bias="false", activation="sigmoid_like"),
        {"_name": "avg", "_type": "pooling2d", "operator": "average", "size": 3},
        {"_name": "fc", "_type": "dense", "output_dims": 12, "use_bias": "false", "_inputs": 64},
    ]
    connections = [{"from": "in", "to": "c0"}, {"from": "c0", "to": "c1"},
                   {"from": "c1", "to": "dw"}, {"from": "dw", "to": "pw", "shuffle": 2},
                   {"from": "c1", "to": "pw", "to_input": 1}, {"from": "pw", "to": "mp"},
                   {"from": "mp", "to": "c2", "shuffle": 4}, {"from": "c2", "to": "avg"},
                   {"from": "avg", "to": "fc"}]
    return build(ops, connections, seed=7)


def test_all_features_op_by_op_in_es2():
    model = load_model_bytes(feature_model())
    assert [op.shape for op in model.ops][1:] == [
        (14, 19, 16), (7, 10, 16), (7, 10, 16), (7, 10, 16), (4, 5, 16), (3, 4, 32), (1, 2, 32),
        (1, 1, 12)]
    engine = Engine(model)
    try:
        for seed in (0, 1):
            image = np.random.default_rng(seed).integers(0, 256, (57, 83, 3), dtype=np.uint8)
            check_every_op(engine, model, image)
        check_every_op(engine, model, natural("coffee"))
    finally:
        engine.release()


def test_every_kernel_compiles_in_a_real_es2_context():
    """Each shader file in several variants, compiled by the ES 2.0 context's GLSL ES 1.00
    compiler (the planner's variants for the dog model are compiled by every Engine too)."""
    from gpu_engine.context import GLContext
    from gpu_engine.gl_objects import compile_program
    gl = GLContext("gles2")
    assert "OpenGL ES 2.0" in gl.info.version
    variants = {
        "conv2d.frag": [(("NQ", nq), ("K", k), ("STRIDE", s), ("DEPTHWISE", d), ("IMAGE", i), ("RESIDUAL", r),
                         ("ACTIVATION", a)) for nq, k, s, d, i, r, a in
                        [(8, 1, 1, 0, 0, 0, 2), (1, 3, 1, 1, 0, 1, 2), (2, 3, 2, 0, 0, 0, 0),
                         (1, 5, 2, 0, 1, 0, 1), (7, 3, 1, 0, 0, 1, 2)]],
        "pooling2d.frag": [(("K", 3), ("STRIDE", 1), ("MAX", 0)), (("K", 2), ("STRIDE", 2), ("MAX", 1))],
        "image_rgb.frag": [(("LINEAR", 1),), (("LINEAR", 0),)],
        "image_yuv420.frag": [(("LINEAR", 1),), (("LINEAR", 0),)],
        "dense_multiply.frag": [()],
        "dense_sum.frag": [(("LAST", 0),), (("LAST", 1),)],
    }
    assert sorted(variants) == shader_source.all_kernels()
    try:
        for name, defines_list in variants.items():
            for defines in defines_list:
                source = shader_source.fragment_source(name, defines)
                assert source.startswith("#version 100\n")
                assert "highp" in source
                compile_program(gl.gl, shader_source.vertex_source(), source, name)
    finally:
        gl.release()


def test_profile_refuses_a_group_needing_more_than_8_samplers():
    ops = [{"_name": "in", "_type": "image_sampler", "output_width": 8, "output_height": 8},
           conv("c0", 3, 64, 1),
           conv("wide", 64, 64, 1, groups=1),   # 16 input quads in one group: 16 samplers
           {"_name": "avg", "_type": "pooling2d", "operator": "average", "size": 8},
           {"_name": "fc", "_type": "dense", "output_dims": 4, "use_bias": "true",
            "_inputs": 64}]
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
           {"_name": "fc", "_type": "dense", "output_dims": 4, "use_bias": "true",
            "_inputs": 8 * 2048 * 4}]
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
            np.testing.assert_allclose(engine.classify_rgb(image), expected, atol=4 / 256)
    finally:
        for engine in engines:
            engine.release()
