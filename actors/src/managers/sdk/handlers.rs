//! Task handlers of the SDK manager (../shared/spec/reference-inventory.md §6.7, SdkManager
//! rows). Each is idempotent: after a crash the engine runs a task that was Doing again.

use std::path::PathBuf;

use chrono::Utc;
use workshop_api::sdk::{SdkInfo, Strictness, host_architecture};

use super::plan::{ORDER, SDK};
use super::spec::{
    Installed, Retrieved, SdkSource, SdkSpec, device_name, installed_key, retrieved_key, tree_device,
};
use crate::backend::{GetInstance, RemoveDevice, SetConfig, SetDeviceAndConfig};
use crate::managers::task::{self, HandlerResult, TaskTarget, keys};
use crate::runner::TaskCtx;
use crate::sdk::revisions::{self, LocalSdkRef};
use crate::sdk::{self, TreeStore, system};
use crate::store::{Download, StoreActor, VerifiedArchive, try_area};

/// What the SDK manager's handlers use besides the backend.
pub struct Sdks {
    pub engine: actix::Addr<crate::engine::StateEngine>,
    /// Where SDK trees are kept.
    pub trees: TreeStore,
    /// The SDK Store.
    pub store: actix::Addr<StoreActor>,
    /// Where checked copies of try SDKs are made (root-only).
    pub try_dir: PathBuf,
}

/// The SDK manager's handler environment.
pub type Env = task::Env<Sdks>;

fn spec(ctx: &TaskCtx) -> Result<SdkSpec, String> {
    ctx.read(&SDK).ok_or_else(|| format!("task {} has no SDK", ctx.task))
}

/// Makes the SDK's tree exist in the tree store and says which it is, for `install-sdk`.
pub async fn retrieve_sdk(mut ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let sdk = spec(&ctx)?;
    let retrieved = match &sdk.source {
        SdkSource::System => {
            let trees = env.trees.clone();
            let tree = blocking(move || system::commit_system(&trees)).await?;
            Retrieved { tree, revision: system::SYSTEM_REVISION.to_string() }
        }
        SdkSource::Project => {
            let tree = sdk::project::commit(
                &t.user,
                t.project_path.clone().into(),
                sdk.name.clone(),
                env.trees.clone(),
                sdk::TREE_LIMITS,
                sdk::project::COMMIT_TIMEOUT,
            )
            .await
            .map_err(|e| e.to_string())?;
            local_revision(&mut ctx, &t, &sdk, tree).await?
        }
        SdkSource::Sketch => {
            let tree = sdk::sketch::commit(&t.user, &t.project_id, &t.name, env.trees.clone())
                .await
                .map_err(|e| e.to_string())?;
            local_revision(&mut ctx, &t, &sdk, tree).await?
        }
        SdkSource::Try => {
            let data = t
                .user
                .data_dir()
                .ok_or_else(|| format!("cannot find the home directory of {:?}", t.user.name))?;
            let base = ctx.read(&keys::BASE).unwrap_or_default();
            let archive = try_area::fetch(
                &t.user,
                &data,
                &sdk.name,
                &base,
                host_architecture(),
                &env.try_dir,
                sdk::TREE_LIMITS.bytes,
            )
            .await
            .map_err(|e| e.to_string())?;
            let tree = commit_archive(&env, archive).await?;
            local_revision(&mut ctx, &t, &sdk, tree).await?
        }
        SdkSource::Store { resolved: Some(resolved) } => {
            let download = Download { sdk: resolved.clone() };
            let archive =
                env.store.send(download).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
            let tree = commit_archive(&env, archive).await?;
            Retrieved { tree, revision: resolved.revision.to_string() }
        }
        SdkSource::Store { resolved: None } => {
            return Err(format!("cannot retrieve {:?} SDK: the Store did not resolve it", sdk.name));
        }
    };
    let value = serde_json::to_value(&retrieved).map_err(|e| e.to_string())?;
    ctx.change_set(&retrieved_key(&t.name, &sdk.name), value).await;
    Ok(())
}

/// Which numbering a local SDK's revisions follow: a try SDK's are its own, beside those of
/// the project SDK of the same name (the reference's try-sdks test: both start at x1).
fn numbered_as(sdk: &SdkSpec) -> String {
    match sdk.source {
        SdkSource::Try => format!("try-{}", sdk.name),
        _ => sdk.name.clone(),
    }
}

/// Records `tree` as a local revision of `sdk` (`x1`, `x2`, ...: an unchanged tree keeps its
/// revision).
async fn local_revision(
    ctx: &mut TaskCtx,
    t: &TaskTarget,
    sdk: &SdkSpec,
    tree: sdk::TreeId,
) -> Result<Retrieved, String> {
    let local = LocalSdkRef {
        uid: t.user.uid,
        project_id: t.project_id.clone(),
        workshop: t.name.clone(),
        sdk: numbered_as(sdk),
    };
    let digest = tree.clone();
    let recorded = ctx
        .transact(move |st, _, _| revisions::record(st, &local, &digest, None))
        .await
        .map_err(|e| e.to_string())?;
    if recorded.new {
        ctx.log(format!("Committed {:?} as revision {}", sdk.name, revisions::label(recorded.revision)))
            .await;
    }
    Ok(Retrieved { tree, revision: revisions::label(recorded.revision) })
}

