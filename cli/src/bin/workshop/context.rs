//! What every command needs: the client, the project directory and workshop-name inference.

use std::path::{Component, Path, PathBuf};

use anyhow::Context as _;
use workshop_api::Project;
use workshop_client::{Client, ClientError};

/// Shared state of one `workshop` invocation.
pub struct Ctx {
    pub client: Client,
    /// `-p/--project`, as given.
    pub project_flag: Option<PathBuf>,
}

/// Why no single workshop name could be inferred.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot infer workshop name: {reason}")]
pub struct InferError {
    pub reason: String,
    /// The names found (several, or none).
    pub names: Vec<String>,
}

impl Ctx {
    /// The project directory: `--project` resolved against the working directory, or the latter.
    pub fn project_dir(&self) -> anyhow::Result<PathBuf> {
        let cwd = std::env::current_dir()
            .or_else(|e| std::env::var("PWD").map(PathBuf::from).map_err(|_| e))
            .context("cannot get the current directory")?;
        Ok(match &self.project_flag {
            Some(p) => absolute(&cwd, p),
            None => cwd,
        })
    }

    /// Tracks the project directory with the daemon (`POST /v1/projects`).
    pub fn project(&self) -> anyhow::Result<Project> {
        Ok(self.client.track_project(&self.project_dir()?)?)
    }

    /// The project for `remove`, which may act on a project whose directory has gone: tracked
    /// as usual, else, when nothing is at the path any more, the project the daemon tracks
    /// for the user at that path (its workshops are in `Error` with `missing-project`).
    pub fn project_or_gone(&self) -> anyhow::Result<Project> {
        let dir = self.project_dir()?;
        match self.client.track_project(&dir) {
            Ok(project) => Ok(project),
            Err(e) if !e.is_communication() && std::fs::symlink_metadata(&dir).is_err() => {
                let tracked = self.client.projects()?;
                match tracked.into_iter().find(|p| std::path::Path::new(&p.path) == dir) {
                    Some(project) => Ok(project),
                    None => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Names of the workshops of `project`: instances first, then definition files; an error
    /// when a definition file cannot be read.
    pub fn workshop_names(&self, project: &Project) -> Result<Vec<String>, ClientError> {
        self.workshop_names_in(project, "all")
    }

    /// As [`Ctx::workshop_names`], with the files read as `state` asks: `available` lists
    /// those that can be read and leaves the others to the daemon's warnings.
    pub fn workshop_names_in(&self, project: &Project, state: &str) -> Result<Vec<String>, ClientError> {
        let list = self.client.workshops(&project.id, Some(state))?;
        let mut names: Vec<String> = list.workshops.into_iter().map(|w| w.name).collect();
        for file in list.files {
            if !names.contains(&file.name) {
                names.push(file.name);
            }
        }
        Ok(names)
    }

    /// The project's only workshop.
    pub fn single_workshop_name(&self, project: &Project) -> anyhow::Result<String> {
        let names = match self.workshop_names(project) {
            // The daemon's reason the project's workshops cannot be listed (conflicting
            // definition files), in the reference's words.
            Err(ClientError::Api(e)) => anyhow::bail!("cannot infer workshop name: {}", e.message),
            other => other?,
        };
        Ok(infer_name(names, &project.path)?)
    }

    /// `names`, or the project's only workshop when there are none; duplicates dropped.
    pub fn names_or_single(&self, project: &Project, names: &[String]) -> anyhow::Result<Vec<String>> {
        if names.is_empty() {
            return Ok(vec![self.single_workshop_name(project)?]);
        }
        let mut out: Vec<String> = Vec::new();
        for name in names {
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
        Ok(out)
    }
}

/// The single name among `names`.
pub fn infer_name(names: Vec<String>, project_path: &str) -> Result<String, InferError> {
    match names.len() {
        1 => Ok(names.into_iter().next().unwrap_or_default()),
        0 => Err(InferError { reason: format!("no workshops found in {project_path:?}"), names }),
        _ => Err(InferError { reason: format!("multiple workshops found: {}", quoted(&names)), names }),
    }
}

/// `"a", "b"`: names quoted and joined like the reference's `strutil.Quoted`.
pub fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

/// `p` made absolute against `cwd`, with `.` and `..` resolved lexically.
pub fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in cwd.join(p).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The user's data directory, which the daemon is told of with every request: `$XDG_DATA_HOME`
/// when it is an absolute path, else `~/.local/share` of the user's home in the user database.
pub fn data_home() -> Option<PathBuf> {
    workshop_api::data_home::resolve(std::env::var_os("XDG_DATA_HOME").as_deref())
        .or_else(|| passwd_home().map(|home| home.join(".local/share")))
}

fn passwd_home() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut buf = vec![0u8; 16 << 10];
    // SAFETY: an all-zero passwd is a valid value to be overwritten.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; buf outlives the use of pwd.
    let rc = unsafe {
        libc::getpwuid_r(libc::getuid(), &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut result)
    };
    if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
        return None;
    }
    // SAFETY: pw_dir points into buf, NUL-terminated, as getpwuid_r succeeded.
    let dir = unsafe { std::ffi::CStr::from_ptr(pwd.pw_dir) };
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_paths_are_made_absolute() {
        let cwd = Path::new("/home/u/p");
        assert_eq!(absolute(cwd, Path::new("relative")), PathBuf::from("/home/u/p/relative"));
        assert_eq!(absolute(cwd, Path::new("../q/./r/")), PathBuf::from("/home/u/q/r"));
        assert_eq!(absolute(cwd, Path::new("/abs/x/")), PathBuf::from("/abs/x"));
    }

    #[test]
    fn name_inference() {
        assert_eq!(infer_name(vec!["dev".into()], "/p"), Ok("dev".into()));
        assert_eq!(
            infer_name(vec!["a".into(), "b".into()], "/p").unwrap_err().to_string(),
            "cannot infer workshop name: multiple workshops found: \"a\", \"b\""
        );
        assert_eq!(
            infer_name(vec![], "/home/u/p").unwrap_err().to_string(),
            "cannot infer workshop name: no workshops found in \"/home/u/p\""
        );
    }
}
