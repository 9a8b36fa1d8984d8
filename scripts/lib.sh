# Shared by demo.sh, test-all.sh and bench.sh (sourced, not run).

log() { echo "workshop: $*" >&2; }
die() { echo "workshop: ERROR: $*" >&2; exit 1; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="${HOME:-/root}/.cargo/bin:${CARGO_HOME:-/root/.cargo}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"

require_root() {
    [ "$(id -u)" = 0 ] || die "run as root (LXD and the daemon need it), e.g. from a root shell: bash $0"
}

require_cargo() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install a Rust toolchain (1.85 or newer)"
}

# ensure_user NAME: an unprivileged host user with a home, within the uid range that
# setup-lxd.sh lets LXD map into containers (1000-1199).
ensure_user() {
    local name=$1 uid
    if ! id -u "$name" >/dev/null 2>&1; then
        uid=1100
        while getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null; do
            uid=$((uid + 1))
        done
        [ "$uid" -lt 1200 ] || die "no free uid in 1100-1199 for $name"
        groupadd --gid "$uid" "$name"
        useradd --uid "$uid" --gid "$uid" --create-home --shell /bin/bash "$name"
        log "created user $name (uid $uid)"
    fi
    uid=$(id -u "$name")
    [ "$uid" -ge 1000 ] && [ "$uid" -lt 1200 ] || die "user $name has uid $uid, outside 1000-1199"
}
