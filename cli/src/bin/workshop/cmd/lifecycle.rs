//! `launch`, `refresh`, `restore`, `start`, `stop` and `remove`.

use anyhow::bail;
use clap::Args;
use workshop_api::ErrorKind;
use workshop_api::workshops::{
    Mode, RefreshOption, RefreshPlan, SdkChange, WorkshopAction, WorkshopOptions, WorkshopsRequest,
};
use workshop_client::ClientError;

use crate::cmd::Format;
use crate::context::{Ctx, quoted};
use crate::messages;
use crate::wait::{self, Outcome, WaitOptions};

/// Flags of `launch` and `refresh`.
#[derive(Debug, Args)]
pub struct ModeArgs {
    /// Pause the operation on error; to resume, use "--continue" or "--abort"
    #[arg(long)]
    pub wait_on_error: bool,
    /// Continue the previously paused operation
    #[arg(long = "continue")]
    pub resume: bool,
    /// Abort the previously paused operation, reverting any changes
    #[arg(long)]
    pub abort: bool,
    /// Return the change ID, don't wait for the operation to finish
    #[arg(long)]
    pub no_wait: bool,
    /// Show task logs, including hook output, while waiting
    #[arg(long)]
    pub verbose: bool,
    /// Workshops (default: the project's only workshop)
    #[arg(value_name = "WORKSHOP")]
    pub names: Vec<String>,
}

impl ModeArgs {
    /// Refuses two modes at once, in the reference's words (`verb`: launch or refresh).
    fn check(&self, verb: &str) -> anyhow::Result<()> {
        let pairs = [
            (self.abort && self.resume, "--abort", "--continue"),
            (self.wait_on_error && self.abort, "--wait-on-error", "--abort"),
            (self.wait_on_error && self.resume, "--wait-on-error", "--continue"),
        ];
        if let Some((_, a, b)) = pairs.iter().find(|(both, ..)| *both) {
            bail!("cannot {verb}: {a:?} incompatible with {b:?}");
        }
        Ok(())
    }

    fn mode(&self) -> Mode {
        if self.wait_on_error {
            Mode::WaitOnError
        } else if self.resume {
            Mode::Continue
        } else if self.abort {
            Mode::Abort
        } else {
            Mode::Transactional
        }
    }

    /// `abort` or `continue`, for the nothing-to-resume message.
    fn resume_verb(&self) -> &'static str {
        if self.resume { "continue" } else { "abort" }
    }
}

/// Flags of `refresh`: those of `launch`, and `--plan`.
#[derive(Debug, Args)]
pub struct RefreshArgs {
    #[command(flatten)]
    pub mode: ModeArgs,
    /// Print what the refresh would do (SDKs, hooks, tasks), changing nothing
    #[arg(long, conflicts_with_all = ["wait_on_error", "resume", "abort", "no_wait", "verbose"])]
    pub plan: bool,
    /// Output format of "--plan"
    #[arg(long, value_enum, default_value_t = Format::Table, requires = "plan")]
    pub format: Format,
    /// Do not run the SDKs' save-state (nor restore-state) hooks: for an SDK whose save-state
    /// hook fails; the state it would keep is lost
    #[arg(long, conflicts_with_all = ["resume", "abort"])]
    pub skip_save_state: bool,
}

/// Flags of `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Return the change ID, don't wait for the operation to finish
    #[arg(long)]
    pub no_wait: bool,
    /// Show task logs, including hook output, while waiting
    #[arg(long)]
    pub verbose: bool,
    /// Do not run the SDKs' save-state (nor restore-state) hooks: for an SDK whose save-state
    /// hook fails; the state it would keep is lost
    #[arg(long)]
    pub skip_save_state: bool,
    /// Workshops (default: the project's only workshop)
    #[arg(value_name = "WORKSHOP")]
    pub names: Vec<String>,
}

/// Arguments of `fork`.
#[derive(Debug, Args)]
pub struct ForkArgs {
    /// Return the change ID, don't wait for the operation to finish
    #[arg(long)]
    pub no_wait: bool,
    /// Show task logs, including hook output, while waiting
    #[arg(long)]
    pub verbose: bool,
    /// The workshop to copy
    #[arg(value_name = "WORKSHOP")]
    pub source: String,
    /// The name of the copy
    #[arg(value_name = "NEW-NAME")]
    pub name: String,
}

