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
    render_formats: tuple[str, ...] = ("RGBA8",)
    color_outputs: int = 1


# The Pi Zero/1/2/3 (VideoCore IV, vc4): kernels keep to the 8 samplers of the old driver,
# 2048-texel textures, RGBA8 targets only, one colour output. The uniform budget is an
# assumption kept well under what the driver reports; the runtime also checks the live limits.
VC4_GLES2 = DeviceProfile("vc4-gles2", max_samplers=8, max_texture_size=2048,
                          max_uniform_vectors=256)


def check_plan(plan, profile: DeviceProfile = VC4_GLES2) -> None:
    """Raise ProfileError for the first pass or texture that exceeds the profile."""
    for layout in plan.layouts.values():
        width, height = layout.texture_size
        if max(width, height) > profile.max_texture_size:
            raise ProfileError(
                f"op {layout.name!r}: its output needs a {width}x{height} texture, larger than "
                f"the {profile.max_texture_size} texels of profile {profile.name}")
    for constant in plan.constants.values():
        height, width = constant.data.shape[:2]
        if max(width, height) > profile.max_texture_size:
            raise ProfileError(
                f"op {constant.name.split('/')[0]!r}: its weights need a {width}x{height} "
                f"texture, larger than the {profile.max_texture_size} texels of profile "
                f"{profile.name}")
    for gpu_pass in plan.passes:
        if len(gpu_pass.samplers) > profile.max_samplers:
            raise ProfileError(
                f"op {gpu_pass.op!r}: one pass needs {len(gpu_pass.samplers)} samplers, more than "
                f"the {profile.max_samplers} of profile {profile.name} (use more groups)")
        if gpu_pass.uniform_vectors > profile.max_uniform_vectors:
            raise ProfileError(
                f"op {gpu_pass.op!r}: one pass needs {gpu_pass.uniform_vectors} uniform vectors, "
                f"more than the {profile.max_uniform_vectors} of profile {profile.name}")


def check_model(model, profile: DeviceProfile = VC4_GLES2) -> None:
    """Plan the model and check it fits; raises ProfileError naming the op and the limit."""
    from gpu_engine.planner import make_plan
    check_plan(make_plan(model), profile)
