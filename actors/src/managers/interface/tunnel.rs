//! The tunnel interface's devices (reference-inventory §4.1, `tunnel`): an LXD proxy device
//! per connection, with every endpoint form of the reference: ports, `host:port`, unix socket
//! paths (`$HOME/...`, `$XDG_RUNTIME_DIR/...`, absolute) and abstract `@name` sockets.
//!
//! A unix socket path on the host is the user's: LXD (root) never creates anything there.
//! For a tunnel listening on the host, LXD listens on a socket in a root-owned directory
//! (`<run>/tunnels/<uid>/<hash>.sock`, directories `0711`, the socket the user's, `0600`) and
//! the daemon, as the user, puts a symlink to it at the path the user named (which must be
//! under their home or `/run/user/<uid>`); a tunnel connecting to a socket on the host does
//! it with the user's ids (`security.uid`/`security.gid`). The symlinks made are recorded in
//! the instance's config (`user.workshop.host-sockets`), so they are removed when the tunnel
//! goes, and only if they still point where the daemon put them.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha3::{Digest, Sha3_256};
use workshop_api::sdk::tunnel::TunnelEndpoint;

use super::handlers::Env;
use super::policy::{self, Direction};
use super::repo::Endpoint;
use crate::backend::{Device, GetInstance, SetConfig};
use crate::managers::UserRef;
use crate::managers::task::TaskTarget;
use crate::userfs::{self, Dir, UserFsError};

/// The instance config key recording the socket links made on the host (JSON).
pub const LINKS_KEY: &str = "user.workshop.host-sockets";
/// The workshop user's home and runtime directory, for guest-side socket paths.
const GUEST_HOME: &str = "/home/workshop";
const GUEST_RUNTIME: &str = "/run/user/1000";

/// Whether the tunnel between `plug` and `slot` can be made here (they pair).
pub fn is_built(plug: &Endpoint, slot: &Endpoint) -> bool {
    policy::tunnel_pair(plug, slot).is_ok()
}

/// What the host side of a workshop's tunnels needs: the user, their home, and where LXD
/// listens for the sockets the user names on the host.
#[derive(Debug, Clone)]
pub struct HostSide {
    pub uid: u32,
    pub gid: u32,
    pub home: Option<PathBuf>,
    /// `<run>/tunnels/<uid>`.
    pub sockets_dir: PathBuf,
    /// `<pid>/<workshop>`, which makes the staged socket names of one workshop its own.
    pub workshop: String,
}

impl HostSide {
    /// The host side of `t`'s tunnels, with sockets staged under `tunnels_dir`.
    pub fn of(t: &TaskTarget, tunnels_dir: &Path) -> HostSide {
        HostSide {
            uid: t.user.uid,
            gid: t.user.gid,
            home: t.user.home(),
            sockets_dir: tunnels_dir.join(t.user.uid.to_string()),
            workshop: format!("{}/{}", t.project_id, t.name),
        }
    }

    /// Where LXD listens for the host socket of device `device`.
    pub fn staged_socket(&self, device: &str) -> PathBuf {
        let digest = Sha3_256::digest(format!("{}/{device}", self.workshop).as_bytes());
        let name: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        self.sockets_dir.join(format!("{name}.sock"))
    }
}

/// Where the tunnel directories are: `<run>/tunnels` next to `<run>/mounts`.
pub fn tunnels_dir(mounts_dir: &Path) -> PathBuf {
    mounts_dir.with_file_name("tunnels")
}

/// A symlink the daemon puts, as the user, at a socket path the user named on the host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SocketLink {
    pub path: PathBuf,
    pub target: PathBuf,
}

/// A tunnel's proxy device, and the link its host side needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelDevice {
    pub device: Device,
    pub link: Option<SocketLink>,
}

/// The variable a path starting with `$` names (not `$HOME` nor `$XDG_RUNTIME_DIR`).
fn unknown_variable(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('$')?;
    Some(rest.split('/').next().unwrap_or(rest).trim_matches(|c| c == '{' || c == '}'))
}

