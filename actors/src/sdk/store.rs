//! The tree store: `$WORKSHOP/sdk/trees/<id>/`, one directory per SDK content, named by the
//! sha3-384 of the stream it was committed from (a tar archive, plain or gzip, as given).
//!
//! A commit extracts into a fresh root-only temporary directory beside the trees, checking
//! every entry (a path stays inside the tree and never passes through a symlink or a file;
//! no devices or FIFOs; no entry twice; bounded bytes and entries), then makes files
//! world-readable (and world-executable where their owner may execute them), flushes the
//! filesystem and renames the directory into place without replacing anything: a tree is
//! complete or absent, and two commits of the same content both succeed with one tree.
//! The store's directory is root's only: no other user of the host reaches the files.
//! Nothing here decides when a tree is unused; the SDK manager removes trees.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Read};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use sha3::{Digest, Sha3_384};
use tar::EntryType;

use super::canonical::is_component;
use super::{Limits, TreeError, TreeId};
use crate::userfs::{Dir, MAX_YAML};

/// Where the trees are, below the daemon's directory (`$WORKSHOP`).
pub const TREES_DIR: &str = "sdk/trees";
/// Names of directories being built or removed.
const TEMPORARY: &str = ".tmp-";

/// The store of SDK trees.
#[derive(Debug, Clone)]
pub struct TreeStore {
    root: PathBuf,
}

