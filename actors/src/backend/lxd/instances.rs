//! Workshop instances: create, delete, start (and wait for the init system), stop, edits with
//! ETags, list and get.

use std::future::Future;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::exec::collect;
use super::layout::{self, AUTOSTART_KEY};
use super::{LxdBackend, guest_templates, instance_error, lxd_error, machine_id, post_stop};
use crate::backend::{BackendError, CreateSpec, Device, ExecSpec, Instance, RunLimits, StopMode, Target};
use crate::lxd::{self, Client, InstanceCreate, InstancePut, InstanceSource, LxdError};

/// How long LXD may take to start an instance.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the guest's init system may take to come up.
const INIT_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between init-system probes that failed outright (bus not up yet, ...).
const INIT_RETRY: Duration = Duration::from_millis(50);
/// Clean-shutdown timeout of a stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// After a clean stop reported as failed: how long to watch for the guest to finish going
/// down before asking again, and how often to look.
const STOP_SETTLE: Duration = Duration::from_secs(5);
const STOP_POLL: Duration = Duration::from_millis(200);
/// How long to wait for LXD to finish another operation on an instance (e.g. the clean-up
/// after a failed start), and how often to ask.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
const BUSY_RETRY: Duration = Duration::from_millis(500);
/// How long a stash waits for the stash of the refresh before it to go, and how often it looks.
const STASH_GONE_TIMEOUT: Duration = Duration::from_secs(30);
const STASH_GONE_POLL: Duration = Duration::from_millis(100);
/// How long reading the machine id from a stash may take.
const MACHINE_ID_WAIT: Duration = Duration::from_secs(10);

impl LxdBackend {
    /// A client scoped to the user's instances project.
    pub(super) fn instances_client(&self, user: &str) -> Client {
        self.client.project(&layout::instances_project(user))
    }

    pub(super) async fn list(
        &self,
        user: &str,
        project_id: Option<&str>,
    ) -> Result<Vec<Instance>, BackendError> {
        let instances = match self.instances_client(user).list_instances(None).await {
            Ok(instances) => instances,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(lxd_error(&format!("list the workshops of {user:?}"), e)),
        };
        Ok(instances
            .into_iter()
            .filter_map(|i| layout::to_instance(user, i))
            .filter(|i| project_id.is_none_or(|p| i.target.project_id == p))
            .collect())
    }

