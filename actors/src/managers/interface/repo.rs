//! The interface repository of one workshop (reference-inventory §4, `ifacemgr.go`): every
//! plug and slot its SDKs declare, with what the definition grafts onto them (inline plugs
//! and slots, `bind:`), attributes normalised by their interface, installation policy
//! checked, binds and mount targets checked; and the connections made without being asked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use workshop_api::definition::{EndpointRef, InterfaceDef, PlugDef, SYSTEM_SDK, WorkshopFile};
use workshop_api::sdk::interfaces::{self, Attributes};
use workshop_api::sdk::{SdkInfo, SdkType};

use super::policy::{self, Side};

/// A plug or a slot in the repository.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// The SDK's bare name.
    pub sdk: String,
    pub name: String,
    pub interface: String,
    pub label: Option<String>,
    /// Normalised attributes ([`interfaces::Interface::normalise_plug`]).
    pub attrs: Attributes,
    /// Declared by (or grafted onto) the system SDK.
    pub system: bool,
}

impl Endpoint {
    /// `<sdk>:<name>`.
    pub fn reference(&self) -> EndpointRef {
        EndpointRef::new(&self.sdk, &self.name)
    }
}

/// A connection of one workshop: plug and slot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnRef {
    pub plug: EndpointRef,
    pub slot: EndpointRef,
}

impl fmt::Display for ConnRef {
    /// The reference's key form, within a workshop: `<sdk>:<plug> <sdk>:<slot>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.plug, self.slot)
    }
}

/// The plugs and slots of one workshop.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Repo {
    pub plugs: Vec<Endpoint>,
    pub slots: Vec<Endpoint>,
    /// Bound plugs: the bound plug → the plug it is bound to (its master).
    pub binds: BTreeMap<EndpointRef, EndpointRef>,
}

impl Repo {
    /// The repository of a workshop made of `sdks` (bare name and metadata, in install order)
    /// as `file` defines it.
    pub fn build(sdks: &[(String, SdkInfo)], file: &WorkshopFile) -> Result<Repo, String> {
        let mut repo = Repo::default();
        for (name, info) in sdks {
            info.check_installable().map_err(|e| e.to_string())?;
            let system = info.sdk_type == SdkType::System || name == SYSTEM_SDK;
            for (plug, def) in &info.plugs {
                repo.plugs.push(endpoint(name, plug, def, Side::Plug, system)?);
            }
            for (slot, def) in &info.slots {
                repo.slots.push(endpoint(name, slot, def, Side::Slot, system)?);
            }
        }
        for record in &file.sdks {
            let bare = record.sdk_name()?.bare;
            if !sdks.iter().any(|(n, _)| *n == bare) {
                return Err(format!("cannot add plugs or slots to SDK {bare:?}: it is not installed"));
            }
            let system = bare == SYSTEM_SDK;
            for (name, def) in &record.plugs {
                match def {
                    PlugDef::Inline(def) => {
                        if repo.plug(&EndpointRef::new(&bare, name)).is_some() {
                            return Err(format!("cannot add plug \"{bare}:{name}\": plug already exists"));
                        }
                        repo.plugs.push(endpoint(&bare, name, def, Side::Plug, system)?);
                    }
                    PlugDef::Bind(master) => {
                        repo.binds.insert(EndpointRef::new(&bare, name), master.clone());
                    }
                }
            }
            for (name, def) in &record.slots {
                if repo.slot(&EndpointRef::new(&bare, name)).is_some() {
                    return Err(format!("cannot add slot \"{bare}:{name}\": slot already exists"));
                }
                repo.slots.push(endpoint(&bare, name, def, Side::Slot, system)?);
            }
        }
        repo.check_binds(&file.name)?;
        repo.check_mount_targets(&file.name)?;
        repo.check_listed_slots(file)?;
        repo.plugs.sort_by(|a, b| (&a.sdk, &a.name).cmp(&(&b.sdk, &b.name)));
        repo.slots.sort_by(|a, b| (&a.sdk, &a.name).cmp(&(&b.sdk, &b.name)));
        Ok(repo)
    }

