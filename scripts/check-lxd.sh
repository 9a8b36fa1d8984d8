#!/usr/bin/env bash
# Verify the LXD set up by scripts/setup-lxd.sh (run as root; CI runs it after setup).
#
#   scripts/check-lxd.sh [smoke|idmap|all]     (default: all)
#
# smoke: launch debian@12, wait for systemd (running/degraded), IPv4 on eth0 from the bridge,
#        and <name>.wp resolving at the bridge's dnsmasq (raw DNS query via python3).
# idmap: a container with raw.idmap "both 1000 1000" and a disk device from a host dir owned
#        by uid 1000; `touch` as uid 1000 inside must create a file owned by uid 1000 on the host.
# Test containers are always deleted (trap), also on failure.
set -euo pipefail

START_TS=$(date +%s)
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"
export LXD_DIR="${LXD_DIR:-/var/lib/lxd}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGE=debian@12
BRIDGE=workshopbr0
DNS_DOMAIN=wp
P=(--project default)

SMOKE_CT="wsetup-smoke-$$"
IDMAP_CT="wsetup-idmap-test"
IDMAP_DIR=""
CREATED=()

log() { echo "check: $*" >&2; }
fail() { echo "check: FAIL: $*" >&2; exit 1; }

cleanup() {
    local rc=$? ct
    for ct in "${CREATED[@]}"; do
        lxc delete -f "$ct" "${P[@]}" >/dev/null 2>&1 || true
    done
    [ -n "$IDMAP_DIR" ] && rm -rf "$IDMAP_DIR"
    if [ "$rc" = 0 ]; then
        log "all checks passed in $(( $(date +%s) - START_TS )) s"
    else
        log "FAILED (exit $rc) after $(( $(date +%s) - START_TS )) s"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || fail "must run as root"
"$SCRIPT_DIR/lxd-ctl.sh" status >/dev/null || fail "LXD is not running (scripts/lxd-ctl.sh start)"

# Wait until systemd in $1 is up; prints the state.
wait_systemd() {
    local ct=$1 state="" deadline=$(( $(date +%s) + 60 ))
    while :; do
        state="$(timeout 60 lxc exec "$ct" "${P[@]}" -- systemctl is-system-running --wait 2>/dev/null || true)"
        case "$state" in running|degraded) echo "$state"; return 0 ;; esac
        [ "$(date +%s)" -lt "$deadline" ] || { echo "${state:-no answer}"; return 1; }
        sleep 1
    done
}

check_smoke() {
    local t0 state ip="" bridge_ip answer
    t0=${EPOCHREALTIME/[.,]/}
    log "launching $SMOKE_CT from $IMAGE"
    CREATED+=("$SMOKE_CT")
    lxc launch "$IMAGE" "$SMOKE_CT" "${P[@]}" >/dev/null
    state="$(wait_systemd "$SMOKE_CT")" || fail "systemd in $SMOKE_CT not up after 60 s (state: $state)"
    log "systemd: $state ($(( (${EPOCHREALTIME/[.,]/} - t0) / 1000 )) ms after launch)"
    if [ "$state" = degraded ]; then
        log "failed units: $(lxc exec "$SMOKE_CT" "${P[@]}" -- systemctl --failed --plain --no-legend 2>/dev/null | awk '{print $1}' | xargs)"
    fi

    for _ in $(seq 1 40); do
        ip="$(lxc query "/1.0/instances/$SMOKE_CT/state?project=default" |
            jq -r '[.network.eth0.addresses[]? | select(.family == "inet") | .address][0] // empty')"
        [ -n "$ip" ] && break
        sleep 0.5
    done
    [ -n "$ip" ] || fail "$SMOKE_CT got no IPv4 on eth0 within 20 s"
    log "eth0 IPv4: $ip"

    bridge_ip="$(lxc query "/1.0/networks/$BRIDGE" | jq -r '.config["ipv4.address"]' | cut -d/ -f1)"
    answer=""
    for _ in $(seq 1 20); do
        answer="$(dns_query "$bridge_ip" "$SMOKE_CT.$DNS_DOMAIN" || true)"
        [ -n "$answer" ] && break
        sleep 0.5
    done
    if [ -z "$answer" ]; then
        fail "$SMOKE_CT.$DNS_DOMAIN does not resolve at $bridge_ip"
    elif ! grep -qxF "$ip" <<<"$answer"; then
        fail "$SMOKE_CT.$DNS_DOMAIN resolves to $(xargs <<<"$answer"), expected $ip"
    fi
    log "DNS: $SMOKE_CT.$DNS_DOMAIN -> $ip (at $bridge_ip)"
    lxc delete -f "$SMOKE_CT" "${P[@]}" >/dev/null
    log "smoke OK"
}

