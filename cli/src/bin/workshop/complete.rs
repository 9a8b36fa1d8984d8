//! Shell completion. `workshop completion <shell>` prints a script that asks this binary for
//! candidates (`COMPLETE=<shell> workshop -- <words>`), so workshop names come from the daemon
//! and fit the command: `start` offers stopped workshops, `stop` running ones, `launch` those
//! not launched yet, `tasks` the latest change ids. The daemon is asked with a short timeout;
//! when it does not answer there are simply no candidates. `--project` completes directories
//! (`dirs.rs`).

mod dirs;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Command, CommandFactory};
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use clap_complete::env::CompleteEnv;
use workshop_api::workshops::WorkshopStatus;
use workshop_client::ChangeSelect;
use workshop_client::Client;

use self::dirs::Dirs;
use crate::Cli;
use crate::context::Ctx;

/// How long completion waits for the daemon: a daemon whose LXD is busy launching other
/// workshops takes seconds to list a project, and a late answer beats no candidates.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long `--project` completion spends asking the daemon which projects have workshops.
const PROJECTS_DEADLINE: Duration = Duration::from_secs(2);
/// How many projects `--project` completion asks about, at most.
const MAX_PROJECTS: usize = 32;
/// How many change ids `tasks` offers.
const CHANGE_IDS: usize = 10;

/// Which workshops an argument offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offer {
    /// Defined but not launched.
    NotLaunched,
    /// Launched and running (or paused on an error).
    Running,
    /// Launched, running and not paused.
    Ready,
    /// Launched and stopped.
    Stopped,
    /// Launched, whatever the status.
    Launched,
    /// Every workshop of the project.
    Any,
}

/// The command line with its completers attached.
pub fn command() -> Command {
    let names = |offer: Offer| ArgValueCompleter::new(move |current: &OsStr| workshops(offer, current));
    let with = |cmd: Command, sub: &str, arg: &'static str, offer: Offer| {
        cmd.mut_subcommand(sub, |c| c.mut_arg(arg, |a| a.add(names(offer))))
    };
    let mut cmd = crate::help::grouped(Cli::command());
    for (sub, arg, offer) in [
        ("launch", "names", Offer::NotLaunched),
        ("start", "names", Offer::Stopped),
        ("stop", "names", Offer::Running),
        ("remove", "names", Offer::Launched),
        // As the reference's: what each may act on.
        ("refresh", "names", Offer::Running),
        ("restore", "names", Offer::Ready),
        ("fork", "source", Offer::Launched),
        ("info", "name", Offer::Any),
        ("shell", "name", Offer::Running),
        ("actions", "name", Offer::Any),
        ("connections", "workshop", Offer::Launched),
        ("sketch-sdk", "workshop", Offer::Running),
    ] {
        cmd = with(cmd, sub, arg, offer);
    }
    // exec and run: the workshop, when the word is their first operand (then the command).
    for sub in ["exec", "run"] {
        let first = ArgValueCompleter::new(move |current: &OsStr| {
            let (args, index) = process_line();
            if is_first_operand(&args, index, sub) { workshops(Offer::Running, current) } else { Vec::new() }
        });
        let env = ArgValueCompleter::new(|current: &OsStr| variables(std::env::vars_os(), current));
        cmd = cmd.mut_subcommand(sub, |c| c.mut_arg("args", |a| a.add(first)).mut_arg("env", |a| a.add(env)));
    }
    cmd = cmd.mut_subcommand("tasks", |c| c.mut_arg("id", |a| a.add(ArgValueCompleter::new(change_ids))));
    let ends = |side: Side| ArgValueCompleter::new(move |current: &OsStr| endpoints(side, current));
    cmd = cmd.mut_subcommand("connect", |c| {
        c.mut_arg("plug", |a| a.add(ends(Side::Plugs))).mut_arg("slot", |a| a.add(ends(Side::Slots)))
    });
    cmd = cmd.mut_subcommand("remount", |c| {
        c.mut_arg("plug", |a| a.add(ends(Side::Plugs)))
            .mut_arg("source", |a| a.add(ArgValueCompleter::new(host_dirs)))
    });
    cmd = cmd.mut_subcommand("disconnect", |c| {
        c.mut_arg("plug_or_slot", |a| a.add(ends(Side::Both))).mut_arg("slot", |a| a.add(ends(Side::Slots)))
    });
    with_project_dirs(cmd)
}