    pub fn plug(&self, r: &EndpointRef) -> Option<&Endpoint> {
        self.plugs.iter().find(|p| p.sdk == r.sdk && p.name == r.name)
    }

    pub fn slot(&self, r: &EndpointRef) -> Option<&Endpoint> {
        self.slots.iter().find(|s| s.sdk == r.sdk && s.name == r.name)
    }

    /// The plug `r` is bound to, or `r` itself.
    pub fn master(&self, r: &EndpointRef) -> EndpointRef {
        self.binds.get(r).cloned().unwrap_or_else(|| r.clone())
    }

    /// The plugs bound to `master`, sorted.
    pub fn bound_to(&self, master: &EndpointRef) -> Vec<EndpointRef> {
        self.binds.iter().filter(|(_, m)| *m == master).map(|(s, _)| s.clone()).collect()
    }

    /// A bound plug and its master must both exist and be alike: same interface, label and
    /// attributes (reference `ifacemgr.go`, in its words: plugs named `<ws>/<sdk>:<plug>`).
    fn check_binds(&self, ws: &str) -> Result<(), String> {
        let short = |r: &EndpointRef| format!("{ws}/{r}");
        let missing = |r: &EndpointRef| format!("\"{ws}/{}\" SDK has no plug named {:?}", r.sdk, r.name);
        for (bound, master) in &self.binds {
            let Some(m) = self.plug(master) else { return Err(missing(master)) };
            let Some(b) = self.plug(bound) else { return Err(missing(bound)) };
            if b.interface != m.interface {
                return Err(format!(
                    "{} plug {:?} incompatible with {} plug {:?}",
                    b.interface,
                    short(bound),
                    m.interface,
                    short(master)
                ));
            }
            if b.label != m.label || b.attrs != m.attrs {
                return Err(format!(
                    "plugs {:?} and {:?} have different attributes",
                    short(bound),
                    short(master)
                ));
            }
        }
        Ok(())
    }

    /// Two mount plugs that are not bound to each other cannot mount onto one target:
    /// `conflicting target "<t>": plug "<ws>/<a>" must bind to plug "<ws>/<b>"`.
    fn check_mount_targets(&self, ws: &str) -> Result<(), String> {
        let mut by_target: BTreeMap<&str, EndpointRef> = BTreeMap::new();
        let mut plugs: Vec<&Endpoint> = self.plugs.iter().filter(|p| p.interface == "mount").collect();
        plugs.sort_by(|a, b| (&a.sdk, &a.name).cmp(&(&b.sdk, &b.name)));
        for plug in plugs {
            let r = plug.reference();
            if self.binds.contains_key(&r) {
                continue;
            }
            let Some(target) = plug.attrs.get("workshop-target").and_then(|v| v.as_str()) else { continue };
            if let Some(first) = by_target.get(target) {
                return Err(format!(
                    "conflicting target {target:?}: plug \"{ws}/{r}\" must bind to plug \"{ws}/{first}\""
                ));
            }
            by_target.insert(target, r);
        }
        Ok(())
    }

    /// The definition's `connections:` that cannot be made: a plug connecting to one slot at
    /// a time ([`policy::one_slot_only`]) listed with two (`workshop connect` refuses that
    /// too), and a connection the interface would make whose ends do not pair.
    fn check_listed_slots(&self, file: &WorkshopFile) -> Result<(), String> {
        let mut first: BTreeMap<&EndpointRef, &EndpointRef> = BTreeMap::new();
        for c in &file.connections {
            let Some(plug) = self.plug(&c.plug) else { continue };
            // A listed connection the interface would make whose ends do not pair (a
            // privileged port, UDP to TCP): said now, not left unconnected without a word.
            if let Some(slot) = self.slot(&c.slot)
                && policy::auto_connection_rule(plug, slot, true)
            {
                policy::check_connection(plug, slot)
                    .map_err(|e| format!("cannot connect \"{}\" to \"{}\": {e}", c.plug, c.slot))?;
            }
            if !policy::one_slot_only(&plug.interface) {
                continue;
            }
            match first.get(&c.plug) {
                Some(slot) if *slot != &c.slot => {
                    return Err(format!(
                        "cannot connect \"{}\" to both \"{slot}\" and \"{}\": a {} plug connects to one slot",
                        c.plug, c.slot, plug.interface
                    ));
                }
                Some(_) => {}
                None => {
                    first.insert(&c.plug, &c.slot);
                }
            }
        }
        Ok(())
    }

