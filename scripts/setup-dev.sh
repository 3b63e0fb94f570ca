#!/usr/bin/env bash
# Set up a Debian 12 development machine (no GPU, no camera): Mesa's EGL/GLES libraries for
# real OpenGL on llvmpipe, Chromium for the page tests, and the project with its test tools in
# a virtual environment inside this checkout (.venv), so the system's externally managed
# Python (PEP 668) is never touched and two clones never share one editable install.
# Idempotent: runs quickly when everything is already there.
#
#   bash scripts/setup-dev.sh            the project and its test tools
#   bash scripts/setup-dev.sh --train    also the CPU build of PyTorch for the training tests
#
# Environment: SHADERCAM_PYTHON (default python3, which must be 3.11 or newer),
# SHADERCAM_VENV (default .venv in the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."

train=0
for arg in "$@"; do
    case "$arg" in
        --train) train=1 ;;
        *) echo "setup-dev.sh: unknown argument '$arg' (only --train)" >&2; exit 2 ;;
    esac
done

bash scripts/apt-ensure.sh python3 python3-venv libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 \
    chromium fonts-dejavu-core

python=${SHADERCAM_PYTHON:-python3}
venv=${SHADERCAM_VENV:-.venv}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup-dev.sh: $python is not Python 3.11 or newer; set SHADERCAM_PYTHON" >&2
    exit 1
fi
# A venv made by another Python (or half made) is rebuilt rather than patched.
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import pip' 2>/dev/null; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)

if [ "$train" = 1 ]; then
    # The CPU build only: a plain `torch` from PyPI is a CUDA build of several GB.
    "${pip[@]}" 'torch==2.13.0+cpu' 2>/dev/null \
        || "${pip[@]}" --extra-index-url https://download.pytorch.org/whl/cpu 'torch==2.13.0+cpu'
    "${pip[@]}" -e '.[test,cluster,train]'
else
    "${pip[@]}" -e '.[test,cluster]'
fi
