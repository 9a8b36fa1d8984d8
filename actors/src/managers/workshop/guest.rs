//! What the daemon does inside a new workshop in place of cloud-init: the `workshop` user
//! (uid/gid 1000, passwordless sudo, lingering session), the directories the daemon and hooks
//! rely on, `workshopctl` on the PATH, and the host's time zone.

/// Where the untrusted socket appears inside a workshop (a link into [`GUEST_BIN`]).
pub const GUEST_SOCKET: &str = "/var/lib/workshop/run/workshop.socket.untrusted";
/// Where the host directory shared with every workshop is mounted (read-only): it holds
/// `workshopctl`, `workshop-exec` and a listener of the untrusted API named
/// [`SHARED_SOCKET_NAME`].
pub use workshop_api::exec::GUEST_BIN;
/// The file name of the untrusted socket in the shared directory. A bind mount of the
/// directory (not of the socket) keeps working when the daemon re-creates the socket, and
/// unlike an LXD proxy device it costs nothing when a workshop starts.
pub const SHARED_SOCKET_NAME: &str = "workshop.socket.untrusted";
/// Where the apt archive cache is mounted.
pub const GUEST_APT_CACHE: &str = "/var/cache/apt/archives";
/// Supplementary groups of the guest user, for GPU access on hosts whose render/video groups
/// use these ids (reference compatibility).
const COMPAT_GIDS: &[u32] = &[109, 110, 990, 992];

/// Idempotent provisioning, run as root after every start while the guest still boots:
/// the `workshop` user and its groups, sudo, directories, links, and lingering (the linger
/// file makes logind start the user session as soon as it runs).
pub fn provision_script() -> String {
    let gids: Vec<String> = COMPAT_GIDS.iter().map(u32::to_string).collect();
    format!(
        r#"set -eu
getent group 1000 >/dev/null || groupadd --gid 1000 workshop
id -u workshop >/dev/null 2>&1 || useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash workshop
groups=sudo
for gid in {gids}; do
  getent group "$gid" >/dev/null || groupadd --gid "$gid" "workshop-compat-$gid"
  groups="$groups,$(getent group "$gid" | cut -d: -f1)"
done
usermod -a -G "$groups" workshop
printf 'workshop ALL=(ALL) NOPASSWD:ALL\n' > /etc/sudoers.d/90-workshop
chmod 0440 /etc/sudoers.d/90-workshop
mkdir -p /project /var/lib/workshop/run/actions /var/lib/workshop/state {apt} /var/lib/systemd/linger
install -d -o workshop -g workshop /home/workshop/.local /home/workshop/.local/bin /home/workshop/.local/share /home/workshop/.config /home/workshop/.cache
ln -sf {bin}/workshopctl /usr/local/bin/workshopctl
ln -sfn {bin}/{socket_name} {socket}
touch /var/lib/systemd/linger/workshop
"#,
        gids = gids.join(" "),
        apt = GUEST_APT_CACHE,
        bin = GUEST_BIN,
        socket_name = SHARED_SOCKET_NAME,
        socket = GUEST_SOCKET,
    )
}

/// Run once the init system is up: makes sure the lingering session of `workshop` runs
/// (logind may have started before the linger file existed) and waits for its bus.
pub fn session_script() -> &'static str {
    r#"set -eu
[ -S /run/user/1000/bus ] && exit 0
loginctl enable-linger workshop
for _ in $(seq 1 200); do
  [ -S /run/user/1000/bus ] && exit 0
  sleep 0.05
done
echo "the user session of workshop did not start" >&2
exit 1
"#
}

/// Script setting the guest's time zone to `zone` (e.g. `Pacific/Auckland`).
pub fn timezone_script(zone: &str) -> String {
    let zone = shell_quote(zone);
    format!(
        "set -eu\nz={zone}\n[ -e \"/usr/share/zoneinfo/$z\" ] || {{ echo \"unknown time zone $z\" >&2; exit 3; }}\n\
         ln -sf \"/usr/share/zoneinfo/$z\" /etc/localtime\necho \"$z\" > /etc/timezone\n"
    )
}

/// The host's time zone: `/etc/timezone`, else the target of `/etc/localtime`, else `TZ`.
pub fn host_timezone() -> Option<String> {
    if let Ok(text) = std::fs::read_to_string("/etc/timezone") {
        let zone = text.trim();
        if !zone.is_empty() {
            return Some(zone.to_string());
        }
    }
    if let Ok(target) = std::fs::read_link("/etc/localtime") {
        let target = target.to_string_lossy().into_owned();
        if let Some((_, zone)) = target.split_once("zoneinfo/") {
            return Some(zone.to_string());
        }
    }
    std::env::var("TZ").ok().map(|z| z.trim_start_matches(':').to_string()).filter(|z| !z.is_empty())
}

/// Single-quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }

    #[test]
    fn provisioning_covers_the_guest_contract() {
        let s = provision_script();
        for needle in [
            "useradd --uid 1000",
            "NOPASSWD",
            "/var/lib/systemd/linger/workshop",
            "/usr/local/bin/workshopctl",
            "990",
            "/var/lib/workshop/bin/workshop.socket.untrusted /var/lib/workshop/run/workshop.socket.untrusted",
        ] {
            assert!(s.contains(needle), "missing {needle}");
        }
    }

    #[test]
    fn the_session_is_awaited_after_boot() {
        assert!(session_script().contains("enable-linger workshop"));
        assert!(session_script().contains("/run/user/1000/bus"));
    }

    #[test]
    fn timezone_script_rejects_unknown_zones_in_the_guest() {
        assert!(timezone_script("Pacific/Auckland").contains("'Pacific/Auckland'"));
    }
}
