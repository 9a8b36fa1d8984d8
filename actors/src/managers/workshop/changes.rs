//! Launch, start, stop and remove requests: pre-checks, modes, conflicts, planning; and the
//! `--continue`/`--abort` of paused changes.

use std::collections::BTreeMap;

use chrono::Utc;
use sha3::Digest;
use workshop_api::workshops::{Mode, RefreshOption, WorkshopAction, WorkshopStatus, WorkshopsRequest};
use workshop_api::{ChangeConflict, Project};

use super::lookups::*;
use super::manifest::{self, Manifest};
use super::plan::{self, LaunchItem, RefreshItem};
use super::requests::*;
use super::status::{self, Refusal};
use crate::backend::{BackendError, FindSnapshot, Instance};
use crate::engine::{ResumeWaiting, Transact};
use crate::managers::UserRef;
use crate::managers::sdk::spec as sdk_spec;
use crate::managers::task::TaskTarget;
use crate::managers::task::keys;
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

/// The error for a refusal of the rules in `status.rs`.
fn refused(action: WorkshopAction, name: &str, project_id: &str, refusal: Refusal) -> WorkshopError {
    refused_as(action.as_str(), name, project_id, refusal)
}

/// [`refused`] in the words of the command asked for (`restore` is a refresh).
fn refused_as(verb: &str, name: &str, project_id: &str, refusal: Refusal) -> WorkshopError {
    match refusal {
        Refusal::Busy(busy) => {
            let what = if busy.waiting { "is waiting on error" } else { "is in progress" };
            WorkshopError::Conflict(Box::new(Conflict {
                message: format!("cannot {verb} {name:?}: {} change {what}", busy.kind),
                change: ChangeConflict {
                    change_status: if busy.waiting { "Wait" } else { "Doing" }.to_string(),
                    change_id: busy.change,
                    change_kind: busy.kind,
                    project_id: project_id.to_string(),
                    workshop: name.to_string(),
                },
            }))
        }
        Refusal::AlreadyLaunched => {
            WorkshopError::BadRequest(format!("cannot {verb} {name:?}: already launched"))
        }
        // The reference's reasons (healthstate's sentinel errors).
        Refusal::Status(status) => {
            let reason = match status {
                WorkshopStatus::Ready => "already running",
                WorkshopStatus::Stopped => "not running",
                WorkshopStatus::Error => "unhealthy in error",
                WorkshopStatus::Waiting => "waiting on error",
                WorkshopStatus::Pending => "other change in progress",
                WorkshopStatus::Unknown => "health unknown",
            };
            WorkshopError::BadRequest(format!("cannot {verb} {name:?}: {reason}"))
        }
    }
}

/// Why `name`, which has no instance, cannot be `verb`ed: the change that holds it (a launch
/// not this far yet, a refresh with the instance out of the way), else `otherwise`.
fn held_or(
    verb: &str,
    name: &str,
    project_id: &str,
    held: Option<&super::status::Busy>,
    otherwise: WorkshopError,
) -> WorkshopError {
    match held {
        Some(held) => refused_as(verb, name, project_id, Refusal::Busy(held.clone())),
        None => otherwise,
    }
}

/// Checks the request's modes against its action and names.
fn check_modes(action: WorkshopAction, mode: Mode, names: &[String]) -> Result<(), WorkshopError> {
    if mode != Mode::Transactional && !matches!(action, WorkshopAction::Launch | WorkshopAction::Refresh) {
        return Err(WorkshopError::BadRequest(messages::mode_not_valid(action.as_str(), mode.as_str())));
    }
    if mode != Mode::Transactional && names.len() > 1 {
        return Err(WorkshopError::BadRequest(messages::MULTIPLE_WAIT_ON_ERROR.into()));
    }
    Ok(())
}

