//! An in-memory [`Backend`] for unit tests of the managers: records every call and can be
//! told to fail an operation, so undo paths get exercised without LXD. Its exec sessions run
//! a tiny stand-in program chosen by the last words of the command (see [`FakeProgram`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::health::LxdStatus;

/// Where a stash keeps its identity (LXD's key).
const STASH_ID_KEY: &str = "volatile.uuid";

fn stash_id(stash: &Instance) -> String {
    stash.config.get(STASH_ID_KEY).cloned().unwrap_or_default()
}

#[derive(Default)]
struct Inner {
    instances: BTreeMap<Target, Instance>,
    /// Stashed instances, by the workshop they were.
    stashes: BTreeMap<Target, Instance>,
    /// Rebuilt instances not yet in place, by workshop, with the files of their snapshot.
    nexts: BTreeMap<Target, (Instance, BTreeMap<String, GuestFile>)>,
    calls: Vec<String>,
    /// Per operation: which calls count (those whose description contains the text), how many
    /// more of them succeed first, and the message of the failure.
    failures: HashMap<&'static str, (String, usize, String)>,
    files: BTreeMap<(Target, String), GuestFile>,
    bases: BTreeMap<String, String>,
    users: Vec<String>,
    execs: Vec<ExecSpec>,
    run_exits: Vec<(String, i32)>,
    names: BTreeMap<Target, HostName>,
    runs: Vec<ExecSpec>,
    programs: Vec<(String, RunProgram)>,
    /// The system check reports a full storage pool.
    pool_full: bool,
    /// Templates, as (user, name).
    templates: Vec<(String, String)>,
    /// Layer snapshots, as (user, name), with the files of the instance they were taken of.
    snapshots: BTreeMap<(String, String), BTreeMap<String, GuestFile>>,
    profiles: BTreeMap<(Target, String), BTreeMap<String, Device>>,
    gpus: Vec<crate::lxd::GpuCard>,
}

/// What a fake collected run does: given the command's spec, what it outputs, after as long
/// as the future takes (a run longer than its [`RunLimits::timeout`] is killed).
pub type RunProgram = Rc<dyn Fn(ExecSpec) -> LocalBoxFuture<'static, RunOutput>>;

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("instances", &self.instances)
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

/// In-memory backend. Cheap to share through `Rc`.
#[derive(Debug, Default)]
pub struct FakeBackend {
    inner: RefCell<Inner>,
}

impl FakeBackend {
    /// A backend that knows the given bases (name → fingerprint).
    pub fn with_bases(bases: &[(&str, &str)]) -> Self {
        let fake = Self::default();
        fake.inner.borrow_mut().bases = bases.iter().map(|(n, f)| (n.to_string(), f.to_string())).collect();
        fake
    }

    /// Gives `user` a template `name` (for `workshop du` and `prune`).
    pub fn add_template(&self, user: &str, name: &str) {
        self.inner.borrow_mut().templates.push((user.to_string(), name.to_string()));
    }

    /// The names of `user`'s layer snapshots.
    pub fn snapshots(&self, user: &str) -> Vec<String> {
        self.inner.borrow().snapshots.keys().filter(|(u, _)| u == user).map(|(_, n)| n.clone()).collect()
    }

    /// Makes the system check report a full storage pool (or not).
    pub fn set_pool_full(&self, full: bool) {
        self.inner.borrow_mut().pool_full = full;
    }

    /// Makes the next call of `op` (e.g. `"start"`) fail with `message`.
    pub fn fail_next(&self, op: &'static str, message: &str) {
        self.fail_after(op, 0, message);
    }

    /// Makes the call of `op` after the next `skip` ones fail with `message`.
    pub fn fail_after(&self, op: &'static str, skip: usize, message: &str) {
        self.fail_matching(op, "", skip, message);
    }

    /// Makes the call of `op` on something containing `needle` (e.g. a device name), after the
    /// next `skip` such calls, fail with `message`.
    pub fn fail_matching(&self, op: &'static str, needle: &str, skip: usize, message: &str) {
        self.inner.borrow_mut().failures.insert(op, (needle.to_string(), skip, message.to_string()));
    }