    pub(super) async fn get(&self, target: &Target) -> Result<Option<Instance>, BackendError> {
        match self.instances_client(&target.user).get_instance(&target.instance_name()).await {
            Ok((instance, _)) => {
                Ok(layout::to_instance(&target.user, instance).filter(|i| i.target == *target))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(lxd_error(&format!("get workshop {:?}", target.name), e)),
        }
    }

    pub(super) async fn create(&self, target: &Target, spec: &CreateSpec) -> Result<(), BackendError> {
        self.ensure_user(&target.user).await?;
        let client = self.instances_client(&target.user);
        let name = if spec.rebuild { target.next_name() } else { target.instance_name() };
        let what = format!("create workshop {:?}", target.name);
        match client.get_instance(&name).await {
            Ok((existing, _)) => {
                check_owner(target, &existing)?;
                // Made by a daemon that died meanwhile: LXD may still be at it (and its
                // storage must not be touched until it is done).
                wait_for_operations(&client, &name).await.map_err(|e| lxd_error(&what, e))?;
                match guest_templates::add(&client, &name).await {
                    Ok(()) => return Ok(()),
                    // That creation failed and LXD removed what it had made.
                    Err(e) if e.is_not_found() => debug!(instance = %name, "gone; creating it again"),
                    Err(e) => return Err(lxd_error(&what, e)),
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(lxd_error(&what, e)),
        }
        // A rebuilt instance keeps the machine id the workshop's instance (stopping meanwhile)
        // was given; one made before ids were kept in the config gets it from its stash (see
        // keep_machine_id). Any other is a new machine.
        let id = if spec.rebuild {
            match client.get_instance(&target.instance_name()).await {
                Ok((old, _)) => machine_id::of_config(&old.config),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(lxd_error(&what, e)),
            }
        } else {
            Some(machine_id::new_id())
        };
        let mut create = InstanceCreate::new(&name, InstanceSource::ImageFingerprint(spec.image.clone()));
        create.config = layout::instance_config(target, spec);
        create.config.insert(machine_id::KEY.to_string(), id.unwrap_or_default());
        create.devices = spec.devices.clone();
        // A layer snapshot when the caller found one (the layers' set-up is in it: no other
        // source will do), else the template when it is ready, else the image.
        let copy_of = match &spec.snapshot {
            Some(snapshot) => Some((snapshot.clone(), Some(layout::snapshots_project(&target.user)))),
            None => self.ready_template(target, spec).await.map(|template| (template, None)),
        };
        // Post-stop hooks not learned since the daemon started: from the instance this one
        // replaces, else the template it is copied from.
        if !self.post_stop_read() {
            let template = copy_of.as_ref().filter(|(_, project)| project.is_none()).map(|(t, _)| t.as_str());
            let from = if spec.rebuild { Some(target.instance_name()) } else { template.map(str::to_string) };
            if let Some(from) = from {
                self.learn_post_stop(&target.user, &from).await;
            }
        }
        create.config.insert(post_stop::KEY.to_string(), self.raw_lxc(target));
        let created = match copy_of {
            Some((source, project)) => {
                let from_snapshot = project.is_some();
                let mut copy = create.clone();
                copy.source = InstanceSource::Copy { source, project, instance_only: true, refresh: false };
                copy.config.extend(layout::copy_overrides());
                // LXD 5.0 gives a copy without profiles none at all (so no root disk).
                copy.profiles = Some(vec!["default".to_string()]);
                // LXD may still be finishing the template's stop ("busy").
                match when_idle(|| client.create_instance(&copy)).await {
                    Err(e) if !e.is_already_exists() && !from_snapshot => {
                        warn!(instance = %name, error = %e, "cannot copy the template; creating from the image");
                        when_idle(|| client.create_instance(&create)).await
                    }
                    copied => copied,
                }
            }
            // Busy: another daemon is creating it; then it exists.
            None => when_idle(|| client.create_instance(&create)).await,
        };
        match created {
            Ok(()) => {}
            Err(e) if e.is_already_exists() => {
                let (existing, _) = client.get_instance(&name).await.map_err(|e| lxd_error(&what, e))?;
                check_owner(target, &existing)?;
                // Another daemon is making it.
                wait_for_operations(&client, &name).await.map_err(|e| lxd_error(&what, e))?;
                return guest_templates::add(&client, &name).await.map_err(|e| lxd_error(&what, e));
            }
            Err(e) => return Err(lxd_error(&what, e)),
        }
        // A failed task is not undone: what this call made goes with its failure (a full pool
        // can refuse the template files of an instance LXD has just made).
        if let Err(e) = guest_templates::add(&client, &name).await {
            if let Err(gone) = delete_if_present(&client, &name).await {
                warn!(instance = %name, error = %gone, "cannot delete an instance whose creation failed");
            }
            return Err(lxd_error(&what, e));
        }
        Ok(())
    }

    /// Renames the stopped instance to its stash name, then the rebuilt one to the
    /// workshop's: each step is skipped when a crash left it done. The stash of a refresh
    /// that went through may still be there (it goes after its change is ready): deleted
    /// when its id is `spent`, else its removal is waited for. Returns the stash's LXD
    /// `volatile.uuid`, which a rename keeps.
    pub(super) async fn stash(&self, target: &Target, spent: &[String]) -> Result<String, BackendError> {
        let client = self.instances_client(&target.user);
        let (name, stash, next) = (target.instance_name(), target.stash_name(), target.next_name());
        let what = format!("stash workshop {:?}", target.name);
        let err = |e| lxd_error(&what, e);
        let deadline = Instant::now() + STASH_GONE_TIMEOUT;
        // The post-stop hooks of the workshop's instance name it, which a stash is not: LXD's
        // own go back on the stash, should LXD start it by itself. That edit goes along with
        // the rename of the rebuilt instance (one LXD request less before the start).
        let plain = layout::workshop_raw_lxc(None);
        let unhook = serde_json::json!({ "config": { post_stop::KEY: &plain } });
        let swap = |hooked: bool| {
            let (client, name, stash, next, unhook) = (&client, &name, &stash, &next, &unhook);
            async move {
                let unhooked = async {
                    if hooked {
                        when_idle(|| client.patch_instance(stash, unhook, "")).await?;
                    }
                    Ok(())
                };
                let (swapped, unhooked) =
                    futures_util::future::join(swap_in(client, name, stash, next), unhooked).await;
                swapped.and(unhooked)
            }
        };
        loop {
            let (live, stashed, rebuilt) = futures_util::future::join3(
                client.get_instance(&name),
                client.get_instance(&stash),
                exists(&client, &next),
            )
            .await;
            let (live, stashed) = (found(live).map_err(err)?, found(stashed).map_err(err)?);
            if let Some(live) = &live {
                check_owner(target, live)?;
            }
            let rebuilt = rebuilt.map_err(err)?;
            return match (live, stashed, rebuilt) {
                (Some(live), None, true) => {
                    rename(&client, &name, &stash).await.map_err(err)?;
                    swap(live.config.get(post_stop::KEY) != Some(&plain)).await.map_err(err)?;
                    Ok(stash_id(&live))
                }
                (None, Some(stashed), true) => {
                    swap(stashed.config.get(post_stop::KEY) != Some(&plain)).await.map_err(err)?;
                    Ok(stash_id(&stashed))
                }
                (Some(_), Some(stashed), false) => Ok(stash_id(&stashed)),
                (None, None, _) => Err(BackendError::NotLaunched(target.name.clone())),
                (_, _, false) => {
                    Err(BackendError::Lxd(format!("cannot {what}: it has no rebuilt instance {next:?}")))
                }
                (Some(_), Some(stashed), true) if spent.iter().any(|id| is_stash(&stashed, id)) => {
                    debug!(instance = %stash, "deleting the stash of a refresh that went through");
                    delete_if_present(&client, &stash).await.map_err(err)?;
                    continue;
                }
                (Some(_), Some(_), true) if Instant::now() < deadline => {
                    debug!(instance = %name, "waiting for the stash of the last refresh to go");
                    actix_rt::time::sleep(STASH_GONE_POLL).await;
                    continue;
                }
                (Some(_), Some(_), true) => Err(BackendError::Lxd(format!(
                    "cannot {what}: instances {name:?} and {stash:?} both exist"
                ))),
            };
        }
    }

    /// Deletes whatever instance has the workshop's name, then renames the stash back (one of
    /// the older name too). A stash keeps its mark to run (see [`StopMode::Discard`]): one LXD
    /// started by itself meanwhile is killed first.
    pub(super) async fn unstash(&self, target: &Target) -> Result<(), BackendError> {
        let client = self.instances_client(&target.user);
        let name = target.instance_name();
        let what = format!("put back workshop {:?}", target.name);
        let [older, _] = target.older_names();
        let stash = if exists(&client, &target.stash_name()).await.map_err(|e| lxd_error(&what, e))? {
            target.stash_name()
        } else if is_generation_of(&client, &older, target).await.map_err(|e| lxd_error(&what, e))? {
            older
        } else {
            return Ok(());
        };
        if !is_stopped(&client, &stash).await.map_err(|e| lxd_error(&what, e))? {
            when_idle(|| client.stop_instance(&stash, None, true)).await.map_err(|e| lxd_error(&what, e))?;
        }
        delete_if_present(&client, &name).await.map_err(|e| lxd_error(&what, e))?;
        rename(&client, &stash, &name).await.map_err(|e| lxd_error(&what, e))
    }

    /// Deletes the rebuilt instance (one of the older name too).
    pub(super) async fn discard_rebuild(&self, target: &Target) -> Result<(), BackendError> {
        let [_, older] = target.older_names();
        let what = format!("discard the rebuilt instance of workshop {:?}", target.name);
        self.delete_generation(target, &target.next_name(), &older).await.map_err(|e| lxd_error(&what, e))
    }

    /// Deletes the rebuilt instance and the stash (of the older names too).
    pub(super) async fn delete_stash(&self, target: &Target) -> Result<(), BackendError> {
        self.discard_rebuild(target).await?;
        let [older, _] = target.older_names();
        let what = format!("delete the stash of workshop {:?}", target.name);
        self.delete_generation(target, &target.stash_name(), &older).await.map_err(|e| lxd_error(&what, e))
    }

    /// Deletes instance `name`, and `older` when it records being a generation of `target`.
    async fn delete_generation(&self, target: &Target, name: &str, older: &str) -> Result<(), LxdError> {
        let client = self.instances_client(&target.user);
        delete_if_present(&client, name).await?;
        if is_generation_of(&client, older, target).await? {
            delete_if_present(&client, older).await?;
        }
        Ok(())
    }

    /// Deletes the workshop's stash when it is the one whose `volatile.uuid` is `id`: a stash
    /// made since by another refresh stays.
    pub(super) async fn discard_stash(&self, target: &Target, id: &str) -> Result<(), BackendError> {
        let client = self.instances_client(&target.user);
        let stash = target.stash_name();
        let what = format!("delete the stash of workshop {:?}", target.name);
        match found(client.get_instance(&stash).await).map_err(|e| lxd_error(&what, e))? {
            Some(instance) if is_stash(&instance, id) => {
                delete_if_present(&client, &stash).await.map_err(|e| lxd_error(&what, e))
            }
            Some(_) => {
                debug!(instance = %stash, "the stash is another refresh's; leaving it");
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Gives the rebuilt instance the stash's machine id when its config has none (a workshop
    /// made before ids were kept there): the stash's `/etc/machine-id`, when it is a regular
    /// file holding a valid id. The guest wrote that file: whatever else it is (missing, a
    /// link, too big for the client, a FIFO that LXD would wait on for ever) is left behind
    /// after a bounded wait, and the rebuilt instance makes its own id.
    pub(super) async fn keep_machine_id(&self, target: &Target) -> Result<(), BackendError> {
        let client = self.instances_client(&target.user);
        let (name, stash) = (target.instance_name(), target.stash_name());
        let what = format!("keep the machine id of workshop {:?}", target.name);
        let (rebuilt, _) = client.get_instance(&name).await.map_err(|e| lxd_error(&what, e))?;
        if machine_id::of_config(&rebuilt.config).is_some() {
            return Ok(());
        }
        let id = match tokio::time::timeout(MACHINE_ID_WAIT, client.pull_file(&stash, machine_id::PATH)).await
        {
            Ok(Ok((_, lxd::FileContent::File(body)))) => machine_id::parse(&body),
            Ok(Ok(_)) => None,
            Ok(Err(e)) if e.is_not_found() => None,
            Ok(Err(e)) => {
                warn!(workshop = %target.name, error = %e, "cannot read the stash's machine id");
                None
            }
            Err(_) => {
                warn!(workshop = %target.name, "reading the stash's machine id timed out");
                None
            }
        };
        let Some(id) = id else {
            debug!(workshop = %target.name, "no valid machine id in the stash; the rebuilt instance makes its own");
            return Ok(());
        };
        self.set_config(target, &[(machine_id::KEY.to_string(), Some(id))]).await
    }

    pub(super) async fn delete(&self, target: &Target) -> Result<(), BackendError> {
        let client = self.instances_client(&target.user);
        let what = format!("delete workshop {:?}", target.name);
        delete_if_present(&client, &target.instance_name()).await.map_err(|e| lxd_error(&what, e))?;
        self.drop_orphan_profiles(target).await;
        Ok(())
    }

    pub(super) async fn start(&self, target: &Target) -> Result<(), BackendError> {
        let client = self.instances_client(&target.user);
        let name = target.instance_name();
        let (instance, _) =
            client.get_instance(&name).await.map_err(|e| instance_error(target, "start workshop", e))?;
        if instance.is_running() {
            return Ok(());
        }
        // Its post-stop hooks name the instance it is now (it may have been renamed or
        // copied), or are LXD's own.
        if !self.post_stop_read() {
            self.learn_post_stop(&target.user, &name).await;
        }
        let raw = self.raw_lxc(target);
        if instance.config.get(post_stop::KEY) != Some(&raw) {
            self.set_config(target, &[(post_stop::KEY.to_string(), Some(raw))]).await?;
        }
        let failed = |reason: String| BackendError::StartFailed { name: target.name.clone(), reason };
        // Until it has its address (see wait_instance_ready), no write of the workshop names
        // restarts the bridge's dnsmasq.
        self.booting(boot_key(target)).await;
        let started = Instant::now();
        let mut result =
            match actix_rt::time::timeout(START_TIMEOUT, when_idle(|| client.start_instance(&name))).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(LxdError::StartFailed { message, log_tail, .. })) => {
                    Err(failed(format!("{message}\n{log_tail}")))
                }
                Ok(Err(e)) => Err(instance_error(target, "start workshop", e)),
                Err(_) => Err(failed(format!("LXD did not start it within {} s", START_TIMEOUT.as_secs()))),
            };
        // LXD can report a start as failed after making it (the bridge's dnsmasq restarting,
        // then "already running" when asked again): an instance that runs is started.
        if let Err(e) = &result
            && let Ok((instance, _)) = client.get_instance(&name).await
            && instance.is_running()
        {
            debug!(instance = %name, error = %e, "LXD reported the start as failed, but the instance runs");
            result = Ok(());
        }
        if result.is_err() {
            self.booted(&boot_key(target));
        }
        result?;
        debug!(instance = %name, elapsed_ms = started.elapsed().as_millis() as u64, "instance started");
        Ok(())
    }

    pub(super) async fn wait_ready(&self, target: &Target) -> Result<(), BackendError> {
        let client = self.instances_client(&target.user);
        let name = target.instance_name();
        let started = Instant::now();
        // Marked to run while it boots (LXD updates a running instance's config at once),
        // with the post-stop hooks learned from this start for the next.
        let mark = async {
            self.learn_post_stop(&target.user, &name).await;
            let raw = self.raw_lxc(target);
            let changes = [
                (AUTOSTART_KEY.to_string(), Some(true.to_string())),
                (post_stop::KEY.to_string(), Some(raw)),
            ];
            self.set_config(target, &changes).await
        };
        let (up, marked) = futures_util::future::join(wait_for_init(&client, &name), mark).await;
        self.booted(&boot_key(target));
        if let Err(reason) = up {
            // Unmarked as well: the mark was set while it booted.
            if let Err(e) = self.stop(target, StopMode::Kill).await {
                warn!(instance = %name, error = %e, "cannot stop an instance whose init system failed");
            }
            return Err(BackendError::StartFailed { name: target.name.clone(), reason });
        }
        debug!(instance = %name, elapsed_ms = started.elapsed().as_millis() as u64, "init system up");
        marked
    }

    pub(super) async fn stop(&self, target: &Target, mode: StopMode) -> Result<(), BackendError> {
        // An instance about to go keeps its mark: one LXD update less before the kill.
        if mode != StopMode::Discard {
            self.set_autostart(target, false).await?;
        }
        let client = self.instances_client(&target.user);
        let name = target.instance_name();
        let what = format!("stop workshop {:?}", target.name);
        if is_stopped(&client, &name).await.map_err(|e| instance_error(target, &what, e))? {
            return Ok(());
        }
        if mode != StopMode::Clean {
            // The instance is about to be deleted, set aside for a rebuild (after the SDKs'
            // save-state hooks) or stopped because its start failed: it is killed at once,
            // as `lxc restore` does, not given the seconds a clean shutdown takes (the
            // reference's 10 s clean timeout made every refresh wait ~2 s for systemd).
            return match when_idle(|| client.stop_instance(&name, None, true)).await {
                Ok(()) => Ok(()),
                Err(e) => match is_stopped(&client, &name).await {
                    Ok(true) => Ok(()),
                    _ => Err(instance_error(target, &what, e)),
                },
            };
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        let failure = loop {
            // LXD takes whole seconds; a clean stop is always given at least one.
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
            let Err(e) = when_idle(|| client.stop_instance(&name, Some(left), false)).await else {
                return Ok(());
            };
            // LXD can report a clean shutdown as failed while the guest is still going down
            // (its wait for the init process is cut short): give the guest a moment to finish.
            if wait_stopped(&client, &name, deadline).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                break e;
            }
            debug!(instance = %name, error = %e, "clean stop failed; asking again");
        };
        Err(instance_error(target, &what, failure))
    }

    pub(super) async fn unmark_stopped(&self, target: &Target) -> Result<bool, BackendError> {
        let client = self.instances_client(&target.user);
        let name = target.instance_name();
        let what = format!("unmark workshop {:?}", target.name);
        let (instance, etag) = match client.get_instance(&name).await {
            Ok(found) => found,
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(instance_error(target, &what, e)),
        };
        if instance.is_running() || instance.config.get(AUTOSTART_KEY).map(String::as_str) != Some("true") {
            return Ok(false);
        }
        let mut put = instance.writable();
        put.config.insert(AUTOSTART_KEY.to_string(), false.to_string());
        // A start writes the instance's volatile keys, so its ETag no longer matches.
        match client.update_instance(&name, &put, &etag).await {
            Ok(()) => Ok(true),
            Err(e) if e.is_precondition_failed() => Ok(false),
            Err(e) => Err(instance_error(target, &what, e)),
        }
    }

    pub(super) async fn set_device(
        &self,
        target: &Target,
        name: &str,
        device: &Device,
    ) -> Result<(), BackendError> {
        let what = format!("add device {name:?} to workshop {:?}", target.name);
        self.edit_instance(target, &what, |put| layout::put_device(&mut put.devices, name, device)).await
    }

    pub(super) async fn set_device_and_config(
        &self,
        target: &Target,
        name: &str,
        device: &Device,
        changes: &[(String, Option<String>)],
    ) -> Result<(), BackendError> {
        let what = format!("add device {name:?} to workshop {:?}", target.name);
        self.edit_instance(target, &what, |put| {
            // Both, whatever the first one says.
            let configured = layout::apply_config(&mut put.config, changes);
            layout::put_device(&mut put.devices, name, device) | configured
        })
        .await
    }

    pub(super) async fn remove_device(&self, target: &Target, name: &str) -> Result<(), BackendError> {
        let what = format!("remove device {name:?} from workshop {:?}", target.name);
        self.edit_instance(target, &what, |put| put.devices.remove(name).is_some()).await
    }

    pub(super) async fn set_config(
        &self,
        target: &Target,
        changes: &[(String, Option<String>)],
    ) -> Result<(), BackendError> {
        let what = format!("configure workshop {:?}", target.name);
        self.edit_instance(target, &what, |put| layout::apply_config(&mut put.config, changes)).await
    }

    async fn set_autostart(&self, target: &Target, on: bool) -> Result<(), BackendError> {
        self.set_config(target, &[(AUTOSTART_KEY.to_string(), Some(on.to_string()))]).await
    }

    /// Read-modify-write of the instance guarded by its ETag, retried once when someone else
    /// changed it meanwhile. `edit` returns whether it changed anything.
    pub(super) async fn edit_instance(
        &self,
        target: &Target,
        what: &str,
        edit: impl Fn(&mut InstancePut) -> bool,
    ) -> Result<(), BackendError> {
        let client = self.instances_client(&target.user);
        let name = target.instance_name();
        for attempt in 0..2 {
            let (instance, etag) =
                client.get_instance(&name).await.map_err(|e| instance_error(target, what, e))?;
            let mut put = instance.writable();
            if !edit(&mut put) {
                return Ok(());
            }
            match when_idle(|| client.update_instance(&name, &put, &etag)).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_precondition_failed() && attempt == 0 => {
                    debug!(instance = %name, "instance changed meanwhile; retrying the update");
                }
                Err(e) => return Err(instance_error(target, what, e)),
            }
        }
        Err(BackendError::Lxd(format!("cannot {what}: the instance keeps changing")))
    }
}

/// The key of an instance's boot lock.
fn boot_key(target: &Target) -> String {
    format!("{}/{}", layout::instances_project(&target.user), target.instance_name())
}

/// Deletes the instance `name` (stopping it first), once LXD is through with other work on
/// it; a missing one is fine.
async fn delete_if_present(client: &Client, name: &str) -> Result<(), LxdError> {
    match when_idle(|| client.delete_instance(name, true)).await {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

/// The second rename of a stash: the rebuilt instance `next` takes the workshop's `name`.
/// When it cannot, the stash gets the name back before the error is returned (a failed task
/// is not undone: the workshop must be left as it was).
async fn swap_in(client: &Client, name: &str, stash: &str, next: &str) -> Result<(), LxdError> {
    let Err(e) = rename(client, next, name).await else {
        return Ok(());
    };
    if let Err(back) = rename(client, stash, name).await {
        warn!(instance = name, error = %back, "cannot give the stash its name back");
    }
    Err(e)
}

/// Renames stopped instance `from` to `to`, again while LXD says it is busy. LXD can report a
/// rename as failed after making it: the bridge's dnsmasq, told of the new name, was being
/// restarted by an update of the network ("Could not reload dnsmasq"), and asked again it
/// finds no `from`. A rename whose `from` is gone and whose `to` exists is done (the name
/// reaches dnsmasq at the instance's next start).
async fn rename(client: &Client, from: &str, to: &str) -> Result<(), LxdError> {
    let Err(e) = when_idle(|| client.rename_instance(from, to)).await else {
        return Ok(());
    };
    let (source, target) = futures_util::future::join(exists(client, from), exists(client, to)).await;
    if !source? && target? {
        debug!(from, to, error = %e, "LXD reported the rename as failed, but it is done");
        return Ok(());
    }
    Err(e)
}

/// The identity of a stash: its LXD `volatile.uuid` (kept by a rename).
fn stash_id(instance: &lxd::Instance) -> String {
    instance.config.get("volatile.uuid").cloned().unwrap_or_default()
}

/// Whether `instance` is the stash of identity `id` (never when LXD gave it none).
fn is_stash(instance: &lxd::Instance, id: &str) -> bool {
    !id.is_empty() && stash_id(instance) == id
}

/// Whether the instance `name` exists and records being a generation (the instance, its
/// stash, a rebuild) of `target`'s workshop.
async fn is_generation_of(client: &Client, name: &str, target: &Target) -> Result<bool, LxdError> {
    Ok(found(client.get_instance(name).await)?.is_some_and(|i| layout::is_generation_of(&i.config, target)))
}

/// The instance LXD returned, None when it is not found.
fn found(got: Result<(lxd::Instance, String), LxdError>) -> Result<Option<lxd::Instance>, LxdError> {
    match got {
        Ok((instance, _)) => Ok(Some(instance)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether the instance `name` exists.
async fn exists(client: &Client, name: &str) -> Result<bool, LxdError> {
    Ok(found(client.get_instance(name).await)?.is_some())
}

/// An existing instance is fine for `create` only when it belongs to the same project.
pub(super) fn check_owner(target: &Target, existing: &lxd::Instance) -> Result<(), BackendError> {
    if layout::belongs_to(&existing.config, target) {
        return Ok(());
    }
    Err(BackendError::Lxd(format!(
        "cannot create workshop {:?}: LXD instance {:?} already exists and belongs to another project ({:?})",
        target.name,
        existing.name,
        existing.config.get(layout::PROJECT_ID_KEY).map(String::as_str).unwrap_or("none")
    )))
}

/// Runs `op`, again while LXD says the instance is busy with another operation.
pub(super) async fn when_idle<T, F, Fut>(mut op: F) -> Result<T, LxdError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, LxdError>>,
{
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match op().await {
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                debug!(error = %e, "instance busy; waiting");
                actix_rt::time::sleep(BUSY_RETRY).await;
            }
            other => return other,
        }
    }
}

/// Waits (at most [`BUSY_TIMEOUT`]) until no operation of LXD concerns instance `name`.
pub(super) async fn wait_for_operations(client: &Client, name: &str) -> Result<(), LxdError> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    while client.running_operations().await?.iter().any(|op| op.concerns_instance(name)) {
        if Instant::now() >= deadline {
            return Err(LxdError::Invalid(format!(
                "LXD is still busy with instance {name:?} after {} s",
                BUSY_TIMEOUT.as_secs()
            )));
        }
        debug!(instance = %name, "waiting for LXD's operations on the instance");
        actix_rt::time::sleep(BUSY_RETRY).await;
    }
    Ok(())
}

/// LXD's "Instance is busy running a \"stop\" operation"; and the NIC of a new instance
/// failing because the bridge's dnsmasq is being restarted by an update of the network (the
/// names of another workshop published meanwhile): "Could not reload dnsmasq: Could not
/// reload process: os: process not initialized".
fn is_busy(e: &LxdError) -> bool {
    let text = e.to_string();
    text.contains("is busy running") || text.contains("Could not reload dnsmasq")
}

/// Polls until the instance is stopped, for at most [`STOP_SETTLE`] and not past `deadline`.
async fn wait_stopped(client: &Client, name: &str, deadline: Instant) -> bool {
    let until = deadline.min(Instant::now() + STOP_SETTLE);
    loop {
        if let Ok(true) = is_stopped(client, name).await {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        actix_rt::time::sleep(STOP_POLL).await;
    }
}

async fn is_stopped(client: &Client, name: &str) -> Result<bool, LxdError> {
    let state = client.instance_state(name).await?;
    Ok(state.status_code == 102 || state.status == "Stopped")
}

/// Waits until `systemctl is-system-running` says `running` or `degraded`; the reason when it
/// does not within [`INIT_TIMEOUT`].
async fn wait_for_init(client: &Client, name: &str) -> Result<(), String> {
    let probe = ExecSpec {
        command: ["systemctl", "is-system-running", "--wait"].map(String::from).to_vec(),
        limits: RunLimits::within(INIT_TIMEOUT),
        ..ExecSpec::default()
    };
    let deadline = Instant::now() + INIT_TIMEOUT;
    let mut last = "no answer".to_string();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match actix_rt::time::timeout(left, collect(client, name, &probe)).await {
            Ok(Ok(output)) => {
                let state = String::from_utf8_lossy(&output.stdout).trim().to_string();
                if state == "running" || state == "degraded" {
                    return Ok(());
                }
                last = format!("systemctl is-system-running: {}", output.combined());
            }
            Ok(Err(e)) => {
                // An instance that stopped (or never ran) will not come up by waiting.
                if let Ok((instance, _)) = client.get_instance(name).await
                    && !instance.is_running()
                {
                    return Err(format!("it is not running ({e})"));
                }
                last = e.to_string();
            }
            Err(_) => break,
        }
        actix_rt::time::sleep(INIT_RETRY.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
    Err(format!("the init system did not come up within {} s ({last})", INIT_TIMEOUT.as_secs()))
}
