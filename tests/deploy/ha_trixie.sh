#!/bin/bash
# A real Home Assistant for the MQTT discovery test (tests/outputs/test_home_assistant.py):
# Home Assistant 2026 needs Python 3.13, so it lives in a Debian trixie tree made with
# debootstrap, in a venv at /opt/ha with the requirements of the integrations the test loads
# (MQTT among them) installed here, so Home Assistant never fetches anything while it runs.
#
# usage: sudo tests/deploy/ha_trixie.sh [PREFIX]
#   default PREFIX: $SHADERCAM_HA or ~/.cache/shadercam/ha-<version>; the tree is PREFIX/root.
# Prints PREFIX when done; reuses a finished tree. Needs root, the Debian mirror this machine's
# apt uses and PyPI; a few minutes the first time. Every command in the tree runs with a clean
# environment (env -i), so nothing of the caller's (TMPDIR, PATH, pip settings) leaks in.
set -euo pipefail
HA_VERSION=2026.2.3
# What the test's configuration sets up: its own integrations and their dependencies.
INTEGRATIONS="mqtt api config onboarding auth http mqtt_statestream"
PREFIX=${1:-${SHADERCAM_HA:-$HOME/.cache/shadercam/ha-$HA_VERSION}}
ROOT=$PREFIX/root
[ -f "$PREFIX/done" ] && { echo "$PREFIX"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (debootstrap and chroot need it)" >&2; exit 2; }
REPO=$(cd "$(dirname "$0")/../.." && pwd)
bash "$REPO/scripts/apt-ensure.sh" debootstrap >&2

mirror() {  # the Debian mirror this machine's apt already uses
    local uri
    uri=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | grep -v -- -security | head -n1 || true)
    [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' \
                          /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$uri" ] || { echo "no Debian mirror found in /etc/apt" >&2; exit 2; }
    printf '%s\n' "$uri"
}
# in_root COMMAND...: in the tree, /proc and /dev mounted in a private mount namespace that
# ends with the command, with a clean environment.
in_root() {
    unshare --mount --propagation private -- /bin/sh -c '
        root=$1; shift
        mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" &&
        exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
            PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin TMPDIR=/tmp "$@"' sh "$ROOT" "$@"
}

rm -rf "$ROOT"
mkdir -p "$PREFIX/debs"
echo "debootstrap trixie into $ROOT" >&2
debootstrap --variant=minbase --include=python3,python3-venv,python3-dev,ca-certificates,gcc,libc6-dev \
    --cache-dir="$PREFIX/debs" trixie "$ROOT" "$(mirror)" > "$PREFIX/debootstrap.log" 2>&1 \
    || { tail -n 30 "$PREFIX/debootstrap.log" >&2; exit 1; }
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
python3 "$REPO/tests/deploy/host_cas.py" "$ROOT"
in_root update-ca-certificates > /dev/null 2>&1
echo "Home Assistant $HA_VERSION into /opt/ha" >&2
in_root python3 -m venv /opt/ha
in_root /opt/ha/bin/pip install -q --disable-pip-version-check --cert /etc/ssl/certs/ca-certificates.crt "homeassistant==$HA_VERSION" >&2
# The integrations' own requirements, held to the versions Home Assistant pins.
in_root /opt/ha/bin/python - $INTEGRATIONS > "$ROOT/tmp/requirements.txt" <<'PY'
import json, sys
from pathlib import Path
import homeassistant
from homeassistant import bootstrap
components = Path(homeassistant.__file__).parent / "components"
todo = set(sys.argv[1:]) | set(bootstrap.CORE_INTEGRATIONS) | set(bootstrap.DEFAULT_INTEGRATIONS)
seen, requirements = set(), set()
while todo:
    name = todo.pop()
    manifest = components / name / "manifest.json"
    if name in seen or not manifest.exists():
        continue
    seen.add(name)
    data = json.loads(manifest.read_text())
    requirements.update(data.get("requirements", []))
    todo.update(data.get("dependencies", []))
print("\n".join(sorted(requirements)))
PY
in_root /opt/ha/bin/pip install -q --disable-pip-version-check --cert /etc/ssl/certs/ca-certificates.crt -r /tmp/requirements.txt \
    -c /opt/ha/lib/python3.13/site-packages/homeassistant/package_constraints.txt >&2
in_root /opt/ha/bin/python -c 'import paho.mqtt, homeassistant.const as c; print("Home Assistant", c.__version__)' >&2
touch "$PREFIX/done"
echo "$PREFIX"
