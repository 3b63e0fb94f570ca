#!/bin/bash
# Runs the test suite against Debian bookworm's apt packages, the versions Raspberry Pi OS
# bookworm gives a Pi (fastapi 0.92 + pydantic 1.10, uvicorn 0.17, numpy 1.24, Python 3.11):
# a venv on /usr/bin/python3 with --system-site-packages and the project installed --no-deps
# --no-index, exactly as systemd/install.sh does on the Pi.
#
#   .ci/bookworm-env.sh [pytest arguments]     (default: the whole suite)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${BOOKWORM_VENV:-$REPO/.venv-bookworm}
PACKAGES=(python3 python3-venv python3-setuptools python3-wheel python3-numpy python3-fastapi
          python3-pydantic python3-uvicorn python3-jinja2 python3-websockets python3-multipart
          python3-pytest python3-httpx python3-pil python3-skimage python3-av
          python3-jsonschema python3-distributed python3-paho-mqtt python3-prometheus-client
          python3-psutil mosquitto
          libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri)

bash "$REPO/scripts/apt-ensure.sh" "${PACKAGES[@]}"

/usr/bin/python3 -m venv --clear --system-site-packages "$VENV"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
(cd "$REPO" && git ls-files -z -co --exclude-standard -- pyproject.toml README.md app gpu_engine \
    shaders web | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf -) | tar -xf - -C "$build"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install --quiet --no-deps --no-index \
    --no-build-isolation --no-cache-dir "$build"

"$VENV/bin/python" - <<'EOF'
import fastapi, numpy, pydantic, uvicorn
print(f"bookworm env: python {__import__('sys').version.split()[0]}, fastapi {fastapi.__version__}, "
      f"pydantic {pydantic.VERSION}, uvicorn {uvicorn.__version__}, numpy {numpy.__version__}")
assert numpy.__file__.startswith("/usr/lib/python3/dist-packages/"), "numpy is not the apt one"
EOF

cd "$REPO"
export PATH="$VENV/bin:$PATH"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
