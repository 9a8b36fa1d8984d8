#!/usr/bin/env bash
# D-04 end to end: a launched workshop and a sentinel in its apt cache; the purge
# procedure (scripts/purge.sh) leaves no Workshop pool, bridge or LXD project; after setting
# up again, a global listing is empty and a re-launched workshop has a fresh apt cache.
# Run as root by test-all.sh after the tests (it removes and re-creates the pool and bridge).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

USER1=${WORKSHOP_TEST_USER:-workshop-test}
BIN=${WORKSHOP_BIN_DIR:-$ROOT/target/debug}
export WORKSHOP
WORKSHOP=$(mktemp -d /tmp/wst-purge-XXXXXX)
chmod 755 "$WORKSHOP"
export WORKSHOP_SOCKET=$WORKSHOP/workshop.socket
HOME1=$(getent passwd "$USER1" | cut -d: -f6)
PROJECT=$HOME1/wst/purge-$$
DAEMON=

fail() { log "purge check FAILED: $*"; exit 1; }
start_daemon() {
    "$BIN/workshopd" run --create-dirs >>"$WORKSHOP.log" 2>&1 &
    DAEMON=$!
    for _ in $(seq 1 100); do [ -S "$WORKSHOP_SOCKET" ] && return; sleep 0.1; done
    fail "workshopd did not start (log: $WORKSHOP.log)"
}
stop_daemon() {
    if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then
        kill "$DAEMON"
        wait "$DAEMON" 2>/dev/null || true
    fi
    DAEMON=
}
as_user() { local user=$1; shift; (cd "$PROJECT" && runuser -u "$user" -- env -u XDG_DATA_HOME WORKSHOP_SOCKET="$WORKSHOP_SOCKET" "$BIN/workshop" "$@"); }
cleanup() {
    stop_daemon
    lxc delete -f --project "workshop.$USER1" "ws-purge-$(cat "$PROJECT/.workshop.lock" 2>/dev/null)" >/dev/null 2>&1 || true
    rm -rf "$PROJECT" "$WORKSHOP" "$WORKSHOP.log"
    # Whatever happened, leave LXD set up for whoever comes next.
    bash "$ROOT/scripts/setup-lxd.sh" >/dev/null 2>&1 || true
}
trap cleanup EXIT

mkdir -p "$PROJECT"
printf 'name: ws-purge\nbase: ubuntu@22.04\n' >"$PROJECT/workshop.yaml"
chown -R "$USER1:" "$HOME1/wst"
start_daemon
as_user "$USER1" launch >/dev/null || fail "launch"
id=$(cat "$PROJECT/.workshop.lock")
apt_cache=$WORKSHOP/cache/users/$(id -u "$USER1")/$id/ws-purge/apt
touch "$apt_cache/sentinel" || fail "no apt cache at $apt_cache"
stop_daemon

# The purge procedure, with this check's daemon data in place of /var/lib/workshop.
PURGE_LOG=$(mktemp)
if ! bash "$ROOT/scripts/purge.sh" >"$PURGE_LOG" 2>&1; then
    grep "cannot" "$PURGE_LOG" >&2 || tail -n 20 "$PURGE_LOG" >&2
    # Name what still holds the bridge or the pool.
    for what in "network show workshopbr0" "storage show workshop"; do
        lxc $what 2>/dev/null | sed -n '/^used_by:/,/^[a-z_]*:/p' | grep '^- ' | sed "s|^|still using ${what#* show }: |" >&2 || true
    done
    fail "purge.sh exited non-zero (what it could not remove is above)"
fi
rm -f "$PURGE_LOG"
! lxc storage list -f csv | cut -d, -f1 | grep -qx workshop || fail "pool workshop left"
! lxc network list -f csv | cut -d, -f1 | grep -qx workshopbr0 || fail "network workshopbr0 left"
! lxc project list -f csv | cut -d, -f1 | grep -q '^workshop' || fail "workshop projects left"
[ ! -e "$WORKSHOP" ] || fail "$WORKSHOP left"

# Set up again: nothing is listed, and a new launch starts with an empty apt cache.
bash "$ROOT/scripts/setup-lxd.sh" >/dev/null 2>&1 || fail "setup after purge"
mkdir -p "$WORKSHOP" && chmod 755 "$WORKSHOP"
start_daemon
listing=$(as_user "$USER1" list --global) || fail "list --global after purge"
[ -z "$listing" ] || fail "global listing not empty after purge: $listing"
as_user "$USER1" launch >/dev/null || fail "launch after purge"
[ ! -e "$apt_cache/sentinel" ] || fail "the apt cache survived the purge"
as_user "$USER1" remove >/dev/null || fail "remove"
log "purge check: ok"
