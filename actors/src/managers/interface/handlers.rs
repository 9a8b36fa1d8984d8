//! Task handlers of the interface manager (reference-inventory §6.7, InterfaceManager rows).
//! Each is idempotent: after a crash the engine runs a task that was Doing again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use workshop_api::definition::{SYSTEM_SDK, WorkshopFile};
use workshop_api::sdk::{SdkInfo, Strictness};

use super::conns::{self, ConnState, WorkshopConns};
use super::mount::{self, MountPlug};
use super::repo::{AutoConn, ConnRef, Repo};
use super::staging;
use crate::backend::{Device, DropProfiles, GetInstance, HostGpus, HostHotplug, HotplugSupport, SetProfile};
use crate::managers::sdk::spec::installed;
use crate::managers::task::{self, HandlerResult, TaskTarget};
use crate::managers::workshop::manifest::FILE_KEY;
use crate::runner::TaskCtx;
use crate::sdk::TreeStore;
use crate::state::Key;

/// What the interface manager's handlers use besides the backend.
pub struct Interfaces {
    pub engine: actix::Addr<crate::engine::StateEngine>,
    /// Where SDK trees are kept (their `meta/sdk.yaml` declare plugs and slots).
    pub trees: TreeStore,
    /// Root-only directory where host sources are staged for LXD (`staging.rs`).
    pub mounts_dir: PathBuf,
    /// Root-only directory of the files the desktop and ssh-agent connections show the
    /// guest (`session.rs`).
    pub sessions_dir: PathBuf,
}

/// The interface manager's handler environment.
pub type Env = task::Env<Interfaces>;

/// Task data: the connections an auto-connect made (undone by its undo).
const ADDED: Key<Vec<String>> = Key::new("conns-added");
/// Task data: the connections a fork's auto-connect copied from its source (undone by its
/// undo).
const COPIED: Key<Vec<String>> = Key::new("conns-copied");
/// Task data: the connections an auto-disconnect dropped (put back by its undo).
const DROPPED: Key<WorkshopConns> = Key::new("conns-dropped");
/// Task data: the connections a discard-conns dropped (put back by its undo).
const DISCARDED: Key<WorkshopConns> = Key::new("conns-discarded");

/// The interface repository of the workshop as launched: its installed SDKs' plugs and slots
/// and its definition's.
pub async fn load_repo(env: &Env, t: &TaskTarget) -> Result<(Repo, WorkshopFile), String> {
    let instance = env
        .call(GetInstance { target: t.backend() })
        .await?
        .ok_or_else(|| format!("workshop {:?} is not launched", t.name))?;
    let text = instance.config.get(FILE_KEY).cloned().unwrap_or_default();
    let (file, _) = workshop_api::definition::parse(&text, Path::new("workshop.yaml"))
        .map_err(|e| format!("cannot read the definition of {:?}: {e}", t.name))?;
    let sdks = installed(&instance.config);
    let trees = env.trees.clone();
    let infos = tokio::task::spawn_blocking(move || {
        sdks.into_iter()
            .map(|sdk| {
                let text = trees.read_meta(&sdk.tree).map_err(|e| e.to_string())?;
                let strictness = if sdk.source.is_local() { Strictness::Strict } else { Strictness::Lenient };
                let info = SdkInfo::parse(&text, strictness).map_err(|e| e.to_string())?;
                Ok((sdk.name, info))
            })
            .collect::<Result<Vec<(String, SdkInfo)>, String>>()
    })
    .await
    .map_err(|e| e.to_string())??;
    let repo = Repo::build(&infos, &file)?;
    Ok((repo, file))
}

/// Checks that the workshop's plugs and slots make a repository (policy, binds, mount
/// targets) before anything is connected.
pub async fn resolve_interfaces(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let (repo, file) = load_repo(&env, &t).await?;
    // As the reference: each entry names SDKs of the workshop and a plug and slot that meet.
    let known =
        |sdk: &str| sdk == SYSTEM_SDK || file.sdks.iter().any(|s| s.sdk_name().is_ok_and(|n| n.bare == sdk));
    for c in &file.connections {
        let invalid =
            |why: String| format!("invalid connection between \"{}\" and \"{}\": {why}", c.plug, c.slot);
        for sdk in [&c.plug.sdk, &c.slot.sdk] {
            if !known(sdk) {
                return Err(invalid(format!("{sdk:?} SDK not found")));
            }
        }
        super::resolve::connect(&repo, &t.name, &c.plug, Some(&c.slot)).map_err(invalid)?;
    }
    Ok(())
}

