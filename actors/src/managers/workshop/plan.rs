//! Planners: pure functions from a request to a change's task graph (../shared/spec/reference-inventory.md §8).

use chrono::{DateTime, Utc};
use workshop_api::workshops::Mode;

use crate::managers::UserRef;
use crate::managers::hook::{Hook, plan as hook_plan};
use crate::managers::interface::plan as interface_plan;
use crate::managers::sdk::plan as sdk_plan;
use crate::managers::sdk::spec::SdkSpec;
use crate::managers::task::TaskTarget;
use crate::managers::task::{self, WaitSetup, add_task, keys};
use crate::state::{ChangeId, LogLevel, State, TaskId};

/// One workshop of a launch: its target, base name and normalised definition.
#[derive(Debug, Clone)]
pub struct LaunchItem {
    pub target: TaskTarget,
    pub base: String,
    pub file: String,
    /// Its SDKs, in install order.
    pub sdks: Vec<SdkSpec>,
}

/// Creates a change of `user` for the workshops `names` of `project_id`.
fn new_change(
    st: &mut State,
    kind: &str,
    names: &[&str],
    user: &UserRef,
    project_id: &str,
    now: DateTime<Utc>,
) -> ChangeId {
    task::new_change(st, kind, &summary(kind, names), user, project_id, now)
}

/// `Launch "a" workshop` / `Launch "a", "b" workshops`.
pub fn summary(kind: &str, names: &[&str]) -> String {
    let mut title = kind.to_string();
    if let Some(first) = title.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    let noun = if names.len() == 1 { "workshop" } else { "workshops" };
    format!("{title} {} {noun}", quoted.join(", "))
}

/// Builds a chain of tasks for one workshop, each waiting for the previous one, and tasks
/// beside it that a later task of the chain waits for as well.
struct Chain<'a> {
    st: &'a mut State,
    change: ChangeId,
    target: &'a TaskTarget,
    last: Option<TaskId>,
    /// Tasks beside the chain that the next task of the chain also waits for.
    joins: Vec<TaskId>,
    now: DateTime<Utc>,
}

impl<'a> Chain<'a> {
    fn new(st: &'a mut State, change: &ChangeId, target: &'a TaskTarget, now: DateTime<Utc>) -> Self {
        Self { st, change: change.clone(), target, last: None, joins: Vec::new(), now }
    }

    fn then(&mut self, kind: &str, summary: String) -> TaskId {
        let id = add_task(self.st, &self.change, kind, &summary, self.target, self.last.as_ref(), self.now);
        self.linked(id)
    }

    /// A task beside the chain, waiting for `after`: the chain goes on without it until
    /// [`Chain::join`] is given it.
    fn beside(&mut self, kind: &str, summary: String, after: Option<&TaskId>) -> TaskId {
        add_task(self.st, &self.change, kind, &summary, self.target, after, self.now)
    }

    /// The next task of the chain waits for `task` (beside it) as well.
    fn join(&mut self, task: TaskId) {
        self.joins.push(task);
    }

    /// Makes `id` the chain's last task, waiting for the tasks joined meanwhile.
    fn linked(&mut self, id: TaskId) -> TaskId {
        for joined in std::mem::take(&mut self.joins) {
            self.st.wait_for(&id, &joined);
        }
        self.last = Some(id.clone());
        id
    }

    /// Ends the chain: its last task waits for the tasks still joined.
    fn finish(mut self) {
        if let Some(last) = self.last.clone() {
            self.linked(last);
        }
    }