/// Arguments of `start`, `stop` and `remove`.
#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Workshops (default: the project's only workshop)
    #[arg(value_name = "WORKSHOP")]
    pub names: Vec<String>,
}

/// The request; a name that no workshop can have is refused here, with the daemon's message.
fn request(
    names: &[String],
    action: WorkshopAction,
    options: WorkshopOptions,
) -> anyhow::Result<WorkshopsRequest> {
    let names = names.iter().map(|n| n.parse()).collect::<Result<_, _>>()?;
    Ok(WorkshopsRequest { names, action, options })
}

/// `cannot <verb> "<ws>": <kind> change is in progress` for a change conflict, else `e`.
fn in_progress(verb: &str, e: ClientError, names: &[String]) -> anyhow::Error {
    match e.conflict() {
        Some(c) => anyhow::anyhow!(messages::in_progress(
            verb,
            &conflict_workshop(&c.workshop, names),
            &c.change_kind
        )),
        None => e.into(),
    }
}

/// The workshop a conflict is about, or the first requested one.
fn conflict_workshop(conflict_ws: &str, names: &[String]) -> String {
    if conflict_ws.is_empty() { names.first().cloned().unwrap_or_default() } else { conflict_ws.to_string() }
}

/// `workshop launch`.
pub fn launch(ctx: &Ctx, args: &ModeArgs) -> anyhow::Result<()> {
    args.check("launch")?;
    let project = ctx.project()?;
    // Several workshops with another mode: the daemon's refusal says it, as for refresh.
    let names = ctx.names_or_single(&project, &args.names)?;
    let options = WorkshopOptions { mode: args.mode(), verbose: args.verbose, ..Default::default() };
    let change =
        match ctx.client.workshop_action(&project.id, &request(&names, WorkshopAction::Launch, options)?) {
            Ok(change) => change,
            Err(e) if e.kind() == Some(ErrorKind::NoWaitingChangeInProgress) => {
                bail!(messages::nothing_to_resume(args.resume_verb(), "launch"))
            }
            Err(e) if e.conflict().is_some() || e.is_communication() => {
                return Err(in_progress("launch", e, &names));
            }
            Err(e) => bail!(cannot_do("launch", &quoted(&names), &e)),
        };
    if args.no_wait {
        workshop_client::outln!("{change}");
        return Ok(());
    }
    match wait::wait(&ctx.client, &change, WaitOptions { verbose: args.verbose, skip_abort: false })? {
        Outcome::Done => workshop_client::outln!("{}", messages::launched(&names)),
        Outcome::Undone(_) => workshop_client::outln!("{}", messages::launch_aborted(&names)),
        Outcome::Paused(chg) => bail!(messages::paused("launch", &names[0], &chg.id)),
        Outcome::Failed(_, err) => bail!(messages::launch_failed(&err, &names)),
    }
    Ok(())
}

/// `workshop refresh`.
pub fn refresh(ctx: &Ctx, args: &RefreshArgs) -> anyhow::Result<()> {
    if args.plan {
        return refresh_plan(ctx, &args.mode.names, args.format, args.skip_save_state);
    }
    let skip_save_state = args.skip_save_state;
    let args = &args.mode;
    args.check("refresh")?;
    let project = ctx.project()?;
    // Several workshops with another mode: the daemon's refusal says it (as the reference's
    // does, "cannot refresh "a", "b": wait-on-error is not supported for multiple workshops").
    let names = ctx.names_or_single(&project, &args.names)?;
    let mode = args.mode();
    let refresh_option =
        matches!(mode, Mode::Transactional | Mode::WaitOnError).then_some(RefreshOption::Update);
    let options = WorkshopOptions {
        mode,
        refresh_option,
        verbose: args.verbose,
        skip_save_state,
        ..Default::default()
    };
    let q = quoted(&names);
    let change =
        match ctx.client.workshop_action(&project.id, &request(&names, WorkshopAction::Refresh, options)?) {
            Ok(change) => change,
            Err(e) => return refresh_request_error(e, &names, args.resume_verb()),
        };
    if args.no_wait {
        workshop_client::outln!("{change}");
        return Ok(());
    }
    match wait::wait(&ctx.client, &change, WaitOptions { verbose: args.verbose, skip_abort: false })? {
        Outcome::Done => workshop_client::outln!("{q} refreshed"),
        Outcome::Undone(_) => workshop_client::outln!("{q} refresh aborted"),
        Outcome::Paused(chg) => bail!(messages::paused("refresh", &names[0], &chg.id)),
        Outcome::Failed(chg, _) => {
            bail!("cannot refresh {q}; aborted\nTo view details: \"workshop tasks {}\"", chg.id)
        }
    }
    Ok(())
}

