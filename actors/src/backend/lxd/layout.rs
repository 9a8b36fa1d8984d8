//! The shape of the LXD layout as pure functions: project names, instance config, the devices
//! of a project's default profile, config and device edits, and the mapping back to
//! [`Instance`].

use std::collections::{BTreeMap, BTreeSet};

use sha3::{Digest, Sha3_256};

use crate::backend::{CreateSpec, Device, Instance, SNAPSHOT_REF_PREFIX, Target};
use crate::lxd::{self, Devices};

/// Config key holding the workshop's project id.
pub(super) const PROJECT_ID_KEY: &str = "user.workshop.project-id";
/// Config key holding the workshop's name.
pub(super) const NAME_KEY: &str = "user.workshop.name";
/// Project config key holding the host user's name.
pub(super) const USERNAME_KEY: &str = "user.workshop.username";
/// Instance config key for starting with the host.
pub(super) const AUTOSTART_KEY: &str = "boot.autostart";
/// DNS domain of the bridge.
pub(super) const DNS_DOMAIN: &str = "wp";
/// Name of the NIC in the projects' default profile (and inside the guest).
pub(super) const NIC_NAME: &str = "eth0";
/// The guest user id (and group id) the host user is mapped to.
pub(super) const GUEST_ID: u32 = 1000;
/// A pool this full (percent) puts the daemon in degraded mode.
pub(super) const FULL_PERCENT: u64 = 90;

/// The user's part of LXD project names: the user name itself when it matches
/// `^[a-zA-Z][-a-zA-Z0-9.]{0,31}$`, else a readable form of it plus a hash of the original, so
/// distinct names never share projects.
pub(super) fn user_key(user: &str) -> String {
    if is_plain_name(user) {
        return user.to_string();
    }
    let mut readable: String =
        user.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }).collect();
    if !readable.starts_with(|c: char| c.is_ascii_alphabetic()) {
        readable.insert(0, 'u');
    }
    readable.truncate(20);
    format!("{}-{}", readable.trim_end_matches('-'), short_hash(user))
}

/// Eight hex digits of a SHA3 digest: enough to keep distinct inputs' names apart.
fn short_hash(input: &str) -> String {
    Sha3_256::digest(input.as_bytes())[..4].iter().map(|b| format!("{b:02x}")).collect()
}

fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 32
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// Prefix of the LXD projects holding users' workshops.
const INSTANCES_PROJECT_PREFIX: &str = "workshop.";

/// The LXD project holding a user's workshops.
pub(super) fn instances_project(user: &str) -> String {
    format!("{INSTANCES_PROJECT_PREFIX}{}", user_key(user))
}

/// The user key of a project [`instances_project`] names, if `project` is one.
pub(super) fn user_key_of_instances_project(project: &str) -> Option<&str> {
    project.strip_prefix(INSTANCES_PROJECT_PREFIX).filter(|key| is_plain_name(key))
}

/// Prefix of the LXD projects holding users' snapshots.
const SNAPSHOTS_PROJECT_PREFIX: &str = "workshop-snapshots.";

/// The LXD project holding a user's snapshots.
pub(super) fn snapshots_project(user: &str) -> String {
    format!("{SNAPSHOTS_PROJECT_PREFIX}{}", user_key(user))
}

/// The user key of a project [`snapshots_project`] names, if `project` is one.
pub(super) fn user_key_of_snapshots_project(project: &str) -> Option<&str> {
    project.strip_prefix(SNAPSHOTS_PROJECT_PREFIX).filter(|key| is_plain_name(key))
}

/// Config key marking a complete layer snapshot (`sdk`); set by the write that completes it.
pub(super) const SNAPSHOT_TYPE_KEY: &str = "user.workshop.snapshot-type";
/// Config key of a snapshot: when a workshop was last made from it or kept it (RFC 3339).
pub(super) const LAST_USED_KEY: &str = "user.workshop.last-used";

/// Whether an instance of a snapshots project is a complete layer snapshot.
pub(super) fn is_layer_snapshot(instance: &lxd::Instance) -> bool {
    instance.config.get(SNAPSHOT_TYPE_KEY).map(String::as_str) == Some("sdk")
}

