//! The host side of the desktop and ssh-agent interfaces: what the caller's session gives
//! (its variables, sent by the client with `workshop connect`, since the daemon cannot see the
//! user's session), checked as the user, and the files the workshop gets from it.
//!
//! Every host path comes from the user: the sockets and the X authority file are looked at
//! as the user (`userfs`), one component at a time, never through a symlink. LXD's proxy
//! devices then connect to the sockets as the user (`security.uid`/`security.gid`), so a
//! connection can never reach a socket the user could not. Files the guest reads (the
//! `profile.d` snippets, the copy of the X authority file) are the daemon's own, in a
//! root-only directory per workshop, mounted read-only into the guest by disk devices.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::backend::Device;
use crate::managers::UserRef;
use crate::managers::task::TaskTarget;
use crate::userfs::{self, Dir, UserFsError};

/// Session key: the host's Wayland socket (absolute).
pub const WAYLAND_SOCKET: &str = "wayland-socket";
/// Session key: the number of the host's local X display.
pub const X11_DISPLAY: &str = "x11-display";
/// Session key: the host's X authority file (absolute).
pub const XAUTHORITY: &str = "xauthority";
/// Session key: the host's ssh-agent socket (absolute).
pub const SSH_AUTH_SOCK: &str = "ssh-auth-sock";

/// Largest X authority file copied.
pub const MAX_XAUTHORITY: u64 = 64 << 10;
/// Longest host path taken from a session variable.
const MAX_PATH: usize = 4096;

/// The guest user the sockets are made for.
const GUEST_UID: &str = "1000";

/// A file the daemon keeps for a workshop's guest, by name in the workshop's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostFile {
    /// A `profile.d` snippet (root's, world-readable).
    Text { name: &'static str, text: String },
    /// A copy of the user's file at `from`, read as the user, the user's own (mode 0600).
    CopyOf { name: &'static str, from: String },
}

impl HostFile {
    fn name(&self) -> &'static str {
        match self {
            HostFile::Text { name, .. } | HostFile::CopyOf { name, .. } => name,
        }
    }
}

/// What a connect of `interface` keeps of the caller's session variables `env` (`user`: the
/// caller, for the default runtime directory and the messages); nothing for the other
/// interfaces.
pub fn of_request(
    interface: &str,
    env: &BTreeMap<String, String>,
    user: &crate::managers::UserRef,
) -> Result<BTreeMap<String, String>, String> {
    match interface {
        "desktop" => super::desktop::session(env, user.uid),
        "ssh-agent" => super::ssh_agent::session(env, &user.name),
        _ => Ok(BTreeMap::new()),
    }
}

/// `text` as a clean absolute path: no `.` or `..`, no NUL, bounded.
pub fn clean_path(what: &str, text: &str) -> Result<String, String> {
    let path = Path::new(text);
    let bad = || format!("{what} {:?} is not an absolute path", text.chars().take(64).collect::<String>());
    if text.len() > MAX_PATH || text.contains('\0') || !path.is_absolute() {
        return Err(bad());
    }
    let mut clean = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(part) => clean.push(part),
            _ => return Err(bad()),
        }
    }
    if clean == Path::new("/") {
        return Err(bad());
    }
    clean.to_str().map(str::to_string).ok_or_else(bad)
}

/// A proxy device listening inside the workshop at `listen` (for the guest user) and
/// connecting to the host's `connect` as `user`.
pub fn proxy(listen: &str, connect: &str, user: &UserRef) -> Device {
    BTreeMap::from([
        ("type".to_string(), "proxy".to_string()),
        ("bind".to_string(), "instance".to_string()),
        ("listen".to_string(), format!("unix:{listen}")),
        ("connect".to_string(), format!("unix:{connect}")),
        ("uid".to_string(), GUEST_UID.to_string()),
        ("gid".to_string(), GUEST_UID.to_string()),
        ("mode".to_string(), "0600".to_string()),
        ("security.uid".to_string(), user.uid.to_string()),
        ("security.gid".to_string(), user.gid.to_string()),
    ])
}

/// A read-only disk device showing the daemon's file `source` at `path` in the workshop.
pub fn file_device(source: &Path, path: &str) -> Device {
    BTreeMap::from([
        ("type".to_string(), "disk".to_string()),
        ("source".to_string(), source.to_string_lossy().into_owned()),
        ("path".to_string(), path.to_string()),
        ("readonly".to_string(), "true".to_string()),
    ])
}

/// The directory of the workshop's session files: `<sessions>/<uid>/<project id>/<ws>`.
pub fn files_dir(sessions_dir: &Path, t: &TaskTarget) -> PathBuf {
    sessions_dir.join(t.user.uid.to_string()).join(&t.project_id).join(&t.name)
}

