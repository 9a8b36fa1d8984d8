//! What `GET /v1/connections` shows of a workshop: its plugs, slots and connections, from its
//! repository and its connection state.

use workshop_api::connections::{ConnectionInfo, Connections, PlugInfo, PlugRef, SlotInfo, SlotRef};

use std::collections::BTreeMap;

use workshop_api::sdk::tunnel::TunnelEndpoint;

use std::path::Path;

use super::conns::{self, WorkshopConns};
use super::repo::Repo;
use crate::managers::UserRef;

/// What is listed.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Every plug and slot, connected or not, and the undesired connections.
    pub all: bool,
    /// Only those of this interface.
    pub interface: Option<String>,
}

/// Adds workshop `workshop` of project `project_id` to `out`.
pub fn add_workshop(
    out: &mut Connections,
    project_id: &str,
    workshop: &str,
    repo: &Repo,
    state: &WorkshopConns,
    filter: &Filter,
) {
    let plug_ref = |sdk: &str, name: &str| PlugRef {
        project_id: project_id.into(),
        workshop: workshop.into(),
        sdk: sdk.into(),
        plug: name.into(),
    };
    let slot_ref = |sdk: &str, name: &str| SlotRef {
        project_id: project_id.into(),
        workshop: workshop.into(),
        sdk: sdk.into(),
        slot: name.into(),
    };
    let wanted = |interface: &str| filter.interface.as_deref().is_none_or(|i| i == interface);
    let mut connected = Vec::new();
    for (key, conn) in state {
        let Some(r) = conns::parse_key(key) else { continue };
        let (Some(plug), Some(slot)) = (repo.plug(&r.plug), repo.slot(&r.slot)) else { continue };
        if !wanted(&plug.interface) {
            continue;
        }
        let info = ConnectionInfo {
            slot: slot_ref(&slot.sdk, &slot.name),
            plug: plug_ref(&plug.sdk, &plug.name),
            interface: plug.interface.clone(),
            manual: !conn.auto,
            plug_attrs: plug.attrs.clone(),
            slot_attrs: slot.attrs.clone(),
        };
        if conn.connected() {
            connected.push(r);
            out.established.push(info);
        } else if filter.all {
            out.undesired.push(info);
        }
    }
    for plug in repo.plugs.iter().filter(|p| wanted(&p.interface)) {
        let connections: Vec<SlotRef> = connected
            .iter()
            .filter(|c| c.plug == plug.reference())
            .map(|c| slot_ref(&c.slot.sdk, &c.slot.name))
            .collect();
        if connections.is_empty() && !filter.all {
            continue;
        }
        let bind = repo.binds.get(&plug.reference()).map(|m| plug_ref(&m.sdk, &m.name));
        out.plugs.push(PlugInfo {
            project_id: project_id.into(),
            workshop: workshop.into(),
            sdk: plug.sdk.clone(),
            plug: plug.name.clone(),
            interface: plug.interface.clone(),
            attrs: plug.attrs.clone(),
            label: plug.label.clone().unwrap_or_default(),
            bind,
            connections,
        });
    }
    for slot in repo.slots.iter().filter(|s| wanted(&s.interface)) {
        let connections: Vec<PlugRef> = connected
            .iter()
            .filter(|c| c.slot == slot.reference())
            .map(|c| plug_ref(&c.plug.sdk, &c.plug.name))
            .collect();
        if connections.is_empty() && !filter.all {
            continue;
        }
        out.slots.push(SlotInfo {
            project_id: project_id.into(),
            workshop: workshop.into(),
            sdk: slot.sdk.clone(),
            slot: slot.name.clone(),
            interface: slot.interface.clone(),
            attrs: slot.attrs.clone(),
            label: slot.label.clone().unwrap_or_default(),
            connections,
        });
    }
}

/// What `info` shows of one SDK's connections (reference WorkshopInfo `mounts`, `tunnels`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SdkConns {
    pub mounts: Vec<serde_json::Value>,
    pub tunnels: Vec<serde_json::Value>,
}

/// A tunnel endpoint as `info` shows it: `{protocol, host, port}` or `{protocol, path}`, a
/// socket path as the side it is on has it (`$HOME` expanded).
fn endpoint_json(
    e: &TunnelEndpoint,
    on_host: bool,
    user: &UserRef,
    home: Option<&Path>,
) -> serde_json::Value {
    match e {
        TunnelEndpoint::Inet { ip, port, .. } => {
            serde_json::json!({"protocol": e.protocol(), "host": ip.to_string(), "port": port})
        }
        TunnelEndpoint::Unix(path) => {
            let expanded = if on_host {
                super::tunnel::host_path(path, user.uid, home).map(|p| p.display().to_string())
            } else {
                super::tunnel::guest_path(path)
            };
            serde_json::json!({"protocol": "unix", "path": expanded.unwrap_or_else(|_| path.clone())})
        }
    }
}

