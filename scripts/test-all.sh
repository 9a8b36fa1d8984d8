#!/usr/bin/env bash
# Set everything up and run every test: unit tests, socket-level tests and the end-to-end
# tests against the real LXD. Run as root on Debian 12. This is what CI runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
require_cargo

bash "$ROOT/scripts/setup-lxd.sh"
ensure_user workshop-test
ensure_user workshop-test2
export WORKSHOP_TEST_LXD=1
export WORKSHOP_TEST_USER=workshop-test
export WORKSHOP_TEST_USER2=workshop-test2
cd "$ROOT"
log "building"
cargo build --workspace --all-targets
log "running the tests"
cargo test --workspace --no-fail-fast -- --test-threads="${WORKSHOP_TEST_THREADS:-4}"
