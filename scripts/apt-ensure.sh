#!/usr/bin/env bash
# Install the named Debian packages that are not installed yet (quick when all are there).
# Runs itself through sudo when not root. Usage: scripts/apt-ensure.sh PACKAGE...
set -euo pipefail
missing=()
for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
[ ${#missing[@]} -gt 0 ] || exit 0
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
        echo "apt-ensure.sh: installing ${missing[*]} needs root: run as root or install sudo" >&2
        exit 1
    }
    exec sudo bash "$0" "${missing[@]}"
fi
# Two set-ups at once (two clones, or tests beside a set-up) wait for each other instead of
# failing on dpkg's lock. One fixed path, whatever TMPDIR says, and only root opens it.
exec 9>>/tmp/shadercam-apt-ensure.lock
flock 9
echo "installing apt packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
