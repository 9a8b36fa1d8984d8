#!/usr/bin/env bash
# Prepare a Debian 12 machine (as root, no systemd as PID 1, no internet except the Debian
# mirror) to run Workshop against a real LXD:
#
#   1. install the needed Debian packages (apt-get update only when something is missing)
#   2. subuid/subgid entries for root: a main map for LXD and 1000-1199 for raw.idmap
#   3. start LXD (scripts/lxd-ctl.sh start)
#   4. storage pool `workshop`, root disk + NIC in the default profile (only if it has none),
#      managed bridge `workshopbr0` (dns.domain=wp) on a /24 that does not clash with the host
#   5. an offline base image built with debootstrap (cached under /var/cache/workshop-image),
#      aliased debian@12 and ubuntu@{20,22,24,26}.04
#
# Idempotent: each step only creates what is missing; a second run takes seconds.
# It never deletes or reconfigures objects it did not create. Verification lives in
# scripts/check-lxd.sh. Progress goes to stderr as `setup: ...`.
#
# Environment overrides:
#   WORKSHOP_DEBIAN_MIRROR   mirror for debootstrap (default: taken from the apt sources)
#   WORKSHOP_BRIDGE_SUBNET   e.g. 10.231.9 (the bridge gets .1/24) instead of auto-choosing
set -euo pipefail

START_TS=$(date +%s)
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"
export DEBIAN_FRONTEND=noninteractive
export LXD_DIR="${LXD_DIR:-/var/lib/lxd}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

POOL=workshop
POOL_SIZE=8GiB
BRIDGE=workshopbr0
DNS_DOMAIN=wp
IMAGE_REV=1                  # bump whenever the image recipe below changes
IMAGE_SUITE=bookworm
IMAGE_ALIAS=debian@12
EXTRA_ALIASES=(ubuntu@20.04 ubuntu@22.04 ubuntu@24.04 ubuntu@26.04)
IMAGE_DESCRIPTION="Workshop offline base (Debian 12)"
CACHE_ROOT=/var/cache/workshop-image
IMAGE_PACKAGES=systemd-sysv,sudo,dbus,dbus-user-session,libpam-systemd,iproute2,ifupdown,isc-dhcp-client,iputils-ping,python3,curl,ca-certificates,netcat-openbsd,tzdata,util-linux,procps,apt,bash,less,openssh-sftp-server,locales
# Host ids that tests may map into containers with raw.idmap (unprivileged test users).
IDMAP_EXTRA_START=1000
IDMAP_EXTRA_COUNT=200
# LXD's own default map, used only when root has no usable (>= 65536) range yet.
IDMAP_MAIN_START=1000000
IDMAP_MAIN_COUNT=1000000000

log() { echo "setup: $*" >&2; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }
finish() {
    local rc=$?
    if [ "$rc" = 0 ]; then
        log "done in $(( $(date +%s) - START_TS )) s"
    else
        log "FAILED (exit $rc) after $(( $(date +%s) - START_TS )) s"
    fi
}
trap finish EXIT

[ "$(id -u)" = 0 ] || die "must run as root"

# ---------------------------------------------------------------------------------------
# 1. packages
# ---------------------------------------------------------------------------------------
PACKAGES=(lxd lxd-client uidmap dnsmasq-base btrfs-progs debootstrap debian-archive-keyring
          nftables iptables iproute2 jq socat curl util-linux procps python3 gzip tar)

pkg_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

missing=()
for p in "${PACKAGES[@]}"; do
    pkg_installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    # No recommends: keeps apparmor/lxd-agent out; dnsmasq-base (needed for the bridge) is
    # listed explicitly.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    log "packages present"
fi

# ---------------------------------------------------------------------------------------
# 2. subuid/subgid for root
# ---------------------------------------------------------------------------------------
# LXD (non-snap, as root) takes its main map from the first root range of >= 65536 ids in
# /etc/subuid and /etc/subgid; liblxc maps ids via newuidmap/newgidmap (package uidmap),
# which only allows ranges listed there for root - so raw.idmap host ids must be listed too.

# Does file $1 have a root range covering [$2, $2+$3)?
subid_covers() {
    local file=$1 start=$2 count=$3
    awk -F: -v s="$start" -v c="$count" '
        $1 == "root" && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ && $2 <= s && $2 + $3 >= s + c { found = 1 }
        END { exit found ? 0 : 1 }' "$file"
}
# Does file $1 have a root range of at least 65536 ids that does not overlap the extra range?
subid_has_main() {
    awk -F: -v s="$IDMAP_EXTRA_START" -v c="$IDMAP_EXTRA_COUNT" '
        $1 == "root" && $3 >= 65536 && ($2 >= s + c || $2 + $3 <= s) { found = 1 }
        END { exit found ? 0 : 1 }' "$1"
}

