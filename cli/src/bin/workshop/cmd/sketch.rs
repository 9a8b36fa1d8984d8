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
use workshop_api::definition::SdkName;
use workshop_api::sdk::sketch::{MAX_SKETCH_TEXT, Sketch, TEMPLATE, project_sdk_yaml};
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
    #[arg(long)]
    pub stash: bool,
    /// Bring back the stashed sketch and refresh the workshop with it
    #[arg(long)]
    pub restore: bool,
    /// Turn the sketch into a project SDK in .workshop/ and remove it from the workshop
    #[arg(long)]
    pub eject: bool,
    /// Remove the sketch and refresh the workshop without it
    #[arg(long)]
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
    /// The operation. The four operations exclude each other and `--name` goes only with
    /// `--eject` (the reference's words for both).
    fn op(&self) -> anyhow::Result<Op> {
        let mut set: Vec<&str> = [
            ("stash", self.stash),
            ("restore", self.restore),
            ("eject", self.eject),
            ("remove", self.remove),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        if set.len() > 1 {
            set.sort_unstable();
            bail!(
                "if any flags in the group [stash restore eject remove] are set none of the others can be; \
                 [{}] were all set",
                set.join(" ")
            );
        }
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
        workshop_client::outln!("Reverting incomplete change for {ws:?}...");
        abort_refresh(ctx, &project, &ws)?;
        info = ctx.client.workshop(&project.id, &ws)?;
    }
    if info.status != WorkshopStatus::Ready {
        bail!("cannot sketch: workshop {ws:?} currently {:?}, must be \"Ready\"", info.status.as_str());
    }
    let area = Area::new(&data_home()?, &project.id, &ws);
    let refresh = |mode: Mode| refresh(ctx, &project, &ws, mode, args.verbose);
    match op {
        Op::Edit => {
            edit(&area)?;
            // Nothing printed when the sketch is what the workshop has (the reference's test
            // of a no-op edit wants no output).
            if refresh(Mode::WaitOnError)? == End::Refreshed {
                workshop_client::outln!("{ws:?} sketch refreshed");
            }
        }
        Op::Stash => {
            let moves = area.stash().map_err(|e| anyhow::anyhow!("cannot stash: {e}"))?;
            if after_refresh(moves, refresh(Mode::Transactional))? {
                workshop_client::outln!("{ws:?} sketch stashed");
            }
        }
        Op::Restore => {
            // Not undone when the refresh fails: it waits on error, and "refresh --abort" then
            // "sketch-sdk --stash" bring back what was.
            area.restore().map_err(|e| anyhow::anyhow!("cannot restore: {e}"))?;
            if refresh(Mode::WaitOnError)? != End::Aborted {
                workshop_client::outln!("{ws:?} sketch restored");
            }
        }
        Op::Remove => {
            let moves = area.hide().map_err(|e| anyhow::anyhow!("cannot remove: {e}"))?;
            if after_refresh(moves, refresh(Mode::Transactional))? {
                area.mark_removed().context("cannot mark the sketch removed")?;
                workshop_client::outln!("{ws:?} sketch removed");
            }
        }
        Op::Eject => {
            let name = match &args.name {
                Some(name) => name.clone(),
                None => {
                    let name = Path::new(&project.path)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    project_sdk_name(&name)
                        .map_err(|e| anyhow::anyhow!("cannot eject: flag --name required: {e}"))?;
                    name
                }
            };
            let mut moves = Moves::default();
            let dir = eject(&area, Path::new(&project.path), &name, &mut moves)
                .map_err(|e| anyhow::anyhow!("cannot eject: {e}"))?;
            let hidden = match area.hide() {
                Ok(hidden) => hidden,
                Err(e) => {
                    let _ = moves.revert();
                    bail!("cannot remove: {e}");
                }
            };
            moves.extend(hidden);
            if after_refresh(moves, refresh(Mode::Transactional))? {
                area.mark_removed().context("cannot mark the sketch removed")?;
                workshop_client::outln!("Ejected {ws:?} sketch to {dir:?}.");
                workshop_client::outln!(
                    "To use it, add \"project-{name}\" to the SDK list and run \"workshop refresh {ws}\""
                );
            }
        }
    }
    Ok(())
}

