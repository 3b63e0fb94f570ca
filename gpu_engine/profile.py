"""Limits of the GPU a plan must fit, and the check that names the op breaking one."""
from __future__ import annotations

from dataclasses import dataclass

from gpu_engine.errors import ProfileError


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    max_samplers: int            # texture units one fragment shader may bind
    max_texture_size: int        # largest side of a 2-D texture
    max_uniform_vectors: int     # fragment-shader uniform vec4s
    max_attributes: int = 8      # vertex attributes (vec4 each)
    max_varyings: int = 8        # varying vec4s
    render_formats: tuple[str, ...] = ("RGBA8",)
    color_outputs: int = 1


# The Pi Zero/1/2/3 (VideoCore IV, vc4): kernels keep to the 8 samplers of the old driver,
# 2048-texel textures, RGBA8 targets only, one colour output. The uniform budget is an
# assumption kept well under what the driver reports; the runtime also checks the live limits.
VC4_GLES2 = DeviceProfile("vc4-gles2", max_samplers=8, max_texture_size=2048,
                          max_uniform_vectors=256)


def check_plan(plan, profile: DeviceProfile = VC4_GLES2) -> None:
    """Raise ProfileError for the first texture or pass that exceeds the profile."""
    owners = {tile.texture: name for name, layout in plan.tensors.items() for tile in layout.tiles}
    for texture in plan.textures.values():
        if max(texture.width, texture.height) > profile.max_texture_size:
            size = f"{texture.width}x{texture.height}"
            if texture.name in owners:
                raise ProfileError(f"op {owners[texture.name]!r}: its output needs a {size} "
                                   f"texture, larger than the {profile.max_texture_size} texels "
                                   f"of profile {profile.name}")
            raise ProfileError(f"op {texture.name.split('/')[0]!r}: its texture "
                               f"{texture.name!r} needs {size} texels, more than the "
                               f"{profile.max_texture_size} of profile {profile.name}")
    for gpu_pass in plan.passes + list(plan.frame_passes.values()):
        program = plan.programs[gpu_pass.program]
        if len(program.samplers) > profile.max_samplers:
            raise ProfileError(
                f"op {gpu_pass.op!r}: one pass needs {len(program.samplers)} samplers, more "
                f"than the {profile.max_samplers} of profile {profile.name} (use more groups)")
        slots = min(profile.max_attributes, profile.max_varyings + 1) - 1  # after the position
        positions = sum(size for _, size in program.attributes[1:]) // 2
        if len(program.attributes) - 1 > slots:
            raise ProfileError(
                f"op {gpu_pass.op!r}: one pass reads {positions} texture positions, more than "
                f"the {2 * slots} that the vertex attributes and varyings of profile "
                f"{profile.name} carry (use more groups)")
        if program.params_count > profile.max_uniform_vectors:
            raise ProfileError(
                f"op {gpu_pass.op!r}: one pass needs {program.params_count} uniform vectors, "
                f"more than the {profile.max_uniform_vectors} of profile {profile.name}")


def check_model(model, profile: DeviceProfile = VC4_GLES2) -> None:
    """Plan the model and check it fits; raises ProfileError naming the op and the limit."""
    from gpu_engine.planner import make_plan
    check_plan(make_plan(model), profile)