/// `--project` completes directories: those of projects with launched workshops, also those
/// with definitions for `launch`, any for `init`. The global argument is copied into those two
/// subcommands with their own completer (clap does not propagate a global argument over one a
/// subcommand already has).
fn with_project_dirs(cmd: Command) -> Command {
    let completer = |offer: Dirs| ArgValueCompleter::new(move |current: &OsStr| project_dirs(offer, current));
    let Some(project) = cmd.get_arguments().find(|a| a.get_id() == "project").cloned() else { return cmd };
    let mut cmd = cmd.mut_arg("project", |a| a.add(completer(Dirs::Launched)));
    // launch and init: any directory, as the reference's (a new project is launched from one).
    for (sub, offer) in [("launch", Dirs::All), ("init", Dirs::All)] {
        let arg = project.clone().add(completer(offer));
        cmd = cmd.mut_subcommand(sub, |c| c.arg(arg));
    }
    cmd
}

/// The host directories for `current` (`remount`'s source).
fn host_dirs(current: &OsStr) -> Vec<CompletionCandidate> {
    let Ok(cwd) = std::env::current_dir() else { return Vec::new() };
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    dirs::host_dirs(current, &cwd, home.as_deref())
}

/// The `--project` candidates for `current`, in the current directory.
fn project_dirs(offer: Dirs, current: &OsStr) -> Vec<CompletionCandidate> {
    let Ok(cwd) = std::env::current_dir() else { return Vec::new() };
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    let launched = match (offer, dirs::searched(current, &cwd, home.as_deref())) {
        (Dirs::All, _) | (_, None) => Vec::new(),
        (_, Some(searched)) => launched_projects(&Client::default().with_timeout(TIMEOUT), &|p| {
            p.starts_with(&searched) || cwd.starts_with(p)
        }),
    };
    dirs::without_slash(dirs::candidates(current, &cwd, home.as_deref(), offer, &launched))
}

/// The directories of the user's projects that `relevant` admits and that have launched
/// workshops; nothing when the daemon does not answer in time.
fn launched_projects(client: &Client, relevant: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let started = Instant::now();
    let Ok(projects) = client.projects() else { return Vec::new() };
    projects
        .into_iter()
        .map(|p| (PathBuf::from(&p.path), p.id))
        .filter(|(path, _)| relevant(path))
        .take(MAX_PROJECTS)
        .take_while(|_| started.elapsed() < PROJECTS_DEADLINE)
        .filter(|(_, id)| client.workshops(id, Some("all")).is_ok_and(|list| !list.workshops.is_empty()))
        .map(|(path, _)| path)
        .collect()
}

/// Answers a completion request when the shell made one (then exits); otherwise returns.
pub fn answer_if_asked() {
    CompleteEnv::with_factory(command).var(workshop_client::completion::VAR).complete();
}

/// Writes the registration script of `shell` for `workshop`.
pub fn write_script(shell: clap_complete::Shell, out: &mut dyn Write) -> std::io::Result<()> {
    workshop_client::completion::write_script(shell, "workshop", out)
}

/// The workshops of the current project that `offer` admits, starting with `current`.
fn workshops(offer: Offer, current: &OsStr) -> Vec<CompletionCandidate> {
    let ctx = line_ctx(Client::default().with_timeout(TIMEOUT));
    let Ok(project) = ctx.project() else { return Vec::new() };
    let Ok(list) = ctx.client.workshops(&project.id, Some("all")) else { return Vec::new() };
    let launched: Vec<(String, WorkshopStatus)> =
        list.workshops.into_iter().map(|w| (w.name, w.status)).collect();
    let defined: Vec<String> = list.files.into_iter().map(|f| f.name).collect();
    let (args, index) = process_line();
    let given = other_words(&args, index);
    admitted(offer, &launched, &defined, &current.to_string_lossy())
        .into_iter()
        // A name already on the command line is not offered again.
        .filter(|(name, _)| !given.contains(name))
        .map(|(name, status)| CompletionCandidate::new(name).help(Some(status.into())))
        .collect()
}

/// The context of the command line being completed: its `-p/--project`, if it names one.
fn line_ctx(client: Client) -> Ctx {
    let (args, index) = process_line();
    Ctx { client, project_flag: project_option(&args, index).map(PathBuf::from) }
}

