//! The canonical tar form of an SDK tree: one stream for one content, so that its sha3-384
//! names the content. Entries come sorted by path (component by component, parents first),
//! with modification times, owners and owner names zeroed and permission bits (`0o777`) kept;
//! symlinks are symlinks. The writer refuses entries out of order and trees past their
//! [`Limits`].

use std::io::{self, Read, Write};

use tar::{EntryType, Header};

use super::{Limits, TreeError};

/// Writes a canonical tar stream into `W`.
pub struct CanonicalTar<W: Write> {
    builder: tar::Builder<W>,
    limits: Limits,
    entries: usize,
    bytes: u64,
    last: Option<Vec<String>>,
}

impl<W: Write> CanonicalTar<W> {
    pub fn new(out: W, limits: Limits) -> CanonicalTar<W> {
        CanonicalTar { builder: tar::Builder::new(out), limits, entries: 0, bytes: 0, last: None }
    }

    /// A directory at `path` (components below the top).
    pub fn dir(&mut self, path: &[String], mode: u32) -> Result<(), TreeError> {
        let name = self.next(path)?;
        let mut header = header(EntryType::Directory, mode, 0);
        self.builder.append_data(&mut header, &name, io::empty()).map_err(|e| write_error(&name, e))
    }

    /// A regular file of exactly `size` bytes read from `content`; a content that ends
    /// early or goes on is refused as changed.
    pub fn file(
        &mut self,
        path: &[String],
        mode: u32,
        size: u64,
        content: impl Read,
    ) -> Result<(), TreeError> {
        if size > self.limits.bytes - self.bytes {
            return Err(TreeError::TooLarge { limit: self.limits.bytes });
        }
        let name = self.next(path)?;
        self.bytes += size;
        let mut header = header(EntryType::Regular, mode, size);
        let mut exact = Exact { inner: content, left: size };
        self.builder.append_data(&mut header, &name, &mut exact).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => TreeError::Changed { path: name.clone() },
            _ => write_error(&name, e),
        })?;
        let mut more = [0u8; 1];
        match exact.inner.read(&mut more) {
            Ok(0) => Ok(()),
            Ok(_) => Err(TreeError::Changed { path: name }),
            Err(e) => Err(write_error(&name, e)),
        }
    }

    /// A symlink at `path` to `target` (kept as it is; never followed).
    pub fn symlink(&mut self, path: &[String], target: &str) -> Result<(), TreeError> {
        let name = self.next(path)?;
        if target.is_empty() || target.contains('\0') {
            return Err(TreeError::BadEntry { path: name, why: "a symlink to nothing".into() });
        }
        let mut header = header(EntryType::Symlink, 0o777, 0);
        self.builder.append_link(&mut header, &name, target).map_err(|e| write_error(&name, e))
    }

    /// Ends the archive and gives the output back.
    pub fn finish(self) -> Result<W, TreeError> {
        self.builder.into_inner().map_err(|e| write_error("", e))
    }

    /// Checks the next entry's path (its components and its place after the last one) and
    /// counts it; returns it as `a/b/c`.
    fn next(&mut self, path: &[String]) -> Result<String, TreeError> {
        let name = path.join("/");
        if let Some(bad) = path.iter().find(|c| !is_component(c)) {
            return Err(TreeError::BadEntry { path: name, why: format!("\"{bad}\" is not a file name") });
        }
        if path.is_empty() {
            return Err(TreeError::BadEntry { path: name, why: "an empty path".into() });
        }
        if self.last.as_deref().is_some_and(|last| last >= path) {
            return Err(TreeError::BadEntry { path: name, why: "out of order".into() });
        }
        if self.entries == self.limits.entries {
            return Err(TreeError::TooMany { limit: self.limits.entries });
        }
        self.entries += 1;
        self.last = Some(path.to_vec());
        Ok(name)
    }
}

/// Whether `name` is one path component.
pub(super) fn is_component(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// A header with everything but the type, permissions and size zeroed.
fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode & 0o777);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn write_error(name: &str, error: io::Error) -> TreeError {
    match error.kind() {
        io::ErrorKind::BrokenPipe => TreeError::ReaderGone,
        _ => TreeError::Archive(format!("cannot write \"{name}\": {error}")),
    }
}

