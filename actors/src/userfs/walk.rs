//! Walking a directory tree the way [`Dir`] reaches single entries: one component at a time,
//! relative to directory fds, never following a symlink (a symlink is an entry with its
//! target, not a way elsewhere), bounded in entries and depth. Files are then opened again by
//! their path ([`Reopen`]), checked once more to be what the walk saw.

use std::fs::File;
use std::path::PathBuf;

use super::UserFsError;
use super::dir::{Dir, Kind, Metadata};

/// What a walk may visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkLimits {
    /// Most entries in the whole tree (directories, files and links).
    pub entries: usize,
    /// Deepest nesting of directories below the top.
    pub depth: usize,
}

/// One entry of a walked tree: its path below the top (one name per component), what it
/// is, and a symlink's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkEntry {
    pub path: Vec<String>,
    pub meta: Metadata,
    pub link: Option<String>,
}

/// Every entry below `top`, parents before their children, siblings sorted by name.
/// Symlinks are listed with their targets and not followed; FIFOs, sockets and devices are
/// listed as [`Kind::Other`] for the caller to refuse.
pub fn walk(top: &Dir, limits: WalkLimits) -> Result<Vec<WalkEntry>, UserFsError> {
    let mut found = Vec::new();
    walk_into(top, &mut Vec::new(), limits, &mut 0, &mut found)?;
    Ok(found)
}

/// Walks `dir` (at `path` below the top); `listed` counts the entries listed so far, some
/// of them not yet visited.
fn walk_into(
    dir: &Dir,
    path: &mut Vec<String>,
    limits: WalkLimits,
    listed: &mut usize,
    found: &mut Vec<WalkEntry>,
) -> Result<(), UserFsError> {
    if path.len() > limits.depth {
        return Err(UserFsError::TooDeep { path: dir.path().to_path_buf(), limit: limits.depth });
    }
    let room = limits.entries.saturating_sub(*listed);
    let mut names: Vec<String> = dir
        .entries_within(room)
        .map_err(|e| match e {
            UserFsError::TooMany { .. } => {
                UserFsError::TooMany { path: top_of(dir, path), limit: limits.entries }
            }
            other => other,
        })?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names.sort();
    *listed += names.len();
    for name in names {
        // Gone since it was listed: the walk sees the tree as it is now.
        let Some(meta) = dir.metadata(&name)? else { continue };
        let link = match meta.kind {
            Kind::Symlink => Some(dir.read_link(&name)?),
            _ => None,
        };
        path.push(name);
        found.push(WalkEntry { path: path.clone(), meta, link });
        if meta.kind == Kind::Dir {
            let name = path.last().map(String::as_str).unwrap_or_default();
            let sub =
                dir.subdir(name)?.ok_or_else(|| UserFsError::Changed { path: dir.path().join(name) })?;
            walk_into(&sub, path, limits, listed, found)?;
        }
        path.pop();
    }
    Ok(())
}

/// The top of the walk, for messages about the whole tree.
fn top_of(dir: &Dir, path: &[String]) -> PathBuf {
    let mut top = dir.path().to_path_buf();
    for _ in path {
        top.pop();
    }
    top
}

/// Opens files of a walked tree again by their paths, keeping the directories on the way
/// open between calls (files come in walk order, so neighbours share them).
pub struct Reopen<'a> {
    top: &'a Dir,
    open: Vec<(String, Dir)>,
}

