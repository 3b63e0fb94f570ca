#!/bin/sh
# Install ShaderCam as a systemd service on Raspberry Pi OS (bookworm or trixie).
#
#   sudo systemd/install.sh                 install or update; safe to run again
#   sudo systemd/install.sh --model SOURCE  also install a model (e.g. dog_classifier)
#   sudo systemd/install.sh --uninstall     remove the service and program; keep config+models
#   sudo systemd/install.sh --purge         remove everything, the user and models included
#
# Python packages come from apt only: a venv with --system-site-packages holds the project,
# installed with pip --no-deps --no-index, so pip never downloads or compiles anything
# (an ARMv6 Pi Zero has no wheels on PyPI, and compiling there takes hours).
set -eu

NAME=shadercam
PREFIX=/opt/shadercam
VENV=$PREFIX/venv
CONF_DIR=/etc/shadercam
CONFIG=$CONF_DIR/config.toml
UNIT=/etc/systemd/system/$NAME.service
STATE=/var/lib/shadercam
LINK=/usr/local/bin/shadercam
SRC=$(cd "$(dirname "$0")/.." && pwd)

APT_PACKAGES="python3 python3-venv python3-setuptools python3-wheel python3-numpy
python3-fastapi python3-uvicorn python3-jinja2 python3-websockets python3-multipart
python3-pil python3-paho-mqtt python3-prometheus-client libegl1 libegl-mesa0
libgles2 libgl1-mesa-dri"

say() { printf '%s\n' "shadercam install: $*"; }
die() { printf '%s\n' "shadercam install: error: $*" >&2; exit 1; }

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

ACTION=install
ANY_HARDWARE=no
MODEL=
while [ $# -gt 0 ]; do
    case $1 in
        --uninstall) ACTION=uninstall ;;
        --purge) ACTION=purge ;;
        --model) [ $# -ge 2 ] || die "--model needs a SOURCE"; MODEL=$2; shift ;;
        --any-hardware) ANY_HARDWARE=yes ;;  # development machines and CI: not a Pi
        -h|--help) usage 0 ;;
        *) printf '%s\n' "shadercam install: unknown option: $1" >&2; usage 2 ;;
    esac
    shift
done

systemd_running() { [ -d /run/systemd/system ]; }

check_system() {
    [ "$(id -u)" -eq 0 ] || die "run me as root: sudo $0"
    [ "$(uname -s)" = Linux ] || die "unsupported system $(uname -s): ShaderCam needs Raspberry Pi OS"
    [ -r /etc/os-release ] || die "unsupported system: no /etc/os-release; ShaderCam needs Raspberry Pi OS bookworm or trixie"
    # Read in a subshell: os-release's NAME, ID, ... must not overwrite this script's variables.
    # shellcheck disable=SC1091
    os=$(. /etc/os-release && printf '%s|%s|%s|%s' "${ID:-}" "${ID_LIKE:-}" \
        "${VERSION_CODENAME:-}" "${PRETTY_NAME:-unknown}")
    os_id=${os%%|*}; rest=${os#*|}
    os_like=${rest%%|*}; rest=${rest#*|}
    os_codename=${rest%%|*}; os_pretty=${rest#*|}
    case "$os_id:$os_like" in
        raspbian:*|debian:*|*:*debian*) ;;
        *) die "unsupported system $os_pretty: ShaderCam needs Raspberry Pi OS (Debian-based) bookworm or trixie" ;;
    esac
    case "$os_codename" in
        bookworm|trixie) ;;
        *) die "unsupported release $os_pretty (${os_codename:-no codename}): ShaderCam needs Raspberry Pi OS bookworm or trixie, whose packages give Python 3.11+" ;;
    esac
    command -v apt-get >/dev/null || die "unsupported system: apt-get not found"
    command -v systemctl >/dev/null || die "unsupported system: systemd (systemctl) not found"
    MODEL_NAME=$(tr -d '\0' 2>/dev/null < /proc/device-tree/model || true)
    case "$MODEL_NAME" in
        "Raspberry Pi"*) IS_PI=yes ;;
        *)
            IS_PI=no
            [ "$ANY_HARDWARE" = yes ] || die "this is not a Raspberry Pi (${MODEL_NAME:-no device-tree model}); pass --any-hardware to install anyway (demo camera, software or desktop GPU)"
            say "not a Raspberry Pi: installing anyway (--any-hardware); the camera defaults to the demo source"
            ;;
    esac
}

install_packages() {
    packages=$APT_PACKAGES
    if [ "$IS_PI" = yes ]; then
        if apt-cache show python3-picamera2 >/dev/null 2>&1; then
            packages="$packages python3-picamera2"
        else
            say "warning: python3-picamera2 is not in the apt sources (it comes from the Raspberry Pi archive): the camera will not work, the demo source will"
        fi
    fi
    say "installing apt packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $packages
}

