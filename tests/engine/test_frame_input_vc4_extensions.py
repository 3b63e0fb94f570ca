"""llvmpipe with only the extensions vc4 has (MESA_EXTENSION_OVERRIDE, read when a context is
made, so each run is a fresh process): the YUV420 and RGB paths give the same top-1 as with
llvmpipe's full set. Without EXT_texture_rg a GL_R8 frame plane would be refused."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

CLASSIFY = """
import json, sys
import numpy as np
from engine.images import natural, yuv420
from gpu_engine import Engine, load_model
from gpu_engine import gles2 as g
engine = Engine(load_model(sys.argv[1]))
image = natural("chelsea")
rgb, yuv = engine.classify_rgb(image), engine.classify_yuv420(*yuv420(image))
print(json.dumps({"extensions": engine._gl.string(g.GL_EXTENSIONS).split(),
                  "version": engine.gl_info.version, "moderngl": "moderngl" in sys.modules,
                  "rgb": [int(np.argmax(rgb)), float(rgb.max())],
                  "yuv": [int(np.argmax(yuv)), float(yuv.max())]}))
engine.release()
"""


def _classify(model: Path, override: str | None) -> dict:
    env = dict(os.environ, MESA_GLES_VERSION_OVERRIDE="2.0",
               PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    env.pop("MESA_EXTENSION_OVERRIDE", None)
    if override:
        env["MESA_EXTENSION_OVERRIDE"] = override
    result = subprocess.run([sys.executable, "-c", CLASSIFY, str(model)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_vc4_extension_set_gives_the_same_top1(dog_model_path, vc4_tool):
    listing = vc4_tool / "llvmpipe-extensions-vc4-lacks.txt"
    if not listing.exists():
        pytest.fail(f"the list of extensions vc4 lacks is expected at {listing}")
    lacks = listing.read_text().split()
    assert "GL_EXT_texture_rg" in lacks
    full = _classify(dog_model_path, None)
    vc4 = _classify(dog_model_path, " ".join(f"-{name}" for name in lacks))
    assert "GL_EXT_texture_rg" in full["extensions"]
    assert not set(lacks) & set(vc4["extensions"])  # the override took effect
    for run in (full, vc4):
        assert run["version"].startswith("OpenGL ES 2.0")
        assert not run["moderngl"]  # no GL path besides the engine's own table
        assert run["rgb"][0] == run["yuv"][0] == 119  # tiger cat
        assert run["rgb"][1] > 0.99 and run["yuv"][1] > 0.9
    assert vc4["rgb"] == full["rgb"] and vc4["yuv"] == full["yuv"]
