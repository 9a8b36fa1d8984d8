//! Host directories of mount connections, opened as their user and staged for LXD (the
//! project-mount invariant applied to every host source): LXD mounts a root-only staging
//! path bind-mounted from the directory the user opened, never the user's path itself, so
//! a connection cannot expose a path the user could not open, nor one swapped in later.

use std::path::{Path, PathBuf};

use super::conns::{self, WorkshopConns};
use super::repo::ConnRef;
use crate::managers::UserRef;
use crate::managers::task::TaskTarget;
use crate::runner::TaskCtx;
use crate::userfs::stage::{Staged, stage};
use crate::userfs::{self, Dir, UserFsError};

/// Where the host source of device `device` of a workshop is staged:
/// `<mounts>/<uid>/<pid>/<ws>.mounts/<device>` (a workshop name has no `.`, so this never
/// meets the workshop's project staging `<mounts>/<uid>/<pid>/<ws>`).
pub fn staged_path(mounts_dir: &Path, t: &TaskTarget, device: &str) -> PathBuf {
    mounts_dir
        .join(t.user.uid.to_string())
        .join(&t.project_id)
        .join(format!("{}.mounts", t.name))
        .join(device)
}

/// Opens a host source as `user`: a default one (under the user's home) is created first,
/// each missing directory as the user, the last one with `mode`; a chosen one must exist.
pub async fn open_source(user: &UserRef, source: PathBuf, default: bool, mode: u32) -> Result<Dir, String> {
    let home = user.home().ok_or_else(|| format!("cannot find the home directory of {:?}", user.name))?;
    let shown = source.clone();
    userfs::as_user(user, move || -> Result<Dir, UserFsError> {
        if !default {
            return Dir::open(&source);
        }
        // Made below the home directory never following a symlink; below a data directory
        // the caller named elsewhere (`$XDG_DATA_HOME`), below its deepest existing directory.
        let (top, relative) = match source.strip_prefix(&home) {
            Ok(relative) => (Dir::open(&home)?, relative.to_path_buf()),
            Err(_) => deepest_existing(&source)?,
        };
        create_below(top, &relative, mode)
    })
    .await
    .map_err(|e| format!("cannot use host directory {}: {e}", shown.display()))
}

/// The deepest directory of absolute `path` that exists (opened as the calling thread's
/// user), and the rest of the path below it.
fn deepest_existing(path: &Path) -> Result<(Dir, PathBuf), UserFsError> {
    let mut top = path.to_path_buf();
    loop {
        match Dir::open(&top) {
            Ok(dir) => {
                let rest = path.strip_prefix(&top).unwrap_or(Path::new("")).to_path_buf();
                return Ok((dir, rest));
            }
            Err(e) if e.is_not_found() && top.pop() => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Opens absolute directory `path`, making it and its missing parents (mode 0755) below its
/// deepest existing ancestor, as the calling thread's user, never following a symlink.
pub(super) fn open_or_create_all(path: &Path) -> Result<Dir, UserFsError> {
    let (top, rest) = deepest_existing(path)?;
    create_below(top, &rest, 0o755)
}

/// Opens `relative` below `top` (`top` itself when empty), making each missing directory as
/// the calling thread's user without following a symlink: the last with `mode`, the others
/// 0755.
fn create_below(top: Dir, relative: &Path, mode: u32) -> Result<Dir, UserFsError> {
    let parts: Vec<String> =
        relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let Some((last, parents)) = parts.split_last() else { return Ok(top) };
    let parent = if parents.is_empty() { top } else { top.create_path(parents, 0o755)? };
    parent.create_subdir(last, mode)
}

/// Stages the host source of one connection at its staging path.
pub async fn stage_source(
    mounts_dir: &Path,
    t: &TaskTarget,
    device: &str,
    source: &str,
    default: bool,
    mode: u32,
) -> Result<Staged, String> {
    let dir = open_source(&t.user, PathBuf::from(source), default, mode).await?;
    let at = staged_path(mounts_dir, t, device);
    stage(&dir, &at).map_err(|e| format!("cannot stage host directory {source} at {}: {e}", at.display()))
}

/// Stages the host sources of every mount of a workshop on the host (before LXD starts it);
/// the stagings go when the returned guards are dropped.
pub async fn stage_workshop_mounts(
    ctx: &TaskCtx,
    t: &TaskTarget,
    mounts_dir: &Path,
) -> Result<Vec<Staged>, String> {
    let key = conns::workshop_key(t.user.uid, &t.project_id, &t.name);
    let all: WorkshopConns =
        ctx.transact(move |st, _, _| conns::of_workshop(st, &key)).await.map_err(|e| e.to_string())?;
    let mut staged = Vec::new();
    for (key, conn) in all {
        let (Some(source), true) = (conn.host_source.as_deref(), conn.connected()) else { continue };
        let Some(r) = conns::parse_key(&key) else { continue };
        let device = super::mount::device_name(&r.plug);
        staged.push(stage_source(mounts_dir, t, &device, source, !conn.remounted, 0o755).await?);
    }
    Ok(staged)
}

/// Whether `conn` is a mount on the host (its slot the system `mount` slot).
pub fn is_host_mount(conn: &ConnRef) -> bool {
    conn.slot.sdk == workshop_api::definition::SYSTEM_SDK && conn.slot.name == "mount"
}