/// The value of the last `-p/--project` before the word being completed (see
/// [`other_words`]), in any of its forms (`--project D`, `--project=D`, `-p D`, `-pD`).
fn project_option(args: &[String], index: Option<usize>) -> Option<String> {
    let (words, current) = line(args, index)?;
    let mut found = None;
    let mut words = words[..current].iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--" => break,
            "--project" | "-p" => found = words.next().cloned().or(found),
            w if w.starts_with("--project=") => found = Some(w["--project=".len()..].to_string()),
            w if w.starts_with("-p") && !w.starts_with("--") => found = Some(w[2..].to_string()),
            _ => {}
        }
    }
    found.filter(|p| !p.is_empty())
}

/// The words of the command line being completed (the shell passes them after `--`) but the
/// one being completed: the word at `index` (bash and zsh say which), else the last (fish
/// passes the line up to the cursor).
fn other_words(args: &[String], index: Option<usize>) -> Vec<String> {
    let Some((words, current)) = line(args, index) else { return Vec::new() };
    words.iter().enumerate().filter(|(i, _)| *i != current).map(|(_, w)| w.clone()).collect()
}

/// The words of the command line in `args` (after `--`) and the position of the one being
/// completed (`index`, else the last; at most one past the end).
fn line(args: &[String], index: Option<usize>) -> Option<(&[String], usize)> {
    let start = args.iter().position(|a| a == "--")?;
    let words = &args[start + 1..];
    Some((words, index.unwrap_or(words.len().saturating_sub(1)).min(words.len())))
}

/// This process's arguments and the index the shell gave (`_CLAP_COMPLETE_INDEX`), for
/// [`line`].
fn process_line() -> (Vec<String>, Option<usize>) {
    let args = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    (args, std::env::var("_CLAP_COMPLETE_INDEX").ok().and_then(|i| i.parse().ok()))
}

/// `--env`: the names of the caller's own variables starting with `current` (`--env NAME`
/// passes a variable on as it is); nothing once a value is being typed.
fn variables(
    vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    current: &OsStr,
) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    if current.contains('=') {
        return Vec::new();
    }
    let mut names: Vec<String> = vars
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with(current.as_ref()))
        .collect();
    names.sort();
    names.into_iter().map(CompletionCandidate::new).collect()
}

/// The options of `exec` and `run` whose value is the next word.
const EXEC_VALUE_OPTIONS: [&str; 6] = ["-w", "--cwd", "--env", "--uid", "--gid", "--timeout"];

/// Whether the word being completed (at `index`, else the last; see [`other_words`]) is the
/// first operand of subcommand `sub`: no word but options and their values, and no `--`,
/// between them.
fn is_first_operand(args: &[String], index: Option<usize>, sub: &str) -> bool {
    let Some((words, current)) = line(args, index) else { return false };
    let Some(at) = words[..current].iter().position(|w| w == sub) else { return false };
    let mut between = words[at + 1..current].iter();
    while let Some(word) = between.next() {
        if EXEC_VALUE_OPTIONS.contains(&word.as_str()) {
            between.next();
        } else if word == "--" || !word.starts_with('-') {
            return false;
        }
    }
    true
}

/// Names (with their status) among `launched` and the not launched `defined` ones that
/// `offer` admits and that start with `prefix`.
fn admitted(
    offer: Offer,
    launched: &[(String, WorkshopStatus)],
    defined: &[String],
    prefix: &str,
) -> Vec<(String, &'static str)> {
    let mut names: Vec<(String, &'static str)> = launched
        .iter()
        .filter(|(_, status)| match offer {
            Offer::NotLaunched => false,
            Offer::Running => matches!(status, WorkshopStatus::Ready | WorkshopStatus::Waiting),
            Offer::Ready => *status == WorkshopStatus::Ready,
            Offer::Stopped => *status == WorkshopStatus::Stopped,
            Offer::Launched | Offer::Any => true,
        })
        .map(|(name, status)| (name.clone(), status.as_str()))
        .collect();
    if matches!(offer, Offer::NotLaunched | Offer::Any) {
        for name in defined {
            if !launched.iter().any(|(n, _)| n == name) {
                names.push((name.clone(), "Off"));
            }
        }
    }
    names.retain(|(name, _)| name.starts_with(prefix));
    names
}

/// Which endpoints an argument of `connect` or `disconnect` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Plugs,
    Slots,
    Both,
}