fn workshop_key(t: &TaskTarget) -> String {
    conns::workshop_key(t.user.uid, &t.project_id, &t.name)
}

/// The connections whose devices this version can make: mounts on the host and onto
/// another SDK's slot, gpu, tunnels, camera, custom-device, desktop and ssh-agent (see
/// ARCHITECTURE.md, "Not built yet", for what is left).
pub(super) fn is_built(conn: &ConnRef, repo: &Repo) -> bool {
    match repo.plug(&conn.plug).map(|p| p.interface.as_str()) {
        Some("mount") => staging::is_host_mount(conn) || super::guest_mounts::is_guest_mount(conn, repo),
        Some("gpu") => true,
        Some(i) if super::devices::INTERFACES.contains(&i) => true,
        Some("tunnel") => match (repo.plug(&conn.plug), repo.slot(&conn.slot)) {
            (Some(plug), Some(slot)) => super::tunnel::is_built(plug, slot),
            _ => false,
        },
        _ => false,
    }
}

/// Whether `conn` is a gpu connection.
fn is_gpu(conn: &ConnRef, repo: &Repo) -> bool {
    repo.plug(&conn.plug).is_some_and(|p| p.interface == "gpu")
}

/// The state of a connection made automatically: a mount on the host takes its master's
/// default host directory (or the one its master was remounted to).
fn new_state(
    auto: &AutoConn,
    repo: &Repo,
    existing: &WorkshopConns,
    data: Option<&Path>,
    t: &TaskTarget,
) -> Result<ConnState, String> {
    let plug = repo.plug(&auto.conn.plug).ok_or_else(|| format!("no plug {}", auto.conn.plug))?;
    let master = repo.master(&auto.conn.plug);
    let host_source = if staging::is_host_mount(&auto.conn) {
        let master_conn = ConnRef { plug: master.clone(), slot: auto.conn.slot.clone() };
        match existing.get(&master_conn.to_string()).and_then(|c| c.host_source.clone()) {
            Some(source) => Some(source),
            None => {
                let data =
                    data.ok_or_else(|| format!("cannot find the home directory of {:?}", t.user.name))?;
                Some(mount::default_host_source(data, &t.project_id, &t.name, &master).display().to_string())
            }
        }
    } else {
        None
    };
    let remounted =
        auto.bound_to.as_ref().and_then(|m| existing.get(&m.to_string())).is_some_and(|c| c.remounted);
    Ok(ConnState {
        interface: plug.interface.clone(),
        auto: true,
        undesired: false,
        bound_to: auto.bound_to.as_ref().map(ToString::to_string),
        host_source,
        remounted,
        session: Default::default(),
        host_port: None,
    })
}