    /// The connections to make at launch (reference `connectAuto`), not counting those in
    /// `existing` (made, or undone by the user: an undesired connection stays undone):
    /// a plug listed in the definition's `connections:` connects only to its listed slot,
    /// when the policy allows; any other plug connects to its single candidate slot, if it
    /// has exactly one. A bound plug follows its master: each connection of a master is also
    /// made for the plugs bound to it.
    pub fn auto_connections(&self, file: &WorkshopFile, existing: &BTreeSet<ConnRef>) -> Vec<AutoConn> {
        let listed: BTreeMap<&EndpointRef, Vec<&EndpointRef>> =
            file.connections.iter().fold(BTreeMap::new(), |mut m, c| {
                m.entry(&c.plug).or_insert_with(Vec::new).push(&c.slot);
                m
            });
        let mut out = Vec::new();
        for plug in &self.plugs {
            let r = plug.reference();
            if self.binds.contains_key(&r) {
                continue;
            }
            let slots: Vec<&Endpoint> = match listed.get(&r) {
                Some(wanted) => wanted
                    .iter()
                    .filter_map(|s| self.slot(s))
                    .filter(|s| policy::allows_auto_connection(plug, s, true))
                    .collect(),
                None => {
                    let candidates: Vec<&Endpoint> = self
                        .slots
                        .iter()
                        .filter(|s| policy::allows_auto_connection(plug, s, false))
                        .collect();
                    if candidates.len() == 1 { candidates } else { Vec::new() }
                }
            };
            for slot in slots {
                let conn = ConnRef { plug: r.clone(), slot: slot.reference() };
                if !existing.contains(&conn) {
                    out.push(AutoConn { conn: conn.clone(), bound_to: None });
                }
                for bound in self.bound_to(&r) {
                    let follower = ConnRef { plug: bound, slot: slot.reference() };
                    if !existing.contains(&follower) {
                        out.push(AutoConn { conn: follower, bound_to: Some(conn.clone()) });
                    }
                }
            }
        }
        out
    }
}

/// A connection made without being asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoConn {
    pub conn: ConnRef,
    /// For a bound plug: the connection of its master it follows.
    pub bound_to: Option<ConnRef>,
}

