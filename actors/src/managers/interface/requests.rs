//! `workshop connect` and `disconnect` (reference-inventory §4.1 "Disconnect semantics",
//! §8.7): what changes in the connection state, planned as a change whose `connect` or
//! `disconnect` task records it and whose `setup-profiles` applies it.

use std::collections::BTreeMap;

use chrono::Utc;
use workshop_api::definition::EndpointRef;

use super::conns::{self, ConnState, WorkshopConns};
use super::repo::{ConnRef, Repo};
use super::{InterfaceError, handlers, policy, staging};
use crate::managers::UserRef;
use crate::managers::task::{self, TaskTarget, add_task};
use crate::managers::workshop::status;
use crate::state::{Key, State};

/// Connection entries to set, by key (`None`: removed).
pub type Edits = Vec<(String, Option<ConnState>)>;

/// Task data: the connection entries a `connect` or `disconnect` sets.
pub const EDITS: Key<Edits> = Key::new("conn-edits");
/// Task data: the entries as they were before (for the undo).
pub const PREVIOUS: Key<Edits> = Key::new("conn-previous");

/// What the user asked: connect a plug to a slot, or disconnect.
#[derive(Debug, Clone)]
pub enum Request {
    /// `slot` `None`: the slot of the system SDK named like the plug; a slot whose name is
    /// empty: the single slot of the plug's interface on that SDK.
    /// `environment`: the caller's session variables (desktop, ssh-agent).
    Connect { plug: EndpointRef, slot: Option<EndpointRef>, environment: BTreeMap<String, String> },
    /// `other` `None`: every connection of `first` (a plug, else a slot).
    Disconnect { first: EndpointRef, other: Option<EndpointRef>, forget: bool },
}

/// Connects or disconnects in workshop `workshop` of `user`'s project `project_id` (checked
/// as theirs by the front); returns the change.
#[derive(actix::Message)]
#[rtype(result = "Result<String, InterfaceError>")]
pub struct ChangeConnections {
    pub user: UserRef,
    pub project_id: String,
    pub workshop: String,
    pub request: Request,
    /// Connect: a taken host port of a tunnel is replaced by a free one ([`super::ports`]).
    pub auto_port: bool,
}

fn bad(message: String) -> InterfaceError {
    InterfaceError::BadRequest(message)
}

