#!/bin/bash
# Debian bookworm trees made with debootstrap (Debian's packages), checked in three stages:
# - a newcomer on a stock Debian 12 (a copy of the fresh tree, a user with sudo): the README's
#   set-up command with the system's externally managed /usr/bin/python3, then its `serve`
#   answering /api/health and its test command passing a smoke subset of the tests;
# - systemd/install.sh and what it leaves behind, up to where a Raspberry Pi's hardware would be
#   needed: refusals, install, idempotent re-run, the service's own command line reaching
#   /api/health, uninstall and purge;
# - the same tree booted with systemd-nspawn and installed into again, so the unit runs under
#   real systemd with its hardening: health, user and groups, shader cache, restart after a
#   crash, clean stop, uninstall. A host that cannot boot a container skips it, saying why.
# Needs root, the apt mirror this machine is configured with and PyPI. A few minutes (less with
# the package cache warm): CI runs it as its own step.
#
#   sudo tests/deploy/installer_chroot.sh
#   SHADERCAM_CI_CACHE=DIR      where downloaded packages are kept between runs
#   SHADERCAM_SKIP_NSPAWN=1     leave out the booted stage
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
MODEL=${SHADERCAM_TEST_MODEL:-$REPO/../shared/models/dog_classifier.chunks}
CACHE=${SHADERCAM_CI_CACHE:-/var/cache/shadercam-ci}
WORK=$(mktemp -d /tmp/shadercam-chroot.XXXXXX)
ROOT=$WORK/root
SRC=/usr/src/shadercam
PASSED=0
FAILED=0

