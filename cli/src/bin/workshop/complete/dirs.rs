//! Completion of `--project`: directories, written the way they are typed (relative, absolute,
//! or from `~`), keeping those that fit the command. A directory fits when it is a project with
//! launched workshops (the daemon's list of the user's projects says which); for `launch` and
//! `init` any directory fits. Directories on the way to a project with launched workshops are
//! offered so that one can get there. `.` is offered when the current directory fits. Reading
//! is bounded: a directory's first [`MAX_ENTRIES`] entries are looked at.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use clap_complete::engine::CompletionCandidate;

/// Which directories `--project` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dirs {
    /// Projects with launched workshops (most commands).
    Launched,
    /// Every directory (`launch` makes a project of one, `init` writes a definition into one);
    /// those with definitions say whether their workshops are launched.
    All,
}

/// Entries of one directory looked at, at most.
pub const MAX_ENTRIES: usize = 4096;
/// Entries of a `.workshop` directory looked at for a definition, at most.
const MAX_DEFINITION_ENTRIES: usize = 256;
/// Root definition files (`.workshop/*.yaml` are the others).
const ROOT_FILES: [&str; 2] = ["workshop.yaml", ".workshop.yaml"];

/// The `--project` candidates for `value` typed in `cwd`; `launched` are the directories of
/// the user's projects that have launched workshops.
pub fn candidates(
    value: &OsStr,
    cwd: &Path,
    home: Option<&Path>,
    offer: Dirs,
    launched: &[PathBuf],
) -> Vec<CompletionCandidate> {
    let (prefix, partial) = split(value.as_bytes());
    let Some(root) = search_root(prefix, cwd, home) else { return Vec::new() };
    let mut out = Vec::new();
    if value.is_empty()
        && let Some(help) = fits(cwd, offer, launched, true)
    {
        out.push(CompletionCandidate::new(".").help(help.map(Into::into)));
    }
    let Ok(entries) = std::fs::read_dir(&root) else { return out };
    let mut found: Vec<(OsString, Option<&'static str>)> = Vec::new();
    for entry in entries.take(MAX_ENTRIES).filter_map(Result::ok) {
        let name = entry.file_name();
        let bytes = name.as_bytes();
        if !bytes.starts_with(partial) || (bytes.starts_with(b".") && !partial.starts_with(b".")) {
            continue;
        }
        let path = root.join(&name);
        if !path.is_dir() {
            continue;
        }
        if let Some(help) = fits(&path, offer, launched, false) {
            found.push((name, help));
        }
    }
    found.sort();
    for (name, help) in found {
        let mut text = prefix.to_vec();
        text.extend_from_slice(name.as_bytes());
        text.push(b'/');
        out.push(CompletionCandidate::new(OsString::from_vec(text)).help(help.map(Into::into)));
    }
    out
}

/// Every directory for `value` typed in `cwd`, as bash's own directory completion gives
/// them: without a trailing `/` (a host directory a plug takes its files from).
pub fn host_dirs(value: &OsStr, cwd: &Path, home: Option<&Path>) -> Vec<CompletionCandidate> {
    without_slash(candidates(value, cwd, home, Dirs::All, &[]))
}

/// `candidates` written as bash's own directory completion writes them (and the reference's
/// `--project` completion): without a trailing `/`; their help stays.
pub fn without_slash(candidates: Vec<CompletionCandidate>) -> Vec<CompletionCandidate> {
    candidates
        .into_iter()
        .map(|c| {
            let text = c.get_value().as_bytes();
            let text = text.strip_suffix(b"/").filter(|t| !t.is_empty()).unwrap_or(text);
            CompletionCandidate::new(OsStr::from_bytes(text)).help(c.get_help().cloned())
        })
        .collect()
}

/// The directory whose entries complete `value` (None: `~` without a home).
pub fn searched(value: &OsStr, cwd: &Path, home: Option<&Path>) -> Option<PathBuf> {
    search_root(split(value.as_bytes()).0, cwd, home)
}

/// The typed text up to its last `/` (kept as typed) and the part after it. A lone `~` is the
/// home directory.
fn split(value: &[u8]) -> (&[u8], &[u8]) {
    if value == b"~" {
        return (b"~/", b"");
    }
    match value.iter().rposition(|&b| b == b'/') {
        Some(at) => value.split_at(at + 1),
        None => (b"", value),
    }
}

/// The directory the typed prefix names.
fn search_root(prefix: &[u8], cwd: &Path, home: Option<&Path>) -> Option<PathBuf> {
    if let Some(rest) = prefix.strip_prefix(b"~/") {
        return Some(home?.join(OsStr::from_bytes(rest)));
    }
    Some(cwd.join(OsStr::from_bytes(prefix)))
}

/// Whether `dir` is offered for `offer`, and its description. `here`: `dir` is the current
/// directory, which also fits when it is inside a project with launched workshops (commands
/// find the project upwards).
fn fits(dir: &Path, offer: Dirs, launched: &[PathBuf], here: bool) -> Option<Option<&'static str>> {
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let is = |p: &PathBuf| p == dir || *p == real;
    if launched.iter().any(is) || (here && launched.iter().any(|p| real.starts_with(p))) {
        return Some(Some("launched workshops"));
    }
    if offer != Dirs::Launched && has_definitions(dir) {
        return Some(Some("not launched"));
    }
    if offer == Dirs::All || (!here && launched.iter().any(|p| p.starts_with(dir) || p.starts_with(&real))) {
        return Some(None);
    }
    None
}

