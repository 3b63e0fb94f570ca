#!/usr/bin/env bash
# Set up a Debian 12 development machine (no GPU, no camera): Mesa's EGL/GLES libraries for
# real OpenGL on llvmpipe, Chromium for the page tests, and the project with its test tools.
# Idempotent: runs quickly when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/apt-ensure.sh libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 chromium fonts-dejavu-core

# PyTorch only for the `train` extra's tests: the CPU build, pinned (this machine image carries
# its wheel; an unpinned torch would pull several GB of CUDA packages).
python3 -m pip install -q --disable-pip-version-check torch==2.13.0
python3 -m pip install -q --disable-pip-version-check -e '.[test,train]'