/// Expands a unix socket path of the host: `$HOME` is the user's home, `$XDG_RUNTIME_DIR`
/// `/run/user/<uid>`; the result must be a plain absolute path under one of them.
pub fn host_path(text: &str, uid: u32, home: Option<&Path>) -> Result<PathBuf, String> {
    let runtime = PathBuf::from(format!("/run/user/{uid}"));
    let cannot = |why: &str| format!("cannot use socket path {text:?}: {why}");
    let home_dir = || home.map(Path::to_path_buf).ok_or_else(|| cannot("the user has no home directory"));
    let path = if let Some(rest) = text.strip_prefix("$HOME") {
        home_dir()?.join(rest.trim_start_matches('/'))
    } else if let Some(rest) = text.strip_prefix("$XDG_RUNTIME_DIR") {
        runtime.join(rest.trim_start_matches('/'))
    } else if let Some(variable) = unknown_variable(text) {
        return Err(cannot(&format!("unexpected variable {variable:?}")));
    } else {
        PathBuf::from(text)
    };
    if !path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(cannot("not a plain absolute path"));
    }
    let inside = |dir: &Path| path.starts_with(dir) && path != dir;
    if !(inside(&runtime) || home.is_some_and(inside)) {
        return Err(format!(
            "cannot create socket {text:?} for security reasons: a socket on the host must be in the user's home or /run/user/<uid>"
        ));
    }
    Ok(path)
}

/// Expands a unix socket path of the workshop: `$HOME` is `/home/workshop`,
/// `$XDG_RUNTIME_DIR` `/run/user/1000`.
pub fn guest_path(text: &str) -> Result<String, String> {
    let expanded = if let Some(rest) = text.strip_prefix("$HOME") {
        format!("{GUEST_HOME}{rest}")
    } else if let Some(rest) = text.strip_prefix("$XDG_RUNTIME_DIR") {
        format!("{GUEST_RUNTIME}{rest}")
    } else if let Some(variable) = unknown_variable(text) {
        return Err(format!("cannot use socket path {text:?}: unexpected variable {variable:?}"));
    } else {
        text.to_string()
    };
    Ok(expanded)
}

/// `tcp:127.0.0.1:80`, `udp:[::1]:53`.
fn inet_address(e: &TunnelEndpoint) -> Option<String> {
    let TunnelEndpoint::Inet { ip, port: Some(port), .. } = e else { return None };
    let host = if ip.is_ipv6() { format!("[{ip}]") } else { ip.to_string() };
    Some(format!("{}:{host}:{port}", e.protocol()))
}

fn is_path(text: &str) -> bool {
    !text.starts_with('@')
}

/// The proxy device of a tunnel: a system plug listens on the host and connects inside the
/// workshop; a plug on a system slot listens inside and connects on the host. `device` is
/// the device's name (for the staged socket's); `host_port`, the port a host-side listener
/// was given instead of its own ([`super::ports`]).
pub fn device(
    plug: &Endpoint,
    slot: &Endpoint,
    device: &str,
    host: &HostSide,
    host_port: Option<u16>,
) -> Result<TunnelDevice, String> {
    let pair = policy::tunnel_pair(plug, slot)?.on_host_port(host_port);
    let mut out: Device = BTreeMap::from([("type".to_string(), "proxy".to_string())]);
    let mut set = |k: &str, v: String| {
        out.insert(k.to_string(), v);
    };
    let mut link = None;
    let (listen, connect) = match pair.direction {
        Direction::HostToWorkshop => {
            set("bind", "host".into());
            let listen = match &pair.listen {
                TunnelEndpoint::Unix(text) if is_path(text) => {
                    let path = host_path(text, host.uid, host.home.as_deref())?;
                    let staged = host.staged_socket(device);
                    set("uid", host.uid.to_string());
                    set("gid", host.gid.to_string());
                    set("mode", "0600".into());
                    link = Some(SocketLink { path, target: staged.clone() });
                    format!("unix:{}", staged.display())
                }
                TunnelEndpoint::Unix(text) => format!("unix:{text}"),
                e => inet_address(e).ok_or("the tunnel's port is unspecified")?,
            };
            let connect = match &pair.connect {
                TunnelEndpoint::Unix(text) => format!("unix:{}", guest_path(text)?),
                e => inet_address(e).ok_or("the tunnel's port is unspecified")?,
            };
            (listen, connect)
        }
        Direction::WorkshopToHost => {
            set("bind", "instance".into());
            set("security.uid", host.uid.to_string());
            set("security.gid", host.gid.to_string());
            let listen = match &pair.listen {
                TunnelEndpoint::Unix(text) => {
                    if is_path(text) {
                        set("uid", "1000".into());
                        set("gid", "1000".into());
                    }
                    format!("unix:{}", guest_path(text)?)
                }
                e => inet_address(e).ok_or("the tunnel's port is unspecified")?,
            };
            let connect = match &pair.connect {
                TunnelEndpoint::Unix(text) if is_path(text) => {
                    format!("unix:{}", host_path(text, host.uid, host.home.as_deref())?.display())
                }
                TunnelEndpoint::Unix(text) => format!("unix:{text}"),
                e => inet_address(e).ok_or("the tunnel's port is unspecified")?,
            };
            (listen, connect)
        }
    };
    set("listen", listen);
    set("connect", connect);
    Ok(TunnelDevice { device: out, link })
}