    /// Every call so far, as `op target` strings.
    pub fn calls(&self) -> Vec<String> {
        self.inner.borrow().calls.clone()
    }

    pub fn instance(&self, target: &Target) -> Option<Instance> {
        self.inner.borrow().instances.get(target).cloned()
    }

    /// The stash of a workshop, if any.
    pub fn stashed(&self, target: &Target) -> Option<Instance> {
        self.inner.borrow().stashes.get(target).cloned()
    }

    /// The rebuilt instance of a workshop not yet put in place, if any.
    pub fn rebuilt(&self, target: &Target) -> Option<Instance> {
        self.inner.borrow().nexts.get(target).map(|(i, _)| i.clone())
    }

    pub fn file(&self, target: &Target, path: &str) -> Option<GuestFile> {
        self.inner.borrow().files.get(&(target.clone(), path.to_string())).cloned()
    }

    /// The devices of the profile of SDK `sdk` of a workshop (empty: no profile).
    pub fn profile(&self, target: &Target, sdk: &str) -> BTreeMap<String, Device> {
        self.inner.borrow().profiles.get(&(target.clone(), sdk.to_string())).cloned().unwrap_or_default()
    }

    /// The host's GPUs from now on (none by default).
    pub fn set_gpus(&self, gpus: Vec<crate::lxd::GpuCard>) {
        self.inner.borrow_mut().gpus = gpus;
    }

    /// Every exec session started so far.
    pub fn execs(&self) -> Vec<ExecSpec> {
        self.inner.borrow().execs.clone()
    }

    /// The instance stops behind the daemon's back (LXD went down), still marked to run.
    pub fn halt(&self, target: &Target) {
        if let Some(i) = self.inner.borrow_mut().instances.get_mut(target) {
            i.running = false;
        }
    }

    /// Makes later `run` calls whose command line contains `needle` exit with `code`.
    pub fn set_run_exit(&self, needle: &str, code: i32) {
        self.inner.borrow_mut().run_exits.push((needle.to_string(), code));
    }

    /// Makes later `run` calls whose command line contains `needle` run `program` (the
    /// latest program whose needle matches wins over [`Self::set_run_exit`]).
    pub fn on_run(
        &self,
        needle: &str,
        program: impl Fn(ExecSpec) -> LocalBoxFuture<'static, RunOutput> + 'static,
    ) {
        self.inner.borrow_mut().programs.push((needle.to_string(), Rc::new(program)));
    }

    /// Every collected run so far.
    pub fn runs(&self) -> Vec<ExecSpec> {
        self.inner.borrow().runs.clone()
    }

