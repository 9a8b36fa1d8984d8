//! `/v1/changes`, `/v1/changes/{id}`, `/v1/changes/{id}/wait`.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use workshop_actors::engine::{AbortChange, Query, WatchChange};
use workshop_actors::managers::hook::{HookOutput, HookOutputs};
use workshop_actors::managers::task::keys;
use workshop_actors::state::{Change, State, Task};
use workshop_api::ids::{ChangeId, ProjectId};
use workshop_api::{ChangeAction, ChangeInfo, Progress, TaskInfo};

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::peer::Caller;
use crate::api::response::sync;

/// Longest a `wait` may block.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);
/// Most waits one user may have at once (each holds a connection of the daemon's).
const MAX_WAITS_PER_USER: usize = 256;
/// How often a wait looks whether its client is still there.
const PEER_CHECK: Duration = Duration::from_millis(500);

/// The change waits in progress, per user; shared by the servers of one daemon.
#[derive(Debug, Clone, Default)]
pub struct Waits(std::sync::Arc<std::sync::Mutex<BTreeMap<u32, usize>>>);

impl Waits {
    fn counts(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, usize>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One more wait of user `uid`, refused past [`MAX_WAITS_PER_USER`].
    fn take(&self, uid: u32) -> Result<WaitSlot, ApiError> {
        let mut counts = self.counts();
        let count = counts.entry(uid).or_default();
        if *count >= MAX_WAITS_PER_USER {
            return Err(ApiError::TooMany(format!(
                "cannot wait for change: {MAX_WAITS_PER_USER} waits of this user are in progress"
            )));
        }
        *count += 1;
        Ok(WaitSlot { waits: self.clone(), uid })
    }

    /// How many waits of user `uid` are in progress.
    #[cfg(test)]
    pub(super) fn of(&self, uid: u32) -> usize {
        self.counts().get(&uid).copied().unwrap_or(0)
    }
}

/// One of a user's waits, given back when dropped.
struct WaitSlot {
    waits: Waits,
    uid: u32,
}

impl Drop for WaitSlot {
    fn drop(&mut self) {
        let mut counts = self.waits.counts();
        if let Some(count) = counts.get_mut(&self.uid) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.uid);
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ListQuery {
    #[serde(default)]
    select: Option<String>,
    #[serde(default)]
    project_id: Option<ProjectId>,
    /// Comma-separated workshop names: the changes with a task on one of them.
    #[serde(default)]
    workshops: Option<String>,
}

/// Most workshop names a `workshops` filter may hold.
const MAX_FILTER_WORKSHOPS: usize = 64;

#[derive(Debug, Clone, Copy)]
enum Select {
    All,
    InProgress,
    Ready,
}

pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    // As the reference: every change unless asked otherwise.
    let select = match query.select.as_deref().unwrap_or("all") {
        "" | "all" => Select::All,
        "in-progress" => Select::InProgress,
        "ready" => Select::Ready,
        _ => return Err(ApiError::BadRequest("select should be one of: all,in-progress,ready".into())),
    };
    let workshops = workshops_filter(query.workshops.as_deref(), query.project_id.is_some())?;
    let project = query.project_id.clone();
    let viewer = caller.clone();
    let changes = state
        .engine
        .send(Query(Box::new(move |st| {
            let mut out: Vec<ChangeInfo> = st
                .changes()
                .filter(|c| visible(c, &viewer))
                .filter(|c| {
                    project.as_ref().is_none_or(|p| c.read(&keys::PROJECT_ID).as_deref() == Some(p.as_str()))
                })
                .filter(|c| workshops.as_ref().is_none_or(|names| touches(st, c, names)))
                .filter(|c| match select {
                    Select::All => true,
                    Select::InProgress => !st.change_ready(&c.id),
                    Select::Ready => st.change_ready(&c.id),
                })
                .map(|c| change_info(st, c))
                .collect();
            out.sort_by(|a, b| a.spawn_time.cmp(&b.spawn_time).then(numeric(&a.id).cmp(&numeric(&b.id))));
            out
        })))
        .await?;
    Ok(sync(StatusCode::OK, changes, state.warning_meta(&caller).await))
}

/// The workshop names of a `workshops` query parameter (which, as the reference's, needs a
/// project id), each checked.
fn workshops_filter(raw: Option<&str>, has_project: bool) -> Result<Option<Vec<String>>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    if !has_project {
        return Err(ApiError::BadRequest("project-id required if workshops are specified".into()));
    }
    let names: Vec<&str> = raw.split(',').collect();
    if names.len() > MAX_FILTER_WORKSHOPS {
        return Err(ApiError::BadRequest(format!(
            "invalid workshops: more than {MAX_FILTER_WORKSHOPS} names"
        )));
    }
    names
        .into_iter()
        .map(|n| {
            n.parse::<workshop_api::ids::WorkshopName>()
                .map(|n| n.into_string())
                .map_err(|e| ApiError::BadRequest(e.to_string()))
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// Whether change `c` has a task on one of the workshops `names`. (The reference filters on
/// a change-level value it never sets, so its filter finds nothing; this one finds the
/// changes of those workshops.)
fn touches(st: &State, c: &Change, names: &[String]) -> bool {
    st.change_tasks(&c.id)
        .into_iter()
        .any(|t| t.read(&keys::TARGET).is_some_and(|target| names.contains(&target.name)))
}

#[derive(Debug, Deserialize)]
pub struct GetQuery {
    #[serde(default)]
    verbose: Option<String>,
}

/// `?verbose=true` (the CLI's `--verbose`): the log of each hook task holds the hook's whole
/// output in place of its last lines, while the change is in progress.
pub async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<ChangeId>,
    query: web::Query<GetQuery>,
) -> Result<HttpResponse, ApiError> {
    let verbose = match query.verbose.as_deref().unwrap_or_default() {
        "" | "false" | "0" => false,
        "true" | "1" => true,
        other => return Err(ApiError::BadRequest(format!("invalid value for verbose: {other:?}"))),
    };
    let mut info = find(&state, &caller, id.into_inner().into_string()).await?;
    if verbose {
        full_hook_output(&state, &caller, &mut info).await?;
    }
    Ok(sync(StatusCode::OK, info, state.warning_meta(&caller).await))
}

/// Puts the full output the hook manager still holds into the logs of `info`'s hook tasks.
async fn full_hook_output(state: &AppState, caller: &Caller, info: &mut ChangeInfo) -> Result<(), ApiError> {
    let tasks: Vec<String> =
        info.tasks.iter().filter(|t| t.kind == "run-hook").map(|t| t.id.clone()).collect();
    if tasks.is_empty() {
        return Ok(());
    }
    let outputs = state.hooks.send(HookOutputs { uid: caller.uid, tasks }).await?;
    for task in &mut info.tasks {
        if let Some(output) = outputs.get(&task.id) {
            with_full_output(&mut task.log, output);
        }
    }
    Ok(())
}

/// Replaces the message of the log entry holding `output`'s truncated copy with all of it.
fn with_full_output(log: &mut [String], output: &HookOutput) {
    let full = output.full.strip_suffix('\n').unwrap_or(&output.full);
    for entry in log {
        let mut parts = entry.splitn(3, ' ');
        if let (Some(time), Some(level), Some(message)) = (parts.next(), parts.next(), parts.next())
            && message == output.logged
        {
            *entry = format!("{time} {level} {full}");
        }
    }
}

pub async fn post(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<ChangeId>,
    body: web::Json<ChangeAction>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().into_string();
    if body.action != "abort" {
        return Err(ApiError::BadRequest(format!("change action {:?} is unsupported", body.action)));
    }
    find(&state, &caller, id.clone()).await?;
    state.engine.send(AbortChange(id.clone())).await??;
    let info = find(&state, &caller, id).await?;
    Ok(sync(StatusCode::OK, info, state.warning_meta(&caller).await))
}

#[derive(Debug, Deserialize)]
pub struct WaitQuery {
    #[serde(default)]
    timeout: Option<String>,
}

pub async fn wait(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<ChangeId>,
    query: web::Query<WaitQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().into_string();
    let timeout = match query.timeout.as_deref() {
        None | Some("") => MAX_WAIT,
        Some(t) => workshop_api::duration::parse(t)
            .map_err(|e| ApiError::BadRequest(format!("invalid timeout {t:?}: {e}")))?
            .min(MAX_WAIT),
    };
    find(&state, &caller, id.clone()).await?;
    let _slot = state.waits.take(caller.uid)?;
    let ready = state.engine.send(WatchChange(id.clone())).await??;
    // A client that hung up frees its connection at once (a paused change may wait for ever).
    tokio::select! {
        waited = tokio::time::timeout(timeout, ready) => {
            if waited.is_err() {
                return Err(ApiError::Timeout(format!(
                    "timed out waiting for change after {}",
                    workshop_api::duration::format(timeout)
                )));
            }
        }
        () = crate::api::peer::peer_gone(&req, PEER_CHECK) => {
            return Err(ApiError::BadRequest("cannot wait for change: the client went away".into()));
        }
    }
    let info = find(&state, &caller, id).await?;
    Ok(sync(StatusCode::OK, info, state.warning_meta(&caller).await))
}

async fn find(state: &AppState, caller: &Caller, id: String) -> Result<ChangeInfo, ApiError> {
    let caller = caller.clone();
    let lookup = id.clone();
    state
        .engine
        .send(Query(Box::new(move |st| {
            st.change(&lookup).filter(|c| visible(c, &caller)).map(|c| change_info(st, c))
        })))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("cannot find change with id {id:?}")))
}

