//! `workshop connect` and `workshop disconnect` (reference-inventory §1.1): the argument
//! forms `<ws>/<sdk>:<plug>` and, for the other side, `<ws>/<sdk>:<slot>`, `<ws>/<sdk>` or
//! `:<slot>` (the same workshop's system SDK).

use anyhow::bail;
use clap::Args;
use workshop_api::connections::{ConnectionsRequest, PlugRef, SlotRef};

use crate::context::Ctx;
use crate::wait::{self, Outcome, WaitOptions};

/// Arguments of `connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The plug: <workshop>/<sdk>:<plug>
    pub plug: String,
    /// The slot: <workshop>/<sdk>:<slot>, <workshop>/<sdk> or :<slot> (default: the system
    /// slot named like the plug)
    pub slot: Option<String>,
    /// A tunnel whose host port is taken listens on a free one instead (`info` shows it)
    #[arg(long)]
    pub auto_port: bool,
    /// Print the change id and do not wait for it
    #[arg(long)]
    pub no_wait: bool,
}

/// Arguments of `disconnect`.
#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// The plug or slot: <workshop>/<sdk>:<name> (alone: every connection of it)
    pub plug_or_slot: String,
    /// The slot: <workshop>/<sdk>:<slot> or :<slot>
    pub slot: Option<String>,
    /// Drop the connection's record, so an automatic connection comes back on refresh
    #[arg(long)]
    pub forget: bool,
    /// Print the change id and do not wait for it
    #[arg(long)]
    pub no_wait: bool,
}

/// Arguments of `remount`.
#[derive(Debug, Args)]
pub struct RemountArgs {
    /// The plug: <workshop>/<sdk>:<plug>, connected to the system mount slot
    pub plug: String,
    /// From now on, the host directory it takes its files from
    pub source: std::path::PathBuf,
    /// Print the change id and do not wait for it
    #[arg(long)]
    pub no_wait: bool,
}

/// `(workshop, sdk, name)` of `<ws>/<sdk>:<name>`; with `sdk_only`, `<ws>/<sdk>` too (the
/// name is then empty).
pub fn parse_full(text: &str, sdk_only: bool) -> anyhow::Result<(String, String, String)> {
    let refuse = || anyhow::anyhow!("unknown plug or slot reference {text:?} (use <workshop>/<sdk>:<name>)");
    let (ws, rest) = text.split_once('/').ok_or_else(refuse)?;
    let (sdk, name) = match rest.split_once(':') {
        Some((sdk, name)) if !name.is_empty() => (sdk, name),
        None if sdk_only => (rest, ""),
        _ => return Err(refuse()),
    };
    if ws.is_empty() || sdk.is_empty() || name.contains([':', '/']) {
        return Err(refuse());
    }
    Ok((ws.into(), sdk.into(), name.into()))
}

/// The other side: `:<slot>` (the system SDK of `ws`) or a full reference.
fn parse_other(text: &str, ws: &str, sdk_only: bool) -> anyhow::Result<(String, String, String)> {
    if let Some(slot) = text.strip_prefix(':') {
        if slot.is_empty() || slot.contains([':', '/']) {
            bail!("invalid slot {text:?} (use :<slot>)");
        }
        return Ok((ws.into(), "system".into(), slot.into()));
    }
    let other = parse_full(text, sdk_only)?;
    if other.0 != ws {
        bail!("cannot connect plugs and slots across different workshops");
    }
    Ok(other)
}

/// The request for `action` of `first` (and `second`) in the project `project_id`.
pub fn request(
    action: &str,
    project_id: &str,
    first: &str,
    second: Option<&str>,
    forget: bool,
) -> anyhow::Result<ConnectionsRequest> {
    let (ws, sdk, name) = parse_full(first, false)?;
    let plug = PlugRef { project_id: project_id.into(), workshop: ws.clone(), sdk, plug: name };
    let mut slots = Vec::new();
    if let Some(second) = second {
        let (ws, sdk, slot) = parse_other(second, &ws, action == "connect")?;
        slots.push(SlotRef { project_id: project_id.into(), workshop: ws, sdk, slot });
    }
    Ok(ConnectionsRequest {
        action: action.into(),
        forget,
        plugs: vec![plug],
        slots,
        environment: Default::default(),
        auto_port: false,
    })
}