/// A `refresh-option` only with a new refresh (the reference's words).
fn check_refresh_option(action: WorkshopAction, mode: Mode, given: bool) -> Result<(), WorkshopError> {
    if !given {
        return Ok(());
    }
    if action != WorkshopAction::Refresh {
        return Err(WorkshopError::BadRequest(format!(
            "cannot {}: \"refresh-option\" is only valid for refresh actions",
            action.as_str()
        )));
    }
    if matches!(mode, Mode::Continue | Mode::Abort) {
        return Err(WorkshopError::BadRequest(format!(
            "cannot refresh: \"refresh-option\" is only applicable to \"transactional\" and \"wait-on-error\" modes; given: {:?}",
            mode.as_str()
        )));
    }
    Ok(())
}

pub(super) async fn change_workshops(deps: &Deps, msg: ChangeWorkshops) -> Result<ChangeId, WorkshopError> {
    let ChangeWorkshops { user, project_id, request } = msg;
    let names = names_of(&request)?;
    let (action, mode) = (request.action, request.options.mode);
    check_modes(action, mode, &names)?;
    if request.options.fork_name.is_some() != (action == WorkshopAction::Fork) {
        return Err(WorkshopError::BadRequest(match action {
            WorkshopAction::Fork => "cannot fork: no name for the copy (\"fork-name\")".to_string(),
            _ => format!("cannot {}: \"fork-name\" is only for \"fork\"", action.as_str()),
        }));
    }
    if request.options.skip_save_state
        && (action != WorkshopAction::Refresh || matches!(mode, Mode::Continue | Mode::Abort))
    {
        return Err(WorkshopError::BadRequest(format!(
            "cannot {}: \"skip-save-state\" is only for a new refresh or restore",
            action.as_str()
        )));
    }
    check_refresh_option(action, mode, request.options.refresh_option.is_some())?;
    let project = project(deps, &user, &project_id).await?;
    if matches!(mode, Mode::Continue | Mode::Abort) {
        return resume(deps, &user, &project, action, &names[0], mode == Mode::Abort).await;
    }
    let instances: BTreeMap<String, Instance> =
        instances(deps, &user, &project.id).await?.into_iter().map(|i| (i.target.name.clone(), i)).collect();
    match action {
        WorkshopAction::Launch => {
            launch(deps, &user, &project, &names, &instances, mode, request.options.verbose).await
        }
        WorkshopAction::Refresh => {
            let options = &request.options;
            let how = RefreshHow {
                option: options.refresh_option,
                mode,
                verbose: options.verbose,
                skip_save_state: options.skip_save_state,
            };
            refresh(deps, &user, &project, &names, &instances, how).await
        }
        WorkshopAction::Fork => {
            let copy = request.options.fork_name.as_ref().map(|n| n.to_string()).unwrap_or_default();
            fork(deps, &user, &project, &names, &copy, &instances).await
        }
        _ => transition(deps, &user, &project, action, &names, &instances).await,
    }
}

/// Fork: one launched workshop, Ready or Stopped and held by no change, copied under a name
/// that is neither launched nor defined in the project (a definition of that name would
/// make it another workshop than the copy). The source is held by the change.
async fn fork(
    deps: &Deps,
    user: &UserRef,
    project: &Project,
    names: &[String],
    copy: &str,
    instances: &BTreeMap<String, Instance>,
) -> Result<ChangeId, WorkshopError> {
    let action = WorkshopAction::Fork;
    let [name] = names else {
        return Err(WorkshopError::BadRequest("cannot fork: name one workshop to copy".into()));
    };
    let source = instances.get(name).ok_or_else(|| not_launched(name))?;
    if copy == name {
        return Err(WorkshopError::BadRequest(format!("cannot fork {name:?}: the copy needs another name")));
    }
    let files = as_user::definitions(user, &project.path).await.unwrap_or_default();
    if let Some(defined) = files.iter().find(|f| f.name == copy) {
        return Err(WorkshopError::BadRequest(format!(
            "cannot fork {name:?} as {copy:?}: {copy:?} is defined in {}; choose another name",
            defined.path.display()
        )));
    }
    if instances.contains_key(copy) {
        return Err(WorkshopError::BadRequest(format!(
            "cannot fork {name:?} as {copy:?}: {copy:?} is already launched"
        )));
    }
    let sdks: Vec<String> = sdk_spec::installed(&source.config).into_iter().map(|s| s.name).collect();
    let exists = super::listing::project_exists(user, project).await;
    let running = source.running;
    let (u, pid, now) = (user.clone(), project.id.clone(), Utc::now());
    let (name, copy_target) = (name.clone(), target(user, project, copy));
    deps.engine
        .send(Transact(Box::new(move |st| {
            let busy = status::busy(st, &u.name, &pid, &name);
            status::check_transition(action, busy, running, exists)
                .map_err(|r| refused(action, &name, &pid, r))?;
            let busy = status::busy(st, &u.name, &pid, &copy_target.name);
            // Not launched (checked above); a change may still hold the name (a paused launch).
            status::check_launch(busy, false).map_err(|r| refused(action, &copy_target.name, &pid, r))?;
            Ok(plan::fork(st, &u, &name, &copy_target, &sdks, now))
        })))
        .await??
}

