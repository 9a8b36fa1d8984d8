//! `.workshop.lock`: the project id, written into the project directory.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt, fchown};
use std::path::Path;

use super::ProjectError;

/// Name of the lock file at a project's root.
pub const LOCK_FILE: &str = ".workshop.lock";

/// A fresh project id: 8 lowercase hex digits from 4 random bytes.
pub fn new_project_id() -> String {
    rand::random::<[u8; 4]>().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `id` has the form of a project id.
pub(super) fn is_project_id(id: &str) -> bool {
    id.len() == 8 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The id in `root/.workshop.lock`, if the file exists and holds a well-formed id.
pub fn read_lock(root: &Path) -> Option<String> {
    let text = fs::read_to_string(root.join(LOCK_FILE)).ok()?;
    let id = text.trim();
    is_project_id(id).then(|| id.to_string())
}

/// Writes `id` to `root/.workshop.lock` atomically, mode 0666, owned by the owner of `root`
/// (the daemon runs as root, the project belongs to the user).
pub fn write_lock(root: &Path, id: &str) -> Result<(), ProjectError> {
    let lock = root.join(LOCK_FILE);
    let what = || format!("write \"{}\"", lock.display());
    let owner = fs::metadata(root).map_err(ProjectError::io(what()))?;
    let temporary = root.join(format!("{LOCK_FILE}.{}", new_project_id()));
    let result =
        write_new(&temporary, id, owner.uid(), owner.gid()).and_then(|()| fs::rename(&temporary, &lock));
    if result.is_err() {
        // Best effort: the temporary file may not even exist.
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(ProjectError::io(what()))
}

/// Creates `path` (never following a symlink), owned by `uid`:`gid`, holding `id`.
fn write_new(path: &Path, id: &str, uid: u32, gid: u32) -> std::io::Result<()> {
    let mut file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o666)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    // The umask may have cleared bits of the creation mode.
    file.set_permissions(Permissions::from_mode(0o666))?;
    fchown(&file, Some(uid), Some(gid))?;
    file.write_all(id.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(read_lock(tmp.path()), None);
        write_lock(tmp.path(), "0a1b2c3d").unwrap();
        assert_eq!(read_lock(tmp.path()), Some("0a1b2c3d".to_string()));
        assert_eq!(fs::read_to_string(tmp.path().join(LOCK_FILE)).unwrap(), "0a1b2c3d");
        write_lock(tmp.path(), "ffffffff").unwrap();
        assert_eq!(read_lock(tmp.path()), Some("ffffffff".to_string()));
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn malformed_locks_read_as_none() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(LOCK_FILE), "not an id").unwrap();
        assert_eq!(read_lock(tmp.path()), None);
        fs::write(tmp.path().join(LOCK_FILE), "0a1b2c3d\n").unwrap();
        assert_eq!(read_lock(tmp.path()), Some("0a1b2c3d".to_string()));
    }

    #[test]
    fn lock_mode_and_owner_follow_the_project_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        // Only root may give the directory away; the lock must follow it then too.
        if fs::metadata(root).unwrap().uid() == 0 {
            std::os::unix::fs::chown(root, Some(4321), Some(4322)).unwrap();
        }
        write_lock(root, "12345678").unwrap();
        let dir = fs::metadata(root).unwrap();
        let lock = fs::symlink_metadata(root.join(LOCK_FILE)).unwrap();
        assert!(lock.file_type().is_file());
        assert_eq!(lock.mode() & 0o777, 0o666);
        assert_eq!((lock.uid(), lock.gid()), (dir.uid(), dir.gid()));
    }

    #[test]
    fn a_symlinked_lock_is_replaced_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("elsewhere");
        fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, tmp.path().join(LOCK_FILE)).unwrap();
        write_lock(tmp.path(), "abcdef01").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
        assert_eq!(read_lock(tmp.path()), Some("abcdef01".to_string()));
    }
}