idmap_changed=0
for f in /etc/subuid /etc/subgid; do
    [ -e "$f" ] || { touch "$f"; chmod 644 "$f"; }
    if ! subid_has_main "$f"; then
        log "$f: appending root:$IDMAP_MAIN_START:$IDMAP_MAIN_COUNT (main map for LXD)"
        # keep the file newline-terminated before appending
        [ -s "$f" ] && [ -n "$(tail -c1 "$f")" ] && echo >>"$f"
        echo "root:$IDMAP_MAIN_START:$IDMAP_MAIN_COUNT" >>"$f"
        idmap_changed=1
    fi
    if ! subid_covers "$f" "$IDMAP_EXTRA_START" "$IDMAP_EXTRA_COUNT"; then
        log "$f: appending root:$IDMAP_EXTRA_START:$IDMAP_EXTRA_COUNT (host ids for raw.idmap)"
        [ -s "$f" ] && [ -n "$(tail -c1 "$f")" ] && echo >>"$f"
        echo "root:$IDMAP_EXTRA_START:$IDMAP_EXTRA_COUNT" >>"$f"
        idmap_changed=1
    fi
done
[ "$idmap_changed" = 1 ] || log "subuid/subgid already have root's ranges"

# Kernel limits LXD's production set-up asks for. Every container's systemd (and the
# workshop user's systemd --user) takes inotify instances and kernel keys, counted per host
# uid; with the defaults (128 instances, 200 keys) a few workshops at once exhaust them and
# the user session of the next one never starts. Only raised, never lowered; kept across
# reboots in /etc/sysctl.d.
SYSCTL_CONF=/etc/sysctl.d/90-workshop-lxd.conf
: >"$SYSCTL_CONF.tmp"
for kv in fs.inotify.max_user_instances=1048576 fs.inotify.max_user_watches=1048576 \
    fs.inotify.max_queued_events=1048576 kernel.keys.maxkeys=2000 kernel.keys.maxbytes=2000000; do
    key="${kv%%=*}" want="${kv#*=}"
    have="$(sysctl -n "$key" 2>/dev/null || echo 0)"
    if [ "$have" -lt "$want" ] 2>/dev/null; then
        sysctl -q -w "$key=$want" >/dev/null 2>&1 && log "sysctl $key: $have -> $want" ||
            log "cannot raise $key to $want (workshops may fail to start their user session)"
    fi
    echo "$key = $(sysctl -n "$key" 2>/dev/null || echo "$want")" >>"$SYSCTL_CONF.tmp"
done
mv "$SYSCTL_CONF.tmp" "$SYSCTL_CONF"

# ---------------------------------------------------------------------------------------
# 3. LXD daemon
# ---------------------------------------------------------------------------------------
if "$SCRIPT_DIR/lxd-ctl.sh" status >/dev/null 2>&1; then
    if [ "$idmap_changed" = 1 ]; then
        log "restarting LXD so it picks up the new subuid/subgid ranges"
        "$SCRIPT_DIR/lxd-ctl.sh" restart
    else
        log "LXD running"
    fi
else
    "$SCRIPT_DIR/lxd-ctl.sh" start
fi

P=(--project default)
lxc_json() { lxc query "$1" 2>/dev/null; }

# ---------------------------------------------------------------------------------------
# 4a. storage pool + default profile
# ---------------------------------------------------------------------------------------
if lxc storage show "$POOL" >/dev/null 2>&1; then
    log "storage pool $POOL exists ($(lxc_json "/1.0/storage-pools/$POOL" | jq -r .driver))"
else
    driver=btrfs
    if command -v zpool >/dev/null 2>&1 &&
        { [ -d /sys/module/zfs ] || modprobe zfs >/dev/null 2>&1; }; then
        driver=zfs
    fi
    log "creating storage pool $POOL ($driver, loop file, $POOL_SIZE)"
    lxc storage create "$POOL" "$driver" size="$POOL_SIZE" >/dev/null
fi

profile_json="$(lxc_json "/1.0/profiles/default?project=default")"
if [ "$(jq '[.devices[]? | select(.type == "disk" and .path == "/")] | length' <<<"$profile_json")" = 0 ]; then
    dev=root
    jq -e '.devices | has("root")' <<<"$profile_json" >/dev/null && dev=workshop-root
    log "default profile: adding root disk ($dev) on pool $POOL"
    lxc profile device add default "$dev" disk path=/ pool="$POOL" "${P[@]}" >/dev/null
fi