    /// Each SDK's layer in install order (install, `setup-base`, snapshot), then the time
    /// zone beside the chain once the last `setup-base` ran: it takes an exec, in parallel
    /// with the last snapshot and the project's and interfaces' devices. Returns the time
    /// zone's task, for the `setup-project` hooks to [`Chain::join`].
    fn layers(&mut self, sdks: &[SdkSpec], base: &str) -> TaskId {
        let mut set_up = self.last.clone();
        for (order, sdk) in sdks.iter().enumerate() {
            let (st, change, target, now) = (&mut *self.st, &self.change, self.target, self.now);
            let id = sdk_plan::add_install(st, change, target, sdk, order, base, self.last.as_ref(), now);
            self.last = Some(id);
            set_up = Some(self.hook(&sdk.name, Hook::SetupBase));
            self.snapshot(sdk, order);
        }
        let summary = format!("Configure time zone of {:?}", self.target.name);
        self.beside("configure-timezone", summary, set_up.as_ref())
    }

    /// The `snapshot-sdk` of the layer of `sdk`, the `order`-th SDK (after its `setup-base`).
    fn snapshot(&mut self, sdk: &SdkSpec, order: usize) -> TaskId {
        let summary = format!("Keep snapshot of {:?} after {:?} SDK", self.target.name, sdk.name);
        let id = self.then("snapshot-sdk", summary);
        let t = self.st.task_mut(&id).expect("exists");
        t.write(&sdk_plan::SDK, sdk);
        t.write(&sdk_plan::ORDER, &order);
        id
    }

    /// A `run-hook` of `hook` of `sdk`.
    fn hook(&mut self, sdk: &str, hook: Hook) -> TaskId {
        let id =
            hook_plan::add_hook(self.st, &self.change, self.target, sdk, hook, self.last.as_ref(), self.now);
        self.linked(id)
    }
}

/// Launch: base, storage, instance, start, time zone, project mount, per workshop; one lane,
/// so a failure anywhere undoes every workshop of the change (all or nothing).
pub fn launch(
    st: &mut State,
    user: &UserRef,
    items: &[LaunchItem],
    mode: Mode,
    verbose: bool,
    now: DateTime<Utc>,
) -> ChangeId {
    let names: Vec<&str> = items.iter().map(|i| i.target.name.as_str()).collect();
    let project_id = items.first().map(|i| i.target.project_id.clone()).unwrap_or_default();
    let change = new_change(st, "launch", &names, user, &project_id, now);
    hook_plan::set_verbose(st, &change, verbose);
    st.change_mut(&change)
        .expect("exists")
        .write(&keys::WAIT_SETUP, &WaitSetup { mode: mode.as_str().into() });
    for item in items {
        let ws = &item.target.name;
        let mut chain = Chain::new(st, &change, &item.target, now);
        let base = chain.then("download-base", format!("Download base {:?} for {ws:?}", item.base));
        for sdk in &item.sdks {
            let id = sdk_plan::add_retrieve(
                chain.st,
                &change,
                &item.target,
                sdk,
                &item.base,
                chain.last.as_ref(),
                now,
            );
            chain.last = Some(id);
        }
        chain.then("create-workshop-storage", format!("Create storage of {ws:?}"));
        let create = chain.then("create-workshop", format!("Create new {ws:?} workshop"));
        chain.then("start-workshop", format!("Start {ws:?} workshop"));
        let timezone = chain.layers(&item.sdks, &item.base);
        chain.then("mount-project", format!("Mount project into {ws:?}"));
        let connected =
            interface_plan::add_auto_connect(chain.st, &change, &item.target, chain.last.as_ref(), now);
        chain.last = Some(connected);
        chain.join(timezone);
        for hook in [Hook::SetupProject, Hook::CheckHealth] {
            for sdk in &item.sdks {
                chain.hook(&sdk.name, hook);
            }
        }
        chain.finish();
        st.task_mut(&base).expect("exists").write(&keys::BASE, &item.base);
        let t = st.task_mut(&create).expect("exists");
        t.write(&keys::BASE, &item.base);
        t.write(&keys::WORKSHOP_FILE, &item.file);
        t.write(&keys::LAYER_SDKS, &item.sdk_names());
    }
    change
}

impl LaunchItem {
    /// Its SDKs' names, in install order.
    pub fn sdk_names(&self) -> Vec<String> {
        self.sdks.iter().map(|s| s.name.clone()).collect()
    }
}

