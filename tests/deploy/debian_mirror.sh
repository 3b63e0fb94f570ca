#!/usr/bin/env bash
# Prints the Debian mirror this machine's apt already uses (debootstrap fetches from it), for
# the bookworm trees of installer_chroot.sh and the trixie tree of ha_trixie.sh.
set -euo pipefail
uri=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | grep -v -- -security | head -n1 || true)
[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' \
                      /etc/apt/sources.list 2>/dev/null || true)
[ -n "$uri" ] || { echo "no Debian mirror found in /etc/apt" >&2; exit 2; }
printf '%s\n' "$uri"