/// How a sketch's refresh ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Refreshed,
    /// The workshop already has the sketch as it is.
    NothingToDo,
    /// Someone aborted the refresh (reported here, not an error: the reference's words).
    Aborted,
}

/// Keeps the file moves made for a refresh once it went through (or had nothing to do),
/// puts them back when it failed or was aborted; returns whether to report success.
fn after_refresh(moves: Moves, refreshed: anyhow::Result<End>) -> anyhow::Result<bool> {
    match refreshed {
        Ok(End::Refreshed | End::NothingToDo) => {
            moves.finish();
            Ok(true)
        }
        Ok(End::Aborted) => {
            moves.revert().context("cannot put the sketch back")?;
            Ok(false)
        }
        Err(e) => match moves.revert() {
            Ok(()) => Err(e),
            Err(undo) => Err(e.context(format!("cannot put the sketch back: {undo}"))),
        },
    }
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

/// Refreshes `ws` with its sketch as it is now.
fn refresh(ctx: &Ctx, project: &Project, ws: &str, mode: Mode, verbose: bool) -> anyhow::Result<End> {
    let options =
        WorkshopOptions { mode, refresh_option: Some(RefreshOption::Update), verbose, ..Default::default() };
    let request = WorkshopsRequest { names: vec![ws.parse()?], action: WorkshopAction::Refresh, options };
    let change = match ctx.client.workshop_action(&project.id, &request) {
        Ok(change) => change,
        Err(e) if e.kind() == Some(ErrorKind::NoUpdatesAvailable) => return Ok(End::NothingToDo),
        Err(e) if e.is_communication() => return Err(e.into()),
        Err(e) => bail!(
            "{}\n{ws} sketch refresh aborted",
            crate::cmd::lifecycle::cannot_refresh(&format!("{ws:?}"), &e)
        ),
    };
    match wait::wait(&ctx.client, &change, WaitOptions { verbose, skip_abort: false })? {
        Outcome::Done => Ok(End::Refreshed),
        Outcome::Undone(_) => {
            workshop_client::outln!("{ws:?} sketch refresh aborted");
            Ok(End::Aborted)
        }
        Outcome::Failed(_, err) => bail!("{err}\n{ws} sketch refresh aborted"),
        Outcome::Paused(chg) => bail!(messages::sketch_paused(ws, &chg.id)),
    }
}

/// The user's data directory ([`crate::context::data_home`]).
fn data_home() -> anyhow::Result<PathBuf> {
    crate::context::data_home().context("cannot find your home directory")
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
        write_sdk_dir(&new, sketch, &sketch.sdk_yaml("sketch"), Some(text))?;
        self.swap_in(&new)
    }

    /// Marks a sketch removed or ejected, which a later removal finds gone without error
    /// (the reference leaves an empty sketch behind), where a stashed one is not there to
    /// remove.
    fn removed(&self) -> PathBuf {
        self.dir.join(".removed")
    }

    fn mark_removed(&self) -> io::Result<()> {
        fs::write(self.removed(), "")
    }

    /// Moves the current sketch to the stash (a stash there goes once the refresh worked).
    fn stash(&self) -> anyhow::Result<Moves> {
        if !Area::is_dir(&self.current()) {
            bail!("{SKETCH_NOT_FOUND}");
        }
        remove_any(&self.removed())?;
        let mut moves = Moves::default();
        let old = self.dir.join(".old-stash");
        remove_any(&old)?;
        if Area::is_dir(&self.stash_dir()) {
            moves.rename(&self.stash_dir(), &old)?;
            moves.leftovers.push(old);
        }
        if let Err(e) = moves.rename(&self.current(), &self.stash_dir()) {
            let _ = moves.revert();
            return Err(e.into());
        }
        Ok(moves)
    }

    /// The stash becomes the current sketch; a current sketch must be removed first.
    fn restore(&self) -> anyhow::Result<()> {
        let stash = self.stash_dir();
        let empty = fs::read_dir(&stash).map(|mut entries| entries.next().is_none()).unwrap_or(true);
        if !Area::is_dir(&stash) || empty {
            bail!("stashed {SKETCH_NOT_FOUND}");
        }
        if fs::symlink_metadata(self.current()).is_ok() {
            bail!(
                "\"sketch\" SDK exists; run \"workshop sketch-sdk --remove\" to remove it from the workshop"
            );
        }
        fs::rename(stash, self.current())?;
        Ok(())
    }

    /// Moves the current sketch out of the way (deleted once the refresh worked, with any
    /// refused draft; the stash stays). A workshop whose sketch was removed or ejected
    /// before has nothing to move, and its refresh only makes sure that it has no sketch
    /// (the reference leaves an empty sketch there, which it removes again); one that never
    /// had a sketch, or whose sketch is stashed (the reference's stash takes the current
    /// sketch away), has none to remove.
    fn hide(&self) -> anyhow::Result<Moves> {
        let mut moves = Moves::default();
        if fs::symlink_metadata(self.current()).is_err() {
            if Area::is_dir(&self.dir) && (self.removed().exists() || !Area::is_dir(&self.stash_dir())) {
                moves.leftovers.push(self.draft());
                return Ok(moves);
            }
            bail!("{SKETCH_NOT_FOUND}");
        }
        let hidden = self.dir.join(".hidden");
        remove_any(&hidden)?;
        moves.rename(&self.current(), &hidden)?;
        moves.leftovers.extend([hidden, self.draft()]);
        Ok(moves)
    }
}