/// Reads exactly `left` bytes of `inner`: an early end is an `UnexpectedEof` error.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: Limits = Limits { bytes: 1 << 20, entries: 100 };

    fn path(p: &str) -> Vec<String> {
        p.split('/').map(String::from).collect()
    }

    fn sample(mode: u32) -> Vec<u8> {
        let mut tar = CanonicalTar::new(Vec::new(), ROOMY);
        tar.dir(&path("meta"), 0o755).unwrap();
        tar.file(&path("meta/sdk.yaml"), mode, 8, &b"name: x\n"[..]).unwrap();
        tar.symlink(&path("meta/z"), "/etc/shadow").unwrap();
        tar.finish().unwrap()
    }

    #[test]
    fn the_same_tree_is_the_same_stream_and_modes_count() {
        assert_eq!(sample(0o644), sample(0o644));
        assert_ne!(sample(0o644), sample(0o755));
        let bytes = sample(0o644);
        let mut archive = tar::Archive::new(&bytes[..]);
        let entries: Vec<(String, EntryType, u32, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.entry_type(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                    h.uid().unwrap() + h.gid().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("meta".into(), EntryType::Directory, 0o755, 0, 0),
                ("meta/sdk.yaml".into(), EntryType::Regular, 0o644, 0, 0),
                ("meta/z".into(), EntryType::Symlink, 0o777, 0, 0),
            ]
        );
    }

    #[test]
    fn entries_must_come_in_order() {
        let mut tar = CanonicalTar::new(Vec::new(), ROOMY);
        tar.dir(&path("b"), 0o755).unwrap();
        for bad in ["a", "b"] {
            let err = tar.file(&path(bad), 0o644, 0, io::empty()).unwrap_err().to_string();
            assert_eq!(err, format!("cannot use SDK entry \"{bad}\": out of order"));
        }
        // Component order: `b/c` comes before `b-`, which sorts before `b/` as text.
        tar.file(&path("b/c"), 0o644, 0, io::empty()).unwrap();
        tar.file(&path("b-"), 0o644, 0, io::empty()).unwrap();
        for bad in ["c/..", "c/.", "", "c//d"] {
            assert!(tar.dir(&path(bad), 0o755).is_err(), "{bad}");
        }
        // Long names and link targets are written with GNU extensions.
        let long = "n".repeat(300);
        tar.symlink(&path(&format!("z/{long}")), &"t".repeat(300)).unwrap();
        let bytes = tar.finish().unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let last = archive.entries().unwrap().last().unwrap().unwrap();
        assert_eq!(last.path().unwrap().to_str().unwrap(), format!("z/{long}"));
        assert_eq!(last.link_name().unwrap().unwrap().to_str().unwrap(), "t".repeat(300));
    }

    #[test]
    fn trees_are_bounded() {
        let mut tar = CanonicalTar::new(Vec::new(), Limits { bytes: 10, entries: 2 });
        tar.file(&path("a"), 0o644, 6, &b"123456"[..]).unwrap();
        let err = tar.file(&path("b"), 0o644, 5, &b"12345"[..]).unwrap_err();
        assert_eq!(err.to_string(), "cannot store SDK tree: larger than 10 bytes");
        tar.file(&path("c"), 0o644, 4, &b"1234"[..]).unwrap();
        let err = tar.dir(&path("d"), 0o755).unwrap_err();
        assert_eq!(err.to_string(), "cannot store SDK tree: more than 2 entries");
    }

    #[test]
    fn contents_of_another_size_are_refused() {
        let mut tar = CanonicalTar::new(Vec::new(), ROOMY);
        let err = tar.file(&path("short"), 0o644, 5, &b"1234"[..]).unwrap_err();
        assert_eq!(err.to_string(), "cannot read SDK file \"short\": it changed while being read");
        let mut tar = CanonicalTar::new(Vec::new(), ROOMY);
        let err = tar.file(&path("long"), 0o644, 3, &b"1234"[..]).unwrap_err();
        assert_eq!(err.to_string(), "cannot read SDK file \"long\": it changed while being read");
    }
}