/// The caller's session variables a connect sends (the desktop and ssh-agent interfaces
/// need them: the daemon cannot see the user's session).
fn session_environment() -> std::collections::BTreeMap<String, String> {
    workshop_api::connections::SESSION_VARIABLES
        .iter()
        .filter_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()).map(|v| (name.to_string(), v)))
        .collect()
}

fn send(ctx: &Ctx, request: ConnectionsRequest, no_wait: bool) -> anyhow::Result<()> {
    let change = ctx.client.change_connections(&request)?;
    if no_wait {
        workshop_client::outln!("{change}");
        return Ok(());
    }
    match wait::wait(&ctx.client, &change, WaitOptions::default())? {
        Outcome::Done => Ok(()),
        Outcome::Undone(chg) | Outcome::Paused(chg) => {
            bail!("cannot {}: change {} was undone", request.action, chg.id)
        }
        Outcome::Failed(_, err) => bail!(err),
    }
}

/// `workshop remount`: SOURCE is made absolute against the current directory.
pub fn remount(ctx: &Ctx, args: &RemountArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    let (ws, sdk, name) = parse_full(&args.plug, false)?;
    let cwd = std::env::current_dir()?;
    let source = crate::context::absolute(&cwd, &args.source);
    let request = workshop_api::connections::MountsRequest {
        action: "remount".into(),
        plug: PlugRef { project_id: project.id.clone(), workshop: ws.clone(), sdk, plug: name },
        host_source: source.to_string_lossy().into_owned(),
    };
    let change = ctx.client.remount(&project.id, &ws, &request)?;
    if args.no_wait {
        workshop_client::outln!("{change}");
        return Ok(());
    }
    match wait::wait(&ctx.client, &change, WaitOptions::default())? {
        Outcome::Done => Ok(()),
        Outcome::Undone(chg) | Outcome::Paused(chg) => bail!("cannot remount: change {} was undone", chg.id),
        Outcome::Failed(_, err) => bail!(err),
    }
}

/// `workshop connect`.
pub fn connect(ctx: &Ctx, args: &ConnectArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    let mut request = request("connect", &project.id, &args.plug, args.slot.as_deref(), false)?;
    request.environment = session_environment();
    request.auto_port = args.auto_port;
    send(ctx, request, args.no_wait)
}

/// `workshop disconnect`.
pub fn disconnect(ctx: &Ctx, args: &DisconnectArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    let request = request("disconnect", &project.id, &args.plug_or_slot, args.slot.as_deref(), args.forget)?;
    send(ctx, request, args.no_wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sides(r: &ConnectionsRequest) -> (String, Vec<String>) {
        let p = &r.plugs[0];
        let slots = r.slots.iter().map(|s| format!("{}/{}:{}", s.workshop, s.sdk, s.slot)).collect();
        (format!("{}/{}:{}", p.workshop, p.sdk, p.plug), slots)
    }

    #[test]
    fn the_argument_forms() {
        let one = request("connect", "p", "ws/sdk:one", None, false).unwrap();
        assert_eq!(sides(&one), ("ws/sdk:one".into(), vec![]));
        let short = request("connect", "p", "ws/sdk:one", Some(":mount"), false).unwrap();
        assert_eq!(sides(&short).1, ["ws/system:mount"]);
        let sdk_only = request("connect", "p", "ws/sdk:one", Some("ws/system"), false).unwrap();
        assert_eq!(sides(&sdk_only).1, ["ws/system:"]);
        let full = request("disconnect", "p", "ws/system:mount", Some("ws/other:x"), true).unwrap();
        assert!(full.forget);
        assert_eq!(sides(&full), ("ws/system:mount".into(), vec!["ws/other:x".to_string()]));
        assert!(request("disconnect", "p", "ws/sdk:one", Some("ws/system"), false).is_err());
        for bad in ["ws", "ws/sdk", "ws/sdk:", "/sdk:x", "ws/:x", "ws/sdk:a:b"] {
            assert!(request("connect", "p", bad, None, false).is_err(), "{bad}");
        }
        let err = request("connect", "p", "a/sdk:one", Some("b/system:mount"), false).unwrap_err();
        assert_eq!(err.to_string(), "cannot connect plugs and slots across different workshops");
    }
}