    fn call(&self, op: &'static str, what: &str) -> Result<(), BackendError> {
        let mut inner = self.inner.borrow_mut();
        inner.calls.push(format!("{op} {what}"));
        match inner.failures.get_mut(op) {
            Some((needle, _, _)) if !what.contains(needle.as_str()) => Ok(()),
            Some((_, 0, _)) => Err(BackendError::Lxd(inner.failures.remove(op).expect("present").2)),
            Some((_, skip, _)) => {
                *skip -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn with_instance<R>(
        &self,
        target: &Target,
        f: impl FnOnce(&mut Instance) -> R,
    ) -> Result<R, BackendError> {
        let mut inner = self.inner.borrow_mut();
        let inst =
            inner.instances.get_mut(target).ok_or_else(|| BackendError::NotLaunched(target.name.clone()))?;
        Ok(f(inst))
    }
}

#[async_trait::async_trait(?Send)]
impl Backend for FakeBackend {
    async fn check(&self) -> (LxdStatus, Result<(), String>) {
        let pool_full = self.inner.borrow().pool_full;
        let status = LxdStatus {
            reachable: true,
            server_version: Some("fake".into()),
            pool_full,
            ..Default::default()
        };
        if pool_full {
            return (status, Err("storage pool \"fake\" is 95% full".into()));
        }
        (status, self.call("check", "").map_err(|e| e.to_string()))
    }

    async fn ensure_user(&self, user: &str) -> Result<(), BackendError> {
        self.call("ensure-user", user)?;
        let mut inner = self.inner.borrow_mut();
        if !inner.users.iter().any(|u| u == user) {
            inner.users.push(user.to_string());
        }
        Ok(())
    }

    async fn resolve_base(&self, base: &str) -> Result<BaseImage, BackendError> {
        self.call("resolve-base", base)?;
        let fingerprint = self.inner.borrow().bases.get(base).cloned().ok_or_else(|| {
            BackendError::BaseNotFound { base: base.into(), reason: "no such image".into() }
        })?;
        Ok(BaseImage { name: base.into(), fingerprint })
    }

    async fn list(&self, user: &str, project_id: Option<&str>) -> Result<Vec<Instance>, BackendError> {
        self.call("list", user)?;
        Ok(self
            .inner
            .borrow()
            .instances
            .values()
            .filter(|i| i.target.user == user && project_id.is_none_or(|p| i.target.project_id == p))
            .cloned()
            .collect())
    }

    async fn get(&self, target: &Target) -> Result<Option<Instance>, BackendError> {
        Ok(self.inner.borrow().instances.get(target).cloned())
    }

    async fn create(&self, target: &Target, spec: &CreateSpec) -> Result<(), BackendError> {
        let name = if spec.rebuild { target.next_name() } else { target.instance_name() };
        self.call("create", &name)?;
        let mut config = spec.config.clone();
        config.insert("image".into(), spec.image.clone());
        let mut inner = self.inner.borrow_mut();
        let made = if spec.rebuild {
            inner.nexts.contains_key(target)
        } else {
            inner.instances.contains_key(target)
        };
        if made {
            return Ok(());
        }
        // A copy of a snapshot has its files.
        let mut files = BTreeMap::new();
        if let Some(snapshot) = &spec.snapshot {
            let key = (target.user.clone(), snapshot.clone());
            files = inner.snapshots.get(&key).cloned().ok_or_else(|| {
                BackendError::Lxd(format!("cannot create {name}: no snapshot {snapshot:?}"))
            })?;
            config.insert("snapshot".into(), snapshot.clone());
        }
        let instance = Instance {
            target: target.clone(),
            running: false,
            autostart: false,
            config,
            devices: spec.devices.clone(),
        };
        if spec.rebuild {
            inner.nexts.insert(target.clone(), (instance, files));
        } else {
            for (path, file) in files {
                inner.files.insert((target.clone(), path), file);
            }
            inner.instances.insert(target.clone(), instance);
        }
        Ok(())
    }

    async fn delete(&self, target: &Target) -> Result<(), BackendError> {
        self.call("delete", &target.instance_name())?;
        let mut inner = self.inner.borrow_mut();
        inner.instances.remove(target);
        // Its profiles go with it, as the LXD backend's do.
        inner.profiles.retain(|(of, _), _| of != target);
        Ok(())
    }

    async fn stash(&self, target: &Target, spent: &[String]) -> Result<String, BackendError> {
        self.call("stash", &target.instance_name())?;
        let mut inner = self.inner.borrow_mut();
        let inner = &mut *inner;
        let in_place = inner.instances.contains_key(target) && inner.nexts.contains_key(target);
        if in_place && inner.stashes.get(target).is_some_and(|stash| spent.contains(&stash_id(stash))) {
            inner.stashes.remove(target);
        }
        let live = inner.instances.contains_key(target);
        let stashed = inner.stashes.contains_key(target);
        match (live, stashed, inner.nexts.contains_key(target)) {
            (true, true, false) => return Ok(stash_id(&inner.stashes[target])),
            (false, false, _) => return Err(BackendError::NotLaunched(target.name.clone())),
            (_, _, false) => {
                return Err(BackendError::Lxd(format!("{} has no rebuilt instance", target.instance_name())));
            }
            (true, true, true) => {
                return Err(BackendError::Lxd(format!(
                    "{} and its stash both exist",
                    target.instance_name()
                )));
            }
            (true, false, true) => {
                let mut old = inner.instances.remove(target).expect("live");
                // LXD's identity of an instance, which a rename keeps.
                old.config
                    .entry(STASH_ID_KEY.to_string())
                    .or_insert_with(|| format!("fake-{}", inner.calls.len()));
                inner.stashes.insert(target.clone(), old);
            }
            (false, true, true) => {}
        }
        let (next, files) = inner.nexts.remove(target).expect("rebuilt");
        for (path, file) in files {
            inner.files.insert((target.clone(), path), file);
        }
        inner.instances.insert(target.clone(), next);
        Ok(stash_id(&inner.stashes[target]))
    }

    async fn unstash(&self, target: &Target) -> Result<(), BackendError> {
        self.call("unstash", &target.instance_name())?;
        let mut inner = self.inner.borrow_mut();
        if let Some(stash) = inner.stashes.remove(target) {
            inner.instances.insert(target.clone(), stash);
        }
        Ok(())
    }

    async fn discard_rebuild(&self, target: &Target) -> Result<(), BackendError> {
        self.call("discard-rebuild", &target.instance_name())?;
        self.inner.borrow_mut().nexts.remove(target);
        Ok(())
    }

    async fn delete_stash(&self, target: &Target) -> Result<(), BackendError> {
        self.call("delete-stash", &target.instance_name())?;
        let mut inner = self.inner.borrow_mut();
        inner.nexts.remove(target);
        inner.stashes.remove(target);
        Ok(())
    }

    async fn discard_stash(&self, target: &Target, id: &str) -> Result<(), BackendError> {
        self.call("discard-stash", &target.instance_name())?;
        let mut inner = self.inner.borrow_mut();
        if inner.stashes.get(target).is_some_and(|stash| stash_id(stash) == id) {
            inner.stashes.remove(target);
        }
        Ok(())
    }

    async fn keep_machine_id(&self, target: &Target) -> Result<(), BackendError> {
        self.call("keep-machine-id", &target.instance_name())
    }

    async fn fork(&self, source: &Target, target: &Target, spec: &ForkSpec) -> Result<(), BackendError> {
        self.call("fork", &target.instance_name())?;
        let mut inner = self.inner.borrow_mut();
        let Some(from) = inner.instances.get(source).cloned() else {
            return Err(BackendError::NotLaunched(source.name.clone()));
        };
        if inner.instances.contains_key(target) {
            return Ok(());
        }
        let mut config = from.config.clone();
        for (key, value) in &spec.config {
            if value.is_empty() {
                config.remove(key);
            } else {
                config.insert(key.clone(), value.clone());
            }
        }
        config.insert("user.workshop.name".into(), target.name.clone());
        config.insert("forked-from".into(), source.instance_name());
        let mut devices = from.devices.clone();
        devices.extend(spec.devices.clone());
        let files: Vec<(String, GuestFile)> = inner
            .files
            .iter()
            .filter(|((t, path), _)| t == source && path != "/etc/machine-id")
            .map(|((_, p), f)| (p.clone(), f.clone()))
            .collect();
        for (path, file) in files {
            inner.files.insert((target.clone(), path), file);
        }
        let copy = Instance { target: target.clone(), running: false, autostart: false, config, devices };
        inner.instances.insert(target.clone(), copy);
        Ok(())
    }

    async fn find_snapshot(
        &self,
        user: &str,
        names: &[String],
        _mark_used: bool,
    ) -> Result<Option<String>, BackendError> {
        self.call("find-snapshot", &names.join(","))?;
        let inner = self.inner.borrow();
        Ok(names.iter().find(|n| inner.snapshots.contains_key(&(user.to_string(), n.to_string()))).cloned())
    }

    async fn take_snapshot(&self, target: &Target, name: &str) -> Result<(), BackendError> {
        self.call("take-snapshot", name)?;
        let mut inner = self.inner.borrow_mut();
        if !inner.instances.contains_key(target) {
            return Err(BackendError::NotLaunched(target.name.clone()));
        }
        let files: BTreeMap<String, GuestFile> = inner
            .files
            .iter()
            .filter(|((t, _), _)| t == target)
            .map(|((_, p), f)| (p.clone(), f.clone()))
            .collect();
        inner.snapshots.entry((target.user.clone(), name.to_string())).or_insert(files);
        Ok(())
    }

    async fn collect_snapshots(
        &self,
        user: Option<&str>,
        _cooldown: Duration,
    ) -> Result<Vec<String>, BackendError> {
        self.call("collect-snapshots", user.unwrap_or("*"))?;
        let mut inner = self.inner.borrow_mut();
        let referenced: Vec<(String, String)> = inner
            .instances
            .values()
            .chain(inner.stashes.values())
            .flat_map(|i| {
                i.config
                    .iter()
                    .filter(|(k, _)| k.starts_with(SNAPSHOT_REF_PREFIX))
                    .map(|(_, v)| (i.target.user.clone(), v.clone()))
            })
            .collect();
        let gone: Vec<(String, String)> = inner
            .snapshots
            .keys()
            .filter(|k| user.is_none_or(|u| k.0 == u) && !referenced.contains(k))
            .cloned()
            .collect();
        for key in &gone {
            inner.snapshots.remove(key);
        }
        Ok(gone.into_iter().map(|(_, name)| name).collect())
    }

    async fn start(&self, target: &Target) -> Result<(), BackendError> {
        self.call("start", &target.instance_name())?;
        self.with_instance(target, |i| i.running = true)
    }

    async fn wait_ready(&self, target: &Target) -> Result<(), BackendError> {
        self.call("wait-ready", &target.instance_name())?;
        match self.inner.borrow_mut().instances.get_mut(target) {
            Some(i) if i.running => {
                i.autostart = true;
                Ok(())
            }
            Some(_) => {
                Err(BackendError::StartFailed { name: target.name.clone(), reason: "not running".into() })
            }
            None => Err(BackendError::NotLaunched(target.name.clone())),
        }
    }

    async fn stop(&self, target: &Target, mode: StopMode) -> Result<(), BackendError> {
        let force = mode != StopMode::Clean;
        self.call("stop", &format!("{} force={force}", target.instance_name()))?;
        self.with_instance(target, |i| {
            i.running = false;
            i.autostart &= mode == StopMode::Discard;
        })
    }

    async fn unmark_stopped(&self, target: &Target) -> Result<bool, BackendError> {
        self.call("unmark-stopped", &target.instance_name())?;
        let unmarked = self.with_instance(target, |i| {
            let unmark = !i.running && i.autostart;
            i.autostart &= !unmark;
            unmark
        });
        match unmarked {
            Err(BackendError::NotLaunched(_)) => Ok(false),
            other => other,
        }
    }

    async fn set_device(&self, target: &Target, name: &str, device: &Device) -> Result<(), BackendError> {
        self.call("set-device", &format!("{} {name}", target.instance_name()))?;
        self.with_instance(target, |i| {
            i.devices.insert(name.to_string(), device.clone());
        })
    }

    async fn remove_device(&self, target: &Target, name: &str) -> Result<(), BackendError> {
        self.call("remove-device", &format!("{} {name}", target.instance_name()))?;
        self.with_instance(target, |i| {
            i.devices.remove(name);
        })
    }

    async fn set_profile(
        &self,
        target: &Target,
        sdk: &str,
        devices: &BTreeMap<String, Device>,
    ) -> Result<(), BackendError> {
        self.call("set-profile", &format!("{} {sdk}", target.instance_name()))?;
        let key = (target.clone(), sdk.to_string());
        let mut inner = self.inner.borrow_mut();
        if devices.is_empty() {
            inner.profiles.remove(&key);
        } else {
            if !inner.instances.contains_key(target) {
                return Err(BackendError::NotLaunched(target.name.clone()));
            }
            inner.profiles.insert(key, devices.clone());
        }
        Ok(())
    }

    async fn gpus(&self) -> Result<Vec<crate::lxd::GpuCard>, BackendError> {
        self.call("gpus", "")?;
        Ok(self.inner.borrow().gpus.clone())
    }

    async fn hotplug_support(&self) -> Result<HotplugSupport, BackendError> {
        self.call("hotplug_support", "")?;
        Ok(HotplugSupport::FULL)
    }

    async fn set_config(
        &self,
        target: &Target,
        changes: &[(String, Option<String>)],
    ) -> Result<(), BackendError> {
        self.call("set-config", &target.instance_name())?;
        self.with_instance(target, |i| {
            for (k, v) in changes {
                match v {
                    Some(v) => i.config.insert(k.clone(), v.clone()),
                    None => i.config.remove(k),
                };
            }
        })
    }

    async fn run(&self, target: &Target, spec: &ExecSpec) -> Result<RunOutput, BackendError> {
        let line = spec.command.join(" ");
        self.call("run", &format!("{} {line}", target.instance_name()))?;
        let running = self.with_instance(target, |i| i.running)?;
        if !running {
            return Err(BackendError::Lxd("instance is not running".into()));
        }
        let program = {
            let mut inner = self.inner.borrow_mut();
            inner.runs.push(spec.clone());
            inner.programs.iter().rev().find(|(n, _)| line.contains(n.as_str())).map(|(_, p)| p.clone())
        };
        if let Some(program) = program {
            let Ok(mut out) = tokio::time::timeout(spec.limits.timeout, program(spec.clone())).await else {
                let what = format!("run {line:?}");
                return Err(BackendError::TimedOut {
                    what,
                    name: target.name.clone(),
                    after: spec.limits.timeout,
                });
            };
            for stream in [&mut out.stdout, &mut out.stderr] {
                if stream.len() > spec.limits.output {
                    stream.truncate(spec.limits.output);
                    out.truncated = true;
                }
            }
            return Ok(out);
        }
        let inner = self.inner.borrow();
        let exit_code =
            inner.run_exits.iter().rev().find(|(n, _)| line.contains(n.as_str())).map_or(0, |(_, c)| *c);
        Ok(RunOutput { exit_code, ..RunOutput::default() })
    }

    async fn exec(&self, target: &Target, spec: &ExecSpec) -> Result<ExecSession, BackendError> {
        self.call("exec", &format!("{} {}", target.instance_name(), spec.command.join(" ")))?;
        if !self.with_instance(target, |i| i.running)? {
            return Err(BackendError::Lxd("instance is not running".into()));
        }
        self.inner.borrow_mut().execs.push(spec.clone());
        let (stdin, stdin_rx) = mpsc::channel(16);
        let (stdout_tx, stdout) = mpsc::channel(16);
        let (stderr_tx, stderr) = match spec.interactive {
            true => (None, None),
            false => {
                let (tx, rx) = mpsc::channel(16);
                (Some(tx), Some(rx))
            }
        };
        let (control, control_rx) = mpsc::channel(CONTROL_BUFFER);
        let (exit_tx, exit) = oneshot::channel();
        let io = FakeIo {
            stdin: stdin_rx,
            stdout: stdout_tx,
            stderr: stderr_tx,
            control: control_rx,
            pty: spec.interactive,
        };
        let program = FakeProgram::parse(&spec.command);
        actix_rt::spawn(async move {
            let code = program.run(io).await;
            let _ = exit_tx.send(Ok(code));
        });
        Ok(ExecSession { stdin, stdout, stderr, control, exit })
    }

    async fn publish_names(&self, target: &Target, project_name: &str) -> Result<HostName, BackendError> {
        self.call("publish-names", &format!("{} {project_name}", target.instance_name()))?;
        let mut inner = self.inner.borrow_mut();
        let friendly = hostname::project_label(project_name)
            .map(|label| hostname::friendly_name(&target.name, &label, "wp"))
            .filter(|name| !inner.names.iter().any(|(t, h)| t != target && h.name == *name));
        let host = match friendly {
            Some(name) => HostName { name, fallback: false },
            None => HostName {
                name: hostname::fallback_name(&target.name, &target.project_id, "wp"),
                fallback: true,
            },
        };
        inner.names.insert(target.clone(), host.clone());
        Ok(host)
    }

    async fn withdraw_names(&self, target: &Target) -> Result<(), BackendError> {
        self.call("withdraw-names", &target.instance_name())?;
        self.inner.borrow_mut().names.remove(target);
        Ok(())
    }

    async fn host_names(&self, user: &str) -> Result<BTreeMap<Target, HostName>, BackendError> {
        let names = &self.inner.borrow().names;
        Ok(names.iter().filter(|(t, _)| t.user == user).map(|(t, h)| (t.clone(), h.clone())).collect())
    }

    async fn diagnose(
        &self,
        host: &crate::doctor::HostQuery,
    ) -> Result<Vec<workshop_api::doctor::Check>, BackendError> {
        use workshop_api::doctor::{Check, CheckStatus};
        self.call("diagnose", &format!("uid={} fix={}", host.uid, host.fix))?;
        // The fake has no host to look at (nor to fix): those checks are skipped.
        let ok = |name: &str| Check::ok(name, "fake backend");
        let skipped = |name: &str| Check::new(name, CheckStatus::Skipped, "fake backend");
        Ok(vec![
            ok("lxd"),
            ok("storage-pool"),
            ok("network"),
            ok("images"),
            skipped("id-map"),
            skipped("firewall"),
            skipped("host-dns"),
            skipped("kernel-limits"),
            skipped("guest-socket"),
        ])
    }

    async fn pool_use(&self, user: &str) -> Result<PoolUse, BackendError> {
        self.call("pool-use", user)?;
        let inner = self.inner.borrow();
        let instances = inner
            .instances
            .keys()
            .filter(|t| t.user == user)
            .map(|t| InstanceUse { name: t.instance_name(), template: false, size: Some(1 << 20) })
            .chain(inner.templates.iter().filter(|(u, _)| u == user).map(|(_, name)| InstanceUse {
                name: name.clone(),
                template: true,
                size: Some(2 << 20),
            }))
            .collect();
        let referenced: Vec<&String> = inner
            .instances
            .values()
            .chain(inner.stashes.values())
            .filter(|i| i.target.user == user)
            .flat_map(|i| i.config.iter().filter(|(k, _)| k.starts_with(SNAPSHOT_REF_PREFIX)).map(|(_, v)| v))
            .collect();
        let snapshots = inner
            .snapshots
            .keys()
            .filter(|(u, _)| u == user)
            .map(|(_, name)| SnapshotUse {
                name: name.clone(),
                size: Some(3 << 20),
                in_use: referenced.contains(&name),
            })
            .collect();
        Ok(PoolUse {
            name: "fake".into(),
            driver: "btrfs".into(),
            used: 3 << 30,
            total: 8 << 30,
            instances,
            snapshots,
        })
    }

    async fn remove_template(&self, user: &str, name: &str) -> Result<(), BackendError> {
        self.call("remove-template", &format!("{user} {name}"))?;
        self.inner.borrow_mut().templates.retain(|(u, n)| !(u == user && n == name));
        Ok(())
    }

    async fn push_file(&self, target: &Target, file: &GuestFile) -> Result<(), BackendError> {
        self.call("push-file", &format!("{} {}", target.instance_name(), file.path))?;
        self.inner.borrow_mut().files.insert((target.clone(), file.path.clone()), file.clone());
        Ok(())
    }
}

/// What a fake exec session runs, chosen by the last two words of its command:
/// `exit N` exits with N; `sleep SECS` sleeps; `stderr TEXT` writes TEXT to standard error
/// (standard output with a pty); anything else copies standard input to standard output
/// until end of input (on a pty: up to a Ctrl-D). A signal ends the program with 128 + its
/// number.
#[derive(Debug, Clone, PartialEq)]
pub enum FakeProgram {
    Exit(i32),
    Sleep(Duration),
    Stderr(String),
    Cat,
}

impl FakeProgram {
    /// The program a command line runs.
    pub fn parse(command: &[String]) -> Self {
        let [.., word, arg] = command else { return Self::Cat };
        match word.as_str() {
            "exit" => arg.parse().map_or(Self::Cat, Self::Exit),
            // Negative, NaN or endless sleeps are a client's mistake, not a panic.
            "sleep" => arg
                .parse()
                .ok()
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .map_or(Self::Cat, Self::Sleep),
            "stderr" => Self::Stderr(arg.clone()),
            _ => Self::Cat,
        }
    }

    async fn run(self, mut io: FakeIo) -> i32 {
        match self {
            Self::Exit(code) => code,
            Self::Stderr(text) => {
                let out = io.stderr.as_ref().unwrap_or(&io.stdout);
                let _ = out.send(Bytes::from(text)).await;
                0
            }
            Self::Sleep(d) => tokio::select! {
                _ = tokio::time::sleep(d) => 0,
                sig = next_signal(&mut io.control) => 128 + sig,
            },
            Self::Cat => loop {
                tokio::select! {
                    data = io.stdin.recv() => match data {
                        Some(bytes) => {
                            let eot = if io.pty { bytes.iter().position(|&b| b == 4) } else { None };
                            let _ = io.stdout.send(bytes.slice(..eot.unwrap_or(bytes.len()))).await;
                            if eot.is_some() {
                                break 0;
                            }
                        }
                        None => break 0,
                    },
                    sig = next_signal(&mut io.control) => break 128 + sig,
                }
            },
        }
    }
}

/// The command's side of a fake exec session.
struct FakeIo {
    stdin: mpsc::Receiver<Bytes>,
    stdout: mpsc::Sender<Bytes>,
    stderr: Option<mpsc::Sender<Bytes>>,
    control: mpsc::Receiver<SessionControl>,
    /// The session has a terminal (Ctrl-D is end of input).
    pty: bool,
}

/// The next signal sent to the session (window sizes are ignored).
async fn next_signal(control: &mut mpsc::Receiver<SessionControl>) -> i32 {
    loop {
        match control.recv().await {
            Some(SessionControl::Signal(sig)) => return sig,
            Some(SessionControl::Resize { .. }) => {}
            None => return std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn programs_are_chosen_by_the_last_words() {
        assert_eq!(
            FakeProgram::parse(&v(&["sudo", "--", "bash", "-c", "x", "exit", "3"])),
            FakeProgram::Exit(3)
        );
        assert_eq!(FakeProgram::parse(&v(&["sleep", "0.5"])), FakeProgram::Sleep(Duration::from_millis(500)));
        assert_eq!(FakeProgram::parse(&v(&["stderr", "oops"])), FakeProgram::Stderr("oops".into()));
        assert_eq!(FakeProgram::parse(&v(&["cat"])), FakeProgram::Cat);
        assert_eq!(FakeProgram::parse(&v(&["exit", "x"])), FakeProgram::Cat);
        // These panicked in Duration::from_secs_f64.
        for bad in ["-1", "NaN", "inf", "1e300"] {
            assert_eq!(FakeProgram::parse(&v(&["sleep", bad])), FakeProgram::Cat, "{bad}");
        }
    }

    #[actix_rt::test]
    async fn sessions_echo_input_and_stop_on_signals() {
        let fake = FakeBackend::default();
        let t = Target::new("u", "p1", "ws");
        fake.create(&t, &CreateSpec::default()).await.unwrap();
        let spec = ExecSpec { command: v(&["cat"]), ..ExecSpec::default() };
        assert!(fake.exec(&t, &spec).await.is_err(), "a stopped workshop runs nothing");
        fake.start(&t).await.unwrap();

        let mut session = fake.exec(&t, &spec).await.unwrap();
        session.stdin.send(Bytes::from_static(b"hi")).await.unwrap();
        assert_eq!(session.stdout.recv().await.unwrap(), "hi");
        drop(session.stdin);
        assert_eq!(session.exit.await.unwrap().unwrap(), 0);

        let pty = ExecSpec { interactive: true, ..spec.clone() };
        let mut session = fake.exec(&t, &pty).await.unwrap();
        session.stdin.send(Bytes::from_static(b"typed\x04")).await.unwrap();
        assert_eq!(session.stdout.recv().await.unwrap(), "typed");
        assert_eq!(session.exit.await.unwrap().unwrap(), 0, "Ctrl-D ends input on a terminal");

        let session =
            fake.exec(&t, &ExecSpec { command: v(&["sleep", "60"]), ..spec.clone() }).await.unwrap();
        session.control.send(SessionControl::Signal(libc::SIGTERM)).await.unwrap();
        assert_eq!(session.exit.await.unwrap().unwrap(), 128 + libc::SIGTERM);
        assert_eq!(fake.execs().len(), 3);

        fake.set_run_exit("test -d /nope", 1);
        let run = |c: &[&str]| ExecSpec { command: v(c), ..ExecSpec::default() };
        assert_eq!(fake.run(&t, &run(&["test", "-d", "/nope"])).await.unwrap().exit_code, 1);
        assert_eq!(fake.run(&t, &run(&["test", "-d", "/project"])).await.unwrap().exit_code, 0);
    }
}