/// Makes the root-owned directory LXD listens in for `host`'s sockets (`0711`: the user
/// reaches their socket through it, nobody lists it).
pub fn prepare_sockets_dir(host: &HostSide) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let cannot = |e: std::io::Error| format!("cannot create {}: {e}", host.sockets_dir.display());
    std::fs::DirBuilder::new().recursive(true).mode(0o711).create(&host.sockets_dir).map_err(cannot)?;
    let mut dir = host.sockets_dir.clone();
    // The user's directory, the tunnels directory and the run directory above them (which
    // other daemon directories may have created `0700`): the daemon's own, reachable by all,
    // listed by none.
    for level in 0..3 {
        let meta = std::fs::symlink_metadata(&dir).map_err(cannot)?;
        use std::os::unix::fs::MetadataExt;
        if !meta.is_dir() || meta.uid() != nix_uid() {
            return Err(format!("cannot use {}: not a directory of the daemon's", dir.display()));
        }
        let mode = if level < 2 { 0o711 } else { meta.mode() & 0o7777 | 0o011 };
        if meta.mode() & 0o7777 != mode {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).map_err(cannot)?;
        }
        dir.pop();
    }
    Ok(())
}

/// The daemon's own uid.
fn nix_uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// Puts `link` in place as `user`: a symlink at the path they named, to the staged socket;
/// one already pointing there is fine, anything else there is an error.
async fn make_link(user: &UserRef, link: SocketLink) -> Result<(), String> {
    let shown = link.path.clone();
    userfs::as_user(user, move || -> Result<(), UserFsError> {
        let (Some(parent), Some(name)) = (link.path.parent(), link.path.file_name()) else {
            return Err(UserFsError::BadName { path: link.path.clone() });
        };
        let name = name.to_string_lossy().into_owned();
        let dir = Dir::open(parent)?;
        if dir.kind(&name)? == Some(userfs::Kind::Symlink) && Path::new(&dir.read_link(&name)?) == link.target
        {
            return Ok(());
        }
        dir.symlink(&name, &link.target)
    })
    .await
    .map_err(|e| format!("cannot listen on {}: {e}", shown.display()))
}

