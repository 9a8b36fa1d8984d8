//! Task handlers of the workshop manager (../shared/spec/reference-inventory.md §6.7, WorkshopManager rows). Each is
//! idempotent: after a crash the engine runs a task that was Doing again.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::guest;
use super::layers::{self, LayerPlan, Layers};
use super::project_source::{self, SourceId};
use crate::backend::*;
use crate::managers::interface;
use crate::managers::sdk::spec::{self as sdk_spec, Retrieved, retrieved_key};
use crate::managers::task::{self, HandlerResult, TaskTarget, keys};
use crate::runner::TaskCtx;
use crate::state::Status;
use crate::userfs::stage::{Staged, stage};
use crate::userfs::{self, Dir, UserFsError};

/// Format of the instances this version creates (`user.workshop.format-revision`).
pub const FORMAT_REVISION: &str = "1";

/// Host-side locations the handlers need.
#[derive(Debug, Clone)]
pub struct WorkshopConfig {
    /// `$WORKSHOP_CACHE`: per-workshop apt caches live under `users/<uid>/<pid>/<ws>/`.
    pub cache_dir: PathBuf,
    /// Host directory shared read-only with every workshop: `workshopctl` and the untrusted
    /// socket workshops use.
    pub guest_bin_dir: PathBuf,
    /// Root-only directory where project directories are staged for LXD to mount
    /// (`userfs::stage`): `<uid>/<project id>/<ws>`.
    pub mounts_dir: PathBuf,
    /// The SDK tree store, when the daemon has one: a rebuild mounts the trees of the SDKs
    /// its layer holds from the first boot (without it, `install-sdk` plugs them in).
    pub trees: Option<crate::sdk::TreeStore>,
}

impl WorkshopConfig {
    /// The workshop's cache directory (its apt archives are in `apt/`). Keyed by the owner's
    /// uid as well: project ids are per user, and two users may hold the same one. A uid is a
    /// number and project ids and workshop names are validated, so no part can traverse.
    pub fn workshop_cache(&self, t: &TaskTarget) -> PathBuf {
        self.cache_dir.join("users").join(t.user.uid.to_string()).join(&t.project_id).join(&t.name)
    }

    /// The cache directory a version before per-user caches made (`id/<pid>/<ws>`), when it
    /// is this user's (its `apt` belongs to them). Workshops launched then keep using it (their
    /// device names it) until they are removed, which removes it too.
    fn legacy_cache(&self, t: &TaskTarget) -> Option<PathBuf> {
        let dir = self.cache_dir.join("id").join(&t.project_id).join(&t.name);
        let apt = std::fs::symlink_metadata(dir.join("apt")).ok()?;
        (apt.is_dir() && apt.uid() == t.user.uid).then_some(dir)
    }

    /// Removes the workshop's cache directories; what could not be removed, as messages.
    fn remove_caches(&self, t: &TaskTarget) -> Vec<String> {
        let mut errors = Vec::new();
        for dir in std::iter::once(self.workshop_cache(t)).chain(self.legacy_cache(t)) {
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    errors.push(format!("cannot remove {}: {e}", dir.display()));
                }
                _ => {}
            }
            // The project's directory goes with its last workshop's (one another workshop
            // still uses is not empty, and stays).
            if let Some(project) = dir.parent() {
                let _ = std::fs::remove_dir(project);
            }
        }
        errors
    }

    /// The workshop's state storage on the host: what `save-state` hooks keep for
    /// `restore-state` across a rebuild (mounted at [`guest::GUEST_STATE`]); removed with the
    /// workshop's cache.
    pub fn state_storage(&self, t: &TaskTarget) -> PathBuf {
        self.workshop_cache(t).join("state")
    }

    /// Where the workshop's project directory is staged: the source of its project device.
    pub fn project_mount(&self, t: &TaskTarget) -> PathBuf {
        self.mounts_dir.join(t.user.uid.to_string()).join(&t.project_id).join(&t.name)
    }
}

/// What the workshop manager's handlers use: the backend and the [`WorkshopConfig`].
pub type Env = task::Env<WorkshopConfig>;

