//! Connection state, kept in the engine's state under `conns` (reference-inventory §4.1,
//! "Connection state"): per workshop (`<uid>/<project id>/<workshop>`, so two users' equal
//! project ids never meet), per connection (`<sdk>:<plug> <sdk>:<slot>`).
//!
//! An entry is `auto` (made at launch) or manual; a user's disconnect of an auto connection
//! leaves it `undesired` (so a later launch step does not make it again) and a forget drops
//! it. Entries that are neither connected nor undesired do not exist.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use workshop_api::definition::EndpointRef;

use super::repo::ConnRef;
use crate::state::{Key, State};

/// One connection's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ConnState {
    pub interface: String,
    /// Made without being asked (at launch).
    #[serde(default)]
    pub auto: bool,
    /// Disconnected by the user after it was made automatically: not connected, and not made
    /// again automatically.
    #[serde(default)]
    pub undesired: bool,
    /// For a bound plug: the connection of its master it follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_to: Option<String>,
    /// For a mount on the host: the host directory (a default one under the user's data, or
    /// the one `remount` chose).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_source: Option<String>,
    /// The host directory was chosen by `remount` (removing the workshop leaves it alone).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remounted: bool,
    /// For the desktop and ssh-agent interfaces: what the caller's session gave at connect
    /// time (host sockets, display, auth file; `session.rs`), kept so that the devices are
    /// made again the same way (restarts, other connections' changes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub session: BTreeMap<String, String>,
    /// For a tunnel listening on the host: the free port it listens on instead of its own,
    /// which was taken when it was connected (`--auto-port`, or the plug's `auto-port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
}

impl ConnState {
    /// Whether the connection is made.
    pub fn connected(&self) -> bool {
        !self.undesired
    }
}

/// The connections of one workshop, by `<sdk>:<plug> <sdk>:<slot>`.
pub type WorkshopConns = BTreeMap<String, ConnState>;

/// Every workshop's connections, by `<uid>/<project id>/<workshop>`.
const CONNS: Key<BTreeMap<String, WorkshopConns>> = Key::new("conns");

/// The key of a workshop in [`CONNS`].
pub fn workshop_key(uid: u32, project_id: &str, workshop: &str) -> String {
    format!("{uid}/{project_id}/{workshop}")
}

/// The connections of a workshop.
pub fn of_workshop(st: &State, key: &str) -> WorkshopConns {
    st.read(&CONNS).and_then(|mut all| all.remove(key)).unwrap_or_default()
}

/// Replaces the connections of a workshop (none: the workshop's entry goes).
pub fn set_workshop(st: &mut State, key: &str, conns: WorkshopConns) {
    let mut all = st.read(&CONNS).unwrap_or_default();
    if conns.is_empty() {
        all.remove(key);
    } else {
        all.insert(key.to_string(), conns);
    }
    st.write(&CONNS, &all);
}

/// Parses a connection key `<sdk>:<plug> <sdk>:<slot>`.
pub fn parse_key(key: &str) -> Option<ConnRef> {
    let (plug, slot) = key.split_once(' ')?;
    let plug: EndpointRef = plug.parse().ok()?;
    let slot: EndpointRef = slot.parse().ok()?;
    Some(ConnRef { plug, slot })
}

/// The connections of `conns` as references (connected and undesired alike): what
/// auto-connect must not make again.
pub fn known(conns: &WorkshopConns) -> BTreeSet<ConnRef> {
    conns.keys().filter_map(|k| parse_key(k)).collect()
}

/// What a refresh's auto-disconnect does to a workshop's entries (reference-inventory.md §4.1, "Refresh
/// and restore"): every connection goes (auto and manual alike), undesired entries stay so
/// that auto-connect does not make them again, manual connections of camera, custom-device,
/// desktop and ssh-agent stay as they are unless the workshop is `reset` (a restore, which
/// brings the defaults back, as the reference's), and the host directories chosen by
/// `remount` are kept aside (plug → directory) for auto-connect to use again.
pub fn split_for_refresh(
    all: &WorkshopConns,
    reset: bool,
) -> (WorkshopConns, WorkshopConns, BTreeMap<String, String>) {
    let mut kept = WorkshopConns::new();
    let mut dropped = WorkshopConns::new();
    let mut remounts = BTreeMap::new();
    for (key, conn) in all {
        // Manual connections of the interfaces that never connect by themselves stay too:
        // nothing would make them again (a deliberate difference from the reference).
        let session = !conn.auto && super::devices::INTERFACES.contains(&conn.interface.as_str());
        if conn.undesired || (session && !reset) {
            kept.insert(key.clone(), conn.clone());
            continue;
        }
        if conn.remounted
            && let (Some(r), Some(source)) = (parse_key(key), conn.host_source.clone())
        {
            remounts.insert(r.plug.to_string(), source);
        }
        dropped.insert(key.clone(), conn.clone());
    }
    (kept, dropped, remounts)
}