/// The reference's words for a workshop without a sketch.
const SKETCH_NOT_FOUND: &str = "\"sketch\" SDK not found";

/// Files moved and made for a refresh: put back when it fails, leftovers deleted once it
/// worked.
#[derive(Debug, Default)]
struct Moves {
    /// Renames done (from, to), in order.
    renamed: Vec<(PathBuf, PathBuf)>,
    /// Directories made.
    made: Vec<PathBuf>,
    /// What goes once the refresh worked.
    leftovers: Vec<PathBuf>,
}

impl Moves {
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)?;
        self.renamed.push((from.to_path_buf(), to.to_path_buf()));
        Ok(())
    }

    fn extend(&mut self, other: Moves) {
        self.renamed.extend(other.renamed);
        self.made.extend(other.made);
        self.leftovers.extend(other.leftovers);
    }

    /// Undoes the renames (last first) and deletes what was made.
    fn revert(self) -> io::Result<()> {
        for (from, to) in self.renamed.into_iter().rev() {
            fs::rename(&to, &from)?;
        }
        for dir in self.made {
            remove_any(&dir)?;
        }
        Ok(())
    }

    /// Deletes the leftovers; one that cannot go is only reported.
    fn finish(self) {
        for path in self.leftovers {
            if let Err(e) = remove_any(&path) {
                eprintln!("warning: cannot remove {}: {e}", path.display());
            }
        }
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

/// The editor: `$EDITOR`, `$VISUAL`, else the first of `editor`, `vi`, `emacs` and `nano` on
/// the `PATH`; words split on white space, the file appended.
fn editor_command(
    env: impl Fn(&str) -> Option<String>,
    on_path: impl Fn(&str) -> bool,
) -> Option<Vec<String>> {
    for var in ["EDITOR", "VISUAL"] {
        if let Some(value) = env(var) {
            let words: Vec<String> = value.split_whitespace().map(str::to_string).collect();
            if !words.is_empty() {
                return Some(words);
            }
        }
    }
    ["editor", "vi", "emacs", "nano"].into_iter().find(|c| on_path(c)).map(|c| vec![c.to_string()])
}

fn on_path(command: &str) -> bool {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(command).is_file()))
        .unwrap_or(false)
}