impl TreeStore {
    /// The store in the directory `root` (created if missing), root's only (mode 0700, that
    /// of one made before too): a tree's files are world-readable for the workshops that
    /// mount it, and may be a user's private files (a project SDK's), which no other user of
    /// the host may reach.
    pub fn open(root: PathBuf) -> Result<TreeStore, TreeError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&root)
            .map_err(|e| TreeError::io("create", &root, e))?;
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700))
            .map_err(|e| TreeError::io("protect", &root, e))?;
        Ok(TreeStore { root })
    }

    /// Where tree `id` is (whether or not it is there).
    pub fn path(&self, id: &TreeId) -> PathBuf {
        self.root.join(id.as_str())
    }

    /// Gives tree `id` to `uid`:`gid` (the host ids a workshop's root is mapped to, so that
    /// the workshops see their SDKs' files as root's, not as an unmapped owner's `nobody`),
    /// unless its top directory has them already: every entry below first, never following
    /// a symlink, the top directory last (a commit interrupted halfway is done again).
    pub fn own(&self, id: &TreeId, uid: u32, gid: u32) -> Result<(), TreeError> {
        use std::os::unix::fs::MetadataExt;
        let top = self.path(id);
        let meta = fs::symlink_metadata(&top).map_err(|e| TreeError::io("read", &top, e))?;
        if (meta.uid(), meta.gid()) == (uid, gid) {
            return Ok(());
        }
        let mut pending = vec![top.clone()];
        while let Some(dir) = pending.pop() {
            for entry in fs::read_dir(&dir).map_err(|e| TreeError::io("read", &dir, e))? {
                let entry = entry.map_err(|e| TreeError::io("read", &dir, e))?;
                let path = entry.path();
                std::os::unix::fs::lchown(&path, Some(uid), Some(gid))
                    .map_err(|e| TreeError::io("change the owner of", &path, e))?;
                // The entry's own type (a symlink is never followed).
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    pending.push(path);
                }
            }
        }
        std::os::unix::fs::lchown(&top, Some(uid), Some(gid))
            .map_err(|e| TreeError::io("change the owner of", &top, e))
    }

    /// Whether tree `id` is in the store.
    pub fn contains(&self, id: &TreeId) -> bool {
        fs::symlink_metadata(self.path(id)).is_ok_and(|m| m.is_dir())
    }

    /// Extracts the tar stream `tar` into the store and returns its id (the sha3-384 of the
    /// whole stream). With `expected`, a stream of another digest is refused and nothing is
    /// kept. A tree already there is kept as it is.
    pub fn commit(
        &self,
        tar: impl Read,
        limits: Limits,
        expected: Option<&TreeId>,
    ) -> Result<TreeId, TreeError> {
        self.commit_with(tar, limits, |id| match expected {
            Some(expected) if expected != id => {
                Err(TreeError::DigestMismatch { expected: expected.clone(), found: id.clone() })
            }
            _ => Ok(()),
        })
    }

    /// [`TreeStore::commit`], asking `accept` whether to keep the tree once the whole stream
    /// is read and its id known (e.g. whether its writer finished).
    pub(super) fn commit_with(
        &self,
        tar: impl Read,
        limits: Limits,
        accept: impl FnOnce(&TreeId) -> Result<(), TreeError>,
    ) -> Result<TreeId, TreeError> {
        let temporary = self.temporary()?;
        let committed = self.fill(tar, limits, accept, &temporary);
        if !matches!(committed, Ok((_, true))) {
            remove_tree(&temporary);
        }
        committed.map(|(id, _)| id)
    }

    /// Extracts into `temporary` and renames it into place: the id, and whether the
    /// temporary directory became the tree.
    fn fill(
        &self,
        tar: impl Read,
        limits: Limits,
        accept: impl FnOnce(&TreeId) -> Result<(), TreeError>,
        temporary: &Path,
    ) -> Result<(TreeId, bool), TreeError> {
        let mut stream = Hashing { inner: tar, hasher: Sha3_384::new(), read: 0, cap: stream_cap(limits) };
        let drained = {
            // The id is the digest of the stream as given; a gzip one is extracted through its
            // decompression (a try SDK packed with `tar czf`).
            let mut raw = io::BufReader::new(&mut stream);
            let extracted = match raw.fill_buf().map(compression).map_err(archive_error)? {
                Compression::None => extract(&mut raw, temporary, limits),
                Compression::Gzip => {
                    extract(&mut flate2::bufread::GzDecoder::new(&mut raw), temporary, limits)
                }
                Compression::Unsupported(name) => Err(TreeError::Archive(format!(
                    "it is compressed with {name}, which is not supported (use a tar archive, plain or gzip)"
                ))),
            };
            extracted.and_then(|()| io::copy(&mut raw, &mut io::sink()).map(drop).map_err(archive_error))
        };
        if stream.read > stream.cap {
            return Err(TreeError::TooLarge { limit: limits.bytes });
        }
        drained?;
        let id = TreeId::of_digest(&stream.hasher.finalize());
        accept(&id)?;
        let target = self.path(&id);
        if target.is_dir() {
            // Committed before, and complete: a tree gets its name only once it is on disk.
            // (Flushing the filesystem again would cost a launch most of a second on a busy
            // machine, for nothing.)
            return Ok((id, false));
        }
        fs::set_permissions(temporary, fs::Permissions::from_mode(0o755))
            .map_err(|e| TreeError::io("set the mode of", temporary, e))?;
        flush(temporary)?;
        let moved = rename_new(temporary, &target)?;
        File::open(&self.root)
            .and_then(|d| d.sync_all())
            .map_err(|e| TreeError::io("sync", &self.root, e))?;
        Ok((id, moved))
    }

    /// The ids of the trees in the store.
    pub fn list(&self) -> Result<Vec<TreeId>, TreeError> {
        let entries = fs::read_dir(&self.root).map_err(|e| TreeError::io("list", &self.root, e))?;
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| TreeError::io("list", &self.root, e))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if let Ok(id) = TreeId::try_from(name)
                && entry.file_type().is_ok_and(|t| t.is_dir())
            {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Removes tree `id` (at once from its name, then its files); a tree not there is fine.
    pub fn remove(&self, id: &TreeId) -> Result<(), TreeError> {
        let path = self.path(id);
        let doomed = self.root.join(format!("{TEMPORARY}rm-{:016x}", rand::random::<u64>()));
        match fs::rename(&path, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(TreeError::io("remove", &path, e)),
        }
        fs::remove_dir_all(&doomed).map_err(|e| TreeError::io("remove", &doomed, e))
    }

    /// Removes what commits and removals left behind when the daemon stopped halfway (call
    /// at start-up, before any commit).
    pub fn sweep(&self) -> Result<(), TreeError> {
        let entries = fs::read_dir(&self.root).map_err(|e| TreeError::io("list", &self.root, e))?;
        for entry in entries.flatten() {
            if entry.file_name().as_bytes().starts_with(TEMPORARY.as_bytes()) {
                remove_tree(&entry.path());
            }
        }
        Ok(())
    }

    /// The text of tree `id`'s `meta/sdk.yaml`: a regular file (never a symlink followed) of
    /// at most [`MAX_YAML`] bytes.
    pub fn read_meta(&self, id: &TreeId) -> Result<String, TreeError> {
        let path = self.path(id);
        let meta = Dir::open(&path)?.subdir("meta")?.ok_or_else(|| {
            TreeError::io("read", path.join("meta/sdk.yaml"), io::Error::from_raw_os_error(libc::ENOENT))
        })?;
        Ok(meta.read_text("sdk.yaml", MAX_YAML)?)
    }

    /// A new, empty, root-only directory beside the trees.
    fn temporary(&self) -> Result<PathBuf, TreeError> {
        let path = self.root.join(format!("{TEMPORARY}{:016x}", rand::random::<u64>()));
        fs::DirBuilder::new().mode(0o700).create(&path).map_err(|e| TreeError::io("create", &path, e))?;
        Ok(path)
    }
}

