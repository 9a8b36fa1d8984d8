//! Layer snapshots in `workshop-snapshots.<user>`: stopped copies of a workshop's filesystem
//! after an SDK's `setup-base`, which new workshops of the user are copied from (see
//! `managers::workshop::layers`). A copy on the pool's driver (btrfs, ZFS) shares its blocks.
//!
//! A snapshot is complete once it carries [`layout::SNAPSHOT_TYPE_KEY`], set by the last write
//! that makes it; a copy a crash left half done is finished by the next take, or collected.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tracing::{debug, info, warn};

use super::instances::{wait_for_operations, when_idle};
use super::layout;
use super::{LxdBackend, lxd_error};
use crate::backend::{BackendError, Target};
use crate::lxd::{Client, InstanceCreate, InstanceSource};

impl LxdBackend {
    fn snapshots_client(&self, user: &str) -> Client {
        self.client.project(&layout::snapshots_project(user))
    }

    /// The first of `names` that is a complete snapshot of `user`'s, marked used now when
    /// `mark_used`.
    pub(super) async fn find_snapshot(
        &self,
        user: &str,
        names: &[String],
        mark_used: bool,
    ) -> Result<Option<String>, BackendError> {
        if names.is_empty() {
            return Ok(None);
        }
        self.ensure_user(user).await?;
        let client = self.snapshots_client(user);
        let what = format!("look for the snapshots of {user:?}");
        let complete: BTreeSet<String> = match client.list_instances(None).await {
            Ok(list) => list.into_iter().filter(layout::is_layer_snapshot).map(|i| i.name).collect(),
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(lxd_error(&what, e)),
        };
        let Some(found) = names.iter().find(|n| complete.contains(*n)) else {
            return Ok(None);
        };
        if mark_used {
            self::mark_used(&client, found).await;
        }
        Ok(Some(found.clone()))
    }

    /// Keeps the workshop's filesystem as it is now as `user`'s snapshot `name`; one that
    /// exists complete is only marked used.
    pub(super) async fn take_snapshot(&self, target: &Target, name: &str) -> Result<(), BackendError> {
        self.ensure_user(&target.user).await?;
        let client = self.snapshots_client(&target.user);
        let what = format!("keep snapshot {name:?} of workshop {:?}", target.name);
        let err = |e| lxd_error(&what, e);
        match client.get_instance(name).await {
            Ok((existing, _)) if layout::is_layer_snapshot(&existing) => {
                mark_used(&client, name).await;
                return Ok(());
            }
            // Left half done (by this daemon before it died, or being made by a change of
            // the same user now): finished below once LXD is through with it.
            Ok(_) => wait_for_operations(&client, name).await.map_err(err)?,
            Err(e) if e.is_not_found() => {
                let source = self.instances_client(&target.user);
                let (instance, _) = source.get_instance(&target.instance_name()).await.map_err(err)?;
                let mut copy = InstanceCreate::new(
                    name,
                    InstanceSource::Copy {
                        source: target.instance_name(),
                        project: Some(layout::instances_project(&target.user)),
                        instance_only: true,
                        refresh: false,
                    },
                );
                // A copy keeps the source's devices and keys it is not given: every device but
                // the root disk is masked (their sources are the workshop's, staged only while
                // it needs them), no profile (a snapshot has no network), never started.
                copy.devices = layout::snapshot_devices(&instance, &self.config.pool);
                copy.profiles = Some(Vec::new());
                copy.config = [(layout::AUTOSTART_KEY.to_string(), "false".to_string())].into();
                match when_idle(|| client.create_instance(&copy)).await {
                    Ok(()) => {}
                    Err(e) if e.is_already_exists() => {
                        wait_for_operations(&client, name).await.map_err(err)?
                    }
                    Err(e) => return Err(err(e)),
                }
            }
            Err(e) => return Err(err(e)),
        }
        // Another change of the user may have completed the same snapshot meanwhile.
        let (instance, etag) = client.get_instance(name).await.map_err(err)?;
        if layout::is_layer_snapshot(&instance) {
            return Ok(());
        }
        // The workshop's keys (its machine id among them: each instance copied from the
        // snapshot writes its own at its first start) and devices go; the marker makes it
        // complete.
        let put = layout::snapshot_put(&instance, &self.config.pool, Utc::now());
        if let Err(e) = client.update_instance(name, &put, &etag).await {
            match client.get_instance(name).await {
                Ok((now, _)) if layout::is_layer_snapshot(&now) => return Ok(()),
                _ => return Err(err(e)),
            }
        }
        info!(snapshot = name, workshop = %target.name, "kept a layer snapshot");
        Ok(())
    }

    /// Deletes the snapshots of `user` (None: every user's) that no instance of theirs names
    /// (workshop or stash) and that nothing used for `cooldown`. Returns their names.
    pub(super) async fn collect_snapshots(
        &self,
        user: Option<&str>,
        cooldown: Duration,
    ) -> Result<Vec<String>, BackendError> {
        let what = "collect unused snapshots";
        let projects: Vec<String> = match user {
            Some(user) => vec![layout::snapshots_project(user)],
            None => {
                let projects = self.client.list_projects().await.map_err(|e| lxd_error(what, e))?;
                projects
                    .into_iter()
                    .map(|p| p.name)
                    .filter(|p| layout::user_key_of_snapshots_project(p).is_some())
                    .collect()
            }
        };
        let now = Utc::now();
        let mut removed = Vec::new();
        for project in projects {
            let Some(key) = layout::user_key_of_snapshots_project(&project) else { continue };
            let snapshots = self.client.project(&project);
            let list = match snapshots.list_instances(None).await {
                Ok(list) => list,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(lxd_error(what, e)),
            };
            if list.is_empty() {
                continue;
            }
            let instances = self.client.project(&format!("workshop.{key}"));
            let referenced: BTreeSet<String> = match instances.list_instances(None).await {
                Ok(list) => layout::layer_refs(&list),
                Err(e) if e.is_not_found() => BTreeSet::new(),
                Err(e) => return Err(lxd_error(what, e)),
            };
            for snapshot in list {
                if referenced.contains(&snapshot.name) || !layout::is_collectable(&snapshot, now, cooldown) {
                    continue;
                }
                match when_idle(|| snapshots.delete_instance(&snapshot.name, true)).await {
                    Ok(()) => {
                        debug!(project = %project, snapshot = %snapshot.name, "removed an unused snapshot");
                        removed.push(snapshot.name);
                    }
                    Err(e) if e.is_not_found() => {}
                    Err(e) => {
                        warn!(snapshot = %snapshot.name, error = %e, "cannot remove an unused snapshot")
                    }
                }
            }
        }
        Ok(removed)
    }
}

/// Records that snapshot `name` was used now (the collection's cool-down starts again). Only
/// logged when it fails: LXD refuses a second update of an instance while one runs (two
/// launches of the user using the same snapshot at once), and the first one did it.
async fn mark_used(client: &Client, name: &str) {
    let patch = json!({ "config": { layout::LAST_USED_KEY: Utc::now().to_rfc3339() } });
    if let Err(e) = client.patch_instance(name, &patch, "").await {
        debug!(snapshot = name, error = %e, "cannot mark the snapshot used");
    }
}

/// When an RFC 3339 time LXD or the daemon wrote was, if it is one.
pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}
