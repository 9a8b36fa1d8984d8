//! An in-memory [`Backend`] for unit tests of the managers: records every call and can be
//! told to fail an operation, so undo paths get exercised without LXD.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::health::LxdStatus;

#[derive(Debug, Default)]
struct Inner {
    instances: BTreeMap<Target, Instance>,
    calls: Vec<String>,
    failures: HashMap<&'static str, String>,
    files: BTreeMap<(Target, String), GuestFile>,
    bases: BTreeMap<String, String>,
    users: Vec<String>,
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
        fake.inner.borrow_mut().bases =
            bases.iter().map(|(n, f)| (n.to_string(), f.to_string())).collect();
        fake
    }

    /// Makes the next call of `op` (e.g. `"start"`) fail with `message`.
    pub fn fail_next(&self, op: &'static str, message: &str) {
        self.inner.borrow_mut().failures.insert(op, message.to_string());
    }

    /// Every call so far, as `op target` strings.
    pub fn calls(&self) -> Vec<String> {
        self.inner.borrow().calls.clone()
    }

    pub fn instance(&self, target: &Target) -> Option<Instance> {
        self.inner.borrow().instances.get(target).cloned()
    }

    pub fn file(&self, target: &Target, path: &str) -> Option<GuestFile> {
        self.inner.borrow().files.get(&(target.clone(), path.to_string())).cloned()
    }

    fn call(&self, op: &'static str, what: &str) -> Result<(), BackendError> {
        let mut inner = self.inner.borrow_mut();
        inner.calls.push(format!("{op} {what}"));
        match inner.failures.remove(op) {
            Some(message) => Err(BackendError::Lxd(message)),
            None => Ok(()),
        }
    }

    fn with_instance<R>(&self, target: &Target, f: impl FnOnce(&mut Instance) -> R) -> Result<R, BackendError> {
        let mut inner = self.inner.borrow_mut();
        let inst = inner
            .instances
            .get_mut(target)
            .ok_or_else(|| BackendError::NotLaunched(target.name.clone()))?;
        Ok(f(inst))
    }
}

#[async_trait::async_trait(?Send)]
impl Backend for FakeBackend {
    async fn check(&self) -> (LxdStatus, Result<(), String>) {
        let status = LxdStatus { reachable: true, server_version: Some("fake".into()), ..Default::default() };
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
        self.call("create", &target.instance_name())?;
        let mut config = spec.config.clone();
        config.insert("image".into(), spec.image.clone());
        self.inner.borrow_mut().instances.entry(target.clone()).or_insert_with(|| Instance {
            target: target.clone(),
            running: false,
            config,
            devices: spec.devices.clone(),
        });
        Ok(())
    }

    async fn delete(&self, target: &Target) -> Result<(), BackendError> {
        self.call("delete", &target.instance_name())?;
        self.inner.borrow_mut().instances.remove(target);
        Ok(())
    }

    async fn start(&self, target: &Target) -> Result<(), BackendError> {
        self.call("start", &target.instance_name())?;
        self.with_instance(target, |i| i.running = true)
    }

    async fn stop(&self, target: &Target, force: bool) -> Result<(), BackendError> {
        self.call("stop", &format!("{} force={force}", target.instance_name()))?;
        self.with_instance(target, |i| i.running = false)
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

    async fn set_config(&self, target: &Target, changes: &[(String, Option<String>)]) -> Result<(), BackendError> {
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

    async fn run(&self, target: &Target, spec: &ExecSpec) -> Result<ExecOutput, BackendError> {
        self.call("run", &format!("{} {}", target.instance_name(), spec.command.join(" ")))?;
        let running = self.with_instance(target, |i| i.running)?;
        if !running {
            return Err(BackendError::Lxd("instance is not running".into()));
        }
        Ok(ExecOutput::default())
    }

    async fn exec(&self, target: &Target, spec: &ExecSpec) -> Result<ExecSession, BackendError> {
        self.call("exec", &format!("{} {}", target.instance_name(), spec.command.join(" ")))?;
        let (stdin, _stdin_rx) = mpsc::channel(1);
        let (_stdout_tx, stdout) = mpsc::channel(1);
        let (control, _control_rx) = mpsc::unbounded_channel();
        let (exit_tx, exit) = oneshot::channel();
        let _ = exit_tx.send(Ok(0));
        Ok(ExecSession { stdin, stdout, stderr: None, control, exit })
    }

    async fn push_file(&self, target: &Target, file: &GuestFile) -> Result<(), BackendError> {
        self.call("push-file", &format!("{} {}", target.instance_name(), file.path))?;
        self.inner.borrow_mut().files.insert((target.clone(), file.path.clone()), file.clone());
        Ok(())
    }
}
