//! `GET /v1/connections`: a project's plugs, slots and connections (reference-inventory §2.3).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A plug of a workshop.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlugRef {
    pub project_id: String,
    pub workshop: String,
    pub sdk: String,
    pub plug: String,
}

/// A slot of a workshop.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SlotRef {
    pub project_id: String,
    pub workshop: String,
    pub sdk: String,
    pub slot: String,
}

/// A connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ConnectionInfo {
    pub slot: SlotRef,
    pub plug: PlugRef,
    pub interface: String,
    /// Made by `workshop connect` (not automatically).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manual: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plug_attrs: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slot_attrs: BTreeMap<String, Value>,
}

/// A plug and what it is connected to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlugInfo {
    pub project_id: String,
    pub workshop: String,
    pub sdk: String,
    pub plug: String,
    pub interface: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    /// The plug this one is bound to (`bind:`), sharing its connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<PlugRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<SlotRef>,
}

/// A slot and what is connected to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SlotInfo {
    pub project_id: String,
    pub workshop: String,
    pub sdk: String,
    pub slot: String,
    pub interface: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<PlugRef>,
}

/// The answer of `GET /v1/connections`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Connections {
    #[serde(default)]
    pub established: Vec<ConnectionInfo>,
    /// Automatic connections the user disconnected (with `select=all` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undesired: Vec<ConnectionInfo>,
    #[serde(default)]
    pub plugs: Vec<PlugInfo>,
    #[serde(default)]
    pub slots: Vec<SlotInfo>,
}

/// The body of `POST /v1/connections`: connect one plug to one slot, or disconnect. The
/// disconnect of one plug or slot (every connection of it) names it as the plug.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ConnectionsRequest {
    /// `connect` or `disconnect`.
    pub action: String,
    /// Disconnect: drop the connection's record, so an automatic one comes back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forget: bool,
    #[serde(default)]
    pub plugs: Vec<PlugRef>,
    /// Connect: none means the system slot named like the plug; an empty slot name, the
    /// single slot of the plug's interface on that SDK.
    #[serde(default)]
    pub slots: Vec<SlotRef>,
    /// Connect: the caller's session variables the desktop and ssh-agent interfaces need
    /// ([`SESSION_VARIABLES`]), read from the client's environment (the daemon cannot see the
    /// user's session).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Connect: a tunnel listening on a host port that is taken listens on a free one instead
    /// (as the plug's `auto-port` attribute asks at launch); `info` shows which.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_port: bool,
}

/// The session variables a client sends with a connect (and the only ones the daemon takes).
pub const SESSION_VARIABLES: [&str; 5] =
    ["WAYLAND_DISPLAY", "DISPLAY", "XAUTHORITY", "XDG_RUNTIME_DIR", "SSH_AUTH_SOCK"];

/// The body of `POST /v1/projects/{id}/workshops/{name}/mounts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct MountsRequest {
    /// `remount`.
    pub action: String,
    /// A plug connected to the system `mount` slot.
    pub plug: PlugRef,
    /// From now on, the absolute host directory it takes its files from.
    pub host_source: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_is_kebab_case_and_terse() {
        let plug =
            PlugRef { project_id: "p".into(), workshop: "ws".into(), sdk: "s".into(), plug: "one".into() };
        let slot = SlotRef {
            project_id: "p".into(),
            workshop: "ws".into(),
            sdk: "system".into(),
            slot: "mount".into(),
        };
        let c = ConnectionInfo {
            slot,
            plug,
            interface: "mount".into(),
            manual: false,
            plug_attrs: BTreeMap::new(),
            slot_attrs: BTreeMap::new(),
        };
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "slot": {"project-id": "p", "workshop": "ws", "sdk": "system", "slot": "mount"},
                "plug": {"project-id": "p", "workshop": "ws", "sdk": "s", "plug": "one"},
                "interface": "mount"
            })
        );
        let all: Connections = serde_json::from_value(serde_json::json!({"established": [json]})).unwrap();
        assert_eq!(all.established, [c]);
    }
}