fn target(user: &UserRef, project: &Project, name: &str) -> TaskTarget {
    TaskTarget {
        name: name.to_string(),
        project_id: project.id.clone(),
        project_path: project.path.clone(),
        user: user.clone(),
    }
}

/// Launch: what the backend and the definitions say is gathered first; the rules that depend
/// on the state (another change holding a workshop) are checked in the same engine message
/// that plans the change, so two launches cannot both pass them.
async fn launch(
    deps: &Deps,
    user: &UserRef,
    project: &Project,
    names: &[String],
    instances: &BTreeMap<String, Instance>,
    mode: Mode,
    verbose: bool,
) -> Result<ChangeId, WorkshopError> {
    let action = WorkshopAction::Launch;
    if user.uid == 0 {
        // LXD cannot map host root onto the guest user: refuse rather than half-launch.
        return Err(WorkshopError::BadRequest(
            "cannot launch as root: workshops map the calling user into the workshop; \
             run workshop as your regular user (e.g. sudo -u <user> workshop launch)"
                .into(),
        ));
    }
    let launched: Vec<bool> = names.iter().map(|n| instances.contains_key(n)).collect();
    let mut items = Vec::new();
    for (name, launched) in names.iter().zip(&launched) {
        if *launched {
            // Checked with the state below (a change holding it says more); no file to read.
            items.push(LaunchItem {
                target: target(user, project, name),
                base: String::new(),
                file: String::new(),
                sdks: Vec::new(),
            });
            continue;
        }
        let definition = as_user::definition(user, &project.path, name).await?;
        let warnings = definition.warnings.iter().map(ToString::to_string).collect();
        crate::managers::warn_user(&deps.engine, user, warnings).await?;
        let file = definition.file;
        let mut sdks = sdk_spec::specs(&file).map_err(|e| WorkshopError::BadRequest(e.to_string()))?;
        resolve_store_sdks(deps, &file, &mut sdks).await?;
        // A new workshop starts without a sketch (one left by an earlier workshop of that name
        // is not its own).
        crate::sdk::sketch::wipe(user, &project.id, name)
            .await
            .map_err(|e| WorkshopError::BadRequest(format!("cannot launch {name:?}: {e}")))?;
        items.push(LaunchItem {
            target: target(user, project, name),
            base: file.base.clone(),
            file: file.to_yaml(),
            sdks,
        });
    }
    let (u, pid, now) = (user.clone(), project.id.clone(), Utc::now());
    deps.engine
        .send(Transact(Box::new(move |st| {
            for (item, launched) in items.iter().zip(launched) {
                let name = &item.target.name;
                let busy = status::busy(st, &u.name, &pid, name);
                status::check_launch(busy, launched).map_err(|r| refused(action, name, &pid, r))?;
            }
            Ok(plan::launch(st, &u, &items, mode, verbose, now))
        })))
        .await??
}

