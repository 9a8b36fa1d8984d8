//! `workshop remount` (reference-inventory §8.9): a plug connected to the system `mount`
//! slot takes its files from another host directory. The old directory is moved there, as
//! the user; while the workshop runs, a move that cannot be made (a non-empty target,
//! another filesystem, a busy directory) is an error, while it is stopped the new directory
//! is simply used.

use std::path::{Path, PathBuf};

use super::conns::{ConnState, WorkshopConns};
use super::repo::{ConnRef, Repo};
use super::requests::Edits;
use super::{InterfaceError, staging};
use crate::managers::UserRef;
use crate::userfs::{self, Dir, UserFsError};
use workshop_api::definition::EndpointRef;

/// The entries a remount of `plug` of workshop `ws` to `source` sets: the master's
/// connection to the system mount slot and those of the plugs bound to it.
pub fn edits(
    repo: &Repo,
    current: &WorkshopConns,
    ws: &str,
    plug: &EndpointRef,
    source: &Path,
) -> Result<(String, Edits), InterfaceError> {
    let bad = InterfaceError::BadRequest;
    if !source.is_absolute() {
        return Err(bad(format!("host source {:?} is not absolute", source.display())));
    }
    // The reference's checks, in its order and words: a plug or slot of the workshop, with a
    // connection, of the mount interface, connected to the host.
    let interface = match (repo.plug(plug), repo.slot(plug)) {
        (Some(p), _) | (None, Some(p)) => p.interface.clone(),
        (None, None) => return Err(bad(super::resolve::no_plug_or_slot(ws, plug))),
    };
    let prefix = format!("{plug} ");
    if !current.iter().any(|(key, c)| key.starts_with(&prefix) && c.connected()) {
        return Err(bad(format!("\"{ws}/{plug}\" must be connected for remount")));
    }
    if interface != "mount" {
        return Err(bad(format!(
            "remount requires a mount interface plug (provided plug is of {interface:?} interface)"
        )));
    }
    let master = repo.master(plug);
    let slot = EndpointRef::new(workshop_api::definition::SYSTEM_SDK, "mount");
    let conn = ConnRef { plug: master.clone(), slot: slot.clone() };
    let Some(state) = current.get(&conn.to_string()).filter(|c| c.connected()) else {
        // Connected to a slot of an SDK, whose files are in the workshop.
        let prefix = format!("{master} ");
        let elsewhere =
            current.iter().find_map(|(key, c)| key.strip_prefix(&prefix).filter(|_| c.connected()));
        return Err(bad(match elsewhere {
            Some(slot) => {
                format!("source directory of connected slot \"{ws}/{slot}\" is inside the workshop")
            }
            None => format!("\"{ws}/{plug}\" must be connected for remount"),
        }));
    };
    let old = state.host_source.clone().unwrap_or_default();
    let mut out = Vec::new();
    let mut group = repo.bound_to(&master);
    group.insert(0, master);
    for member in group {
        let key = ConnRef { plug: member, slot: slot.clone() }.to_string();
        if let Some(s) = current.get(&key).filter(|c| c.connected()) {
            let next =
                ConnState { host_source: Some(source.display().to_string()), remounted: true, ..s.clone() };
            out.push((key, Some(next)));
        }
    }
    debug_assert!(staging::is_host_mount(&conn));
    Ok((old, out))
}

/// What a remount found when the old directory was gone (the reference warns about it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// The new directory was made.
    Created,
    /// The new directory was there and is used as it is.
    Existing,
}

impl Fallback {
    /// The reference's warning: the old source, the plug (`ws/sdk:plug`), the new source.
    pub fn warning(self, old: &str, plug: &str, new: &str) -> String {
        let what = match self {
            Fallback::Created => "created directory",
            Fallback::Existing => "using existing directory",
        };
        format!("cannot find source {old:?} for {plug:?}; {what} {new:?}")
    }
}

