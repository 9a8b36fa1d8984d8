//! Task handlers of the command manager: `install-action` writes an action's script into the
//! workshop; `exec` runs a command bridged to the task's websockets (../shared/spec/reference-inventory.md §6.7).

use std::time::Duration;

use serde_json::json;

use super::action;
use super::bridge::{self, BridgeError};
use super::cache::ExecCache;
use actix::Addr;

use crate::backend::{GuestFile, PushFile, StartExec};
use crate::engine::StateEngine;
use crate::managers::task::{self, HandlerResult, TaskTarget, keys};
use crate::project;
use crate::runner::TaskCtx;

/// How long `exec` waits for the client's I/O websockets.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the command manager's handlers use besides the backend.
pub struct Commands {
    pub cache: ExecCache,
    /// Where warnings found reading a definition are raised.
    pub engine: Addr<StateEngine>,
    /// How long `exec` waits for the client's I/O websockets.
    pub connect_timeout: Duration,
}

/// The command manager's handler environment.
pub type Env = task::Env<Commands>;

fn interrupted(task: &str) -> String {
    crate::messages::exec_interrupted(task)
}

/// Writes the action named by the exec task's command to the actions directory, then points
/// the exec task at it. The script is read from the definition now, so edits to actions need
/// no refresh.
pub async fn install_action(ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let exec_task = ctx.read(&keys::EXEC_TASK).ok_or_else(|| {
        format!("cannot get exec task for task {:?}: no {:?} in its data", ctx.task, keys::EXEC_TASK.name())
    })?;
    let args = env.cache.args(&exec_task).ok_or_else(|| interrupted(&ctx.task))?;
    let name = args.argv0().to_string();
    let definition =
        project::as_user::definition(&t.user, &t.project_path, &t.name).await.map_err(|e| e.to_string())?;
    let warnings = definition.warnings.iter().map(ToString::to_string).collect();
    crate::managers::warn_user(&env.engine, &t.user, warnings).await.map_err(|e| e.to_string())?;
    let script = definition.file.actions.get(&name).ok_or(crate::messages::ACTION_NOT_FOUND)?;
    let line = action::script_line(&definition.text, &name);
    let file = GuestFile {
        path: args.action_path(),
        content: action::installed_script(script, line).into_bytes(),
        uid: 0,
        gid: 0,
        mode: 0o755,
    };
    env.call(PushFile { target: t.backend(), file }).await?;
    if !env.cache.set_command(&exec_task, args.action_command()) {
        return Err(interrupted(&ctx.task));
    }
    Ok(())
}

/// Runs the command once the client's websockets are attached, and records its exit code in
/// the task's `api-data`. A non-zero exit is not an error; a timeout is.
pub async fn exec(mut ctx: TaskCtx, env: Env) -> HandlerResult {
    let t = TaskTarget::of(&ctx)?;
    let args = env.cache.args(&ctx.task).ok_or_else(|| interrupted(&ctx.task))?;
    // The command starts while the client connects (its output waits in the session's
    // channels); its working directory was checked when it was asked for.
    let start = env.call(StartExec { target: t.backend(), spec: args.spec() });
    let (connected, session) = futures_util::join!(wait_connected(&env, &ctx.task), start);
    connected?;
    let session = session?;
    let ends = env.cache.take_session_ends(&ctx.task).ok_or_else(|| interrupted(&ctx.task))?;
    let code = match bridge::bridge(session, ends, args.interactive, args.timeout).await {
        Ok(code) => code,
        Err(e @ BridgeError::TimedOut(_)) => return Err(e.to_string()),
        Err(BridgeError::Backend(e)) => return Err(e.to_string()),
    };
    tracing::debug!(task = %ctx.task, code, "exec finished");
    ctx.write(&keys::API_DATA, &json!({ "exit-code": code })).await;
    Ok(())
}

/// Waits for the I/O websockets (reference: `exec N: timeout waiting for websocket
/// connections: context deadline exceeded`).
async fn wait_connected(env: &Env, task: &str) -> HandlerResult {
    let deadline = tokio::time::Instant::now() + env.connect_timeout;
    loop {
        let (connected, attached) = env.cache.io_connected(task).ok_or_else(|| interrupted(task))?;
        if connected {
            return Ok(());
        }
        if tokio::time::timeout_at(deadline, attached.notified()).await.is_err() {
            return Err(crate::messages::exec_not_connected(task));
        }
    }
}

/// Cleanup of either kind: the exec task's websockets end at once, and its cache entry goes
/// a little later, so that a client still connecting (the change may fail before it does)
/// gets ended streams rather than an unknown task, then reads the change's error.
pub async fn drop_exec_args(ctx: TaskCtx, env: Env) -> HandlerResult {
    let exec_task = ctx.read(&keys::EXEC_TASK).unwrap_or_else(|| ctx.task.clone());
    env.cache.close(&exec_task);
    let (cache, linger) = (env.cache.clone(), env.connect_timeout);
    actix_rt::spawn(async move {
        tokio::time::sleep(linger).await;
        cache.remove(&exec_task);
    });
    Ok(())
}
