//! The sketch SDK of a workshop: a directory in the user's data ([`UserRef::data_dir`]),
//! `<data>/workshop/id/<project id>/<workshop>/sdk/sketch/current/`, that the
//! `workshop sketch-sdk` client writes as the user (`sketch.yaml`, the text the user edits;
//! `sdk.yaml` and `hooks/<hook>` made from it). The daemon only reads it, as the user, never
//! following a symlink, bounded ([`SKETCH_LIMITS`]), and commits it like a project SDK
//! ([`super::project::commit_dir`]) leaving `sketch.yaml` out: the tree is `sdk.yaml` (moved
//! to `meta/sdk.yaml`) and the hooks (moved to `sdk/hooks/`). It is installed last, after the
//! SDKs the definition lists, whenever `current/` exists.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::project::{self, Source};
use super::{Limits, TreeError, TreeId, TreeStore};
use crate::managers::UserRef;
use crate::userfs::{self, DataRoot, Kind, Reopen, UserFsError, WalkLimits};

/// The sketch SDK's name inside a workshop.
pub const SKETCH: &str = "sketch";

/// A sketch is a YAML file and a few hooks: far below what an SDK may hold.
pub const SKETCH_LIMITS: Limits = Limits { bytes: 16 << 20, entries: 256 };

/// How long reading the sketch may take.
pub const SKETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The user's text, kept in the sketch directory for editing and left out of the tree.
pub const SKETCH_TEXT: &str = "sketch.yaml";

/// The path of the sketch area of workshop `ws` below the data root's directory, by
/// component: `[.local/share/]workshop/id/<pid>/<ws>/sdk/sketch`.
fn area(root: &DataRoot, project_id: &str, ws: &str) -> Vec<String> {
    root.components(&["workshop", "id", project_id, ws, "sdk", SKETCH])
}

/// The current sketch of `ws`, by component below the data root's directory.
fn current(root: &DataRoot, project_id: &str, ws: &str) -> Vec<String> {
    let mut components = area(root, project_id, ws);
    components.push("current".into());
    components
}

/// Where the sketch of `ws` is tracked (what `info` shows): `<data>/workshop/id/<pid>/<ws>/
/// sdk/sketch`.
pub fn tracking(data: &Path, project_id: &str, ws: &str) -> PathBuf {
    data.join("workshop/id").join(project_id).join(ws).join("sdk").join(SKETCH)
}

fn root_of(user: &UserRef) -> Result<DataRoot, TreeError> {
    DataRoot::of(user).ok_or_else(|| TreeError::Layout {
        dir: PathBuf::from("~"),
        why: format!("cannot find the home directory of {:?}", user.name),
    })
}

/// Whether workshop `ws` of `user` has a current sketch. Read as the user; a symlink on the
/// way (or at `current`) is refused, not followed.
pub async fn exists(user: &UserRef, project_id: &str, ws: &str) -> Result<bool, TreeError> {
    // A user without a home directory has no data directory, so no sketch.
    let Some(root) = DataRoot::of(user) else { return Ok(false) };
    exists_in(user, root, project_id, ws).await
}

async fn exists_in(user: &UserRef, root: DataRoot, project_id: &str, ws: &str) -> Result<bool, TreeError> {
    let components = current(&root, project_id, ws);
    userfs::as_user_within(user, SKETCH_TIMEOUT, move || -> Result<bool, TreeError> {
        match root.open()? {
            Some(dir) => Ok(dir.subpath(&components)?.is_some()),
            None => Ok(false),
        }
    })
    .await
}

/// Commits the current sketch of `ws` to `store`, reading it as `user`; returns its tree.
pub async fn commit(
    user: &UserRef,
    project_id: &str,
    ws: &str,
    store: TreeStore,
) -> Result<TreeId, TreeError> {
    commit_in(user, root_of(user)?, project_id, ws, store, SKETCH_LIMITS).await
}

