#!/usr/bin/env bash
# The main job: set everything up, start workshopd, launch the example workshop as an
# unprivileged user and run a command in it. Run as root on Debian 12.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
require_cargo

DEMO_USER=${WORKSHOP_DEMO_USER:-workshop-demo}
export WORKSHOP=${WORKSHOP:-/var/lib/workshop}
export WORKSHOP_SOCKET=$WORKSHOP/workshop.socket
PIDFILE=/run/workshopd.pid

bash "$ROOT/scripts/setup-lxd.sh"
log "building"
(cd "$ROOT" && cargo build --workspace --bins)
BIN=$ROOT/target/debug
install -m 0755 "$BIN/workshop" "$BIN/workshopd" "$BIN/workshopctl" /usr/local/bin/

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    log "restarting workshopd (pid $(cat "$PIDFILE"))"
    kill "$(cat "$PIDFILE")"
    while kill -0 "$(cat "$PIDFILE")" 2>/dev/null; do sleep 0.1; done
fi
mkdir -p "$WORKSHOP"
workshopd run --create-dirs >>/var/log/workshopd.log 2>&1 &
echo $! > "$PIDFILE"
for _ in $(seq 1 100); do [ -S "$WORKSHOP_SOCKET" ] && break; sleep 0.1; done
log "workshopd running (pid $(cat "$PIDFILE"), log /var/log/workshopd.log)"

ensure_user "$DEMO_USER"
HOME_DIR=$(getent passwd "$DEMO_USER" | cut -d: -f6)
PROJECT=$HOME_DIR/hello
as_user() { runuser -u "$DEMO_USER" -- env -u XDG_DATA_HOME WORKSHOP_SOCKET="$WORKSHOP_SOCKET" "$@"; }
if [ -d "$PROJECT" ]; then
    # A previous run's workshop goes first, so nothing is left behind in LXD.
    (cd "$PROJECT" && as_user workshop remove hello >/dev/null 2>&1) || true
    rm -rf "$PROJECT"
fi
cp -r "$ROOT/examples/hello" "$PROJECT"
chown -R "$DEMO_USER:" "$PROJECT"
cd "$PROJECT"
log "launching the example workshop in $PROJECT"
as_user workshop launch
log "running a command in it"
as_user workshop exec hello -- bash -c 'echo "Hello from $(hostname) ($(. /etc/os-release; echo $PRETTY_NAME)), user $(id -un), in $PWD"; ls /project'
as_user workshop run hello greet Workshop
as_user workshop list
log "done. Try: runuser -u $DEMO_USER -- workshop -p $PROJECT shell"