# ---------------------------------------------------------------------------------------
# 4b. bridge
# ---------------------------------------------------------------------------------------
ip2int() {
    local IFS=. a b c d
    read -r a b c d <<<"$1"
    echo $(( (a << 24) | (b << 16) | (c << 8) | d ))
}
# Do CIDRs $1 and $2 overlap?
cidr_overlap() {
    local n1=${1%/*} l1=32 n2=${2%/*} l2=32 l mask
    [[ $1 == */* ]] && l1=${1#*/}
    [[ $2 == */* ]] && l2=${2#*/}
    l=$(( l1 < l2 ? l1 : l2 ))
    mask=$(( l == 0 ? 0 : (0xFFFFFFFF << (32 - l)) & 0xFFFFFFFF ))
    [ $(( $(ip2int "$n1") & mask )) = $(( $(ip2int "$n2") & mask )) ]
}
# All IPv4 prefixes the host uses (routes in every table + addresses), except default routes.
host_prefixes() {
    {
        ip -4 route show table all 2>/dev/null | awk '{ print ($1 == "broadcast" || $1 == "local" || $1 == "unicast") ? $2 : $1 }'
        ip -4 -o addr show 2>/dev/null | awk '{ print $4 }'
    } | grep -E '^[0-9]+(\.[0-9]+){3}(/[0-9]+)?$' | sort -u
}
subnet_free() {
    local cand=$1 p
    while read -r p; do
        [ -n "$p" ] || continue
        if cidr_overlap "$cand" "$p"; then return 1; fi
    done < <(host_prefixes)
    return 0
}

if lxc network show "$BRIDGE" >/dev/null 2>&1 &&
    [ "$(lxc_json "/1.0/networks/$BRIDGE" | jq -r .managed)" = true ]; then
    log "network $BRIDGE exists ($(lxc_json "/1.0/networks/$BRIDGE" | jq -r '.config["ipv4.address"]'))"
else
    if ip link show "$BRIDGE" >/dev/null 2>&1; then
        die "host interface $BRIDGE exists but is not an LXD-managed network; not touching it"
    fi
    chosen=""
    if [ -n "${WORKSHOP_BRIDGE_SUBNET:-}" ]; then
        chosen="$WORKSHOP_BRIDGE_SUBNET"
        subnet_free "$chosen.0/24" || die "$chosen.0/24 clashes with a host route/address"
    else
        for n in 7 $(seq 8 254) $(seq 1 6); do
            if subnet_free "10.231.$n.0/24"; then chosen="10.231.$n"; break; fi
        done
        [ -n "$chosen" ] || die "no free 10.231.N.0/24 subnet for $BRIDGE"
    fi
    log "creating network $BRIDGE ($chosen.1/24, dns.domain=$DNS_DOMAIN, no NAT, no IPv6)"
    lxc network create "$BRIDGE" ipv4.address="$chosen.1/24" ipv4.nat=false \
        ipv6.address=none dns.domain="$DNS_DOMAIN" >/dev/null
fi

profile_json="$(lxc_json "/1.0/profiles/default?project=default")"
if [ "$(jq '[.devices[]? | select(.type == "nic")] | length' <<<"$profile_json")" = 0 ]; then
    dev=eth0
    jq -e '.devices | has("eth0")' <<<"$profile_json" >/dev/null && dev=workshop-eth0
    log "default profile: adding NIC $dev on $BRIDGE"
    lxc profile device add default "$dev" nic name=eth0 network="$BRIDGE" "${P[@]}" >/dev/null
fi

# ---------------------------------------------------------------------------------------
# 5. offline base image
# ---------------------------------------------------------------------------------------
case "$(dpkg --print-architecture)" in
    amd64) LXD_ARCH=x86_64 ;;
    arm64) LXD_ARCH=aarch64 ;;
    armhf) LXD_ARCH=armv7l ;;
    i386) LXD_ARCH=i686 ;;
    ppc64el) LXD_ARCH=ppc64le ;;
    s390x) LXD_ARCH=s390x ;;
    riscv64) LXD_ARCH=riscv64 ;;
    *) die "unsupported architecture $(dpkg --print-architecture)" ;;
esac
CACHE_DIR="$CACHE_ROOT/rev$IMAGE_REV-$IMAGE_SUITE-$LXD_ARCH"

