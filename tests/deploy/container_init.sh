#!/bin/bash
# Prints the host PID of a booted container's init: the process under ANCESTOR (the
# systemd-nspawn that started it) whose command name is `systemd` and that is PID 1 of a PID
# namespace other than this script's. nspawn's first children are short-lived helpers, so
# neither "its first child" nor a PID found once can be trusted: look it up before each use.
#
#   container_init.sh ANCESTOR_PID [WAIT_SECONDS]
#
# Waits up to WAIT_SECONDS (default 0: look once) for such a process to appear. Exit 0 with
# the PID on stdout; exit 1, saying why on stderr, when none appeared in time or ANCESTOR is
# gone; exit 2 on bad arguments.
set -euo pipefail

ancestor=${1:-}
wait_s=${2:-0}
[[ $ancestor =~ ^[0-9]+$ && $wait_s =~ ^[0-9]+$ ]] \
    || { echo "usage: container_init.sh ANCESTOR_PID [WAIT_SECONDS]" >&2; exit 2; }
own_ns=$(readlink /proc/$$/ns/pid)

is_container_init() {  # is_container_init PID
    local pid=$1 ns nspid
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ] || return 1
    ns=$(readlink "/proc/$pid/ns/pid" 2>/dev/null) && [ "$ns" != "$own_ns" ] || return 1
    # The last NSpid field is its PID inside its own namespace: 1 for that namespace's init,
    # not for a `systemd --user` further down in the same container.
    nspid=$(sed -n 's/^NSpid:.*[[:space:]]\([0-9]*\)$/\1/p' "/proc/$pid/status" 2>/dev/null)
    [ "$nspid" = 1 ]
}

find_once() {  # breadth first, so the outermost match wins
    local -A children=()
    local pid ppid
    while read -r pid ppid; do children[$ppid]+=" $pid"; done < <(ps -e -o pid=,ppid=)
    # shellcheck disable=SC2206  # the lists are space-separated PIDs
    local queue=(${children[$ancestor]:-})
    while [ ${#queue[@]} -gt 0 ]; do
        pid=${queue[0]}
        queue=("${queue[@]:1}")
        if is_container_init "$pid"; then echo "$pid"; return 0; fi
        # shellcheck disable=SC2206
        queue+=(${children[$pid]:-})
    done
    return 1
}

tries=$((wait_s * 5 + 1))
for ((i = 1; ; i++)); do
    [ -d "/proc/$ancestor" ] || { echo "process $ancestor is gone" >&2; exit 1; }
    find_once && exit 0
    [ "$i" -lt "$tries" ] || break
    sleep 0.2
done
echo "no container init (systemd, PID 1 of its own namespace) under process $ancestor" \
     "after ${wait_s} s" >&2
exit 1