/// What a fork takes of its source's connections: the manual ones and those the user undid
/// (so that auto-connect does not make them again); the automatic ones its own auto-connect
/// makes. What was the source's own is left for the fork to choose: the host port a tunnel
/// listens on, and the default host directory of a mount on the host (a directory chosen
/// by `remount` is shared).
pub fn for_fork(source: &WorkshopConns) -> WorkshopConns {
    source
        .iter()
        .filter(|(_, c)| c.undesired || !c.auto)
        .map(|(key, conn)| {
            let mut conn = conn.clone();
            conn.host_port = None;
            if !conn.remounted {
                conn.host_source = None;
            }
            (key.clone(), conn)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fork_takes_manual_and_undesired_connections_without_the_sources_own_places() {
        let conn = |auto: bool, undesired: bool, remounted: bool| ConnState {
            interface: "mount".into(),
            auto,
            undesired,
            host_source: Some("/home/u/data".into()),
            remounted,
            host_port: Some(8080),
            session: BTreeMap::from([("display".to_string(), ":0".to_string())]),
            ..ConnState::default()
        };
        let source = BTreeMap::from([
            ("s:auto system:mount".to_string(), conn(true, false, false)),
            ("s:undone system:mount".to_string(), conn(true, true, false)),
            ("s:manual system:mount".to_string(), conn(false, false, false)),
            ("s:remounted system:mount".to_string(), conn(false, false, true)),
        ]);
        let fork = for_fork(&source);
        let keys: Vec<&str> = fork.keys().map(String::as_str).collect();
        assert_eq!(keys, ["s:manual system:mount", "s:remounted system:mount", "s:undone system:mount"]);
        assert!(fork.values().all(|c| c.host_port.is_none() && c.session.len() == 1));
        assert_eq!(fork["s:manual system:mount"].host_source, None, "the fork's own default directory");
        assert_eq!(fork["s:remounted system:mount"].host_source.as_deref(), Some("/home/u/data"));
        assert!(fork["s:undone system:mount"].undesired);
    }

    #[test]
    fn connections_are_kept_per_user_and_workshop() {
        let mut st = State::new();
        let a = workshop_key(1000, "0123abcd", "ws");
        let b = workshop_key(1001, "0123abcd", "ws");
        let conn = ConnState {
            interface: "mount".into(),
            auto: true,
            undesired: false,
            bound_to: None,
            host_source: Some("/home/u/.local/share/workshop/id/0123abcd/ws/mount/s/one".into()),
            remounted: false,
            session: Default::default(),
            host_port: None,
        };
        set_workshop(&mut st, &a, BTreeMap::from([("s:one system:mount".to_string(), conn.clone())]));
        assert_eq!(of_workshop(&st, &a).len(), 1);
        assert!(of_workshop(&st, &b).is_empty(), "another user's same project id");
        let refs = known(&of_workshop(&st, &a));
        assert_eq!(
            refs.into_iter().collect::<Vec<_>>(),
            [ConnRef { plug: EndpointRef::new("s", "one"), slot: EndpointRef::new("system", "mount") }]
        );
        set_workshop(&mut st, &a, WorkshopConns::new());
        assert!(of_workshop(&st, &a).is_empty());
        // The stored form is the reference's kebab-case.
        let json = serde_json::to_value(&conn).unwrap();
        assert_eq!(json["host-source"], "/home/u/.local/share/workshop/id/0123abcd/ws/mount/s/one");
        assert!(json.get("remounted").is_none());
        assert_eq!(parse_key("nonsense"), None);
    }

    #[test]
    fn refresh_drops_connections_keeps_undesired_ones_and_remounts() {
        let state = |undesired: bool, remounted: bool| ConnState {
            interface: "mount".into(),
            auto: true,
            undesired,
            bound_to: None,
            host_source: Some("/home/u/one".into()),
            remounted,
            session: Default::default(),
            host_port: None,
        };
        let all = BTreeMap::from([
            ("s:one system:mount".to_string(), state(false, true)),
            ("s:two system:mount".to_string(), state(true, false)),
            ("s:three system:mount".to_string(), state(false, false)),
            (
                "s:desktop system:desktop".to_string(),
                ConnState { interface: "desktop".into(), ..Default::default() },
            ),
            (
                "s:camera system:camera".to_string(),
                ConnState { interface: "camera".into(), auto: true, ..Default::default() },
            ),
        ]);
        let (kept, dropped, remounts) = split_for_refresh(&all, false);
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["s:desktop system:desktop", "s:two system:mount"]);
        assert_eq!(
            dropped.keys().collect::<Vec<_>>(),
            ["s:camera system:camera", "s:one system:mount", "s:three system:mount"]
        );
        assert_eq!(remounts, BTreeMap::from([("s:one".to_string(), "/home/u/one".to_string())]));
        // A restore takes the manual desktop connection too.
        let (kept, dropped, _) = split_for_refresh(&all, true);
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["s:two system:mount"]);
        assert!(dropped.contains_key("s:desktop system:desktop"));
    }
}