log() { printf '# %s (%d s in)\n' "$*" "$SECONDS"; }
ok() { PASSED=$((PASSED + 1)); printf 'ok - %s\n' "$1"; }
not_ok() { FAILED=$((FAILED + 1)); printf 'not ok - %s\n' "$1"; }
check() {  # check "description" command...: passes when the command succeeds
    local what=$1; shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# container_init WAIT_S: the booted container's init, looked up afresh (see container_init.sh)
container_init() { "$REPO/tests/deploy/container_init.sh" "$NSPAWN_PID" "$1"; }

cleanup() {
    set +e  # every step is tried: a process already gone must not stop the removal of $WORK
    [ -n "${SERVICE_PID:-}" ] && kill "$SERVICE_PID" 2>/dev/null && wait "$SERVICE_PID" 2>/dev/null
    # The newcomer's server runs in a process group of its own (setsid).
    [ -n "${NEWCOMER_PID:-}" ] && kill -TERM -- "-$NEWCOMER_PID" 2>/dev/null &&
        wait "$NEWCOMER_PID" 2>/dev/null
    if [ -n "${NSPAWN_PID:-}" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
        # Killing the container's init ends every process in it; then nspawn exits.
        local init
        init=$(container_init 0 2>/dev/null) && kill -KILL "$init" 2>/dev/null
        for _ in $(seq 1 20); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$NSPAWN_PID" 2>/dev/null
        wait "$NSPAWN_PID" 2>/dev/null
    fi
    # Mounts live in private namespaces that die with their process; refuse to delete
    # anything if one is still visible here, so rm never walks into /dev or /proc.
    if grep -q " $WORK/" /proc/self/mounts; then
        echo "mounts remain under $WORK; not removing it" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || { echo "run as root (debootstrap and chroot need it)" >&2; exit 2; }
[ -f "$MODEL" ] || { echo "test model $MODEL is missing" >&2; exit 2; }
bash "$REPO/scripts/apt-ensure.sh" debootstrap

mirror() {  # the Debian mirror this machine's apt already uses
    local uri
    uri=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | grep -v -- -security | head -n1 || true)
    [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' \
                          /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$uri" ] || { echo "no Debian mirror found in /etc/apt" >&2; exit 2; }
    printf '%s\n' "$uri"
}

# tree-env COMMAND...: COMMAND with the one environment every command for a tree gets (each
# chroot, debootstrap's, systemd-nspawn, nsenter): none of this script's caller's. A TMPDIR,
# locale, PYTHON*, VIRTUAL_ENV, PIP_* or proxy setting of the host means something else or
# nothing inside a tree (a TMPDIR the tree lacks fails dpkg there).
# in-root [chroot options] ROOT COMMAND...: run inside the chroot with /proc, /dev and the
# apt cache mounted in a private mount namespace, so the mounts vanish when the command ends.
# Scripts of their own, exec'ing all the way down: started with &, $! is the command's PID.
TREE_ENV=$WORK/tree-env
cat > "$TREE_ENV" <<'EOF'
#!/bin/sh
exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LANG=C.UTF-8 "$@"
EOF
cat > "$WORK/in-root" <<'EOF'
#!/bin/sh
exec unshare --mount --propagation private -- /bin/sh -c '
    root=$1; cache=$2; tree_env=$3; shift 3
    mount -t proc proc "$root/proc" &&
    mount --rbind /dev "$root/dev" &&
    mount --bind "$cache" "$root/var/cache/apt/archives" &&
    exec "$tree_env" chroot "$@"' sh "$CHROOT_DIR" "$CHROOT_APT_CACHE" "${0%/*}/tree-env" "$@"
EOF
chmod +x "$TREE_ENV" "$WORK/in-root"
export CHROOT_DIR=$ROOT CHROOT_APT_CACHE=$CACHE/apt-archives
in_root() { "$WORK/in-root" "$@"; }

# The host's own Python helpers run isolated (-I): no PYTHON* setting of the caller reaches them.
wait_health() {  # wait_health PORT PID: the last /api/health answer once "ok", or after 90 s
    python3 -I - "$1" "$2" <<'EOF'
import json, os, sys, time, urllib.request
deadline, last = time.monotonic() + 90, "no answer"
while time.monotonic() < deadline:
    try:
        os.kill(int(sys.argv[2]), 0)
    except ProcessLookupError:
        break  # the service (or its container) died: its log says why
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/health", timeout=5) as r:
            last = json.dumps(json.load(r))
            if json.loads(last)["status"] == "ok":  # demo camera running, model classifying
                break
    except OSError:
        pass
    time.sleep(0.5)
print(last)
EOF
}
free_port() {
    python3 -I -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
copy_checkout() {  # copy_checkout DIR: the working tree's files (tracked and new, not ignored)
    mkdir -p "$1"
    (cd "$REPO" && git ls-files -z -co --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -xf - -C "$1"
}

log "debootstrap bookworm into $ROOT"
mkdir -p "$CACHE/debs" "$CACHE/apt-archives/partial"
"$TREE_ENV" debootstrap --variant=minbase --include=systemd --cache-dir="$CACHE/debs" \
    bookworm "$ROOT" "$(mirror)" > "$WORK/debootstrap.log" 2>&1 \
    || { tail -n 30 "$WORK/debootstrap.log"; exit 1; }
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"  # no daemons start in here
chmod +x "$ROOT/usr/sbin/policy-rc.d"

NEW=$WORK/newcomer
cp -a "$ROOT" "$NEW"  # the newcomer's machine: the fresh tree, before the installer's packages
# shellcheck disable=SC1091  # checked as a file of its own
. "$REPO/tests/deploy/newcomer_stage.sh"

log "copying the working tree to $SRC"
copy_checkout "$ROOT$SRC"
cp "$MODEL" "$ROOT/root/model.chunks"
before=$(cd "$ROOT$SRC" && find . | sort | sha256sum)

run_installer() {  # run_installer OUTPUT_FILE [options]: its exit status, output in the file
    local out=$1; shift
    set +e
    in_root "$ROOT" /bin/sh "$SRC/systemd/install.sh" "$@" > "$out" 2>&1
    local rc=$?
    set -e
    return $rc
}
installer_ok() {  # installer_ok "description" OUTPUT_FILE [options]: must succeed
    local what=$1 out=$2; shift 2
    if run_installer "$out" "$@"; then ok "$what"; else not_ok "$what"; tail -n 20 "$out"; fi
}
refuses() {  # refuses "why" PATTERN [installer options]: fails, says PATTERN, changes nothing
    local why=$1 pattern=$2; shift 2
    if run_installer "$WORK/refusal.log" "$@"; then
        not_ok "refuses $why (it succeeded)"; cat "$WORK/refusal.log"; return
    fi
    if grep -q -- "$pattern" "$WORK/refusal.log" && [ ! -e "$ROOT/opt/shadercam" ]; then
        ok "refuses $why"
    else
        not_ok "refuses $why: expected '$pattern'"; cat "$WORK/refusal.log"
    fi
}

log "refusals"
if in_root --userspec=nobody:nogroup "$ROOT" /bin/sh "$SRC/systemd/install.sh" \
        > "$WORK/refusal.log" 2>&1; then
    not_ok "refuses a non-root user"
else
    check "refuses a non-root user" grep -q "run me as root" "$WORK/refusal.log"
fi
refuses "other hardware without --any-hardware" "this is not a Raspberry Pi"
mv "$ROOT/etc/os-release" "$WORK/os-release"
printf 'PRETTY_NAME="Debian 11"\nID=debian\nVERSION_CODENAME=bullseye\n' > "$ROOT/etc/os-release"
refuses "an old release" "unsupported release Debian 11 (bullseye)" --any-hardware
printf 'PRETTY_NAME="Fedora Linux 40"\nID=fedora\nVERSION_CODENAME=\n' > "$ROOT/etc/os-release"
refuses "a non-Debian system" "unsupported system Fedora Linux 40" --any-hardware
rm "$ROOT/etc/os-release"
mv "$WORK/os-release" "$ROOT/etc/os-release"
refuses "an unknown option" "unknown option: --frobnicate" --frobnicate

log "install (apt packages, venv, user, config, unit, model)"
if run_installer "$WORK/install.log" --any-hardware --model /root/model.chunks; then
    ok "installer succeeds"
else
    not_ok "installer succeeds"; tail -n 40 "$WORK/install.log"; exit 1
fi
sed 's/^/#   /' "$WORK/install.log" | tail -n 4
check "prints the page's URL" grep -q "The page: http://.*:8080/" "$WORK/install.log"
# shellcheck disable=SC2016  # expanded inside the chroot
check "user shadercam is a system user in video and render" \
    in_root "$ROOT" sh -c 'id shadercam | grep -q "(video)" && id shadercam | grep -q "(render)" &&
        [ "$(id -u shadercam)" -lt 1000 ] && getent passwd shadercam | grep -q nologin'
check "venv uses bookworm's apt packages (numpy, fastapi 0.92, pydantic 1.10)" \
    in_root "$ROOT" /opt/shadercam/venv/bin/python -c '
import numpy, fastapi, pydantic
assert numpy.__file__.startswith("/usr/lib/python3/dist-packages/"), numpy.__file__
assert fastapi.__version__.startswith("0.92"), fastapi.__version__
assert pydantic.VERSION.startswith("1.10"), pydantic.VERSION'
check "project is installed in the venv, not run from the source tree" \
    in_root "$ROOT" /opt/shadercam/venv/bin/python -c '
import app; assert app.__file__.startswith("/opt/shadercam/venv/lib/"), app.__file__'
check "the source tree is left untouched" \
    test "$(cd "$ROOT$SRC" && find . | sort | sha256sum)" = "$before"
check "shadercam is on PATH" in_root "$ROOT" /usr/local/bin/shadercam --help
check "unit installed as shipped" cmp "$REPO/systemd/shadercam.service" \
    "$ROOT/etc/systemd/system/shadercam.service"
check "unit enabled at boot" \
    test -L "$ROOT/etc/systemd/system/multi-user.target.wants/shadercam.service"
check "systemd-analyze verify passes on the installed unit" \
    in_root "$ROOT" systemd-analyze verify /etc/systemd/system/shadercam.service
check "config written from the example, demo camera off the Pi" \
    grep -q '^source = "demo"' "$ROOT/etc/shadercam/config.toml"
# The access token: made on the first install, readable by root and the service only,
# printed as the link that logs in, kept by later runs, required by the service.
TOKEN=$(sed -n 's/^token = "\(.*\)"$/\1/p' "$ROOT/etc/shadercam/config.toml")
check "first install writes a random access token" test "${#TOKEN}" -ge 32
check "prints the link that logs in with the token" grep -q "/login?token=$TOKEN" "$WORK/install.log"
check "the config holding the token is not world-readable" \
    test "$("$TREE_ENV" chroot "$ROOT" stat -c %a:%U:%G /etc/shadercam/config.toml)" = \
    640:root:shadercam
status_of() {  # status_of URL [TOKEN]: the HTTP status of a GET, with the token as Bearer
    python3 -I - "$@" <<'EOF'
import sys, urllib.error, urllib.request
request = urllib.request.Request(sys.argv[1])
if len(sys.argv) > 2:
    request.add_header("Authorization", f"Bearer {sys.argv[2]}")
try:
    print(urllib.request.urlopen(request, timeout=10).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
EOF
}
in_root --userspec=shadercam:shadercam "$ROOT" /usr/local/bin/shadercam model list \
    > "$WORK/list.log" 2>&1 || true
check "--model installed the default model, listed for the service user" \
    grep -q '^\* model ' "$WORK/list.log"
check "model store owned by the service user" \
    test "$("$TREE_ENV" chroot "$ROOT" stat -c %U /var/lib/shadercam/models/model.chunks)" = \
    shadercam

log "second run keeps local changes"
echo "# local edit" >> "$ROOT/etc/shadercam/config.toml"
installer_ok "second run succeeds" "$WORK/install2.log" --any-hardware
check "second run keeps the edited config" grep -q "^# local edit" "$ROOT/etc/shadercam/config.toml"
check "second run says it keeps the config" grep -q "keeping your /etc/shadercam/config.toml" \
    "$WORK/install2.log"
check "still one shadercam user" test "$(grep -c '^shadercam:' "$ROOT/etc/passwd")" = 1
check "second run keeps the access token" grep -q "^token = \"$TOKEN\"$" \
    "$ROOT/etc/shadercam/config.toml"

log "the service's command line, user and environment, as systemd would run it"
PORT=$(free_port)
exec_start=$(sed -n 's/^ExecStart=//p' "$ROOT/etc/systemd/system/shadercam.service")
mapfile -t unit_env < <(sed -n 's/^Environment=//p' "$ROOT/etc/systemd/system/shadercam.service" \
                        | sed 's|%C|/var/cache|g')
mkdir -p "$ROOT/var/cache/shadercam"
"$TREE_ENV" chroot "$ROOT" chown shadercam:shadercam /var/cache/shadercam
# Per-key overrides go in the unit's EnvironmentFile, as a user would put them.
printf 'SHADERCAM_SERVER_HOST=127.0.0.1\nSHADERCAM_SERVER_PORT=%s\n' "$PORT" \
    > "$ROOT/etc/shadercam/environment"
mapfile -t file_env < "$ROOT/etc/shadercam/environment"
# shellcheck disable=SC2086  # ExecStart is split on spaces, as systemd does for this line
"$WORK/in-root" --userspec=shadercam:shadercam --groups=video,render "$ROOT" \
    env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/var/lib/shadercam \
    STATE_DIRECTORY=/var/lib/shadercam CACHE_DIRECTORY=/var/cache/shadercam \
    "${unit_env[@]}" "${file_env[@]}" $exec_start > "$WORK/service.log" 2>&1 &
SERVICE_PID=$!
health=$(wait_health "$PORT" "$SERVICE_PID")
if [[ $health == *'"status": "ok"'* ]]; then ok "service reports ok on /api/health: ${health:0:120}"
else not_ok "service reports ok on /api/health: ${health:0:400}"; tail -n 30 "$WORK/service.log"; fi
check "the API needs the token: 401 without, 200 with" test \
    "$(status_of "http://127.0.0.1:$PORT/api/labels")/$(status_of \
    "http://127.0.0.1:$PORT/api/labels" "$TOKEN")" = 401/200
kill -TERM "$SERVICE_PID" 2>/dev/null || true  # (it may have died: its log says why)
set +e
wait "$SERVICE_PID"
rc=$?
set -e
SERVICE_PID=
# systemd counts exit 0 and death by SIGTERM (143 here) as clean: no restart on-failure.
check "service stops cleanly on SIGTERM" test "$rc" = 0 -o "$rc" = 143

log "uninstall, reinstall, purge"
installer_ok "--uninstall succeeds" "$WORK/uninstall.log" --uninstall
check "--uninstall removes program and unit" sh -c "[ ! -e '$ROOT/opt/shadercam' ] &&
    [ ! -e '$ROOT/etc/systemd/system/shadercam.service' ] &&
    [ ! -e '$ROOT/etc/systemd/system/multi-user.target.wants/shadercam.service' ] &&
    [ ! -e '$ROOT/usr/local/bin/shadercam' ]"
check "--uninstall keeps config and models" test -f "$ROOT/etc/shadercam/config.toml" -a \
    -f "$ROOT/var/lib/shadercam/models/model.chunks"
installer_ok "reinstall after uninstall succeeds" "$WORK/install3.log" --any-hardware
in_root --userspec=shadercam:shadercam "$ROOT" /usr/local/bin/shadercam model list \
    > "$WORK/list2.log" 2>&1 || true
check "reinstall finds the kept default model" grep -q '^\* model ' "$WORK/list2.log"
installer_ok "--purge succeeds" "$WORK/purge.log" --purge
check "--purge removes config, models and user" sh -c "[ ! -e '$ROOT/etc/shadercam' ] &&
    [ ! -e '$ROOT/var/lib/shadercam' ] && ! grep -q '^shadercam:' '$ROOT/etc/passwd'"
installer_ok "--uninstall again is harmless" "$WORK/uninstall2.log" --uninstall

cannot_boot() {  # prints why this host cannot boot a container; fails when it can
    if [ "${SHADERCAM_SKIP_NSPAWN:-}" = 1 ]; then echo "SHADERCAM_SKIP_NSPAWN=1"; return; fi
    if ! bash "$REPO/scripts/apt-ensure.sh" systemd-container >/dev/null 2>&1 ||
       ! command -v systemd-nspawn >/dev/null; then
        echo "systemd-nspawn is not installed and could not be installed"; return
    fi
    # nspawn puts the container in a cgroup below this process's own: it must be able to
    # make one (cgroup v2, or v1's name=systemd hierarchy).
    local dir
    if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
        dir=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
    else
        dir=/sys/fs/cgroup/systemd$(sed -n 's/^[0-9]*:name=systemd://p' /proc/self/cgroup)
    fi
    if ! mkdir "$dir/shadercam-probe.$$" 2>/dev/null; then
        echo "no cgroup delegation: cannot create a cgroup in $dir"; return
    fi
    rmdir "$dir/shadercam-probe.$$"
    return 1
}
if reason=$(cannot_boot); then
    printf 'ok - booted with systemd # SKIP this host cannot boot a container: %s\n' "$reason"
else
log "booted with systemd (systemd-nspawn): the unit as shipped, its hardening and restarts"
rm -f "$ROOT/usr/sbin/policy-rc.d"
PORT=$(free_port)
mkdir -p "$ROOT/etc/shadercam"
printf 'SHADERCAM_SERVER_PORT=%s\n' "$PORT" > "$ROOT/etc/shadercam/environment"
"$TREE_ENV" systemd-nspawn -q -D "$ROOT" --boot --register=no --keep-unit \
    --bind="$CACHE/apt-archives:/var/cache/apt/archives" > "$WORK/boot.log" 2>&1 &
NSPAWN_PID=$!
# ns COMMAND...: run in the container, entering the namespaces of its init as found right now
# (nspawn's first children are short-lived helpers; a PID found once may be gone), for at most
# NS_TIMEOUT seconds (default 300: a guard against hangs, ample for the installer).
ns() {
    local init
    init=$(container_init 5) || return 1
    "$TREE_ENV" timeout "${NS_TIMEOUT:-300}" nsenter --target "$init" --mount --uts --ipc \
        --net --pid -- "$@"
}
state=
if container_init 60 >/dev/null; then
    # The init is there before its manager listens: wait for that, then for the boot to end.
    for _ in $(seq 1 120); do ns test -S /run/systemd/private && break; sleep 0.5; done
    state=$(NS_TIMEOUT=120 ns systemctl is-system-running --wait 2>/dev/null || true)
fi
if [[ $state == running || $state == degraded ]]; then ok "container boots ($state)"; else
    not_ok "container boots: '$state'"; tail -n 20 "$WORK/boot.log"; fi

if ns /bin/sh "$SRC/systemd/install.sh" --any-hardware --model /root/model.chunks \
        > "$WORK/install-booted.log" 2>&1; then
    ok "installer succeeds with systemd running"
else
    not_ok "installer succeeds with systemd running"; tail -n 20 "$WORK/install-booted.log"
fi
check "service is active" ns systemctl is-active --quiet shadercam
health=$(wait_health "$PORT" "$NSPAWN_PID")
if [[ $health == *'"status": "ok"'* ]]; then ok "systemd's service reports ok: ${health:0:100}"
else not_ok "systemd's service reports ok: ${health:0:400}"
    ns journalctl -u shadercam --no-pager | tail -n 20; fi
main_pid=$(ns systemctl show -p MainPID --value shadercam || true)
check "runs as shadercam with the video and render groups" ns /bin/sh -c "
    [ \$(stat -c %U /proc/$main_pid) = shadercam ] &&
    grep '^Groups:' /proc/$main_pid/status | grep -qw \$(getent group video | cut -d: -f3) &&
    grep '^Groups:' /proc/$main_pid/status | grep -qw \$(getent group render | cut -d: -f3)"
check "Mesa's shader cache is written to CacheDirectory=" \
    ns /bin/sh -c 'ls -A /var/cache/shadercam/mesa_shader_cache | grep -q .'
# MainPID 0 (the service already died) would make `kill -9 0` kill the ns call itself
if [ "${main_pid:-0}" -gt 0 ] 2>/dev/null; then ns /bin/sh -c "kill -9 $main_pid"
else not_ok "the service has a main process to crash (MainPID ${main_pid:-none})"; fi
restarted=no
for _ in $(seq 1 40); do
    if [ "$(ns systemctl show -p NRestarts --value shadercam)" = 1 ] &&
       ns systemctl is-active --quiet shadercam; then restarted=yes; break; fi
    sleep 0.5
done
check "restarted after a crash (Restart=on-failure)" test "$restarted" = yes
ns systemctl stop shadercam  # just after the restart: it may still be starting
stopped="$(ns systemctl show -p ActiveState --value shadercam)/$(ns systemctl show -p Result \
    --value shadercam)"
if [ "$stopped" = inactive/success ]; then ok "stops cleanly (inactive, result success)"
else not_ok "stops cleanly (inactive, result success): $stopped"
    ns journalctl -u shadercam --no-pager | tail -n 20; fi
if ns /bin/sh "$SRC/systemd/install.sh" --uninstall > "$WORK/uninstall-booted.log" 2>&1; then
    ok "--uninstall succeeds with systemd running"
else
    not_ok "--uninstall succeeds with systemd running"; tail -n 20 "$WORK/uninstall-booted.log"
fi
check "systemd no longer knows the unit" test "$(ns systemctl show -p LoadState --value \
    shadercam)" = not-found
ns systemctl poweroff 2>/dev/null || true  # (it says it found no logind, then powers off)
for _ in $(seq 1 60); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$NSPAWN_PID" 2>/dev/null; then rc="still running"; else
    set +e; wait "$NSPAWN_PID"; rc=$?; set -e
    NSPAWN_PID=
fi
check "powers off cleanly (systemd-nspawn exits 0)" test "$rc" = 0
fi

echo "$PASSED passed, $FAILED failed in $SECONDS s"
[ "$FAILED" -eq 0 ]
