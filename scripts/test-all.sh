#!/usr/bin/env bash
# Set everything up and run every test: unit tests, socket-level tests and the end-to-end
# tests against the real LXD. Run as root on Debian 12. This is what CI runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
require_cargo

bash "$ROOT/scripts/setup-lxd.sh"
# Tools only the tests use: the shells whose completion is tested, Debian's systemd package
# (systemd-socket-activate, systemd-analyze; PID 1 need not be systemd), man and make.
missing=()
for p in zsh fish systemd man-db make; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing test tools: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
ensure_user workshop-test
ensure_user workshop-test2
export WORKSHOP_TEST_LXD=1
export WORKSHOP_TEST_USER=workshop-test
export WORKSHOP_TEST_USER2=workshop-test2
cd "$ROOT"

# Workshops the test users left behind (a run that was killed, a guard that could not
# run) are removed before and after the tests, and named when found after.
leftovers() {
    local project
    for project in workshop.workshop-test workshop.workshop-test2; do
        # Templates (tpl-…) are the daemon's own and stay for the next launch.
        { lxc list --project "$project" -c n -f csv 2>/dev/null || true; } | { grep -v '^tpl-' || true; } | sed "s|^|$project/|"
    done
}
remove_leftovers() {
    local item
    for item in $(leftovers); do
        lxc delete -f --project "${item%%/*}" "${item#*/}" >/dev/null 2>&1 || true
    done
}
remove_leftovers
log "building"
cargo build --workspace --bins --tests
log "running the tests"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
set +e
cargo test --workspace --lib --bins --tests --no-fail-fast -- --test-threads="${WORKSHOP_TEST_THREADS:-4}" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e
left=$(leftovers)
if [ -n "$left" ]; then
    log "tests left these instances behind (removed now): $(echo $left)"
    remove_leftovers
fi
# The purge procedure last: it removes and re-creates the pool and the bridge.
log "checking the purge procedure"
if bash "$ROOT/scripts/check-purge.sh"; then
    echo "test result: ok. 1 passed; 0 failed (purge check)" >>"$LOG"
else
    echo "test result: FAILED. 0 passed; 1 failed (purge check)" >>"$LOG"
    status=1
fi
# One closing line over every test binary and the purge check.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$LOG"
exit "$status"
