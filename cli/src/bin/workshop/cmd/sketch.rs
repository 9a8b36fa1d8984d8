//! `workshop sketch-sdk` and `workshop sketches` (reference-inventory §1.1, §8.10): the sketch
//! SDK of a workshop lives in the user's data, `~/.local/share/workshop/id/<project id>/
//! <workshop>/sdk/sketch/{current,stash}/`. Every operation on it is a file move done here, as
//! the user, followed by a refresh of the workshop; the daemon reads `current/` (as the user)
//! when it refreshes.
//!
//! `current/` holds `sketch.yaml` (the text as the user wrote it, opened again by the next
//! edit), and what is made from it: `sdk.yaml` and `hooks/<hook>`. A new `current/` is built
//! next to it and swapped in with one `renameat2(RENAME_EXCHANGE)`, so a refresh reads either
//! the old sketch or the new one. A text that cannot be used stays in `edit.yaml` for the next
//! edit.

use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use clap::Args;
use serde::Serialize;
use workshop_api::ErrorKind;
use workshop_api::Project;
use workshop_api::definition::validate_sdk_name;
use workshop_api::sdk::sketch::{MAX_SKETCH_TEXT, Sketch, TEMPLATE};
use workshop_api::workshops::{
    Mode, RefreshOption, WorkshopAction, WorkshopInfo, WorkshopOptions, WorkshopStatus, WorkshopsRequest,
};

use crate::cmd::ListFormat;
use crate::context::Ctx;
use crate::messages;
use crate::table::Table;
use crate::wait::{self, Outcome, WaitOptions};

/// Flags of `sketch-sdk`.
#[derive(Debug, Args)]
pub struct SketchArgs {
    /// Move the sketch aside (to the stash) and refresh the workshop without it
    #[arg(long, group = "op")]
    pub stash: bool,
    /// Bring back the stashed sketch and refresh the workshop with it
    #[arg(long, group = "op")]
    pub restore: bool,
    /// Turn the sketch into a project SDK in .workshop/ and remove it from the workshop
    #[arg(long, group = "op")]
    pub eject: bool,
    /// Remove the sketch and refresh the workshop without it
    #[arg(long, group = "op")]
    pub remove: bool,
    /// Name of the project SDK --eject makes (default: the project directory's name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Show task logs, including hook output, while refreshing
    #[arg(long)]
    pub verbose: bool,
    /// The workshop (default: the project's only workshop)
    #[arg(value_name = "WORKSHOP")]
    pub workshop: Option<String>,
}

/// What `sketch-sdk` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Edit,
    Stash,
    Restore,
    Eject,
    Remove,
}

impl SketchArgs {
    /// The operation; `--name` goes only with `--eject` (the reference's words).
    fn op(&self) -> anyhow::Result<Op> {
        if self.name.is_some() && !self.eject {
            bail!("flag --name requires --eject");
        }
        Ok(match (self.stash, self.restore, self.eject, self.remove) {
            (true, ..) => Op::Stash,
            (_, true, ..) => Op::Restore,
            (_, _, true, _) => Op::Eject,
            (.., true) => Op::Remove,
            _ => Op::Edit,
        })
    }
}