/// Most bytes a stream may hold: the contents, room for the headers of every entry (long
/// names included) and padding.
fn stream_cap(limits: Limits) -> u64 {
    limits.bytes.saturating_add(limits.entries as u64 * 8192).saturating_add(1 << 20)
}

/// Hashes what is read through it; stops reading past `cap` bytes.
struct Hashing<R> {
    inner: R,
    hasher: Sha3_384,
    read: u64,
    cap: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read > self.cap {
            return Err(io::Error::other("the stream is too large"));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// What an extracted path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Dir,
    File,
    Link,
}

/// Why a tar stream cannot be read, from the tar reader's error: its text may quote bytes of
/// a corrupt header, which are not shown (the terminal would get them raw).
fn archive_error(e: io::Error) -> TreeError {
    let text = e.to_string();
    if text.chars().all(|c| c.is_ascii_graphic() || c == ' ') && text.len() <= 200 {
        TreeError::Archive(text)
    } else {
        TreeError::Archive("not a valid tar archive (a header is corrupt)".into())
    }
}

/// Extracts every entry of the tar stream into `top`.
/// How a stream is compressed, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Unsupported(&'static str),
}

fn compression(head: &[u8]) -> Compression {
    match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => Compression::Unsupported("xz"),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Unsupported("zstd"),
        [b'B', b'Z', b'h', ..] => Compression::Unsupported("bzip2"),
        [b'h', b's', b'q', b's', ..] => Compression::Unsupported("squashfs"),
        _ => Compression::None,
    }
}

fn extract(stream: &mut impl Read, top: &Path, limits: Limits) -> Result<(), TreeError> {
    let mut archive = tar::Archive::new(stream);
    let mut nodes: HashMap<Vec<String>, Node> = HashMap::new();
    let mut bytes = 0u64;
    for entry in archive.entries().map_err(archive_error)? {
        let mut entry = entry.map_err(archive_error)?;
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            continue;
        }
        let raw = entry.path().map_err(archive_error)?.into_owned();
        let shown = raw.to_string_lossy().into_owned();
        let bad = |why: &str| TreeError::BadEntry { path: shown.clone(), why: why.to_string() };
        let path = components(&raw).map_err(&bad)?;
        if path.is_empty() {
            // The top itself (`./`).
            if kind == EntryType::Directory {
                continue;
            }
            return Err(bad("not a directory at the top"));
        }
        let (parents, _) = path.split_at(path.len() - 1);
        for depth in 1..=parents.len() {
            match nodes.get(&path[..depth]) {
                Some(Node::Dir) => {}
                Some(_) => return Err(bad("inside a file or a symlink")),
                None => {
                    make_dir(top, &path[..depth])?;
                    insert(&mut nodes, path[..depth].to_vec(), Node::Dir, limits)?;
                }
            }
        }
        let target = top.join(path.join("/"));
        match nodes.get(&path) {
            Some(Node::Dir) if kind == EntryType::Directory => continue,
            Some(_) => return Err(bad("appears twice")),
            None => {}
        }
        let mode = entry.header().mode().map_err(archive_error)?;
        let node = match kind {
            EntryType::Directory => {
                make_dir(top, &path)?;
                Node::Dir
            }
            EntryType::Regular | EntryType::Continuous => {
                let size = entry.size();
                if size > limits.bytes - bytes {
                    return Err(TreeError::TooLarge { limit: limits.bytes });
                }
                bytes += size;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&target)
                    .map_err(|e| TreeError::io("create", &target, e))?;
                let copied = io::copy(&mut entry, &mut file).map_err(archive_error)?;
                if copied != size {
                    return Err(TreeError::Archive(format!("\"{shown}\" ends early")));
                }
                file.set_permissions(fs::Permissions::from_mode(file_mode(mode)))
                    .map_err(|e| TreeError::io("set the mode of", &target, e))?;
                Node::File
            }
            EntryType::Symlink => {
                let link =
                    entry.link_name().map_err(archive_error)?.ok_or_else(|| bad("a symlink to nothing"))?;
                if link.as_os_str().is_empty() {
                    return Err(bad("a symlink to nothing"));
                }
                std::os::unix::fs::symlink(&link, &target)
                    .map_err(|e| TreeError::io("create", &target, e))?;
                Node::Link
            }
            EntryType::Link => {
                let link =
                    entry.link_name().map_err(archive_error)?.ok_or_else(|| bad("a link to nothing"))?;
                let source = components(&link).map_err(&bad)?;
                if nodes.get(&source) != Some(&Node::File) {
                    return Err(bad("a hard link to something that is not a file of the tree"));
                }
                let from = top.join(source.join("/"));
                fs::hard_link(&from, &target).map_err(|e| TreeError::io("link", &target, e))?;
                Node::File
            }
            _ => return Err(bad("a device, FIFO or other special file")),
        };
        insert(&mut nodes, path, node, limits)?;
    }
    Ok(())
}