/// Asks the Store which revision each Store SDK of `file` is, in one call, before anything is
/// planned: with no Store reachable the launch fails here, naming the SDKs and why.
async fn resolve_store_sdks(
    deps: &Deps,
    file: &workshop_api::definition::WorkshopFile,
    sdks: &mut [sdk_spec::SdkSpec],
) -> Result<(), WorkshopError> {
    let wanted = sdk_spec::store_sdks(sdks);
    if wanted.is_empty() {
        return Ok(());
    }
    let Some(store) = &deps.store else {
        return Err(WorkshopError::BadRequest(format!(
            "cannot launch {:?}: no SDK Store is configured",
            file.name
        )));
    };
    let msg = crate::store::Resolve {
        sdks: wanted,
        base: file.base.clone(),
        arch: workshop_api::sdk::host_architecture().to_string(),
    };
    let resolved = store.send(msg).await?.map_err(|e| WorkshopError::BadRequest(e.to_string()))?;
    sdk_spec::apply_resolved(sdks, resolved);
    Ok(())
}

/// Refresh (and restore, a refresh with the `restore` option): each workshop must be Ready and
/// held by no change; a workshop whose manifest (what it was built from) is what its
/// definition gives now has nothing to refresh, and when that is every workshop of the
/// request the answer is the reference's `no updates available`.
#[allow(clippy::too_many_arguments)]
async fn refresh(
    deps: &Deps,
    user: &UserRef,
    project: &Project,
    names: &[String],
    instances: &BTreeMap<String, Instance>,
    how: RefreshHow,
) -> Result<ChangeId, WorkshopError> {
    let RefreshHow { option, mode, verbose, skip_save_state } = how;
    let action = WorkshopAction::Refresh;
    let verb = if option == Some(RefreshOption::Restore) { "restore" } else { "refresh" };
    let exists = super::listing::project_exists(user, project).await;
    let busy = busy_map(deps, user, &project.id, names.to_vec()).await?;
    for name in names {
        let Some(instance) = instances.get(name) else {
            // A refresh under way has the instance out of the way for a moment.
            return Err(held_or(verb, name, &project.id, busy.get(name), not_launched(name)));
        };
        status::check_transition(action, busy.get(name).cloned(), instance.running, exists)
            .map_err(|r| refused_as(verb, name, &project.id, r))?;
    }
    let mut items = Vec::new();
    if option == Some(RefreshOption::Restore) {
        for name in names {
            items.push(
                restore_item(user, project, name, &instances[name])
                    .map_err(|why| WorkshopError::BadRequest(format!("cannot {verb} {name:?}: {why}")))?,
            );
        }
    } else {
        for name in names {
            let (item, _) = refresh_item(deps, user, project, name, &instances[name]).await?;
            items.extend(item);
        }
    }
    for item in &mut items {
        item.skip_state = skip_save_state;
    }
    plan_refresh(deps, user, project, names, items, mode, verbose).await
}

/// How a refresh (or restore) is asked for.
#[derive(Debug, Clone, Copy)]
struct RefreshHow {
    option: Option<RefreshOption>,
    mode: Mode,
    verbose: bool,
    skip_save_state: bool,
}

/// What a refresh of `instance` rebuilds (`None` when it is built from what its definition
/// gives now: nothing to do), and the current manifest compared.
async fn refresh_item(
    deps: &Deps,
    user: &UserRef,
    project: &Project,
    name: &str,
    instance: &Instance,
) -> Result<(Option<RefreshItem>, Manifest), WorkshopError> {
    let built = Manifest::of_instance(&instance.config);
    let (current, item) = current_manifest(deps, user, project, name).await?;
    if built.as_ref() == Some(&current) {
        return Ok((None, current));
    }
    let kept = sdk_spec::installed(&instance.config)
        .into_iter()
        .filter(|installed| item.sdks.iter().any(|s| s.name == installed.name))
        .map(|s| plan::Kept { name: s.name, tree: s.tree })
        .collect();
    Ok((Some(RefreshItem { launch: item, kept, restore: None, skip_state: false }), current))
}