/// The plugs and slots (`<ws>/<sdk>:<name>`, with their interface) of the current project's
/// workshops that start with `current`.
fn endpoints(side: Side, current: &OsStr) -> Vec<CompletionCandidate> {
    let ctx = line_ctx(Client::default().with_timeout(TIMEOUT));
    let Ok(project) = ctx.project() else { return Vec::new() };
    let Ok(listed) = ctx.client.connections(&project.id, None, true) else { return Vec::new() };
    endpoint_names(side, &listed, &current.to_string_lossy())
        .into_iter()
        .map(|(name, interface)| CompletionCandidate::new(name).help(Some(interface.into())))
        .collect()
}

/// The names `side` offers from `listed` that start with `prefix`.
fn endpoint_names(
    side: Side,
    listed: &workshop_api::connections::Connections,
    prefix: &str,
) -> Vec<(String, String)> {
    let mut names = Vec::new();
    if side != Side::Slots {
        names.extend(
            listed
                .plugs
                .iter()
                .map(|p| (format!("{}/{}:{}", p.workshop, p.sdk, p.plug), p.interface.clone())),
        );
    }
    if side != Side::Plugs {
        names.extend(
            listed
                .slots
                .iter()
                .map(|s| (format!("{}/{}:{}", s.workshop, s.sdk, s.slot), s.interface.clone())),
        );
    }
    names.retain(|(name, _)| name.starts_with(prefix));
    names
}

/// The ids of the project's last changes (all changes outside a project) that start with
/// `current`, oldest first, as the reference offers them (with status and summary).
fn change_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    change_ids_from(Client::default().with_timeout(TIMEOUT), current)
}

