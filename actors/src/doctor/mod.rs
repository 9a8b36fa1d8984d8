//! `workshop doctor`, the host's side: the id map LXD needs for the caller's workshops
//! (`/etc/subuid`, `/etc/subgid`), firewall rules that would cut `workshopbr0` off (Docker's
//! FORWARD policy, UFW), the kernel's inotify and key limits, and the socket workshops reach
//! the daemon on. LXD's side is the
//! backend's (`backend/lxd/doctor.rs`). Every check reads; [`fix`] applies the safe fixes
//! (appending id ranges for root, accepting the bridge's traffic), as root.

mod command;
mod firewall;
mod hostdns;
mod idmap;
mod limits;

use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use workshop_api::doctor::{Check, CheckStatus};

pub use command::run_bounded;
pub use firewall::WARNING_START as FIREWALL_WARNING_START;
pub use hostdns::{HostDnsError, configure as configure_host_dns};

/// The warning every user sees when the host's firewall drops what `bridge` routes (the
/// reference's start-up check); `None` when nothing does. Blocking (runs nft and iptables).
pub fn firewall_warning(bridge: &str) -> Option<String> {
    firewall::warning_text(&firewall::forward_rules(), bridge)
}

/// What `workshop doctor` asks of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostQuery {
    /// The caller's uid and gid (the host ids their workshops map to 1000).
    pub uid: u32,
    pub gid: u32,
    /// The socket workshops reach the daemon on.
    pub guest_socket: Option<PathBuf>,
    /// Apply the safe fixes first (root only: the API checks).
    pub fix: bool,
}

/// What the host checks look at.
#[derive(Debug, Clone)]
pub struct HostSetup {
    pub uid: u32,
    pub gid: u32,
    /// Workshop's bridge.
    pub bridge: String,
    /// The bridge's IPv4 address (its dnsmasq), when it has one.
    pub bridge_address: Option<String>,
    pub guest_socket: Option<PathBuf>,
    /// Whether LXD is the snap (which maps ids itself, without `/etc/subuid`).
    pub snap_lxd: bool,
}

/// The host checks, after the fixes when asked for: a fix that failed says why in its
/// check's message. Blocking (files, commands).
pub fn examine(setup: &HostSetup, fix_first: bool) -> Vec<Check> {
    let mut failures = Vec::new();
    if fix_first {
        failures = fix(setup, &host_checks(setup));
    }
    let mut checks = host_checks(setup);
    for (name, why) in failures {
        if let Some(check) = checks.iter_mut().find(|c| c.name == name) {
            check.message = format!("{} (the fix failed: {why})", check.message);
        }
    }
    checks
}

/// The host checks: `id-map`, `firewall`, `host-dns`, `kernel-limits`, `guest-socket`. Blocking (files, commands).
pub fn host_checks(setup: &HostSetup) -> Vec<Check> {
    let id_map = if setup.uid == 0 {
        Check::new("id-map", CheckStatus::Skipped, "root does not launch workshops")
    } else if setup.snap_lxd {
        Check::ok("id-map", "the LXD snap maps the ids of workshops itself")
    } else {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        idmap::check(&read(idmap::SUBUID), &read(idmap::SUBGID), setup.uid, setup.gid)
    };
    vec![
        id_map,
        firewall::check(&setup.bridge),
        hostdns::check(&setup.bridge, setup.bridge_address.as_deref()),
        limits::check(),
        guest_socket(setup.guest_socket.as_deref()),
    ]
}

/// Applies the fixes of the checks that are fixable and not ok; the checks whose fix could
/// not be applied, and why.
fn fix(setup: &HostSetup, checks: &[Check]) -> Vec<(String, String)> {
    let mut failures = Vec::new();
    for check in checks.iter().filter(|c| c.fixable && c.status != CheckStatus::Ok) {
        let result = match check.name.as_str() {
            "id-map" => idmap::fix(setup.uid, setup.gid),
            "firewall" => firewall::fix(&setup.bridge),
            "host-dns" => hostdns::fix(&setup.bridge, setup.bridge_address.as_deref()),
            "kernel-limits" => limits::fix(),
            _ => Ok(()),
        };
        if let Err(why) = result {
            failures.push((check.name.clone(), why));
        }
    }
    failures
}

/// Whether the guest socket exists and accepts connections.
fn guest_socket(path: Option<&Path>) -> Check {
    let Some(path) = path else {
        return Check::new("guest-socket", CheckStatus::Skipped, "this daemon serves no guest socket");
    };
    let shown = path.display();
    let fix = "restart workshopd (systemctl restart workshopd.socket workshopd)";
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => Check::ok("guest-socket", format!("workshops reach the daemon at {shown}")),
            Err(e) => {
                Check::new("guest-socket", CheckStatus::Failed, format!("{shown} refuses connections: {e}"))
                    .fix(fix)
            }
        },
        Ok(_) => Check::new("guest-socket", CheckStatus::Failed, format!("{shown} is not a socket")).fix(fix),
        Err(e) => {
            Check::new("guest-socket", CheckStatus::Failed, format!("cannot find {shown}: {e}")).fix(fix)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    #[test]
    fn the_guest_socket_must_exist_and_listen() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("guest.socket");
        assert_eq!(guest_socket(Some(&path)).status, CheckStatus::Failed);
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(guest_socket(Some(&path)).status, CheckStatus::Ok);
        drop(listener);
        let refused = guest_socket(Some(&path));
        assert_eq!(refused.status, CheckStatus::Failed);
        assert!(refused.message.contains("refuses connections"), "{}", refused.message);
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "").unwrap();
        assert!(guest_socket(Some(&path)).message.ends_with("is not a socket"));
        assert_eq!(guest_socket(None).status, CheckStatus::Skipped);
    }

    #[test]
    fn root_has_no_id_map_to_check() {
        let setup = HostSetup {
            uid: 0,
            gid: 0,
            bridge: "br-none".into(),
            bridge_address: None,
            guest_socket: None,
            snap_lxd: false,
        };
        let checks = host_checks(&setup);
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id-map", "firewall", "host-dns", "kernel-limits", "guest-socket"]);
        assert_eq!(checks[0].status, CheckStatus::Skipped);
    }
}