/// Runs the editor on `file` with this terminal (standard input included).
fn run_editor(file: &Path) -> anyhow::Result<()> {
    let Some(words) = editor_command(|v| std::env::var(v).ok(), on_path) else {
        bail!("cannot sketch: no text editor found, please set the EDITOR environment variable");
    };
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

/// Checks `name` as the name of a project SDK (`project-<name>` in a definition): the names
/// of the implicit SDKs (`system`, `sketch`) are reserved there too.
fn project_sdk_name(name: &str) -> Result<(), String> {
    SdkName::parse(&format!("project-{name}")).map(|_| ())
}

/// Writes the sketch as the project SDK `name` (`.workshop/<name>/sdk.yaml`: the user's text
/// with `name` set and no hooks; `hooks/`), recorded in `moves`; returns the directory as
/// shown (`.workshop/<name>`).
fn eject(area: &Area, project: &Path, name: &str, moves: &mut Moves) -> anyhow::Result<String> {
    project_sdk_name(name).map_err(|e| anyhow::anyhow!(e))?;
    let definitions = project.join(DEFINITION_DIR_NAME);
    let dir = definitions.join(name);
    if fs::symlink_metadata(&dir).is_ok() {
        bail!("mkdir {}: file already exists", dir.display());
    }
    let text = match read_bounded(&area.current().join(SKETCH_TEXT)) {
        Ok(text) => text,
        Err(_) if fs::symlink_metadata(area.current()).is_err() => bail!("{SKETCH_NOT_FOUND}"),
        Err(e) => return Err(e),
    };
    let sketch = Sketch::parse(&text)?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&definitions)
        .with_context(|| format!("cannot create {}", definitions.display()))?;
    // Built aside and renamed into place: a failure leaves no half-written SDK.
    let building = definitions.join(format!(".{name}.new"));
    remove_any(&building)?;
    let sdk_yaml = project_sdk_yaml(&text, &sketch, name);
    let written =
        write_sdk_dir(&building, &sketch, &sdk_yaml, None).and_then(|()| fs::rename(&building, &dir));
    if let Err(e) = written {
        let _ = remove_any(&building);
        return Err(anyhow::anyhow!(e).context(format!("cannot write {}", dir.display())));
    }
    moves.made.push(dir);
    Ok(format!("{DEFINITION_DIR_NAME}/{name}"))
}