/// Runs a root shell script in the workshop; a non-zero exit is an error naming `what`.
async fn run_script(env: &Env, t: &TaskTarget, what: &str, script: String) -> HandlerResult {
    let spec = ExecSpec { command: vec!["bash".into(), "-c".into(), script], ..Default::default() };
    let out = env.call(RunCommand { target: t.backend(), spec }).await?;
    if out.exit_code != 0 {
        return Err(format!(
            "cannot {what} in {:?}: {} (exit status {})",
            t.name,
            out.combined(),
            out.exit_code
        ));
    }
    Ok(())
}

fn base_key(base: &str) -> String {
    format!("base-image-{base}")
}

pub async fn download_base(mut ctx: TaskCtx, env: Env) -> HandlerResult {
    let base = ctx.read(&keys::BASE).ok_or("task has no base")?;
    let image = env.call(ResolveBase { base: base.clone() }).await?;
    ctx.log(format!("Base {base:?} is image {}", &image.fingerprint[..image.fingerprint.len().min(12)]))
        .await;
    ctx.change_set(&base_key(&base), serde_json::to_value(&image).map_err(|e| e.to_string())?).await;
    Ok(())
}

pub async fn create_storage(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let apt = env.workshop_cache(&t).join("apt");
    make_user_dir(&apt, t.user.uid, t.user.gid, 0o755)
        .map_err(|e| format!("cannot create {}: {e}", apt.display()))
}