/// Root sees every change; others see their own (a change without an owner is root's).
fn visible(change: &Change, caller: &Caller) -> bool {
    caller.is_root() || change.read(&keys::USER).is_some_and(|u| u == caller.user)
}

fn numeric(id: &str) -> u64 {
    id.parse().unwrap_or(u64::MAX)
}

pub fn change_info(st: &State, c: &Change) -> ChangeInfo {
    let ready = st.change_ready(&c.id);
    let mut tasks: Vec<TaskInfo> = st.change_tasks(&c.id).into_iter().map(task_info).collect();
    tasks.sort_by_key(|t| numeric(&t.id));
    ChangeInfo {
        id: c.id.clone(),
        kind: c.kind.clone(),
        summary: c.summary.clone(),
        status: st.change_status(&c.id).to_string(),
        tasks,
        ready,
        err: if ready { st.change_err(&c.id) } else { None },
        spawn_time: c.spawn_time(),
        ready_time: if ready { c.ready_time() } else { None },
        project_id: c.read(&keys::PROJECT_ID),
        data: c.read(&keys::API_DATA).unwrap_or_default(),
    }
}

fn task_info(t: &Task) -> TaskInfo {
    TaskInfo {
        id: t.id.clone(),
        kind: t.kind.clone(),
        summary: t.summary.clone(),
        status: t.status().to_string(),
        log: t.log().to_vec(),
        progress: {
            let (label, done, total) = t.progress();
            Progress { label: label.to_string(), done, total }
        },
        spawn_time: t.spawn_time(),
        ready_time: t.ready_time(),
        doing_time: t.doing_time().as_nanos() as i64,
        data: t.read(&keys::API_DATA).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(uid: u32, user: &str) -> Caller {
        Caller { uid, gid: uid, user: user.into(), data_home: None }
    }

    #[test]
    fn a_verbose_log_holds_the_whole_hook_output() {
        let output = HookOutput { logged: "line 2\nline 3".into(), full: "line 1\nline 2\nline 3\n".into() };
        let mut log = vec![
            "2024-05-01T10:00:00Z INFO line 2\nline 3".to_string(),
            "2024-05-01T10:00:01Z ERROR command exit code 1".to_string(),
        ];
        with_full_output(&mut log, &output);
        assert_eq!(log[0], "2024-05-01T10:00:00Z INFO line 1\nline 2\nline 3");
        assert_eq!(log[1], "2024-05-01T10:00:01Z ERROR command exit code 1");
    }

    #[test]
    fn changes_are_visible_to_their_owner_and_root_only() {
        let mut st = State::new();
        let now = chrono::Utc::now();
        let owned = st.new_change("launch", "Launch \"ws\" workshop", now);
        st.change_mut(&owned).unwrap().set("user", "alice");
        let ownerless = st.new_change("launch", "Launch \"ws\" workshop", now);
        let (alice, bob, root) = (caller(1000, "alice"), caller(1001, "bob"), caller(0, "root"));
        let owned = st.change(&owned).unwrap();
        assert!(visible(owned, &alice) && visible(owned, &root));
        assert!(!visible(owned, &bob));
        // A change without an owner (none is planned so, but a state may hold one) is root's.
        let ownerless = st.change(&ownerless).unwrap();
        assert!(visible(ownerless, &root));
        assert!(!visible(ownerless, &alice));
    }
}
