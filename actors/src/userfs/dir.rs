//! Directories held open by fd, and what the daemon may do in them: look at an entry without
//! following it, list entries, read a bounded regular file, write a file atomically. Every
//! name is one path component, opened relative to the directory with `O_NOFOLLOW`, so a
//! symlink or a swapped directory between two steps cannot send the daemon elsewhere.

use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::UserFsError;

/// What a directory entry is, seen without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device.
    Other,
}

impl Kind {
    fn of(mode: libc::mode_t) -> Kind {
        match mode & libc::S_IFMT {
            libc::S_IFREG => Kind::File,
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFLNK => Kind::Symlink,
            _ => Kind::Other,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::File => "a regular file",
            Kind::Dir => "a directory",
            Kind::Symlink => "a symbolic link (workshopd follows no link in a path it opens for you)",
            Kind::Other => "not a regular file",
        }
    }
}

/// Most entries [`Dir::entries`] reads from one directory.
pub const MAX_ENTRIES: usize = 4096;
/// Deepest directory [`Dir::remove_tree`] goes into.
pub const MAX_REMOVE_DEPTH: usize = 256;
/// Longest symlink target [`Dir::read_link`] reads (the kernel's `PATH_MAX`).
pub const MAX_LINK: usize = 4096;

/// What an entry is, seen without following it: its kind, permission bits (`0o7777`) and
/// size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    pub kind: Kind,
    pub mode: u32,
    pub size: u64,
}