/// Removes the workshop's caches, and forgets the local revisions of its SDKs (their trees go
/// when nothing else uses them).
pub async fn remove_storage(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    for error in env.remove_caches(&t) {
        // Reference: storage cleanup errors are only logged.
        ctx.log(error).await;
    }
    // The user's data of the workshop (default mount sources), as the user; directories a
    // remount chose elsewhere stay.
    if let Err(e) = interface::mount::remove_workshop_data(&t).await {
        ctx.log(e).await;
    }
    // The workshop never was: its SDK revisions go, and so do the connections made or
    // refused while its launch was paused on error (connect and disconnect run then).
    let (uid, pid, name) = (t.user.uid, t.project_id.clone(), t.name.clone());
    ctx.transact(move |st, _, _| {
        crate::sdk::revisions::forget_workshop(st, uid, &pid, &name);
        let key = interface::conns::workshop_key(uid, &pid, &name);
        interface::conns::set_workshop(st, &key, Default::default());
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// Chooses what the workshop's instance is copied from: the deepest layer snapshot of its
/// SDKs that exists (reference-inventory.md §7, "best snapshot"), recorded in the change (with every
/// layer's name, for `snapshot-sdk`) before the instance is made; a run again after a crash
/// keeps the recorded choice. Without a tree of every SDK there are no layers.
async fn plan_layers(
    ctx: &mut TaskCtx,
    env: &Env,
    t: &TaskTarget,
    image: &BaseImage,
) -> Result<LayerPlan, String> {
    let key = layers::plan_key(&t.name);
    if let Some(plan) = ctx.change_get::<LayerPlan>(&key) {
        return Ok(plan);
    }
    let names = ctx.read(&keys::LAYER_SDKS).unwrap_or_default();
    let trees: Option<Vec<_>> = names
        .iter()
        .map(|sdk| {
            let retrieved = ctx.change_get::<Retrieved>(&retrieved_key(&t.name, sdk))?;
            Some((sdk.clone(), retrieved.tree))
        })
        .collect();
    let mut plan = LayerPlan::default();
    if let Some(sdks) = trees.filter(|sdks| !sdks.is_empty()) {
        let layers = Layers::new(&image.fingerprint, &t.user, sdks);
        let candidates = layers.candidates();
        let wanted: Vec<String> = candidates.iter().map(|(_, name)| name.clone()).collect();
        let find = FindSnapshot { user: t.user.name.clone(), names: wanted, mark_used: true };
        let found = env.call(find).await?;
        if let Some((depth, name)) = candidates.into_iter().find(|(_, name)| Some(name) == found.as_ref()) {
            let sdks: Vec<String> = names[..depth].iter().map(|n| format!("{n:?}")).collect();
            ctx.log(format!("Reusing the layers of {} from snapshot {name:?}", sdks.join(", "))).await;
            plan.restored = names[..depth].to_vec();
            plan.snapshot = Some(name);
        }
        plan.layers = (1..=names.len()).map(|depth| layers.name(depth)).collect();
        // make_instance names them all in the config it creates the instance with.
        plan.named = true;
    }
    ctx.change_set(&key, serde_json::to_value(&plan).map_err(|e| e.to_string())?).await;
    Ok(plan)
}

/// After an SDK's `setup-base`: the workshop's filesystem is kept as the snapshot of that
/// layer (unless the instance was copied from it or a deeper one), and the instance names
/// the layer, so that the snapshot is kept while it exists. A snapshot that cannot be taken
/// only costs later launches the layer: the change goes on.
pub async fn snapshot_sdk(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let order = ctx.read(&crate::managers::sdk::plan::ORDER).ok_or("task has no install order")?;
    let plan: LayerPlan = ctx.change_get(&layers::plan_key(&t.name)).unwrap_or_default();
    let Some(name) = plan.layers.get(order).cloned() else {
        return Ok(());
    };
    // Named first, so that no collection takes it between the two: the instance is made
    // with the name (an instance made by an earlier version gets it now).
    if !plan.named {
        let changes = vec![(layers::layer_config_key(order), Some(name.clone()))];
        env.call(SetConfig { target: t.backend(), changes }).await?;
    }
    if order < plan.restored.len() {
        return Ok(());
    }
    // A change continued after a pause may have had its workshop fixed by hand: what is in
    // it now is not what the layers below made (the reference skips it as well).
    if ctx.change_read(&keys::ATTEMPT).unwrap_or(1) > 1 {
        ctx.log(format!("No snapshot of {:?} kept: the change was continued after an error", t.name)).await;
        return Ok(());
    }
    if let Err(e) = env.call(TakeSnapshot { target: t.backend(), name: name.clone() }).await {
        ctx.log(format!("cannot keep snapshot {name:?} of {:?}: {e}", t.name)).await;
    }
    Ok(())
}

/// How long a layer snapshot nothing names is kept after its last use.
pub const SNAPSHOT_COOLDOWN: std::time::Duration = std::time::Duration::from_secs(3600);

/// Cleanup of `create-workshop`, `rebuild-workshop`, `remove-workshop` and (after its stash
/// went) `stash-workshop`: the user's layer snapshots that no instance names and nothing
/// used for [`SNAPSHOT_COOLDOWN`] go.
pub async fn collect_snapshots(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let collect = CollectSnapshots { user: Some(t.user.name.clone()), cooldown: SNAPSHOT_COOLDOWN };
    match env.call(collect).await {
        Ok(removed) if !removed.is_empty() => {
            ctx.log(format!("Removed {} unused snapshots", removed.len())).await;
        }
        Ok(_) => {}
        // Not the change's failure: the next collection tries again.
        Err(e) => tracing::warn!(error = %e, "cannot remove unused snapshots"),
    }
    Ok(())
}

pub async fn create_workshop(ctx: TaskCtx, env: Env) -> HandlerResult {
    make_instance(ctx, env, false).await
}

/// Makes the workshop's instance, or with `rebuild` the one a refresh puts in its place
/// (see [`rebuild_workshop`]).
async fn make_instance(mut ctx: TaskCtx, env: Env, rebuild: bool) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let base = ctx.read(&keys::BASE).ok_or("task has no base")?;
    // A restore names the image the workshop was built from; else what download-base found.
    let image = match ctx.read(&keys::BASE_IMAGE).or_else(|| ctx.change_get::<BaseImage>(&base_key(&base))) {
        Some(image) => image,
        None => env.call(ResolveBase { base: base.clone() }).await?,
    };
    env.call(EnsureUser { user: t.user.name.clone() }).await?;
    let file = ctx.read(&keys::WORKSHOP_FILE).unwrap_or_default();
    let mut config = BTreeMap::from([
        ("user.workshop.format-revision".to_string(), FORMAT_REVISION.to_string()),
        ("user.workshop.project-id".to_string(), t.project_id.clone()),
        ("user.workshop.name".to_string(), t.name.clone()),
        (super::manifest::FILE_KEY.to_string(), file),
        ("user.workshop.base".to_string(), base),
        ("user.workshop.base-fingerprint".to_string(), image.fingerprint.clone()),
    ]);
    let apt = env.workshop_cache(&t).join("apt");
    let mut devices = BTreeMap::from([
        ("cache.apt".to_string(), disk(&apt.to_string_lossy(), guest::GUEST_APT_CACHE, false)),
        ("workshop.bin".to_string(), disk(&env.guest_bin_dir.to_string_lossy(), guest::GUEST_BIN, true)),
        // Mounted from the first boot (mount-project then finds it in place): plugging it into
        // a running instance would cost a device hot-plug.
        (PROJECT_DEVICE.to_string(), project_device(&env.project_mount(&t))),
    ]);
    let layers = plan_layers(&mut ctx, &env, &t, &image).await?;
    // Every layer named from the start (those it is copied from, and those its snapshot-sdk
    // tasks are to keep): no collection takes a snapshot between its copy and its naming,
    // and naming one costs no edit of the running instance.
    for (order, layer) in layers.layers.iter().enumerate() {
        config.insert(layers::layer_config_key(order), layer.clone());
    }
    if rebuild {
        // In place from the first boot, so that their tasks after the start find them there
        // rather than plug them into the running instance: the state storage (mounted before
        // the rebuild) and the trees of the SDKs the layer holds.
        let state = env.state_storage(&t);
        devices.insert(STATE_DEVICE.to_string(), disk(&state.to_string_lossy(), guest::GUEST_STATE, false));
        if let Some(trees) = &env.trees {
            // The old instance's record of such an SDK, when it is of the same tree, as
            // installed now (`install-sdk` then finds it in place).
            let old =
                env.call(GetInstance { target: t.backend() }).await?.map(|i| i.config).unwrap_or_default();
            for sdk in &layers.restored {
                let Some(retrieved) = ctx.change_get::<Retrieved>(&retrieved_key(&t.name, sdk)) else {
                    continue;
                };
                devices
                    .insert(sdk_spec::device_name(sdk), sdk_spec::tree_device(trees, &retrieved.tree, sdk));
                let key = sdk_spec::installed_key(sdk);
                let record = old.get(&key).and_then(|r| serde_json::from_str::<sdk_spec::Installed>(r).ok());
                if let Some(mut record) = record.filter(|r| r.tree == retrieved.tree) {
                    record.installed_at = chrono::Utc::now();
                    config.insert(key, serde_json::to_string(&record).map_err(|e| e.to_string())?);
                }
            }
        }
    }
    let spec = CreateSpec {
        image: image.fingerprint,
        host_uid: t.user.uid,
        host_gid: t.user.gid,
        config,
        devices,
        setup: guest::setup_script(),
        snapshot: layers.snapshot,
        rebuild,
    };
    let create = async {
        // LXD checks that the project device's source exists when the instance is created
        // (it mounts it at the start, which records it).
        let _staged = stage_project(&env, &t).await?;
        env.call(CreateInstance { target: t.backend(), spec }).await
    };
    // The names are published while the instance is made: publishing restarts the bridge's
    // DNS and DHCP server, which must not happen while the guest asks for its address.
    let (created, published) = futures_util::future::join(create, publish_names(&env, &t)).await;
    match (created, published) {
        (Err(e), published) => {
            // A rebuilt workshop's names are those of the one it replaces.
            if published.is_ok()
                && !rebuild
                && let Err(withdrawn) = env.call(WithdrawNames { target: t.backend() }).await
            {
                ctx.log(format!("cannot withdraw the names of {:?}: {withdrawn}", t.name)).await;
            }
            Err(e)
        }
        // The start publishes them again, and fails when it cannot.
        (Ok(()), Err(e)) => {
            ctx.log(format!("cannot publish the names of {:?} yet: {e}", t.name)).await;
            Ok(())
        }
        (Ok(()), Ok(_)) => Ok(()),
    }
}

/// Rebuilds a workshop beside its instance, while that one stops: a new instance as a launch
/// makes it (its apt cache made again if it went), which `stash-workshop` puts in its place.
pub async fn rebuild_workshop(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let apt = env.workshop_cache(&t).join("apt");
    make_user_dir(&apt, t.user.uid, t.user.gid, 0o755)
        .map_err(|e| format!("cannot create {}: {e}", apt.display()))?;
    make_instance(ctx, env, true).await
}

/// Undo of `rebuild-workshop`: the rebuilt instance goes, unless it was put in place (then
/// putting the stash back removed it).
pub async fn discard_rebuild(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    env.call(DiscardRebuild { target: t.backend() }).await
}

/// Sets the stopped instance aside (renamed) and puts the rebuilt one in its place, with the
/// stopped one's machine id.
pub async fn stash_workshop(mut ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    // The stashes of this workshop's refreshes that went through: one still there (its
    // cleanup not run yet, or failed) is deleted rather than waited for.
    let workshop = t.backend();
    let spent = ctx
        .transact(move |st, _, _| {
            st.changes()
                .filter(|c| st.change_status(&c.id) == Status::Done)
                .flat_map(|c| st.change_tasks(&c.id))
                .filter(|task| task.kind == "stash-workshop")
                .filter(|task| task.read(&keys::TARGET).is_some_and(|t| t.backend() == workshop))
                .filter_map(|task| task.read(&keys::STASH_ID))
                .collect::<Vec<String>>()
        })
        .await
        .map_err(|e| e.to_string())?;
    let id = env.call(StashInstance { target: t.backend(), spent }).await?;
    ctx.write(&keys::STASH_ID, &id).await;
    env.call(KeepMachineId { target: t.backend() }).await
}

/// Cleanup of `stash-workshop`: once the change is Done (every workshop of the refresh
/// through), the stash it made goes, after the command has returned. The stash of a change
/// that failed was put back by its undo, or is kept for the user when that failed.
pub async fn discard_stash(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let Some(id) = ctx.read(&keys::STASH_ID) else { return Ok(()) };
    let done = ctx
        .transact(|st, task, change| {
            st.change_status(change) == Status::Done
                && st.task(task).is_some_and(|t| t.status() == Status::Done)
        })
        .await
        .map_err(|e| e.to_string())?;
    if !done {
        return Ok(());
    }
    env.call(DiscardStash { target: t.backend(), id }).await?;
    // The layers only the stash named may go now (the reference's cleanup of the stash).
    collect_snapshots(ctx, env).await
}

/// Undo of `stash-workshop`: the stashed instance, as it was, in place of any rebuilt one.
pub async fn unstash_workshop(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    env.call(UnstashInstance { target: t.backend() }).await
}

/// Deletes the stash once the refresh is through (its own lane).
pub async fn remove_stash(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    env.call(DeleteStash { target: t.backend() }).await
}

/// Mounts the workshop's state storage (made owned by its user) at `/var/lib/workshop/state`,
/// where `save-state` and `restore-state` hooks find `$SDK_STATE_DIR`. Before the `save-state`
/// hooks it is emptied: what an earlier refresh saved and this one does not is not restored.
pub async fn mount_state_storage(mut ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let dir = env.state_storage(&t);
    if ctx.read(&keys::STATE_STORAGE_FRESH).unwrap_or(false) {
        // Its content, not the directory: a workshop may have it mounted already.
        empty_state_storage(&dir).await?;
    }
    make_user_dir(&dir, t.user.uid, t.user.gid, 0o755)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if !state_hooks_present(&ctx, &env, &t) {
        // No hook would see it: the instance is left alone (an LXD update less, twice), and
        // remove-state-storage has no device to take away.
        ctx.write(&keys::STATE_STORAGE_ADDED, &false).await;
        ctx.change_set(&state_device_key(&t.name), serde_json::Value::Bool(false)).await;
        return Ok(());
    }
    ctx.change_set(&state_device_key(&t.name), serde_json::Value::Bool(true)).await;
    if ctx.read(&keys::STATE_STORAGE_ADDED).is_none() {
        let instance = env.call(GetInstance { target: t.backend() }).await?;
        let present = instance.is_some_and(|i| i.devices.contains_key(STATE_DEVICE));
        ctx.write(&keys::STATE_STORAGE_ADDED, &!present).await;
    }
    let device = disk(&dir.to_string_lossy(), guest::GUEST_STATE, false);
    env.call(SetDevice { target: t.backend(), name: STATE_DEVICE.into(), device }).await
}

/// Whether one of the hooks a `mount-state-storage` serves ([`keys::STATE_HOOKS`]) is in its
/// SDK's tree. When it cannot tell (no tree store, a tree unknown, an older task), it is.
fn state_hooks_present(ctx: &TaskCtx, env: &Env, t: &TaskTarget) -> bool {
    let (Some(hooks), Some(trees)) = (ctx.read(&keys::STATE_HOOKS), env.trees.as_ref()) else { return true };
    use crate::managers::hook::{Hook, absent_from};
    let hook = if ctx.read(&keys::STATE_STORAGE_FRESH).unwrap_or(false) {
        Hook::SaveState
    } else {
        Hook::RestoreState
    };
    hooks.into_iter().any(|(sdk, tree)| {
        let tree =
            tree.or_else(|| ctx.change_get::<Retrieved>(&retrieved_key(&t.name, &sdk)).map(|r| r.tree));
        tree.is_none_or(|tree| !absent_from(&trees.path(&tree), hook))
    })
}

/// Empties the state storage `dir` (off the actor's thread).
async fn empty_state_storage(dir: &Path) -> Result<(), String> {
    let stale = dir.to_path_buf();
    tokio::task::spawn_blocking(move || empty_dir(&stale))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot empty {}: {e}", dir.display()))
}

/// Removes the state storage's device from the workshop (a workshop gone meanwhile has none).
async fn remove_state_device(env: &Env, t: &TaskTarget) -> HandlerResult {
    match env.call(RemoveDevice { target: t.backend(), name: STATE_DEVICE.into() }).await {
        Err(e) if e.contains("is not launched") => Ok(()),
        other => other,
    }
}

/// Removes what `dir` holds (none is fine). `dir` is in the daemon's tree; what the guest put
/// in it is removed without following a link (`remove_dir_all` never does).
fn empty_dir(dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other?,
    };
    for entry in entries {
        let entry = entry?;
        let removed = if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
        match removed {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Undo of `mount-state-storage`: the device goes when the task added it.
pub async fn unmount_state_storage(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    if ctx.read(&keys::STATE_STORAGE_ADDED).unwrap_or(false) {
        remove_state_device(&env, &t).await?;
    }
    // The storage a refresh made for its save-state hooks: what they saved goes with the
    // refresh undone (the next one starts from an empty storage anyway).
    if ctx.read(&keys::STATE_STORAGE_FRESH).unwrap_or(false) {
        empty_state_storage(&env.state_storage(&t)).await?;
    }
    Ok(())
}

/// `remove-state-storage`: once the restore-state hooks ran, the state storage leaves the
/// workshop and what the save-state hooks put there goes (inventory §5: it is attached only
/// while those hooks run). No undo: a refresh undone after it discards this instance.
pub async fn remove_state_storage(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    if ctx.change_get::<bool>(&state_device_key(&t.name)) != Some(false) {
        remove_state_device(&env, &t).await?;
    }
    empty_state_storage(&env.state_storage(&t)).await
}

/// Change data: whether the last `mount-state-storage` of workshop `ws` plugged the storage in.
fn state_device_key(ws: &str) -> String {
    format!("state-device/{ws}")
}

/// Name of the device that mounts the state storage.
pub(super) const STATE_DEVICE: &str = "workshop.state-storage";

pub async fn remove_workshop(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let (removed, withdrawn) = futures_util::future::join(
        env.call(DeleteInstance { target: t.backend() }),
        env.call(WithdrawNames { target: t.backend() }),
    )
    .await;
    if let Err(e) = withdrawn {
        // The line of an instance that is gone is pruned by a later edit.
        ctx.log(format!("cannot withdraw the names of {:?}: {e}", t.name)).await;
    }
    removed?;
    let key = project_source::key(t.user.uid, &t.project_id, &t.name);
    ctx.transact(move |st, _, _| project_source::forget(st, &key)).await.map_err(|e| e.to_string())
}

/// Publishes the workshop's names on the network ([`PublishNames`]), the friendly one made
/// from the project directory's name.
pub(super) async fn publish_names(env: &Env, t: &TaskTarget) -> Result<HostName, String> {
    let project_name =
        Path::new(&t.project_path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    env.call(PublishNames { target: t.backend(), project_name }).await
}

/// Starts the instance and, while it boots, waits for the init system, and runs the guest
/// set-up (a copy of a template finds it done) then waits for the workshop user's session.
pub async fn start_workshop(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let started = std::time::Instant::now();
    let prepare = async {
        // Workshops made before project directories were staged mount the path itself: point
        // them at the staging directory first (nothing changes for the others).
        let device = project_device(&env.project_mount(&t));
        env.call(SetDevice { target: t.backend(), name: PROJECT_DEVICE.into(), device }).await?;
        let (project, id) = stage_project(&env, &t).await?;
        record_project_source(&ctx, &t, id).await?;
        // The host directories of the workshop's mounts, the same way (interface manager).
        let mounts = interface::staging::stage_workshop_mounts(&ctx, &t, &env.mounts_dir).await?;
        Ok::<_, String>((project, mounts))
    };
    // A workshop keeps its names when it stops: publishing only reads them, unless they are
    // missing or out of date, and then it is done before the guest boots (see create).
    let (staged, published) = futures_util::future::join(prepare, publish_names(&env, &t)).await;
    let staged = staged?;
    published?;
    env.call(StartInstance { target: t.backend() }).await?;
    // The workshop holds its own mount now.
    drop(staged);
    let provision = async {
        run_script(&env, &t, "set up the workshop user", guest::setup_script()).await?;
        run_script(&env, &t, "start the session of the workshop user", guest::session_script().into()).await
    };
    let (ready, provisioned) =
        futures_util::future::join(env.call(WaitReady { target: t.backend() }), provision).await;
    ready?;
    provisioned?;
    tracing::debug!(workshop = %t.name, elapsed_ms = started.elapsed().as_millis() as u64, "workshop up");
    Ok(())
}

/// Stops the workshop; a stop that takes long says so in the task log every
/// [`STOP_LOG_INTERVAL`].
pub async fn stop_workshop(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    // A forced stop is a removal's or a rebuild's: the instance goes (see StopMode::Discard).
    let mode = if ctx.read(&keys::FORCE).unwrap_or(false) { StopMode::Discard } else { StopMode::Clean };
    let stop = env.call(StopInstance { target: t.backend(), mode });
    futures_util::pin_mut!(stop);
    let mut ticks =
        tokio::time::interval_at(tokio::time::Instant::now() + STOP_LOG_INTERVAL, STOP_LOG_INTERVAL);
    loop {
        tokio::select! {
            done = &mut stop => return done,
            _ = ticks.tick() => {
                ctx.log(format!("Still waiting for {:?} to stop; no change in the last 30 seconds...", t.name)).await;
            }
        }
    }
}

/// How often a long stop says it is still waiting.
const STOP_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// Undo of a start: stop forcibly.
pub async fn undo_start(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    env.call(StopInstance { target: t.backend(), mode: StopMode::Kill }).await
}

pub async fn configure_timezone(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let Some(zone) = guest::host_timezone() else {
        // As the reference: a warning to the workshop's user; the workshop keeps its zone.
        let (owner, message) = (t.user.uid, crate::messages::no_time_zone());
        ctx.log(message.clone()).await;
        let _ = ctx.transact(move |st, _, _| st.warn(Some(owner), &message, chrono::Utc::now())).await;
        return Ok(());
    };
    if let Err(e) = run_script(&env, &t, "set the time zone", guest::timezone_script(&zone)).await {
        // The workshop stays usable with its own zone: note it rather than fail the launch.
        ctx.log(e).await;
    }
    Ok(())
}

/// Makes sure the project is mounted at `/project` (create-workshop already mounts it; this
/// restores the device when it differs, while the project is staged for LXD to plug it in).
pub async fn mount_project(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let device = project_device(&env.project_mount(&t));
    let (_staged, id) = stage_project(&env, &t).await?;
    env.call(SetDevice { target: t.backend(), name: PROJECT_DEVICE.into(), device }).await?;
    record_project_source(&ctx, &t, id).await
}

/// Opens the project directory as its user (so a path the user could not open, or one swapped
/// for another directory since, is never mounted) and stages it for LXD; returns the staging
/// mount and the directory's identity.
pub(super) async fn stage_project(env: &Env, t: &TaskTarget) -> Result<(Staged, SourceId), String> {
    let root = PathBuf::from(&t.project_path);
    let dir = userfs::as_user(&t.user, move || Dir::open(&root))
        .await
        .map_err(|e: UserFsError| format!("cannot mount the project of {:?}: {e}", t.name))?;
    let id = dir.identity().map_err(|e| format!("cannot mount the project of {:?}: {e}", t.name))?;
    let at = env.project_mount(t);
    let staged = stage(&dir, &at)
        .map_err(|e| format!("cannot stage the project of {:?} at {}: {e}", t.name, at.display()))?;
    Ok((staged, id))
}

/// Records that the workshop mounts the project directory `id` ([`project_source`]).
pub(super) async fn record_project_source(ctx: &TaskCtx, t: &TaskTarget, id: SourceId) -> Result<(), String> {
    let key = project_source::key(t.user.uid, &t.project_id, &t.name);
    ctx.transact(move |st, _, _| project_source::record(st, &key, id)).await.map_err(|e| e.to_string())
}

/// Where the project directory is mounted in a workshop.
pub(super) const GUEST_PROJECT: &str = "/project";
/// Name of the device that mounts the project directory at [`GUEST_PROJECT`].
pub(super) const PROJECT_DEVICE: &str = "workshop.project";

/// The device mounting the project directory staged at `source`.
pub(super) fn project_device(source: &Path) -> Device {
    disk(&source.to_string_lossy(), GUEST_PROJECT, false)
}

/// A disk device.
pub(super) fn disk(source: &str, path: &str, readonly: bool) -> Device {
    let mut d = Device::from([
        ("type".to_string(), "disk".to_string()),
        ("source".to_string(), source.to_string()),
        ("path".to_string(), path.to_string()),
    ]);
    if readonly {
        d.insert("readonly".into(), "true".into());
    }
    d
}

/// Creates `dir` (and parents) and gives it to the user with `mode`.
pub(super) fn make_user_dir(dir: &Path, uid: u32, gid: u32, mode: u32) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::managers::UserRef;

    fn target(user: &str, uid: u32) -> TaskTarget {
        TaskTarget {
            name: "ws".into(),
            project_id: "0123abcd".into(),
            project_path: format!("/home/{user}/p"),
            user: UserRef { name: user.into(), uid, gid: uid, data_home: None },
        }
    }

    #[test]
    fn two_users_with_the_same_project_id_have_cache_dirs_of_their_own() {
        let config = WorkshopConfig {
            cache_dir: "/c".into(),
            guest_bin_dir: "/b".into(),
            mounts_dir: "/m".into(),
            trees: None,
        };
        let (alice, bob) =
            (config.workshop_cache(&target("alice", 1000)), config.workshop_cache(&target("bob", 1001)));
        assert_ne!(alice, bob);
        assert_eq!(alice, Path::new("/c/users/1000/0123abcd/ws"));
    }

    #[test]
    fn removal_takes_the_users_cache_of_the_old_layout_too() {
        let tmp = tempfile::tempdir().unwrap();
        let config = WorkshopConfig {
            cache_dir: tmp.path().into(),
            guest_bin_dir: "/b".into(),
            mounts_dir: "/m".into(),
            trees: None,
        };
        // SAFETY: a plain getter.
        let uid = unsafe { libc::geteuid() };
        let (owner, other) = (target("alice", uid), target("bob", uid.wrapping_add(1)));
        let legacy = tmp.path().join("id/0123abcd/ws");
        std::fs::create_dir_all(legacy.join("apt")).unwrap();
        std::fs::create_dir_all(config.workshop_cache(&other).join("apt")).unwrap();

        // Another user's removal keeps the old directory (its apt is not theirs).
        assert_eq!(config.remove_caches(&other), Vec::<String>::new());
        assert!(!config.workshop_cache(&other).exists() && legacy.is_dir());
        assert!(
            !config.workshop_cache(&other).parent().unwrap().exists(),
            "the project's went with its last"
        );
        // One the project's other workshop uses stays.
        let mut second = target("alice", uid);
        second.name = "ws2".into();
        std::fs::create_dir_all(config.workshop_cache(&second).join("apt")).unwrap();
        assert_eq!(config.remove_caches(&owner), Vec::<String>::new());
        assert!(!legacy.exists());
        assert!(config.workshop_cache(&second).is_dir());
    }
}
