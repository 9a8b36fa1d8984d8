//! The per-user registry of known projects (path ↔ id), kept by the daemon in its state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use workshop_api::Project;

use super::lock::new_project_id;

/// What [`Registry::track`] found out about a project directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackOutcome {
    /// A project not tracked before: a new id, or the one its lock file already holds.
    New,
    /// Already tracked at this path (its lock file may have to be written again).
    Known,
    /// A known project whose directory moved here from `old`; it keeps its id.
    Moved { old: PathBuf },
    /// A copy of the project at `from`, which still exists; the copy gets a new id.
    Copied { from: PathBuf },
}

/// What the caller found at a project directory (gathered with the caller's identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The project's root: absolute, symlinks resolved.
    pub root: PathBuf,
    /// The well-formed id in its lock file, if any.
    pub lock: Option<String>,
    /// The caller owns the directory (the only case where the daemon writes into it).
    pub owned: bool,
}

/// The result of [`track`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub project: Project,
    pub outcome: TrackOutcome,
    /// The lock file must be (re)written with the project's id.
    pub write_lock: bool,
}

/// Tracks the project `found` for `user` among every user's registries.
///
/// A lock id that another user's registry holds is not the caller's to use: the caller's copy
/// gets an id of its own (found by path, or new), and its lock file is rewritten only when it
/// is the caller's own directory and not the very directory the other user tracks.
pub fn track(
    registries: &mut BTreeMap<String, Registry>,
    user: &str,
    found: &Found,
    copy_source: impl FnOnce(&Path) -> bool,
) -> Tracked {
    let root = found.root.to_string_lossy();
    let foreign = found.lock.as_deref().and_then(|id| {
        registries.iter().filter(|(u, _)| *u != user).find_map(|(_, r)| r.get(id)).map(|p| p.path == root)
    });
    let lock = if foreign.is_some() { None } else { found.lock.clone() };
    let (project, outcome) =
        registries.entry(user.to_string()).or_default().track(&found.root, lock, copy_source);
    let shared = foreign == Some(true);
    let write_lock = found.owned && !shared && found.lock.as_deref() != Some(project.id.as_str());
    Tracked { project, outcome, write_lock }
}

/// The projects of one user, serialised as `[{"path","id"}]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Registry {
    projects: Vec<Project>,
}

impl Registry {
    /// The tracked projects, in the order they were first seen.
    pub fn list(&self) -> &[Project] {
        &self.projects
    }

    /// The project with id `id`.
    pub fn get(&self, id: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }

    /// Records the project at `root` (an absolute, symlink-free path), given the id in its
    /// lock file. `copy_source(old)` says whether the directory at a known project's old path
    /// still holds that project (then `root` is a copy). The caller writes the lock file when
    /// the returned id differs from `lock_id`.
    pub fn track(
        &mut self,
        root: &Path,
        lock_id: Option<String>,
        copy_source: impl FnOnce(&Path) -> bool,
    ) -> (Project, TrackOutcome) {
        let path = root.to_string_lossy().into_owned();
        let Some(id) = lock_id else {
            // A lost lock file: the path still tells which project this is.
            if let Some(known) = self.projects.iter().find(|p| p.path == path) {
                return (known.clone(), TrackOutcome::Known);
            }
            return (self.add(path), TrackOutcome::New);
        };
        let Some(index) = self.projects.iter().position(|p| p.id == id) else {
            let project = Project { path, id };
            self.projects.push(project.clone());
            return (project, TrackOutcome::New);
        };
        let old = PathBuf::from(&self.projects[index].path);
        if old == root {
            return (self.projects[index].clone(), TrackOutcome::Known);
        }
        if copy_source(&old) {
            return (self.add(path), TrackOutcome::Copied { from: old });
        }
        self.projects[index].path = path;
        (self.projects[index].clone(), TrackOutcome::Moved { old })
    }

    /// Forgets the projects `keep` does not name (the caller keeps those whose directory is
    /// there, and those with launched workshops, which stay listed in Error until their
    /// workshops are removed); returns the forgotten ones.
    pub fn prune(&mut self, keep: impl Fn(&Project) -> bool) -> Vec<Project> {
        let (kept, gone) = std::mem::take(&mut self.projects).into_iter().partition(|p| keep(p));
        self.projects = kept;
        gone
    }

    /// Forgets the project with id `id`.
    pub fn forget(&mut self, id: &str) {
        self.projects.retain(|p| p.id != id);
    }