/// `refresh --plan`: what a refresh of `name` would do, planned by the refresh's own planner
/// on a copy of the state inside a read-only query (nothing is committed, no change made).
/// Refused as the refresh would be (not launched, not Ready, held by a change).
pub(super) async fn refresh_plan(
    deps: &Deps,
    user: &UserRef,
    project_id: &str,
    name: &str,
    skip_save_state: bool,
) -> Result<workshop_api::workshops::RefreshPlan, WorkshopError> {
    use workshop_api::workshops::{HookPlan, RebuildFrom, RefreshPlan, TaskPlan};
    let action = WorkshopAction::Refresh;
    let project = project(deps, user, project_id).await?;
    let instances = instances(deps, user, &project.id).await?;
    let instance = instances.into_iter().find(|i| i.target.name == name).ok_or_else(|| not_launched(name))?;
    let exists = super::listing::project_exists(user, &project).await;
    let busy = busy_map(deps, user, &project.id, vec![name.to_string()]).await?;
    status::check_transition(action, busy.get(name).cloned(), instance.running, exists)
        .map_err(|r| refused(action, name, &project.id, r))?;
    let (item, current) = refresh_item(deps, user, &project, name, &instance).await?;
    let Some(mut item) = item else {
        return Ok(RefreshPlan {
            workshop: name.to_string(),
            up_to_date: true,
            rebuild_from: None,
            sdks: Vec::new(),
            hooks: Vec::new(),
            tasks: Vec::new(),
        });
    };
    item.skip_state = skip_save_state;
    let installed = sdk_spec::installed(&instance.config);
    let sdks = manifest::sdk_changes(&installed, &item.launch.sdks, &current);
    let built_fingerprint = instance.workshop_config("base-fingerprint").map(str::to_string);
    // The snapshot the rebuild would start from, looked for as `rebuild-workshop` will (a
    // look only: it is not marked used).
    let trees: Option<Vec<_>> = current
        .sdks
        .iter()
        .map(|s| Some((s.name.clone(), crate::sdk::TreeId::try_from(s.tree.clone()).ok()?)))
        .collect();
    let mut reused = (None, Vec::new());
    if let Some(sdks) = trees.filter(|t| !t.is_empty()) {
        let layers = super::layers::Layers::new(&current.base_fingerprint, user, sdks);
        let candidates = layers.candidates();
        let names = candidates.iter().map(|(_, n)| n.clone()).collect();
        let find = FindSnapshot { user: user.name.clone(), names, mark_used: false };
        let found = deps.backend.send(find).await.map_err(BackendError::from)??;
        if let Some((depth, name)) = candidates.into_iter().find(|(_, n)| Some(n) == found.as_ref()) {
            reused = (Some(name), layers.sdks[..depth].iter().map(|(n, _)| n.clone()).collect());
        }
    }
    let rebuild_from = RebuildFrom {
        base: current.base.clone(),
        changed: built_fingerprint.as_deref() != Some(current.base_fingerprint.as_str()),
        fingerprint: current.base_fingerprint.clone(),
        snapshot: reused.0,
        reused: reused.1.clone(),
    };
    let restored = reused.1;
    let (u, pid, now) = (user.clone(), project.id.clone(), Utc::now());
    let ws = name.to_string();
    let tasks = deps
        .engine
        .send(crate::engine::Query(Box::new(move |st| {
            if let Some(busy) = status::busy(st, &u.name, &pid, &ws) {
                return Err(refused(action, &ws, &pid, Refusal::Busy(busy)));
            }
            let mut scratch = st.clone();
            let requested = [item.launch.target.name.clone()];
            let change =
                plan::refresh(&mut scratch, &u, &requested, &[item], Mode::Transactional, false, now);
            Ok(scratch
                .change_tasks(&change)
                .iter()
                .map(|t| (t.kind.clone(), t.summary.clone(), t.read(&keys::HOOK_SETUP)))
                .collect::<Vec<_>>())
        })))
        .await??;
    // The trees the hooks run from: save-state from the SDK installed now, the others from
    // the one the rebuild installs.
    let tree_of = |hook: &crate::managers::hook::HookSetup| -> Option<std::path::PathBuf> {
        let store = &deps.sdk_trees.as_ref()?.trees;
        let id = if hook.hook == crate::managers::hook::Hook::SaveState {
            installed.iter().find(|s| s.name == hook.sdk)?.tree.clone()
        } else {
            crate::sdk::TreeId::try_from(current.sdks.iter().find(|s| s.name == hook.sdk)?.tree.clone())
                .ok()?
        };
        Some(store.path(&id))
    };
    let hooks = tasks
        .iter()
        .filter_map(|(_, _, hook)| hook.as_ref())
        // As the refresh will: the set-up of a layer the snapshot brings is not run again,
        // and a hook the SDK does not have is skipped.
        .filter(|h| !(h.hook == crate::managers::hook::Hook::SetupBase && restored.contains(&h.sdk)))
        .filter(|h| !tree_of(h).is_some_and(|tree| crate::managers::hook::absent_from(&tree, h.hook)))
        .map(|h| HookPlan { sdk: h.sdk.clone(), hook: h.hook.as_str().to_string() })
        .collect();
    let tasks = tasks.into_iter().map(|(kind, summary, _)| TaskPlan { kind, summary }).collect();
    Ok(RefreshPlan {
        workshop: name.to_string(),
        up_to_date: false,
        rebuild_from: Some(rebuild_from),
        sdks,
        hooks,
        tasks,
    })
}

