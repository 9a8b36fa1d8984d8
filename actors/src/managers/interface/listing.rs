//! What `GET /v1/connections` shows of a workshop: its plugs, slots and connections, from its
//! repository and its connection state.

use workshop_api::connections::{ConnectionInfo, Connections, PlugInfo, PlugRef, SlotInfo, SlotRef};

use super::conns::{self, WorkshopConns};
use super::repo::Repo;

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
        }
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
