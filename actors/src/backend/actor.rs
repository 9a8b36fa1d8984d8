//! `BackendActor`: owns the backend and serves one typed message per operation.

use std::rc::Rc;

use actix::prelude::*;

use super::*;
use crate::health::{LxdStatus, SystemCheck};

/// The actor shell over a [`Backend`].
pub struct BackendActor {
    backend: Rc<dyn Backend>,
}

impl BackendActor {
    pub fn new(backend: Rc<dyn Backend>) -> Self {
        Self { backend }
    }
}

impl Actor for BackendActor {
    type Context = Context<Self>;
}

/// Declares a message per backend operation and its handler, which forwards to the trait.
macro_rules! backend_messages {
    ($( $(#[$doc:meta])* $msg:ident { $($field:ident : $ty:ty),* } -> $out:ty => |$b:ident, $m:ident| $call:expr; )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone)]
            pub struct $msg { $(pub $field: $ty),* }

            impl Message for $msg {
                type Result = Result<$out, BackendError>;
            }

            impl Handler<$msg> for BackendActor {
                type Result = ResponseFuture<Result<$out, BackendError>>;
                fn handle(&mut self, $m: $msg, _ctx: &mut Context<Self>) -> Self::Result {
                    let $b = self.backend.clone();
                    Box::pin(async move { $call.await })
                }
            }
        )*
    };
}

backend_messages! {
    /// Creates the user's LXD projects when missing.
    EnsureUser { user: String } -> () => |b, m| b.ensure_user(&m.user);
    /// Resolves a base name to an image.
    ResolveBase { base: String } -> BaseImage => |b, m| b.resolve_base(&m.base);
    /// Checks the runtime for `workshop doctor`.
    Diagnose { host: crate::doctor::HostQuery } -> Vec<workshop_api::doctor::Check> => |b, m| b.diagnose(&m.host);
    /// The pool's use and a user's instances on it.
    GetPoolUse { user: String } -> PoolUse => |b, m| b.pool_use(&m.user);
    /// Removes a user's template.
    RemoveTemplate { user: String, name: String } -> () => |b, m| b.remove_template(&m.user, &m.name);
    /// Lists a user's workshops.
    ListInstances { user: String, project_id: Option<String> } -> Vec<Instance>
        => |b, m| b.list(&m.user, m.project_id.as_deref());
    /// Gets one workshop.
    GetInstance { target: Target } -> Option<Instance> => |b, m| b.get(&m.target);
    /// Creates a workshop's instance.
    CreateInstance { target: Target, spec: CreateSpec } -> () => |b, m| b.create(&m.target, &m.spec);
    /// Deletes a workshop's instance.
    DeleteInstance { target: Target } -> () => |b, m| b.delete(&m.target);
    /// Sets a stopped workshop's instance aside and puts its rebuilt one in place.
    StashInstance { target: Target, spent: Vec<String> } -> String => |b, m| b.stash(&m.target, &m.spent);
    /// Deletes a rebuilt instance that was not put in place.
    DiscardRebuild { target: Target } -> () => |b, m| b.discard_rebuild(&m.target);
    /// Puts a stashed instance back in place.
    UnstashInstance { target: Target } -> () => |b, m| b.unstash(&m.target);
    /// Deletes a workshop's stash.
    DeleteStash { target: Target } -> () => |b, m| b.delete_stash(&m.target);
    /// Deletes a workshop's stash if it is the one of that id.
    DiscardStash { target: Target, id: String } -> () => |b, m| b.discard_stash(&m.target, &m.id);
    /// Gives a rebuilt workshop its stash's machine id.
    KeepMachineId { target: Target } -> () => |b, m| b.keep_machine_id(&m.target);
    /// Copies a workshop under another name.
    ForkInstance { source: Target, target: Target, spec: ForkSpec } -> ()
        => |b, m| b.fork(&m.source, &m.target, &m.spec);
    /// The deepest existing layer snapshot of those named (deepest first).
    FindSnapshot { user: String, names: Vec<String>, mark_used: bool } -> Option<String>
        => |b, m| b.find_snapshot(&m.user, &m.names, m.mark_used);
    /// Keeps a workshop's filesystem as a layer snapshot.
    TakeSnapshot { target: Target, name: String } -> () => |b, m| b.take_snapshot(&m.target, &m.name);
    /// Deletes unused layer snapshots past their cool-down.
    CollectSnapshots { user: Option<String>, cooldown: std::time::Duration } -> Vec<String>
        => |b, m| b.collect_snapshots(m.user.as_deref(), m.cooldown);
    /// Starts a workshop.
    StartInstance { target: Target } -> () => |b, m| b.start(&m.target);
    /// Waits for a started workshop's init system.
    WaitReady { target: Target } -> () => |b, m| b.wait_ready(&m.target);
    /// Stops a workshop.
    StopInstance { target: Target, mode: StopMode } -> () => |b, m| b.stop(&m.target, m.mode);
    /// Unmarks a stopped workshop, unless it started meanwhile.
    UnmarkStopped { target: Target } -> bool => |b, m| b.unmark_stopped(&m.target);
    /// Adds or replaces a device.
    SetDevice { target: Target, name: String, device: Device } -> ()
        => |b, m| b.set_device(&m.target, &m.name, &m.device);
    /// Sets config keys and adds or replaces a device, in one update.
    SetDeviceAndConfig { target: Target, name: String, device: Device, changes: Vec<(String, Option<String>)> } -> ()
        => |b, m| b.set_device_and_config(&m.target, &m.name, &m.device, &m.changes);
    /// Removes a device.
    RemoveDevice { target: Target, name: String } -> () => |b, m| b.remove_device(&m.target, &m.name);
    /// Sets (or, empty, removes) the profile of an SDK's interfaces.
    SetProfile { target: Target, sdk: String, devices: std::collections::BTreeMap<String, Device> } -> ()
        => |b, m| b.set_profile(&m.target, &m.sdk, &m.devices);
    /// Removes the profiles of SDKs.
    DropProfiles { target: Target, sdks: Vec<String> } -> () => |b, m| b.drop_profiles(&m.target, &m.sdks);
    /// The host's GPUs.
    HostGpus {} -> Vec<crate::lxd::GpuCard> => |b, _m| b.gpus();
    /// What hotplugged unix devices can match on.
    HostHotplug {} -> HotplugSupport => |b, _m| b.hotplug_support();
    /// Sets or removes config keys.
    SetConfig { target: Target, changes: Vec<(String, Option<String>)> } -> ()
        => |b, m| b.set_config(&m.target, &m.changes);
    /// Runs a command and collects its output.
    RunCommand { target: Target, spec: ExecSpec } -> RunOutput => |b, m| b.run(&m.target, &m.spec);
    /// Starts an interactive or streamed command.
    StartExec { target: Target, spec: ExecSpec } -> ExecSession => |b, m| b.exec(&m.target, &m.spec);
    /// Writes a file inside a workshop.
    PushFile { target: Target, file: GuestFile } -> () => |b, m| b.push_file(&m.target, &m.file);
    /// Publishes a workshop's names on the network.
    PublishNames { target: Target, project_name: String } -> HostName
        => |b, m| b.publish_names(&m.target, &m.project_name);
    /// Withdraws a workshop's names.
    WithdrawNames { target: Target } -> () => |b, m| b.withdraw_names(&m.target);
    /// The names of a user's workshops.
    HostNames { user: String } -> std::collections::BTreeMap<Target, HostName> => |b, m| b.host_names(&m.user);
}

/// The health check goes straight to the backend (it runs on the same arbiter).
pub struct BackendCheck(pub Rc<dyn Backend>);

#[async_trait::async_trait(?Send)]
impl SystemCheck for BackendCheck {
    async fn check(&self) -> (LxdStatus, Result<(), String>) {
        self.0.check().await
    }
}