/// Plans the refresh of `items` (or, with none, the reference's Done change without tasks
/// and `no updates available`), checking again that no change holds them.
async fn plan_refresh(
    deps: &Deps,
    user: &UserRef,
    project: &Project,
    names: &[String],
    items: Vec<RefreshItem>,
    mode: Mode,
    verbose: bool,
) -> Result<ChangeId, WorkshopError> {
    let action = WorkshopAction::Refresh;
    let (u, pid, now) = (user.clone(), project.id.clone(), Utc::now());
    let nothing = items.is_empty();
    let all = names.to_vec();
    let change = deps
        .engine
        .send(Transact(Box::new(move |st| {
            if nothing {
                // As the reference: a change without tasks, Done, then `no-updates-available`.
                return Ok(plan::no_updates(st, &u, &pid, &all, now));
            }
            for item in &items {
                let name = &item.launch.target.name;
                if let Some(busy) = status::busy(st, &u.name, &pid, name) {
                    return Err(refused(action, name, &pid, Refusal::Busy(busy)));
                }
            }
            Ok(plan::refresh(st, &u, &all, &items, mode, verbose, now))
        })))
        .await???;
    if nothing {
        return Err(WorkshopError::NoUpdates(messages::no_updates(names)));
    }
    Ok(change)
}

/// A restore of `instance`: its own manifest (the definition it was built from, its image and
/// the SDK trees installed now), every installed SDK's state saved and restored.
fn restore_item(
    user: &UserRef,
    project: &Project,
    name: &str,
    instance: &Instance,
) -> Result<RefreshItem, String> {
    if instance.workshop_config("format-revision") != Some(super::handlers::FORMAT_REVISION) {
        return Err("workshop created using incompatible Workshop version".into());
    }
    let missing = || "its instance does not record what it was built from".to_string();
    let file = instance.workshop_config("file").ok_or_else(missing)?.to_string();
    let base = instance.workshop_config("base").ok_or_else(missing)?.to_string();
    let fingerprint = instance.workshop_config("base-fingerprint").ok_or_else(missing)?.to_string();
    let installed = sdk_spec::installed(&instance.config);
    let sdks = installed
        .iter()
        .map(|s| sdk_spec::SdkSpec {
            name: s.name.clone(),
            source: s.source.clone(),
            channel: s.channel.clone(),
        })
        .collect();
    let trees = installed
        .iter()
        .map(|s| (s.name.clone(), sdk_spec::Retrieved { tree: s.tree.clone(), revision: s.revision.clone() }))
        .collect();
    Ok(RefreshItem {
        launch: LaunchItem { target: target(user, project, name), base: base.clone(), file, sdks },
        kept: installed.into_iter().map(|s| plan::Kept { name: s.name, tree: s.tree }).collect(),
        restore: Some(plan::Restore { image: crate::backend::BaseImage { name: base, fingerprint }, trees }),
        skip_state: false,
    })
}