/// Whether `dir` holds a workshop definition (a root file or `.workshop/*.yaml`).
pub fn has_definitions(dir: &Path) -> bool {
    if ROOT_FILES.iter().any(|f| dir.join(f).is_file()) {
        return true;
    }
    let Ok(entries) = std::fs::read_dir(dir.join(".workshop")) else { return false };
    entries
        .take(MAX_DEFINITION_ENTRIES)
        .filter_map(Result::ok)
        .any(|e| e.file_name().as_bytes().ends_with(b".yaml") && e.path().is_file())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// A tree: `p-launched` (a project with launched workshops), `p-new` (definitions, not
    /// launched), `group/nested` (launched, deeper down), `plain` (nothing), `.hidden-p`
    /// (launched), `notes.txt` (a file), and `link` (a symlink to `p-launched`).
    struct Tree {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        launched: Vec<PathBuf>,
    }

    fn tree() -> Tree {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        for dir in ["p-launched/.workshop", "p-new/.workshop", "group/nested", "plain", ".hidden-p"] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        fs::write(root.join("p-launched/.workshop/dev.yaml"), "name: dev\nbase: debian@12\n").unwrap();
        fs::write(root.join("p-new/.workshop/dev.yaml"), "name: dev\nbase: debian@12\n").unwrap();
        fs::write(root.join("group/nested/workshop.yaml"), "name: ws\nbase: debian@12\n").unwrap();
        fs::write(root.join(".hidden-p/workshop.yaml"), "name: ws\nbase: debian@12\n").unwrap();
        fs::write(root.join("notes.txt"), "").unwrap();
        std::os::unix::fs::symlink(root.join("p-launched"), root.join("link")).unwrap();
        let launched = ["p-launched", "group/nested", ".hidden-p"].map(|d| root.join(d)).to_vec();
        Tree { _tmp: tmp, root, launched }
    }

    fn offered(t: &Tree, value: &str, cwd: &Path, offer: Dirs) -> Vec<String> {
        candidates(OsStr::new(value), cwd, Some(&t.root), offer, &t.launched)
            .into_iter()
            .map(|c| c.get_value().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn projects_with_launched_workshops_and_the_way_to_them() {
        let t = tree();
        assert_eq!(offered(&t, "", &t.root, Dirs::Launched), ["group/", "link/", "p-launched/"]);
        assert_eq!(offered(&t, "p", &t.root, Dirs::Launched), ["p-launched/"]);
        assert_eq!(offered(&t, "group/", &t.root, Dirs::Launched), ["group/nested/"]);
        assert!(offered(&t, "plain/", &t.root, Dirs::Launched).is_empty());
        assert!(offered(&t, "notes", &t.root, Dirs::Launched).is_empty(), "files are not offered");
    }

    #[test]
    fn every_directory_says_whether_its_workshops_are_launched() {
        let t = tree();
        assert_eq!(offered(&t, "p-n", &t.root, Dirs::All), ["p-new/"]);
        let help: Vec<String> = candidates(OsStr::new("p"), &t.root, None, Dirs::All, &t.launched)
            .iter()
            .map(|c| c.get_help().map(|h| h.to_string()).unwrap_or_default())
            .collect();
        assert_eq!(help, ["launched workshops", "not launched", ""]);
    }

    #[test]
    fn project_candidates_lose_their_slash_and_keep_their_help() {
        let t = tree();
        let bare = without_slash(candidates(OsStr::new("p-"), &t.root, None, Dirs::All, &t.launched));
        let shown: Vec<(String, String)> = bare
            .iter()
            .map(|c| {
                let help = c.get_help().map(|h| h.to_string()).unwrap_or_default();
                (c.get_value().to_string_lossy().into_owned(), help)
            })
            .collect();
        assert_eq!(
            shown,
            [("p-launched".into(), "launched workshops".into()), ("p-new".into(), "not launched".into())]
        );
    }

    #[test]
    fn relative_absolute_and_home_prefixes() {
        let t = tree();
        let inside = t.root.join("plain");
        assert_eq!(offered(&t, "../p-l", &inside, Dirs::Launched), ["../p-launched/"]);
        let abs = format!("{}/p-", t.root.display());
        assert_eq!(
            offered(&t, &abs, Path::new("/"), Dirs::All),
            [format!("{abs}launched/"), format!("{abs}new/")]
        );
        assert_eq!(offered(&t, "~/gr", Path::new("/"), Dirs::Launched), ["~/group/"]);
        assert_eq!(
            offered(&t, "~", Path::new("/"), Dirs::Launched),
            ["~/group/", "~/link/", "~/p-launched/"]
        );
        assert!(candidates(OsStr::new("~/"), Path::new("/"), None, Dirs::Launched, &t.launched).is_empty());
    }

    #[test]
    fn hidden_directories_only_when_asked_for() {
        let t = tree();
        assert_eq!(offered(&t, ".", &t.root, Dirs::Launched), [".hidden-p/"]);
    }

    #[test]
    fn dot_where_the_current_directory_has_a_workshop() {
        let t = tree();
        assert_eq!(offered(&t, "", &t.root.join("p-launched"), Dirs::Launched), ["."]);
        assert_eq!(offered(&t, "", &t.root.join("p-launched/.workshop"), Dirs::Launched), ["."]);
        assert!(offered(&t, "", &t.root.join("p-new"), Dirs::Launched).is_empty());
        assert_eq!(offered(&t, "", &t.root.join("p-new"), Dirs::All), ["."]);
        assert_eq!(offered(&t, "", &t.root.join("group"), Dirs::Launched), ["nested/"], "no dot on the way");
    }

    #[test]
    fn host_directories_come_without_a_trailing_slash() {
        let t = tree();
        let typed = format!("{}/p", t.root.display());
        let offered: Vec<String> = host_dirs(OsStr::new(&typed), Path::new("/"), None)
            .iter()
            .map(|c| c.get_value().to_string_lossy().into_owned())
            .collect();
        let want = ["p-launched", "p-new", "plain"].map(|d| format!("{}/{d}", t.root.display()));
        assert_eq!(offered, want);
    }

    #[test]
    fn launch_and_init_offer_every_directory() {
        let t = tree();
        assert_eq!(
            offered(&t, "", &t.root, Dirs::All),
            [".", "group/", "link/", "p-launched/", "p-new/", "plain/"]
        );
    }
}
