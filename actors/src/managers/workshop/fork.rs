//! `fork-workshop`: a workshop made a copy of another of its project (`workshop fork`). The
//! copy has the source's files, SDKs and their local revisions, sketch and layers; its own
//! name, definition name, apt cache, state storage, machine id, names on the network,
//! profiles and connections (those its definition makes, planned after it). Host data is
//! not copied: the project is the same directory, mounted the same way.

use std::collections::BTreeMap;
use std::path::Path;

use super::guest;
use super::handlers::{
    Env, PROJECT_DEVICE, STATE_DEVICE, disk, make_user_dir, project_device, publish_names, stage_project,
};
use super::manifest::FILE_KEY;
use crate::backend::{ForkInstance, ForkSpec, GetInstance, Target, WithdrawNames};
use crate::managers::interface::tunnel::LINKS_KEY;
use crate::managers::task::{HandlerResult, TaskTarget, keys};
use crate::runner::TaskCtx;

pub async fn fork_workshop(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let from = ctx.read(&keys::FORK_OF).ok_or("task has no workshop to fork")?;
    let source = Target { name: from.clone(), ..t.backend() };
    let instance = env
        .call(GetInstance { target: source.clone() })
        .await?
        .ok_or_else(|| format!("cannot fork {from:?}: it is not launched"))?;
    let spec = fork_spec(&env, &t, &instance)?;
    let fork = async {
        // LXD checks that the project device's source exists when the instance is created,
        // and mounts it when the copy starts.
        let (_staged, id) = stage_project(&env, &t).await?;
        env.call(ForkInstance { source, target: t.backend(), spec }).await?;
        super::handlers::record_project_source(&ctx, &t, id).await
    };
    // Published while the copy is made, as a launch does (see create-workshop).
    let (forked, published) = futures_util::future::join(fork, publish_names(&env, &t)).await;
    if let Err(e) = forked {
        if published.is_ok()
            && let Err(withdrawn) = env.call(WithdrawNames { target: t.backend() }).await
        {
            ctx.log(format!("cannot withdraw the names of {:?}: {withdrawn}", t.name)).await;
        }
        return Err(e);
    }
    if let Err(e) = published {
        // The start publishes them again, and fails when it cannot.
        ctx.log(format!("cannot publish the names of {:?} yet: {e}", t.name)).await;
    }
    let (uid, pid, name, source_name) = (t.user.uid, t.project_id.clone(), t.name.clone(), from.clone());
    ctx.transact(move |st, _, _| crate::sdk::revisions::copy_workshop(st, uid, &pid, &source_name, &name))
        .await
        .map_err(|e| e.to_string())?;
    crate::sdk::sketch::copy(&t.user, &t.project_id, &from, &t.name)
        .await
        .map_err(|e| format!("cannot copy the sketch of {from:?}: {e}"))?;
    ctx.log(format!("{:?} is a copy of {from:?} as it was at {}", t.name, chrono::Utc::now().to_rfc3339()))
        .await;
    Ok(())
}

/// What the copy changes: its recorded definition named for it, no host links of the
/// source's, and its own apt cache, project staging and state storage.
fn fork_spec(env: &Env, t: &TaskTarget, source: &crate::backend::Instance) -> Result<ForkSpec, String> {
    let text = source.config.get(FILE_KEY).cloned().unwrap_or_default();
    let (mut file, _) = workshop_api::definition::parse(&text, Path::new("workshop.yaml"))
        .map_err(|e| format!("cannot read the definition of {:?}: {e}", source.target.name))?;
    file.name = t.name.clone();
    let config = BTreeMap::from([
        (FILE_KEY.to_string(), file.to_yaml()),
        // The host links of its unix-socket tunnels are the source's, not the fork's.
        (LINKS_KEY.to_string(), String::new()),
    ]);
    let apt = env.workshop_cache(t).join("apt");
    let mut devices = BTreeMap::from([
        ("cache.apt".to_string(), disk(&apt.to_string_lossy(), guest::GUEST_APT_CACHE, false)),
        (PROJECT_DEVICE.to_string(), project_device(&env.project_mount(t))),
    ]);
    if source.devices.contains_key(STATE_DEVICE) {
        let state = env.state_storage(t);
        make_user_dir(&state, t.user.uid, t.user.gid, 0o755)
            .map_err(|e| format!("cannot create {}: {e}", state.display()))?;
        devices.insert(STATE_DEVICE.to_string(), disk(&state.to_string_lossy(), guest::GUEST_STATE, false));
    }
    Ok(ForkSpec { config, devices })
}
