//! Launch, start, stop and remove requests: pre-checks, modes, conflicts, planning; and the
//! `--continue`/`--abort` of paused changes.

use std::collections::BTreeMap;

use chrono::Utc;
use workshop_api::Project;
use workshop_api::workshops::{Mode, WorkshopAction, WorkshopStatus, WorkshopsRequest};

use super::plan::{self, LaunchItem, TaskTarget};
use super::requests::*;
use super::status::{self, Busy};
use crate::backend::Instance;
use crate::engine::{ResumeWaiting, Transact};
use crate::managers::UserRef;
use crate::messages;
use crate::project::as_user;
use crate::state::{ChangeId, LogLevel};

/// Names deduplicated, in order; at least one.
pub(super) fn names_of(request: &WorkshopsRequest) -> Result<Vec<String>, WorkshopError> {
    let mut names: Vec<String> = Vec::new();
    for n in &request.names {
        if !names.iter().any(|m| n == m.as_str()) {
            names.push(n.to_string());
        }
    }
    if names.is_empty() {
        return Err(WorkshopError::BadRequest(messages::no_workshop_names(request.action.as_str())));
    }
    Ok(names)
}

pub(super) fn conflict(action: WorkshopAction, name: &str, project_id: &str, busy: &Busy) -> WorkshopError {
    let what = if busy.waiting { "is waiting on error" } else { "is in progress" };
    WorkshopError::Conflict(Box::new(Conflict {
        message: format!("cannot {} {name:?}: {} change {what}", action.as_str(), busy.kind),
        change_id: busy.change.clone(),
        change_kind: busy.kind.clone(),
        change_status: if busy.waiting { "Wait" } else { "Doing" }.to_string(),
        project_id: project_id.to_string(),
        workshop: name.to_string(),
    }))
}

