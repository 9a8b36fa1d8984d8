//! Finding the project that holds a path.

use std::path::Path;

use super::ProjectError;
use super::lock::LOCK_FILE;
use crate::userfs::{Dir, Kind, UserFsError};

/// Definition files at the root of a single-workshop project.
pub const ROOT_FILES: [&str; 2] = ["workshop.yaml", ".workshop.yaml"];
/// Directory of a multi-workshop project's definitions (`<name>.yaml`) and project SDKs.
pub const DEFINITION_DIR: &str = ".workshop";

/// The project holding the absolute path `start`, opened: the nearest ancestor (symlinks
/// resolved, with the calling thread's identity) with a `.workshop.lock` or a workshop file.
/// A `.workshop` directory is never a project; ancestors the caller cannot open are skipped.
pub fn find_root(start: &Path) -> Result<Dir, ProjectError> {
    let start = std::fs::canonicalize(start).map_err(|source| {
        ProjectError::Access(UserFsError::Io {
            op: "resolve project path",
            path: start.to_path_buf(),
            source,
        })
    })?;
    // A file names the project it is in (`--project .workshop/dev.yaml`), as the reference's.
    let start = match std::fs::metadata(&start) {
        Ok(meta) if !meta.is_dir() => start.parent().map_or(start.clone(), Path::to_path_buf),
        _ => start,
    };
    // The start itself must be open to the caller; ancestors only when they are projects.
    let first = Dir::open(&start)?;
    for (index, path) in start.ancestors().enumerate() {
        if path.file_name().is_some_and(|name| name == DEFINITION_DIR) {
            continue;
        }
        let dir = if index == 0 {
            None
        } else {
            match Dir::open(path) {
                Ok(dir) => Some(dir),
                Err(_) => continue,
            }
        };
        if is_project(dir.as_ref().unwrap_or(&first)) {
            return Ok(dir.unwrap_or(first));
        }
    }
    Err(ProjectError::NotProject)
}

/// Whether `dir` holds a lock, a root workshop file or `.workshop/*.yaml` files. Entries that
/// are there but cannot be used (a symlinked or unreadable file) count: loading them later
/// says what is wrong with them.
fn is_project(dir: &Dir) -> bool {
    let present = |name: &str| !matches!(dir.kind(name), Ok(None) | Ok(Some(Kind::Dir)));
    present(LOCK_FILE)
        || ROOT_FILES.iter().any(|name| present(name))
        || match dir.subdir(DEFINITION_DIR) {
            Ok(Some(defs)) => !directory_files(&defs).unwrap_or_default().is_empty(),
            Ok(None) => false,
            Err(_) => true,
        }
}

/// The `<name>.yaml` entries of the opened `.workshop` directory, sorted by name.
/// Subdirectories (project SDKs) are not definitions; anything else is listed (loading a
/// symlink or a FIFO says why it cannot be used).
pub(super) fn directory_files(defs: &Dir) -> Result<Vec<String>, ProjectError> {
    let mut names: Vec<String> = defs
        .entries()?
        .into_iter()
        .filter(|(_, kind)| *kind != Kind::Dir)
        .filter_map(|(file, _)| file.strip_suffix(".yaml").filter(|n| !n.is_empty()).map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use super::*;

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "").unwrap();
    }

    fn root_of(path: &Path) -> PathBuf {
        find_root(path).unwrap().path().to_path_buf()
    }

    #[test]
    fn nearest_ancestor_with_a_definition_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let p = fs::canonicalize(tmp.path()).unwrap().join("p");
        touch(&p.join(".workshop/ws-list.yaml"));
        fs::create_dir_all(p.join("nested/deeper")).unwrap();
        assert_eq!(root_of(&p), p);
        assert_eq!(root_of(&p.join("nested/deeper")), p);
        // P-06: a nested project inside a known project is its own project.
        touch(&p.join("subprj/.workshop/nested.yaml"));
        assert_eq!(root_of(&p.join("subprj")), p.join("subprj"));
        // A file is in the project of its directory.
        assert_eq!(root_of(&p.join(".workshop/ws-list.yaml")), p);
        touch(&p.join("nested/notes.txt"));
        assert_eq!(root_of(&p.join("nested/notes.txt")), p);
    }

    #[test]
    fn root_files_and_lock_files_mark_projects() {
        let tmp = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(tmp.path()).unwrap();
        for marker in ["workshop.yaml", ".workshop.yaml", ".workshop.lock"] {
            let p = base.join(marker.replace('.', "_"));
            touch(&p.join(marker));
            fs::create_dir_all(p.join("sub")).unwrap();
            assert_eq!(root_of(&p.join("sub")), p, "{marker}");
        }
    }

    #[test]
    fn unusable_markers_still_mark_the_project() {
        // C1: a symlinked definition marks the project; loading it says it is a link.
        let tmp = tempfile::tempdir().unwrap();
        let p = fs::canonicalize(tmp.path()).unwrap().join("p");
        fs::create_dir_all(&p).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", p.join("workshop.yaml")).unwrap();
        assert_eq!(root_of(&p), p);
    }

    #[test]
    fn the_definition_directory_is_never_a_project() {
        let tmp = tempfile::tempdir().unwrap();
        let p = fs::canonicalize(tmp.path()).unwrap().join("p");
        touch(&p.join("workshop.yaml"));
        // A project SDK directory inside `.workshop/` holds yaml, but not definitions.
        touch(&p.join(".workshop/test-sdk/sdk.yaml"));
        touch(&p.join(".workshop/.workshop.lock"));
        assert_eq!(root_of(&p.join(".workshop")), p);
        assert_eq!(root_of(&p.join(".workshop/test-sdk")), p);
        let defs = Dir::open(&p.join(".workshop")).unwrap();
        assert!(directory_files(&defs).unwrap().is_empty());
    }

    #[test]
    fn symlinks_are_resolved() {
        let tmp = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(tmp.path()).unwrap();
        let p = base.join("real");
        touch(&p.join(".workshop/ws.yaml"));
        std::os::unix::fs::symlink(&p, base.join("link")).unwrap();
        assert_eq!(root_of(&base.join("link")), p);
    }

    #[test]
    fn outside_any_project() {
        let tmp = tempfile::tempdir().unwrap();
        let err = find_root(tmp.path()).unwrap_err();
        assert_eq!(err.to_string(), "not a project (no workshop files found)");
        let missing = find_root(&tmp.path().join("missing")).unwrap_err();
        assert!(missing.to_string().starts_with("cannot resolve project path \""), "{missing}");
    }
}