/// Extracts a checked archive into the tree store; its digest is the tree's id.
async fn commit_archive(env: &Env, archive: VerifiedArchive) -> Result<sdk::TreeId, String> {
    let expected = sdk::TreeId::try_from(archive.sha3_384.clone())?;
    let trees = env.trees.clone();
    blocking(move || trees.commit(archive.file, sdk::TREE_LIMITS, Some(&expected))).await
}

/// Checks the retrieved SDK against the workshop and mounts its tree, read-only, at
/// `/var/lib/workshop/sdk/<name>`; records it in the instance.
pub async fn install_sdk(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let sdk = spec(&ctx)?;
    let base = ctx.read(&keys::BASE).unwrap_or_default();
    let order = ctx.read(&ORDER).unwrap_or_default();
    let retrieved: Retrieved = ctx
        .change_get(&retrieved_key(&t.name, &sdk.name))
        .ok_or_else(|| format!("cannot install {:?} SDK: it was not retrieved", sdk.name))?;
    let trees = env.trees.clone();
    let tree = retrieved.tree.clone();
    let text = blocking(move || trees.read_meta(&tree)).await?;
    let strictness = if sdk.source.is_local() { Strictness::Strict } else { Strictness::Lenient };
    let info =
        SdkInfo::load(&text, strictness, &sdk.name, &base, host_architecture()).map_err(|e| e.to_string())?;
    info.check_installable().map_err(|e| e.to_string())?;
    let mut installed = Installed {
        name: sdk.name.clone(),
        source: sdk.source.clone(),
        order,
        revision: retrieved.revision,
        tree: retrieved.tree.clone(),
        channel: sdk.channel.clone(),
        version: info.version.clone(),
        built_at: info.built_at,
        installed_at: Utc::now(),
    };
    let device = tree_device(&env.trees, &retrieved.tree, &sdk.name);
    let (key, name) = (installed_key(&sdk.name), device_name(&sdk.name));
    // A rebuild made the instance with both in place (the SDKs its layer holds): nothing to
    // plug into the running instance.
    let instance = env.call(GetInstance { target: t.backend() }).await?;
    // The workshop sees the SDK's files as its root's.
    if let Some((uid, gid)) = instance.as_ref().and_then(|i| i.guest_root_ids()) {
        let (trees, tree) = (env.trees.clone(), retrieved.tree.clone());
        blocking(move || trees.own(&tree, uid, gid)).await?;
    }
    if let Some(instance) = instance {
        let present = instance.config.get(&key).and_then(|r| serde_json::from_str::<Installed>(r).ok());
        if let Some(present) =
            present.filter(|p| Installed { installed_at: p.installed_at, ..installed.clone() } == *p)
        {
            installed = present;
            if instance.devices.get(&name) == Some(&device) {
                return Ok(());
            }
        }
    }
    let record = serde_json::to_string(&installed).map_err(|e| e.to_string())?;
    let changes = vec![(key, Some(record))];
    env.call(SetDeviceAndConfig { target: t.backend(), name, device, changes }).await
}

/// Undo of `install-sdk`: the device and the record go.
pub async fn uninstall_sdk(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let sdk = spec(&ctx)?;
    match env.call(RemoveDevice { target: t.backend(), name: device_name(&sdk.name) }).await {
        // A workshop already removed has nothing left to uninstall.
        Err(e) if e.contains("is not launched") => return Ok(()),
        other => other?,
    }
    let changes = vec![(installed_key(&sdk.name), None)];
    env.call(SetConfig { target: t.backend(), changes }).await
}

/// Cleanup of `install-sdk`: once the change is over, trees nothing uses any more go.
pub async fn collect_trees(ctx: TaskCtx, env: Env) -> HandlerResult {
    match super::collect::collect(&env.engine, &env.backend, &env.trees).await {
        Ok(0) => {}
        Ok(n) => ctx.log(format!("Removed {n} unused SDK trees")).await,
        // Not the change's failure: the next collection tries again.
        Err(e) => tracing::warn!(error = %e, "cannot remove unused SDK trees"),
    }
    Ok(())
}

/// Runs filesystem work of the daemon's own off the actor thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, sdk::TreeError> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(format!("cannot work on SDK trees: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_and_project_sdks_of_one_name_are_numbered_apart() {
        let spec = |source| SdkSpec { name: "tools".into(), source, channel: None };
        assert_eq!(numbered_as(&spec(SdkSource::Project)), "tools");
        assert_eq!(numbered_as(&spec(SdkSource::Try)), "try-tools");
        assert_eq!(numbered_as(&spec(SdkSource::Sketch)), "tools");
    }
}