/// One workshop of a refresh: what it is rebuilt from, and the SDKs it keeps.
#[derive(Debug, Clone)]
pub struct RefreshItem {
    /// The definition as it is now: target, base, normalised file, SDKs in install order.
    pub launch: LaunchItem,
    /// SDKs installed now that the new definition keeps, in their current install order:
    /// their `save-state` hooks run before the rebuild, their `restore-state` ones after.
    pub kept: Vec<Kept>,
    /// A restore: the workshop is rebuilt from what it was built from (this image, these
    /// trees), nothing downloaded or retrieved.
    pub restore: Option<Restore>,
    /// The kept SDKs' `save-state` and `restore-state` hooks do not run (`skip-save-state`).
    pub skip_state: bool,
}

/// An SDK a refresh keeps, and the tree installed now (which its `save-state` hook runs from).
#[derive(Debug, Clone)]
pub struct Kept {
    pub name: String,
    pub tree: crate::sdk::TreeId,
}

/// What a restore rebuilds a workshop from: its manifest's image and SDK trees.
#[derive(Debug, Clone)]
pub struct Restore {
    pub image: crate::backend::BaseImage,
    /// Per SDK (by name), the tree installed now and its revision.
    pub trees: Vec<(String, crate::managers::sdk::spec::Retrieved)>,
}

/// The interface manager's `auto-disconnect` of a refresh: after `save-state`, before the
/// workshop stops (undesired connections and remounted directories are kept for the
/// reconnect).
fn add_disconnects(chain: &mut Chain<'_>, restore: bool) {
    let id = interface_plan::add_auto_disconnect(
        chain.st,
        &chain.change,
        chain.target,
        chain.last.as_ref(),
        restore,
        chain.now,
    );
    chain.last = Some(id);
}

/// The interface manager's `resolve-interfaces`, `auto-connect` and `setup-profiles` of a
/// refresh: after `mount-project`, before `setup-project`, as at launch.
fn add_reconnects(chain: &mut Chain<'_>) {
    let id = interface_plan::add_auto_connect(
        chain.st,
        &chain.change,
        chain.target,
        chain.last.as_ref(),
        chain.now,
    );
    chain.last = Some(id);
}