/// `workshop refresh --plan`: what `refresh` of the same workshops would do, one plan each.
fn refresh_plan(ctx: &Ctx, names: &[String], format: Format, skip_save_state: bool) -> anyhow::Result<()> {
    let project = ctx.project()?;
    let mut names = ctx.names_or_single(&project, names)?;
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(n.clone()));
    for name in &names {
        name.parse::<workshop_api::ids::WorkshopName>()?;
    }
    let mut plans = Vec::new();
    for name in &names {
        match ctx.client.refresh_plan(&project.id, name, skip_save_state) {
            Ok(plan) => plans.push(plan),
            Err(e) if e.conflict().is_some() => return Err(in_progress("refresh", e, names.as_slice())),
            Err(e) if e.is_communication() => return Err(e.into()),
            Err(e) => bail!(cannot_refresh(&format!("{name:?}"), &e)),
        }
    }
    match format.data(&plans)? {
        Some(data) => workshop_client::out!("{data}"),
        None => workshop_client::out!("{}", render_plans(&plans)),
    }
    Ok(())
}

/// The plans for people: per workshop, what it is rebuilt from, its SDKs, the hooks in order.
fn render_plans(plans: &[RefreshPlan]) -> String {
    let mut out = String::new();
    for plan in plans {
        let ws = &plan.workshop;
        if plan.up_to_date {
            out.push_str(&format!("no updates available for {ws:?}\n"));
            continue;
        }
        out.push_str(&format!("refresh of {ws:?}:\n"));
        if let Some(from) = &plan.rebuild_from {
            let short: String = from.fingerprint.chars().take(12).collect();
            let changed = if from.changed { ", a new image" } else { "" };
            out.push_str(&format!("  rebuilt from: base {} (image {short}{changed})\n", from.base));
            if let Some(snapshot) = &from.snapshot {
                let reused = from.reused.join(", ");
                out.push_str(&format!("  reused: the layers of {reused} (snapshot {snapshot})\n"));
            }
        }
        if !plan.sdks.is_empty() {
            let mut table = crate::table::Table::new(&["", "", "", ""]);
            for sdk in &plan.sdks {
                let change = match sdk.change {
                    SdkChange::Kept => "kept",
                    SdkChange::Reinstalled => "reinstalled",
                    SdkChange::Added => "added",
                    SdkChange::Removed => "removed",
                };
                let revisions = match (&sdk.old_revision, &sdk.new_revision, sdk.change) {
                    (Some(old), _, SdkChange::Removed) => format!("rev {old}"),
                    (Some(old), Some(new), _) if old == new => format!("rev {old}"),
                    (old, new, _) => format!(
                        "rev {} -> {}",
                        old.as_deref().unwrap_or("-"),
                        new.as_deref().unwrap_or("(new)")
                    ),
                };
                table.row(vec![sdk.name.clone(), change.into(), sdk.source.clone(), revisions]);
            }
            out.push_str("  sdks:\n");
            for line in table.render(false, false).lines() {
                out.push_str(&format!("    {}\n", line.trim_end()));
            }
        }
        if !plan.hooks.is_empty() {
            out.push_str("  hooks, in order:\n");
            for (i, hook) in plan.hooks.iter().enumerate() {
                out.push_str(&format!("    {}. {} of {}\n", i + 1, hook.hook, hook.sdk));
            }
        }
        out.push_str(&format!("  tasks: {} (\"--format json\" lists them)\n", plan.tasks.len()));
    }
    out
}

/// How `refresh` reports a refused request.
fn refresh_request_error(e: ClientError, names: &[String], resume_verb: &str) -> anyhow::Result<()> {
    let q = quoted(names);
    match e.kind() {
        Some(ErrorKind::NoUpdatesAvailable) => {
            workshop_client::outln!("no updates available for {q}");
            return Ok(());
        }
        Some(ErrorKind::NoWaitingChangeInProgress) => {
            bail!(messages::nothing_to_resume(resume_verb, "refresh"))
        }
        _ => {}
    }
    if let Some(c) = e.conflict() {
        let ws = conflict_workshop(&c.workshop, names);
        // A paused refresh (the reference does not say which; ours does): running, it is a
        // change in progress like any other.
        if c.change_kind == "refresh" && matches!(c.change_status.as_str(), "Wait" | "") {
            bail!("cannot refresh {ws:?}; another refresh change is waiting on error");
        }
        return Err(in_progress("refresh", e, names));
    }
    if e.is_communication() {
        return Err(e.into());
    }
    bail!(cannot_refresh(&q, &e))
}