/// Moves the host directory `old` to `new`, as `user`. `running`: a move that cannot be made
/// fails with the reference's words; stopped, the new directory is used as it is (created
/// when missing). A missing old directory is not an error either way: what was done instead
/// is returned.
pub async fn move_source(
    user: &UserRef,
    old: PathBuf,
    new: PathBuf,
    running: bool,
) -> Result<Option<Fallback>, String> {
    let shown = new.display().to_string();
    let shown_old = old.display().to_string();
    let outer = shown.clone();
    userfs::as_user(user, move || -> Result<Result<Option<Fallback>, String>, UserFsError> {
        let (Some(old_parent), Some(old_name)) = (old.parent(), old.file_name()) else { return Ok(Ok(None)) };
        let (Some(new_parent), Some(new_name)) = (new.parent(), new.file_name()) else {
            return Ok(Err(format!("cannot remount to {:?}", new.display())));
        };
        let (new_name, old_name) = (new_name.to_string_lossy(), old_name.to_string_lossy());
        let from = match Dir::open(old_parent) {
            Ok(from) => Some(from),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        let old_there = match &from {
            Some(from) => from.kind(&old_name)?.is_some(),
            None => false,
        };
        let to = match Dir::open(new_parent) {
            Ok(to) => to,
            // As the reference: with nothing to move, the new directory is made, parents too.
            Err(e) if e.is_not_found() && !old_there => staging::open_or_create_all(new_parent)?,
            Err(e) => return Err(e),
        };
        let moved = match from {
            Some(from) => from.rename_to(&old_name, &to, &new_name),
            None => Err(std::io::Error::from_raw_os_error(libc::ENOENT)),
        };
        let use_new = || -> Result<Option<Fallback>, UserFsError> {
            let existed = to.kind(&new_name)?.is_some();
            to.create_subdir(&new_name, 0o755)?;
            Ok(Some(if existed { Fallback::Existing } else { Fallback::Created }))
        };
        match moved {
            Ok(()) => Ok(Ok(None)),
            Err(e) => match e.raw_os_error() {
                // The old directory is gone: the new one is made (or kept).
                Some(libc::ENOENT) => use_new().map(Ok),
                Some(libc::ENOTEMPTY | libc::EEXIST) if running => Ok(Err(format!(
                    "source {shown:?} is not empty; workshop must be stopped to remount safely"
                ))),
                Some(libc::EXDEV) if running => Ok(Err(format!(
                    "sources {shown_old:?} and {shown:?} are not on the same mounted filesystem; workshop \
                     must be stopped to remount safely"
                ))),
                Some(libc::EBUSY) if running => Ok(Err(format!(
                    "source {shown:?} appears to be in use; workshop must be stopped to remount safely"
                ))),
                Some(libc::ENOTEMPTY | libc::EEXIST | libc::EXDEV | libc::EBUSY) => {
                    to.create_subdir(&new_name, 0o755).map(|_| Ok(None))
                }
                // Stopped, onto a directory the user may read but not move into (the
                // reference's root daemon would use it): it is mounted as it is, as the user
                // (who gets no more than they could read).
                Some(libc::EACCES | libc::EPERM) if !running && to.subdir(&new_name)?.is_some() => {
                    Ok(Ok(None))
                }
                // Stopped, from a directory the user may not move (one outside their files a
                // remount chose before): it stays where it is, and the new one is made.
                Some(libc::EACCES | libc::EPERM) if !running => use_new().map(Ok),
                _ => Ok(Err(format!("cannot remount to {shown:?}: {}", userfs::io_reason(&e)))),
            },
        }
    })
    .await
    .map_err(|e| format!("cannot remount to {outer:?}: {e}"))?
}

/// Task data of `remount`: the host directory before and after.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Move {
    pub old: String,
    pub new: String,
    /// The plug, `ws/sdk:plug` (for the warning when `old` is gone; none in older tasks).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plug: String,
}

/// Task data: what a `remount` moves.
pub const MOVE: crate::state::Key<Move> = crate::state::Key::new("remount");

/// Asks for the remount of `plug` of workshop `workshop` to `source` (an absolute path).
#[derive(actix::Message)]
#[rtype(result = "Result<String, InterfaceError>")]
pub struct Remount {
    pub user: UserRef,
    pub project_id: String,
    pub workshop: String,
    pub plug: EndpointRef,
    pub source: PathBuf,
}

