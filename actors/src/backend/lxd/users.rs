//! Per-user isolation: the LXD projects `workshop.<user>` and `workshop-snapshots.<user>`,
//! each with a default profile that gives instances a root disk and the bridge.

use tracing::info;

use super::layout;
use super::{LxdBackend, lxd_error};
use crate::backend::BackendError;
use crate::lxd::ConfigPut;

impl LxdBackend {
    pub(super) async fn ensure_user(&self, user: &str) -> Result<(), BackendError> {
        if self.users.borrow().contains(user) {
            return Ok(());
        }
        for project in [layout::instances_project(user), layout::snapshots_project(user)] {
            self.ensure_project(&project, user).await?;
            self.ensure_default_profile(&project).await?;
        }
        self.users.borrow_mut().insert(user.to_string());
        Ok(())
    }

    /// Creates the project, or brings an existing one's config in line.
    async fn ensure_project(&self, project: &str, user: &str) -> Result<(), BackendError> {
        let wanted = layout::project_config(user);
        let what = || format!("set up LXD project {project:?}");
        match self.client.get_project(project).await {
            Ok((existing, etag)) => {
                let mut put = existing.writable();
                let before = put.config.clone();
                put.config.extend(wanted);
                if put.config == before {
                    return Ok(());
                }
                self.client.update_project(project, &put, &etag).await.map_err(|e| lxd_error(&what(), e))
            }
            Err(e) if e.is_not_found() => {
                let put = ConfigPut { config: wanted, description: format!("Workshop projects of {user}") };
                match self.client.create_project(project, &put).await {
                    Ok(()) => {
                        info!(project, user, "created LXD project");
                        Ok(())
                    }
                    Err(e) if e.is_already_exists() => Ok(()),
                    Err(e) => Err(lxd_error(&what(), e)),
                }
            }
            Err(e) => Err(lxd_error(&what(), e)),
        }
    }

    /// Adds the root disk and the NIC to the project's default profile when it lacks them.
    async fn ensure_default_profile(&self, project: &str) -> Result<(), BackendError> {
        let client = self.client.project(project);
        let what = || format!("set up the default profile of LXD project {project:?}");
        for attempt in 0..2 {
            let (profile, etag) = client.get_profile("default").await.map_err(|e| lxd_error(&what(), e))?;
            let mut put = profile.writable();
            if !layout::add_profile_devices(&mut put.devices, &self.config.pool, &self.config.network) {
                return Ok(());
            }
            match client.update_profile("default", &put, &etag).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_precondition_failed() && attempt == 0 => continue,
                Err(e) => return Err(lxd_error(&what(), e)),
            }
        }
        Ok(())
    }
}
