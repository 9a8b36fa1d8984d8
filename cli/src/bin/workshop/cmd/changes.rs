//! `workshop changes` and `workshop tasks`.

use std::time::Duration;

use anyhow::bail;
use clap::Args;
use workshop_api::ChangeInfo;
use workshop_client::ChangeSelect;

use crate::cmd::{ListFormat, bold_headers};
use crate::context::Ctx;
use crate::table::Table;
use crate::timefmt::human;

/// A line of 70 dots before each task log.
const HRULE: &str = "......................................................................";

/// Flags of `changes`.
#[derive(Debug, Args)]
pub struct ChangesArgs {
    /// Hide table headers
    #[arg(long)]
    pub no_headers: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// Arguments of `tasks`.
#[derive(Debug, Args)]
pub struct TasksArgs {
    /// Hide table headers
    #[arg(long)]
    pub no_headers: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Show the whole output of hooks, not only their last lines (while the change is in
    /// progress or paused)
    #[arg(long)]
    pub verbose: bool,
    /// The change (default: the latest change with tasks)
    #[arg(value_name = "CHANGE-ID")]
    pub id: Option<String>,
}

/// The project's changes (every change when not in a project), oldest first.
fn project_changes(ctx: &Ctx) -> anyhow::Result<Vec<ChangeInfo>> {
    let project_id = match ctx.project() {
        Ok(project) => Some(project.id),
        Err(e) if e.downcast_ref::<workshop_client::ClientError>().is_some_and(|c| c.api().is_some()) => None,
        Err(e) => return Err(e),
    };
    let mut changes = ctx.client.changes(ChangeSelect::All, project_id.as_deref())?;
    changes.sort_by_key(|c| c.spawn_time);
    Ok(changes)
}

/// `workshop changes`.
pub fn changes(ctx: &Ctx, args: &ChangesArgs) -> anyhow::Result<()> {
    let changes = project_changes(ctx)?;
    if let Some(data) = args.format.data(&changes)? {
        workshop_client::out!("{data}");
        return Ok(());
    }
    if changes.is_empty() {
        return Ok(());
    }
    // People read "today at 10:02 UTC"; scripts get RFC 3339.
    let time = |t: chrono::DateTime<chrono::Utc>| match args.format {
        ListFormat::Csv => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        _ => human(t),
    };
    let mut table = Table::new(&["id", "status", "spawn", "ready", "summary"]);
    for chg in changes {
        let ready = chg.ready_time.map(time).unwrap_or_default();
        table.row(vec![chg.id, chg.status, time(chg.spawn_time), ready, chg.summary]);
    }
    workshop_client::out!("{}", args.format.table(&table, args.no_headers, bold_headers()));
    Ok(())
}

/// `workshop tasks`.
pub fn tasks(ctx: &Ctx, args: &TasksArgs) -> anyhow::Result<()> {
    let mut change = match &args.id {
        Some(id) => ctx.client.change(id, args.verbose)?,
        None => {
            let changes = project_changes(ctx)?;
            if changes.is_empty() {
                bail!(crate::messages::NO_CHANGES);
            }
            match changes.into_iter().rev().find(|c| !c.tasks.is_empty()) {
                Some(change) if args.verbose => ctx.client.change(&change.id, true)?,
                Some(change) => change,
                None => bail!(crate::messages::NO_NONEMPTY_CHANGES),
            }
        }
    };
    if let Some(data) = args.format.data(&change)? {
        workshop_client::out!("{data}");
        return Ok(());
    }
    change.tasks.sort_by_key(|t| t.spawn_time);
    if args.format == ListFormat::Csv {
        workshop_client::out!("{}", task_table(&change).csv());
        return Ok(());
    }
    workshop_client::out!("{}", render_tasks(&change, !args.no_headers, bold_headers()));
    Ok(())
}

/// The task table, then the log of every task that has one.
fn render_tasks(change: &ChangeInfo, headers: bool, bold: bool) -> String {
    if change.tasks.is_empty() {
        return String::new();
    }
    let mut out = task_table(change).render(headers, bold);
    for t in change.tasks.iter().filter(|t| !t.log.is_empty()) {
        out.push_str(&format!("\n{HRULE}\n{}\n\n", t.summary));
        for line in &t.log {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// One row per task: status, time spent doing it, summary.
fn task_table(change: &ChangeInfo) -> Table {
    let mut table = Table::new(&["status", "duration", "summary"]).right_align(1);
    for t in &change.tasks {
        let ms = u64::try_from((t.doing_time + 500_000) / 1_000_000).unwrap_or(0);
        let duration = if t.doing_time == 0 {
            String::new()
        } else {
            workshop_api::duration::format(Duration::from_millis(ms))
        };
        table.row(vec![t.status.clone(), duration, t.summary.clone()]);
    }
    table
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tasks_table_and_logs() {
        let change: ChangeInfo = serde_json::from_value(json!({
            "id": "3", "kind": "launch", "summary": "Launch \"ws\" workshop", "status": "Done", "ready": true,
            "spawn-time": "2024-05-01T10:00:00Z",
            "tasks": [
                {"id": "1", "kind": "create-workshop", "summary": "Create new \"ws\" workshop", "status": "Done",
                 "spawn-time": "2024-05-01T10:00:00Z", "doing-time": 1_234_400_000i64},
                {"id": "2", "kind": "run-hook", "summary": "Run setup-project hook", "status": "Done",
                 "spawn-time": "2024-05-01T10:00:01Z", "doing-time": 0,
                 "log": ["2024-05-01T10:00:02Z INFO + echo 'setup-project ran successfully!'"]}
            ]
        }))
        .unwrap();
        assert_eq!(
            render_tasks(&change, true, false),
            "STATUS  DURATION  SUMMARY\n\
             Done      1.234s  Create new \"ws\" workshop\n\
             Done           -  Run setup-project hook\n\
             \n\
             ......................................................................\n\
             Run setup-project hook\n\
             \n\
             2024-05-01T10:00:02Z INFO + echo 'setup-project ran successfully!'\n"
        );
    }
}