/// The entries a request sets, given the repository and the current state.
pub fn edits(
    repo: &Repo,
    current: &WorkshopConns,
    request: &Request,
    data: Option<&std::path::Path>,
    t: &TaskTarget,
) -> Result<Vec<(String, Option<ConnState>)>, InterfaceError> {
    let mut out = Vec::new();
    match request {
        Request::Connect { plug, slot, environment } => {
            let slot = super::resolve::connect(repo, &t.name, plug, slot.as_ref())
                .map_err(|e| bad(format!("cannot resolve connection: {e}")))?;
            let master = repo.master(plug);
            let (p, s) = (repo.plug(&master).expect("binds are checked"), repo.slot(&slot).expect("found"));
            policy::check_connection(p, s)
                .map_err(|e| bad(format!("cannot connect \"{plug}\" to \"{slot}\": {e}")))?;
            let conn = ConnRef { plug: master.clone(), slot: slot.clone() };
            if policy::one_slot_only(&p.interface)
                && let Some(other) = current
                    .iter()
                    .filter(|(_, c)| c.connected())
                    .filter_map(|(k, _)| conns::parse_key(k))
                    .find(|c| c.plug == master && c.slot != slot)
            {
                return Err(bad(format!(
                    "cannot connect \"{plug}\" to \"{slot}\": its {} is connected to \"{}\" (disconnect that first)",
                    p.interface, other.slot
                )));
            }
            if !handlers::is_built(&conn, repo) {
                return Err(bad(format!(
                    "cannot connect \"{plug}\" to \"{slot}\": connections of the {:?} interface are not supported yet",
                    p.interface
                )));
            }
            // Needed only for what is not connected yet (a connect of a connected plug is
            // fine without a session).
            let session = super::session::of_request(&p.interface, environment, &t.user);
            let master_state = current.get(&conn.to_string()).filter(|c| c.connected()).cloned();
            let host_source = match master_state.as_ref().and_then(|c| c.host_source.clone()) {
                Some(source) => Some(source),
                None if staging::is_host_mount(&conn) => {
                    let data = data
                        .ok_or_else(|| bad(format!("cannot find the home directory of {:?}", t.user.name)))?;
                    Some(
                        super::mount::default_host_source(data, &t.project_id, &t.name, &master)
                            .display()
                            .to_string(),
                    )
                }
                None => None,
            };
            let remounted = master_state.as_ref().is_some_and(|c| c.remounted);
            let mut group = vec![(conn.clone(), None)];
            group.extend(
                repo.bound_to(&master)
                    .into_iter()
                    .map(|b| (ConnRef { plug: b, slot: slot.clone() }, Some(conn.to_string()))),
            );
            for (c, bound_to) in group {
                if current.get(&c.to_string()).is_some_and(ConnState::connected) {
                    continue;
                }
                let state = ConnState {
                    interface: p.interface.clone(),
                    auto: false,
                    undesired: false,
                    bound_to,
                    host_source: host_source.clone(),
                    remounted,
                    session: session
                        .clone()
                        .map_err(|e| bad(format!("cannot connect \"{plug}\" to \"{slot}\": {e}")))?,
                    host_port: None,
                };
                out.push((c.to_string(), Some(state)));
            }
        }
        Request::Disconnect { first, other, forget } => {
            let connected: Vec<ConnRef> = current
                .iter()
                .filter(|(_, c)| c.connected() || *forget)
                .filter_map(|(k, _)| conns::parse_key(k))
                .collect();
            let ws = &t.name;
            let is_plug = repo.plug(first).is_some();
            match other {
                // As the reference: a plug and a slot name one connection, which must be there.
                Some(slot) => {
                    if !*forget {
                        repo.plug(first).ok_or_else(|| bad(super::resolve::no_plug(ws, first)))?;
                        repo.slot(slot).ok_or_else(|| bad(super::resolve::no_slot(ws, slot)))?;
                    }
                    let conn = ConnRef { plug: first.clone(), slot: slot.clone() };
                    if !connected.contains(&conn) {
                        return Err(bad(if *forget {
                            format!(
                                "cannot forget connection between \"{ws}/{first}\" and \"{ws}/{slot}\": not connected"
                            )
                        } else {
                            format!("cannot disconnect \"{ws}/{first}\" from \"{ws}/{slot}\": not connected")
                        }));
                    }
                }
                // A connection forgotten may name what is gone; otherwise it must be there.
                None if !*forget && !is_plug && repo.slot(first).is_none() => {
                    return Err(bad(super::resolve::no_plug_or_slot(ws, first)));
                }
                None => {}
            }
            let mut chosen: Vec<ConnRef> = connected
                .iter()
                .filter(|c| match other {
                    Some(slot) => c.plug == *first && c.slot == *slot,
                    None if is_plug => c.plug == *first,
                    None => c.slot == *first,
                })
                .cloned()
                .collect();
            // A bound group is disconnected together (B-03).
            for c in chosen.clone() {
                let master = repo.master(&c.plug);
                let mut group = repo.bound_to(&master);
                group.push(master);
                for member in group {
                    let m = ConnRef { plug: member, slot: c.slot.clone() };
                    if connected.contains(&m) && !chosen.contains(&m) {
                        chosen.push(m);
                    }
                }
            }
            for c in chosen {
                let key = c.to_string();
                let Some(state) = current.get(&key) else { continue };
                let next = if *forget || !state.auto {
                    None
                } else {
                    Some(ConnState { undesired: true, ..state.clone() })
                };
                out.push((key, next));
            }
        }
    }
    Ok(out)
}

