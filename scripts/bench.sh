#!/usr/bin/env bash
# Benchmarks, reported as ratios against raw LXD (`lxc`) measured in the same run.
# Run as root after scripts/setup-lxd.sh (it is run here too).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
require_cargo
bash "$ROOT/scripts/setup-lxd.sh"
cd "$ROOT"
cargo build --release --workspace --bins
log "state checkpoint"
cargo bench -p workshop-actors --bench checkpoint
log "daemon API and memory"
cargo bench -p workshop-integration --bench daemon
log "workshops vs lxc"
ensure_user workshop-test
WORKSHOP_TEST_LXD=1 WORKSHOP_TEST_USER=workshop-test cargo bench -p workshop-integration --bench workshops
log "SDK launch, refresh, restore and mounts vs lxc"
WORKSHOP_TEST_LXD=1 WORKSHOP_TEST_USER=workshop-test cargo bench -p workshop-integration --bench changes
log "tunnel throughput vs an LXD proxy device"
WORKSHOP_TEST_LXD=1 WORKSHOP_TEST_USER=workshop-test cargo bench -p workshop-integration --bench tunnels
log "LXD client vs lxc"
cargo bench -p lxd-client --bench client