# First Debian mirror from the apt sources that carries suite $IMAGE_SUITE with "main"
# (one-line .list format and deb822 .sources format); falls back to deb.debian.org.
find_mirror() {
    local f files=()
    [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && files+=("$f")
    done
    [ "${#files[@]}" -gt 0 ] || return 1
    for f in "${files[@]}"; do
        case "$f" in
            *.sources)
                # deb822: blank-line separated stanzas; continuation lines start with space.
                awk -v suite="$IMAGE_SUITE" '
                    function flush() {
                        if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " suite " ") && (" " comps " ") ~ / main /) {
                            n = split(uris, u, " ")
                            for (i = 1; i <= n; i++) if (u[i] ~ /^(https?|file):/) { print u[i]; exit }
                        }
                        types = uris = suites = comps = ""; enabled = "yes"; key = ""
                    }
                    BEGIN { enabled = "yes" }
                    /^[ \t]*#/ { next }
                    /^[ \t]*$/ { flush(); next }
                    /^[ \t]/ { if (key == "uris") uris = uris " " $0; next }
                    {
                        key = tolower(substr($0, 1, index($0, ":") - 1)); val = substr($0, index($0, ":") + 1)
                        gsub(/^[ \t]+|[ \t]+$/, "", val)
                        if (key == "types") types = val
                        else if (key == "uris") uris = val
                        else if (key == "suites") suites = val
                        else if (key == "components") comps = val
                        else if (key == "enabled") enabled = tolower(val)
                    }
                    END { flush() }' "$f"
                ;;
            *)
                awk -v suite="$IMAGE_SUITE" '
                    { sub(/#.*/, "") }
                    $1 == "deb" {
                        i = 2
                        if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                        uri = $i; s = $(i + 1)
                        main = 0
                        for (j = i + 2; j <= NF; j++) if ($j == "main") main = 1
                        if (s == suite && main && uri ~ /^(https?|file):/) { print uri; exit }
                    }' "$f"
                ;;
        esac
    done | head -n1
}

build_image() {
    local mirror build rootfs
    mirror="${WORKSHOP_DEBIAN_MIRROR:-$(find_mirror || true)}"
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
    mkdir -p "$CACHE_ROOT"
    build="$(mktemp -d "$CACHE_ROOT/build.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$build'; finish" EXIT
    rootfs="$build/rootfs"
    log "debootstrap $IMAGE_SUITE from $mirror (takes a minute; log: $build/debootstrap.log)"
    if ! debootstrap --variant=minbase --include="$IMAGE_PACKAGES" \
        "$IMAGE_SUITE" "$rootfs" "$mirror" >"$build/debootstrap.log" 2>&1; then
        tail -n 30 "$build/debootstrap.log" >&2
        [ -f "$rootfs/debootstrap/debootstrap.log" ] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
        die "debootstrap failed"
    fi

    log "configuring rootfs"
    cat >"$rootfs/etc/network/interfaces" <<'EOF'
# Written by Workshop's setup-lxd.sh
auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp
EOF
    # systemd-binfmt fails in unprivileged containers (-> "degraded"); mask it.
    mkdir -p "$rootfs/etc/systemd/system"
    ln -sfn /dev/null "$rootfs/etc/systemd/system/systemd-binfmt.service"
    # Placeholder hostname; LXD's templates (metadata.yaml) write the instance name.
    echo "workshop-base" >"$rootfs/etc/hostname"
    cat >"$rootfs/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	workshop-base

::1	localhost ip6-localhost ip6-loopback
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
EOF
    # Empty machine-id: every container generates its own on first boot.
    : >"$rootfs/etc/machine-id"
    rm -f "$rootfs/var/lib/dbus/machine-id"
    ln -s /etc/machine-id "$rootfs/var/lib/dbus/machine-id"
    # Do not ship the build host's resolver config; dhclient writes it from DHCP.
    rm -f "$rootfs/etc/resolv.conf"
    : >"$rootfs/etc/resolv.conf"
    # Slim down: downloaded .debs and apt lists are not needed in the image.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/debootstrap
    mkdir -p "$rootfs/var/lib/apt/lists/partial"

    mkdir -p "$build/meta/templates"
    cat >"$build/meta/metadata.yaml" <<EOF
architecture: $LXD_ARCH
creation_date: $(date +%s)
properties:
  os: debian
  release: $IMAGE_SUITE
  architecture: $LXD_ARCH
  description: "$IMAGE_DESCRIPTION"
  workshop.image_rev: "$IMAGE_REV"
templates:
  /etc/hostname:
    when:
      - create
      - copy
    create_only: false
    template: hostname.tpl
  /etc/hosts:
    when:
      - create
      - copy
    create_only: false
    template: hosts.tpl
EOF
    echo '{{ container.name }}' >"$build/meta/templates/hostname.tpl"
    cat >"$build/meta/templates/hosts.tpl" <<'EOF'
127.0.0.1	localhost
127.0.1.1	{{ container.name }}

::1	localhost ip6-localhost ip6-loopback
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
EOF

    log "packing image tarballs"
    tar -C "$build/meta" --numeric-owner -czf "$build/meta.tar.gz" metadata.yaml templates
    tar -C "$rootfs" --numeric-owner --xattrs --xattrs-include='*' -czf "$build/rootfs.tar.gz" .
    # LXD's fingerprint of a split image is sha256(metadata tarball || rootfs tarball).
    cat "$build/meta.tar.gz" "$build/rootfs.tar.gz" | sha256sum | cut -d' ' -f1 >"$build/fingerprint"

    rm -rf "$CACHE_DIR"
    mkdir -p "$CACHE_DIR"
    mv "$build/meta.tar.gz" "$build/rootfs.tar.gz" "$build/fingerprint" "$CACHE_DIR/"
    rm -rf "$build"
    trap finish EXIT
    log "cached image in $CACHE_DIR ($(du -sh "$CACHE_DIR/rootfs.tar.gz" | cut -f1))"
}

alias_target() {
    { lxc_json "/1.0/images/aliases/$1?project=default" || true; } | jq -r '.target // empty'
}
image_rev_of() {
    { lxc_json "/1.0/images/$1?project=default" || true; } | jq -r '.properties["workshop.image_rev"] // empty'
}
image_exists() {
    lxc_json "/1.0/images/$1?project=default" >/dev/null
}
# Point alias $1 at fingerprint $2: create it when missing; repoint it only when it currently
# points at an image this script built (carries workshop.image_rev).
ensure_alias() {
    local name=$1 fp=$2 cur
    cur="$(alias_target "$name")"
    if [ -z "$cur" ]; then
        lxc image alias create "$name" "$fp" "${P[@]}" >/dev/null
        log "alias $name -> ${fp:0:12}"
    elif [ "$cur" != "$fp" ]; then
        if [ -n "$(image_rev_of "$cur")" ]; then
            lxc query -X PUT "/1.0/images/aliases/$name?project=default" \
                -d "{\"target\": \"$fp\", \"description\": \"\"}" >/dev/null
            log "alias $name repointed ${cur:0:12} -> ${fp:0:12}"
        else
            log "WARNING: alias $name points at ${cur:0:12}, which this script did not build; leaving it"
        fi
    fi
}

current="$(alias_target "$IMAGE_ALIAS")"
cached_fp=""
[ -f "$CACHE_DIR/fingerprint" ] && [ -f "$CACHE_DIR/rootfs.tar.gz" ] && [ -f "$CACHE_DIR/meta.tar.gz" ] &&
    cached_fp="$(cat "$CACHE_DIR/fingerprint")"

if [ -n "$current" ] && { [ "$current" = "$cached_fp" ] ||
    { [ -z "$cached_fp" ] && [ "$(image_rev_of "$current")" = "$IMAGE_REV" ]; }; }; then
    fp="$current"
    log "image $IMAGE_ALIAS present (${fp:0:12}, rev $IMAGE_REV)"
else
    if [ -z "$cached_fp" ]; then
        build_image
        cached_fp="$(cat "$CACHE_DIR/fingerprint")"
    else
        log "using cached image build ${cached_fp:0:12}"
    fi
    fp="$cached_fp"
    if ! image_exists "$fp"; then
        log "importing image ${fp:0:12}"
        out="$(lxc image import "$CACHE_DIR/meta.tar.gz" "$CACHE_DIR/rootfs.tar.gz" "${P[@]}" 2>&1)" ||
            die "image import failed: $out"
        image_exists "$fp" || die "imported image fingerprint does not match $fp: $out"
    fi
    old="$current"
    ensure_alias "$IMAGE_ALIAS" "$fp"
    [ "$(alias_target "$IMAGE_ALIAS")" = "$fp" ] || die "alias $IMAGE_ALIAS does not point at $fp"
fi
for a in "${EXTRA_ALIASES[@]}"; do
    ensure_alias "$a" "$fp"
done
# Remove a superseded image of ours once no alias points at it any more.
if [ -n "${old:-}" ] && [ "$old" != "$fp" ] && [ -n "$(image_rev_of "$old")" ] &&
    [ "$({ lxc_json "/1.0/images/$old?project=default" || true; } | jq '.aliases | length')" = 0 ]; then
    log "deleting superseded image ${old:0:12}"
    lxc image delete "$old" "${P[@]}" || true
fi

log "ready: pool $POOL, network $BRIDGE ($(lxc_json "/1.0/networks/$BRIDGE" | jq -r '.config["ipv4.address"]')), image $IMAGE_ALIAS = ${fp:0:12}"
