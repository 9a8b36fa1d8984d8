#!/usr/bin/env bash
# Purge a host install (scripts/demo.sh): stop the workshopd that demo.sh started, remove
# every user's workshops and the LXD objects Workshop created (snap/local/commands/purge,
# which the snap's remove hook runs too), and the daemon's state and caches. Run as root.
# scripts/setup-lxd.sh (run by demo.sh and test-all.sh) sets LXD up again.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

WORKSHOP=${WORKSHOP:-/var/lib/workshop}
WORKSHOP_CACHE=${WORKSHOP_CACHE:-$WORKSHOP/cache}
PIDFILE=/run/workshopd.pid
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    pid=$(cat "$PIDFILE")
    log "stopping workshopd (pid $pid)"
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$PIDFILE"
fi
sh "$ROOT/snap/local/commands/purge"
log "removing $WORKSHOP and $WORKSHOP_CACHE"
rm -rf "$WORKSHOP_CACHE" "$WORKSHOP"
log "purged"