/// An open directory and the path it was opened by (for messages only).
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    /// Opens the directory at the absolute `path`. Symlinks on the way are followed with the
    /// calling thread's identity: within [`super::as_user`], only where the user could.
    pub fn open(path: &Path) -> Result<Dir, UserFsError> {
        let fd = open_at(libc::AT_FDCWD, path.as_os_str(), libc::O_DIRECTORY)
            .map_err(|e| UserFsError::io("open", path, e))?;
        Ok(Dir { fd, path: path.to_path_buf() })
    }

    /// Opens the directory at the absolute `path` one component at a time from `/`, refusing
    /// a symlink anywhere on the way (not only at the end, unlike [`Dir::open`]).
    pub fn open_no_follow(path: &Path) -> Result<Dir, UserFsError> {
        use std::path::Component;
        let mut dir = Dir::open(Path::new("/"))?;
        for part in path.components() {
            match part {
                Component::RootDir => {}
                Component::Normal(name) => {
                    let name =
                        name.to_str().ok_or_else(|| UserFsError::BadName { path: path.to_path_buf() })?;
                    dir = dir.subdir(name)?.ok_or_else(|| {
                        UserFsError::io("open", path, io::Error::from_raw_os_error(libc::ENOENT))
                    })?;
                }
                _ => return Err(UserFsError::BadName { path: path.to_path_buf() }),
            }
        }
        Ok(Dir { fd: dir.fd, path: path.to_path_buf() })
    }

    /// Whether `name` is a unix socket (not following a symlink); `None` when there is no
    /// such entry.
    pub fn is_socket(&self, name: &str) -> Result<Option<bool>, UserFsError> {
        let path = self.path.join(name);
        let c_name = component(name, &path)?;
        match stat_at(self.fd.as_raw_fd(), &c_name, libc::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st.st_mode & libc::S_IFMT == libc::S_IFSOCK)),
            Err(e) if gone(&e) => Ok(None),
            Err(e) => Err(UserFsError::io("inspect", &path, e)),
        }
    }

    /// The path the directory was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory's owner.
    pub fn owner(&self) -> Result<u32, UserFsError> {
        stat_at(self.fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH)
            .map(|st| st.st_uid)
            .map_err(|e| UserFsError::io("inspect", &self.path, e))
    }

    /// What `name` is (not following a symlink); `None` when there is no such entry.
    pub fn kind(&self, name: &str) -> Result<Option<Kind>, UserFsError> {
        let path = self.path.join(name);
        let c_name = component(name, &path)?;
        match stat_at(self.fd.as_raw_fd(), &c_name, libc::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Kind::of(st.st_mode))),
            Err(e) if gone(&e) => Ok(None),
            Err(e) => Err(UserFsError::io("inspect", &path, e)),
        }
    }

    /// Opens the subdirectory `name`; `None` when there is none. A symlink is refused.
    pub fn subdir(&self, name: &str) -> Result<Option<Dir>, UserFsError> {
        let path = self.path.join(name);
        let c_name = component(name, &path)?;
        match open_at(self.fd.as_raw_fd(), OsStr::from_bytes(c_name.to_bytes()), libc::O_DIRECTORY) {
            Ok(fd) => Ok(Some(Dir { fd, path })),
            Err(e) if gone(&e) => Ok(None),
            Err(e) => Err(self.refusal("open", name, path, e)),
        }
    }

    /// Opens the directory `components` below this one, one subdirectory at a time (a
    /// symlink on the way is refused); `None` when one of them does not exist.
    pub fn subpath<S: AsRef<str>>(&self, components: &[S]) -> Result<Option<Dir>, UserFsError> {
        let Some((first, rest)) = components.split_first() else {
            return Err(UserFsError::BadName { path: self.path.clone() });
        };
        let mut dir = match self.subdir(first.as_ref())? {
            Some(dir) => dir,
            None => return Ok(None),
        };
        for name in rest {
            match dir.subdir(name.as_ref())? {
                Some(sub) => dir = sub,
                None => return Ok(None),
            }
        }
        Ok(Some(dir))
    }

    /// What `name` is, its permissions and size (not following a symlink); `None` when there
    /// is no such entry.
    pub fn metadata(&self, name: &str) -> Result<Option<Metadata>, UserFsError> {
        let path = self.path.join(name);
        let c_name = component(name, &path)?;
        match stat_at(self.fd.as_raw_fd(), &c_name, libc::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Metadata {
                kind: Kind::of(st.st_mode),
                mode: st.st_mode & 0o7777,
                size: st.st_size as u64,
            })),
            Err(e) if gone(&e) => Ok(None),
            Err(e) => Err(UserFsError::io("inspect", &path, e)),
        }
    }

    /// The directory's identity: its device and inode numbers (one deleted and made again at
    /// the same path is another).
    pub fn identity(&self) -> io::Result<(u64, u64)> {
        let st = stat_at(self.fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH)?;
        Ok((st.st_dev, st.st_ino))
    }

    /// The target of the symlink `name` (never followed), at most [`MAX_LINK`] bytes of UTF-8.
    pub fn read_link(&self, name: &str) -> Result<String, UserFsError> {
        let path = self.path.join(name);
        let c_name = component(name, &path)?;
        let mut buf = vec![0u8; MAX_LINK + 1];
        // SAFETY: the name is NUL-terminated and `buf` is valid for `buf.len()` bytes.
        let n = unsafe {
            libc::readlinkat(self.fd.as_raw_fd(), c_name.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
        };
        if n < 0 {
            return Err(UserFsError::io("read link", &path, io::Error::last_os_error()));
        }
        let n = n as usize;
        if n > MAX_LINK {
            return Err(UserFsError::TooLarge { path, limit: MAX_LINK as u64 });
        }
        buf.truncate(n);
        String::from_utf8(buf).map_err(|_| UserFsError::NotText { path })
    }

    /// The entries of the directory (without `.` and `..`) and what each is, in no order;
    /// at most [`MAX_ENTRIES`].
    pub fn entries(&self) -> Result<Vec<(String, Kind)>, UserFsError> {
        self.entries_within(MAX_ENTRIES)
    }

    /// [`Dir::entries`], at most `limit` of them.
    pub fn entries_within(&self, limit: usize) -> Result<Vec<(String, Kind)>, UserFsError> {
        self.list(limit, false)
    }

    /// The first `limit` entries (in no order), for a caller that removes them and asks again.
    fn entries_partial(&self, limit: usize) -> Result<Vec<(String, Kind)>, UserFsError> {
        self.list(limit, true)
    }

    fn list(&self, limit: usize, partial: bool) -> Result<Vec<(String, Kind)>, UserFsError> {
        let what = |e| UserFsError::io("list", &self.path, e);
        // fdopendir takes its fd over: give it a duplicate reopened at the directory's start.
        let fd = open_at(self.fd.as_raw_fd(), OsStr::new("."), libc::O_DIRECTORY).map_err(what)?;
        let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
        // SAFETY: `raw` is an open directory fd we own; on success the stream owns it.
        let stream = unsafe { libc::fdopendir(raw) };
        if stream.is_null() {
            let error = io::Error::last_os_error();
            // SAFETY: fdopendir failed, so `raw` is still ours to close.
            unsafe { libc::close(raw) };
            return Err(what(error));
        }
        let mut entries = Vec::new();
        let result = loop {
            // SAFETY: `stream` is a valid directory stream until closedir below.
            let entry = unsafe { libc::readdir(stream) };
            if entry.is_null() {
                break Ok(());
            }
            // SAFETY: readdir returned a valid entry whose d_name is NUL-terminated.
            let (name, d_type) = unsafe { (CStr::from_ptr((*entry).d_name.as_ptr()), (*entry).d_type) };
            let name = name.to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            if entries.len() == limit {
                if partial {
                    break Ok(());
                }
                break Err(UserFsError::TooMany { path: self.path.clone(), limit });
            }
            let Ok(name) = std::str::from_utf8(name) else { continue };
            let kind = match d_type {
                libc::DT_REG => Kind::File,
                libc::DT_DIR => Kind::Dir,
                libc::DT_LNK => Kind::Symlink,
                libc::DT_UNKNOWN => match self.kind(name) {
                    Ok(Some(kind)) => kind,
                    _ => continue,
                },
                _ => Kind::Other,
            };
            entries.push((name.to_string(), kind));
        };
        // SAFETY: `stream` came from fdopendir and is closed once.
        unsafe { libc::closedir(stream) };
        result.map(|()| entries)
    }

    /// Reads the regular file `name`, refusing symlinks, FIFOs, devices and files larger than
    /// `limit` bytes. Never blocks on a FIFO: its type is checked before it is opened, and
    /// the open itself does not wait for a writer.
    pub fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, UserFsError> {
        let path = self.path.join(name);
        let (file, size) = self.open_file(name, limit)?;
        let mut data = Vec::with_capacity(size as usize);
        file.take(limit + 1).read_to_end(&mut data).map_err(|e| UserFsError::io("read", &path, e))?;
        if data.len() as u64 > limit {
            return Err(UserFsError::TooLarge { path, limit });
        }
        Ok(data)
    }

    /// Opens the regular file `name` for reading, with its size: as [`Dir::read`], for a
    /// caller that streams the content (and reads at most the size returned).
    pub fn open_file(&self, name: &str, limit: u64) -> Result<(File, u64), UserFsError> {
        let path = self.path.join(name);
        let c_name = component(name, &path)?;
        match self.kind(name)? {
            None => return Err(UserFsError::io("read", &path, io::Error::from_raw_os_error(libc::ENOENT))),
            Some(Kind::File) => {}
            Some(kind) => return Err(UserFsError::NotRegular { path, what: kind.describe() }),
        }
        let fd = open_at(self.fd.as_raw_fd(), OsStr::from_bytes(c_name.to_bytes()), libc::O_NONBLOCK)
            .map_err(|e| self.refusal("read", name, path.clone(), e))?;
        // The entry may have been swapped since it was looked at: check what was opened.
        let st = stat_at(fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH)
            .map_err(|e| UserFsError::io("read", &path, e))?;
        if Kind::of(st.st_mode) != Kind::File {
            return Err(UserFsError::NotRegular { path, what: Kind::of(st.st_mode).describe() });
        }
        if st.st_size as u64 > limit {
            return Err(UserFsError::TooLarge { path, limit });
        }
        Ok((File::from(fd), st.st_size as u64))
    }

    /// [`Dir::read`] of a UTF-8 text file.
    pub fn read_text(&self, name: &str, limit: u64) -> Result<String, UserFsError> {
        let data = self.read(name, limit)?;
        String::from_utf8(data).map_err(|_| UserFsError::NotText { path: self.path.join(name) })
    }

    /// Replaces `name` with a new file holding `data` (mode `mode`, owned by the calling
    /// identity): written to a temporary file created beside it, synced, renamed over it.
    /// A symlink at `name` is replaced, never followed.
    pub fn write_atomic(&self, name: &str, data: &[u8], mode: u32) -> Result<(), UserFsError> {
        let path = self.path.join(name);
        let c_name = component(name, &path)?;
        let what = |e| UserFsError::io("write", &path, e);
        let temporary = format!("{name}.{:08x}", rand::random::<u32>());
        let c_temp = component(&temporary, &path)?;
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: the name is NUL-terminated; the returned fd is checked before use.
        let raw = unsafe { libc::openat(self.fd.as_raw_fd(), c_temp.as_ptr(), flags, mode as libc::c_uint) };
        if raw < 0 {
            return Err(what(io::Error::last_os_error()));
        }
        // SAFETY: openat returned a new fd that nothing else owns.
        let mut file = File::from(unsafe { OwnedFd::from_raw_fd(raw) });
        let written = (|| {
            // The umask may have cleared bits of the creation mode.
            // SAFETY: fchmod on an fd we own.
            if unsafe { libc::fchmod(file.as_raw_fd(), mode) } != 0 {
                return Err(io::Error::last_os_error());
            }
            file.write_all(data)?;
            file.sync_all()?;
            // SAFETY: both names are NUL-terminated and relative to our directory fd.
            let rc = unsafe {
                libc::renameat(self.fd.as_raw_fd(), c_temp.as_ptr(), self.fd.as_raw_fd(), c_name.as_ptr())
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: fsync of the directory fd we own.
            if unsafe { libc::fsync(self.fd.as_raw_fd()) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })();
        if written.is_err() {
            // SAFETY: best effort removal of our own temporary file, relative to our fd.
            unsafe { libc::unlinkat(self.fd.as_raw_fd(), c_temp.as_ptr(), 0) };
        }
        written.map_err(what)
    }

    /// Opens the subdirectory `name`, creating it with `mode` (owned by the calling identity)
    /// when there is none. A symlink is refused, never followed.
    pub fn create_subdir(&self, name: &str, mode: u32) -> Result<Dir, UserFsError> {
        let path = self.path.join(name);
        let c_name = component(name, &path)?;
        // SAFETY: the name is NUL-terminated and relative to our directory fd.
        let created =
            unsafe { libc::mkdirat(self.fd.as_raw_fd(), c_name.as_ptr(), mode as libc::mode_t) } == 0;
        if !created {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::AlreadyExists {
                return Err(UserFsError::io("create", &path, error));
            }
        }
        let dir = self
            .subdir(name)?
            .ok_or_else(|| UserFsError::io("open", &path, io::Error::from_raw_os_error(libc::ENOENT)))?;
        if created {
            // The umask may have cleared bits of the creation mode.
            // SAFETY: fchmod on an fd we own.
            if unsafe { libc::fchmod(dir.fd.as_raw_fd(), mode as libc::mode_t) } != 0 {
                return Err(UserFsError::io("create", &path, io::Error::last_os_error()));
            }
        }
        Ok(dir)
    }

    /// Opens the directory `components` below this one, creating what is missing with `mode`
    /// (`mkdir -p`, never following a symlink on the way).
    pub fn create_path(&self, components: &[&str], mode: u32) -> Result<Dir, UserFsError> {
        let Some((first, rest)) = components.split_first() else {
            return Err(UserFsError::BadName { path: self.path.clone() });
        };
        let mut dir = self.create_subdir(first, mode)?;
        for name in rest {
            dir = dir.create_subdir(name, mode)?;
        }
        Ok(dir)
    }

    /// Renames the entry `name` to `new_name` in `to` (never following a symlink; an empty
    /// directory at `new_name` is replaced). The raw OS error is kept for the caller to tell
    /// "not empty" and "another filesystem" apart.
    pub fn rename_to(&self, name: &str, to: &Dir, new_name: &str) -> Result<(), io::Error> {
        let bad = || io::Error::from(io::ErrorKind::InvalidInput);
        let from = component(name, &self.path).map_err(|_| bad())?;
        let into = component(new_name, &to.path).map_err(|_| bad())?;
        // SAFETY: both names are NUL-terminated and relative to directory fds we hold.
        if unsafe { libc::renameat(self.fd.as_raw_fd(), from.as_ptr(), to.fd.as_raw_fd(), into.as_ptr()) }
            != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Removes the entry `name` and, for a directory, everything in it, never following a
    /// symlink (a symlink is removed itself); at most `limit` entries in all. Nothing there
    /// is fine.
    pub fn remove_tree(&self, name: &str, limit: usize) -> Result<(), UserFsError> {
        let mut left = limit;
        self.remove_entry(name, &mut left, 0)
    }

    fn remove_entry(&self, name: &str, left: &mut usize, depth: usize) -> Result<(), UserFsError> {
        let path = self.path.join(name);
        let c_name = component(name, &path)?;
        if *left == 0 {
            return Err(UserFsError::TooMany { path, limit: 0 });
        }
        *left -= 1;
        match self.kind(name)? {
            None => return Ok(()),
            Some(Kind::Dir) => {
                if depth >= MAX_REMOVE_DEPTH {
                    return Err(UserFsError::TooDeep { path, limit: MAX_REMOVE_DEPTH });
                }
                let Some(sub) = self.subdir(name)? else { return Ok(()) };
                loop {
                    let entries = sub.entries_partial(MAX_ENTRIES)?;
                    if entries.is_empty() {
                        break;
                    }
                    for (entry, _) in entries {
                        sub.remove_entry(&entry, left, depth + 1)?;
                    }
                }
                // SAFETY: the name is NUL-terminated and relative to our directory fd.
                if unsafe { libc::unlinkat(self.fd.as_raw_fd(), c_name.as_ptr(), libc::AT_REMOVEDIR) } != 0 {
                    let error = io::Error::last_os_error();
                    if !gone(&error) {
                        return Err(UserFsError::io("remove", &path, error));
                    }
                }
            }
            Some(_) => {
                // SAFETY: the name is NUL-terminated and relative to our directory fd.
                if unsafe { libc::unlinkat(self.fd.as_raw_fd(), c_name.as_ptr(), 0) } != 0 {
                    let error = io::Error::last_os_error();
                    if !gone(&error) {
                        return Err(UserFsError::io("remove", &path, error));
                    }
                }
            }
        }
        Ok(())
    }

    /// Creates the symlink `name` pointing to `target` (an existing entry is an error).
    pub fn symlink(&self, name: &str, target: &Path) -> Result<(), UserFsError> {
        let path = self.path.join(name);
        let c_name = component(name, &path)?;
        let c_target = CString::new(target.as_os_str().as_bytes())
            .map_err(|_| UserFsError::BadName { path: path.clone() })?;
        // SAFETY: both strings are NUL-terminated; the name is relative to our directory fd.
        if unsafe { libc::symlinkat(c_target.as_ptr(), self.fd.as_raw_fd(), c_name.as_ptr()) } != 0 {
            return Err(UserFsError::io("create", &path, io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Removes the symlink `name` if it points to `target`; anything else there (or nothing)
    /// is left alone. Returns whether it was removed.
    pub fn remove_link_to(&self, name: &str, target: &Path) -> Result<bool, UserFsError> {
        if self.kind(name)? != Some(Kind::Symlink) || Path::new(&self.read_link(name)?) != target {
            return Ok(false);
        }
        let path = self.path.join(name);
        let c_name = component(name, &path)?;
        // SAFETY: the name is NUL-terminated and relative to our directory fd.
        if unsafe { libc::unlinkat(self.fd.as_raw_fd(), c_name.as_ptr(), 0) } != 0 {
            let error = io::Error::last_os_error();
            if !gone(&error) {
                return Err(UserFsError::io("remove", &path, error));
            }
        }
        Ok(true)
    }

    /// The open directory, e.g. to mount it.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Turns an open error into a refusal that says why: a symlink or not a directory.
    fn refusal(&self, op: &'static str, name: &str, path: PathBuf, error: io::Error) -> UserFsError {
        match error.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) | Some(libc::ENXIO) => match self.kind(name) {
                Ok(Some(kind)) if kind != Kind::Dir || op != "open" => {
                    UserFsError::NotRegular { path, what: kind.describe() }
                }
                _ => UserFsError::io(op, &path, error),
            },
            _ => UserFsError::io(op, &path, error),
        }
    }
}

/// Whether an error means the entry is not there.
fn gone(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound
}

/// `name` as one path component.
fn component(name: &str, path: &Path) -> Result<CString, UserFsError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(UserFsError::BadName { path: path.to_path_buf() });
    }
    CString::new(name).map_err(|_| UserFsError::BadName { path: path.to_path_buf() })
}

/// `openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | extra)`. With `AT_FDCWD`
/// and an absolute path, symlinks before the last component are followed.
fn open_at(dir: libc::c_int, name: &OsStr, extra: libc::c_int) -> io::Result<OwnedFd> {
    let c_name = CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let nofollow = if dir == libc::AT_FDCWD { 0 } else { libc::O_NOFOLLOW };
    let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | nofollow | extra;
    // SAFETY: the name is NUL-terminated; the returned fd is checked before use.
    let fd = unsafe { libc::openat(dir, c_name.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn stat_at(dir: libc::c_int, name: &CStr, flags: libc::c_int) -> io::Result<libc::stat> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the name is NUL-terminated and `st` is valid for writing.
    if unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    use super::*;

    fn dir() -> (tempfile::TempDir, Dir) {
        let tmp = tempfile::tempdir().unwrap();
        let d = Dir::open(tmp.path()).unwrap();
        (tmp, d)
    }

    #[test]
    fn links_are_made_and_removed_only_when_they_point_where_expected() {
        let (tmp, d) = dir();
        let target = Path::new("/run/staged.sock");
        d.symlink("s", target).unwrap();
        assert_eq!(d.read_link("s").unwrap(), "/run/staged.sock");
        assert!(d.symlink("s", target).is_err(), "an existing entry is not replaced");
        assert!(!d.remove_link_to("s", Path::new("/elsewhere")).unwrap());
        assert!(d.remove_link_to("s", target).unwrap());
        assert_eq!(d.kind("s").unwrap(), None);
        fs::write(tmp.path().join("f"), "x").unwrap();
        assert!(!d.remove_link_to("f", target).unwrap(), "a file is left alone");
        assert!(!d.remove_link_to("none", target).unwrap());
        assert!(d.symlink("../x", target).is_err(), "one component only");
    }

    fn mkfifo(path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }

    #[test]
    fn a_subpath_is_opened_one_directory_at_a_time_never_through_a_symlink() {
        let (tmp, d) = dir();
        fs::create_dir_all(tmp.path().join("a/b/c")).unwrap();
        symlink(tmp.path().join("a/b"), tmp.path().join("a/link")).unwrap();
        assert_eq!(d.subpath(&["a", "b", "c"]).unwrap().unwrap().path(), tmp.path().join("a/b/c"));
        assert!(d.subpath(&["a", "none", "c"]).unwrap().is_none());
        let err = d.subpath(&["a", "link", "c"]).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        assert!(d.subpath::<&str>(&[]).is_err());
    }

    #[test]
    fn paths_open_without_following_any_symlink_and_sockets_are_told_apart() {
        let (tmp, _) = dir();
        let real = tmp.path().join("real");
        fs::create_dir_all(real.join("sub")).unwrap();
        symlink(&real, tmp.path().join("link")).unwrap();
        let d = Dir::open_no_follow(&real.join("sub")).unwrap();
        assert_eq!(d.path(), real.join("sub"));
        let err = Dir::open_no_follow(&tmp.path().join("link/sub")).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        assert!(Dir::open_no_follow(&tmp.path().join("none")).unwrap_err().is_not_found());
        assert!(matches!(Dir::open_no_follow(Path::new("/tmp/../etc")), Err(UserFsError::BadName { .. })));
        let _listener = std::os::unix::net::UnixListener::bind(real.join("sock")).unwrap();
        fs::write(real.join("file"), "").unwrap();
        symlink(real.join("sock"), real.join("sock-link")).unwrap();
        let d = Dir::open_no_follow(&real).unwrap();
        assert_eq!(d.is_socket("sock").unwrap(), Some(true));
        assert_eq!(d.is_socket("file").unwrap(), Some(false));
        assert_eq!(d.is_socket("sock-link").unwrap(), Some(false), "a link to a socket is not one");
        assert_eq!(d.is_socket("none").unwrap(), None);
    }

    #[test]
    fn reads_regular_files_up_to_the_limit() {
        let (tmp, d) = dir();
        fs::write(tmp.path().join("a"), "hello").unwrap();
        assert_eq!(d.read_text("a", 5).unwrap(), "hello");
        let err = d.read("a", 4).unwrap_err();
        assert!(matches!(err, UserFsError::TooLarge { limit: 4, .. }), "{err}");
        assert!(err.to_string().ends_with("larger than 4 bytes"), "{err}");
        assert!(d.read("missing", 5).unwrap_err().is_not_found());
    }

    #[test]
    fn symlinks_fifos_and_devices_are_refused_without_reading_them() {
        let (tmp, d) = dir();
        fs::write(tmp.path().join("secret"), "root:*:1:0").unwrap();
        symlink(tmp.path().join("secret"), tmp.path().join("link")).unwrap();
        symlink("/dev/zero", tmp.path().join("zero")).unwrap();
        mkfifo(&tmp.path().join("fifo"));
        for name in ["link", "zero", "fifo"] {
            let started = std::time::Instant::now();
            let err = d.read(name, 1 << 20).unwrap_err().to_string();
            assert!(started.elapsed() < std::time::Duration::from_secs(1), "{name} blocked");
            assert!(!err.contains("root:"), "{err}");
            assert!(
                err.starts_with(&format!("cannot read \"{}\": ", tmp.path().join(name).display())),
                "{err}"
            );
        }
        assert!(d.read("link", 100).unwrap_err().to_string().contains("symbolic link"));
        assert!(d.read("fifo", 100).unwrap_err().to_string().ends_with("not a regular file"));
        assert_eq!(d.kind("link").unwrap(), Some(Kind::Symlink));
        assert_eq!(d.kind("fifo").unwrap(), Some(Kind::Other));
        assert_eq!(d.kind("nothing").unwrap(), None);
    }

    #[test]
    fn paths_are_created_and_trees_removed_without_following_symlinks() {
        let (tmp, d) = dir();
        let made = d.create_path(&["a", "b", "c"], 0o750).unwrap();
        assert_eq!(made.path(), tmp.path().join("a/b/c"));
        let mode = fs::metadata(tmp.path().join("a/b/c")).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o750);
        // Existing directories are opened as they are.
        fs::set_permissions(tmp.path().join("a/b/c"), fs::Permissions::from_mode(0o700)).unwrap();
        d.create_path(&["a", "b", "c"], 0o755).unwrap();
        let mode = fs::metadata(tmp.path().join("a/b/c")).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700);
        // A symlink on the way is refused.
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), tmp.path().join("a/link")).unwrap();
        assert!(d.create_path(&["a", "link", "x"], 0o755).is_err());
        assert!(!outside.path().join("x").exists());
        assert!(d.create_path(&[], 0o755).is_err());
        // Removal takes the symlink, never what it points to.
        fs::write(outside.path().join("keep"), "x").unwrap();
        fs::write(tmp.path().join("a/b/c/f"), "x").unwrap();
        d.remove_tree("a", 100).unwrap();
        assert!(!tmp.path().join("a").exists());
        assert!(outside.path().join("keep").exists());
        d.remove_tree("a", 100).unwrap();
        // Bounded.
        d.create_path(&["x", "y", "z"], 0o755).unwrap();
        assert!(matches!(d.remove_tree("x", 2), Err(UserFsError::TooMany { .. })));
    }

    #[test]
    fn subdirectories_are_not_reached_through_symlinks() {
        let (tmp, d) = dir();
        fs::create_dir(tmp.path().join("real")).unwrap();
        fs::write(tmp.path().join("real/f"), "x").unwrap();
        symlink(tmp.path().join("real"), tmp.path().join("link")).unwrap();
        let real = d.subdir("real").unwrap().unwrap();
        assert_eq!(real.read_text("f", 10).unwrap(), "x");
        assert!(d.subdir("missing").unwrap().is_none());
        let err = d.subdir("link").unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        for bad in ["", ".", "..", "a/b", "../etc"] {
            assert!(matches!(d.read(bad, 1), Err(UserFsError::BadName { .. })), "{bad:?}");
        }
    }

    #[test]
    fn metadata_and_link_targets_are_read_without_following() {
        let (tmp, d) = dir();
        fs::write(tmp.path().join("f"), "12345").unwrap();
        fs::set_permissions(tmp.path().join("f"), fs::Permissions::from_mode(0o4751)).unwrap();
        symlink("/etc/shadow", tmp.path().join("l")).unwrap();
        let f = d.metadata("f").unwrap().unwrap();
        assert_eq!((f.kind, f.mode, f.size), (Kind::File, 0o4751, 5));
        assert_eq!(d.metadata("l").unwrap().unwrap().kind, Kind::Symlink);
        assert_eq!(d.metadata("none").unwrap(), None);
        assert_eq!(d.read_link("l").unwrap(), "/etc/shadow");
        // The kernel's longest target (PATH_MAX with its NUL).
        let long = "x".repeat(MAX_LINK - 1);
        symlink(&long, tmp.path().join("long")).unwrap();
        assert_eq!(d.read_link("long").unwrap(), long);
        let err = d.read_link("f").unwrap_err().to_string();
        assert!(err.starts_with("cannot read link \"") && err.ends_with("invalid argument"), "{err}");
    }

    #[test]
    fn files_are_opened_for_streaming_with_their_size() {
        let (tmp, d) = dir();
        fs::write(tmp.path().join("f"), "hello").unwrap();
        let (mut file, size) = d.open_file("f", 5).unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!((text.as_str(), size), ("hello", 5));
        assert!(matches!(d.open_file("f", 4), Err(UserFsError::TooLarge { limit: 4, .. })));
        mkfifo(&tmp.path().join("fifo"));
        assert!(matches!(d.open_file("fifo", 5), Err(UserFsError::NotRegular { .. })));
    }

    #[test]
    fn entries_can_be_bounded() {
        let (tmp, d) = dir();
        for name in ["a", "b", "c"] {
            fs::write(tmp.path().join(name), "").unwrap();
        }
        assert_eq!(d.entries_within(3).unwrap().len(), 3);
        assert!(matches!(d.entries_within(2), Err(UserFsError::TooMany { limit: 2, .. })));
    }

    #[test]
    fn entries_say_what_each_is() {
        let (tmp, d) = dir();
        fs::write(tmp.path().join("f"), "").unwrap();
        fs::create_dir(tmp.path().join("d")).unwrap();
        symlink("f", tmp.path().join("l")).unwrap();
        let mut entries = d.entries().unwrap();
        entries.sort();
        assert_eq!(
            entries,
            [("d".to_string(), Kind::Dir), ("f".to_string(), Kind::File), ("l".to_string(), Kind::Symlink)]
        );
    }

    #[test]
    fn atomic_writes_replace_symlinks_and_leave_nothing_behind() {
        let (tmp, d) = dir();
        let target = tmp.path().join("elsewhere");
        fs::write(&target, "keep").unwrap();
        symlink(&target, tmp.path().join("lock")).unwrap();
        d.write_atomic("lock", b"0a1b2c3d", 0o666).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
        let meta = fs::symlink_metadata(tmp.path().join("lock")).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.mode() & 0o777, 0o666);
        assert_eq!(d.read_text("lock", 100).unwrap(), "0a1b2c3d");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 2);
        assert_eq!(d.owner().unwrap(), fs::metadata(tmp.path()).unwrap().uid());
    }
}