/// Creates `dir` holding an SDK made from `sketch`: `sdk_yaml`, `hooks/<hook>` and, for the
/// sketch itself, the user's `text`.
fn write_sdk_dir(dir: &Path, sketch: &Sketch, sdk_yaml: &str, text: Option<&str>) -> io::Result<()> {
    fs::DirBuilder::new().mode(0o755).create(dir)?;
    if let Some(text) = text {
        write_file(&dir.join(SKETCH_TEXT), text.as_bytes(), 0o644)?;
    }
    write_file(&dir.join(SDK_YAML), sdk_yaml.as_bytes(), 0o644)?;
    let hooks = sketch.hook_files();
    if !hooks.is_empty() {
        let hooks_dir = dir.join(HOOKS_DIR);
        fs::DirBuilder::new().mode(0o755).create(&hooks_dir)?;
        for (hook, script) in hooks {
            write_file(&hooks_dir.join(hook), script.as_bytes(), 0o644)?;
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
            // As in the reference: `current` is a sketch the workshop has installed.
            let revision = w.sdks.iter().find(|s| s.name == "sketch").map(|s| s.revision.clone());
            let mut notes = Vec::new();
            if revision.is_some() {
                notes.push("current".to_string());
            }
            if Area::is_dir(&area.stash_dir()) {
                notes.push("stashed".to_string());
            }
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
        workshop_client::out!("{data}");
        return Ok(());
    }
    if rows.is_empty() {
        return Ok(());
    }
    let mut table = Table::new(&["workshop", "rev", "notes"]).right_align(1);
    for row in rows {
        let notes = if row.notes.is_empty() { "-".to_string() } else { row.notes.join(",") };
        table.row(vec![row.workshop, row.revision.unwrap_or_else(|| "-".into()), notes]);
    }
    workshop_client::out!("{}", args.format.table(&table, args.no_headers, crate::cmd::bold_headers()));
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
        let exclusive =
            "if any flags in the group [stash restore eject remove] are set none of the others can be; ";
        assert_eq!(op(&["--stash", "--restore"]), Err(format!("{exclusive}[restore stash] were all set")));
        assert_eq!(
            op(&["--remove", "--eject", "--name", "x"]),
            Err(format!("{exclusive}[eject remove] were all set"))
        );
    }

    #[test]
    fn the_editor_is_editor_then_visual_then_a_default() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let words = |w: &[&str]| Some(w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(editor_command(env(&[("EDITOR", "ex"), ("VISUAL", "vim")]), |_| true), words(&["ex"]));
        assert_eq!(
            editor_command(env(&[("EDITOR", " "), ("VISUAL", "code --wait")]), |_| true),
            words(&["code", "--wait"])
        );
        assert_eq!(editor_command(env(&[]), |c| c == "emacs"), words(&["emacs"]));
        assert_eq!(editor_command(env(&[]), |_| true), words(&["editor"]));
        assert_eq!(editor_command(env(&[]), |_| false), None);
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
        // A stash replaces the last one once its refresh worked; a failed one puts both back.
        fs::create_dir(area.stash_dir()).unwrap();
        fs::write(area.stash_dir().join("old"), "").unwrap();
        area.stash().unwrap().revert().unwrap();
        assert!(current.join("sketch.yaml").exists() && area.stash_dir().join("old").exists());
        area.stash().unwrap().finish();
        assert!(!current.exists() && area.stash_dir().join("sketch.yaml").exists());
        assert!(!area.stash_dir().join("old").exists() && !area.dir.join(".old-stash").exists());
        assert_eq!(area.stash().unwrap_err().to_string(), "\"sketch\" SDK not found");
        area.restore().unwrap();
        assert_eq!(fs::read_to_string(current.join("sketch.yaml")).unwrap(), edited);
        assert_eq!(area.restore().unwrap_err().to_string(), "stashed \"sketch\" SDK not found");
        fs::create_dir(area.stash_dir()).unwrap();
        assert_eq!(area.restore().unwrap_err().to_string(), "stashed \"sketch\" SDK not found");
        fs::write(area.stash_dir().join("sdk.yaml"), "").unwrap();
        assert!(area.restore().unwrap_err().to_string().starts_with("\"sketch\" SDK exists; run"));
        // A removal is undone when its refresh fails, and done when it worked.
        area.hide().unwrap().revert().unwrap();
        assert!(current.join("sketch.yaml").exists() && area.draft().exists());
        area.hide().unwrap().finish();
        assert!(!current.exists() && !area.draft().exists() && !area.dir.join(".hidden").exists());
        // Stashed (as the reference's stash, it took the current sketch): none to remove.
        assert!(area.stash_dir().join("sdk.yaml").exists());
        assert_eq!(area.hide().unwrap_err().to_string(), "\"sketch\" SDK not found");
        // Removed (or ejected) before, beside a stash: removed again without error.
        area.mark_removed().unwrap();
        area.hide().unwrap().finish();
        fs::remove_file(area.removed()).unwrap();
        fs::remove_dir_all(area.stash_dir()).unwrap();
        // Removed already: nothing to move, and no error (the refresh has nothing to do).
        let again = area.hide().unwrap();
        assert!(again.renamed.is_empty());
        again.finish();
        // A workshop that never had a sketch has none to remove.
        fs::remove_dir_all(&area.dir).unwrap();
        assert_eq!(area.hide().unwrap_err().to_string(), "\"sketch\" SDK not found");
    }

    #[test]
    fn eject_writes_a_project_sdk_without_hooks_in_its_yaml() {
        let (tmp, area) = area();
        let project = tmp.path().join("p");
        fs::create_dir(&project).unwrap();
        let err = |name: &str| eject(&area, &project, name, &mut Moves::default()).unwrap_err().to_string();
        assert_eq!(err("tools"), "\"sketch\" SDK not found");
        let text = "# Mine.\nname: sketch\nhooks:\n  setup-base: |\n    true\n";
        area.install(text, &Sketch::parse(text).unwrap()).unwrap();
        let mut moves = Moves::default();
        assert_eq!(eject(&area, &project, "tools", &mut moves).unwrap(), ".workshop/tools");
        let dir = project.join(".workshop/tools");
        assert_eq!(fs::read_to_string(dir.join("sdk.yaml")).unwrap(), "# Mine.\nname: tools\n");
        assert_eq!(fs::read_to_string(dir.join("hooks/setup-base")).unwrap(), "true\n");
        assert!(!dir.join("sketch.yaml").exists());
        assert_eq!(err("tools"), format!("mkdir {}: file already exists", dir.display()));
        assert_eq!(err("Bad_Name"), "invalid SDK name \"Bad_Name\"");
        // The implicit SDKs' names are no project SDK's.
        for reserved in ["sketch", "system", "agent"] {
            assert_eq!(err(reserved), format!("\"{reserved}\" is a reserved SDK name"));
        }
        // Its refresh failed: the project SDK goes.
        moves.revert().unwrap();
        assert!(!dir.exists() && project.join(".workshop").exists());
    }

    #[test]
    fn the_listing_shows_current_and_stashed_sketches() {
        let (tmp, area) = area();
        // A current directory the workshop has not installed is not listed.
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
