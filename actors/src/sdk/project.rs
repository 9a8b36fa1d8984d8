//! Project SDKs: the directory `.workshop/<name>/` of a user's project, committed to the tree
//! store as it is now.
//!
//! The tree is read as the user ([`userfs::as_user_within`]), through directory fds, never
//! following a symlink (a symlink is copied as a symlink; the daemon never reads what it
//! points to), and written as a canonical tar into a pipe; a root thread reads the pipe,
//! hashing and extracting it ([`TreeStore::commit_with`]), and keeps the tree only when the
//! user's side finished. Both sides stop at one deadline.
//!
//! Both layouts of the reference are read: `sdk.yaml` and `hooks/` at the top are moved to
//! `meta/sdk.yaml` and `sdk/hooks/`, where a tree has them; having a file in both places is
//! an error.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::canonical::CanonicalTar;
use super::{Limits, TreeError, TreeId, TreeStore};
use crate::managers::UserRef;
use crate::project::DEFINITION_DIR;
use crate::userfs::{self, Dir, Kind, Reopen, UserFsError, WalkEntry, WalkLimits};

/// How long reading and committing a project SDK may take.
pub const COMMIT_TIMEOUT: Duration = Duration::from_secs(120);
/// Deepest nesting of directories in a project SDK.
pub const MAX_DEPTH: usize = 64;

/// Commits the project SDK `name` of the project at `root` (its directory
/// `<root>/.workshop/<name>/`) to `store`, reading it as `user`; returns its tree.
pub async fn commit(
    user: &UserRef,
    root: PathBuf,
    name: String,
    store: TreeStore,
    limits: Limits,
    timeout: Duration,
) -> Result<TreeId, TreeError> {
    let source = Source { root, components: vec![DEFINITION_DIR.to_string(), name], skip: &[] };
    commit_dir(user, source, store, limits, timeout).await
}

/// A directory of the user's committed as an SDK: `components` below `root`, each opened
/// without following a symlink, leaving out the top-level entries named in `skip`.
#[derive(Debug, Clone)]
pub struct Source {
    pub root: PathBuf,
    pub components: Vec<String>,
    pub skip: &'static [&'static str],
}

impl Source {
    /// The directory's path, for messages.
    pub fn path(&self) -> PathBuf {
        self.components.iter().fold(self.root.clone(), |p, c| p.join(c))
    }
}

/// Commits the SDK directory `source` to `store`, reading it as `user`; returns its tree.
pub async fn commit_dir(
    user: &UserRef,
    source: Source,
    store: TreeStore,
    limits: Limits,
    timeout: Duration,
) -> Result<TreeId, TreeError> {
    let dir = source.path();
    let deadline = Instant::now() + timeout;
    let (reader, writer) = pipe().map_err(|e| TreeError::io("create a pipe for", &dir, e))?;
    let (verdict, verdicts) = std::sync::mpsc::channel::<bool>();
    let (done, committed) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("workshopd-sdk-commit".into()).spawn(move || {
        let stream = Deadline { file: reader, deadline };
        let result = store.commit_with(stream, limits, |_| {
            let left = deadline.saturating_duration_since(Instant::now());
            match verdicts.recv_timeout(left) {
                Ok(true) => Ok(()),
                _ => Err(TreeError::ReaderGone),
            }
        });
        let _ = done.send(result);
    });
    if let Err(e) = spawned {
        return Err(TreeError::io("start a thread for", &dir, e));
    }
    let written: Result<(), TreeError> =
        userfs::as_user_within(user, timeout, move || write_tree(&source, writer, limits)).await;
    let _ = verdict.send(written.is_ok());
    let committed = committed.await.unwrap_or(Err(TreeError::ReaderGone));
    let timed_out = TreeError::TimedOut { dir, seconds: timeout.as_secs() };
    match (written, committed) {
        (Ok(()), Ok(id)) => Ok(id),
        (Err(TreeError::UserFs(UserFsError::TimedOut { .. })), _) => Err(timed_out),
        (_, Err(_)) if Instant::now() >= deadline => Err(timed_out),
        // The side that failed first says why; the other only saw its peer stop.
        (Err(TreeError::ReaderGone), Err(why)) | (Ok(()), Err(why)) => Err(why),
        (Err(why), _) => Err(why),
    }
}

