//! `workshop list`.

use anyhow::bail;
use clap::Args;
use serde::Serialize;
use workshop_api::workshops::WorkshopList;

use crate::cmd::ListFormat;
use crate::context::Ctx;
use crate::table::Table;

/// Flags of `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// List workshops from all projects in the system
    #[arg(long)]
    pub global: bool,
    /// Hide table headers
    #[arg(long)]
    pub no_headers: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// One row of the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub name: String,
    pub status: String,
    pub notes: Vec<String>,
    /// The environment hash of a launched workshop (JSON only).
    #[serde(rename = "env-hash", skip_serializing_if = "Option::is_none")]
    pub env_hash: Option<String>,
}

/// Instances sorted by name, then definition files without an instance as `Off`.
pub fn rows(list: WorkshopList, with_files: bool) -> Vec<Row> {
    let mut workshops = list.workshops;
    workshops.sort_by(|a, b| a.name.cmp(&b.name));
    let mut files = if with_files { list.files } else { Vec::new() };
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out: Vec<Row> = workshops
        .iter()
        .map(|w| Row {
            project: None,
            name: w.name.clone(),
            status: w.status.as_str().into(),
            notes: w.notes.clone(),
            env_hash: w.env_hash.clone(),
        })
        .collect();
    for file in files {
        if !workshops.iter().any(|w| w.name == file.name) {
            out.push(Row {
                project: None,
                name: file.name,
                status: "Off".into(),
                notes: Vec::new(),
                env_hash: None,
            });
        }
    }
    out
}

/// `workshop list`.
pub fn run(ctx: &Ctx, args: &ListArgs) -> anyhow::Result<()> {
    if args.global && ctx.project_flag.is_some() {
        bail!(crate::messages::LIST_GLOBAL_WITH_PROJECT);
    }
    let mut all = Vec::new();
    if args.global {
        for project in ctx.client.projects()? {
            let list = ctx.client.workshops(&project.id, Some("available"))?;
            for mut row in rows(list, false) {
                row.project = Some(project.path.clone());
                all.push(row);
            }
        }
    } else {
        let project = ctx.project()?;
        all = rows(ctx.client.workshops(&project.id, Some("available"))?, true);
    }
    if let Some(data) = args.format.data(&all)? {
        workshop_client::out!("{data}");
        return Ok(());
    }
    if all.is_empty() {
        return Ok(());
    }
    let mut table = if args.global {
        Table::new(&["project", "workshop", "status", "notes"])
    } else {
        Table::new(&["workshop", "status", "notes"])
    };
    for row in all {
        let mut cells = Vec::new();
        if let Some(project) = row.project {
            cells.push(project);
        }
        cells.extend([row.name, row.status, row.notes.join(",")]);
        table.row(cells);
    }
    workshop_client::out!("{}", args.format.table(&table, args.no_headers, crate::cmd::bold_headers()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn instances_then_off_files() {
        let list: WorkshopList = serde_json::from_value(json!({
            "workshops": [
                {"project-id": "p", "name": "zeta", "base": "ubuntu@22.04", "status": "Waiting", "notes": ["wait-on-error"]},
                {"project-id": "p", "name": "alpha", "base": "ubuntu@22.04", "status": "Ready"}
            ],
            "files": [
                {"project-id": "p", "name": "zeta", "path": "/p/.workshop/zeta.yaml"},
                {"project-id": "p", "name": "beta", "path": "/p/.workshop/beta.yaml"}
            ]
        }))
        .unwrap();
        let names: Vec<(String, String)> =
            rows(list.clone(), true).into_iter().map(|r| (r.name, r.status)).collect();
        assert_eq!(
            names,
            [("alpha", "Ready"), ("zeta", "Waiting"), ("beta", "Off")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!(rows(list, false).len(), 2);
    }
}