# A records for $2 from the DNS server $1 (one per line); python3 only, no dig/nslookup.
dns_query() {
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import random, socket, struct, sys
server, name = sys.argv[1], sys.argv[2]
qid = random.randint(0, 0xFFFF)
q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(q, (server, 53))
data, _ = s.recvfrom(4096)
rid, flags, qd, an, _, _ = struct.unpack(">HHHHHH", data[:12])
if rid != qid or flags & 0xF:
    sys.exit(1)
off = 12
def skip_name(off):
    while True:
        l = data[off]
        if l == 0:
            return off + 1
        if l & 0xC0 == 0xC0:
            return off + 2
        off += l + 1
for _ in range(qd):
    off = skip_name(off) + 4
for _ in range(an):
    off = skip_name(off)
    typ, cls, ttl, rdlen = struct.unpack(">HHIH", data[off:off + 10])
    off += 10
    if typ == 1 and rdlen == 4:
        print(socket.inet_ntoa(data[off:off + 4]))
    off += rdlen
EOF
}

check_idmap() {
    local uid=1000 owner state
    # A container left over from an interrupted run has our fixed name: remove it first.
    lxc delete -f "$IDMAP_CT" "${P[@]}" >/dev/null 2>&1 || true
    IDMAP_DIR="$(mktemp -d /tmp/wsetup-idmap.XXXXXX)"
    chmod 755 "$IDMAP_DIR"
    chown "$uid:$uid" "$IDMAP_DIR"
    log "launching $IDMAP_CT (raw.idmap \"both $uid $uid\", $IDMAP_DIR -> /mnt/t)"
    CREATED+=("$IDMAP_CT")
    lxc init "$IMAGE" "$IDMAP_CT" "${P[@]}" -c raw.idmap="both $uid $uid" >/dev/null
    lxc config device add "$IDMAP_CT" t disk source="$IDMAP_DIR" path=/mnt/t "${P[@]}" >/dev/null
    if ! lxc start "$IDMAP_CT" "${P[@]}" >/dev/null 2>&1; then
        lxc info --show-log "$IDMAP_CT" "${P[@]}" 2>&1 | grep -E 'ERROR|WARN' | tail -n 8 >&2 || true
        fail "$IDMAP_CT does not start (are root:$uid:1 lines in /etc/subuid and /etc/subgid, and LXD restarted since?)"
    fi
    state="$(wait_systemd "$IDMAP_CT")" || fail "systemd in $IDMAP_CT not up (state: $state)"
    lxc exec "$IDMAP_CT" "${P[@]}" --user "$uid" --group "$uid" --cwd / -- touch /mnt/t/f ||
        fail "uid $uid cannot write to the mapped directory"
    owner="$(stat -c %u:%g "$IDMAP_DIR/f")"
    [ "$owner" = "$uid:$uid" ] || fail "file created as uid $uid in the container is owned by $owner on the host"
    log "host file owned by $owner"
    lxc delete -f "$IDMAP_CT" "${P[@]}" >/dev/null
    log "idmap OK"
}

case "${1:-all}" in
    smoke) check_smoke ;;
    idmap) check_idmap ;;
    all) check_smoke; check_idmap ;;
    *) echo "usage: $0 [smoke|idmap|all]" >&2; exit 2 ;;
esac
