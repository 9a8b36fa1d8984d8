//! What the pool holds for `workshop du` and what `workshop prune` may remove of it: a
//! user's workshops, templates and layer snapshots, with their size where the driver counts it (ZFS does;
//! btrfs only with quotas).

use super::{LxdBackend, layout};
use crate::backend::{BackendError, InstanceUse, PoolUse, SnapshotUse};
use crate::lxd::Client;

/// The bytes an instance's root disk uses, when the driver counts them.
async fn root_usage(client: &Client, name: &str) -> Option<u64> {
    match client.instance_state(name).await {
        Ok(state) => state.disk.get("root").map(|d| d.usage).filter(|&bytes| bytes > 0),
        Err(_) => None,
    }
}

impl LxdBackend {
    pub(super) async fn pool_use(&self, user: &str) -> Result<PoolUse, BackendError> {
        let pool = &self.config.pool;
        let lxd = |e: crate::lxd::LxdError| BackendError::Lxd(e.to_string());
        let (existing, _) = self.client.get_storage_pool(pool).await.map_err(lxd)?;
        let usage = self.client.storage_pool_usage(pool).await.map_err(lxd)?;
        let client = self.instances_client(user);
        let instances = match client.list_instances(None).await {
            Ok(instances) => instances,
            // A user who never launched has no LXD project.
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(lxd(e)),
        };
        let referenced = layout::layer_refs(&instances);
        let mut out = Vec::new();
        for instance in instances {
            let size = root_usage(&client, &instance.name).await;
            let template = instance.config.contains_key(layout::TEMPLATE_KEY);
            out.push(InstanceUse { name: instance.name, template, size });
        }
        let snapshots_client = self.client.project(&layout::snapshots_project(user));
        let mut snapshots = Vec::new();
        match snapshots_client.list_instances(None).await {
            Ok(list) => {
                for snapshot in list {
                    let size = root_usage(&snapshots_client, &snapshot.name).await;
                    let in_use = referenced.contains(&snapshot.name);
                    snapshots.push(SnapshotUse { name: snapshot.name, size, in_use });
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(lxd(e)),
        }
        Ok(PoolUse {
            name: pool.clone(),
            driver: existing.driver,
            used: usage.used,
            total: usage.total,
            instances: out,
            snapshots,
        })
    }

    /// Deletes `user`'s template `name`: only a template, and only while none is being
    /// prepared in it (a running template is in its one start).
    pub(super) async fn remove_template(&self, user: &str, name: &str) -> Result<(), BackendError> {
        let client = self.instances_client(user);
        let lxd = |e: crate::lxd::LxdError| BackendError::Lxd(e.to_string());
        let (instance, _) = match client.get_instance(name).await {
            Ok(found) => found,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(lxd(e)),
        };
        if !instance.config.contains_key(layout::TEMPLATE_KEY) {
            return Err(BackendError::Lxd(format!("cannot remove {name:?}: it is not a template")));
        }
        if instance.is_running() {
            return Err(BackendError::Lxd(format!("cannot remove template {name:?}: it is being prepared")));
        }
        client.delete_instance(name, false).await.map_err(lxd)
    }
}