/// `cannot refresh <ws>: <why>`, unless the daemon's refusal of one workshop already says what
/// it is about (`cannot refresh "ws": not running`).
pub(crate) fn cannot_refresh(ws: &str, e: &impl std::fmt::Display) -> String {
    cannot_do("refresh", ws, e)
}

/// `cannot <verb> <ws>: <why>` (the reference's `cannot launch "nope": workshop definition …
/// not found`), unless the daemon's refusal already says it.
fn cannot_do(verb: &str, ws: &str, e: &impl std::fmt::Display) -> String {
    let text = e.to_string();
    if text.starts_with(&format!("cannot {verb} ")) { text } else { format!("cannot {verb} {ws}: {text}") }
}

/// `workshop restore`.
pub fn restore(ctx: &Ctx, args: &RestoreArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    let names = ctx.names_or_single(&project, &args.names)?;
    let options = WorkshopOptions {
        mode: Mode::Transactional,
        refresh_option: Some(RefreshOption::Restore),
        verbose: args.verbose,
        skip_save_state: args.skip_save_state,
        ..Default::default()
    };
    let q = quoted(&names);
    let change =
        match ctx.client.workshop_action(&project.id, &request(&names, WorkshopAction::Refresh, options)?) {
            Ok(change) => change,
            Err(e) if e.conflict().is_some() || e.is_communication() => {
                return Err(in_progress("restore", e, &names));
            }
            // The daemon's refusals say what they are about; a workshop it does not know is
            // said of the restore, as `refresh` does.
            Err(e) if e.to_string().starts_with("cannot ") => return Err(e.into()),
            Err(e) => bail!("cannot restore {q}: {e}"),
        };
    if args.no_wait {
        workshop_client::outln!("{change}");
        return Ok(());
    }
    match wait::wait(&ctx.client, &change, WaitOptions { verbose: args.verbose, skip_abort: false })? {
        Outcome::Done => workshop_client::outln!("{q} restored"),
        Outcome::Undone(_) => workshop_client::outln!("{q} restore aborted"),
        Outcome::Paused(chg) => {
            bail!("cannot restore {q}; paused\nTo view details: \"workshop tasks {}\"", chg.id)
        }
        // The reference's words: the change's error, then that the restore was aborted.
        Outcome::Failed(_, err) => bail!("{err}\n{q} restore aborted"),
    }
    Ok(())
}

/// `workshop fork`: a copy of a launched workshop under a new name, started.
pub fn fork(ctx: &Ctx, args: &ForkArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    let names = [args.source.clone()];
    let options =
        WorkshopOptions { fork_name: Some(args.name.parse()?), verbose: args.verbose, ..Default::default() };
    let change =
        match ctx.client.workshop_action(&project.id, &request(&names, WorkshopAction::Fork, options)?) {
            Ok(change) => change,
            Err(e) => return Err(in_progress("fork", e, &names)),
        };
    if args.no_wait {
        workshop_client::outln!("{change}");
        return Ok(());
    }
    let (from, to) = (&args.source, &args.name);
    match wait::wait(&ctx.client, &change, WaitOptions { verbose: args.verbose, skip_abort: false })? {
        Outcome::Done => workshop_client::outln!("{to:?} forked from {from:?}"),
        Outcome::Failed(chg, err) => {
            bail!("cannot fork {from:?} as {to:?}: {err}\nTo view details: \"workshop tasks {}\"", chg.id)
        }
        Outcome::Undone(chg) | Outcome::Paused(chg) => {
            bail!("cannot fork {from:?} as {to:?}; aborted\nTo view details: \"workshop tasks {}\"", chg.id)
        }
    }
    Ok(())
}

