#!/usr/bin/env bash
# Install the named Debian packages that are not installed yet (quick when all are there).
# Uses sudo when not root. Usage: scripts/apt-ensure.sh PACKAGE...
set -euo pipefail
missing=()
for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
[ ${#missing[@]} -gt 0 ] || exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# Two set-ups at once (two clones, or tests beside a set-up) wait for each other instead of
# failing on dpkg's lock.
lock=${TMPDIR:-/tmp}/shadercam-apt-ensure.lock
exec 9>>"$lock"
flock 9
echo "installing apt packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