/// Refresh (reference-inventory.md §8.3), per workshop: retrieve the SDKs, mount the state
/// storage, `save-state` of the kept SDKs, stop and meanwhile rebuild the instance beside it
/// as a launch makes it, stash the old one (which puts the new one in place), install and
/// `setup-base` every SDK, mount the project, `setup-project`,
/// `restore-state`, `check-health`. All in one lane: a failure anywhere puts every
/// workshop's stash back. The stashes are removed by the cleanup of `stash-workshop`, once
/// the change is Done: the reference's `remove-workshop-stash` lane, without the command
/// waiting for it. The change is named after every workshop `requested`, as the reference's
/// is, those already up to date included.
pub fn refresh(
    st: &mut State,
    user: &UserRef,
    requested: &[String],
    items: &[RefreshItem],
    mode: Mode,
    verbose: bool,
    now: DateTime<Utc>,
) -> ChangeId {
    let names: Vec<&str> = requested.iter().map(String::as_str).collect();
    let project_id = items.first().map(|i| i.launch.target.project_id.clone()).unwrap_or_default();
    let change = new_change(st, "refresh", &names, user, &project_id, now);
    hook_plan::set_verbose(st, &change, verbose);
    st.change_mut(&change)
        .expect("exists")
        .write(&keys::WAIT_SETUP, &WaitSetup { mode: mode.as_str().into() });
    for RefreshItem { launch: item, kept, restore, skip_state } in items {
        // The SDKs whose state is saved and restored.
        let saved: &[Kept] = if *skip_state { &[] } else { kept };
        let ws = &item.target.name;
        let mut chain = Chain::new(st, &change, &item.target, now);
        if let Some(restore) = restore {
            let c = chain.st.change_mut(&change).expect("exists");
            for (sdk, retrieved) in &restore.trees {
                c.set(&crate::managers::sdk::spec::retrieved_key(ws, sdk), retrieved);
            }
        } else {
            let base = chain.then("download-base", format!("Download base {:?} for {ws:?}", item.base));
            chain.st.task_mut(&base).expect("exists").write(&keys::BASE, &item.base);
            for sdk in &item.sdks {
                let after = chain.last.clone();
                let id = sdk_plan::add_retrieve(
                    chain.st,
                    &change,
                    &item.target,
                    sdk,
                    &item.base,
                    after.as_ref(),
                    now,
                );
                chain.last = Some(id);
            }
        }
        let fresh = chain.then("mount-state-storage", format!("Mount state storage into {ws:?}"));
        let t = chain.st.task_mut(&fresh).expect("exists");
        t.write(&keys::STATE_STORAGE_FRESH, &true);
        let saving: Vec<(String, Option<crate::sdk::TreeId>)> =
            saved.iter().map(|k| (k.name.clone(), Some(k.tree.clone()))).collect();
        t.write(&keys::STATE_HOOKS, &saving);
        if *skip_state && !kept.is_empty() {
            let names: Vec<&str> = kept.iter().map(|k| k.name.as_str()).collect();
            t.logf(LogLevel::Info, &crate::messages::state_not_saved(&names), now);
        }
        for sdk in saved {
            let hook = chain.hook(&sdk.name, Hook::SaveState);
            chain.st.task_mut(&hook).expect("exists").write(&keys::HOOK_TREE, &sdk.tree);
        }
        add_disconnects(&mut chain, restore.is_some());
        let disconnected = chain.last.clone();
        let stop = chain.then("stop-workshop", format!("Stop {ws:?} workshop"));
        chain.st.task_mut(&stop).expect("exists").write(&keys::FORCE, &true);
        // The interface devices go from the stopped instance (none is unplugged from a
        // running one about to be killed), its guest left as it is (see remove-profiles).
        let profiles =
            interface_plan::add_remove_profiles(chain.st, &change, chain.target, chain.last.as_ref(), now);
        chain.st.task_mut(&profiles).expect("exists").write(&keys::REPLACED, &true);
        chain.last = Some(profiles);
        let stash = chain.then("stash-workshop", format!("Stash {ws:?} workshop"));
        // The new instance is made beside the old one while that one stops (LXD takes most
        // of a second over a kill); the stash puts it in place.
        let summary = format!("Rebuild {ws:?} workshop");
        let rebuild = add_task(
            chain.st,
            &change,
            "rebuild-workshop",
            &summary,
            chain.target,
            disconnected.as_ref(),
            now,
        );
        chain.st.wait_for(&stash, &rebuild);
        chain.then("start-workshop", format!("Start {ws:?} workshop"));
        let timezone = chain.layers(&item.sdks, &item.base);
        chain.then("mount-project", format!("Mount project into {ws:?}"));
        add_reconnects(&mut chain);
        let mount = chain.then("mount-state-storage", format!("Mount state storage into {ws:?}"));
        let restoring: Vec<(String, Option<crate::sdk::TreeId>)> = item
            .sdks
            .iter()
            .filter(|s| saved.iter().any(|k| k.name == s.name))
            .map(|s| (s.name.clone(), None))
            .collect();
        chain.st.task_mut(&mount).expect("exists").write(&keys::STATE_HOOKS, &restoring);
        chain.join(timezone);
        for sdk in &item.sdks {
            chain.hook(&sdk.name, Hook::SetupProject);
        }
        for sdk in item.sdks.iter().filter(|s| saved.iter().any(|k| k.name == s.name)) {
            chain.hook(&sdk.name, Hook::RestoreState);
        }
        // The storage leaves beside the health checks, which do not use it.
        let restored = chain.last.clone();
        chain.beside("remove-state-storage", format!("Remove state storage from {ws:?}"), restored.as_ref());
        for sdk in &item.sdks {
            chain.hook(&sdk.name, Hook::CheckHealth);
        }
        chain.finish();
        let t = st.task_mut(&rebuild).expect("exists");
        t.write(&keys::BASE, &item.base);
        t.write(&keys::WORKSHOP_FILE, &item.file);
        t.write(&keys::LAYER_SDKS, &item.sdk_names());
        if let Some(restore) = restore {
            t.write(&keys::BASE_IMAGE, &restore.image);
        }
    }
    change
}

