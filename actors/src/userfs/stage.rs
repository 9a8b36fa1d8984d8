//! Mount sources that cannot be swapped: a project directory is opened as its user, then
//! bind-mounted from that fd onto a root-owned staging directory, and LXD is given the
//! staging path. LXD resolves only root's directories, so a symlink or a directory swapped
//! into the user's path after the check cannot make LXD mount anything else.
//!
//! The staging directory exists only while the daemon needs LXD to mount it (a start, a
//! device plugged into a running workshop): once LXD has mounted it into the workshop, the
//! workshop keeps its own mount and the staging one goes. LXD starting a workshop by itself
//! (autostart at boot) finds no source and fails, rather than mount an unchecked path; the
//! daemon starts those workshops again itself.

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::Dir;

/// A staging mount; unmounted (and its directory removed) when dropped.
#[derive(Debug)]
pub struct Staged {
    target: PathBuf,
}

impl Staged {
    pub fn path(&self) -> &Path {
        &self.target
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Err(e) = unstage(&self.target) {
            tracing::warn!(path = %self.target.display(), error = %e, "cannot remove a staging mount");
        }
    }
}

/// Bind-mounts the open directory `dir` at `target` (created, and its parents, root-only).
/// Mounts left at `target` by an interrupted start are removed first.
pub fn stage(dir: &Dir, target: &Path) -> io::Result<Staged> {
    unstage(target)?;
    if let Some(parent) = target.parent() {
        create_private_dirs(parent)?;
    }
    match std::fs::create_dir(target) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    // The kernel resolves /proc/self/fd/N to the very directory the fd holds, not by name.
    let source = c_path(Path::new(&format!("/proc/self/fd/{}", dir.fd().as_raw_fd())))?;
    let c_target = c_path(target)?;
    // SAFETY: both paths are NUL-terminated; the other arguments may be null for a bind.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            c_target.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let error = io::Error::last_os_error();
        let _ = std::fs::remove_dir(target);
        return Err(error);
    }
    Ok(Staged { target: target.to_path_buf() })
}

/// Unmounts whatever is mounted at `target` (mounts may be stacked by a crash) and removes
/// the directory. Nothing there is fine.
pub fn unstage(target: &Path) -> io::Result<()> {
    let c_target = c_path(target)?;
    loop {
        // SAFETY: a NUL-terminated path.
        if unsafe { libc::umount2(c_target.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) } != 0 {
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                // Not a mount point (any more), or not there at all.
                Some(libc::EINVAL) | Some(libc::ENOENT) => break,
                _ => return Err(error),
            }
        }
    }
    match std::fs::remove_dir(target) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Creates `dir` and its missing parents with mode 0700 (the daemon's own directories).
fn create_private_dirs(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn a_staged_directory_is_the_opened_one_even_after_a_swap() {
        if !is_root() {
            eprintln!("skipped: mounting needs root");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path().join("p");
        fs::create_dir(&project).unwrap();
        fs::write(project.join("mine"), "").unwrap();
        let other = tmp.path().join("other");
        fs::create_dir(&other).unwrap();
        fs::write(other.join("secret"), "").unwrap();
        let dir = Dir::open(&project).unwrap();
        // The user swaps the path for a link to another directory after the check.
        fs::rename(&project, tmp.path().join("p-old")).unwrap();
        std::os::unix::fs::symlink(&other, &project).unwrap();
        let target = tmp.path().join("staging/u/ws");
        let staged = stage(&dir, &target).unwrap();
        assert!(target.join("mine").exists());
        assert!(!target.join("secret").exists());
        drop(staged);
        assert!(!target.exists(), "the staging directory goes with the mount");
        // Stacked mounts left by a crash are all removed.
        std::mem::forget(stage(&dir, &target).unwrap());
        std::mem::forget(stage(&dir, &target).unwrap());
        unstage(&target).unwrap();
        assert!(!target.exists());
        unstage(&target).unwrap();
    }
}