impl<'a> Reopen<'a> {
    pub fn new(top: &'a Dir) -> Reopen<'a> {
        Reopen { top, open: Vec::new() }
    }

    /// Opens the regular file at `path` (below the top) and checks it still has `size`
    /// bytes; a directory on the way that became a symlink, or a file that became anything
    /// else, is refused.
    pub fn file(&mut self, path: &[String], size: u64) -> Result<File, UserFsError> {
        let Some((name, parents)) = path.split_last() else {
            return Err(UserFsError::BadName { path: self.top.path().to_path_buf() });
        };
        let shared = self.open.iter().zip(parents).take_while(|((open, _), want)| open == *want).count();
        self.open.truncate(shared);
        for component in &parents[shared..] {
            let parent = self.open.last().map_or(self.top, |(_, dir)| dir);
            let dir = parent
                .subdir(component)?
                .ok_or_else(|| UserFsError::Changed { path: parent.path().join(component) })?;
            self.open.push((component.clone(), dir));
        }
        let dir = self.open.last().map_or(self.top, |(_, dir)| dir);
        let (file, found) = dir.open_file(name, size)?;
        if found != size {
            return Err(UserFsError::Changed { path: dir.path().join(name) });
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    use super::*;

    const ROOMY: WalkLimits = WalkLimits { entries: 100, depth: 10 };

    fn paths(found: &[WalkEntry]) -> Vec<String> {
        found.iter().map(|e| e.path.join("/")).collect()
    }

    #[test]
    fn trees_are_walked_in_order_without_following_links() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path();
        fs::create_dir_all(top.join("b/c")).unwrap();
        fs::write(top.join("b/c/f"), "x").unwrap();
        fs::write(top.join("a"), "").unwrap();
        fs::write(top.join("b-"), "").unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "s").unwrap();
        symlink(outside.path(), top.join("b/out")).unwrap();
        let found = walk(&Dir::open(top).unwrap(), ROOMY).unwrap();
        assert_eq!(paths(&found), ["a", "b", "b/c", "b/c/f", "b/out", "b-"]);
        let link = &found[4];
        assert_eq!(link.meta.kind, Kind::Symlink);
        assert_eq!(link.link.as_deref(), outside.path().to_str());
        assert_eq!(found[3].meta.size, 1);
    }

    #[test]
    fn walks_are_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("a/b/c")).unwrap();
        for i in 0..5 {
            fs::write(tmp.path().join(format!("f{i}")), "").unwrap();
        }
        let top = Dir::open(tmp.path()).unwrap();
        let err = walk(&top, WalkLimits { entries: 7, depth: 10 }).unwrap_err();
        assert!(matches!(err, UserFsError::TooMany { limit: 7, .. }), "{err}");
        assert_eq!(err.to_string(), format!("cannot list \"{}\": more than 7 entries", tmp.path().display()));
        assert_eq!(walk(&top, WalkLimits { entries: 8, depth: 10 }).unwrap().len(), 8);
        let err = walk(&top, WalkLimits { entries: 100, depth: 1 }).unwrap_err();
        assert!(matches!(err, UserFsError::TooDeep { limit: 1, .. }), "{err}");
        // `a/b/c` is listed at depth 3.
        assert_eq!(walk(&top, WalkLimits { entries: 100, depth: 3 }).unwrap().len(), 8);
    }

    #[test]
    fn files_are_reopened_only_as_they_were_seen() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("d")).unwrap();
        fs::write(tmp.path().join("d/f"), "12").unwrap();
        fs::write(tmp.path().join("d/g"), "3").unwrap();
        let top = Dir::open(tmp.path()).unwrap();
        let mut reopen = Reopen::new(&top);
        let path = |p: &str| p.split('/').map(String::from).collect::<Vec<_>>();
        let mut text = String::new();
        reopen.file(&path("d/f"), 2).unwrap().read_to_string(&mut text).unwrap();
        reopen.file(&path("d/g"), 1).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "123");
        assert!(matches!(reopen.file(&path("d/f"), 3), Err(UserFsError::Changed { .. })));
        // A directory swapped for a symlink after the walk is not followed.
        fs::rename(tmp.path().join("d"), tmp.path().join("e")).unwrap();
        symlink(tmp.path().join("e"), tmp.path().join("d")).unwrap();
        let mut fresh = Reopen::new(&top);
        let err = fresh.file(&path("d/f"), 2).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }
}
