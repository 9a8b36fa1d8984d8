//! SDK trees: where the files of the SDKs a workshop is made of come from and where they are
//! kept (ARCHITECTURE.md, "SDK trees").
//!
//! Every SDK reaches the daemon as a tar stream: a canonical one ([`canonical`]: sorted,
//! zeroed times and owners, modes kept) for the SDKs the daemon builds itself (the embedded
//! [`system`] SDK, the user's [`project`] SDKs read as the user), or a Store or try `.sdk`
//! archive. [`TreeStore::commit`] hashes the stream (sha3-384: the tree's id, and a local
//! revision's digest) while extracting it into `$WORKSHOP/sdk/trees/<id>/`: root-owned,
//! world-readable, immutable, shared by every workshop and user with the same content.
//! [`sketch`] reads a workshop's sketch SDK from the user's data. [`revisions`] numbers the local revisions (`x1`, `x2`, ...) of a user's SDKs.

pub mod canonical;
pub mod project;
pub mod revisions;
pub mod sketch;
mod store;
pub mod system;

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use store::{TREES_DIR, TreeStore};

use crate::userfs::{UserFsError, io_reason};

/// How much one SDK tree may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of file content.
    pub bytes: u64,
    /// Most entries (directories, files and links).
    pub entries: usize,
}

/// The bounds of an SDK tree unless a source says otherwise.
pub const TREE_LIMITS: Limits = Limits { bytes: 2 << 30, entries: 100_000 };

/// The id of a tree in the store: the sha3-384 digest of the tar stream it was committed
/// from, in lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TreeId(String);

/// Length of a tree id: 48 bytes of digest in hex.
const TREE_ID_LEN: usize = 96;

impl TreeId {
    /// The id of a finished sha3-384 digest.
    pub fn of_digest(digest: &[u8]) -> TreeId {
        TreeId(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TreeId {
    type Error = String;

    /// Checks `text` is a lowercase hex sha3-384 digest.
    fn try_from(text: String) -> Result<TreeId, String> {
        let hex = text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if text.len() == TREE_ID_LEN && hex {
            Ok(TreeId(text))
        } else {
            Err(format!(
                "\"{}\" is not a sha3-384 digest",
                text.chars().take(TREE_ID_LEN + 1).collect::<String>()
            ))
        }
    }
}

impl From<TreeId> for String {
    fn from(id: TreeId) -> String {
        id.0
    }
}

impl fmt::Display for TreeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an SDK tree cannot be built, read or stored.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("cannot {op} \"{}\": {}", path.display(), io_reason(.source))]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The stream is not a tar archive, or ends early.
    #[error("cannot read SDK archive: {0}")]
    Archive(String),
    /// An entry that cannot be part of a tree (a path leaving it, a device, a duplicate).
    #[error("cannot use SDK entry \"{path}\": {why}")]
    BadEntry { path: String, why: String },
    #[error("cannot store SDK tree: larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("cannot store SDK tree: more than {limit} entries")]
    TooMany { limit: usize },
    #[error("cannot store SDK tree: its sha3-384 is {found}, not {expected}")]
    DigestMismatch { expected: TreeId, found: TreeId },
    /// The stream's reader stopped taking it (it failed first: its error says why).
    #[error("cannot write SDK archive: its reader stopped")]
    ReaderGone,
    /// A file changed size while it was copied.
    #[error("cannot read SDK file \"{path}\": it changed while being read")]
    Changed { path: String },
    /// Reading the user's files (as the user) failed.
    #[error(transparent)]
    UserFs(#[from] UserFsError),
    /// A project SDK directory without metadata, or with it where it cannot go.
    #[error("cannot use SDK \"{}\": {why}", dir.display())]
    Layout { dir: PathBuf, why: String },
    /// A project SDK directory with both layouts (the reference's words).
    #[error("local SDK \"{}\" contains both {top} and {moved}", dir.display())]
    BothLayouts { dir: PathBuf, top: &'static str, moved: String },
    /// The tree was not read in time.
    #[error("cannot commit SDK \"{}\": no answer in {seconds} s", dir.display())]
    TimedOut { dir: PathBuf, seconds: u64 },
}

impl TreeError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> TreeError {
        TreeError::Io { op, path: path.into(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_ids_are_lowercase_sha3_384_hex() {
        let id = TreeId::of_digest(&[0xab; 48]);
        assert_eq!(id.as_str(), "ab".repeat(48));
        assert_eq!(TreeId::try_from(id.to_string()), Ok(id.clone()));
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
        for bad in ["AB".repeat(48), "ab".repeat(47), "../x".into(), "g".repeat(96)] {
            assert!(TreeId::try_from(bad.clone()).is_err(), "{bad}");
            assert!(serde_json::from_str::<TreeId>(&format!("\"{bad}\"")).is_err());
        }
    }
}