/// A declared plug or slot in the repository: its interface known, its attributes
/// normalised, its installation allowed.
fn endpoint(sdk: &str, name: &str, def: &InterfaceDef, side: Side, system: bool) -> Result<Endpoint, String> {
    let interface = def.interface_name(name).to_string();
    let bad = |why: String| format!("{sdk:?} SDK has bad plugs or slots: {name} ({why})");
    let known =
        interfaces::interface(&interface).ok_or_else(|| bad(format!("unknown interface {interface:?}")))?;
    let attrs = match side {
        Side::Plug => known.normalise_plug(sdk, def),
        Side::Slot => known.normalise_slot(sdk, def),
    }
    .map_err(bad)?;
    let e =
        Endpoint { sdk: sdk.into(), name: name.into(), interface, label: def.label.clone(), attrs, system };
    policy::check_installation(&e, side)?;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use workshop_api::sdk::Strictness;

    const SYSTEM: &str = include_str!("../../sdk/system/meta/sdk.yaml");

    fn sdk(yaml: &str) -> (String, SdkInfo) {
        let info = SdkInfo::parse(yaml, Strictness::Strict).unwrap();
        (info.name.clone(), info)
    }

    fn file(yaml: &str) -> WorkshopFile {
        let (file, _) = workshop_api::definition::load(yaml, std::path::Path::new("workshop.yaml")).unwrap();
        file
    }

    const MOUNT: &str = "name: test-sdk-mount
plugs:
  one: {interface: mount, workshop-target: /mnt/one}
  two: {interface: mount, workshop-target: /opt/two}
slots:
  jobs: {interface: mount, workshop-source: $SDK/jobs}
";
    const MULTI: &str = "name: test-sdk-multiple-plugs
plugs:
  one: {interface: mount, workshop-target: /mnt/one}
  two: {interface: mount, workshop-target: /opt/two}
  ssh-agent: {interface: ssh-agent}
";
    const SSH: &str = "name: test-sdk-ssh-agent\nplugs:\n  ssh-agent:\n";
    const TUNNEL: &str = "name: test-sdk-tunnel
plugs:
  alias: {interface: tunnel}
  conflict: {interface: tunnel, endpoint: 5432}
  postgres: {interface: tunnel, endpoint: 5432}
slots:
  auto-connect-by-name: {interface: tunnel, endpoint: 9999}
  http: {interface: tunnel, endpoint: '[::1]:8000'}
  unix-abstract: {interface: tunnel, endpoint: '@abstract'}
  unused: {interface: tunnel}
";

    fn conns(auto: &[AutoConn]) -> Vec<String> {
        auto.iter()
            .map(|a| match &a.bound_to {
                None => a.conn.to_string(),
                Some(m) => format!("{} (bound to {})", a.conn, m.plug),
            })
            .collect()
    }

    #[test]
    fn mount_plugs_connect_to_the_host_by_themselves() {
        let f = file("name: ws\nbase: ubuntu@22.04\nsdks: [{name: project-test-sdk-mount}]\n");
        let repo = Repo::build(&[sdk(SYSTEM), sdk(MOUNT)], &f).unwrap();
        let auto = repo.auto_connections(&f, &BTreeSet::new());
        assert_eq!(conns(&auto), ["test-sdk-mount:one system:mount", "test-sdk-mount:two system:mount"]);
        // An existing (or undesired) entry is not made again.
        let existing = BTreeSet::from([auto[0].conn.clone()]);
        assert_eq!(conns(&repo.auto_connections(&f, &existing)), ["test-sdk-mount:two system:mount"]);
        assert_eq!(repo.plug(&EndpointRef::new("test-sdk-mount", "one")).unwrap().attrs["mode"], 0o755);
    }

    #[test]
    fn definition_plugs_slots_and_connections() {
        // C-08.
        let basic = "name: test-sdk-basic-2\n";
        let f = file(
            "name: ws-user-conns
base: ubuntu@22.04
sdks:
  - name: project-test-sdk-basic-2
    slots:
      user-slot: {interface: mount, workshop-source: /project/user-data-2}
  - name: project-test-sdk-mount
    plugs:
      wp-plug: {interface: mount, workshop-target: /mnt/wp-plug}
connections:
  - {plug: 'test-sdk-mount:two', slot: 'test-sdk-basic-2:user-slot'}
  - {plug: 'test-sdk-mount:wp-plug', slot: 'test-sdk-basic-2:user-slot'}
",
        );
        let repo = Repo::build(&[sdk(SYSTEM), sdk(basic), sdk(MOUNT)], &f).unwrap();
        assert_eq!(
            conns(&repo.auto_connections(&f, &BTreeSet::new())),
            [
                "test-sdk-mount:one system:mount",
                "test-sdk-mount:two test-sdk-basic-2:user-slot",
                "test-sdk-mount:wp-plug test-sdk-basic-2:user-slot"
            ]
        );
    }

    #[test]
    fn a_listed_plug_may_connect_to_a_slot_of_its_own_sdk() {
        let f = file(
            "name: ws-mount
base: ubuntu@22.04
sdks:
  - name: project-test-sdk-mount
    plugs:
      jobs: {interface: mount, workshop-target: /etc/cron.weekly}
      ro-workshop: {interface: mount, workshop-target: /mnt/ro-plug, read-only: true}
    slots:
      ro-source: {interface: mount, workshop-source: /opt/ro-slot}
connections:
  - {plug: 'test-sdk-mount:jobs', slot: 'test-sdk-mount:jobs'}
  - {plug: 'test-sdk-mount:ro-workshop', slot: 'test-sdk-mount:ro-source'}
",
        );
        let repo = Repo::build(&[sdk(SYSTEM), sdk(MOUNT)], &f).unwrap();
        assert_eq!(
            conns(&repo.auto_connections(&f, &BTreeSet::new())),
            [
                "test-sdk-mount:jobs test-sdk-mount:jobs",
                "test-sdk-mount:one system:mount",
                "test-sdk-mount:ro-workshop test-sdk-mount:ro-source",
                "test-sdk-mount:two system:mount"
            ]
        );
        let ro = repo.plug(&EndpointRef::new("test-sdk-mount", "ro-workshop")).unwrap();
        assert_eq!(ro.attrs["read-only"], true);
    }

    #[test]
    fn bound_plugs_follow_their_master() {
        // B-01.
        let f = file(
            "name: ws-bind
base: ubuntu@22.04
sdks:
  - name: project-test-sdk-mount
    plugs:
      two: {bind: 'test-sdk-multiple-plugs:two'}
  - name: project-test-sdk-multiple-plugs
    plugs:
      one: {bind: 'test-sdk-mount:one'}
  - name: project-test-sdk-ssh-agent
    plugs:
      ssh-agent: {bind: 'test-sdk-multiple-plugs:ssh-agent'}
",
        );
        let repo = Repo::build(&[sdk(SYSTEM), sdk(MOUNT), sdk(MULTI), sdk(SSH)], &f).unwrap();
        assert_eq!(
            conns(&repo.auto_connections(&f, &BTreeSet::new())),
            [
                "test-sdk-mount:one system:mount",
                "test-sdk-multiple-plugs:one system:mount (bound to test-sdk-mount:one)",
                "test-sdk-multiple-plugs:two system:mount",
                "test-sdk-mount:two system:mount (bound to test-sdk-multiple-plugs:two)"
            ]
        );
        assert_eq!(
            repo.master(&EndpointRef::new("test-sdk-ssh-agent", "ssh-agent")),
            EndpointRef::new("test-sdk-multiple-plugs", "ssh-agent")
        );
    }

    #[test]
    fn unbound_plugs_cannot_share_a_target() {
        let f = file(
            "name: ws\nbase: ubuntu@22.04\nsdks: [{name: project-test-sdk-mount}, {name: project-test-sdk-multiple-plugs}]\n",
        );
        assert_eq!(
            Repo::build(&[sdk(SYSTEM), sdk(MOUNT), sdk(MULTI)], &f).unwrap_err(),
            "conflicting target \"/mnt/one\": plug \"ws/test-sdk-multiple-plugs:one\" must bind to plug \"ws/test-sdk-mount:one\""
        );
    }

    #[test]
    fn a_mount_or_tunnel_plug_is_listed_with_one_slot() {
        let two = "name: two\nslots:\n  a: {interface: mount, workshop-source: /a}\n  b: {interface: mount, workshop-source: /b}\n";
        let f = file(
            "name: ws\nbase: ubuntu@22.04\nsdks: [{name: project-test-sdk-mount}, {name: project-two}]\nconnections:\n  - {plug: 'test-sdk-mount:one', slot: 'two:a'}\n  - {plug: 'test-sdk-mount:one', slot: 'two:b'}\n",
        );
        assert_eq!(
            Repo::build(&[sdk(SYSTEM), sdk(MOUNT), sdk(two)], &f).unwrap_err(),
            "cannot connect \"test-sdk-mount:one\" to both \"two:a\" and \"two:b\": a mount plug connects to one slot"
        );
        // The same pair twice, or two plugs on one slot, are fine.
        let f = file(
            "name: ws\nbase: ubuntu@22.04\nsdks: [{name: project-test-sdk-mount}, {name: project-two}]\nconnections:\n  - {plug: 'test-sdk-mount:one', slot: 'two:a'}\n  - {plug: 'test-sdk-mount:one', slot: 'two:a'}\n  - {plug: 'test-sdk-mount:two', slot: 'two:a'}\n",
        );
        Repo::build(&[sdk(SYSTEM), sdk(MOUNT), sdk(two)], &f).unwrap();
        let f = file(
            "name: ws\nbase: ubuntu@22.04\nsdks: [{name: project-test-sdk-tunnel}]\nconnections:\n  - {plug: 'test-sdk-tunnel:postgres', slot: 'system:a'}\n  - {plug: 'test-sdk-tunnel:postgres', slot: 'system:b'}\n",
        );
        assert_eq!(
            Repo::build(&[sdk(SYSTEM), sdk(TUNNEL)], &f).unwrap_err(),
            "cannot connect \"test-sdk-tunnel:postgres\" to both \"system:a\" and \"system:b\": a tunnel plug connects to one slot"
        );
    }

    #[test]
    fn a_listed_tunnel_whose_ends_do_not_pair_is_refused() {
        let plugs = |endpoint: &str| {
            file(&format!(
                "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: system\n    plugs:\n      web: {{interface: tunnel, endpoint: '{endpoint}'}}\n  - name: project-test-sdk-tunnel\nconnections:\n  - {{plug: 'system:web', slot: 'test-sdk-tunnel:http'}}\n"
            ))
        };
        let err = Repo::build(&[sdk(SYSTEM), sdk(TUNNEL)], &plugs("8123/udp")).unwrap_err();
        assert!(err.starts_with("cannot connect \"system:web\" to \"test-sdk-tunnel:http\": "), "{err}");
        // One that pairs is made; one the interface would not make (open to other machines)
        // is left alone, as an unlisted one.
        let repo = Repo::build(&[sdk(SYSTEM), sdk(TUNNEL)], &plugs("8123")).unwrap();
        let made = conns(&repo.auto_connections(&plugs("8123"), &BTreeSet::new()));
        assert!(made.contains(&"system:web test-sdk-tunnel:http".to_string()), "{made:?}");
        let open = plugs("0.0.0.0:8123");
        let repo = Repo::build(&[sdk(SYSTEM), sdk(TUNNEL)], &open).unwrap();
        let made = conns(&repo.auto_connections(&open, &BTreeSet::new()));
        assert!(!made.iter().any(|c| c.starts_with("system:web ")), "{made:?}");
    }

    #[test]
    fn binds_must_match() {
        let other = "name: other\nplugs:\n  one: {interface: mount, workshop-target: /elsewhere}\n  gone: {interface: mount, workshop-target: /g}\n";
        let f = file(
            "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-other\n    plugs:\n      one: {bind: 'test-sdk-mount:one'}\n  - name: project-test-sdk-mount\n",
        );
        assert_eq!(
            Repo::build(&[sdk(SYSTEM), sdk(other), sdk(MOUNT)], &f).unwrap_err(),
            "plugs \"ws/other:one\" and \"ws/test-sdk-mount:one\" have different attributes"
        );
        let f = file(
            "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-other\n    plugs:\n      nope: {bind: 'test-sdk-mount:one'}\n  - name: project-test-sdk-mount\n",
        );
        assert_eq!(
            Repo::build(&[sdk(SYSTEM), sdk(other), sdk(MOUNT)], &f).unwrap_err(),
            "\"ws/other\" SDK has no plug named \"nope\""
        );
        let f = file(
            "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-test-sdk-ssh-agent\n    plugs:\n      ssh-agent: {bind: 'test-sdk-mount:one'}\n  - name: project-test-sdk-mount\n",
        );
        assert_eq!(
            Repo::build(&[sdk(SYSTEM), sdk(SSH), sdk(MOUNT)], &f).unwrap_err(),
            "ssh-agent plug \"ws/test-sdk-ssh-agent:ssh-agent\" incompatible with mount plug \"ws/test-sdk-mount:one\""
        );
    }

    #[test]
    fn grafted_plugs_and_slots_are_checked() {
        // C-11: a privileged slot grafted onto the system SDK.
        let f = file(
            "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: system\n    slots:\n      user-camera: {interface: camera}\n",
        );
        assert_eq!(
            Repo::build(&[sdk(SYSTEM)], &f).unwrap_err(),
            "installation not allowed by \"user-camera\" slot rule of interface \"camera\""
        );
        let f = file(
            "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-test-sdk-mount\n    plugs:\n      one: {interface: mount, workshop-target: /x}\n",
        );
        assert_eq!(
            Repo::build(&[sdk(SYSTEM), sdk(MOUNT)], &f).unwrap_err(),
            "cannot add plug \"test-sdk-mount:one\": plug already exists"
        );
        let f = file(
            "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-test-sdk-mount\n    plugs:\n      x: {interface: mount, workshop-target: rel}\n",
        );
        assert_eq!(
            Repo::build(&[sdk(SYSTEM), sdk(MOUNT)], &f).unwrap_err(),
            "\"test-sdk-mount\" SDK has bad plugs or slots: x (mount plug \"workshop-target\" must be absolute: \"rel\")"
        );
        let f = file(
            "name: ws\nbase: ubuntu@22.04\nsdks:\n  - name: project-test-sdk-mount\n    plugs:\n      x: {interface: network}\n",
        );
        assert_eq!(
            Repo::build(&[sdk(SYSTEM), sdk(MOUNT)], &f).unwrap_err(),
            "\"test-sdk-mount\" SDK has bad plugs or slots: x (unknown interface \"network\")"
        );
    }

    #[test]
    fn tunnels_of_the_reference_scenario() {
        // C-17.
        let f = file(
            "name: ws-tunnel
base: ubuntu@22.04
sdks:
  - name: system
    plugs:
      auto-connect-by-name: {interface: tunnel, endpoint: '@workshopacbn'}
      conflict: {interface: tunnel, endpoint: '0.0.0.0:8000'}
      test-sdk-http: {interface: tunnel, endpoint: 8001}
      tunnel:
      unix-path: {interface: tunnel, endpoint: $HOME/test-tunnel.sock}
    slots:
      postgres: {interface: tunnel, endpoint: 54321}
      unused: {interface: tunnel}
  - name: project-test-sdk-tunnel
connections:
  - {plug: 'system:test-sdk-http', slot: 'test-sdk-tunnel:http'}
",
        );
        let repo = Repo::build(&[sdk(SYSTEM), sdk(TUNNEL)], &f).unwrap();
        assert_eq!(
            conns(&repo.auto_connections(&f, &BTreeSet::new())),
            [
                "system:auto-connect-by-name test-sdk-tunnel:auto-connect-by-name",
                "system:test-sdk-http test-sdk-tunnel:http"
            ]
        );
    }

    #[test]
    fn gpu_connects_and_manual_only_interfaces_wait() {
        let gpu = "name: test-sdk-gpu\nplugs:\n  gpu:\n";
        let desktop = "name: test-sdk-desktop\nplugs:\n  desktop:\n";
        let f = file(
            "name: ws\nbase: ubuntu@22.04\nsdks: [{name: project-test-sdk-gpu}, {name: project-test-sdk-desktop}]\nconnections:\n  - {plug: 'test-sdk-desktop:desktop', slot: 'system:desktop'}\n",
        );
        let repo = Repo::build(&[sdk(SYSTEM), sdk(gpu), sdk(desktop)], &f).unwrap();
        assert_eq!(conns(&repo.auto_connections(&f, &BTreeSet::new())), ["test-sdk-gpu:gpu system:gpu"]);
    }
}