/// `workshop start`, `stop` or `remove`: one change, reported per workshop.
pub fn simple(ctx: &Ctx, action: WorkshopAction, args: &NamesArgs) -> anyhow::Result<()> {
    let project = if action == WorkshopAction::Remove { ctx.project_or_gone()? } else { ctx.project()? };
    let names = ctx.names_or_single(&project, &args.names)?;
    let change = match ctx
        .client
        .workshop_action(&project.id, &request(&names, action, WorkshopOptions::default())?)
    {
        Ok(change) => change,
        Err(e) => return Err(simple_conflict(action, &e, &names).unwrap_or_else(|| e.into())),
    };
    match wait::wait(&ctx.client, &change, WaitOptions { verbose: false, skip_abort: true })? {
        Outcome::Done => {
            let done = match action {
                WorkshopAction::Start => "started",
                WorkshopAction::Stop => "stopped",
                _ => "removed",
            };
            for name in &names {
                workshop_client::outln!("{}", messages::done(name, done));
            }
            Ok(())
        }
        Outcome::Undone(chg) => {
            bail!("cannot {} {}: change {} was undone", action.as_str(), quoted(&names), chg.id)
        }
        Outcome::Paused(chg) => {
            bail!("cannot {} {}: change {} is paused", action.as_str(), quoted(&names), chg.id)
        }
        Outcome::Failed(_, err) => bail!(err),
    }
}

