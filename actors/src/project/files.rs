//! The definition files of a project: one root file (`workshop.yaml` or `.workshop.yaml`),
//! or `.workshop/<name>.yaml` files.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use workshop_api::definition::{self, WorkshopFile};

use super::ProjectError;
use super::root::{DEFINITION_DIR, ROOT_FILES, directory_files};

/// A workshop definition file of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionFile {
    /// The workshop's name (the file's stem under `.workshop/`, the `name` key of a root file).
    pub name: String,
    pub path: PathBuf,
}

/// How a project lays out its definitions.
enum Layout {
    /// A single root file.
    Single(PathBuf),
    /// `.workshop/<name>.yaml` files (possibly none).
    Directory(Vec<(String, PathBuf)>),
}

fn layout(root: &Path) -> Result<Layout, ProjectError> {
    let mut single: Option<PathBuf> = None;
    for name in ROOT_FILES {
        let path = root.join(name);
        if path.is_file() {
            if let Some(first) = single {
                return Err(ProjectError::Ambiguous { path: first, other: name.to_string() });
            }
            single = Some(path);
        }
    }
    let files = directory_files(root);
    match single {
        Some(path) if !files.is_empty() => Err(ProjectError::RootFileWithDirectory { path }),
        Some(path) => Ok(Layout::Single(path)),
        None => Ok(Layout::Directory(files)),
    }
}

/// The definition files of the project at `root`, sorted by name.
///
/// Files under `.workshop/` are not read (their name is the file's stem); a root file is
/// loaded to learn its workshop's name.
pub fn definition_files(root: &Path) -> Result<Vec<DefinitionFile>, ProjectError> {
    match layout(root)? {
        Layout::Single(path) => {
            let file = read_definition(&path)?;
            Ok(vec![DefinitionFile { name: file.name, path }])
        }
        Layout::Directory(files) => {
            Ok(files.into_iter().map(|(name, path)| DefinitionFile { name, path }).collect())
        }
    }
}

/// Loads and validates the definition of workshop `name` in the project at `root`.
pub fn load_definition(root: &Path, name: &str) -> Result<WorkshopFile, ProjectError> {
    match layout(root)? {
        Layout::Single(path) => {
            let file = read_definition(&path)?;
            if file.name != name {
                return Err(ProjectError::OnlyFound { name: name.to_string(), found: file.name });
            }
            Ok(file)
        }
        Layout::Directory(_) => {
            let file_name = format!("{name}.yaml");
            let path = root.join(DEFINITION_DIR).join(&file_name);
            let file = read_definition(&path)?;
            if file.name != name {
                return Err(ProjectError::Misnamed { name: file.name, file: file_name });
            }
            Ok(file)
        }
    }
}

fn read_definition(path: &Path) -> Result<WorkshopFile, ProjectError> {
    let text = fs::read_to_string(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ProjectError::DefinitionNotFound { path: path.to_path_buf() },
        _ => ProjectError::Io { what: format!("read \"{}\"", path.display()), source: e },
    })?;
    Ok(definition::load(&text, path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn bare(name: &str) -> String {
        format!("name: {name}\nbase: ubuntu@22.04\n")
    }

    fn project() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        (tmp, root)
    }

    #[test]
    fn directory_definitions_are_listed_by_file_name() {
        let (_tmp, root) = project();
        write(&root.join(".workshop/b.yaml"), &bare("b"));
        write(&root.join(".workshop/a.yaml"), &bare("a"));
        // P-06: an empty file is still listed; it is only read when used.
        write(&root.join(".workshop/nested.yaml"), "");
        write(&root.join(".workshop/some-sdk/sdk.yaml"), "name: some-sdk\n");
        write(&root.join(".workshop/notes.txt"), "");
        let files = definition_files(&root).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "nested"]);
        assert_eq!(files[0].path, root.join(".workshop/a.yaml"));
        assert_eq!(load_definition(&root, "a").unwrap().name, "a");
        let empty = load_definition(&root, "nested").unwrap_err().to_string();
        assert!(empty.contains("empty workshop definition"), "{empty}");
    }

    #[test]
    fn a_single_root_file_is_named_by_its_content() {
        for file_name in ROOT_FILES {
            let (_tmp, root) = project();
            write(&root.join(file_name), &bare("ws-list"));
            // P-05 / C-17: `.workshop/` may hold project SDKs next to a root file.
            write(&root.join(".workshop/test-sdk-tunnel/sdk.yaml"), "name: x\n");
            let files = definition_files(&root).unwrap();
            assert_eq!(files, [DefinitionFile { name: "ws-list".into(), path: root.join(file_name) }]);
            assert_eq!(load_definition(&root, "ws-list").unwrap().name, "ws-list");
            assert_eq!(
                load_definition(&root, "other").unwrap_err().to_string(),
                "workshop \"other\" not found (only found \"ws-list\")"
            );
        }
    }

    #[test]
    fn both_root_files_are_ambiguous() {
        let (_tmp, root) = project();
        write(&root.join("workshop.yaml"), &bare("a"));
        write(&root.join(".workshop.yaml"), &bare("b"));
        assert_eq!(
            definition_files(&root).unwrap_err().to_string(),
            format!(
                "ambiguous file \"{}\" (directory also contains \".workshop.yaml\")",
                root.join("workshop.yaml").display()
            )
        );
    }

    #[test]
    fn a_root_file_next_to_directory_definitions_is_refused() {
        // P-12: copying `.workshop/ws.yaml` to `.workshop.yaml`.
        let (_tmp, root) = project();
        write(&root.join(".workshop/ws.yaml"), &bare("ws"));
        write(&root.join(".workshop.yaml"), &bare("ws"));
        let want = format!(
            "multiple workshops found, but \"{}\" not in \".workshop\" subdirectory",
            root.join(".workshop.yaml").display()
        );
        assert_eq!(definition_files(&root).unwrap_err().to_string(), want);
        assert_eq!(load_definition(&root, "ws").unwrap_err().to_string(), want);
        // Removing the directory file leaves a valid single-file project.
        fs::remove_file(root.join(".workshop/ws.yaml")).unwrap();
        assert_eq!(definition_files(&root).unwrap()[0].name, "ws");
    }

    #[test]
    fn directory_files_must_be_named_after_their_workshop() {
        let (_tmp, root) = project();
        write(&root.join(".workshop/dev.yaml"), &bare("prod"));
        assert_eq!(
            load_definition(&root, "dev").unwrap_err().to_string(),
            "\"prod\" workshop file must be named \"prod.yaml\" (now: \"dev.yaml\")"
        );
    }

    #[test]
    fn missing_and_invalid_definitions() {
        let (_tmp, root) = project();
        write(&root.join(".workshop/dev.yaml"), "name: Dev\nbase: ubuntu@22.04\n");
        assert_eq!(
            load_definition(&root, "nope").unwrap_err().to_string(),
            format!("workshop definition \"{}\" not found", root.join(".workshop/nope.yaml").display())
        );
        let invalid = load_definition(&root, "dev").unwrap_err().to_string();
        assert!(
            invalid.starts_with(&format!(
                "cannot load \"{}\": name: a workshop's name must",
                root.join(".workshop/dev.yaml").display()
            )),
            "{invalid}"
        );
        // An invalid root file cannot even be listed: its name is unknown.
        let (_tmp2, single) = project();
        write(&single.join("workshop.yaml"), "name: ws\nbse: ubuntu@22.04\n");
        let err = definition_files(&single).unwrap_err().to_string();
        assert!(err.ends_with("(did you mean \"base\"?)"), "{err}");
    }
}