/// A path of the archive as components inside the tree (`./` dropped); anything that could
/// leave the tree is refused.
fn components(path: &Path) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::Normal(name) => {
                let name = name.to_str().ok_or("not a UTF-8 name")?;
                if !is_component(name) {
                    return Err("not a file name");
                }
                out.push(name.to_string());
            }
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err("a path leaving the tree");
            }
        }
    }
    Ok(out)
}

fn insert(
    nodes: &mut HashMap<Vec<String>, Node>,
    path: Vec<String>,
    node: Node,
    limits: Limits,
) -> Result<(), TreeError> {
    if nodes.len() == limits.entries {
        return Err(TreeError::TooMany { limit: limits.entries });
    }
    nodes.insert(path, node);
    Ok(())
}

fn make_dir(top: &Path, path: &[String]) -> Result<(), TreeError> {
    let target = top.join(path.join("/"));
    fs::DirBuilder::new().mode(0o755).create(&target).map_err(|e| TreeError::io("create", &target, e))?;
    // The umask may have cleared bits.
    fs::set_permissions(&target, fs::Permissions::from_mode(0o755))
        .map_err(|e| TreeError::io("set the mode of", &target, e))
}

/// A file's mode in the store: readable by all, executable by all where its owner may
/// execute it, never set-id or sticky.
fn file_mode(mode: u32) -> u32 {
    let executable = if mode & 0o100 != 0 { 0o111 } else { 0 };
    (mode & 0o755) | 0o444 | executable
}

/// Writes everything extracted to disk before the tree gets its name.
fn flush(dir: &Path) -> Result<(), TreeError> {
    let fd = File::open(dir).map_err(|e| TreeError::io("open", dir, e))?;
    // SAFETY: syncfs on an fd we own.
    if unsafe { libc::syncfs(fd.as_raw_fd()) } != 0 {
        return Err(TreeError::io("sync", dir, io::Error::last_os_error()));
    }
    Ok(())
}

/// Renames `from` to `to` unless `to` exists: whether it was renamed.
fn rename_new(from: &Path, to: &Path) -> Result<bool, TreeError> {
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| TreeError::io("rename", p, io::ErrorKind::InvalidInput.into()))
    };
    let (c_from, c_to) = (c(from)?, c(to)?);
    // SAFETY: both paths are NUL-terminated; AT_FDCWD with absolute paths.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            c_from.as_ptr(),
            libc::AT_FDCWD,
            c_to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EEXIST) | Some(libc::ENOTEMPTY) => Ok(false),
        _ => Err(TreeError::io("rename", from, error)),
    }
}

/// Best-effort removal of a directory (or file) the store made.
fn remove_tree(path: &Path) {
    let removed = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    if let Err(e) = removed {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove a temporary SDK tree");
    }
}

#[cfg(test)]
mod tests;
