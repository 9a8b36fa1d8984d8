//! The definition files of a project: one root file (`workshop.yaml` or `.workshop.yaml`),
//! or `.workshop/<name>.yaml` files.

use std::path::PathBuf;

use workshop_api::definition::{self, DefinitionWarning, WorkshopFile};

use super::ProjectError;
use super::root::{DEFINITION_DIR, ROOT_FILES, directory_files};
use crate::userfs::{Dir, MAX_YAML};

/// A workshop definition file of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionFile {
    /// The workshop's name (the file's stem under `.workshop/`, the `name` key of a root file).
    pub name: String,
    pub path: PathBuf,
}

/// A workshop definition as read from its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub file: WorkshopFile,
    /// The file's text (actions are found in it by line).
    pub text: String,
    /// What is wrong with the file that still lets it load (unknown keys), for the caller to
    /// raise as warnings of the user.
    pub warnings: Vec<DefinitionWarning>,
}

/// How a project lays out its definitions.
enum Layout {
    /// A single root file (its name).
    Single(&'static str),
    /// `.workshop/<name>.yaml` files (possibly none, and then no directory).
    Directory(Option<Dir>, Vec<String>),
}

fn layout(root: &Dir) -> Result<Layout, ProjectError> {
    let mut single: Option<&'static str> = None;
    for name in ROOT_FILES {
        if root.kind(name)?.is_some() {
            if let Some(first) = single {
                return Err(ProjectError::Ambiguous {
                    path: root.path().join(first),
                    other: name.to_string(),
                });
            }
            single = Some(name);
        }
    }
    let defs = root.subdir(DEFINITION_DIR)?;
    let files = match &defs {
        Some(defs) => directory_files(defs)?,
        None => Vec::new(),
    };
    match single {
        Some(name) if !files.is_empty() => {
            Err(ProjectError::RootFileWithDirectory { path: root.path().join(name) })
        }
        Some(name) => Ok(Layout::Single(name)),
        None => Ok(Layout::Directory(defs, files)),
    }
}

/// The definition files of the project opened at `root`, sorted by name.
///
/// Files under `.workshop/` are not read (their name is the file's stem); a root file is
/// loaded to learn its workshop's name (its warnings are for the reads that use it).
pub fn definition_files(root: &Dir) -> Result<Vec<DefinitionFile>, ProjectError> {
    match layout(root)? {
        Layout::Single(file_name) => {
            let name = read_definition(root, file_name)?.file.name;
            Ok(vec![DefinitionFile { name, path: root.path().join(file_name) }])
        }
        Layout::Directory(defs, names) => {
            let dir =
                defs.as_ref().map_or_else(|| root.path().join(DEFINITION_DIR), |d| d.path().to_path_buf());
            Ok(names
                .into_iter()
                .map(|name| {
                    let path = dir.join(format!("{name}.yaml"));
                    DefinitionFile { name, path }
                })
                .collect())
        }
    }
}

/// Loads and validates the definition of workshop `name` in the project opened at `root`.
pub fn load_definition(root: &Dir, name: &str) -> Result<Definition, ProjectError> {
    match layout(root)? {
        Layout::Single(file_name) => {
            let definition = read_definition(root, file_name)?;
            if definition.file.name != name {
                return Err(ProjectError::OnlyFound { name: name.to_string(), found: definition.file.name });
            }
            Ok(definition)
        }
        Layout::Directory(defs, _) => {
            let file_name = format!("{name}.yaml");
            let Some(defs) = defs else {
                let path = root.path().join(DEFINITION_DIR).join(&file_name);
                return Err(ProjectError::DefinitionNotFound { path });
            };
            let definition = read_definition(&defs, &file_name)?;
            if definition.file.name != name {
                return Err(ProjectError::Misnamed { name: definition.file.name, file: file_name });
            }
            Ok(definition)
        }
    }
}

/// Reads and parses `dir/file_name`: a regular file of at most [`MAX_YAML`] bytes.
fn read_definition(dir: &Dir, file_name: &str) -> Result<Definition, ProjectError> {
    let path = dir.path().join(file_name);
    let text = dir.read_text(file_name, MAX_YAML).map_err(|e| {
        if e.is_not_found() { ProjectError::DefinitionNotFound { path: path.clone() } } else { e.into() }
    })?;
    let (file, warnings) = definition::load(&text, &path)?;
    Ok(Definition { file, text, warnings })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;

    fn open(root: &Path) -> Dir {
        Dir::open(root).unwrap()
    }

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
        let files = definition_files(&open(&root)).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "nested"]);
        assert_eq!(files[0].path, root.join(".workshop/a.yaml"));
        assert_eq!(load_definition(&open(&root), "a").unwrap().file.name, "a");
        let empty = load_definition(&open(&root), "nested").unwrap_err().to_string();
        assert!(empty.contains("empty workshop definition"), "{empty}");
    }

    #[test]
    fn a_single_root_file_is_named_by_its_content() {
        for file_name in ROOT_FILES {
            let (_tmp, root) = project();
            write(&root.join(file_name), &bare("ws-list"));
            // P-05 / C-17: `.workshop/` may hold project SDKs next to a root file.
            write(&root.join(".workshop/test-sdk-tunnel/sdk.yaml"), "name: x\n");
            let files = definition_files(&open(&root)).unwrap();
            assert_eq!(files, [DefinitionFile { name: "ws-list".into(), path: root.join(file_name) }]);
            assert_eq!(load_definition(&open(&root), "ws-list").unwrap().file.name, "ws-list");
            assert_eq!(
                load_definition(&open(&root), "other").unwrap_err().to_string(),
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
            definition_files(&open(&root)).unwrap_err().to_string(),
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
        assert_eq!(definition_files(&open(&root)).unwrap_err().to_string(), want);
        assert_eq!(load_definition(&open(&root), "ws").unwrap_err().to_string(), want);
        // Removing the directory file leaves a valid single-file project.
        fs::remove_file(root.join(".workshop/ws.yaml")).unwrap();
        assert_eq!(definition_files(&open(&root)).unwrap()[0].name, "ws");
    }

    #[test]
    fn directory_files_must_be_named_after_their_workshop() {
        let (_tmp, root) = project();
        write(&root.join(".workshop/dev.yaml"), &bare("prod"));
        assert_eq!(
            load_definition(&open(&root), "dev").unwrap_err().to_string(),
            "\"prod\" workshop file must be named \"prod.yaml\" (now: \"dev.yaml\")"
        );
    }

    #[test]
    fn missing_and_invalid_definitions() {
        let (_tmp, root) = project();
        write(&root.join(".workshop/dev.yaml"), "name: Dev\nbase: ubuntu@22.04\n");
        assert_eq!(
            load_definition(&open(&root), "nope").unwrap_err().to_string(),
            format!("workshop definition \"{}\" not found", root.join(".workshop/nope.yaml").display())
        );
        let invalid = load_definition(&open(&root), "dev").unwrap_err().to_string();
        assert!(invalid.starts_with("a workshop's name must: (1)"), "{invalid}");
        assert!(
            invalid.ends_with(&format!(" (name in \"{}\")", root.join(".workshop/dev.yaml").display())),
            "{invalid}"
        );
        // An invalid root file cannot even be listed: its name is unknown.
        let (_tmp2, single) = project();
        write(&single.join("workshop.yaml"), "name: ws\nbse: ubuntu@22.04\n");
        let err = definition_files(&open(&single)).unwrap_err().to_string();
        assert!(err.starts_with("workshop definition YAML:\nmissing key \"base\""), "{err}");
        assert!(err.contains("unknown key \"bse\" at line 2, column 1 (did you mean \"base\"?)"), "{err}");
    }

    #[test]
    fn unknown_keys_load_with_warnings() {
        // Issue 11 item 1: a file written for the reference, with a key it ignores.
        let (_tmp, root) = project();
        let path = root.join(".workshop/dev.yaml");
        write(&path, "name: dev\nbase: ubuntu@22.04\nruntime: container\n");
        let definition = load_definition(&open(&root), "dev").unwrap();
        assert_eq!(definition.file.name, "dev");
        let warnings: Vec<String> = definition.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [format!("unknown key \"runtime\" at line 3, column 1 (in \"{}\")", path.display())]
        );
    }

    #[test]
    fn c1_hostile_definitions_are_refused_without_quoting_them() {
        // A symlink to a root-only file, a FIFO, an oversized file and a link to /dev/zero:
        // each gets an error that names the file and what is wrong, quickly, and nothing of
        // what the link points to.
        let secret_dir = tempfile::tempdir().unwrap();
        let secret = secret_dir.path().join("shadow");
        fs::write(&secret, "root:*:20228:0:99999:7:::\n").unwrap();
        type Make<'a> = Box<dyn Fn(&Path) + 'a>;
        let cases: [(&str, Make, &str); 4] = [
            (
                "symlink",
                Box::new(|p: &Path| std::os::unix::fs::symlink(&secret, p).unwrap()),
                "symbolic link",
            ),
            (
                "zero",
                Box::new(|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap()),
                "symbolic link",
            ),
            (
                "fifo",
                Box::new(|p: &Path| {
                    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
                    // SAFETY: a NUL-terminated path.
                    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
                }),
                "not a regular file",
            ),
            (
                "huge",
                Box::new(|p: &Path| fs::write(p, "a".repeat(MAX_YAML as usize + 1)).unwrap()),
                "larger than 1048576 bytes",
            ),
        ];
        for (case, make, why) in cases {
            for layout in ["workshop.yaml", ".workshop/ws.yaml"] {
                let (_tmp, root) = project();
                fs::create_dir_all(root.join(".workshop")).unwrap();
                make(&root.join(layout));
                let started = std::time::Instant::now();
                let err = match layout {
                    "workshop.yaml" => definition_files(&open(&root)).unwrap_err(),
                    _ => load_definition(&open(&root), "ws").unwrap_err(),
                }
                .to_string();
                assert!(started.elapsed() < std::time::Duration::from_secs(2), "{case} {layout} blocked");
                let prefix = format!("cannot read \"{}\": ", root.join(layout).display());
                assert!(err.starts_with(&prefix) && err.contains(why), "{case}: {err}");
                assert!(!err.contains("root:"), "{err}");
            }
        }
    }

    #[test]
    fn a_symlinked_definition_directory_is_refused() {
        let (_tmp, root) = project();
        let elsewhere = root.join("elsewhere");
        write(&elsewhere.join("ws.yaml"), &bare("ws"));
        std::os::unix::fs::symlink(&elsewhere, root.join(".workshop")).unwrap();
        let err = load_definition(&open(&root), "ws").unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }
}