    /// Tracks `path` under a fresh id, unique in the registry.
    fn add(&mut self, path: String) -> Project {
        let id = loop {
            let id = new_project_id();
            if self.get(&id).is_none() {
                break id;
            }
        };
        let project = Project { path, id };
        self.projects.push(project.clone());
        project
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::project::lock::{LOCK_FILE, write_lock};
    use crate::project::{ProjectError, holds_lock, inspect};
    use crate::userfs::Dir;

    fn read_lock(path: &Path) -> Option<String> {
        crate::project::read_lock(&Dir::open(path).unwrap())
    }

    /// What the workshop manager does, on one thread: look as the user, track, write the lock.
    fn track_dir_as(
        regs: &mut BTreeMap<String, Registry>,
        user: &str,
        start: &Path,
    ) -> Result<(Project, TrackOutcome), ProjectError> {
        // SAFETY: geteuid has no preconditions.
        let (root, found) = inspect(start, unsafe { libc::geteuid() })?;
        let id = found.lock.clone().unwrap_or_default();
        let tracked = track(regs, user, &found, |old| holds_lock(old, &id));
        if tracked.write_lock {
            write_lock(&root, &tracked.project.id)?;
        }
        Ok((tracked.project, tracked.outcome))
    }

    trait TrackDir {
        fn track_dir(&mut self, start: &Path) -> Result<(Project, TrackOutcome), ProjectError>;
    }

    impl TrackDir for Registry {
        fn track_dir(&mut self, start: &Path) -> Result<(Project, TrackOutcome), ProjectError> {
            let mut regs = BTreeMap::from([("u".to_string(), std::mem::take(self))]);
            let result = track_dir_as(&mut regs, "u", start);
            *self = regs.remove("u").unwrap();
            result
        }
    }

    struct Home {
        _tmp: tempfile::TempDir,
        base: PathBuf,
    }

    impl Home {
        fn new() -> Home {
            let tmp = tempfile::tempdir().unwrap();
            let base = fs::canonicalize(tmp.path()).unwrap();
            Home { _tmp: tmp, base }
        }

        /// A project with `.workshop/ws.yaml`.
        fn project(&self, name: &str) -> PathBuf {
            let root = self.base.join(name);
            fs::create_dir_all(root.join(".workshop")).unwrap();
            fs::write(root.join(".workshop/ws.yaml"), "name: ws\nbase: ubuntu@22.04\n").unwrap();
            root
        }
    }

    fn copy_dir(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    #[test]
    fn a_new_project_gets_an_id_and_a_lock() {
        let home = Home::new();
        let p = home.project("p");
        let mut registry = Registry::default();
        let (project, outcome) = registry.track_dir(&p).unwrap();
        assert_eq!(outcome, TrackOutcome::New);
        assert_eq!(project.path, p.to_str().unwrap());
        assert_eq!(read_lock(&p), Some(project.id.clone()));
        assert_eq!(registry.list(), std::slice::from_ref(&project));
        assert_eq!(registry.get(&project.id), Some(&project));
        let (again, outcome) = registry.track_dir(&p).unwrap();
        assert_eq!((again, outcome), (project, TrackOutcome::Known));
        assert_eq!(registry.list().len(), 1);
    }

    #[test]
    fn p01_nested_and_relative_paths_find_the_project() {
        let home = Home::new();
        let p = home.project("p");
        let mut registry = Registry::default();
        let (project, _) = registry.track_dir(&p).unwrap();
        fs::create_dir_all(p.join("nested")).unwrap();
        let (nested, outcome) = registry.track_dir(&p.join("nested")).unwrap();
        assert_eq!((nested, outcome), (project.clone(), TrackOutcome::Known));
        fs::create_dir_all(p.join("relative")).unwrap();
        let (relative, _) = registry.track_dir(&p.join("./relative/../relative")).unwrap();
        assert_eq!(relative, project);
        assert!(!p.join("nested").join(LOCK_FILE).exists());
    }

    #[test]
    fn p02_outside_a_project() {
        let home = Home::new();
        let mut registry = Registry::default();
        let err = registry.track_dir(&home.base).unwrap_err();
        assert_eq!(err.to_string(), "not a project (no workshop files found)");
        assert!(registry.list().is_empty());
    }

    #[test]
    fn p03_a_moved_project_keeps_its_id_and_lock() {
        let home = Home::new();
        let p = home.project("p");
        let mut registry = Registry::default();
        let (project, _) = registry.track_dir(&p).unwrap();
        let lock_before = fs::read(p.join(LOCK_FILE)).unwrap();
        let moved = home.base.join("p-new");
        fs::rename(&p, &moved).unwrap();
        let (after, outcome) = registry.track_dir(&moved).unwrap();
        assert_eq!(outcome, TrackOutcome::Moved { old: p.clone() });
        assert_eq!(after.id, project.id);
        assert_eq!(after.path, moved.to_str().unwrap());
        assert_eq!(fs::read(moved.join(LOCK_FILE)).unwrap(), lock_before);
        assert_eq!(registry.list(), [after]);
    }

    #[test]
    fn a_copied_project_gets_a_new_id() {
        let home = Home::new();
        let p = home.project("p");
        let mut registry = Registry::default();
        let (original, _) = registry.track_dir(&p).unwrap();
        let copy = home.base.join("copy");
        copy_dir(&p, &copy);
        let (copied, outcome) = registry.track_dir(&copy).unwrap();
        assert_eq!(outcome, TrackOutcome::Copied { from: p.clone() });
        assert_ne!(copied.id, original.id);
        assert_eq!(read_lock(&copy), Some(copied.id.clone()));
        assert_eq!(read_lock(&p), Some(original.id.clone()));
        assert_eq!(registry.list(), [original, copied]);
    }

    #[test]
    fn a_new_directory_at_a_moved_projects_old_path_is_not_a_copy() {
        let home = Home::new();
        let p = home.project("p");
        let mut registry = Registry::default();
        let (project, _) = registry.track_dir(&p).unwrap();
        let moved = home.base.join("moved");
        fs::rename(&p, &moved).unwrap();
        home.project("p");
        let (after, outcome) = registry.track_dir(&moved).unwrap();
        assert_eq!(outcome, TrackOutcome::Moved { old: p });
        assert_eq!(after.id, project.id);
    }

    #[test]
    fn p05_single_root_file_project() {
        let home = Home::new();
        let p = home.base.join("p");
        fs::create_dir_all(&p).unwrap();
        fs::write(p.join("workshop.yaml"), "name: ws-list\nbase: ubuntu@22.04\n").unwrap();
        let mut registry = Registry::default();
        let (project, outcome) = registry.track_dir(&p).unwrap();
        assert_eq!(outcome, TrackOutcome::New);
        assert_eq!(read_lock(&p), Some(project.id));
    }

    #[test]
    fn p06_a_nested_project_is_tracked_separately() {
        let home = Home::new();
        let p = home.project("p");
        let mut registry = Registry::default();
        let (outer, _) = registry.track_dir(&p).unwrap();
        fs::create_dir_all(p.join("subprj/.workshop")).unwrap();
        fs::write(p.join("subprj/.workshop/nested.yaml"), "").unwrap();
        let (inner, outcome) = registry.track_dir(&p.join("subprj")).unwrap();
        assert_eq!(outcome, TrackOutcome::New);
        assert_ne!(inner.id, outer.id);
        assert_eq!(inner.path, p.join("subprj").to_str().unwrap());
    }

    #[test]
    fn p10_a_deleted_lock_is_recreated_with_the_same_id() {
        let home = Home::new();
        let p = home.project("p");
        let mut registry = Registry::default();
        let (project, _) = registry.track_dir(&p).unwrap();
        fs::remove_file(p.join(LOCK_FILE)).unwrap();
        let (again, outcome) = registry.track_dir(&p).unwrap();
        assert_eq!((again, outcome), (project.clone(), TrackOutcome::Known));
        assert_eq!(read_lock(&p), Some(project.id));
    }

    #[test]
    fn p11_a_recreated_directory_at_the_same_path() {
        let home = Home::new();
        let n = home.project("new-project");
        let mut registry = Registry::default();
        let (first, _) = registry.track_dir(&n).unwrap();
        fs::remove_dir_all(&n).unwrap();
        home.project("new-project");
        // With a trailing slash, before the registry was pruned: the path's id is reused.
        let (second, outcome) = registry.track_dir(Path::new(&format!("{}/", n.display()))).unwrap();
        assert_eq!((second.clone(), outcome), (first.clone(), TrackOutcome::Known));
        assert_eq!(read_lock(&n), Some(first.id.clone()));
        // After pruning (the directory was gone meanwhile), it is simply a new project.
        fs::remove_dir_all(&n).unwrap();
        assert_eq!(registry.prune(|p| Path::new(&p.path).is_dir()), std::slice::from_ref(&first));
        home.project("new-project");
        let (third, outcome) = registry.track_dir(&n).unwrap();
        assert_eq!(outcome, TrackOutcome::New);
        assert_eq!(read_lock(&n), Some(third.id));
    }

    #[test]
    fn an_unknown_lock_id_is_adopted() {
        let home = Home::new();
        let p = home.project("p");
        write_lock(&Dir::open(&p).unwrap(), "0badcafe").unwrap();
        let mut registry = Registry::default();
        let (project, outcome) = registry.track_dir(&p).unwrap();
        assert_eq!(outcome, TrackOutcome::New);
        assert_eq!(project.id, "0badcafe");
    }

    #[test]
    fn prune_drops_only_missing_directories() {
        let home = Home::new();
        let a = home.project("a");
        let b = home.project("b");
        let mut registry = Registry::default();
        let (pa, _) = registry.track_dir(&a).unwrap();
        let (pb, _) = registry.track_dir(&b).unwrap();
        fs::remove_dir_all(&a).unwrap();
        let there = |p: &Project| Path::new(&p.path).is_dir();
        assert!(registry.prune(|p| there(p) || p.id == pa.id).is_empty(), "kept while it has workshops");
        assert_eq!(registry.prune(there), [pa]);
        assert_eq!(registry.list(), [pb]);
        assert!(registry.prune(there).is_empty());
    }

    #[test]
    fn registry_serialises_as_a_list_of_projects() {
        let mut registry = Registry::default();
        let (project, _) = registry.track(Path::new("/p"), Some("01234567".into()), |_| false);
        assert_eq!(serde_json::to_string(&registry).unwrap(), r#"[{"path":"/p","id":"01234567"}]"#);
        let back: Registry = serde_json::from_str(r#"[{"path":"/p","id":"01234567"}]"#).unwrap();
        assert_eq!(back.list(), [project]);
    }

    #[test]
    fn h4_a_lock_id_another_user_holds_gives_the_copy_its_own_id() {
        let home = Home::new();
        let theirs = home.project("theirs");
        let mut regs = BTreeMap::new();
        let (original, _) = track_dir_as(&mut regs, "alice", &theirs).unwrap();
        // Bob copies Alice's project, lock file included.
        let copy = home.base.join("copy");
        copy_dir(&theirs, &copy);
        let (copied, outcome) = track_dir_as(&mut regs, "bob", &copy).unwrap();
        assert_eq!(outcome, TrackOutcome::New);
        assert_ne!(copied.id, original.id);
        assert_eq!(read_lock(&copy), Some(copied.id.clone()), "only the copy's lock changes");
        assert_eq!(read_lock(&theirs), Some(original.id.clone()));
        // Bob finds his copy again; Alice keeps hers.
        assert_eq!(track_dir_as(&mut regs, "bob", &copy).unwrap(), (copied, TrackOutcome::Known));
        assert_eq!(
            track_dir_as(&mut regs, "alice", &theirs).unwrap(),
            (original.clone(), TrackOutcome::Known)
        );
        // A directory both use is tracked by path for the second user; its lock stays.
        let (shared, outcome) = track_dir_as(&mut regs, "carol", &theirs).unwrap();
        assert_eq!(outcome, TrackOutcome::New);
        assert_ne!(shared.id, original.id);
        assert_eq!(read_lock(&theirs), Some(original.id.clone()));
        assert_eq!(track_dir_as(&mut regs, "carol", &theirs).unwrap(), (shared, TrackOutcome::Known));
    }

    #[test]
    fn h4_the_lock_is_written_only_into_the_callers_own_directory() {
        let home = Home::new();
        let p = home.project("p");
        let mut regs = BTreeMap::new();
        // SAFETY: geteuid has no preconditions.
        let (_, mut found) = inspect(&p, unsafe { libc::geteuid() }).unwrap();
        assert!(found.owned);
        found.owned = false;
        let tracked = track(&mut regs, "u", &found, |_| false);
        assert!(!tracked.write_lock);
        found.owned = true;
        assert!(track(&mut regs, "v", &found, |_| false).write_lock);
        // SAFETY: as above.
        let (_, other) = inspect(&p, unsafe { libc::geteuid() } + 1).unwrap();
        assert!(!other.owned);
    }
}