fn split(path: &str) -> Result<(PathBuf, String), UserFsError> {
    let p = Path::new(path);
    match (p.parent(), p.file_name().and_then(|n| n.to_str())) {
        (Some(parent), Some(name)) => Ok((parent.to_path_buf(), name.to_string())),
        _ => Err(UserFsError::BadName { path: p.to_path_buf() }),
    }
}

/// Checks, as `user`, that what is at `path` is a socket, reached without a symlink. Nothing
/// there yet is fine, as in the reference: the display or agent may come later, and LXD
/// connects to it as the user on each connection.
fn check_socket(path: &str) -> Result<(), String> {
    let (parent, name) = split(path).map_err(|e| e.to_string())?;
    let dir = match Dir::open_no_follow(&parent) {
        Ok(dir) => dir,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    match dir.is_socket(&name).map_err(|e| e.to_string())? {
        Some(false) => Err(format!("{path:?} is not a socket")),
        Some(true) | None => Ok(()),
    }
}

/// Reads the user's file `path` (no symlink on the way or at the end), as the calling
/// thread's identity.
fn read_file(path: &str) -> Result<Vec<u8>, String> {
    let (parent, name) = split(path).map_err(|e| e.to_string())?;
    let dir = Dir::open_no_follow(&parent).map_err(|e| e.to_string())?;
    dir.read(&name, MAX_XAUTHORITY).map_err(|e| e.to_string())
}

/// Checks as `user` what a session names: its sockets are sockets, its X authority file a
/// readable regular file.
pub async fn check_host(user: &UserRef, session: &BTreeMap<String, String>) -> Result<(), String> {
    let mut sockets: Vec<String> = Vec::new();
    sockets.extend(session.get(WAYLAND_SOCKET).cloned());
    sockets.extend(session.get(SSH_AUTH_SOCK).cloned());
    if let Some(n) = session.get(X11_DISPLAY) {
        sockets.push(super::desktop::host_x11_socket(n));
    }
    let xauthority = session.get(XAUTHORITY).cloned();
    userfs::as_user::<_, Refused, _>(user, move || {
        for s in &sockets {
            check_socket(s)?;
        }
        if let Some(x) = &xauthority {
            read_file(x)?;
        }
        Ok(())
    })
    .await
    .map_err(|Refused(e)| e)
}

/// A refusal of work done as the user (`userfs::as_user` needs its own error type).
struct Refused(String);

impl From<UserFsError> for Refused {
    fn from(e: UserFsError) -> Refused {
        Refused(e.to_string())
    }
}

impl From<String> for Refused {
    fn from(e: String) -> Refused {
        Refused(e)
    }
}

/// Writes `data` to the daemon's file `path` in place (a disk device shows this inode to the
/// guest), owned by `uid`:`gid` with `mode`.
fn write_in_place(path: &Path, data: &[u8], uid: u32, gid: u32, mode: u32) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all(data)?;
    std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.sync_all()
}

