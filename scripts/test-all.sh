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

# What the tests left behind (a run that was killed, a guard that could not run) is removed
# before and after the tests, and named when found after: the test users' workshops, and the
# LXD projects and default-project instances the tests name wst-…. A leftover would hold the
# pool and the bridge, and the purge check at the end would rightly refuse to remove them.
leftovers() {
    local project
    for project in workshop.workshop-test workshop.workshop-test2; do
        # Templates (tpl-…) are the daemon's own and stay for the next launch.
        { lxc list --project "$project" -c n -f csv 2>/dev/null || true; } | { grep -v '^tpl-' || true; } | sed "s|^|$project/|"
    done
    { lxc list --project default -c n -f csv 2>/dev/null || true; } | { grep '^wst-' || true; } | sed 's|^|default/|'
    { lxc project list -f csv 2>/dev/null || true; } | cut -d, -f1 | { grep '^wst-' || true; } | sed 's|$|/|'
}
# Deletes an instance, asking again while LXD is still busy starting or stopping it.
delete_instance() {
    local project=$1 name=$2 try
    for try in $(seq 1 30); do
        lxc delete -f --project "$project" "$name" >/dev/null 2>&1 && return
        sleep 1
    done
    log "cannot delete instance $project/$name"
}
remove_leftovers() {
    local item project name
    for item in $(leftovers); do
        project=${item%%/*} name=${item#*/}
        if [ -n "$name" ]; then
            delete_instance "$project" "$name"
            continue
        fi
        # A whole test project: its instances, images and profiles, then the project.
        for name in $(lxc list --project "$project" -c n -f csv 2>/dev/null); do delete_instance "$project" "$name"; done
        for name in $(lxc image list --project "$project" -c f -f csv 2>/dev/null); do lxc image delete --project "$project" "$name" >/dev/null 2>&1 || true; done
        for name in $(lxc profile list --project "$project" -f csv 2>/dev/null | cut -d, -f1 | grep -v '^default$'); do lxc profile delete --project "$project" "$name" >/dev/null 2>&1 || true; done
        lxc project delete "$project" >/dev/null 2>&1 || log "cannot delete project $project"
    done
}
# Processes other than the given PID that hold the given file open: what a test started and
# did not stop.
holders() {
    local file=$1 except=$2 fd pid
    for fd in /proc/[0-9]*/fd/*; do
        [ "$(readlink "$fd" 2>/dev/null)" = "$file" ] || continue
        pid=${fd#/proc/}; pid=${pid%%/*}
        [ "$pid" = "$except" ] || echo "$pid"
    done | sort -un
}
phase_started=$SECONDS
phase() { log "$1 (after $((SECONDS - phase_started)) s)"; }

remove_leftovers
# Layer snapshots of the test users stay between runs as they would for a user; a run starts
# without them, as on a fresh machine (the tests then make and reuse their own).
for project in workshop-snapshots.workshop-test workshop-snapshots.workshop-test2; do
    for name in $(lxc list --project "$project" -c n -f csv 2>/dev/null); do delete_instance "$project" "$name"; done
done
phase "building"
cargo build --workspace --bins --tests
phase "running the tests"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
# The output goes to a file that is followed, not through a pipe: a process a test left
# running would hold a pipe open and keep its reader waiting for ever. The whole run is
# bounded, so a test that hangs fails the run with its output instead of outliving CI.
set +e
timeout --kill-after=30 "${WORKSHOP_TEST_TIMEOUT:-3600}" \
    cargo test --workspace --lib --bins --tests --no-fail-fast -- --test-threads="${WORKSHOP_TEST_THREADS:-4}" \
    >"$LOG" 2>&1 </dev/null &
tests=$!
tail -n +1 -f --pid="$tests" "$LOG"
wait "$tests"
status=$?
set -e
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    log "the tests did not finish within ${WORKSHOP_TEST_TIMEOUT:-3600} s"
fi
stray=$(holders "$LOG" "$$")
if [ -n "$stray" ]; then
    for pid in $stray; do
        log "a test left process $pid running: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
        kill "$pid" 2>/dev/null || true
    done
    echo "test result: FAILED. 0 passed; 1 failed (processes left running)" >>"$LOG"
    status=1
fi
left=$(leftovers)
if [ -n "$left" ]; then
    log "tests left these instances behind (removed now): $(echo $left)"
    remove_leftovers
fi
# The purge procedure last: it removes and re-creates the pool and the bridge.
phase "checking the purge procedure"
if timeout --kill-after=30 900 bash "$ROOT/scripts/check-purge.sh"; then
    echo "test result: ok. 1 passed; 0 failed (purge check)" >>"$LOG"
else
    echo "test result: FAILED. 0 passed; 1 failed (purge check)" >>"$LOG"
    status=1
fi
# One closing line over every test binary and the purge check.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$LOG"
phase "done"
exit "$status"