/// `workshop sketch-sdk`.
pub fn sketch_sdk(ctx: &Ctx, args: &SketchArgs) -> anyhow::Result<()> {
    let op = args.op()?;
    let project = ctx.project()?;
    let ws = match &args.workshop {
        Some(name) => name.clone(),
        None => ctx.single_workshop_name(&project)?,
    };
    let mut info = ctx.client.workshop(&project.id, &ws)?;
    if info.status == WorkshopStatus::Waiting {
        println!("Reverting incomplete change for {ws:?}...");
        abort_refresh(ctx, &project, &ws)?;
        info = ctx.client.workshop(&project.id, &ws)?;
    }
    if info.status != WorkshopStatus::Ready {
        bail!("cannot sketch: workshop {ws:?} currently {:?}, must be \"Ready\"", info.status.as_str());
    }
    let area = Area::new(&data_home()?, &project.id, &ws);
    match op {
        Op::Edit => {
            edit(&area)?;
            refresh(ctx, &project, &ws, Mode::WaitOnError, args.verbose)?;
            println!("{ws:?} sketch refreshed");
        }
        Op::Stash => {
            area.stash().with_context(|| format!("cannot stash the sketch of {ws:?}"))?;
            refresh(ctx, &project, &ws, Mode::Transactional, args.verbose)?;
            println!("{ws:?} sketch stashed");
        }
        Op::Restore => {
            area.restore().with_context(|| format!("cannot restore the sketch of {ws:?}"))?;
            refresh(ctx, &project, &ws, Mode::WaitOnError, args.verbose)?;
            println!("{ws:?} sketch restored");
        }
        Op::Remove => {
            area.remove().with_context(|| format!("cannot remove the sketch of {ws:?}"))?;
            refresh(ctx, &project, &ws, Mode::Transactional, args.verbose)?;
            println!("{ws:?} sketch removed");
        }
        Op::Eject => {
            let name = match &args.name {
                Some(name) => name.clone(),
                None => Path::new(&project.path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            };
            let dir = eject(&area, Path::new(&project.path), &name)?;
            area.remove().with_context(|| format!("cannot remove the sketch of {ws:?}"))?;
            refresh(ctx, &project, &ws, Mode::Transactional, args.verbose)?;
            println!("Ejected {ws:?} sketch to {dir:?}.");
            println!("To use it, add \"project-{name}\" to the SDK list and run \"workshop refresh {ws}\"");
        }
    }
    Ok(())
}

/// `refresh --abort` of the paused change holding `ws`.
fn abort_refresh(ctx: &Ctx, project: &Project, ws: &str) -> anyhow::Result<()> {
    let options = WorkshopOptions { mode: Mode::Abort, ..Default::default() };
    let request = WorkshopsRequest { names: vec![ws.parse()?], action: WorkshopAction::Refresh, options };
    let change = ctx.client.workshop_action(&project.id, &request)?;
    match wait::wait(&ctx.client, &change, WaitOptions { verbose: false, skip_abort: false })? {
        Outcome::Done | Outcome::Undone(_) => Ok(()),
        Outcome::Paused(chg) => bail!(messages::paused("refresh", ws, &chg.id)),
        Outcome::Failed(_, err) => bail!("cannot sketch: {err}"),
    }
}

/// Refreshes `ws` with its sketch as it is now; nothing to do is fine.
fn refresh(ctx: &Ctx, project: &Project, ws: &str, mode: Mode, verbose: bool) -> anyhow::Result<()> {
    let options =
        WorkshopOptions { mode, refresh_option: Some(RefreshOption::Update), verbose, ..Default::default() };
    let request = WorkshopsRequest { names: vec![ws.parse()?], action: WorkshopAction::Refresh, options };
    let change = match ctx.client.workshop_action(&project.id, &request) {
        Ok(change) => change,
        Err(e) if e.kind() == Some(ErrorKind::NoUpdatesAvailable) => return Ok(()),
        Err(e) if e.is_communication() => return Err(e.into()),
        Err(e) => bail!("cannot refresh {ws:?}: {e}"),
    };
    match wait::wait(&ctx.client, &change, WaitOptions { verbose, skip_abort: false })? {
        Outcome::Done => Ok(()),
        Outcome::Undone(chg) | Outcome::Failed(chg, _) => {
            bail!("cannot refresh {ws:?}; aborted\nTo view details: \"workshop tasks {}\"", chg.id)
        }
        Outcome::Paused(chg) => bail!(messages::paused("refresh", ws, &chg.id)),
    }
}

/// The user's data directory: `~/.local/share` of the user's home in the user database (the
/// daemon looks there too, whatever the environment says).
fn data_home() -> anyhow::Result<PathBuf> {
    Ok(passwd_home().context("cannot find your home directory")?.join(".local/share"))
}

fn passwd_home() -> Option<PathBuf> {
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

/// The sketch area of one workshop.
#[derive(Debug, Clone)]
struct Area {
    dir: PathBuf,
}

/// What the sketch directory holds besides the hooks.
const SKETCH_TEXT: &str = "sketch.yaml";
const SDK_YAML: &str = "sdk.yaml";
const HOOKS_DIR: &str = "hooks";
/// Where a project's definitions and project SDKs are.
const DEFINITION_DIR_NAME: &str = ".workshop";

impl Area {
    fn new(data_home: &Path, project_id: &str, ws: &str) -> Area {
        Area { dir: data_home.join("workshop/id").join(project_id).join(ws).join("sdk/sketch") }
    }

    fn current(&self) -> PathBuf {
        self.dir.join("current")
    }

    fn stash_dir(&self) -> PathBuf {
        self.dir.join("stash")
    }

    /// The text being edited (kept when it was refused).
    fn draft(&self) -> PathBuf {
        self.dir.join("edit.yaml")
    }

    fn create(&self) -> io::Result<()> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)
    }

    /// Whether `path` is a directory (a symlink is not).
    fn is_dir(path: &Path) -> bool {
        fs::symlink_metadata(path).map(|m| m.is_dir()).unwrap_or(false)
    }

    /// Removes `path` by first moving it aside, so that it disappears at once.
    fn discard(&self, path: &Path) -> io::Result<()> {
        let aside = self.dir.join(".old");
        remove_any(&aside)?;
        match fs::rename(path, &aside) {
            Ok(()) => remove_any(&aside),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Makes `new` (a directory in the area) the current sketch in one step.
    fn swap_in(&self, new: &Path) -> io::Result<()> {
        let current = self.current();
        if Area::is_dir(&current) {
            exchange(new, &current)?;
            remove_any(new)
        } else {
            remove_any(&current)?;
            fs::rename(new, &current)
        }
    }

    /// The text to edit: a refused draft, the current sketch's, or the template.
    fn text_to_edit(&self) -> anyhow::Result<Option<String>> {
        if self.draft().exists() {
            return Ok(None);
        }
        let current = self.current().join(SKETCH_TEXT);
        Ok(Some(if current.exists() { read_bounded(&current)? } else { TEMPLATE.to_string() }))
    }

    /// Writes `sketch` (from `text`) as a new directory and swaps it in.
    fn install(&self, text: &str, sketch: &Sketch) -> io::Result<()> {
        let new = self.dir.join(".new");
        remove_any(&new)?;
        write_sdk_dir(&new, sketch, "sketch", Some(text))?;
        self.swap_in(&new)
    }

    fn stash(&self) -> anyhow::Result<()> {
        if !Area::is_dir(&self.current()) {
            bail!("there is no sketch");
        }
        let aside = self.dir.join(".old");
        remove_any(&aside)?;
        if Area::is_dir(&self.stash_dir()) {
            fs::rename(self.stash_dir(), &aside)?;
        }
        fs::rename(self.current(), self.stash_dir())?;
        remove_any(&aside)?;
        Ok(())
    }

    /// The stash becomes the current sketch; a current sketch takes its place in the stash.
    fn restore(&self) -> anyhow::Result<()> {
        if !Area::is_dir(&self.stash_dir()) {
            bail!("there is no stashed sketch");
        }
        if Area::is_dir(&self.current()) {
            exchange(&self.stash_dir(), &self.current())?;
        } else {
            fs::rename(self.stash_dir(), self.current())?;
        }
        Ok(())
    }

    /// Drops the current sketch, if any, and any refused draft (the stash stays).
    fn remove(&self) -> anyhow::Result<()> {
        self.discard(&self.current())?;
        remove_any(&self.draft())?;
        Ok(())
    }
}

/// Opens the editor on the sketch, checks what it left and swaps it in; a text that cannot be
/// used is kept for the next edit.
fn edit(area: &Area) -> anyhow::Result<()> {
    area.create().with_context(|| format!("cannot create {}", area.dir.display()))?;
    let draft = area.draft();
    if let Some(text) = area.text_to_edit()? {
        write_file(&draft, text.as_bytes(), 0o600)
            .with_context(|| format!("cannot write {}", draft.display()))?;
    }
    run_editor(&draft)?;
    let text = read_bounded(&draft)?;
    let sketch = Sketch::parse(&text).map_err(|e| anyhow::anyhow!("cannot sketch: {e}"))?;
    area.install(&text, &sketch)
        .with_context(|| format!("cannot install the sketch in {}", area.dir.display()))?;
    remove_any(&draft)?;
    Ok(())
}

/// The editor: `$EDITOR`, `$VISUAL`, else `editor` or `vi` from the `PATH`; words split on
/// white space, the file appended.
fn editor_command(env: impl Fn(&str) -> Option<String>, on_path: impl Fn(&str) -> bool) -> Vec<String> {
    for var in ["EDITOR", "VISUAL"] {
        if let Some(value) = env(var) {
            let words: Vec<String> = value.split_whitespace().map(str::to_string).collect();
            if !words.is_empty() {
                return words;
            }
        }
    }
    let fallback = ["editor", "vi", "nano"].into_iter().find(|c| on_path(c)).unwrap_or("vi");
    vec![fallback.to_string()]
}

fn on_path(command: &str) -> bool {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(command).is_file()))
        .unwrap_or(false)
}