/// The reference wording for a start/stop refused because of another change.
fn simple_conflict(action: WorkshopAction, e: &ClientError, names: &[String]) -> Option<anyhow::Error> {
    let c = e.conflict()?;
    let ws = conflict_workshop(&c.workshop, names);
    let waiting = c.change_status == "Wait" || (c.change_status.is_empty() && c.change_kind == "refresh");
    match action {
        WorkshopAction::Start if waiting => {
            Some(anyhow::anyhow!(messages::start_waiting(&ws, &c.change_kind)))
        }
        WorkshopAction::Start => Some(anyhow::anyhow!(messages::start_in_progress(&ws, &c.change_kind))),
        WorkshopAction::Stop if waiting && c.change_kind == "refresh" => Some(anyhow::anyhow!(
            "cannot stop {ws:?}: a refresh task is waiting on error\nTo view details: \"workshop tasks {id}\"\n\n\
             To abort and undo the refresh: \"workshop refresh --abort {ws}\"\n\
             Otherwise, resolve the error, then run \"workshop refresh --continue {ws}\"\n\
             After that, run \"workshop stop {ws}\" again.",
            id = c.change_id
        )),
        WorkshopAction::Stop => Some(anyhow::anyhow!(
            "cannot stop {ws:?}: tasks are in progress\nTo view details: \"workshop tasks {}\"",
            c.change_id
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use workshop_client::ApiError;

    use super::*;

    #[test]
    fn two_modes_are_refused_in_the_reference_words() {
        let args = |wait_on_error, resume, abort| ModeArgs {
            wait_on_error,
            resume,
            abort,
            no_wait: false,
            verbose: false,
            names: Vec::new(),
        };
        let err = |a: ModeArgs| a.check("launch").unwrap_err().to_string();
        assert_eq!(
            err(args(false, true, true)),
            r#"cannot launch: "--abort" incompatible with "--continue""#
        );
        assert_eq!(
            err(args(true, false, true)),
            r#"cannot launch: "--wait-on-error" incompatible with "--abort""#
        );
        assert_eq!(
            args(true, true, false).check("refresh").unwrap_err().to_string(),
            r#"cannot refresh: "--wait-on-error" incompatible with "--continue""#
        );
        for one in [args(true, false, false), args(false, true, false), args(false, false, true)] {
            assert!(one.check("launch").is_ok());
        }
    }

    #[test]
    fn plans_for_people() {
        let plans: Vec<RefreshPlan> = serde_json::from_value(json!([
            {"workshop": "same", "up-to-date": true},
            {
                "workshop": "dev",
                "up-to-date": false,
                "rebuild-from": {
                    "base": "ubuntu@24.04", "fingerprint": "0123456789abcdef", "changed": true,
                    "snapshot": "sdk-system-0123456789abcdef", "reused": ["system"]
                },
                "sdks": [
                    {"name": "system", "change": "kept", "source": "system", "old-revision": "1", "new-revision": "1"},
                    {"name": "go", "change": "reinstalled", "source": "store", "old-revision": "12", "new-revision": "14"},
                    {"name": "tools", "change": "added", "source": "project"},
                    {"name": "old", "change": "removed", "source": "project", "old-revision": "x3"}
                ],
                "hooks": [{"sdk": "system", "hook": "save-state"}, {"sdk": "go", "hook": "setup-base"}],
                "tasks": [{"kind": "download-base", "summary": "Download base"}]
            }
        ]))
        .unwrap();
        let text = render_plans(&plans);
        let want = "no updates available for \"same\"\n\
                    refresh of \"dev\":\n\
                    \x20 rebuilt from: base ubuntu@24.04 (image 0123456789ab, a new image)\n\
                    \x20 reused: the layers of system (snapshot sdk-system-0123456789abcdef)\n\
                    \x20 sdks:\n\
                    \x20   system  kept         system   rev 1\n\
                    \x20   go      reinstalled  store    rev 12 -> 14\n\
                    \x20   tools   added        project  rev - -> (new)\n\
                    \x20   old     removed      project  rev x3\n\
                    \x20 hooks, in order:\n\
                    \x20   1. save-state of system\n\
                    \x20   2. setup-base of go\n\
                    \x20 tasks: 1 (\"--format json\" lists them)\n";
        assert_eq!(text, want, "{text}");
    }

    fn conflict(kind: &str, status: &str) -> ClientError {
        ClientError::Api(ApiError {
            status_code: 409,
            message: "conflict".into(),
            kind: Some(ErrorKind::ChangeConflict),
            value: json!({"change-id": "29", "change-kind": kind, "change-status": status, "workshop": "dev"}),
        })
    }

    #[test]
    fn start_conflicts() {
        let names = vec!["dev".to_string()];
        let msg = |e: ClientError| simple_conflict(WorkshopAction::Start, &e, &names).unwrap().to_string();
        assert_eq!(
            msg(conflict("refresh", "Wait")),
            "cannot start \"dev\": refresh change is waiting on error"
        );
        assert_eq!(msg(conflict("refresh", "")), "cannot start \"dev\": refresh change is waiting on error");
        assert_eq!(msg(conflict("remove", "Doing")), "cannot start \"dev\": change remove is in progress");
        assert!(simple_conflict(WorkshopAction::Remove, &conflict("launch", "Doing"), &names).is_none());
        // A stop beside a refresh that runs is not told it waits on error.
        let stop = |e: ClientError| simple_conflict(WorkshopAction::Stop, &e, &names).unwrap().to_string();
        assert!(
            stop(conflict("refresh", "Wait"))
                .starts_with("cannot stop \"dev\": a refresh task is waiting on error")
        );
        assert_eq!(
            stop(conflict("refresh", "Doing")),
            "cannot stop \"dev\": tasks are in progress\nTo view details: \"workshop tasks 29\""
        );
    }

    #[test]
    fn launch_and_restore_conflicts() {
        let names = vec!["ws".to_string()];
        assert_eq!(
            in_progress("launch", conflict("remove", "Doing"), &names).to_string(),
            "cannot launch \"dev\": remove change is in progress"
        );
        let other = ClientError::Api(ApiError {
            status_code: 400,
            message: "bad".into(),
            kind: None,
            value: serde_json::Value::Null,
        });
        assert_eq!(in_progress("restore", other, &names).to_string(), "bad");
    }

    #[test]
    fn refresh_errors() {
        let names = vec!["ws".to_string()];
        let none = ClientError::Api(ApiError {
            status_code: 400,
            message: "no updates available".into(),
            kind: Some(ErrorKind::NoUpdatesAvailable),
            value: serde_json::Value::Null,
        });
        assert!(refresh_request_error(none, &names, "abort").is_ok());
        let nothing = ClientError::Api(ApiError {
            status_code: 400,
            message: "no change".into(),
            kind: Some(ErrorKind::NoWaitingChangeInProgress),
            value: serde_json::Value::Null,
        });
        assert_eq!(
            refresh_request_error(nothing, &names, "abort").unwrap_err().to_string(),
            "cannot abort: no refresh in progress"
        );
        assert_eq!(
            refresh_request_error(conflict("refresh", "Wait"), &names, "abort").unwrap_err().to_string(),
            "cannot refresh \"dev\"; another refresh change is waiting on error"
        );
        assert_eq!(
            refresh_request_error(conflict("exec", "Doing"), &names, "abort").unwrap_err().to_string(),
            "cannot refresh \"dev\": exec change is in progress"
        );
        assert_eq!(
            refresh_request_error(conflict("refresh", "Doing"), &names, "abort").unwrap_err().to_string(),
            "cannot refresh \"dev\": refresh change is in progress"
        );
    }
}
