# shellcheck shell=bash
# Sourced by installer_chroot.sh: the README's development commands, run as a newcomer would on
# a stock Debian 12. $NEW is a copy of the fresh debootstrapped tree; this adds what a stock
# install has (sudo, CA certificates, a user in sudoers, the hostname in /etc/hosts), puts a
# checkout with the shared models beside it in the user's home, and runs the commands as that
# user with a clean environment: no pyenv, no pip settings, the system's /usr/bin/python3.
# The smoke subset: configuration, an engine op on the GPU, the service API.
SMOKE_TESTS=(tests/app/test_app_config.py tests/engine/test_conv2d.py
             tests/app/test_service_api.py::test_classify_uploads_and_bad_uploads)

log "a newcomer on stock Debian 12: the README's commands as a user with sudo"
# as_newcomer [NAME=VALUE...] COMMAND: COMMAND run by bash in the user's checkout
as_newcomer() {
    local vars=()
    while [ $# -gt 1 ]; do vars+=("$1"); shift; done
    CHROOT_DIR=$NEW "$WORK/in-root" --userspec=newcomer:newcomer "$NEW" env -i \
        HOME=/home/newcomer USER=newcomer LOGNAME=newcomer PATH=/usr/local/bin:/usr/bin:/bin \
        LANG=C.UTF-8 "${vars[@]}" /bin/bash -c "cd ~/shadercam && $1"
}
readme_command() {  # readme_command END: the README's development command ending in END
    grep -m1 -o "^bash scripts/setup-dev.sh && [^#]*$1" "$REPO/README.md"
}

printf '127.0.1.1 %s\n' "$(hostname)" >> "$NEW/etc/hosts"
CHROOT_DIR=$NEW "$WORK/in-root" "$NEW" /bin/sh -c '
    apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        sudo ca-certificates >/dev/null &&
    useradd --create-home --shell /bin/bash newcomer &&
    echo "newcomer ALL=(ALL) NOPASSWD: ALL" > /etc/sudoers.d/newcomer' \
    > "$WORK/newcomer-prepare.log" 2>&1 || { tail -n 20 "$WORK/newcomer-prepare.log"; exit 1; }
# This network's own certificate authorities (an intercepting proxy's, say), added the Debian
# way, so pip reaches PyPI from the tree as it does from this host; none on a plain network.
python3 -I "$REPO/tests/deploy/host_cas.py" "$NEW"
"$TREE_ENV" chroot "$NEW" update-ca-certificates > /dev/null 2>&1
copy_checkout "$NEW/home/newcomer/shadercam"
mkdir -p "$NEW/home/newcomer/shared/models"
cp "$MODEL" "$NEW/home/newcomer/shared/models/"
"$TREE_ENV" chroot "$NEW" chown -R newcomer:newcomer /home/newcomer

if as_newcomer "bash scripts/setup-dev.sh" > "$WORK/newcomer-setup.log" 2>&1; then
    ok "newcomer: set-up command succeeds as a user, apt through sudo"
else
    not_ok "newcomer: set-up command succeeds as a user, apt through sudo"
    tail -n 30 "$WORK/newcomer-setup.log"
fi
check "newcomer: python3 is Debian's /usr/bin/python3, externally managed (PEP 668)" \
    as_newcomer 'command -v python3 | grep -qx /usr/bin/python3 &&
        test -f /usr/lib/python3.11/EXTERNALLY-MANAGED'
check "newcomer: .venv is made from /usr/bin/python3 and nothing went into the system Python" \
    as_newcomer '.venv/bin/python -c "import sys; assert sys.base_prefix == \"/usr\", sys.base_prefix" &&
        ! /usr/bin/python3 -c "import fastapi" 2>/dev/null'
check "newcomer: no PyTorch without --train" \
    as_newcomer '! .venv/bin/python -c "import torch" 2>/dev/null'

serve=$(readme_command "shadercam serve" || true)
if [ -z "$serve" ]; then
    not_ok "newcomer: the README gives the serve command"
else
    port=$(free_port)
    # Its own session, so that stopping it stops the set-up's shell and the server together.
    export -f as_newcomer
    export NEW WORK
    setsid bash -c 'as_newcomer "$@"' as_newcomer SHADERCAM_SERVER_HOST=127.0.0.1 \
        "SHADERCAM_SERVER_PORT=$port" "$serve" > "$WORK/newcomer-serve.log" 2>&1 &
    NEWCOMER_PID=$!
    health=$(wait_health "$port" "$NEWCOMER_PID")
    if [[ $health == *'"status": "ok"'* ]]; then
        ok "newcomer: '$serve' answers /api/health: ${health:0:100}"
    else
        not_ok "newcomer: '$serve' answers /api/health: ${health:0:400}"
        tail -n 30 "$WORK/newcomer-serve.log"
    fi
    kill -TERM -- "-$NEWCOMER_PID" 2>/dev/null || true
    wait "$NEWCOMER_PID" 2>/dev/null || true
    NEWCOMER_PID=
fi

tests=$(readme_command "-m pytest" || true)
if [ -z "$tests" ]; then
    not_ok "newcomer: the README gives the test command"
elif as_newcomer "$tests -q -p no:cacheprovider ${SMOKE_TESTS[*]}" \
        > "$WORK/newcomer-tests.log" 2>&1; then
    ok "newcomer: '$tests' passes the smoke tests: $(tail -n 1 "$WORK/newcomer-tests.log")"
else
    not_ok "newcomer: '$tests' passes the smoke tests"; tail -n 30 "$WORK/newcomer-tests.log"
fi