/// The layer snapshots `instances` (a user's workshops and stashes) were made through: the
/// values of their [`SNAPSHOT_REF_PREFIX`] keys.
pub(super) fn layer_refs<'a>(instances: impl IntoIterator<Item = &'a lxd::Instance>) -> BTreeSet<String> {
    instances
        .into_iter()
        .flat_map(|i| i.config.iter())
        .filter(|(k, _)| k.starts_with(SNAPSHOT_REF_PREFIX))
        .map(|(_, v)| v.clone())
        .collect()
}

/// Whether an unreferenced instance of a snapshots project may go: a snapshot last used
/// `cooldown` ago or more, or a copy left incomplete that long after it was made.
pub(super) fn is_collectable(
    instance: &lxd::Instance,
    now: chrono::DateTime<chrono::Utc>,
    cooldown: std::time::Duration,
) -> bool {
    let parse = super::snapshots::parse_time;
    let last_used = instance.config.get(LAST_USED_KEY).and_then(|t| parse(t));
    let since = last_used.filter(|_| is_layer_snapshot(instance)).or_else(|| parse(&instance.created_at));
    let cooldown = chrono::Duration::from_std(cooldown).unwrap_or(chrono::Duration::MAX);
    // A time that cannot be read keeps it.
    since.is_some_and(|t| t + cooldown <= now)
}

/// The devices of a new snapshot copied from `instance`: the root disk on `pool`, and each of
/// the instance's other devices masked (a copy keeps the devices it is not given).
pub(super) fn snapshot_devices(instance: &lxd::Instance, pool: &str) -> Devices {
    let mut devices: Devices = instance
        .devices
        .keys()
        .map(|name| (name.clone(), Device::from([("type".to_string(), "none".to_string())])))
        .collect();
    devices.insert("root".into(), root_disk(pool));
    devices
}

fn root_disk(pool: &str) -> Device {
    [("type", "disk"), ("pool", pool), ("path", "/")].into_iter().map(|(k, v)| (k.into(), v.into())).collect()
}