/// The manifest the definition of workshop `name` gives now: its base's image, and the tree
/// each SDK would be installed from (a project SDK is committed as it is now; a try SDK's
/// archive and a Store SDK's resolved revision are checked, not extracted); and what a
/// rebuild from it installs.
async fn current_manifest(
    deps: &Deps,
    user: &UserRef,
    project: &Project,
    name: &str,
) -> Result<(Manifest, LaunchItem), WorkshopError> {
    let Some(sources) = &deps.sdk_trees else {
        return Err(WorkshopError::BadRequest(format!("cannot refresh {name:?}: no SDK tree store")));
    };
    let definition = as_user::definition(user, &project.path, name).await?;
    let warnings = definition.warnings.iter().map(ToString::to_string).collect();
    crate::managers::warn_user(&deps.engine, user, warnings).await?;
    let file = definition.file;
    let sketch = crate::sdk::sketch::exists(user, &project.id, name)
        .await
        .map_err(|e| WorkshopError::BadRequest(format!("cannot refresh {name:?}: {e}")))?;
    let specs = sdk_spec::specs(&file).map_err(|e| WorkshopError::BadRequest(e.to_string()))?;
    let mut sdks = sdk_spec::with_sketch(specs, sketch);
    resolve_store_sdks(deps, &file, &mut sdks).await?;
    let image = deps
        .backend
        .send(crate::backend::ResolveBase { base: file.base.clone() })
        .await
        .map_err(crate::backend::BackendError::from)?
        .map_err(|e| WorkshopError::BadRequest(format!("cannot refresh {name:?}: {e}")))?;
    let mut trees = Vec::new();
    for sdk in &sdks {
        let tree = current_tree(sources, user, project, name, &file.base, sdk)
            .await
            .map_err(|e| WorkshopError::BadRequest(format!("cannot refresh {name:?}: {e}")))?;
        trees.push((sdk.name.clone(), manifest::source_kind(&sdk.source).to_string(), tree));
    }
    let manifest = Manifest::current(&file, image.fingerprint, trees);
    let item = LaunchItem {
        target: target(user, project, name),
        base: file.base.clone(),
        file: file.to_yaml(),
        sdks,
    };
    Ok((manifest, item))
}

/// The tree `sdk` would be installed from now.
async fn current_tree(
    sources: &super::SdkTrees,
    user: &UserRef,
    project: &Project,
    name: &str,
    base: &str,
    sdk: &sdk_spec::SdkSpec,
) -> Result<String, String> {
    use crate::sdk;
    Ok(match &sdk.source {
        sdk_spec::SdkSource::System => {
            let tar = sdk::system::system_tar().map_err(|e| e.to_string())?;
            sdk::TreeId::of_digest(&sha3::Sha3_384::digest(&tar)).as_str().to_string()
        }
        sdk_spec::SdkSource::Project => sdk::project::commit(
            user,
            project.path.clone().into(),
            sdk.name.clone(),
            sources.trees.clone(),
            sdk::TREE_LIMITS,
            sdk::project::COMMIT_TIMEOUT,
        )
        .await
        .map_err(|e| e.to_string())?
        .as_str()
        .to_string(),
        sdk_spec::SdkSource::Sketch => sdk::sketch::commit(user, &project.id, name, sources.trees.clone())
            .await
            .map_err(|e| e.to_string())?
            .as_str()
            .to_string(),
        sdk_spec::SdkSource::Try => {
            let data = user
                .data_dir()
                .ok_or_else(|| format!("cannot find the home directory of {:?}", user.name))?;
            let arch = workshop_api::sdk::host_architecture();
            let archive = crate::store::try_area::fetch(
                user,
                &data,
                &sdk.name,
                base,
                arch,
                &sources.try_dir,
                sdk::TREE_LIMITS.bytes,
            )
            .await
            .map_err(|e| e.to_string())?;
            archive.sha3_384.to_ascii_lowercase()
        }
        sdk_spec::SdkSource::Store { resolved: Some(r) } => r.sha3_384.to_ascii_lowercase(),
        sdk_spec::SdkSource::Store { resolved: None } => {
            return Err(format!("the Store did not resolve {:?}", sdk.name));
        }
    })
}

