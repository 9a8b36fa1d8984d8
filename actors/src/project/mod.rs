//! Projects on the host filesystem: finding a project's root, its definition files, its
//! `.workshop.lock` id, and the per-user registry of known projects (moved and copied
//! directories included). Filesystem logic only, no LXD, no actors; every path is reached
//! through [`crate::userfs`], and the functions that touch files run inside
//! [`crate::userfs::as_user`] so that they see only what the user may see.

pub mod as_user;
mod files;
mod lock;
pub mod mountinfo;
mod registry;
mod root;

use std::path::{Path, PathBuf};

use workshop_api::definition::DefinitionError;

pub use files::{Definition, DefinitionFile, definition_files, load_definition};
pub use lock::{LOCK_FILE, new_project_id, read_lock, write_lock};
pub use registry::{Found, Registry, TrackOutcome, Tracked, track};
pub use root::{DEFINITION_DIR, ROOT_FILES, find_root};

use crate::userfs::{Dir, UserFsError};

/// Why a project or one of its definitions cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// No ancestor of the given path holds a lock or a workshop file.
    #[error("not a project (no workshop files found)")]
    NotProject,
    /// Both `workshop.yaml` and `.workshop.yaml` exist.
    #[error("ambiguous file \"{}\" (directory also contains \"{other}\")", path.display())]
    Ambiguous { path: PathBuf, other: String },
    /// A root definition file next to `.workshop/*.yaml` files.
    #[error(
        "multiple workshops found, but \"{}\" not in \".workshop\" subdirectory",
        path.display()
    )]
    RootFileWithDirectory { path: PathBuf },
    /// `.workshop/<file>` defines a workshop with another name.
    #[error("\"{name}\" workshop file must be named \"{name}.yaml\" (now: \"{file}\")")]
    Misnamed { name: String, file: String },
    /// The single root definition defines another workshop.
    #[error("workshop \"{name}\" not found (only found \"{found}\")")]
    OnlyFound { name: String, found: String },
    /// No definition file for the workshop.
    #[error("workshop definition \"{}\" not found", path.display())]
    DefinitionNotFound { path: PathBuf },
    /// The definition file is not valid.
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    /// The path cannot be used by the caller (refused as the user, or not a regular file).
    #[error(transparent)]
    Access(#[from] UserFsError),
}

/// Looks at the project holding `start` with the calling thread's identity: the opened root,
/// and what the registry needs to know of it (`uid` is the caller's).
pub fn inspect(start: &Path, uid: u32) -> Result<(Dir, Found), ProjectError> {
    let root = find_root(start)?;
    let found =
        Found { root: root.path().to_path_buf(), lock: read_lock(&root), owned: root.owner()? == uid };
    Ok((root, found))
}

/// Whether the directory at `path` still holds the lock `id` (read with the calling thread's
/// identity; a directory the caller cannot open holds nothing).
pub fn holds_lock(path: &Path, id: &str) -> bool {
    Dir::open(path).is_ok_and(|dir| read_lock(&dir).as_deref() == Some(id))
}
