//! Finding the project that holds a path.

use std::fs;
use std::path::{Path, PathBuf};

use super::ProjectError;
use super::lock::LOCK_FILE;

/// Definition files at the root of a single-workshop project.
pub const ROOT_FILES: [&str; 2] = ["workshop.yaml", ".workshop.yaml"];
/// Directory of a multi-workshop project's definitions (`<name>.yaml`) and project SDKs.
pub const DEFINITION_DIR: &str = ".workshop";

/// The project holding `start`: the nearest ancestor (symlinks resolved) with a
/// `.workshop.lock` or a workshop file. A `.workshop` directory is never a project.
pub fn find_root(start: &Path) -> Result<PathBuf, ProjectError> {
    let start = fs::canonicalize(start)
        .map_err(ProjectError::io(format!("resolve project path \"{}\"", start.display())))?;
    start
        .ancestors()
        .filter(|dir| dir.file_name().is_none_or(|name| name != DEFINITION_DIR))
        .find(|dir| dir.join(LOCK_FILE).is_file() || has_definitions(dir))
        .map(Path::to_path_buf)
        .ok_or(ProjectError::NotProject)
}

/// Whether `dir` holds a root workshop file or a `.workshop/*.yaml` file.
fn has_definitions(dir: &Path) -> bool {
    ROOT_FILES.iter().any(|name| dir.join(name).is_file()) || !directory_files(dir).is_empty()
}

/// The `.workshop/<name>.yaml` regular files of `root`, sorted by name. Subdirectories
/// (project SDKs) are not definitions.
pub(super) fn directory_files(root: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(root.join(DEFINITION_DIR)) else {
        return Vec::new();
    };
    let mut files: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file_name = entry.file_name().into_string().ok()?;
            let name = file_name.strip_suffix(".yaml")?;
            let path = entry.path();
            (!name.is_empty() && path.is_file()).then(|| (name.to_string(), path))
        })
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "").unwrap();
    }

    #[test]
    fn nearest_ancestor_with_a_definition_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let p = fs::canonicalize(tmp.path()).unwrap().join("p");
        touch(&p.join(".workshop/ws-list.yaml"));
        fs::create_dir_all(p.join("nested/deeper")).unwrap();
        assert_eq!(find_root(&p).unwrap(), p);
        assert_eq!(find_root(&p.join("nested/deeper")).unwrap(), p);
        // P-06: a nested project inside a known project is its own project.
        touch(&p.join("subprj/.workshop/nested.yaml"));
        assert_eq!(find_root(&p.join("subprj")).unwrap(), p.join("subprj"));
    }

    #[test]
    fn root_files_and_lock_files_mark_projects() {
        let tmp = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(tmp.path()).unwrap();
        for marker in ["workshop.yaml", ".workshop.yaml", ".workshop.lock"] {
            let p = base.join(marker.replace('.', "_"));
            touch(&p.join(marker));
            fs::create_dir_all(p.join("sub")).unwrap();
            assert_eq!(find_root(&p.join("sub")).unwrap(), p, "{marker}");
        }
    }

    #[test]
    fn the_definition_directory_is_never_a_project() {
        let tmp = tempfile::tempdir().unwrap();
        let p = fs::canonicalize(tmp.path()).unwrap().join("p");
        touch(&p.join("workshop.yaml"));
        // A project SDK directory inside `.workshop/` holds yaml, but not definitions.
        touch(&p.join(".workshop/test-sdk/sdk.yaml"));
        touch(&p.join(".workshop/.workshop.lock"));
        assert_eq!(find_root(&p.join(".workshop")).unwrap(), p);
        assert_eq!(find_root(&p.join(".workshop/test-sdk")).unwrap(), p);
        assert!(directory_files(&p).is_empty());
    }

    #[test]
    fn symlinks_are_resolved() {
        let tmp = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(tmp.path()).unwrap();
        let p = base.join("real");
        touch(&p.join(".workshop/ws.yaml"));
        std::os::unix::fs::symlink(&p, base.join("link")).unwrap();
        assert_eq!(find_root(&base.join("link")).unwrap(), p);
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