/// Start, stop and remove: the backend's view of each workshop is gathered first, then the
/// rules are checked and the change planned in one engine message.
async fn transition(
    deps: &Deps,
    user: &UserRef,
    project: &Project,
    action: WorkshopAction,
    names: &[String],
    instances: &BTreeMap<String, Instance>,
) -> Result<ChangeId, WorkshopError> {
    let exists = super::listing::project_exists(user, project).await;
    let mut targets = Vec::new();
    for name in names {
        let Some(instance) = instances.get(name) else {
            // As the reference: `cannot start "ws": workshop "ws" is not launched`. (A removal
            // would discard a paused change, but has no instance to remove.)
            let busy = match action {
                WorkshopAction::Remove => BTreeMap::new(),
                _ => busy_map(deps, user, &project.id, vec![name.clone()]).await?,
            };
            let verb = action.as_str();
            return Err(held_or(verb, name, &project.id, busy.get(name), not_launched_as(verb, name)));
        };
        targets.push((target(user, project, name), instance.running));
    }
    let (u, pid, now) = (user.clone(), project.id.clone(), Utc::now());
    deps.engine
        .send(Transact(Box::new(move |st| {
            let (mut discard, mut stashed) = (Vec::new(), Vec::new());
            for (t, running) in &targets {
                let busy = status::busy(st, &u.name, &pid, &t.name);
                let refresh = busy.as_ref().is_some_and(|b| b.kind == "refresh");
                let rule = status::check_transition(action, busy, *running, exists);
                let discarded = rule.map_err(|r| refused(action, &t.name, &pid, r))?;
                if discarded.is_some() && refresh {
                    // A refresh paused after its stash leaves it behind (its undo is skipped).
                    stashed.push(t.name.clone());
                }
                discard.extend(discarded);
            }
            for id in &discard {
                if let Some(c) = st.change_mut(id) {
                    c.write(&keys::DISCARD_BACKGROUND, &true);
                }
                st.abort_change(id, now);
            }
            let plain = || targets.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>();
            Ok(match action {
                WorkshopAction::Start => plan::start(st, &u, &plain(), now),
                WorkshopAction::Stop => plan::stop(st, &u, &plain(), now),
                _ => plan::remove(st, &u, &targets, &stashed, now),
            })
        })))
        .await??
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
    let Some(b) = busy.get(name) else {
        return Err(WorkshopError::NoWaitingChange(messages::no_waiting_change(verb, action.as_str())));
    };
    // Another kind of change, or one that is not waiting, holds the workshop: a conflict, as
    // the reference's (`cannot refresh "ws": launch change is in progress`).
    if !b.waiting || b.kind != action.as_str() {
        return Err(refused(action, name, &project.id, Refusal::Busy(b.clone())));
    }
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
                let attempt = c.read(&keys::ATTEMPT).unwrap_or(1);
                c.write(&keys::ATTEMPT, &(attempt + 1));
            }
        })))
        .await??;
    deps.engine.send(ResumeWaiting { change: change.clone(), abort }).await??;
    Ok(change)
}