/// A snapshot made complete: the guest's mapping and set-up keys of the copy (`volatile.*`,
/// `raw.*`, `security.*`, `image.*`) and the markers, the root disk alone, no profile.
pub(super) fn snapshot_put(
    instance: &lxd::Instance,
    pool: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> lxd::InstancePut {
    let mut put = instance.writable();
    put.config.retain(|k, _| ["volatile.", "raw.", "security.", "image."].iter().any(|p| k.starts_with(p)));
    // The workshop's post-stop hooks name its instance, which a snapshot is not (see
    // `post_stop.rs`): LXD's own, should anyone start it.
    if put.config.contains_key("raw.lxc") {
        put.config.insert("raw.lxc".into(), workshop_raw_lxc(None));
    }
    put.config.insert(LAST_USED_KEY.into(), now.to_rfc3339());
    put.config.insert(SNAPSHOT_TYPE_KEY.into(), "sdk".into());
    put.devices = Devices::from([("root".to_string(), root_disk(pool))]);
    put.profiles = Vec::new();
    put
}

/// The config keys a fork's copy is given (a copy keeps the source's other keys): the
/// caller's, its name and project, a machine id of its own, and not started with the host.
pub(super) fn fork_config(target: &Target, spec: &crate::backend::ForkSpec) -> BTreeMap<String, String> {
    let mut config = spec.config.clone();
    config.insert(PROJECT_ID_KEY.to_string(), target.project_id.clone());
    config.insert(NAME_KEY.to_string(), target.name.clone());
    config.insert(super::machine_id::KEY.to_string(), super::machine_id::new_id());
    config.insert(AUTOSTART_KEY.to_string(), "false".to_string());
    config
}

/// Config of a user's projects: images are shared from the default project, profiles are
/// the project's own, custom volumes live in the default project.
pub(super) fn project_config(user: &str) -> BTreeMap<String, String> {
    [
        ("features.images", "false"),
        ("features.profiles", "true"),
        ("features.storage.volumes", "false"),
        (USERNAME_KEY, user),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `raw.idmap` mapping the host user and group to the guest's 1000.
pub(super) fn raw_idmap(uid: u32, gid: u32) -> String {
    format!("uid {uid} {GUEST_ID}\ngid {gid} {GUEST_ID}")
}

/// `raw.lxc` of workshops: `/tmp` is a tmpfs, as in the reference.
pub(super) const WORKSHOP_RAW_LXC: &str = "lxc.mount.entry = tmpfs tmp tmpfs defaults";

/// A workshop's `raw.lxc`: [`WORKSHOP_RAW_LXC`], then the lines of its post-stop hooks when
/// they are known (see `post_stop.rs`).
pub(super) fn workshop_raw_lxc(post_stop: Option<&str>) -> String {
    match post_stop {
        Some(lines) => format!("{WORKSHOP_RAW_LXC}\n{lines}"),
        None => WORKSHOP_RAW_LXC.to_string(),
    }
}

/// Config of a new instance: id mapping, nesting, `/tmp` on a tmpfs, the caller's keys, and
/// the keys that tie it to its workshop (these win over the caller's).
pub(super) fn instance_config(target: &Target, spec: &CreateSpec) -> BTreeMap<String, String> {
    let mut config = BTreeMap::from([
        ("raw.idmap".to_string(), raw_idmap(spec.host_uid, spec.host_gid)),
        ("raw.lxc".to_string(), WORKSHOP_RAW_LXC.to_string()),
        ("security.nesting".to_string(), "true".to_string()),
    ]);
    config.extend(spec.config.iter().map(|(k, v)| (k.clone(), v.clone())));
    config.insert(PROJECT_ID_KEY.to_string(), target.project_id.clone());
    config.insert(NAME_KEY.to_string(), target.name.clone());
    config
}

/// Config key marking a template instance; it holds the image fingerprint it was made from.
pub(super) const TEMPLATE_KEY: &str = "user.workshop.template";
/// LXD's record of the id mapping an instance's files are shifted to, and of the mapping
/// its next start uses: when they agree, the start does not remap the root filesystem.
const LAST_IDMAP_KEY: &str = "volatile.last_state.idmap";
const NEXT_IDMAP_KEY: &str = "volatile.idmap.next";

/// The template of `user`'s workshops made from `image` with `raw_idmap`:
/// `tpl-<fingerprint, 12>-<hash of user and mapping, 8>`. LXD's bridge wants instance names
/// unique across projects (they are DNS names), hence the user in it.
pub(super) fn template_name(image: &str, user: &str, raw_idmap: &str) -> String {
    let short: String = image.chars().take(12).collect();
    format!("tpl-{short}-{}", short_hash(&format!("{user}\n{raw_idmap}")))
}

/// Config key of a prepared template: a hash of the guest set-up that ran in it (see
/// [`template_setup_file`]). Set once the set-up has completed; a template whose set-up is
/// not the current one is replaced.
pub(super) const TEMPLATE_SETUP_KEY: &str = "user.workshop.template-setup";
/// Where the guest set-up is put in a template, to run as its init. It removes itself at the
/// end, so a template where it is gone after the start has been set up.
pub(super) const TEMPLATE_SETUP_PATH: &str = "/workshop-template-setup";

/// Config of a template: the workshops' id mapping, the guest set-up as init (the template
/// starts once, so that LXD shifts its files to the mapping; the set-up runs with nothing of
/// the guest's boot around it and the template stops when it ends), and the marker.
pub(super) fn template_config(image: &str, raw_idmap: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("raw.idmap".to_string(), raw_idmap.to_string()),
        ("raw.lxc".to_string(), format!("lxc.init.cmd = {TEMPLATE_SETUP_PATH}")),
        (TEMPLATE_KEY.to_string(), image.to_string()),
    ])
}

/// The executable put at [`TEMPLATE_SETUP_PATH`]: the set-up, then its own removal (the
/// set-up stops the script at its first failure and never exits early when it succeeds).
pub(super) fn template_setup_file(setup: &str) -> String {
    format!("#!/bin/sh\n{setup}\nrm -f {TEMPLATE_SETUP_PATH}\n")
}

/// The value of [`TEMPLATE_SETUP_KEY`] for a template set up with `setup`.
pub(super) fn setup_hash(setup: &str) -> String {
    Sha3_256::digest(template_setup_file(setup).as_bytes())[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Keys of a template or snapshot that a workshop copied from it drops (LXD does not store
/// keys with empty values, and a copy keeps the source's keys it is not given). Its
/// `raw.lxc` is the workshop's own, which [`instance_config`] gives.
pub(super) fn copy_overrides() -> [(String, String); 4] {
    [
        (TEMPLATE_KEY.to_string(), String::new()),
        (TEMPLATE_SETUP_KEY.to_string(), String::new()),
        (SNAPSHOT_TYPE_KEY.to_string(), String::new()),
        (LAST_USED_KEY.to_string(), String::new()),
    ]
}

/// Whether a template has been shifted: stopped, with its files shifted to the mapping its
/// copies start with.
pub(super) fn is_shifted(instance: &lxd::Instance) -> bool {
    let last = instance.config.get(LAST_IDMAP_KEY).map(String::as_str).unwrap_or_default();
    instance.config.contains_key(TEMPLATE_KEY)
        && !instance.is_running()
        && !matches!(last, "" | "[]")
        && instance.config.get(NEXT_IDMAP_KEY).map(String::as_str) == Some(last)
}

/// Whether a template is ready to copy: shifted, and set up with the set-up whose hash is
/// `setup_hash`.
pub(super) fn is_prepared(instance: &lxd::Instance, setup_hash: &str) -> bool {
    is_shifted(instance) && instance.config.get(TEMPLATE_SETUP_KEY).map(String::as_str) == Some(setup_hash)
}

/// Whether a template was prepared with another set-up (another version of the daemon): it
/// is replaced at once.
pub(super) fn is_stale(instance: &lxd::Instance, setup_hash: &str) -> bool {
    is_shifted(instance)
        && instance.config.get(TEMPLATE_SETUP_KEY).is_some_and(|hash| hash.as_str() != setup_hash)
}

/// Whether an existing instance belongs to `target`'s project (an instance without the key
/// was not made by the daemon and does not).
pub(super) fn belongs_to(config: &BTreeMap<String, String>, target: &Target) -> bool {
    config.get(PROJECT_ID_KEY) == Some(&target.project_id)
}

/// Whether an instance records being one of `target`'s workshop (its instance, stash or
/// rebuild): its project and its workshop name.
pub(super) fn is_generation_of(config: &BTreeMap<String, String>, target: &Target) -> bool {
    belongs_to(config, target) && config.get(NAME_KEY) == Some(&target.name)
}

/// Adds a root disk on `pool` and a NIC on `network` to a profile's devices unless it already
/// has a disk mounted at `/` or a NIC (whatever their names). True when something was added.
pub(super) fn add_profile_devices(devices: &mut Devices, pool: &str, network: &str) -> bool {
    let has = |kind: &str, extra: &dyn Fn(&Device) -> bool| {
        devices.values().any(|d| d.get("type").map(String::as_str) == Some(kind) && extra(d))
    };
    let has_root = has("disk", &|d| d.get("path").map(String::as_str) == Some("/"));
    let has_nic = has("nic", &|_| true);
    let device = |pairs: &[(&str, &str)]| -> Device {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    if !has_root {
        devices.insert("root".into(), device(&[("type", "disk"), ("pool", pool), ("path", "/")]));
    }
    if !has_nic {
        devices.insert(NIC_NAME.into(), device(&[("type", "nic"), ("network", network), ("name", NIC_NAME)]));
    }
    !has_root || !has_nic
}

/// Applies config changes (`None` removes the key). True when something changed.
pub(super) fn apply_config(
    config: &mut BTreeMap<String, String>,
    changes: &[(String, Option<String>)],
) -> bool {
    let mut changed = false;
    for (key, value) in changes {
        changed |= match value {
            Some(value) => config.insert(key.clone(), value.clone()).as_ref() != Some(value),
            None => config.remove(key).is_some(),
        };
    }
    changed
}

/// Adds or replaces a device. True when something changed.
pub(super) fn put_device(devices: &mut Devices, name: &str, device: &Device) -> bool {
    devices.insert(name.to_string(), device.clone()).as_ref() != Some(device)
}

/// Maps an LXD instance of `user`'s project to a workshop; None for instances the daemon did
/// not make (no project id).
pub(super) fn to_instance(user: &str, instance: lxd::Instance) -> Option<Instance> {
    let project_id = instance.config.get(PROJECT_ID_KEY)?.clone();
    let name = match instance.config.get(NAME_KEY) {
        Some(name) => name.clone(),
        None => instance.name.strip_suffix(&format!("-{project_id}"))?.to_string(),
    };
    // A stash (`stash-<ws>-<pid>`) records the workshop it was, but is no workshop.
    if instance.name != format!("{name}-{project_id}") {
        return None;
    }
    let running = instance.is_running();
    let autostart = instance.config.get(AUTOSTART_KEY).is_some_and(|v| v == "true");
    Some(Instance {
        target: Target::new(user, &project_id, &name),
        running,
        autostart,
        config: instance.config,
        devices: instance.devices,
    })
}

/// The degraded-mode reason for a pool that is [`FULL_PERCENT`] or more used.
pub(super) fn space_problem(pool: &str, used: u64, total: u64) -> Option<String> {
    if total == 0 {
        return None;
    }
    let percent = used.saturating_mul(100) / total;
    (percent >= FULL_PERCENT).then(|| {
        format!(
            "storage pool {pool:?} is {percent}% full ({} of {} used): remove workshops you no longer \
             need ('workshop remove') or give the pool more space",
            gib(used),
            gib(total)
        )
    })
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::super::machine_id;
    use super::*;

    fn strings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn plain_user_names_are_kept() {
        assert_eq!(user_key("alice"), "alice");
        assert_eq!(user_key("a.b-c9"), "a.b-c9");
        assert_eq!(instances_project("alice"), "workshop.alice");
        assert_eq!(snapshots_project("alice"), "workshop-snapshots.alice");
        let longest = format!("a{}", "b".repeat(31));
        assert_eq!(user_key(&longest), longest);
    }

    #[test]
    fn other_user_names_are_sanitised_and_hashed() {
        let key = user_key("john_doe");
        assert!(key.starts_with("john-doe-"), "{key}");
        assert_eq!(key.len(), "john-doe-".len() + 8);
        assert_eq!(key, user_key("john_doe"), "deterministic");
        assert_ne!(key, user_key("john-doe"));
        assert_ne!(key, user_key("john.doe"));
        assert_ne!(user_key("john_doe"), user_key("john@doe"), "same readable part, other hash");
        for odd in ["1000", "_x", "", "éloïse", &format!("a{}", "b".repeat(40))] {
            let key = user_key(odd);
            assert!(is_plain_name(&key), "{odd:?} -> {key:?}");
        }
        assert!(user_key("1000").starts_with("u1000-"));
    }

    #[test]
    fn instances_projects_give_back_their_user_key() {
        for user in ["alice", "john_doe", "1000", "a.b-c9"] {
            let key = user_key(user);
            assert_eq!(user_key_of_instances_project(&instances_project(user)), Some(key.as_str()));
        }
        for other in
            ["default", "workshop-snapshots.alice", "workshop.", "workshop.a_b", "workshop.1x", "workshop"]
        {
            assert_eq!(user_key_of_instances_project(other), None, "{other}");
        }
    }

    #[test]
    fn idmap_text() {
        assert_eq!(raw_idmap(1001, 1002), "uid 1001 1000\ngid 1002 1000");
    }

    #[test]
    fn a_fork_is_named_for_itself_and_keeps_what_the_caller_drops_empty() {
        let target = Target::new("alice", "p1", "copy");
        let spec = crate::backend::ForkSpec {
            config: strings(&[("user.workshop.host-sockets", ""), (NAME_KEY, "dev")]),
            devices: BTreeMap::new(),
        };
        let config = fork_config(&target, &spec);
        assert_eq!(config[NAME_KEY], "copy");
        assert_eq!(config[PROJECT_ID_KEY], "p1");
        assert_eq!(config[AUTOSTART_KEY], "false");
        // Not the source's machine id: one of its own each time.
        let id = &config[machine_id::KEY];
        assert_eq!(machine_id::parse(id.as_bytes()).as_ref(), Some(id));
        assert_ne!(&fork_config(&target, &spec)[machine_id::KEY], id);
        // An empty value is how a copy drops a key (LXD stores none).
        assert_eq!(config["user.workshop.host-sockets"], "");
    }

    #[test]
    fn instance_config_ties_to_workshop() {
        let target = Target::new("alice", "p1", "dev");
        let spec = CreateSpec {
            image: "abc".into(),
            host_uid: 1000,
            host_gid: 1000,
            config: strings(&[("user.workshop.file", "dev.yaml"), (PROJECT_ID_KEY, "other")]),
            devices: BTreeMap::new(),
            setup: String::new(),
            snapshot: None,
            rebuild: false,
        };
        let config = instance_config(&target, &spec);
        assert_eq!(config["raw.idmap"], "uid 1000 1000\ngid 1000 1000");
        assert_eq!(config["security.nesting"], "true");
        assert_eq!(config["raw.lxc"], "lxc.mount.entry = tmpfs tmp tmpfs defaults", "/tmp is a tmpfs");
        assert_eq!(workshop_raw_lxc(None), config["raw.lxc"]);
        assert_eq!(
            workshop_raw_lxc(Some("lxc.hook.post-stop =\n")),
            format!("{}\nlxc.hook.post-stop =\n", config["raw.lxc"])
        );
        assert_eq!(config["user.workshop.file"], "dev.yaml");
        assert_eq!(config[PROJECT_ID_KEY], "p1");
        assert_eq!(config[NAME_KEY], "dev");
        assert!(belongs_to(&config, &target));
        assert!(!belongs_to(&config, &Target::new("alice", "p2", "dev")));
        assert!(!belongs_to(&BTreeMap::new(), &target));
    }

    #[test]
    fn profile_devices_are_added_when_missing() {
        let mut devices = Devices::new();
        assert!(add_profile_devices(&mut devices, "workshop", "workshopbr0"));
        assert_eq!(devices["root"], strings(&[("type", "disk"), ("pool", "workshop"), ("path", "/")]));
        assert_eq!(
            devices["eth0"],
            strings(&[("type", "nic"), ("network", "workshopbr0"), ("name", "eth0")])
        );
        assert!(!add_profile_devices(&mut devices, "workshop", "workshopbr0"), "idempotent");

        // A root disk under another name counts; the NIC is still added.
        let mut devices = Devices::from([(
            "rootfs".to_string(),
            strings(&[("type", "disk"), ("pool", "other"), ("path", "/")]),
        )]);
        assert!(add_profile_devices(&mut devices, "workshop", "workshopbr0"));
        assert_eq!(devices.len(), 2);
        assert!(!devices.contains_key("root"));
        assert!(devices.contains_key("eth0"));
    }

    #[test]
    fn config_changes() {
        let mut config = strings(&[("a", "1"), ("b", "2")]);
        assert!(!apply_config(&mut config, &[("a".into(), Some("1".into())), ("x".into(), None)]));
        assert!(apply_config(&mut config, &[("a".into(), Some("3".into())), ("b".into(), None)]));
        assert_eq!(config, strings(&[("a", "3")]));
        assert!(apply_config(&mut config, &[("c".into(), Some("".into()))]));
        assert_eq!(config["c"], "");
    }

    #[test]
    fn device_changes() {
        let disk = strings(&[("type", "disk"), ("source", "/srv"), ("path", "/mnt/x")]);
        let mut devices = Devices::new();
        assert!(put_device(&mut devices, "x", &disk));
        assert!(!put_device(&mut devices, "x", &disk));
        let mut ro = disk.clone();
        ro.insert("readonly".into(), "true".into());
        assert!(put_device(&mut devices, "x", &ro));
        assert_eq!(devices["x"], ro);
    }

    #[test]
    fn instances_map_back_to_workshops() {
        let lxd_instance = |name: &str, config: &[(&str, &str)], status: &str| lxd::Instance {
            name: name.into(),
            status: status.into(),
            config: strings(config),
            ..Default::default()
        };
        let inst = to_instance(
            "alice",
            lxd_instance("dev-p1", &[(PROJECT_ID_KEY, "p1"), (NAME_KEY, "dev")], "Running"),
        )
        .unwrap();
        assert_eq!(inst.target, Target::new("alice", "p1", "dev"));
        assert!(inst.running);
        assert_eq!(inst.workshop_config("project-id"), Some("p1"));

        let inst =
            to_instance("alice", lxd_instance("my-ws-p1", &[(PROJECT_ID_KEY, "p1")], "Stopped")).unwrap();
        assert_eq!(inst.target.name, "my-ws");
        assert!(!inst.running);

        assert!(to_instance("alice", lxd_instance("stray", &[], "Running")).is_none());
        // A stash names the workshop it was but is none.
        let stash = lxd_instance("stash-dev-p1", &[(PROJECT_ID_KEY, "p1"), (NAME_KEY, "dev")], "Stopped");
        assert!(to_instance("alice", stash).is_none());
        assert!(to_instance("alice", lxd_instance("stray", &[(PROJECT_ID_KEY, "p1")], "Running")).is_none());
    }

    #[test]
    fn templates_are_named_by_image_and_mapping() {
        let map = raw_idmap(1001, 1002);
        let image = "ece96a5dc17dcbf24e86d9a7698be41";
        let name = template_name(image, "alice", &map);
        assert!(name.starts_with("tpl-ece96a5dc17d-"), "{name}");
        assert_eq!(name.len(), "tpl-".len() + 12 + 1 + 8);
        assert_ne!(name, template_name(image, "alice", &raw_idmap(1001, 1001)));
        assert_ne!(name, template_name(image, "bob", &map), "names are unique across projects");
        let config = template_config("ece96a5dc17d", &map);
        assert_eq!(config[TEMPLATE_KEY], "ece96a5dc17d");
        assert_eq!(config["raw.idmap"], map);
        assert_eq!(config["raw.lxc"], "lxc.init.cmd = /workshop-template-setup");
        // A copy drops every template-only key; its raw.lxc is given as a workshop's.
        let overrides = copy_overrides();
        for key in config.keys().chain([&TEMPLATE_SETUP_KEY.to_string()]) {
            match key.as_str() {
                "raw.idmap" => {}
                "raw.lxc" => assert!(
                    instance_config(&Target::new("a", "p", "w"), &CreateSpec::default()).contains_key(key)
                ),
                _ => assert!(overrides.iter().any(|(k, v)| k == key && v.is_empty()), "{key}"),
            }
        }
    }

    #[test]
    fn a_snapshot_keeps_the_mapping_and_set_up_keys_and_the_root_disk_alone() {
        let instance = lxd::Instance {
            name: "sdk-go-0123456789abcdef".into(),
            config: strings(&[
                ("volatile.last_state.idmap", "[]"),
                ("raw.idmap", "uid 1000 1000"),
                ("security.nesting", "true"),
                ("boot.autostart", "false"),
                ("user.workshop.project-id", "0123abcd"),
                ("user.workshop.snapshot-0", "sdk-system-0"),
                ("raw.lxc", "lxc.mount.entry = tmpfs tmp tmpfs defaults\nlxc.hook.post-stop =\n"),
            ]),
            devices: Devices::from([
                ("workshop.project".to_string(), Device::from([("type".into(), "none".into())])),
                ("root".to_string(), root_disk("workshop")),
            ]),
            profiles: vec!["default".into()],
            ..Default::default()
        };
        assert!(!is_layer_snapshot(&instance));
        let now = chrono::Utc::now();
        let put = snapshot_put(&instance, "workshop", now);
        let keys: Vec<&str> = put.config.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "raw.idmap",
                "raw.lxc",
                "security.nesting",
                LAST_USED_KEY,
                SNAPSHOT_TYPE_KEY,
                "volatile.last_state.idmap"
            ]
        );
        assert_eq!(put.config["raw.lxc"], WORKSHOP_RAW_LXC, "no hooks naming the workshop's instance");
        assert_eq!(put.devices.keys().collect::<Vec<_>>(), ["root"]);
        assert!(put.profiles.is_empty());
        let complete = lxd::Instance { config: put.config.clone(), ..instance.clone() };
        assert!(is_layer_snapshot(&complete));
        // A copy keeps the source's devices it is not given: all but the root are masked.
        let devices = snapshot_devices(&instance, "workshop");
        assert_eq!(devices["workshop.project"]["type"], "none");
        assert_eq!(devices["root"]["pool"], "workshop");
        // A workshop copied from it drops the markers.
        for key in [SNAPSHOT_TYPE_KEY, LAST_USED_KEY] {
            assert!(copy_overrides().iter().any(|(k, v)| k == key && v.is_empty()), "{key}");
        }
    }

    #[test]
    fn snapshots_are_collected_after_their_cool_down() {
        let hour = std::time::Duration::from_secs(3600);
        let now = chrono::Utc::now();
        let used = |ago: i64| lxd::Instance {
            config: strings(&[
                (SNAPSHOT_TYPE_KEY, "sdk"),
                (LAST_USED_KEY, &(now - chrono::Duration::minutes(ago)).to_rfc3339()),
            ]),
            ..Default::default()
        };
        assert!(!is_collectable(&used(59), now, hour));
        assert!(is_collectable(&used(61), now, hour));
        assert!(is_collectable(&used(0), now, std::time::Duration::ZERO));
        // A copy left incomplete counts from when it was made; an unreadable time keeps it.
        let partial = |created: String| lxd::Instance { created_at: created, ..Default::default() };
        assert!(is_collectable(&partial((now - chrono::Duration::hours(2)).to_rfc3339()), now, hour));
        assert!(!is_collectable(&partial(now.to_rfc3339()), now, hour));
        assert!(!is_collectable(&partial("yesterday".into()), now, hour));
    }

    #[test]
    fn snapshots_projects_give_back_their_user_key() {
        assert_eq!(user_key_of_snapshots_project(&snapshots_project("alice")), Some("alice"));
        assert_eq!(user_key_of_snapshots_project("workshop.alice"), None);
        assert_eq!(user_key_of_snapshots_project("workshop-snapshots."), None);
    }

    #[test]
    fn the_template_setup_removes_itself_at_its_end() {
        let file = template_setup_file("set -eu\ntrue");
        assert!(file.starts_with("#!/bin/sh\nset -eu\ntrue\n"), "{file}");
        assert!(file.ends_with("\nrm -f /workshop-template-setup\n"), "{file}");
        assert_eq!(setup_hash("a"), setup_hash("a"));
        assert_ne!(setup_hash("a"), setup_hash("b"));
    }

    #[test]
    fn a_template_is_prepared_once_shifted_stopped_and_set_up() {
        let map = r#"[{"Isuid":true,"Hostid":1000,"Nsid":1000,"Maprange":1}]"#;
        let template = |config: &[(&str, &str)], status: &str| lxd::Instance {
            name: "tpl-x".into(),
            status: status.into(),
            config: strings(config),
            ..Default::default()
        };
        let setup = setup_hash("set-up");
        let prepared = [
            (TEMPLATE_SETUP_KEY, setup.as_str()),
            (TEMPLATE_KEY, "fp"),
            (LAST_IDMAP_KEY, map),
            (NEXT_IDMAP_KEY, map),
        ];
        assert!(is_prepared(&template(&prepared, "Stopped"), &setup));
        assert!(!is_stale(&template(&prepared, "Stopped"), &setup));
        assert!(!is_prepared(&template(&prepared, "Running"), &setup), "still being prepared");
        assert!(!is_prepared(&template(&prepared[1..], "Stopped"), &setup), "shifted, not yet set up");
        assert!(!is_stale(&template(&prepared[1..], "Stopped"), &setup), "may be in preparation");
        assert!(is_shifted(&template(&prepared[1..], "Stopped")));
        let other = setup_hash("another set-up");
        assert!(!is_prepared(&template(&prepared, "Stopped"), &other));
        assert!(is_stale(&template(&prepared, "Stopped"), &other), "another version's set-up");
        assert!(!is_prepared(&template(&prepared[2..], "Stopped"), &setup), "not a template");
        let never_started = [(TEMPLATE_KEY, "fp"), (LAST_IDMAP_KEY, "[]"), (NEXT_IDMAP_KEY, map)];
        assert!(!is_shifted(&template(&never_started, "Stopped")));
        let other_map = [(TEMPLATE_KEY, "fp"), (LAST_IDMAP_KEY, map), (NEXT_IDMAP_KEY, "[]")];
        assert!(!is_shifted(&template(&other_map, "Stopped")));
    }

    #[test]
    fn full_pools_are_reported() {
        let gib = 1u64 << 30;
        assert_eq!(space_problem("workshop", 0, 0), None);
        assert_eq!(space_problem("workshop", 8 * gib, 10 * gib), None);
        let text = space_problem("workshop", 9 * gib, 10 * gib).unwrap();
        assert!(
            text.starts_with("storage pool \"workshop\" is 90% full (9.0 GiB of 10.0 GiB used)"),
            "{text}"
        );
    }
}