/// Writes the workshop's session files into `dir` (created root-only): snippets as they are,
/// copies read as `user`. A copy that cannot be read again keeps the one made before (the
/// returned notes say so); without one, the connection cannot be set up.
pub async fn write_files(user: &UserRef, dir: &Path, files: &[HostFile]) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    if files.is_empty() {
        return Ok(notes);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot protect {}: {e}", dir.display()))?;
    for file in files {
        let path = dir.join(file.name());
        let (data, uid, gid, mode) = match file {
            HostFile::Text { text, .. } => (text.clone().into_bytes(), 0, 0, 0o644),
            HostFile::CopyOf { from, .. } => {
                let from = from.clone();
                let read = userfs::as_user::<_, Refused, _>(user, move || Ok(read_file(&from)?)).await;
                match read.map_err(|Refused(e)| e) {
                    Ok(data) => (data, user.uid, user.gid, 0o600),
                    Err(e) if path.exists() => {
                        notes.push(format!("Keeping the copy made before: {e}"));
                        continue;
                    }
                    Err(e) => return Err(format!("cannot copy the X authority file: {e}")),
                }
            }
        };
        write_in_place(&path, &data, uid, gid, mode)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(notes)
}

/// Removes the files of `dir` that `files` does not name (and `dir` when it is left empty).
pub fn prune(dir: &Path, files: &[HostFile]) {
    let keep: BTreeSet<&str> = files.iter().map(HostFile::name).collect();
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !keep.contains(name.to_string_lossy().as_ref())
            && let Err(e) = std::fs::remove_file(entry.path())
        {
            tracing::warn!(path = %entry.path().display(), error = %e, "cannot remove a session file");
        }
    }
    // Only when empty.
    let _ = std::fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_are_clean_and_absolute() {
        assert_eq!(clean_path("X", "/run/user/1000//wayland-1").unwrap(), "/run/user/1000/wayland-1");
        for bad in ["wayland-1", "/run/../etc/shadow", "", "/", "/a\0b"] {
            assert!(clean_path("X", bad).is_err(), "{bad:?}");
        }
        assert!(clean_path("X", &format!("/{}", "a".repeat(5000))).is_err());
        assert_eq!(clean_path("X", "/a/./b").unwrap(), "/a/b");
    }

    #[test]
    fn proxies_connect_as_the_user_and_files_are_read_only() {
        let user = UserRef { name: "u".into(), uid: 1100, gid: 1200, data_home: None };
        let p = proxy("/g.sock", "/h.sock", &user);
        assert_eq!(p["listen"], "unix:/g.sock");
        assert_eq!(p["connect"], "unix:/h.sock");
        assert_eq!((p["bind"].as_str(), p["uid"].as_str(), p["mode"].as_str()), ("instance", "1000", "0600"));
        assert_eq!((p["security.uid"].as_str(), p["security.gid"].as_str()), ("1100", "1200"));
        let f = file_device(Path::new("/var/lib/w/run/sessions/f.sh"), "/etc/profile.d/f.sh");
        assert_eq!((f["type"].as_str(), f["readonly"].as_str()), ("disk", "true"));
    }

    #[actix_rt::test]
    async fn files_are_written_in_place_copied_as_the_user_and_pruned() {
        // SAFETY: geteuid/getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let me = UserRef { name: "me".into(), uid, gid, data_home: None };
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sessions/1/p/ws");
        std::fs::write(tmp.path().join("auth"), "cookie").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("auth"), tmp.path().join("auth-link")).unwrap();
        let from = tmp.path().join("auth").display().to_string();
        let files = vec![
            HostFile::Text { name: "desktop.sh", text: "export A=1\n".into() },
            HostFile::CopyOf { name: "Xauthority", from: from.clone() },
        ];
        assert!(write_files(&me, &dir, &files).await.unwrap().is_empty());
        assert_eq!(std::fs::read_to_string(dir.join("Xauthority")).unwrap(), "cookie");
        use std::os::unix::fs::MetadataExt;
        let before = std::fs::metadata(dir.join("desktop.sh")).unwrap().ino();
        let files2 = vec![HostFile::Text { name: "desktop.sh", text: "export A=2\n".into() }];
        write_files(&me, &dir, &files2).await.unwrap();
        assert_eq!(std::fs::metadata(dir.join("desktop.sh")).unwrap().ino(), before, "in place");
        assert_eq!(std::fs::read_to_string(dir.join("desktop.sh")).unwrap(), "export A=2\n");
        // The user's file gone: the copy made before stays, with a note.
        std::fs::remove_file(tmp.path().join("auth")).unwrap();
        let notes = write_files(&me, &dir, &files).await.unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(std::fs::read_to_string(dir.join("Xauthority")).unwrap(), "cookie");
        // A symlink is never followed, and without a copy the connection cannot be made.
        let link = vec![HostFile::CopyOf {
            name: "other",
            from: tmp.path().join("auth-link").display().to_string(),
        }];
        let err = write_files(&me, &dir, &link).await.unwrap_err();
        assert!(err.contains("symbolic link"), "{err}");
        prune(&dir, &files2);
        assert!(!dir.join("Xauthority").exists());
        assert!(dir.join("desktop.sh").exists());
        prune(&dir, &[]);
        assert!(!dir.exists());
    }

    #[actix_rt::test]
    async fn sockets_are_checked_without_following_links() {
        // SAFETY: geteuid/getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let me = UserRef { name: "me".into(), uid, gid, data_home: None };
        let tmp = tempfile::tempdir().unwrap();
        let sock = tmp.path().join("agent.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        std::os::unix::fs::symlink(&sock, tmp.path().join("link.sock")).unwrap();
        std::fs::write(tmp.path().join("file"), "").unwrap();
        let session = |p: &Path| BTreeMap::from([(SSH_AUTH_SOCK.to_string(), p.display().to_string())]);
        check_host(&me, &session(&sock)).await.unwrap();
        let err = check_host(&me, &session(&tmp.path().join("link.sock"))).await.unwrap_err();
        assert!(err.ends_with("is not a socket"), "{err}");
        let err = check_host(&me, &session(&tmp.path().join("file"))).await.unwrap_err();
        assert!(err.ends_with("is not a socket"), "{err}");
        // Nothing there yet, even no directory: the display or agent may come later.
        check_host(&me, &session(&tmp.path().join("none"))).await.unwrap();
        check_host(&me, &session(&tmp.path().join("none/agent.sock"))).await.unwrap();
    }
}