/// Writes the SDK directory `source` as a canonical tar into `out` (runs as the user).
fn write_tree(source: &Source, out: File, limits: Limits) -> Result<(), TreeError> {
    let missing = |path: PathBuf| UserFsError::io("open", &path, io::Error::from_raw_os_error(libc::ENOENT));
    let mut top = Dir::open(&source.root)?;
    for name in &source.components {
        top = top.subdir(name)?.ok_or_else(|| missing(top.path().join(name)))?;
    }
    let mut found = userfs::walk(&top, WalkLimits { entries: limits.entries, depth: MAX_DEPTH })?;
    found.retain(|e| !source.skip.contains(&e.path[0].as_str()));
    let planned = layout(top.path(), found)?;
    let mut tar = CanonicalTar::new(BufWriter::with_capacity(64 << 10, out), limits);
    let mut reopen = Reopen::new(&top);
    for entry in planned {
        let meta = entry.found.meta;
        match (&entry.found.link, meta.kind) {
            (_, Kind::Dir) => tar.dir(&entry.path, meta.mode)?,
            (_, Kind::File) => {
                let file = reopen.file(&entry.found.path, meta.size)?;
                tar.file(&entry.path, meta.mode, meta.size, file)?;
            }
            (Some(target), Kind::Symlink) => tar.symlink(&entry.path, target)?,
            _ => unreachable!("layout keeps directories, files and symlinks only"),
        }
    }
    tar.finish()?.flush().map_err(|e| match e.kind() {
        io::ErrorKind::BrokenPipe => TreeError::ReaderGone,
        _ => TreeError::Archive(format!("cannot write: {e}")),
    })
}

/// An entry of the SDK tree: where it goes in the tree and what was found (where).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Planned {
    path: Vec<String>,
    found: WalkEntry,
}

/// Where the reference's top-level layout puts things in a tree.
const MOVED: [(&str, [&str; 2]); 2] = [("sdk.yaml", ["meta", "sdk.yaml"]), ("hooks", ["sdk", "hooks"])];

/// The entries of the SDK found at `dir` as they go into the tree, sorted: `sdk.yaml` and
/// `hooks/` moved, the directories they go into added when missing. Refuses both layouts at
/// once, metadata that is not a regular file, and FIFOs, sockets and devices.
fn layout(dir: &Path, found: Vec<WalkEntry>) -> Result<Vec<Planned>, TreeError> {
    let at =
        |path: &[&str]| found.iter().find(|e| e.path.iter().map(String::as_str).eq(path.iter().copied()));
    let refuse = |why: String| TreeError::Layout { dir: dir.to_path_buf(), why };
    for (top, [parent, name]) in MOVED {
        if at(&[top]).is_some() && at(&[parent, name]).is_some() {
            let moved = format!("{parent}/{name}");
            return Err(TreeError::BothLayouts { dir: dir.to_path_buf(), top, moved });
        }
        if at(&[top]).is_some()
            && let Some(parent_entry) = at(&[parent])
            && parent_entry.meta.kind != Kind::Dir
        {
            return Err(refuse(format!("\"{parent}\" is not a directory, so \"{top}\" cannot go in it")));
        }
    }
    let metadata = at(&["sdk.yaml"]).or_else(|| at(&["meta", "sdk.yaml"]));
    match metadata.map(|m| m.meta.kind) {
        None => return Err(refuse("no \"sdk.yaml\" (or \"meta/sdk.yaml\")".into())),
        Some(Kind::File) => {}
        Some(_) => return Err(refuse("its \"sdk.yaml\" is not a regular file".into())),
    }
    let mut planned = Vec::with_capacity(found.len() + 2);
    for (top, [parent, _]) in MOVED {
        if at(&[top]).is_some() && at(&[parent]).is_none() {
            let meta = userfs::Metadata { kind: Kind::Dir, mode: 0o755, size: 0 };
            let path = vec![parent.to_string()];
            planned.push(Planned { path: path.clone(), found: WalkEntry { path, meta, link: None } });
        }
    }
    for entry in found {
        if entry.meta.kind == Kind::Other {
            return Err(TreeError::BadEntry {
                path: dir.join(entry.path.join("/")).display().to_string(),
                why: "a FIFO, socket or device".into(),
            });
        }
        let mut path = entry.path.clone();
        if let Some((_, into)) = MOVED.iter().find(|(top, _)| entry.path[0] == *top) {
            path.splice(..1, into.iter().map(|c| c.to_string()));
        }
        planned.push(Planned { path, found: entry });
    }
    planned.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(planned)
}

/// A pipe: its read end and its write end, closed on exec.
fn pipe() -> io::Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two new fds that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((File::from(read), File::from(write)))
}

/// Reads a pipe until a deadline: a read that would wait past it fails with `TimedOut`.
struct Deadline {
    file: File,
    deadline: Instant,
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let mut pollfd = libc::pollfd { fd: self.file.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            let millis = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
            // SAFETY: one valid pollfd for the duration of the call.
            match unsafe { libc::poll(&mut pollfd, 1, millis) } {
                0 => continue,
                n if n < 0 => {
                    let error = io::Error::last_os_error();
                    if error.kind() != io::ErrorKind::Interrupted {
                        return Err(error);
                    }
                }
                _ => return self.file.read(buf),
            }
        }
    }
}

#[cfg(test)]
mod tests;