fn change_ids_from(client: Client, current: &OsStr) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    let ctx = line_ctx(client);
    let project_id = ctx.project().ok().map(|p| p.id);
    let Ok(changes) = ctx.client.changes(ChangeSelect::All, project_id.as_deref()) else { return Vec::new() };
    let last: Vec<_> = changes.into_iter().filter(|c| c.id.starts_with(prefix.as_ref())).collect();
    let skip = last.len().saturating_sub(CHANGE_IDS);
    last.into_iter()
        .skip(skip)
        .map(|c| CompletionCandidate::new(c.id).help(Some(format!("{:<5} {}", c.status, c.summary).into())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_completer_is_attached_to_an_existing_argument() {
        // mut_arg panics on unknown names only when the command is built and checked.
        command().debug_assert();
    }

    /// The candidates for the last word of `line`.
    fn completed(line: &[&str]) -> Vec<String> {
        let args = line.iter().map(std::ffi::OsString::from).collect();
        let found = clap_complete::engine::complete(&mut command(), args, line.len() - 1, None).unwrap();
        found.into_iter().map(|c| c.get_value().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn refresh_offers_plan_and_its_formats_and_launch_does_not() {
        let flags = completed(&["workshop", "refresh", "--"]);
        for flag in ["--plan", "--format", "--wait-on-error", "--abort"] {
            assert!(flags.iter().any(|f| f == flag), "{flag} in {flags:?}");
        }
        let launch = completed(&["workshop", "launch", "--"]);
        assert!(!launch.iter().any(|f| f == "--plan" || f == "--format"), "{launch:?}");
        assert_eq!(completed(&["workshop", "refresh", "--plan", "--format", ""]), ["table", "json", "yaml"]);
    }

    #[test]
    fn scripts_call_back_into_the_binary() {
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
            let mut out = Vec::new();
            write_script(shell, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("COMPLETE"), "{shell:?}: {text}");
        }
    }

    #[test]
    fn candidates_fit_the_command() {
        let launched = vec![
            ("web".to_string(), WorkshopStatus::Ready),
            ("db".to_string(), WorkshopStatus::Stopped),
            ("wip".to_string(), WorkshopStatus::Waiting),
        ];
        let defined = vec!["web".to_string(), "docs".to_string(), "db".to_string()];
        let names = |offer, prefix| -> Vec<String> {
            admitted(offer, &launched, &defined, prefix).into_iter().map(|(n, _)| n).collect()
        };
        assert_eq!(names(Offer::Stopped, ""), ["db"]);
        assert_eq!(names(Offer::Running, ""), ["web", "wip"]);
        assert_eq!(names(Offer::Ready, ""), ["web"]);
        assert_eq!(names(Offer::NotLaunched, ""), ["docs"]);
        assert_eq!(names(Offer::Launched, ""), ["web", "db", "wip"]);
        assert_eq!(names(Offer::Any, "w"), ["web", "wip"]);
        assert_eq!(admitted(Offer::Any, &launched, &defined, "do"), [("docs".to_string(), "Off")]);
    }

    #[test]
    fn the_project_of_the_line_is_found_in_every_form() {
        let line = |words: &[&str]| -> Vec<String> {
            ["workshop", "--"].iter().chain(words).map(|w| w.to_string()).collect()
        };
        let found = |words: &[&str]| project_option(&line(words), None);
        assert_eq!(found(&["workshop", "stop", "--project", "/a", ""]), Some("/a".into()));
        assert_eq!(found(&["workshop", "-p", "b", "info", ""]), Some("b".into()));
        assert_eq!(found(&["workshop", "stop", "--project=/c", "x"]), Some("/c".into()));
        assert_eq!(found(&["workshop", "-pd", "stop", ""]), Some("d".into()));
        assert_eq!(found(&["workshop", "stop", ""]), None);
        // Being typed, or after `--`: not the project of the line.
        assert_eq!(found(&["workshop", "stop", "--project"]), None);
        assert_eq!(found(&["workshop", "exec", "--", "-p", "x", ""]), None);
    }

    #[test]
    fn words_already_given_are_the_others() {
        let args: Vec<String> =
            ["workshop", "--", "workshop", "stop", "web", "w"].iter().map(|s| s.to_string()).collect();
        assert_eq!(other_words(&args, None), ["workshop", "stop", "web"]);
        assert_eq!(other_words(&args, Some(2)), ["workshop", "stop", "w"]);
        assert!(other_words(&args[..1], None).is_empty());
    }

    #[test]
    fn env_offers_the_callers_variable_names() {
        let vars = || {
            [("OBSCURE_NAME", "1"), ("OTHER", "2"), ("PATH", "/bin")]
                .map(|(k, v)| (std::ffi::OsString::from(k), std::ffi::OsString::from(v)))
                .into_iter()
        };
        let names = |current: &str| -> Vec<String> {
            variables(vars(), OsStr::new(current))
                .iter()
                .map(|c| c.get_value().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names("OBSCURE_N"), ["OBSCURE_NAME"]);
        assert_eq!(names("O"), ["OBSCURE_NAME", "OTHER"]);
        assert!(names("PATH=/").is_empty());
    }

    #[test]
    fn exec_completes_a_workshop_only_as_its_first_operand() {
        let line = |words: &[&str]| -> Vec<String> {
            ["workshop", "--", "workshop"].iter().chain(words).map(|s| s.to_string()).collect()
        };
        assert!(is_first_operand(&line(&["exec", "w"]), None, "exec"));
        assert!(is_first_operand(&line(&["exec", "--env", "A=1", "-i", "w"]), None, "exec"));
        assert!(is_first_operand(&line(&["run", "--cwd", "/tmp", ""]), None, "run"));
        assert!(!is_first_operand(&line(&["exec", "ws", "l"]), None, "exec"));
        assert!(!is_first_operand(&line(&["exec", "--", "l"]), None, "exec"));
        assert!(!is_first_operand(&line(&["stop", "w"]), None, "exec"));
        // The word at the index, not the last.
        assert!(is_first_operand(&line(&["exec", "w", "ls"]), Some(2), "exec"));
    }

    #[test]
    fn plugs_and_slots_by_side() {
        let listed: workshop_api::connections::Connections = serde_json::from_value(serde_json::json!({
            "plugs": [{"project-id": "p", "workshop": "ws", "sdk": "m", "plug": "one", "interface": "mount"}],
            "slots": [{"project-id": "p", "workshop": "ws", "sdk": "system", "slot": "mount", "interface": "mount"}]
        }))
        .unwrap();
        let names = |side, prefix| -> Vec<String> {
            endpoint_names(side, &listed, prefix).into_iter().map(|(n, _)| n).collect()
        };
        assert_eq!(names(Side::Plugs, ""), ["ws/m:one"]);
        assert_eq!(names(Side::Slots, "ws/"), ["ws/system:mount"]);
        assert_eq!(names(Side::Both, "ws/s"), ["ws/system:mount"]);
        assert!(names(Side::Both, "other/").is_empty());
    }

    #[test]
    fn no_daemon_means_no_candidates() {
        // Completion runs in the user's shell: an absent daemon gives nothing, quietly.
        assert!(change_ids_from(Client::new("/nonexistent/workshop.socket"), OsStr::new("")).is_empty());
    }
}
