//! `workshop connections [WS] [--all]` (reference-inventory §1.1).

use anyhow::bail;
use clap::Args;
use serde::Serialize;
use workshop_api::connections::{Connections, PlugRef, SlotRef};

use crate::cmd::Format;
use crate::context::Ctx;
use crate::table::Table;

/// Flags of `connections`.
#[derive(Debug, Args)]
pub struct ConnectionsArgs {
    /// The workshop whose plugs and slots to list, connected or not
    pub workshop: Option<String>,
    /// Also list plugs and slots that are not connected
    #[arg(long)]
    pub all: bool,
    /// Hide table headers
    #[arg(long)]
    pub no_headers: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// One row of the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub interface: String,
    /// `<ws>/<sdk>:<plug>`, or empty for a slot without plugs.
    pub plug: String,
    /// `<ws>/<sdk>:<slot>`, or empty for a plug without slots.
    pub slot: String,
    pub notes: Vec<String>,
}

fn plug_name(p: &PlugRef) -> String {
    format!("{}/{}:{}", p.workshop, p.sdk, p.plug)
}

fn slot_name(s: &SlotRef) -> String {
    format!("{}/{}:{}", s.workshop, s.sdk, s.slot)
}

/// The rows: every connection, and with `all` the plugs and slots without one (but not the
/// system SDK's default slots, named like their interface). Sorted by interface, plug and
/// slot. Notes: `manual` for connections made by `workshop connect`; `bind.N` for the plugs
/// of a bound group, N the row of the group's anchor (the plug the others are bound to).
pub fn rows(c: &Connections, all: bool) -> Vec<Row> {
    let mut out: Vec<(Row, Option<PlugRef>)> = Vec::new();
    let anchor = |p: &PlugRef| -> Option<PlugRef> {
        let info = c.plugs.iter().find(|i| {
            i.project_id == p.project_id && i.workshop == p.workshop && i.sdk == p.sdk && i.plug == p.plug
        });
        match info.and_then(|i| i.bind.clone()) {
            Some(master) => Some(master),
            None => c.plugs.iter().any(|i| i.bind.as_ref() == Some(p)).then(|| p.clone()),
        }
    };
    for e in &c.established {
        let notes = if e.manual { vec!["manual".to_string()] } else { Vec::new() };
        let row =
            Row { interface: e.interface.clone(), plug: plug_name(&e.plug), slot: slot_name(&e.slot), notes };
        out.push((row, anchor(&e.plug)));
    }
    if all {
        for p in c.plugs.iter().filter(|p| p.connections.is_empty()) {
            let r = PlugRef {
                project_id: p.project_id.clone(),
                workshop: p.workshop.clone(),
                sdk: p.sdk.clone(),
                plug: p.plug.clone(),
            };
            let row = Row {
                interface: p.interface.clone(),
                plug: plug_name(&r),
                slot: String::new(),
                notes: Vec::new(),
            };
            out.push((row, anchor(&r)));
        }
        for s in c.slots.iter().filter(|s| s.connections.is_empty()) {
            if s.sdk == "system" && s.slot == s.interface {
                continue;
            }
            let r = SlotRef {
                project_id: s.project_id.clone(),
                workshop: s.workshop.clone(),
                sdk: s.sdk.clone(),
                slot: s.slot.clone(),
            };
            let row = Row {
                interface: s.interface.clone(),
                plug: String::new(),
                slot: slot_name(&r),
                notes: Vec::new(),
            };
            out.push((row, None));
        }
    }
    let shown = |s: &str| if s.is_empty() { "-".to_string() } else { s.to_string() };
    out.sort_by(|(a, _), (b, _)| {
        (&a.interface, shown(&a.plug), shown(&a.slot)).cmp(&(&b.interface, shown(&b.plug), shown(&b.slot)))
    });
    let plugs: Vec<String> = out.iter().map(|(r, _)| r.plug.clone()).collect();
    out.into_iter()
        .map(|(mut row, anchor)| {
            if let Some(anchor) = anchor
                && let Some(at) = plugs.iter().position(|p| *p == plug_name(&anchor))
            {
                row.notes.push(format!("bind.{}", at + 1));
            }
            row
        })
        .collect()
}