/// Runs the editor on `file` with this terminal (standard input included).
fn run_editor(file: &Path) -> anyhow::Result<()> {
    let words = editor_command(|v| std::env::var(v).ok(), on_path);
    let status = Command::new(&words[0])
        .args(&words[1..])
        .arg(file)
        .status()
        .with_context(|| format!("cannot sketch: cannot run editor {:?}", words.join(" ")))?;
    if !status.success() {
        bail!(
            "cannot sketch: editor {:?} failed ({status}); your text is kept in {}",
            words[0],
            file.display()
        );
    }
    Ok(())
}

/// Writes the sketch as the project SDK `name` (`.workshop/<name>/sdk.yaml` and `hooks/`);
/// returns the directory as shown (`.workshop/<name>`).
fn eject(area: &Area, project: &Path, name: &str) -> anyhow::Result<String> {
    validate_sdk_name(name).map_err(|e| anyhow::anyhow!("cannot eject sketch: {e}"))?;
    let text = read_bounded(&area.current().join(SKETCH_TEXT)).context("cannot eject sketch")?;
    let sketch = Sketch::parse(&text).map_err(|e| anyhow::anyhow!("cannot eject sketch: {e}"))?;
    let shown = format!("{DEFINITION_DIR_NAME}/{name}");
    let dir = project.join(DEFINITION_DIR_NAME).join(name);
    if fs::symlink_metadata(&dir).is_ok() {
        bail!("cannot eject sketch: {shown:?} already exists");
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(project.join(DEFINITION_DIR_NAME))
        .with_context(|| format!("cannot create {}", project.join(DEFINITION_DIR_NAME).display()))?;
    write_sdk_dir(&dir, &sketch, name, None).with_context(|| format!("cannot eject sketch to {shown:?}"))?;
    Ok(shown)
}

/// Creates `dir` holding the SDK `name` made from `sketch`: `sdk.yaml`, `hooks/<hook>` and,
/// for the sketch itself, the user's `text`.
fn write_sdk_dir(dir: &Path, sketch: &Sketch, name: &str, text: Option<&str>) -> io::Result<()> {
    fs::DirBuilder::new().mode(0o755).create(dir)?;
    if let Some(text) = text {
        write_file(&dir.join(SKETCH_TEXT), text.as_bytes(), 0o644)?;
    }
    write_file(&dir.join(SDK_YAML), sketch.sdk_yaml(name).as_bytes(), 0o644)?;
    let hooks = sketch.hook_files();
    if !hooks.is_empty() {
        let hooks_dir = dir.join(HOOKS_DIR);
        fs::DirBuilder::new().mode(0o755).create(&hooks_dir)?;
        for (hook, script) in hooks {
            write_file(&hooks_dir.join(hook), script.as_bytes(), 0o755)?;
        }
    }
    Ok(())
}

/// Creates `path` (never through a symlink) with `data`.
fn write_file(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    remove_any(path)?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    io::Write::write_all(&mut file, data)?;
    file.sync_all()
}

/// Reads a sketch's text, at most [`MAX_SKETCH_TEXT`] bytes.
fn read_bounded(path: &Path) -> anyhow::Result<String> {
    let file = fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_SKETCH_TEXT as u64 + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if text.len() > MAX_SKETCH_TEXT {
        bail!("cannot sketch: {} is larger than {MAX_SKETCH_TEXT} bytes", path.display());
    }
    Ok(text)
}

/// Removes a file, link or directory tree; none is fine.
fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Swaps two directories in one step (`renameat2` with `RENAME_EXCHANGE`).
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: two valid NUL-terminated paths for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Flags of `sketches`.
#[derive(Debug, Args)]
pub struct SketchesArgs {
    /// Hide table headers
    #[arg(long)]
    pub no_headers: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// One row of `sketches`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SketchRow {
    pub workshop: String,
    /// The installed sketch's revision (`x1`), if it is installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// `current`, `stashed`.
    pub notes: Vec<String>,
}

/// The sketches of `workshops` found in `data_home`, by workshop name.
fn sketch_rows(data_home: &Path, project_id: &str, workshops: &[WorkshopInfo]) -> Vec<SketchRow> {
    let mut rows: Vec<SketchRow> = workshops
        .iter()
        .filter_map(|w| {
            let area = Area::new(data_home, project_id, &w.name);
            let mut notes = Vec::new();
            if Area::is_dir(&area.current()) {
                notes.push("current".to_string());
            }
            if Area::is_dir(&area.stash_dir()) {
                notes.push("stashed".to_string());
            }
            let revision = w.sdks.iter().find(|s| s.name == "sketch").map(|s| s.revision.clone());
            (!notes.is_empty() || revision.is_some()).then(|| SketchRow {
                workshop: w.name.clone(),
                revision,
                notes,
            })
        })
        .collect();
    rows.sort_by(|a, b| a.workshop.cmp(&b.workshop));
    rows
}

/// `workshop sketches`.
pub fn sketches(ctx: &Ctx, args: &SketchesArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    let list = ctx.client.workshops(&project.id, Some("available"))?;
    let rows = sketch_rows(&data_home()?, &project.id, &list.workshops);
    if let Some(data) = args.format.data(&rows)? {
        print!("{data}");
        return Ok(());
    }
    if rows.is_empty() {
        return Ok(());
    }
    let mut table = Table::new(&["workshop", "rev", "notes"]);
    for row in rows {
        let notes = if row.notes.is_empty() { "-".to_string() } else { row.notes.join(",") };
        table.row(vec![row.workshop, row.revision.unwrap_or_else(|| "-".into()), notes]);
    }
    print!("{}", args.format.table(&table, args.no_headers, crate::cmd::bold_headers()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: SketchArgs,
    }

    fn op(argv: &[&str]) -> Result<Op, String> {
        let cli = Cli::try_parse_from(std::iter::once("sketch-sdk").chain(argv.iter().copied()))
            .map_err(|e| e.kind().to_string())?;
        cli.args.op().map_err(|e| e.to_string())
    }

    #[test]
    fn operations_are_exclusive_and_name_needs_eject() {
        assert_eq!(op(&[]), Ok(Op::Edit));
        assert_eq!(op(&["ws"]), Ok(Op::Edit));
        assert_eq!(op(&["--stash"]), Ok(Op::Stash));
        assert_eq!(op(&["--restore", "ws"]), Ok(Op::Restore));
        assert_eq!(op(&["--remove"]), Ok(Op::Remove));
        assert_eq!(op(&["--eject", "--name", "tools"]), Ok(Op::Eject));
        assert_eq!(op(&["--name", "x"]), Err("flag --name requires --eject".into()));
        assert_eq!(op(&["--stash", "--name", "x"]), Err("flag --name requires --eject".into()));
        for pair in [["--stash", "--restore"], ["--eject", "--remove"], ["--stash", "--remove"]] {
            assert!(op(&pair).is_err(), "{pair:?}");
        }
    }

    #[test]
    fn the_editor_is_editor_then_visual_then_a_default() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(editor_command(env(&[("EDITOR", "ex"), ("VISUAL", "vim")]), |_| true), ["ex"]);
        assert_eq!(
            editor_command(env(&[("EDITOR", " "), ("VISUAL", "code --wait")]), |_| true),
            ["code", "--wait"]
        );
        assert_eq!(editor_command(env(&[]), |c| c == "vi"), ["vi"]);
        assert_eq!(editor_command(env(&[]), |_| true), ["editor"]);
    }

    fn area() -> (tempfile::TempDir, Area) {
        let tmp = tempfile::tempdir().unwrap();
        let area = Area::new(tmp.path(), "0123abcd", "ws");
        area.create().unwrap();
        (tmp, area)
    }

    #[test]
    fn sketches_are_swapped_stashed_restored_and_removed() {
        let (_tmp, area) = area();
        let template = area.text_to_edit().unwrap().unwrap();
        assert_eq!(template, TEMPLATE);
        area.install(TEMPLATE, &Sketch::parse(TEMPLATE).unwrap()).unwrap();
        let current = area.current();
        assert_eq!(fs::read_to_string(current.join("sdk.yaml")).unwrap(), "name: sketch\n");
        assert!(fs::read_to_string(current.join("hooks/setup-base")).unwrap().contains("# apt-get update"));
        let edited = TEMPLATE.replace("    # apt-get update", "    mkdir -p /x");
        area.install(&edited, &Sketch::parse(&edited).unwrap()).unwrap();
        assert_eq!(area.text_to_edit().unwrap().unwrap(), edited);
        assert!(fs::read_to_string(current.join("hooks/setup-base")).unwrap().contains("mkdir -p /x"));
        assert!(!area.dir.join(".new").exists());
        // A refused draft is what the next edit opens.
        write_file(&area.draft(), b"name: sketch\nbase: x\n", 0o600).unwrap();
        assert_eq!(area.text_to_edit().unwrap(), None);
        area.stash().unwrap();
        assert!(!current.exists() && area.stash_dir().join("sketch.yaml").exists());
        assert!(area.stash().is_err());
        area.restore().unwrap();
        assert_eq!(fs::read_to_string(current.join("sketch.yaml")).unwrap(), edited);
        assert!(area.restore().is_err());
        area.remove().unwrap();
        assert!(!current.exists() && !area.draft().exists());
        // Nothing to remove is fine (the refresh after it takes a sketch out of the workshop).
        area.remove().unwrap();
    }

    #[test]
    fn eject_writes_a_project_sdk_without_hooks_in_its_yaml() {
        let (tmp, area) = area();
        let text = "name: sketch\nhooks:\n  setup-base: |\n    true\n";
        area.install(text, &Sketch::parse(text).unwrap()).unwrap();
        let project = tmp.path().join("p");
        fs::create_dir(&project).unwrap();
        assert_eq!(eject(&area, &project, "tools").unwrap(), ".workshop/tools");
        let dir = project.join(".workshop/tools");
        assert_eq!(fs::read_to_string(dir.join("sdk.yaml")).unwrap(), "name: tools\n");
        assert_eq!(fs::read_to_string(dir.join("hooks/setup-base")).unwrap(), "true\n");
        assert!(!dir.join("sketch.yaml").exists());
        assert!(eject(&area, &project, "tools").unwrap_err().to_string().contains("already exists"));
        assert!(eject(&area, &project, "Bad_Name").is_err());
    }

    #[test]
    fn the_listing_shows_current_and_stashed_sketches() {
        let (tmp, area) = area();
        fs::create_dir_all(area.current()).unwrap();
        fs::create_dir_all(area.stash_dir()).unwrap();
        let workshops: Vec<WorkshopInfo> = serde_json::from_value(serde_json::json!([
            {"project-id": "0123abcd", "name": "ws", "base": "ubuntu@22.04", "status": "Ready",
             "sdks": [{"name": "sketch", "revision": "x2"}]},
            {"project-id": "0123abcd", "name": "other", "base": "ubuntu@22.04", "status": "Ready"}
        ]))
        .unwrap();
        let rows = sketch_rows(tmp.path(), "0123abcd", &workshops);
        assert_eq!(
            rows,
            [SketchRow {
                workshop: "ws".into(),
                revision: Some("x2".into()),
                notes: vec!["current".into(), "stashed".into()]
            }]
        );
        assert_eq!(
            serde_json::to_string(&rows).unwrap(),
            r#"[{"workshop":"ws","revision":"x2","notes":["current","stashed"]}]"#
        );
    }
}