/// A refresh with nothing to do: a change of `user` without tasks, Done (reference-inventory.md §2.3).
pub fn no_updates(
    st: &mut State,
    user: &UserRef,
    project_id: &str,
    names: &[String],
    now: DateTime<Utc>,
) -> ChangeId {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let change = new_change(st, "refresh", &names, user, project_id, now);
    st.set_change_status(&change, crate::state::Status::Done, now);
    change
}

/// Fork: `target` made a copy of the launched workshop `source` (which the change holds
/// until it is ready): its storage, the copy, its start, the connections its definition
/// makes and the source's manual ones (a tunnel whose host port the source holds takes a free
/// one), and the health check
/// of each of its SDKs (`sdks`, in install order). One lane: a failure removes the copy.
pub fn fork(
    st: &mut State,
    user: &UserRef,
    source: &str,
    target: &TaskTarget,
    sdks: &[String],
    now: DateTime<Utc>,
) -> ChangeId {
    let ws = &target.name;
    let summary = format!("Fork {source:?} as {ws:?}");
    let change = task::new_change(st, "fork", &summary, user, &target.project_id, now);
    let c = st.change_mut(&change).expect("exists");
    c.write(&keys::FREE_HOST_PORTS, &true);
    c.write(&keys::FORK_SOURCE, &source.to_string());
    let mut chain = Chain::new(st, &change, target, now);
    chain.then("create-workshop-storage", format!("Create storage of {ws:?}"));
    let copy = chain.then("fork-workshop", format!("Copy {source:?} to {ws:?}"));
    let t = chain.st.task_mut(&copy).expect("exists");
    t.write(&keys::FORK_OF, &source.to_string());
    t.write(&keys::HOLDS, &source.to_string());
    chain.then("start-workshop", format!("Start {ws:?} workshop"));
    let connected = interface_plan::add_auto_connect(chain.st, &change, target, chain.last.as_ref(), now);
    chain.last = Some(connected);
    for sdk in sdks {
        chain.hook(sdk, Hook::CheckHealth);
    }
    change
}

/// Start: one `start-workshop` per workshop.
pub fn start(st: &mut State, user: &UserRef, targets: &[TaskTarget], now: DateTime<Utc>) -> ChangeId {
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let change = new_change(st, "start", &names, user, &targets[0].project_id, now);
    for t in targets {
        add_task(st, &change, "start-workshop", &format!("Start {:?} workshop", t.name), t, None, now);
    }
    change
}

/// Stop: one `stop-workshop` (not forced) per workshop.
pub fn stop(st: &mut State, user: &UserRef, targets: &[TaskTarget], now: DateTime<Utc>) -> ChangeId {
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let change = new_change(st, "stop", &names, user, &targets[0].project_id, now);
    for t in targets {
        let id = add_task(st, &change, "stop-workshop", &format!("Stop {:?} workshop", t.name), t, None, now);
        st.task_mut(&id).expect("exists").write(&keys::FORCE, &false);
    }
    change
}

