"""The planner on its own, no GL: where every tensor's tiles go (inside the profile's textures,
apart, with their zero borders), when a texture may be reused, and how weights reach draws."""
import pytest

from engine.builder import build, chain, conv, feature_model
from gpu_engine import load_model_bytes
from gpu_engine.planner import FOLD_MIN_FRAGMENTS, make_plan
from gpu_engine.profile import VC4_GLES2


@pytest.fixture(scope="module")
def plans(dog_model):
    """The dog classifier (both ways of passing weights) and the feature model."""
    features = load_model_bytes(feature_model())
    return [(dog_model, make_plan(dog_model)), (dog_model, make_plan(dog_model, True)),
            (features, make_plan(features))]


def test_tiles_lie_inside_their_textures_apart_and_with_their_borders(plans):
    for _, plan in plans:
        for layout in plan.tensors.values():
            h, w, _ = layout.shape
            b = layout.border
            boxes = {}
            for tile in layout.tiles:
                texture = plan.textures[tile.texture]
                assert max(texture.width, texture.height) <= VC4_GLES2.max_texture_size
                assert b <= tile.x and tile.x + w + b <= texture.width, (layout.name, tile)
                assert b <= tile.y and tile.y + h + b <= texture.height, (layout.name, tile)
                boxes.setdefault(tile.texture, []).append((tile.x, tile.y))
            for texture, corners in boxes.items():  # borders may be shared, texels never
                assert len(set(corners)) == len(corners), (layout.name, texture)
                for i, (x0, y0) in enumerate(corners):
                    for x1, y1 in corners[i + 1:]:
                        assert abs(x0 - x1) >= w + b or abs(y0 - y1) >= h + b, \
                            (layout.name, texture, (x0, y0), (x1, y1))


def test_a_texture_is_reused_only_once_every_reader_of_its_tensor_has_run(plans):
    for model, plan in plans:
        ops = {op.name: op for op in model.ops}
        holder = {}  # texture -> the tensor last drawn into it
        for layout in plan.tensors.values():
            for tile in layout.tiles:
                holder.setdefault(tile.texture, None)
        for frame_pass in plan.frame_passes.values():  # drawn first, from each frame
            holder[frame_pass.target] = frame_pass.op
        for gpu_pass in plan.passes:
            sources = {c.source for c in ops[gpu_pass.op].inputs.values()}
            for name in gpu_pass.textures:
                if name in holder:  # a tensor's texture, not weights or the frame
                    assert holder[name] in sources, \
                        f"{gpu_pass.op} reads {name} holding {holder[name]}, not its input"
            if gpu_pass.target in holder:
                holder[gpu_pass.target] = gpu_pass.op
        tensor_textures = {t.texture for layout in plan.tensors.values() for t in layout.tiles}
        owned = sum(len({t.texture for t in layout.tiles}) for layout in plan.tensors.values())
        assert len(tensor_textures) < owned  # and reuse does happen


def test_only_large_draws_get_their_weights_as_literals():
    ops = [{"_name": "in", "_type": "image_sampler", "output_width": 72, "output_height": 72},
           conv("big", 3, 4, 3), conv("small", 4, 8, 3, stride=8),
           {"_name": "fc", "_type": "dense", "output_dims": 4, "use_bias": "true",
            "_inputs": 8 * 9 * 9}]
    model = load_model_bytes(build(ops, chain("in", "big", "small", "fc")))
    folded = {p.op: p.params is None for p in make_plan(model, fold_weights=True).passes
              if p.op in ("big", "small")}
    sizes = {p.op: p.fragments for p in make_plan(model).passes if p.op in ("big", "small")}
    assert sizes["big"] >= FOLD_MIN_FRAGMENTS > sizes["small"]
    assert folded == {"big": True, "small": False}
    assert all(p.params is not None for p in make_plan(model).passes if p.op in ("big", "small"))


@pytest.mark.parametrize("fold", [False, True])
def test_weights_are_one_uniform_array_per_draw_or_literals_of_large_draws(dog_model, fold):
    """One uniform write per draw at most: the per-pass budget of a Pi Zero's ARM core."""
    plan = make_plan(dog_model, fold_weights=fold)
    folded = 0
    for gpu_pass in plan.passes:
        program = plan.programs[gpu_pass.program]
        if program.kernel != "conv2d.frag":
            continue
        assert "for (" not in program.fragment_source  # taps written out for vc4
        if fold and gpu_pass.fragments >= FOLD_MIN_FRAGMENTS:
            assert program.params is None and gpu_pass.params is None
            assert "uniform highp vec4 uParams" not in program.fragment_source
            folded += 1
        else:
            assert program.params == "uParams"
            assert gpu_pass.params.shape == (program.params_count, 4)
    assert folded == (96 if fold else 0)  # the 191×191 and 95×95 layers' draws

