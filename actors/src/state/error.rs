//! Errors of the state library.

use std::io;
use std::path::PathBuf;

/// Errors from loading, querying and locking the state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// state.json is not valid JSON or does not have the expected shape.
    #[error("cannot read state: {0}")]
    Parse(#[from] serde_json::Error),
    /// state.json was written by a newer workshopd.
    #[error("cannot downgrade: workshopd is too old for the current system state (patch level {level})")]
    TooNew {
        /// The patch level recorded in the state.
        level: u64,
    },
    /// A data entry exists but does not decode into the requested type.
    #[error("cannot decode state entry {key:?}: {source}")]
    Decode {
        /// The data key.
        key: String,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// A state file exists but cannot be read.
    #[error("cannot read state file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The state cannot be written.
    #[error("cannot write state file {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Another process holds the state lock.
    #[error("cannot lock state: another workshopd is running ({})", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file cannot be opened or locked.
    #[error("cannot lock state {}: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}
