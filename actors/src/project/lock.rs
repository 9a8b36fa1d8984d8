//! `.workshop.lock`: the project id, written into the project directory.

use workshop_api::ids::is_project_id;

use super::ProjectError;
use crate::userfs::Dir;

/// Name of the lock file at a project's root.
pub const LOCK_FILE: &str = ".workshop.lock";

/// A fresh project id: 8 lowercase hex digits from 4 random bytes.
pub fn new_project_id() -> String {
    rand::random::<[u8; 4]>().iter().map(|b| format!("{b:02x}")).collect()
}

/// Largest lock file read: an id and a newline, with room for stray whitespace.
const MAX_LOCK: u64 = 64;

/// The id in the lock file of the project opened at `root`, if it is a regular file holding a
/// well-formed id (a symlink, FIFO or oversized file reads as no lock).
pub fn read_lock(root: &Dir) -> Option<String> {
    let text = root.read_text(LOCK_FILE, MAX_LOCK).ok()?;
    let id = text.trim();
    is_project_id(id).then(|| id.to_string())
}

/// Writes `id` to the lock file of the project opened at `root`, atomically, mode 0644 (the
/// reference's 0666 under the usual umask: only the owner may change the project's id), as
/// the calling identity (the caller makes sure that is the directory's owner). A symlink in
/// its place is replaced, not followed.
pub fn write_lock(root: &Dir, id: &str) -> Result<(), ProjectError> {
    Ok(root.write_atomic(LOCK_FILE, id.as_bytes(), 0o644)?)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn open(path: &std::path::Path) -> Dir {
        Dir::open(path).unwrap()
    }

    #[test]
    fn ids_are_eight_lowercase_hex_digits() {
        for _ in 0..64 {
            let id = new_project_id();
            assert!(is_project_id(&id), "{id}");
        }
        assert_ne!(new_project_id(), new_project_id());
        for bad in ["", "1234567", "123456789", "ABCDEF12", "abcdefgh"] {
            assert!(!is_project_id(bad), "{bad}");
        }
    }

    #[test]
    fn lock_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let root = open(tmp.path());
        assert_eq!(read_lock(&root), None);
        write_lock(&root, "0a1b2c3d").unwrap();
        assert_eq!(read_lock(&root), Some("0a1b2c3d".to_string()));
        assert_eq!(fs::read_to_string(tmp.path().join(LOCK_FILE)).unwrap(), "0a1b2c3d");
        write_lock(&root, "ffffffff").unwrap();
        assert_eq!(read_lock(&root), Some("ffffffff".to_string()));
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
        let lock = fs::symlink_metadata(tmp.path().join(LOCK_FILE)).unwrap();
        assert_eq!(lock.mode() & 0o777, 0o644, "no one but its owner writes it");
    }

    #[test]
    fn malformed_and_hostile_locks_read_as_none() {
        let tmp = tempfile::tempdir().unwrap();
        let root = open(tmp.path());
        fs::write(tmp.path().join(LOCK_FILE), "not an id").unwrap();
        assert_eq!(read_lock(&root), None);
        fs::write(tmp.path().join(LOCK_FILE), "0a1b2c3d\n").unwrap();
        assert_eq!(read_lock(&root), Some("0a1b2c3d".to_string()));
        // H5: a huge lock, a FIFO or a link to /dev/zero is neither read whole nor waited on.
        fs::write(tmp.path().join(LOCK_FILE), "0a1b2c3d".repeat(1 << 17)).unwrap();
        assert_eq!(read_lock(&root), None);
        fs::remove_file(tmp.path().join(LOCK_FILE)).unwrap();
        std::os::unix::fs::symlink("/dev/zero", tmp.path().join(LOCK_FILE)).unwrap();
        assert_eq!(read_lock(&root), None);
        fs::remove_file(tmp.path().join(LOCK_FILE)).unwrap();
        let fifo =
            std::ffi::CString::new(tmp.path().join(LOCK_FILE).into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o666) }, 0);
        let started = std::time::Instant::now();
        assert_eq!(read_lock(&root), None);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn a_symlinked_lock_is_replaced_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("elsewhere");
        fs::write(&target, "abcdef00").unwrap();
        std::os::unix::fs::symlink(&target, tmp.path().join(LOCK_FILE)).unwrap();
        let root = open(tmp.path());
        assert_eq!(read_lock(&root), None, "a symlinked lock is not read");
        write_lock(&root, "abcdef01").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "abcdef00");
        assert_eq!(read_lock(&root), Some("abcdef01".to_string()));
    }
}