install_program() {
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV (with the system's site packages)"
        mkdir -p "$PREFIX"
        python3 -m venv --system-site-packages "$VENV"
    fi
    # Build from a clean copy: the checkout stays untouched (no build/ or egg-info in it).
    build=$(mktemp -d)
    trap 'rm -rf "$build"' EXIT
    for item in pyproject.toml README.md LICENSE app gpu_engine shaders web; do
        if [ -e "$SRC/$item" ]; then cp -R "$SRC/$item" "$build/"; fi
    done
    find "$build" -name __pycache__ -prune -exec rm -rf {} +
    say "installing ShaderCam into $VENV"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install --quiet --no-deps \
        --no-index --no-build-isolation --no-cache-dir --upgrade "$build"
    rm -rf "$build"
    trap - EXIT
    "$VENV/bin/python" -c "import app.cli, fastapi, uvicorn, numpy, jinja2, PIL" \
        || die "the installed program cannot import its packages (see above)"
    ln -sfn "$VENV/bin/shadercam" "$LINK"
}

create_user() {
    getent group video >/dev/null || groupadd --system video
    getent group render >/dev/null || groupadd --system render
    if ! getent passwd "$NAME" >/dev/null; then
        say "creating system user $NAME"
        useradd --system --user-group --home-dir "$STATE" --no-create-home \
            --shell /usr/sbin/nologin --comment "ShaderCam service" "$NAME"
    fi
    usermod --append --groups video,render "$NAME"
}

install_config() {
    mkdir -p "$CONF_DIR"
    if [ -e "$CONFIG" ]; then
        say "keeping your $CONFIG"
    else
        source=demo
        if [ "$IS_PI" = yes ] && "$VENV/bin/python" -c "import picamera2" 2>/dev/null; then
            source=picamera2
        fi
        # The service answers on the network, behind a random access token made here once;
        # later runs keep the config, and with it the token.
        token=$("$VENV/bin/python" -c "import secrets; print(secrets.token_urlsafe(24))")
        sed -e "s/^source = \"demo\"/source = \"$source\"/" \
            -e 's/^host = "127.0.0.1"/host = "0.0.0.0"/' \
            -e "s/^token = \"\"/token = \"$token\"/" \
            "$SRC/systemd/config.example.toml" > "$CONFIG.tmp"
        # The token is a secret: only root and the service's group read the config.
        chgrp "$NAME" "$CONFIG.tmp"
        chmod 640 "$CONFIG.tmp"
        mv "$CONFIG.tmp" "$CONFIG"
        say "wrote $CONFIG (camera source: $source, a new access token)"
    fi
    install -d -m 755 -o "$NAME" -g "$NAME" "$STATE" "$STATE/models"
    SHADERCAM_CONFIG=$CONFIG "$VENV/bin/python" -c \
        "from app.config import load_config; load_config()" \
        || die "$CONFIG is not valid (see above); fix it and run me again"
}

install_unit() {
    install -m 644 "$SRC/systemd/$NAME.service" "$UNIT.tmp"
    mv "$UNIT.tmp" "$UNIT"
    if systemd_running; then
        systemctl daemon-reload
        systemctl enable "$NAME.service"
        systemctl restart "$NAME.service"
    else
        # In a chroot or image build: enabling only writes the symlink; it starts at boot.
        systemctl enable "$NAME.service"
        say "systemd is not running here: $NAME will start at the next boot"
    fi
}

install_model() {
    [ -n "$MODEL" ] || return 0
    say "installing model $MODEL"
    STATE_DIRECTORY=$STATE "$VENV/bin/shadercam" model install "$MODEL"
    chown -R "$NAME:$NAME" "$STATE/models"
}

print_url() {
    settings=$(SHADERCAM_CONFIG=$CONFIG "$VENV/bin/python" -c "from app.config import load_config
c = load_config(); print(c.server_port, c.server_token)")
    port=${settings%% *}; token=${settings#* }
    login=${token:+login?token=$token}
    address=$(hostname -I 2>/dev/null | awk '{print $1}')
    say "done. The page: http://$(hostname).local:$port/$login${address:+  or  http://$address:$port/$login}${login:+  (the link logs in)}"
    say "logs: journalctl -u $NAME -f    settings: $CONFIG    models: shadercam model list"
}

uninstall() {
    [ "$(id -u)" -eq 0 ] || die "run me as root: sudo $0 --$ACTION"
    if command -v systemctl >/dev/null && [ -e "$UNIT" ]; then
        if systemd_running; then
            systemctl disable --now "$NAME.service" || true
        else
            systemctl disable "$NAME.service" || true
        fi
    fi
    rm -f "$UNIT" "$LINK"
    rm -rf "$PREFIX"
    if systemd_running; then systemctl daemon-reload; fi
    if [ "$ACTION" = purge ]; then
        rm -rf "$CONF_DIR" "$STATE" /var/cache/shadercam
        if getent passwd "$NAME" >/dev/null; then userdel "$NAME"; fi
        if getent group "$NAME" >/dev/null; then groupdel "$NAME"; fi
        say "removed ShaderCam, its settings, models and user"
    else
        say "removed ShaderCam; kept $CONF_DIR and $STATE (run with --purge to remove them too)"
    fi
}

case $ACTION in
    uninstall|purge) uninstall ;;
    install)
        check_system
        install_packages
        install_program
        create_user
        install_config
        install_model
        install_unit
        print_url
        ;;
esac