/// Plans `remount` → `setup-profiles`.
pub fn plan(
    st: &mut crate::state::State,
    t: &crate::managers::task::TaskTarget,
    plug: &EndpointRef,
    moved: Move,
    edits: Edits,
) -> Result<String, InterfaceError> {
    if let Some(busy) = crate::managers::workshop::status::busy(st, &t.user.name, &t.project_id, &t.name) {
        let what = if busy.waiting { "is waiting on error" } else { "is in progress" };
        return Err(InterfaceError::BadRequest(format!(
            "cannot remount in {:?}: {} change {what}",
            t.name, busy.kind
        )));
    }
    let now = chrono::Utc::now();
    // The reference's words: the change unquoted, its task quoted.
    let summary = format!("Remount {}/{plug}", t.name);
    let change = crate::managers::task::new_change(st, "remount", &summary, &t.user, &t.project_id, now);
    let task_summary = format!("Remount \"{}/{plug}\"", t.name);
    let id = crate::managers::task::add_task(st, &change, "remount", &task_summary, t, None, now);
    let task = st.task_mut(&id).expect("new task exists");
    task.write(&MOVE, &moved);
    task.write(&super::requests::EDITS, &edits);
    let profiles = format!("Set up interface profiles of {:?}", t.name);
    crate::managers::task::add_task(st, &change, "setup-profiles", &profiles, t, Some(&id), now);
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::userfs::current_user as me;

    #[actix_rt::test]
    async fn a_directory_is_moved_or_made_with_its_parents_when_the_old_one_is_gone() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir(root.join("old")).unwrap();
        std::fs::write(root.join("old/f"), "x").unwrap();
        let moved = move_source(&me(), root.join("old"), root.join("new"), true).await.unwrap();
        assert_eq!(moved, None);
        assert_eq!(std::fs::read_to_string(root.join("new/f")).unwrap(), "x");
        // The old one is gone now: the new one is made, its missing parents too.
        let made = move_source(&me(), root.join("old"), root.join("deep/a/b"), true).await.unwrap();
        assert_eq!(made, Some(Fallback::Created));
        assert!(root.join("deep/a/b").is_dir());
        // With the old one there, a missing parent is an error: nothing is made.
        let e = move_source(&me(), root.join("new"), root.join("other/x"), true).await.unwrap_err();
        assert!(e.starts_with("cannot remount to "), "{e}");
        assert!(!root.join("other").exists());
    }

    #[actix_rt::test]
    async fn a_stopped_workshop_may_use_a_directory_it_cannot_move_into() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::create_dir_all(root.join("old")).unwrap();
        // Someone else's directory the user may read: `/usr/share` for an unprivileged user.
        let user = UserRef { name: "nobody".into(), uid: 65534, gid: 65534, data_home: None };
        std::os::unix::fs::chown(root.join("old"), Some(65534), Some(65534)).unwrap();
        std::fs::create_dir_all(root.join("shared/docs")).unwrap();
        std::fs::write(root.join("shared/docs/f"), "x").unwrap();
        let running = move_source(&user, root.join("old"), root.join("shared/docs"), true).await.unwrap_err();
        assert!(running.contains("permission denied"), "{running}");
        let stopped = move_source(&user, root.join("old"), root.join("shared/docs"), false).await.unwrap();
        assert_eq!(stopped, None);
        assert!(root.join("old").is_dir(), "nothing moved");
        // Back from a directory the user may not move (root's `shared/docs`, chosen before) to
        // one of their own: it stays, the new one is made.
        std::fs::create_dir(root.join("mine")).unwrap();
        std::os::unix::fs::chown(root.join("mine"), Some(65534), Some(65534)).unwrap();
        let from_theirs =
            move_source(&user, root.join("shared/docs"), root.join("mine/new"), false).await.unwrap();
        assert_eq!(from_theirs, Some(Fallback::Created));
        assert!(root.join("mine/new").is_dir() && root.join("shared/docs/f").is_file());
        let running =
            move_source(&user, root.join("shared/docs"), root.join("mine/other"), true).await.unwrap_err();
        assert!(running.contains("permission denied"), "running, it is refused: {running}");
    }
}