/// The mounts and tunnels of `user`'s workshop's connected plugs, SDK by SDK: a mount under
/// its plug's SDK with its `host-source` (on the host) or `workshop-source` (another SDK's
/// slot) and its `workshop-target`; a tunnel under its plug's SDK (`system` for one listening
/// on the host, as the reference), `from` where it listens `to` where it connects.
pub fn sdk_conns(
    project_id: &str,
    workshop: &str,
    user: &UserRef,
    repo: &Repo,
    state: &WorkshopConns,
) -> BTreeMap<String, SdkConns> {
    let home = user.home();
    let mut out: BTreeMap<String, SdkConns> = BTreeMap::new();
    for (key, conn) in state {
        let (Some(r), true) = (conns::parse_key(key), conn.connected()) else { continue };
        let (Some(plug), Some(slot)) = (repo.plug(&r.plug), repo.slot(&r.slot)) else { continue };
        if !super::handlers::is_built(&r, repo) {
            continue;
        }
        let plug_ref = serde_json::json!({
            "project-id": project_id, "workshop": workshop, "sdk": plug.sdk, "plug": plug.name,
        });
        match plug.interface.as_str() {
            "mount" => {
                let target = plug.attrs.get("workshop-target").cloned().unwrap_or_default();
                let mut mount = serde_json::json!({"plug": plug_ref, "workshop-target": target});
                if let Some(host) = &conn.host_source {
                    mount["host-source"] = host.clone().into();
                } else if let Some(source) = super::guest_mounts::source_of(&r, repo) {
                    mount["workshop-source"] = source.into();
                }
                out.entry(plug.sdk.clone()).or_default().mounts.push(mount);
            }
            "tunnel" => {
                let Ok(pair) = super::policy::tunnel_pair(plug, slot) else { continue };
                let pair = pair.on_host_port(conn.host_port);
                let listens_on_host = pair.direction == super::policy::Direction::HostToWorkshop;
                let (home, user) = (home.as_deref(), user);
                let tunnel = serde_json::json!({
                    "plug": plug_ref,
                    "from": endpoint_json(&pair.listen, listens_on_host, user, home),
                    "to": endpoint_json(&pair.connect, !listens_on_host, user, home),
                });
                out.entry(plug.sdk.clone()).or_default().tunnels.push(tunnel);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use workshop_api::definition::WorkshopFile;
    use workshop_api::sdk::{SdkInfo, Strictness};

    use super::*;
    use crate::managers::interface::conns::ConnState;

    fn repo() -> Repo {
        let system =
            SdkInfo::parse(include_str!("../../sdk/system/meta/sdk.yaml"), Strictness::Strict).unwrap();
        let mount = SdkInfo::parse(
            "name: m\nplugs:\n  one: {interface: mount, workshop-target: /mnt/one}\n  two: {interface: mount, workshop-target: /opt/two}\nslots:\n  jobs: {interface: mount, workshop-source: /x}\n",
            Strictness::Strict,
        )
        .unwrap();
        let file = WorkshopFile::new("ws", "ubuntu@22.04", Vec::new());
        Repo::build(&[("system".into(), system), ("m".into(), mount)], &file).unwrap()
    }

    fn state(undesired: bool) -> ConnState {
        ConnState {
            interface: "mount".into(),
            auto: true,
            undesired,
            bound_to: None,
            host_source: None,
            remounted: false,
            session: Default::default(),
            host_port: None,
        }
    }

    #[test]
    fn info_shows_mounts_by_source_and_tunnels_under_their_plugs_sdk() {
        let system =
            SdkInfo::parse(include_str!("../../sdk/system/meta/sdk.yaml"), Strictness::Strict).unwrap();
        let m = SdkInfo::parse(
            "name: m\nplugs:\n  one: {interface: mount, workshop-target: /mnt/one}\n  two: {interface: mount, workshop-target: /opt/two}\n  pg: {interface: tunnel, endpoint: 5432}\nslots:\n  jobs: {interface: mount, workshop-source: $SDK/jobs}\n  http: {interface: tunnel, endpoint: 8080}\n  sock: {interface: tunnel, endpoint: '$HOME/app.sock'}\n",
            Strictness::Strict,
        )
        .unwrap();
        let yaml = "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: system\n    plugs:\n      web: {interface: tunnel, endpoint: 8989}\n      unix-path: {interface: tunnel, endpoint: '$HOME/t.sock'}\n    slots:\n      pg:\n        interface: tunnel\n        endpoint: 54321\n  - name: m\n";
        let (file, _) = workshop_api::definition::parse(yaml, std::path::Path::new("workshop.yaml")).unwrap();
        let repo = Repo::build(&[("system".into(), system), ("m".into(), m)], &file).unwrap();
        let mut host = state(false);
        host.host_source = Some("/home/u/src/one".into());
        let tunnel = ConnState { interface: "tunnel".into(), ..state(false) };
        let conns = BTreeMap::from([
            ("m:one system:mount".to_string(), host),
            ("m:two m:jobs".to_string(), state(false)),
            ("m:pg system:pg".to_string(), tunnel.clone()),
            ("system:web m:http".to_string(), tunnel.clone()),
            ("system:unix-path m:sock".to_string(), tunnel),
        ]);
        let me = crate::userfs::current_user();
        let info = sdk_conns("p", "ws", &me, &repo, &conns);
        let m = &info["m"];
        assert_eq!(m.mounts.len(), 2);
        let one = m.mounts.iter().find(|v| v["plug"]["plug"] == "one").unwrap();
        assert_eq!(one["host-source"], "/home/u/src/one");
        assert_eq!(one["workshop-target"], "/mnt/one");
        assert_eq!(one["plug"]["project-id"], "p");
        let two = m.mounts.iter().find(|v| v["plug"]["plug"] == "two").unwrap();
        assert_eq!(two["workshop-source"], "/var/lib/workshop/sdk/m/jobs");
        assert!(two.get("host-source").is_none());
        // A regular plug's tunnel is its SDK's; a system plug's (listening on the host) the
        // system SDK's, its socket paths expanded on each side.
        assert_eq!(m.tunnels.len(), 1, "{info:?}");
        assert_eq!(
            m.tunnels[0]["from"],
            serde_json::json!({"protocol": "tcp", "host": "127.0.0.1", "port": 5432})
        );
        assert_eq!(m.tunnels[0]["to"]["port"], 54321);
        let system = &info["system"];
        assert!(system.mounts.is_empty());
        let web = system.tunnels.iter().find(|t| t["plug"]["plug"] == "web").unwrap();
        assert_eq!(web["from"]["port"], 8989);
        assert_eq!(web["to"]["port"], 8080);
        let unix = system.tunnels.iter().find(|t| t["plug"]["plug"] == "unix-path").unwrap();
        let home = me.home().unwrap();
        assert_eq!(unix["from"]["path"], home.join("t.sock").display().to_string());
        assert_eq!(unix["to"]["path"], "/home/workshop/app.sock");
    }

    #[test]
    fn connected_only_unless_all() {
        let conns = BTreeMap::from([
            ("m:one system:mount".to_string(), state(false)),
            ("m:two system:mount".to_string(), state(true)),
        ]);
        let mut out = Connections::default();
        add_workshop(&mut out, "p", "ws", &repo(), &conns, &Filter::default());
        assert_eq!(out.established.len(), 1);
        assert_eq!(out.established[0].plug.plug, "one");
        assert!(!out.established[0].manual);
        assert!(out.undesired.is_empty());
        let plugs: Vec<&str> = out.plugs.iter().map(|p| p.plug.as_str()).collect();
        assert_eq!(plugs, ["one"]);
        let slots: Vec<&str> = out.slots.iter().map(|s| s.slot.as_str()).collect();
        assert_eq!(slots, ["mount"]);

        let mut out = Connections::default();
        add_workshop(&mut out, "p", "ws", &repo(), &conns, &Filter { all: true, interface: None });
        assert_eq!(out.undesired.len(), 1);
        let plugs: Vec<&str> = out.plugs.iter().map(|p| p.plug.as_str()).collect();
        assert_eq!(plugs, ["one", "two"]);
        assert!(out.plugs[1].connections.is_empty());
        assert_eq!(out.slots.len(), 7, "the system SDK's six and the jobs slot");

        let mut out = Connections::default();
        let gpu_only = Filter { all: true, interface: Some("gpu".into()) };
        add_workshop(&mut out, "p", "ws", &repo(), &conns, &gpu_only);
        assert!(out.established.is_empty() && out.plugs.is_empty());
        assert_eq!(out.slots.len(), 1);
    }
}