/// Plans the change of `edits` (checked against the state as it is now): a `connect` or
/// `disconnect` task, then `setup-profiles`. Nothing to change: a connect is a change without
/// tasks, a disconnect is refused with the reference's `nothing to do`.
pub fn plan(
    st: &mut State,
    user: &UserRef,
    t: &TaskTarget,
    request: &Request,
    edits: Vec<(String, Option<ConnState>)>,
) -> Result<String, InterfaceError> {
    // As the reference (§6.4): connections change while the workshop is Ready, Stopped or
    // Waiting (a launch or refresh paused on error), never beside a change that runs.
    if let Some(busy) = status::busy_running(st, &user.name, &t.project_id, &t.name) {
        return Err(bad(format!(
            "cannot change connections of {:?}: {} change is in progress",
            t.name, busy.kind
        )));
    }
    let current = conns::of_workshop(st, &conns::workshop_key(user.uid, &t.project_id, &t.name));
    let edits: Vec<(String, Option<ConnState>)> =
        edits.into_iter().filter(|(k, v)| current.get(k) != v.as_ref()).collect();
    let now = Utc::now();
    let (kind, summary) = match request {
        Request::Connect { plug, .. } => ("connect", format!("Connect {}/{plug}", t.name)),
        Request::Disconnect { first, .. } => ("disconnect", format!("Disconnect {}/{first}", t.name)),
    };
    if edits.is_empty() && kind == "disconnect" {
        return Err(bad("nothing to do".into()));
    }
    let change = task::new_change(st, kind, &summary, user, &t.project_id, now);
    if edits.is_empty() {
        // Already so: a change that is done at once.
        st.set_change_status(&change, crate::state::Status::Done, now);
        return Ok(change);
    }
    if kind == "connect" && status::exec_active(st, &user.name, &t.project_id, &t.name) {
        // As the reference: what a session set up when it started (its environment, a
        // tunnel's socket path) does not know of the new connection.
        st.warn(Some(user.uid), &crate::messages::sessions_need_restart(&t.name), now);
    }
    let id = add_task(st, &change, kind, &summary, t, None, now);
    st.task_mut(&id).expect("new task exists").write(&EDITS, &edits);
    let ws = &t.name;
    add_task(
        st,
        &change,
        "setup-profiles",
        &format!("Set up interface profiles of {ws:?}"),
        t,
        Some(&id),
        now,
    );
    Ok(change)
}