/// Records the connections the policy makes without being asked (those this version can
/// make); what was there (made, or undone by the user) is kept.
pub async fn auto_connect(mut ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let (repo, file) = load_repo(&env, &t).await?;
    // Needed only for mounts on the host.
    let data = t.user.data_dir();
    // Host directories a refresh's auto-disconnect kept aside (remounted plugs).
    let remounts: BTreeMap<String, String> = ctx.change_get(&remounts_key(&t.name)).unwrap_or_default();
    let ports: BTreeMap<String, u16> = ctx.change_get(&ports_key(&t.name)).unwrap_or_default();
    let key = workshop_key(&t);
    let read_key = key.clone();
    let fork_of = ctx.change_read(&task::keys::FORK_SOURCE);
    let source_key = fork_of.as_ref().map(|source| conns::workshop_key(t.user.uid, &t.project_id, source));
    let (mut all, source) = ctx
        .transact(move |st, _, _| {
            let source = source_key.map(|k| conns::of_workshop(st, &k)).unwrap_or_default();
            (conns::of_workshop(st, &read_key), source)
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut added: Vec<String> = ctx.read(&ADDED).unwrap_or_default();
    let before = all.clone();
    let mut made = Vec::new();
    let mut copied = copy_for_fork(&source, &repo, &mut all, data.as_deref(), &t)?;
    for (name, state) in copied.iter_mut().filter(|(_, s)| s.connected()) {
        if conns::parse_key(name).is_some_and(|r| held_by_source(&r, &repo, &env, &t)) {
            ctx.log(held_note(name, &t, fork_of.as_deref().unwrap_or_default())).await;
            state.undesired = true;
            all.insert(name.clone(), state.clone());
        }
    }
    if !copied.is_empty() {
        let names: Vec<&str> = copied.iter().map(|(k, _)| k.as_str()).collect();
        ctx.log(format!(
            "Copied the connections {} of {:?}",
            names.join(", "),
            fork_of.as_deref().unwrap_or_default()
        ))
        .await;
        ctx.write(&COPIED, &copied.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()).await;
    }
    made.extend(copied.into_iter().map(|(k, s)| (k, Some(s))));
    for auto in repo.auto_connections(&file, &conns::known(&all)) {
        if !is_built(&auto.conn, &repo) {
            continue;
        }
        let mut state = new_state(&auto, &repo, &all, data.as_deref(), &t)?;
        let master = repo.master(&auto.conn.plug).to_string();
        if let (Some(source), true) = (remounts.get(&master), state.host_source.is_some()) {
            state.host_source = Some(source.clone());
            state.remounted = true;
        }
        let name = auto.conn.to_string();
        state.host_port = state.host_port.or(ports.get(&name).copied());
        if fork_of.is_some() && held_by_source(&auto.conn, &repo, &env, &t) {
            ctx.log(held_note(&name, &t, fork_of.as_deref().unwrap_or_default())).await;
            state.undesired = true;
        }
        // Later ones (bound plugs) read their master's state from `all`.
        all.insert(name.clone(), state.clone());
        made.push((name.clone(), Some(state)));
        if !added.contains(&name) {
            added.push(name);
        }
    }
    // A host port a tunnel would listen on and someone else holds: the launch says so now
    // (not LXD when it plugs the device in), or a plug with `auto-port` takes a free one (a
    // fork's tunnels all do: their source holds the ports of the definition).
    let choice = match ctx.change_read(&crate::managers::task::keys::FREE_HOST_PORTS) {
        Some(true) => super::ports::PortChoice::AlwaysFree,
        _ => super::ports::PortChoice::Asked,
    };
    super::ports::settle_edits(&repo, &before, &mut made, choice).await?;
    all.extend(made.into_iter().filter_map(|(k, s)| s.map(|s| (k, s))));
    ctx.write(&ADDED, &added).await;
    let write_key = key.clone();
    ctx.transact(move |st, _, _| {
        let mut current = conns::of_workshop(st, &write_key);
        for (k, v) in all {
            current.entry(k).or_insert(v);
        }
        conns::set_workshop(st, &write_key, current);
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// The connections of a fork's `source` it takes ([`conns::for_fork`]), in `all` and
/// returned: a mount on the host that was on its default directory gets the fork's own, as
/// auto-connect gives it. None that `all` holds already (a task run again).
fn copy_for_fork(
    source: &WorkshopConns,
    repo: &Repo,
    all: &mut WorkshopConns,
    data: Option<&Path>,
    t: &TaskTarget,
) -> Result<Vec<(String, ConnState)>, String> {
    let mut copied = Vec::new();
    for (key, mut state) in conns::for_fork(source) {
        let Some(r) = conns::parse_key(&key) else { continue };
        if all.contains_key(&key) || repo.plug(&r.plug).is_none() {
            continue;
        }
        if state.connected() && staging::is_host_mount(&r) && state.host_source.is_none() {
            let data = data.ok_or_else(|| format!("cannot find the home directory of {:?}", t.user.name))?;
            let master = repo.master(&r.plug);
            state.host_source =
                Some(mount::default_host_source(data, &t.project_id, &t.name, &master).display().to_string());
        }
        all.insert(key.clone(), state.clone());
        copied.push((key, state));
    }
    Ok(copied)
}

/// Whether `conn` is a tunnel that listens on a socket path of the host the user named: a
/// fork cannot have it while the workshop it copies holds that path.
fn held_by_source(conn: &ConnRef, repo: &Repo, env: &Env, t: &TaskTarget) -> bool {
    let (Some(plug), Some(slot)) = (repo.plug(&conn.plug), repo.slot(&conn.slot)) else { return false };
    if plug.interface != "tunnel" {
        return false;
    }
    let host = super::tunnel::HostSide::of(t, &super::tunnel::tunnels_dir(&env.mounts_dir));
    let device = mount::device_name(&conn.plug);
    super::tunnel::device(plug, slot, &device, &host, None).is_ok_and(|d| d.link.is_some())
}

/// What the task log says of a fork's tunnel left disconnected by [`held_by_source`].
fn held_note(conn: &str, t: &TaskTarget, source: &str) -> String {
    format!(
        "{conn} of {:?} is left disconnected: its socket path on the host is the one of {source:?} (connect it once {source:?} no longer listens there)",
        t.name
    )
}

/// Undo of auto-connect: the connections it made (or copied, for a fork) go.
pub async fn undo_auto_connect(ctx: TaskCtx, _env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let added: BTreeSet<String> = ctx.read(&ADDED).unwrap_or_default().into_iter().collect();
    let copied: BTreeSet<String> = ctx.read(&COPIED).unwrap_or_default().into_iter().collect();
    let key = workshop_key(&t);
    ctx.transact(move |st, _, _| {
        let mut current = conns::of_workshop(st, &key);
        current.retain(|k, c| !(copied.contains(k) || (added.contains(k) && c.auto)));
        conns::set_workshop(st, &key, current);
    })
    .await
    .map_err(|e| e.to_string())
}

/// The devices of the workshop's profiles, SDK by SDK (every SDK with plugs has an entry, an
/// empty one when nothing of it is connected), with the host sources to stage for them.
pub fn profile_devices(
    repo: &Repo,
    all: &WorkshopConns,
    gpus: &[crate::lxd::GpuCard],
    host: &super::devices::HostSide<'_>,
    mounts_dir: &Path,
    t: &TaskTarget,
) -> Result<Profiles, String> {
    let mut profiles = Profiles::default();
    let mut carried = BTreeSet::new();
    for plug in &repo.plugs {
        profiles.devices.entry(plug.sdk.clone()).or_default();
    }
    for (key, conn) in all {
        let (Some(r), true) = (conns::parse_key(key), conn.connected()) else { continue };
        let Some(plug) = repo.plug(&r.plug) else { continue };
        if !is_built(&r, repo) {
            continue;
        }
        if plug.interface == "tunnel" {
            let slot = repo.slot(&r.slot).ok_or_else(|| format!("no slot {}", r.slot))?;
            let name = mount::device_name(&r.plug);
            let host = super::tunnel::HostSide::of(t, &super::tunnel::tunnels_dir(mounts_dir));
            let tunnel = super::tunnel::device(plug, slot, &name, &host, conn.host_port)?;
            profiles.devices.entry(r.plug.sdk.clone()).or_default().insert(name, tunnel.device);
            profiles.links.extend(tunnel.link);
            continue;
        }
        if super::devices::INTERFACES.contains(&plug.interface.as_str()) {
            let made = super::devices::made(plug, conn, host, &mut carried);
            profiles.devices.entry(r.plug.sdk.clone()).or_default().extend(made.devices);
            profiles.files.extend(made.files);
            profiles.notes.extend(made.note);
            continue;
        }
        if is_gpu(&r, repo) {
            profiles
                .devices
                .entry(r.plug.sdk.clone())
                .or_default()
                .extend(super::gpu::devices(&r.plug.sdk, gpus));
            continue;
        }
        let Some(source) = &conn.host_source else { continue };
        let mount = MountPlug::from_attrs(&plug.attrs)?;
        let device = mount::device_name(&r.plug);
        let staged = staging::staged_path(mounts_dir, t, &device);
        profiles
            .devices
            .entry(r.plug.sdk.clone())
            .or_default()
            .insert(device.clone(), mount.disk_device(&staged));
        profiles.sources.push(Source {
            device,
            source: source.clone(),
            default: !conn.remounted,
            mode: mount.mode,
        });
    }
    Ok(profiles)
}

/// The profiles of a workshop and the host sources their devices need staged.
#[derive(Debug, Default)]
pub struct Profiles {
    pub devices: BTreeMap<String, BTreeMap<String, Device>>,
    pub sources: Vec<Source>,
    /// Links to the sockets tunnels listen on for the user on the host (`tunnel.rs`).
    pub links: Vec<super::tunnel::SocketLink>,
    /// The daemon's files some devices show the guest (`session.rs`).
    pub files: Vec<super::session::HostFile>,
    /// What the task log should say about devices that could not be made.
    pub notes: Vec<String>,
}

/// A host source a device mounts.
#[derive(Debug)]
pub struct Source {
    pub device: String,
    pub source: String,
    pub default: bool,
    pub mode: u32,
}

/// Applies the workshop's profiles from its connections: host sources are created (defaults)
/// and opened as the user, staged while LXD plugs them in, and each SDK's profile is set.
pub async fn setup_profiles(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    apply_profiles(&ctx, &env, &t, Strict::Yes).await
}

/// Whether a host directory that cannot be used fails [`apply_profiles`] (`No`: an undo puts
/// the workshop back with the other devices, and says which one it left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strict {
    Yes,
    No,
}

async fn apply_profiles(ctx: &TaskCtx, env: &Env, t: &TaskTarget, strict: Strict) -> HandlerResult {
    let (repo, _) = load_repo(env, t).await?;
    let key = workshop_key(t);
    let all = ctx.transact(move |st, _, _| conns::of_workshop(st, &key)).await.map_err(|e| e.to_string())?;
    let wants_gpu =
        all.iter().any(|(k, c)| c.connected() && conns::parse_key(k).is_some_and(|r| is_gpu(&r, &repo)));
    let gpus = if wants_gpu { env.call(HostGpus {}).await? } else { Vec::new() };
    if wants_gpu && gpus.is_empty() {
        ctx.log("No GPU on this host: the gpu connection gives the workshop no device").await;
    }
    let wants_hotplug = all.values().any(|c| c.connected() && super::devices::uses_hotplug(&c.interface));
    let hotplug = if wants_hotplug { env.call(HostHotplug {}).await? } else { HotplugSupport::FULL };
    let files_dir = super::session::files_dir(&env.sessions_dir, t);
    let wants_camera = all.values().any(|c| c.connected() && c.interface == "camera");
    let cameras = if wants_camera && !hotplug.subsystem {
        super::camera::host_cameras(&t.user).await
    } else {
        Vec::new()
    };
    let host =
        super::devices::HostSide { hotplug, cameras: &cameras, files_dir: files_dir.clone(), user: &t.user };
    let mut profiles = profile_devices(&repo, &all, &gpus, &host, &env.mounts_dir, t)?;
    let mut notes = profiles.notes.clone();
    notes.extend(super::session::write_files(&t.user, &files_dir, &profiles.files).await?);
    for note in notes {
        ctx.log(note).await;
    }
    let mut staged = Vec::new();
    for s in &profiles.sources {
        match staging::stage_source(&env.mounts_dir, t, &s.device, &s.source, s.default, s.mode).await {
            Ok(source) => staged.push(source),
            Err(e) if strict == Strict::No => {
                ctx.log(format!("{e}: the workshop is put back without the {:?} device", s.device)).await;
                for devices in profiles.devices.values_mut() {
                    devices.remove(&s.device);
                }
            }
            Err(e) => return Err(e),
        }
    }
    if !profiles.links.is_empty() {
        super::tunnel::prepare_sockets_dir(&super::tunnel::HostSide::of(
            t,
            &super::tunnel::tunnels_dir(&env.mounts_dir),
        ))?;
    }
    // The user's links to the sockets LXD is about to listen on: a path in the way fails
    // the connection before LXD is asked for anything.
    super::tunnel::apply_links(env, t, &profiles.links).await?;
    for (sdk, devices) in profiles.devices {
        env.call(SetProfile { target: t.backend(), sdk, devices }).await?;
    }
    // LXD mounted what it needed: the workshop holds its own mounts.
    drop(staged);
    super::session::prune(&files_dir, &profiles.files);
    let wanted = super::guest_mounts::wanted(&repo, &all)?;
    super::guest_mounts::apply(env, t, &wanted).await
}

/// Removes the profiles of every SDK of the workshop (installed, or with connections).
pub async fn remove_profiles(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let mut sdks = BTreeSet::new();
    if let Some(instance) = env.call(GetInstance { target: t.backend() }).await? {
        sdks.extend(installed(&instance.config).into_iter().map(|s| s.name));
    }
    let key = workshop_key(&t);
    let all = ctx.transact(move |st, _, _| conns::of_workshop(st, &key)).await.map_err(|e| e.to_string())?;
    sdks.extend(all.keys().filter_map(|k| conns::parse_key(k)).map(|c| c.plug.sdk));
    // A stopped instance a refresh replaces keeps its guest mounts' files: writing them would
    // leave LXD 5.0 a file server keyed by the instance's name, which the rebuilt instance
    // under that name meets, dead, at its next file operation. Its record of them stays with
    // them: putting the stash back after a failure applies them again from it.
    if !ctx.read(&task::keys::REPLACED).unwrap_or(false) {
        super::guest_mounts::apply(&env, &t, &[]).await?;
    }
    super::tunnel::apply_links(&env, &t, &[]).await?;
    env.call(DropProfiles { target: t.backend(), sdks: sdks.into_iter().collect() }).await?;
    // The session files stay for the connections kept across a refresh (`discard-conns`
    // removes them with the workshop).
    Ok(())
}

/// Undo of setup-profiles: the profiles go.
pub async fn undo_setup_profiles(ctx: TaskCtx, env: Env) -> HandlerResult {
    remove_profiles(ctx, env).await
}

/// Undo of remove-profiles: the profiles are set up again from the connections.
pub async fn undo_remove_profiles(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    apply_profiles(&ctx, &env, &t, Strict::No).await
}

/// Drops every connection of the workshop (remove), and the files of its sessions.
pub async fn discard_conns(mut ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    super::session::prune(&super::session::files_dir(&env.sessions_dir, &t), &[]);
    let key = workshop_key(&t);
    let taken = ctx
        .transact(move |st, _, _| {
            let all = conns::of_workshop(st, &key);
            conns::set_workshop(st, &key, WorkshopConns::new());
            all
        })
        .await
        .map_err(|e| e.to_string())?;
    // A second run after a crash finds nothing left: keep what the first one took.
    if !taken.is_empty() {
        ctx.write(&DISCARDED, &taken).await;
    }
    Ok(())
}

/// Undo of discard-conns: the connections come back.
pub async fn undo_discard_conns(ctx: TaskCtx, _env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let taken = ctx.read(&DISCARDED).unwrap_or_default();
    let key = workshop_key(&t);
    ctx.transact(move |st, _, _| {
        let mut current = conns::of_workshop(st, &key);
        for (k, v) in taken {
            current.entry(k).or_insert(v);
        }
        conns::set_workshop(st, &key, current);
    })
    .await
    .map_err(|e| e.to_string())
}

/// `connect` and `disconnect`: records the connection entries the request set (the profiles
/// follow in `setup-profiles`).
pub async fn change_conns(mut ctx: TaskCtx, _env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let edits = ctx.read(&super::requests::EDITS).unwrap_or_default();
    let key = workshop_key(&t);
    let previous = ctx
        .transact(move |st, _, _| {
            let mut all = conns::of_workshop(st, &key);
            let previous = super::requests::apply(&mut all, &edits);
            conns::set_workshop(st, &key, all);
            previous
        })
        .await
        .map_err(|e| e.to_string())?;
    // A second run after a crash finds its own edits: keep what the first one saw.
    if ctx.read(&super::requests::PREVIOUS).is_none() {
        ctx.write(&super::requests::PREVIOUS, &previous).await;
    }
    Ok(())
}

/// Undo of `connect` and `disconnect`: the entries are as they were.
pub async fn undo_change_conns(ctx: TaskCtx, _env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let previous = ctx.read(&super::requests::PREVIOUS).unwrap_or_default();
    let key = workshop_key(&t);
    ctx.transact(move |st, _, _| {
        let mut all = conns::of_workshop(st, &key);
        super::requests::apply(&mut all, &previous);
        conns::set_workshop(st, &key, all);
    })
    .await
    .map_err(|e| e.to_string())
}

/// The change data key where auto-disconnect keeps the remounted host directories of a
/// workshop (reference change data `remounts`).
fn remounts_key(workshop: &str) -> String {
    format!("remounts/{workshop}")
}

/// Refresh: every connection of the workshop goes (undesired entries stay; so do manual
/// session connections, except in a restore), remounted host directories are kept in the
/// change for auto-connect (`plan::add_auto_disconnect`).
pub async fn auto_disconnect(mut ctx: TaskCtx, _env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let key = workshop_key(&t);
    let reset = ctx.read(&super::plan::RESET).unwrap_or(false);
    // A directory chosen by remount that the user moved away or made unusable since could
    // not be mounted again: the change stops here, before the workshop is touched (M-03).
    let looked = key.clone();
    let remounted = ctx
        .transact(move |st, _, _| conns::split_for_refresh(&conns::of_workshop(st, &looked), reset).2)
        .await
        .map_err(|e| e.to_string())?;
    for (plug, source) in remounted {
        staging::open_source(&t.user, PathBuf::from(&source), false, 0o755)
            .await
            .map_err(|e| format!("cannot mount \"{}/{plug}\" again: {e}", t.name))?;
    }
    let (dropped, remounts) = ctx
        .transact(move |st, _, _| {
            let (kept, dropped, remounts) = conns::split_for_refresh(&conns::of_workshop(st, &key), reset);
            conns::set_workshop(st, &key, kept);
            (dropped, remounts)
        })
        .await
        .map_err(|e| e.to_string())?;
    // A second run after a crash finds nothing left: keep what the first one took.
    if !dropped.is_empty() {
        // The host ports tunnels listened on in place of their definition's (a fork's, or
        // one given by `--auto-port`): the reconnection listens there again.
        let ports: BTreeMap<String, u16> =
            dropped.iter().filter_map(|(k, c)| c.host_port.map(|port| (k.clone(), port))).collect();
        ctx.write(&DROPPED, &dropped).await;
        let value = serde_json::to_value(&remounts).map_err(|e| e.to_string())?;
        ctx.change_set(&remounts_key(&t.name), value).await;
        let value = serde_json::to_value(&ports).map_err(|e| e.to_string())?;
        ctx.change_set(&ports_key(&t.name), value).await;
    }
    Ok(())
}

/// The change's record of the host ports a refresh's auto-disconnect kept aside.
fn ports_key(workshop: &str) -> String {
    format!("host-ports/{workshop}")
}

/// Undo of auto-disconnect: the connections come back, and so do their profiles and guest
/// mounts (the undo of the `remove-profiles` after it ran before, when there were none).
pub async fn undo_auto_disconnect(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let dropped = ctx.read(&DROPPED).unwrap_or_default();
    let key = workshop_key(&t);
    ctx.transact(move |st, _, _| {
        let mut current = conns::of_workshop(st, &key);
        for (k, v) in dropped {
            current.insert(k, v);
        }
        conns::set_workshop(st, &key, current);
    })
    .await
    .map_err(|e| e.to_string())?;
    apply_profiles(&ctx, &env, &t, Strict::No).await
}

/// `remount`: moves the host directory (as the user) and records the new one.
pub async fn remount(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let moved = ctx.read(&super::remount::MOVE).ok_or("task has no remount")?;
    let running = env.call(GetInstance { target: t.backend() }).await?.is_some_and(|i| i.running);
    // A second run after a crash finds the move made: the old directory is gone.
    let (old, new) = (moved.old.clone(), moved.new.clone());
    let fallback = super::remount::move_source(&t.user, old.into(), new.into(), running).await?;
    if let Some(fallback) = fallback {
        let warning = fallback.warning(&moved.old, &moved.plug, &moved.new);
        crate::managers::warn_user(&env.engine, &t.user, vec![warning]).await.map_err(|e| e.to_string())?;
    }
    change_conns(ctx, env).await
}

/// Undo of `remount`: the entries are as they were and the directory goes back (when it can).
pub async fn undo_remount(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    if let Some(moved) = ctx.read(&super::remount::MOVE)
        && let Err(e) = super::remount::move_source(&t.user, moved.new.into(), moved.old.into(), true).await
    {
        ctx.log(e).await;
    }
    undo_change_conns(ctx, env).await
}
