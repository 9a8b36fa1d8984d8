#!/usr/bin/env bash
# Start/stop a hand-run LXD daemon on machines without systemd as PID 1.
#
#   scripts/lxd-ctl.sh start|stop|restart|status
#
# start   : starts `lxd --group root` in the background unless an LXD already answers on
#           its socket, waits for it (`lxd waitready`) and records its PID in $PIDFILE.
# stop    : `lxd shutdown` with a timeout, then (only if still alive) the PID from $PIDFILE.
#           Never kills anything by name.
# restart : stop, then start.
# status  : exit 0 if the daemon answers, 1 otherwise.
#
# Environment overrides: LXD_DIR (default /var/lib/lxd, Debian's path), WORKSHOP_LXD_LOG,
# WORKSHOP_LXD_PIDFILE.
set -euo pipefail

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"
export LXD_DIR="${LXD_DIR:-/var/lib/lxd}"
LOGFILE="${WORKSHOP_LXD_LOG:-/var/log/workshop-lxd.log}"
PIDFILE="${WORKSHOP_LXD_PIDFILE:-/run/workshop-lxd.pid}"
SOCKET="$LXD_DIR/unix.socket"

log() { echo "lxd-ctl: $*" >&2; }

# The daemon answers on its socket (does not hang when the socket is stale).
lxd_up() {
    [ -S "$SOCKET" ] || return 1
    timeout 10 lxc query /1.0 >/dev/null 2>&1
}

# PID from the pid file if that process is still alive and is an lxd daemon.
pidfile_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid="$(tr -dc '0-9' <"$PIDFILE")"
    [ -n "$pid" ] || return 1
    [ -r "/proc/$pid/cmdline" ] || return 1
    # argv[0] must be an lxd binary (guards against PID reuse)
    local argv0
    argv0="$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n1)"
    case "$(basename "$argv0")" in
        lxd) echo "$pid" ;;
        *) return 1 ;;
    esac
}

record_pid() {
    local pid
    pid="$(timeout 10 lxc query /1.0 2>/dev/null | jq -r '.environment.server_pid // empty' 2>/dev/null || true)"
    if [ -n "$pid" ] && [ "$pid" != "0" ]; then
        echo "$pid" >"$PIDFILE"
    fi
}

do_start() {
    if lxd_up; then
        log "already running"
        [ -f "$PIDFILE" ] || record_pid
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        log "must run as root to start LXD"
        return 1
    fi
    if pid="$(pidfile_pid)"; then
        log "lxd (pid $pid) exists but does not answer yet; waiting"
    else
        command -v lxd >/dev/null || { log "lxd is not installed"; return 1; }
        mkdir -p "$(dirname "$LOGFILE")" "$(dirname "$PIDFILE")"
        log "starting lxd --group root (log: $LOGFILE)"
        # New session, no controlling terminal, stdin closed: survives the caller's shell.
        setsid lxd --group root >>"$LOGFILE" 2>&1 </dev/null &
        echo "$!" >"$PIDFILE"
    fi
    if ! lxd waitready --timeout 60; then
        log "lxd did not become ready in 60 s; last log lines:"
        tail -n 20 "$LOGFILE" >&2 || true
        return 1
    fi
    record_pid
    log "running (pid $(cat "$PIDFILE" 2>/dev/null || echo '?'))"
}

do_stop() {
    local pid=""
    pid="$(pidfile_pid || true)"
    if lxd_up; then
        log "lxd shutdown"
        # --timeout applies to stopping instances; the outer timeout guards a hung daemon.
        timeout 150 lxd shutdown --timeout 120 || log "lxd shutdown did not finish cleanly"
    fi
    # After `lxd shutdown` returns the process may still be exiting: give it a moment.
    if [ -n "$pid" ]; then
        for _ in $(seq 1 20); do
            [ -d "/proc/$pid" ] || break
            sleep 0.5
        done
    fi
    if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
        log "terminating pid $pid from $PIDFILE"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 30); do
            [ -d "/proc/$pid" ] || break
            sleep 1
        done
        if [ -d "/proc/$pid" ]; then
            log "pid $pid still alive after 30 s; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    # Wait (briefly) for the socket to stop answering.
    for _ in $(seq 1 20); do
        lxd_up || break
        sleep 0.5
    done
    if lxd_up; then
        log "LXD still answers (not started by this script?)"
        return 1
    fi
    rm -f "$PIDFILE"
    log "stopped"
}

case "${1:-}" in
    start) do_start ;;
    stop) do_stop ;;
    restart) do_stop; do_start ;;
    status)
        if lxd_up; then
            echo "running${PIDFILE:+ (pid $(cat "$PIDFILE" 2>/dev/null || echo unknown))}"
        else
            echo "stopped"
            exit 1
        fi
        ;;
    *)
        echo "usage: $0 start|stop|restart|status" >&2
        exit 2
        ;;
esac