async fn commit_in(
    user: &UserRef,
    root: DataRoot,
    project_id: &str,
    ws: &str,
    store: TreeStore,
    limits: Limits,
) -> Result<TreeId, TreeError> {
    let components = current(&root, project_id, ws);
    let source = Source { root: root.dir().to_path_buf(), components, skip: &[SKETCH_TEXT] };
    project::commit_dir(user, source, store, limits, SKETCH_TIMEOUT).await
}

/// Removes the sketch area of `ws` (current and stash) as the user, never following a
/// symlink; none is fine. A new workshop starts without a sketch.
pub async fn wipe(user: &UserRef, project_id: &str, ws: &str) -> Result<(), UserFsError> {
    let Some(root) = DataRoot::of(user) else { return Ok(()) };
    wipe_in(user, root, project_id, ws).await
}

async fn wipe_in(user: &UserRef, root: DataRoot, project_id: &str, ws: &str) -> Result<(), UserFsError> {
    let mut components = area(&root, project_id, ws);
    let last = components.pop().unwrap_or_default();
    userfs::as_user_within(user, SKETCH_TIMEOUT, move || -> Result<(), UserFsError> {
        let Some(top) = root.open()? else { return Ok(()) };
        match top.subpath(&components)? {
            Some(dir) => dir.remove_tree(&last, 10_000),
            None => Ok(()),
        }
    })
    .await
}

/// Copies the sketch area of `from` (current and stash) to that of `to`, which loses what
/// it had, as the user: never following a symlink (links are copied as links), bounded by
/// [`SKETCH_LIMITS`]. A fork keeps the sketch of the workshop it copies.
pub async fn copy(user: &UserRef, project_id: &str, from: &str, to: &str) -> Result<(), UserFsError> {
    let Some(root) = DataRoot::of(user) else { return Ok(()) };
    copy_in(user, root, project_id, from, to).await
}

async fn copy_in(
    user: &UserRef,
    root: DataRoot,
    project_id: &str,
    from: &str,
    to: &str,
) -> Result<(), UserFsError> {
    wipe_in(user, root.clone(), project_id, to).await?;
    let (source, target) = (area(&root, project_id, from), area(&root, project_id, to));
    userfs::as_user_within(user, SKETCH_TIMEOUT, move || -> Result<(), UserFsError> {
        let Some(base) = root.open()? else { return Ok(()) };
        let Some(dir) = base.subpath(&source)? else { return Ok(()) };
        let limits = WalkLimits { entries: SKETCH_LIMITS.entries, depth: COPY_DEPTH };
        let entries = userfs::walk(&dir, limits)?;
        let components: Vec<&str> = target.iter().map(String::as_str).collect();
        let top = base.create_path(&components, 0o700)?;
        let mut files = Reopen::new(&dir);
        let mut copied = 0u64;
        for entry in entries {
            let Some((name, parents)) = entry.path.split_last() else { continue };
            let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
            let made;
            let into = if parents.is_empty() {
                &top
            } else {
                made = top.create_path(&parents, 0o700)?;
                &made
            };
            match entry.meta.kind {
                Kind::Dir => {
                    into.create_subdir(name, entry.meta.mode)?;
                }
                Kind::File => {
                    copied += entry.meta.size;
                    if copied > SKETCH_LIMITS.bytes {
                        return Err(UserFsError::TooLarge {
                            path: dir.path().to_path_buf(),
                            limit: SKETCH_LIMITS.bytes,
                        });
                    }
                    let mut data = Vec::new();
                    files
                        .file(&entry.path, entry.meta.size)?
                        .take(entry.meta.size)
                        .read_to_end(&mut data)
                        .map_err(|e| UserFsError::io("read", &dir.path().join(entry.path.join("/")), e))?;
                    into.write_atomic(name, &data, entry.meta.mode)?;
                }
                Kind::Symlink => into.symlink(name, Path::new(entry.link.as_deref().unwrap_or_default()))?,
                // A FIFO, socket or device has no place in a sketch: left out.
                Kind::Other => {}
            }
        }
        Ok(())
    })
    .await
}

/// Deepest directory a sketch copy goes into.
const COPY_DEPTH: usize = 16;

#[cfg(test)]
mod tests;