pub(super) async fn change_workshops(deps: &Deps, msg: ChangeWorkshops) -> Result<ChangeId, WorkshopError> {
    let ChangeWorkshops { user, project_id, request } = msg;
    let names = names_of(&request)?;
    let action = request.action;
    let mode = request.options.mode;
    if mode != Mode::Transactional && !matches!(action, WorkshopAction::Launch | WorkshopAction::Refresh) {
        return Err(WorkshopError::BadRequest(messages::mode_not_valid(action.as_str(), mode.as_str())));
    }
    if mode != Mode::Transactional && names.len() > 1 {
        return Err(WorkshopError::BadRequest(messages::MULTIPLE_WAIT_ON_ERROR.into()));
    }
    if action == WorkshopAction::Refresh {
        return Err(WorkshopError::BadRequest("cannot refresh: refresh is not supported yet".into()));
    }
    let project = project(deps, &user, &project_id).await?;
    if matches!(mode, Mode::Continue | Mode::Abort) {
        return resume(deps, &user, &project, action, &names[0], mode == Mode::Abort).await;
    }
    let instances: BTreeMap<String, Instance> =
        instances(deps, &user, &project.id).await?.into_iter().map(|i| (i.target.name.clone(), i)).collect();
    let busy = busy_map(deps, &user, &project.id, names.clone()).await?;
    let target = |name: &str| TaskTarget {
        name: name.to_string(),
        project_id: project.id.clone(),
        project_path: project.path.clone(),
        user: user.clone(),
    };
    let now = Utc::now();
    let change = match action {
        WorkshopAction::Launch => {
            if user.uid == 0 {
                // LXD cannot map host root onto the guest user: refuse rather than half-launch.
                return Err(WorkshopError::BadRequest(
                    "cannot launch as root: workshops map the calling user into the workshop; \
                     run workshop as your regular user (e.g. sudo -u <user> workshop launch)"
                        .into(),
                ));
            }
            let mut items = Vec::new();
            for name in &names {
                if let Some(b) = busy.get(name) {
                    return Err(conflict(action, name, &project.id, b));
                }
                if instances.contains_key(name) {
                    return Err(WorkshopError::BadRequest(format!(
                        "cannot launch {name:?}: already launched"
                    )));
                }
                let file = as_user::definition(&user, &project.path, name).await?;
                items.push(LaunchItem {
                    target: target(name),
                    base: file.base.clone(),
                    file: file.to_yaml(),
                });
            }
            let u = user.clone();
            deps.engine.send(Transact(Box::new(move |st| plan::launch(st, &u, &items, mode, now)))).await??
        }
        WorkshopAction::Start | WorkshopAction::Stop | WorkshopAction::Remove => {
            let mut targets = Vec::new();
            let exists = super::listing::project_exists(&user, &project).await;
            for name in &names {
                let instance = instances.get(name).ok_or_else(|| not_launched(name))?;
                if let Some(b) = busy.get(name) {
                    // `remove` discards a launch or refresh paused on error, in the background.
                    let discardable = action == WorkshopAction::Remove
                        && b.waiting
                        && matches!(b.kind.as_str(), "launch" | "refresh");
                    if !discardable {
                        return Err(conflict(action, name, &project.id, b));
                    }
                }
                let (status, _) = status::derive(None, instance.running, exists);
                let allowed: &[WorkshopStatus] = match action {
                    WorkshopAction::Start => &[WorkshopStatus::Stopped],
                    WorkshopAction::Stop => &[WorkshopStatus::Ready, WorkshopStatus::Stopped],
                    _ => &[WorkshopStatus::Ready, WorkshopStatus::Error, WorkshopStatus::Stopped],
                };
                if !allowed.contains(&status) {
                    let want: Vec<String> = allowed.iter().map(|s| format!("{:?}", s.as_str())).collect();
                    return Err(WorkshopError::BadRequest(format!(
                        "cannot {}: workshop {name:?} currently {:?}, must be {}",
                        action.as_str(),
                        status.as_str(),
                        want.join(" or ")
                    )));
                }
                targets.push((target(name), instance.running));
            }
            let discard: Vec<ChangeId> = names
                .iter()
                .filter_map(|n| busy.get(n))
                .filter(|_| action == WorkshopAction::Remove)
                .map(|b| b.change.clone())
                .collect();
            let u = user.clone();
            deps.engine
                .send(Transact(Box::new(move |st| {
                    for id in &discard {
                        if let Some(c) = st.change_mut(id) {
                            c.set("discard-background", true);
                        }
                        st.abort_change(id, now);
                    }
                    match action {
                        WorkshopAction::Start => {
                            plan::start(st, &u, &targets.into_iter().map(|(t, _)| t).collect::<Vec<_>>(), now)
                        }
                        WorkshopAction::Stop => {
                            plan::stop(st, &u, &targets.into_iter().map(|(t, _)| t).collect::<Vec<_>>(), now)
                        }
                        _ => plan::remove(st, &u, &targets, now),
                    }
                })))
                .await??
        }
        WorkshopAction::Refresh => unreachable!("refused above"),
    };
    Ok(change)
}

/// `--continue` / `--abort` of a paused launch or refresh of `user`.
pub(super) async fn resume(
    deps: &Deps,
    user: &UserRef,
    project: &Project,
    action: WorkshopAction,
    name: &str,
    abort: bool,
) -> Result<ChangeId, WorkshopError> {
    let verb = if abort { "abort" } else { "continue" };
    let busy = busy_map(deps, user, &project.id, vec![name.to_string()]).await?;
    let Some(b) = busy.get(name).filter(|b| b.waiting && b.kind == action.as_str()) else {
        return Err(WorkshopError::NoWaitingChange(messages::no_waiting_change(verb, action.as_str())));
    };
    let change = b.change.clone();
    let line = messages::resume_log(abort, action.as_str(), name);
    let id = change.clone();
    deps.engine
        .send(Transact(Box::new(move |st| {
            let waiting: Vec<String> = st
                .change_tasks(&id)
                .iter()
                .filter(|t| t.status() == crate::state::Status::Wait)
                .map(|t| t.id.clone())
                .collect();
            for t in waiting {
                if let Some(task) = st.task_mut(&t) {
                    task.logf(LogLevel::Info, &line, Utc::now());
                }
            }
            if let Some(c) = st.change_mut(&id) {
                let attempt = c.get::<u64>("attempt").unwrap_or(1);
                c.set("attempt", attempt + 1);
            }
        })))
        .await??;
    deps.engine.send(ResumeWaiting { change: change.clone(), abort }).await??;
    Ok(change)
}