/// Remove: stop (forced, when running), remove the instance (point of no return), then a
/// cleanup lane that deletes the workshop's storage, and first the stash of the workshops in
/// `stashed` (whose paused refresh the removal discards).
pub fn remove(
    st: &mut State,
    user: &UserRef,
    targets: &[(TaskTarget, bool)],
    stashed: &[String],
    now: DateTime<Utc>,
) -> ChangeId {
    let names: Vec<&str> = targets.iter().map(|(t, _)| t.name.as_str()).collect();
    let change = new_change(st, "remove", &names, user, &targets[0].0.project_id, now);
    for (target, running) in targets {
        let ws = &target.name;
        let mut chain = Chain::new(st, &change, target, now);
        let discarded = interface_plan::add_discard(chain.st, &change, target, None, now);
        chain.last = Some(discarded);
        if *running {
            let stop = chain.then("stop-workshop", format!("Stop {ws:?} workshop"));
            chain.st.task_mut(&stop).expect("exists").write(&keys::FORCE, &true);
        }
        let mut after = chain.then("remove-workshop", format!("Remove {ws:?} workshop"));
        let lane = st.new_lane();
        if stashed.contains(ws) {
            let summary = format!("Remove stash of {ws:?}");
            let stash = add_task(st, &change, "remove-workshop-stash", &summary, target, Some(&after), now);
            st.join_lane(&stash, lane);
            after = stash;
        }
        let cleanup = add_task(
            st,
            &change,
            "remove-workshop-storage",
            &format!("Remove storage of {ws:?}"),
            target,
            Some(&after),
            now,
        );
        st.join_lane(&cleanup, lane);
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> TaskTarget {
        TaskTarget {
            name: name.into(),
            project_id: "0123abcd".into(),
            project_path: "/home/u/p".into(),
            user: UserRef { name: "u".into(), uid: 1000, gid: 1000, data_home: None },
        }
    }

    fn kinds(st: &State, change: &str) -> Vec<String> {
        st.change_tasks(change).iter().map(|t| t.kind.clone()).collect()
    }

    #[test]
    fn summaries_match_the_reference() {
        assert_eq!(summary("launch", &["ws"]), r#"Launch "ws" workshop"#);
        assert_eq!(summary("remove", &["a", "b"]), r#"Remove "a", "b" workshops"#);
    }

    #[test]
    fn launch_is_a_chain_per_workshop() {
        let mut st = State::new();
        let now = Utc::now();
        let user = target("x").user;
        let items = vec![
            LaunchItem {
                target: target("a"),
                base: "ubuntu@22.04".into(),
                file: "name: a\n".into(),
                sdks: Vec::new(),
            },
            LaunchItem {
                target: target("b"),
                base: "ubuntu@22.04".into(),
                file: "name: b\n".into(),
                sdks: Vec::new(),
            },
        ];
        let change = launch(&mut st, &user, &items, Mode::WaitOnError, false, now);
        let c = st.change(&change).unwrap();
        assert_eq!(c.summary, r#"Launch "a", "b" workshops"#);
        assert_eq!(c.read(&keys::PROJECT_ID).as_deref(), Some("0123abcd"));
        let tasks = st.change_tasks(&change);
        assert_eq!(tasks.len(), 18);
        assert_eq!(
            kinds(&st, &change)[..9],
            [
                "download-base",
                "create-workshop-storage",
                "create-workshop",
                "start-workshop",
                "configure-timezone",
                "mount-project",
                "resolve-interfaces",
                "auto-connect",
                "setup-profiles"
            ]
        );
        // Each task waits for the previous one of its own workshop only.
        assert!(tasks[0].wait_tasks.is_empty() && tasks[9].wait_tasks.is_empty());
        assert_eq!(tasks[1].wait_tasks, vec![tasks[0].id.clone()]);
        assert_eq!(tasks[10].wait_tasks, vec![tasks[9].id.clone()]);
    }

    #[test]
    fn refresh_follows_the_reference_order() {
        use crate::managers::sdk::spec::SdkSource;
        let mut st = State::new();
        let now = Utc::now();
        let sdks = vec![
            SdkSpec { name: "system".into(), source: SdkSource::System, channel: None },
            SdkSpec { name: "new".into(), source: SdkSource::Project, channel: None },
        ];
        let item = |name: &str| RefreshItem {
            launch: LaunchItem {
                target: target(name),
                base: "ubuntu@22.04".into(),
                file: format!("name: {name}\n"),
                sdks: sdks.clone(),
            },
            kept: vec![Kept {
                name: "system".into(),
                tree: crate::sdk::TreeId::try_from("a".repeat(96)).unwrap(),
            }],
            restore: None,
            skip_state: false,
        };
        // c was asked for too, but is up to date: the change still names it.
        let requested = ["a", "b", "c"].map(String::from);
        let items = [item("a"), item("b")];
        let change = refresh(&mut st, &target("x").user, &requested, &items, Mode::Transactional, false, now);
        assert_eq!(st.change(&change).unwrap().summary, r#"Refresh "a", "b", "c" workshops"#);
        let kinds = kinds(&st, &change);
        let a: Vec<&str> = kinds[..kinds.len() / 2].iter().map(String::as_str).collect();
        assert_eq!(
            a,
            [
                "download-base",
                "retrieve-sdk",
                "retrieve-sdk",
                "mount-state-storage",
                "run-hook",
                "auto-disconnect",
                "stop-workshop",
                "remove-profiles",
                "stash-workshop",
                "rebuild-workshop",
                "start-workshop",
                "install-sdk",
                "run-hook",
                "snapshot-sdk",
                "install-sdk",
                "run-hook",
                "snapshot-sdk",
                "configure-timezone",
                "mount-project",
                "resolve-interfaces",
                "auto-connect",
                "setup-profiles",
                "mount-state-storage",
                "run-hook",
                "run-hook",
                "run-hook",
                "remove-state-storage",
                "run-hook",
                "run-hook",
            ]
        );
        let hooks: Vec<(String, String)> = st
            .change_tasks(&change)
            .iter()
            .filter(|t| t.read(&keys::WORKSHOP).as_deref() == Some("a"))
            .filter_map(|t| t.read(&keys::HOOK_SETUP))
            .map(|h| (h.sdk, h.hook.as_str().to_string()))
            .collect();
        let hook = |s: &str, h: &str| (s.to_string(), h.to_string());
        assert_eq!(
            hooks,
            [
                hook("system", "save-state"),
                hook("system", "setup-base"),
                hook("new", "setup-base"),
                hook("system", "setup-project"),
                hook("new", "setup-project"),
                hook("system", "restore-state"),
                hook("system", "check-health"),
                hook("new", "check-health"),
            ]
        );
        // A save-state hook knows the tree the SDK is installed from now (not the one the
        // rebuild installs), to look for the hook without asking LXD.
        let tasks = st.change_tasks(&change);
        let save = tasks
            .iter()
            .find(|t| t.read(&keys::HOOK_SETUP).is_some_and(|h| h.hook == Hook::SaveState))
            .unwrap();
        assert_eq!(save.read(&keys::HOOK_TREE), Some(items[0].kept[0].tree.clone()));
        let is_save =
            |t: &&crate::state::Task| t.read(&keys::HOOK_SETUP).is_some_and(|h| h.hook == Hook::SaveState);
        assert!(tasks.iter().filter(|t| !is_save(t)).all(|t| t.read(&keys::HOOK_TREE).is_none()));
        // The stashes go in the cleanup of stash-workshop, once the change is Done.
        assert!(tasks.iter().all(|t| t.kind != "remove-workshop-stash"));
        let stop = tasks.iter().find(|t| t.kind == "stop-workshop").unwrap();
        assert_eq!(stop.read(&keys::FORCE), Some(true));
        // The rebuild runs beside the stop; the stash waits for both.
        let of = |kind: &str| tasks.iter().find(|t| t.kind == kind).unwrap();
        assert_eq!(of("rebuild-workshop").wait_tasks, vec![of("auto-disconnect").id.clone()]);
        assert_eq!(stop.wait_tasks, vec![of("auto-disconnect").id.clone()]);
        // The profiles go from the stopped instance, its guest left alone.
        assert_eq!(of("remove-profiles").wait_tasks, vec![stop.id.clone()]);
        assert_eq!(of("remove-profiles").read(&keys::REPLACED), Some(true));
        assert_eq!(
            of("stash-workshop").wait_tasks,
            vec![of("remove-profiles").id.clone(), of("rebuild-workshop").id.clone()]
        );
        assert_eq!(of("start-workshop").wait_tasks, vec![of("stash-workshop").id.clone()]);
        // The time zone is set beside the last layer's snapshot and the devices, once the
        // last setup-base ran; the first setup-project hook waits for it.
        let of_a = |kind: &str, hook: Option<&str>| {
            tasks
                .iter()
                .filter(|t| t.kind == kind && t.read(&keys::WORKSHOP).as_deref() == Some("a"))
                .filter(|t| hook.is_none_or(|h| t.summary.contains(h)))
                .map(|t| t.id.clone())
                .collect::<Vec<_>>()
        };
        let timezone = of_a("configure-timezone", None);
        let last_base = of_a("run-hook", Some("setup-base")).pop().unwrap();
        let tz = tasks.iter().find(|t| t.id == timezone[0]).unwrap();
        assert_eq!(tz.wait_tasks, vec![last_base]);
        let first_project = of_a("run-hook", Some("setup-project")).remove(0);
        let first_project = tasks.iter().find(|t| t.id == first_project).unwrap();
        assert!(first_project.wait_tasks.contains(&timezone[0]), "{:?}", first_project.wait_tasks);
        let mount = of_a("mount-project", None);
        let mount = tasks.iter().find(|t| t.id == mount[0]).unwrap();
        assert!(!mount.wait_tasks.contains(&timezone[0]), "the chain goes on beside the time zone");

        // --skip-save-state: neither save-state nor restore-state runs, and the log says so.
        let skipping = RefreshItem { skip_state: true, ..item("a") };
        let change =
            refresh(&mut st, &target("x").user, &requested, &[skipping], Mode::Transactional, false, now);
        let hooks: Vec<String> = st
            .change_tasks(&change)
            .iter()
            .filter_map(|t| t.read(&keys::HOOK_SETUP))
            .map(|h| format!("{}:{}", h.sdk, h.hook.as_str()))
            .collect();
        assert_eq!(
            hooks,
            [
                "system:setup-base",
                "new:setup-base",
                "system:setup-project",
                "new:setup-project",
                "system:check-health",
                "new:check-health"
            ]
        );
        let tasks = st.change_tasks(&change);
        let storage = tasks.iter().find(|t| t.kind == "mount-state-storage").unwrap();
        assert!(
            storage.log.iter().any(|l| l.contains(r#"The state of SDKs "system" is not saved and restored"#)),
            "{:?}",
            storage.log
        );
    }

    #[test]
    fn a_removal_discarding_a_paused_refresh_removes_its_stash_first() {
        let mut st = State::new();
        let now = Utc::now();
        let change = remove(&mut st, &target("x").user, &[(target("a"), false)], &["a".into()], now);
        assert_eq!(
            kinds(&st, &change),
            [
                "remove-profiles",
                "discard-conns",
                "remove-workshop",
                "remove-workshop-stash",
                "remove-workshop-storage"
            ]
        );
    }

    #[test]
    fn remove_stops_only_running_workshops_and_cleans_up_in_its_own_lane() {
        let mut st = State::new();
        let now = Utc::now();
        let change =
            remove(&mut st, &target("x").user, &[(target("a"), true), (target("b"), false)], &[], now);
        assert_eq!(
            kinds(&st, &change),
            [
                "remove-profiles",
                "discard-conns",
                "stop-workshop",
                "remove-workshop",
                "remove-workshop-storage",
                "remove-profiles",
                "discard-conns",
                "remove-workshop",
                "remove-workshop-storage"
            ]
        );
        let tasks = st.change_tasks(&change);
        assert_eq!(tasks[2].read(&keys::FORCE), Some(true));
        assert_eq!(tasks[2].wait_tasks, vec![tasks[1].id.clone()]);
        // The removal is in the change's default lane 0; its cleanup in a lane of its own.
        assert_eq!(tasks[3].lanes(), [0]);
        assert_ne!(tasks[4].lanes(), [0]);
    }
}
