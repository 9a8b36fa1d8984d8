//! Task handlers of the hook manager: `run-hook` (and its `check-health` protocol) and the
//! cleanup that drops a hook's full output.

use super::health::{self, HealthRecord, Verdict};
use super::invocation::{self, Ran};
use super::output::{self, HookOutput};
use super::{Env, HOOK_TIME_LIMIT, Hook, HookSetup};
use crate::backend::{BackendError, GetInstance, RunCommand};
use crate::managers::task::{HandlerResult, TaskTarget, keys};
use crate::runner::TaskCtx;

/// Whether an SDK name may be a directory name in the workshop's paths: lowercase letters,
/// digits and hyphens (the SDK grammar is stricter; this only keeps `/` and `..` out).
fn is_path_safe(sdk: &str) -> bool {
    !sdk.is_empty() && sdk.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Runs the task's hook; `check-health` runs again while the SDK reports `waiting`.
pub async fn run_hook(mut ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let setup = ctx
        .read(&keys::HOOK_SETUP)
        .ok_or_else(|| format!("task {} has no {:?} in its data", ctx.task, keys::HOOK_SETUP.name()))?;
    if !is_path_safe(&setup.sdk) {
        return Err(format!("cannot run hook {:?}: invalid SDK name {:?}", setup.hook.as_str(), setup.sdk));
    }
    if setup.hook == Hook::SetupBase && restored_from_snapshot(&ctx, &t.name, &setup.sdk) {
        let sdk = &setup.sdk;
        ctx.log(format!("Skipped: {:?} was made from a snapshot where {sdk:?} SDK was set up", t.name)).await;
        return Ok(());
    }
    if setup.hook != Hook::CheckHealth {
        return run_once(&ctx, &env, &t, &setup).await.map(|_| ());
    }
    let mut retries = 0;
    loop {
        let report = match run_once(&ctx, &env, &t, &setup).await? {
            Run::Skipped => return Ok(()),
            Run::Finished(report) => report,
        };
        let record = HealthRecord::of(&setup.sdk, report, chrono::Utc::now());
        ctx.write(&keys::HEALTH, &record).await;
        match health::verdict(&record, retries) {
            Verdict::Healthy => return Ok(()),
            Verdict::Failed(message) => return Err(message),
            Verdict::Again => {
                if !record.message.is_empty() {
                    ctx.log(record.message.clone()).await;
                }
                retries += 1;
                tokio::time::sleep(env.retry_after).await;
            }
        }
    }
}

/// Whether the layer of `sdk` of workshop `ws` came with the snapshot its instance is a copy
/// of (its `setup-base` ran before that snapshot was kept).
fn restored_from_snapshot(ctx: &TaskCtx, ws: &str, sdk: &str) -> bool {
    use crate::managers::workshop::layers::{LayerPlan, plan_key};
    ctx.change_get::<LayerPlan>(&plan_key(ws)).is_some_and(|plan| plan.restored.iter().any(|s| s == sdk))
}

/// How one run ended, for the caller.
enum Run {
    Skipped,
    /// It ran and succeeded; what it reported with `set-health`, if anything.
    Finished(Option<super::contexts::HealthReport>),
}

/// One run of the hook: a context (cookie) while it runs, its output kept for verbose
/// clients and copied to the task log, a non-zero exit an error.
async fn run_once(ctx: &TaskCtx, env: &Env, t: &TaskTarget, setup: &HookSetup) -> Result<Run, String> {
    if absent_on_host(ctx, env, t, setup).await {
        tracing::debug!(task = %ctx.task, sdk = %setup.sdk, hook = setup.hook.as_str(), "no such hook in the tree");
        return Ok(Run::Skipped);
    }
    let verbose = ctx.change_read(&keys::VERBOSE).unwrap_or(false);
    let limit = setup.timeout.unwrap_or(HOOK_TIME_LIMIT);
    let live = env.contexts.open(t.backend(), &setup.sdk, setup.hook);
    let spec = invocation::exec_spec(setup, live.cookie(), verbose, limit);
    let run = env.backend.send(RunCommand { target: t.backend(), spec }).await;
    let report = live.finish();
    let out = match run.map_err(BackendError::from).and_then(|r| r) {
        Ok(out) => out,
        Err(BackendError::TimedOut { .. }) if setup.hook == Hook::CheckHealth && setup.timeout.is_some() => {
            return Err(health::timed_out(&setup.sdk));
        }
        Err(BackendError::TimedOut { after, .. }) => {
            return Err(format!(
                "cannot run hook {:?} for {:?} SDK: it did not finish within {}, so it was killed",
                setup.hook.as_str(),
                setup.sdk,
                workshop_api::duration::format(after)
            ));
        }
        Err(e) => return Err(e.to_string()),
    };
    let (code, output, truncated) = match Ran::of(out) {
        Ran::Skipped => {
            tracing::debug!(task = %ctx.task, sdk = %setup.sdk, hook = setup.hook.as_str(), "no such hook");
            return Ok(Run::Skipped);
        }
        Ran::Finished { code, output, truncated } => (code, output, truncated),
    };
    let mut full = String::from_utf8_lossy(&output).into_owned();
    if truncated {
        full.push_str(output::TRUNCATED);
    }
    let logged = output::task_log_copy(&full);
    if !full.is_empty() {
        // Kept before the log entry is written: whoever sees the entry finds the output.
        env.outputs.insert(&ctx.task, t.user.uid, HookOutput { logged: logged.clone(), full });
        if !logged.is_empty() {
            ctx.log(logged).await;
        }
    }
    if code != 0 {
        return Err(format!("command exit code {code}"));
    }
    Ok(Run::Finished(report))
}

/// Whether the SDK's tree, on the host, has nothing at the hook's path: then the hook is
/// skipped without a run in the workshop (most SDKs have few of the five hooks). The tree is
/// the source of the SDK's device, made by the daemon; anything there (or a tree that cannot
/// be found) is left to the wrapper in the workshop, which also skips a path through a
/// symlink, so the two never disagree on a hook that runs.
async fn absent_on_host(ctx: &TaskCtx, env: &Env, t: &TaskTarget, setup: &HookSetup) -> bool {
    // The tree this change retrieved for the SDK is the one its install mounted: found
    // without asking LXD for the instance (a dozen hooks of a refresh, most of them absent).
    // Not so for `save-state`, the hook of the SDK as installed before the refresh (whose
    // new tree may lack it): its tree is the one the instance mounts, which the planner
    // recorded with the task (older tasks have none: LXD is asked).
    let key = crate::managers::sdk::spec::retrieved_key(&t.name, &setup.sdk);
    let tree = if setup.hook == Hook::SaveState {
        ctx.read(&keys::HOOK_TREE)
    } else {
        ctx.change_get::<crate::managers::sdk::spec::Retrieved>(&key).map(|r| r.tree)
    };
    if let (Some(trees), Some(tree)) = (&env.manager.trees, tree) {
        return super::absent_from(&trees.path(&tree), setup.hook);
    }
    let Ok(Some(instance)) = env.call(GetInstance { target: t.backend() }).await else { return false };
    let device = instance.devices.get(&crate::managers::sdk::spec::device_name(&setup.sdk));
    let Some(source) = device.and_then(|d| d.get("source")) else { return false };
    super::absent_from(std::path::Path::new(source), setup.hook)
}

/// Cleanup: the change is ready, so the hook's full output goes, after a verbose client has
/// had time for its last look.
pub async fn drop_output(ctx: TaskCtx, env: Env) -> HandlerResult {
    let (outputs, linger) = (env.outputs.clone(), env.linger);
    actix_rt::spawn(async move {
        tokio::time::sleep(linger).await;
        outputs.remove(&ctx.task);
    });
    Ok(())
}