/// `workshop connections`.
pub fn run(ctx: &Ctx, args: &ConnectionsArgs) -> anyhow::Result<()> {
    if args.workshop.is_some() && args.all {
        bail!(crate::messages::CONNECTIONS_ALL_WITH_NAME);
    }
    if let Some(ws) = &args.workshop {
        ws.parse::<workshop_api::ids::WorkshopName>()?;
    }
    let project = ctx.project()?;
    let all = args.all || args.workshop.is_some();
    let listed = ctx.client.connections(&project.id, args.workshop.as_deref(), all)?;
    let rows = rows(&listed, all);
    if let Some(data) = args.format.data(&rows)? {
        workshop_client::out!("{data}");
        return Ok(());
    }
    if rows.is_empty() {
        return Ok(());
    }
    let mut table = Table::new(&["interface", "plug", "slot", "notes"]);
    for row in rows {
        table.row(vec![row.interface, row.plug, row.slot, row.notes.join(",")]);
    }
    workshop_client::out!("{}", table.render(!args.no_headers, crate::cmd::bold_headers()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn plug(sdk: &str, name: &str) -> serde_json::Value {
        json!({"project-id": "p", "workshop": "ws-bind", "sdk": sdk, "plug": name})
    }

    fn slot(sdk: &str, name: &str) -> serde_json::Value {
        json!({"project-id": "p", "workshop": "ws-bind", "sdk": sdk, "slot": name})
    }

    /// B-01: the rows, their order and the bind notes.
    #[test]
    fn bound_groups_name_their_anchor_row() {
        let mount = slot("system", "mount");
        let c: Connections = serde_json::from_value(json!({
            "established": [
                {"plug": plug("test-sdk-mount", "one"), "slot": mount, "interface": "mount"},
                {"plug": plug("test-sdk-mount", "two"), "slot": mount, "interface": "mount"},
                {"plug": plug("test-sdk-multiple-plugs", "one"), "slot": mount, "interface": "mount"},
                {"plug": plug("test-sdk-multiple-plugs", "two"), "slot": mount, "interface": "mount"},
            ],
            "plugs": [
                {"project-id": "p", "workshop": "ws-bind", "sdk": "test-sdk-mount", "plug": "one", "interface": "mount", "connections": [mount]},
                {"project-id": "p", "workshop": "ws-bind", "sdk": "test-sdk-mount", "plug": "two", "interface": "mount", "bind": plug("test-sdk-multiple-plugs", "two"), "connections": [mount]},
                {"project-id": "p", "workshop": "ws-bind", "sdk": "test-sdk-multiple-plugs", "plug": "one", "interface": "mount", "bind": plug("test-sdk-mount", "one"), "connections": [mount]},
                {"project-id": "p", "workshop": "ws-bind", "sdk": "test-sdk-multiple-plugs", "plug": "two", "interface": "mount", "connections": [mount]},
                {"project-id": "p", "workshop": "ws-bind", "sdk": "test-sdk-multiple-plugs", "plug": "ssh-agent", "interface": "ssh-agent"},
                {"project-id": "p", "workshop": "ws-bind", "sdk": "test-sdk-ssh-agent", "plug": "ssh-agent", "interface": "ssh-agent", "bind": plug("test-sdk-multiple-plugs", "ssh-agent")},
            ],
            "slots": [
                {"project-id": "p", "workshop": "ws-bind", "sdk": "system", "slot": "mount", "interface": "mount"},
                {"project-id": "p", "workshop": "ws-bind", "sdk": "system", "slot": "gpu", "interface": "gpu"},
                {"project-id": "p", "workshop": "ws-bind", "sdk": "test-sdk-mount", "slot": "jobs", "interface": "mount"},
            ]
        }))
        .unwrap();
        let mut table = Table::new(&["interface", "plug", "slot", "notes"]);
        for row in rows(&c, true) {
            table.row(vec![row.interface, row.plug, row.slot, row.notes.join(",")]);
        }
        assert_eq!(
            table.render(false, false),
            "\
mount      -                                          ws-bind/test-sdk-mount:jobs  -
mount      ws-bind/test-sdk-mount:one                 ws-bind/system:mount         bind.2
mount      ws-bind/test-sdk-mount:two                 ws-bind/system:mount         bind.5
mount      ws-bind/test-sdk-multiple-plugs:one        ws-bind/system:mount         bind.2
mount      ws-bind/test-sdk-multiple-plugs:two        ws-bind/system:mount         bind.5
ssh-agent  ws-bind/test-sdk-multiple-plugs:ssh-agent  -                            bind.6
ssh-agent  ws-bind/test-sdk-ssh-agent:ssh-agent       -                            bind.6
"
        );
        // Without --all: the connections only.
        assert_eq!(rows(&c, false).len(), 4);
    }

    #[test]
    fn manual_connections_are_noted() {
        let c: Connections = serde_json::from_value(json!({
            "established": [{"plug": plug("gpu-sdk", "gpu"), "slot": slot("system", "gpu"), "interface": "gpu", "manual": true}],
        }))
        .unwrap();
        let row = &rows(&c, false)[0];
        assert_eq!(row.notes, ["manual"]);
        assert_eq!(row.plug, "ws-bind/gpu-sdk:gpu");
    }
}
