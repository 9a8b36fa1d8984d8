//! Projects on the host filesystem: finding a project's root, its definition files, its
//! `.workshop.lock` id, and the per-user registry of known projects (moved and copied
//! directories included). Pure filesystem logic: no LXD, no actors.

mod files;
mod lock;
pub mod mountinfo;
mod registry;
mod root;

use std::io;
use std::path::PathBuf;

use workshop_api::definition::DefinitionError;

pub use files::{DefinitionFile, definition_files, load_definition};
pub use lock::{LOCK_FILE, new_project_id, read_lock, write_lock};
pub use registry::{Registry, TrackOutcome};
pub use root::{DEFINITION_DIR, ROOT_FILES, find_root};

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
    /// A filesystem operation failed.
    #[error("cannot {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

impl ProjectError {
    fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> ProjectError {
        move |source| ProjectError::Io { what: what.into(), source }
    }
}