/// Removes `link` as `user`, if it still points to the staged socket.
async fn remove_link(user: &UserRef, link: SocketLink) -> Result<(), String> {
    let shown = link.path.clone();
    userfs::as_user(user, move || -> Result<(), UserFsError> {
        let (Some(parent), Some(name)) = (link.path.parent(), link.path.file_name()) else { return Ok(()) };
        let dir = match Dir::open(parent) {
            Ok(dir) => dir,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        dir.remove_link_to(&name.to_string_lossy(), &link.target).map(|_| ())
    })
    .await
    .map_err(|e| format!("cannot remove {}: {e}", shown.display()))
}

/// Removes `target`, a socket LXD listened on in the daemon's `sockets_dir` (anything else
/// there, or elsewhere, is left alone).
fn remove_staged_socket(sockets_dir: &Path, target: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    if target.parent() != Some(sockets_dir) {
        return Ok(());
    }
    match std::fs::symlink_metadata(target) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(target),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The links recorded in an instance's config.
pub fn recorded(config: &BTreeMap<String, String>) -> Vec<SocketLink> {
    config.get(LINKS_KEY).and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default()
}

/// Makes the host's socket links exactly `wanted` (after LXD listens on their targets):
/// those no longer wanted go, the wanted ones are made, and what is made is recorded.
pub async fn apply_links(env: &Env, t: &TaskTarget, wanted: &[SocketLink]) -> Result<(), String> {
    let Some(instance) = env.call(GetInstance { target: t.backend() }).await? else { return Ok(()) };
    let before = recorded(&instance.config);
    if before.is_empty() && wanted.is_empty() {
        return Ok(());
    }
    let sockets_dir = HostSide::of(t, &tunnels_dir(&env.mounts_dir)).sockets_dir;
    for link in before.iter().filter(|l| !wanted.contains(l)) {
        if let Err(e) = remove_link(&t.user, link.clone()).await {
            tracing::warn!(workshop = %t.name, error = %e, "cannot remove a tunnel's socket link");
        }
        // LXD leaves the socket it listened on behind.
        if let Err(e) = remove_staged_socket(&sockets_dir, &link.target) {
            tracing::warn!(workshop = %t.name, error = %e, "cannot remove a tunnel's socket");
        }
    }
    let mut made = Vec::new();
    let mut failed = None;
    for link in wanted {
        match make_link(&t.user, link.clone()).await {
            Ok(()) => made.push(link.clone()),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let value =
        (!made.is_empty()).then(|| serde_json::to_string(&made)).transpose().map_err(|e| e.to_string())?;
    env.call(SetConfig { target: t.backend(), changes: vec![(LINKS_KEY.to_string(), value)] }).await?;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn tunnel(sdk: &str, name: &str, endpoint: &str) -> Endpoint {
        let normal = TunnelEndpoint::parse(endpoint).unwrap().to_string();
        Endpoint {
            sdk: sdk.into(),
            name: name.into(),
            interface: "tunnel".into(),
            label: None,
            attrs: BTreeMap::from([("endpoint".to_string(), Value::from(normal))]),
            system: sdk == "system",
        }
    }

    fn host() -> HostSide {
        HostSide {
            uid: 1100,
            gid: 1100,
            home: Some("/home/u".into()),
            sockets_dir: "/var/lib/workshop/run/tunnels/1100".into(),
            workshop: "0123abcd/ws".into(),
        }
    }

    fn dev(plug: Endpoint, slot: Endpoint) -> TunnelDevice {
        device(&plug, &slot, "dev_x", &host(), None).unwrap()
    }

    #[test]
    fn proxy_devices_both_ways() {
        let d = dev(tunnel("system", "web", "127.0.0.1:8989"), tunnel("web", "http", "8080")).device;
        assert_eq!(d["bind"], "host");
        assert_eq!(d["listen"], "tcp:127.0.0.1:8989");
        assert_eq!(d["connect"], "tcp:127.0.0.1:8080");
        assert!(!d.contains_key("security.uid"));
        let d = dev(tunnel("dev", "postgres", "5432"), tunnel("system", "postgres", "54321")).device;
        assert_eq!((d["bind"].as_str(), d["listen"].as_str()), ("instance", "tcp:127.0.0.1:5432"));
        assert_eq!(d["connect"], "tcp:127.0.0.1:54321");
        assert_eq!((d["security.uid"].as_str(), d["security.gid"].as_str()), ("1100", "1100"));
        let d = dev(tunnel("system", "t", "tcp"), tunnel("dev", "http", "[::1]:8000")).device;
        assert_eq!((d["listen"].as_str(), d["connect"].as_str()), ("tcp:127.0.0.1:8000", "tcp:[::1]:8000"));
        let d = dev(tunnel("system", "u", "1053/udp"), tunnel("dev", "dns", "udp")).device;
        assert_eq!(
            (d["listen"].as_str(), d["connect"].as_str()),
            ("udp:127.0.0.1:1053", "udp:127.0.0.1:1053")
        );
    }

    #[test]
    fn unix_sockets_of_every_form() {
        // An abstract socket on the host, a port inside (C-17's auto-connect-by-name).
        let d = dev(tunnel("system", "acbn", "@workshopacbn"), tunnel("dev", "acbn", "9999"));
        assert_eq!(d.device["listen"], "unix:@workshopacbn");
        assert_eq!(d.device["connect"], "tcp:127.0.0.1:9999");
        assert_eq!(d.link, None);
        // A path on the host: LXD listens on a staged socket, the user's path links to it.
        let d = dev(tunnel("system", "u", "$HOME/t.sock"), tunnel("dev", "u", "@abstract"));
        let staged = host().staged_socket("dev_x");
        assert!(staged.starts_with("/var/lib/workshop/run/tunnels/1100/"), "{staged:?}");
        assert!(staged.as_os_str().len() < 108, "a socket path fits sun_path");
        assert_eq!(d.device["listen"], format!("unix:{}", staged.display()));
        assert_eq!((d.device["uid"].as_str(), d.device["mode"].as_str()), ("1100", "0600"));
        assert_eq!(d.device["connect"], "unix:@abstract");
        assert_eq!(d.link, Some(SocketLink { path: "/home/u/t.sock".into(), target: staged }));
        assert_ne!(host().staged_socket("dev_y"), host().staged_socket("dev_x"));
        // Inside, paths expand to the workshop user's.
        let d = dev(tunnel("dev", "s", "$XDG_RUNTIME_DIR/s.sock"), tunnel("system", "s", "$HOME/host.sock"));
        assert_eq!(d.device["listen"], "unix:/run/user/1000/s.sock");
        assert_eq!(d.device["uid"], "1000");
        assert_eq!(d.device["connect"], "unix:/home/u/host.sock");
        assert_eq!(d.device["security.uid"], "1100");
        assert_eq!(d.link, None, "connecting makes nothing on the host");
        let d = dev(tunnel("system", "p", "8700"), tunnel("dev", "p", "$HOME/app.sock"));
        assert_eq!(d.device["connect"], "unix:/home/workshop/app.sock");
    }

    #[test]
    fn socket_directories_are_reachable_but_not_listed() {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let base = tempfile::tempdir().unwrap();
        let run = base.path().join("run");
        std::fs::DirBuilder::new().mode(0o700).create(&run).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
        let side = HostSide { sockets_dir: run.join("tunnels/1100"), ..host() };
        prepare_sockets_dir(&side).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&side.sockets_dir), 0o711);
        assert_eq!(mode(&run.join("tunnels")), 0o711);
        assert_eq!(mode(&run), 0o711);
        prepare_sockets_dir(&side).unwrap();
        // A symlink in the daemon's place is refused.
        let link = base.path().join("run2");
        std::os::unix::fs::symlink(&run, &link).unwrap();
        let side = HostSide { sockets_dir: link.join("tunnels/1100"), ..host() };
        assert!(prepare_sockets_dir(&side).unwrap_err().contains("not a directory of the daemon's"));
    }

    #[test]
    fn only_sockets_in_the_users_directory_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("tunnels/1100");
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("a.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let file = dir.join("b.sock");
        std::fs::write(&file, "").unwrap();
        let elsewhere = tmp.path().join("c.sock");
        let _other = std::os::unix::net::UnixListener::bind(&elsewhere).unwrap();
        for target in [&socket, &file, &elsewhere, &dir.join("gone.sock")] {
            remove_staged_socket(&dir, target).unwrap();
        }
        assert!(!socket.exists() && file.exists() && elsewhere.exists());
    }

    #[test]
    fn host_socket_paths_stay_the_users() {
        let home = Some(Path::new("/home/u"));
        assert_eq!(host_path("$HOME/a.sock", 1100, home).unwrap(), Path::new("/home/u/a.sock"));
        assert_eq!(host_path("$XDG_RUNTIME_DIR/a", 1100, home).unwrap(), Path::new("/run/user/1100/a"));
        assert_eq!(host_path("/home/u/x/y.sock", 1100, home).unwrap(), Path::new("/home/u/x/y.sock"));
        for bad in ["/etc/a.sock", "$HOME/../v/a", "/home/u", "$SHELL/a", "/run/user/1101/a", "/home/uv/a"] {
            assert!(host_path(bad, 1100, home).is_err(), "{bad}");
        }
        assert!(host_path("$HOME/a", 1100, None).is_err());
        // The reference's words for a variable it does not know and a path outside.
        assert!(host_path("$FOO/x.sock", 1100, home).unwrap_err().ends_with(r#"unexpected variable "FOO""#));
        assert!(guest_path("${BAR}/x").unwrap_err().ends_with(r#"unexpected variable "BAR""#));
        assert!(
            host_path("/tmp/x.sock", 1100, home)
                .unwrap_err()
                .starts_with(r#"cannot create socket "/tmp/x.sock" for security reasons"#)
        );
        let refused =
            device(&tunnel("system", "u", "/etc/evil.sock"), &tunnel("dev", "u", "9000"), "d", &host(), None);
        assert!(refused.unwrap_err().contains("must be in the user's home"));
    }
}