/// Applies `edits` to a workshop's entries; returns what they were.
pub fn apply(
    all: &mut BTreeMap<String, ConnState>,
    edits: &[(String, Option<ConnState>)],
) -> Vec<(String, Option<ConnState>)> {
    let mut previous = Vec::new();
    for (key, next) in edits {
        let before = match next {
            Some(state) => all.insert(key.clone(), state.clone()),
            None => all.remove(key),
        };
        previous.push((key.clone(), before));
    }
    previous
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use workshop_api::definition::WorkshopFile;
    use workshop_api::sdk::{SdkInfo, Strictness};

    use super::*;

    fn repo() -> Repo {
        let system =
            SdkInfo::parse(include_str!("../../sdk/system/meta/sdk.yaml"), Strictness::Strict).unwrap();
        let mount = SdkInfo::parse(
            "name: m\nplugs:\n  one: {interface: mount, workshop-target: /mnt/one}\n  two: {interface: mount, workshop-target: /opt/two}\n  gpu:\n  camera:\n  desktop:\n  ssh-agent:\nslots:\n  jobs: {interface: mount, workshop-source: /x}\n",
            Strictness::Strict,
        )
        .unwrap();
        let multi = SdkInfo::parse(
            "name: n\nplugs:\n  one: {interface: mount, workshop-target: /mnt/one}\n",
            Strictness::Strict,
        )
        .unwrap();
        let mut file = WorkshopFile::new(
            "ws",
            "ubuntu@22.04",
            vec![workshop_api::definition::SdkRecord::new("project-n", None)],
        );
        file.sdks[0]
            .plugs
            .insert("one".into(), workshop_api::definition::PlugDef::Bind(EndpointRef::new("m", "one")));
        Repo::build(&[("system".into(), system), ("m".into(), mount), ("n".into(), multi)], &file).unwrap()
    }

    fn target() -> TaskTarget {
        TaskTarget {
            name: "ws".into(),
            project_id: "0123abcd".into(),
            project_path: String::new(),
            user: UserRef { name: "u".into(), uid: 1000, gid: 1000, data_home: None },
        }
    }

    fn auto_state(repo: &Repo) -> WorkshopConns {
        let t = target();
        repo.auto_connections(&WorkshopFile::new("ws", "ubuntu@22.04", Vec::new()), &BTreeSet::new())
            .into_iter()
            .map(|a| {
                let state = ConnState {
                    interface: "mount".into(),
                    auto: true,
                    undesired: false,
                    bound_to: a.bound_to.map(|b| b.to_string()),
                    host_source: Some(format!("/d/{}", t.name)),
                    remounted: false,
                    session: Default::default(),
                    host_port: None,
                };
                (a.conn.to_string(), state)
            })
            .collect()
    }

    fn keys(edits: &[(String, Option<ConnState>)]) -> Vec<(String, Option<(bool, bool)>)> {
        edits.iter().map(|(k, v)| (k.clone(), v.as_ref().map(|s| (s.auto, s.undesired)))).collect()
    }

    #[test]
    fn disconnecting_an_auto_connection_makes_it_undesired_and_connecting_makes_it_manual() {
        let repo = repo();
        let mut current = auto_state(&repo);
        let t = target();
        let d = std::path::Path::new("/home/u/.local/share");
        let request = Request::Disconnect { first: EndpointRef::new("m", "two"), other: None, forget: false };
        let e = edits(&repo, &current, &request, Some(d), &t).unwrap();
        assert_eq!(keys(&e), [("m:two system:mount".to_string(), Some((true, true)))]);
        apply(&mut current, &e);
        let request = Request::Connect {
            plug: EndpointRef::new("m", "two"),
            slot: Some(EndpointRef::new("system", "")),
            environment: BTreeMap::new(),
        };
        let e = edits(&repo, &current, &request, Some(d), &t).unwrap();
        assert_eq!(keys(&e), [("m:two system:mount".to_string(), Some((false, false)))]);
        // Forget drops the entry whatever it is.
        let request = Request::Disconnect { first: EndpointRef::new("m", "two"), other: None, forget: true };
        assert_eq!(
            keys(&edits(&repo, &current, &request, Some(d), &t).unwrap()),
            [("m:two system:mount".to_string(), None)]
        );
    }

    #[test]
    fn a_slot_disconnects_everything_and_bound_groups_go_together() {
        let repo = repo();
        let current = auto_state(&repo);
        let t = target();
        let request =
            Request::Disconnect { first: EndpointRef::new("system", "mount"), other: None, forget: false };
        let e = edits(&repo, &current, &request, None, &t).unwrap();
        let names: Vec<String> = e.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(names, ["m:one system:mount", "m:two system:mount", "n:one system:mount"]);
        // B-03: the bound plug takes its master along.
        let request = Request::Disconnect {
            first: EndpointRef::new("n", "one"),
            other: Some(EndpointRef::new("system", "mount")),
            forget: false,
        };
        let e = edits(&repo, &current, &request, None, &t).unwrap();
        let names: Vec<String> = e.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(names, ["n:one system:mount", "m:one system:mount"]);
    }

    #[test]
    fn connect_forms_and_refusals() {
        let repo = repo();
        let t = target();
        let d = std::path::Path::new("/home/u/.local/share");
        let none = WorkshopConns::new();
        // One argument: the system slot named like the plug, else the system's one slot of
        // its interface (there is no system:one).
        let request =
            Request::Connect { plug: EndpointRef::new("m", "one"), slot: None, environment: BTreeMap::new() };
        let e = edits(&repo, &none, &request, Some(d), &t).unwrap();
        assert_eq!(e[0].0, "m:one system:mount");
        // A bound plug connects its group, sharing the master's host directory.
        let request = Request::Connect {
            plug: EndpointRef::new("n", "one"),
            slot: Some(EndpointRef::new("system", "mount")),
            environment: BTreeMap::new(),
        };
        let e = edits(&repo, &none, &request, Some(d), &t).unwrap();
        assert_eq!(e.len(), 2);
        for (_, state) in &e {
            assert_eq!(
                state.as_ref().unwrap().host_source.as_deref(),
                Some("/home/u/.local/share/workshop/id/0123abcd/ws/mount/m/one")
            );
        }
        // A mount plug on the gpu slot, and interfaces not built yet.
        let request = Request::Connect {
            plug: EndpointRef::new("m", "one"),
            slot: Some(EndpointRef::new("system", "gpu")),
            environment: BTreeMap::new(),
        };
        assert_eq!(
            edits(&repo, &none, &request, Some(d), &t).unwrap_err().to_string(),
            "cannot resolve connection: mount plug \"ws/m:one\" incompatible with gpu slot \"ws/system:gpu\""
        );
        let request =
            Request::Connect { plug: EndpointRef::new("m", "gpu"), slot: None, environment: BTreeMap::new() };
        assert_eq!(edits(&repo, &none, &request, Some(d), &t).unwrap().len(), 1);
        let request = Request::Connect {
            plug: EndpointRef::new("m", "camera"),
            slot: None,
            environment: BTreeMap::new(),
        };
        assert_eq!(edits(&repo, &none, &request, Some(d), &t).unwrap().len(), 1);
        // The session interfaces need the caller's variables, and keep what they give.
        let desktop = |env: &[(&str, &str)]| Request::Connect {
            plug: EndpointRef::new("m", "desktop"),
            slot: Some(EndpointRef::new("system", "desktop")),
            environment: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        assert_eq!(
            edits(&repo, &none, &desktop(&[]), Some(d), &t).unwrap_err().to_string(),
            "cannot connect \"m:desktop\" to \"system:desktop\": neither DISPLAY nor WAYLAND_DISPLAY is set in the environment of the caller"
        );
        let e = edits(&repo, &none, &desktop(&[("DISPLAY", ":1"), ("SSH_AUTH_SOCK", "/a")]), Some(d), &t)
            .unwrap();
        let state = e[0].1.as_ref().unwrap();
        assert_eq!(state.session, BTreeMap::from([("x11-display".to_string(), "1".to_string())]));
        // Connected already: nothing to do, with or without a session.
        let connected: WorkshopConns = e.iter().map(|(k, v)| (k.clone(), v.clone().unwrap())).collect();
        assert!(edits(&repo, &connected, &desktop(&[]), Some(d), &t).unwrap().is_empty());
        let agent = Request::Connect {
            plug: EndpointRef::new("m", "ssh-agent"),
            slot: None,
            environment: BTreeMap::from([("SSH_AUTH_SOCK".to_string(), "/tmp/a.sock".to_string())]),
        };
        let e = edits(&repo, &none, &agent, Some(d), &t).unwrap();
        assert_eq!(e[0].1.as_ref().unwrap().session["ssh-auth-sock"], "/tmp/a.sock");
        // A mount plug connected to one source is not stacked with a second.
        let auto = auto_state(&repo);
        let request = Request::Connect {
            plug: EndpointRef::new("m", "two"),
            slot: Some(EndpointRef::new("m", "jobs")),
            environment: BTreeMap::new(),
        };
        assert_eq!(
            edits(&repo, &auto, &request, Some(d), &t).unwrap_err().to_string(),
            "cannot connect \"m:two\" to \"m:jobs\": its mount is connected to \"system:mount\" (disconnect that first)"
        );
        assert_eq!(edits(&repo, &none, &request, Some(d), &t).unwrap().len(), 1);
        let request = Request::Connect {
            plug: EndpointRef::new("m", "nope"),
            slot: None,
            environment: BTreeMap::new(),
        };
        assert_eq!(
            edits(&repo, &none, &request, Some(d), &t).unwrap_err().to_string(),
            "cannot resolve connection: \"ws/m\" SDK has no plug named \"nope\""
        );
        // The forms of disconnect that name nothing there, in the reference's words.
        let disconnect = |first: (&str, &str), other: Option<(&str, &str)>, forget: bool| {
            let request = Request::Disconnect {
                first: EndpointRef::new(first.0, first.1),
                other: other.map(|(s, n)| EndpointRef::new(s, n)),
                forget,
            };
            edits(&repo, &none, &request, Some(d), &t).map(|e| e.len()).map_err(|e| e.to_string())
        };
        assert_eq!(
            disconnect(("m", "nope"), None, false),
            Err("\"ws/m\" SDK has no plug or slot named \"nope\"".into())
        );
        assert_eq!(disconnect(("m", "nope"), None, true), Ok(0));
        assert_eq!(
            disconnect(("m", "nope"), Some(("system", "mount")), false),
            Err("\"ws/m\" SDK has no plug named \"nope\"".into())
        );
        assert_eq!(
            disconnect(("m", "one"), Some(("system", "nope")), false),
            Err("\"ws/system\" SDK has no slot named \"nope\"".into())
        );
        assert_eq!(
            disconnect(("m", "one"), Some(("system", "mount")), false),
            Err("cannot disconnect \"ws/m:one\" from \"ws/system:mount\": not connected".into())
        );
        assert_eq!(
            disconnect(("m", "one"), Some(("system", "mount")), true),
            Err("cannot forget connection between \"ws/m:one\" and \"ws/system:mount\": not connected".into())
        );
    }

    /// A manual mount connection's state.
    fn manual_mount() -> ConnState {
        ConnState {
            interface: "mount".into(),
            auto: false,
            undesired: false,
            bound_to: None,
            host_source: None,
            remounted: false,
            session: Default::default(),
            host_port: None,
        }
    }

    #[test]
    fn plans_skip_what_is_already_so() {
        let mut st = State::new();
        let t = target();
        let user = t.user.clone();
        let request = Request::Disconnect { first: EndpointRef::new("m", "one"), other: None, forget: false };
        assert_eq!(plan(&mut st, &user, &t, &request, Vec::new()).unwrap_err().to_string(), "nothing to do");
        let request =
            Request::Connect { plug: EndpointRef::new("m", "one"), slot: None, environment: BTreeMap::new() };
        let change = plan(&mut st, &user, &t, &request, Vec::new()).unwrap();
        assert!(st.change_tasks(&change).is_empty());
        assert!(st.change_ready(&change));
        let state = manual_mount();
        let change =
            plan(&mut st, &user, &t, &request, vec![("m:one system:mount".into(), Some(state))]).unwrap();
        let kinds: Vec<String> = st.change_tasks(&change).iter().map(|t| t.kind.clone()).collect();
        assert_eq!(kinds, ["connect", "setup-profiles"]);
        assert_eq!(st.change(&change).unwrap().summary, "Connect ws/m:one");
        // The workshop is busy with that change now.
        let again = plan(&mut st, &user, &t, &request, Vec::new()).unwrap_err().to_string();
        assert!(again.contains("connect change is in progress"), "{again}");
    }

    #[test]
    fn connections_change_beside_a_paused_launch_but_not_beside_a_running_change() {
        let mut st = State::new();
        let t = target();
        let user = t.user.clone();
        let now = Utc::now();
        let launch = task::new_change(&mut st, "launch", "Launch \"ws\" workshop", &user, &t.project_id, now);
        let hook = add_task(&mut st, &launch, "run-hook", "Run hook \"setup-base\"", &t, None, now);
        let request =
            Request::Connect { plug: EndpointRef::new("m", "one"), slot: None, environment: BTreeMap::new() };
        let edits = || vec![("m:one system:mount".to_string(), Some(manual_mount()))];
        // The launch runs: no connection changes beside it.
        st.set_task_status(&hook, crate::state::Status::Doing, now);
        let refused = plan(&mut st, &user, &t, &request, edits()).unwrap_err().to_string();
        assert_eq!(refused, "cannot change connections of \"ws\": launch change is in progress");
        // Paused on error (Waiting): the connection is made.
        st.set_task_to_wait(&hook, crate::state::Status::Doing);
        assert_eq!(st.change_status(&launch), crate::state::Status::Wait);
        let connect = plan(&mut st, &user, &t, &request, edits()).unwrap();
        let kinds: Vec<String> = st.change_tasks(&connect).iter().map(|t| t.kind.clone()).collect();
        assert_eq!(kinds, ["connect", "setup-profiles"]);
        // That connect change runs now: a disconnect waits for it.
        let request = Request::Disconnect { first: EndpointRef::new("m", "one"), other: None, forget: false };
        let edits = vec![("m:one system:mount".to_string(), None)];
        let refused = plan(&mut st, &user, &t, &request, edits).unwrap_err().to_string();
        assert_eq!(refused, "cannot change connections of \"ws\": connect change is in progress");
    }

    #[test]
    fn a_connect_beside_a_running_session_warns_that_it_may_need_restarting() {
        let mut st = State::new();
        let t = target();
        let user = t.user.clone();
        let now = Utc::now();
        let state = manual_mount();
        let request =
            Request::Connect { plug: EndpointRef::new("m", "one"), slot: None, environment: BTreeMap::new() };
        let edits = || vec![("m:one system:mount".to_string(), Some(state.clone()))];
        let connect = plan(&mut st, &user, &t, &request, edits()).unwrap();
        assert!(st.all_warnings(user.uid).is_empty(), "no session, no warning");
        st.set_change_status(&connect, crate::state::Status::Done, now);
        let exec = task::new_change(&mut st, "exec", "Execute command \"bash\"", &user, &t.project_id, now);
        add_task(&mut st, &exec, "exec", "Exec command \"bash\"", &t, None, now);
        plan(&mut st, &user, &t, &request, edits()).unwrap();
        let warnings: Vec<String> =
            st.all_warnings(user.uid).iter().map(|w| w.message().to_string()).collect();
        assert_eq!(
            warnings,
            ["active shell sessions in \"ws\" may need restarting for new connections to take effect"]
        );
    }
}
