//! Forks: a workshop copied under another name in the same LXD project. On the pool's
//! driver (btrfs, ZFS) the copy shares its blocks with the source until either writes.

use tracing::info;

use super::instances::{check_owner, wait_for_operations, when_idle};
use super::{LxdBackend, guest_templates, layout, lxd_error, post_stop};
use crate::backend::{BackendError, ForkSpec, Target};
use crate::lxd::{InstanceCreate, InstanceSource};

impl LxdBackend {
    pub(super) async fn fork(
        &self,
        source: &Target,
        target: &Target,
        spec: &ForkSpec,
    ) -> Result<(), BackendError> {
        let client = self.instances_client(&target.user);
        let name = target.instance_name();
        let what = format!("fork workshop {:?} as {:?}", source.name, target.name);
        let err = |e| lxd_error(&what, e);
        match client.get_instance(&name).await {
            // Made by a daemon that died meanwhile: finished below once LXD is through.
            Ok((existing, _)) => {
                check_owner(target, &existing)?;
                wait_for_operations(&client, &name).await.map_err(err)?;
            }
            Err(e) if e.is_not_found() => {
                match client.get_instance(&source.instance_name()).await {
                    Ok((found, _)) if layout::belongs_to(&found.config, source) => {}
                    Ok(_) => return Err(BackendError::NotLaunched(source.name.clone())),
                    Err(e) if e.is_not_found() => return Err(BackendError::NotLaunched(source.name.clone())),
                    Err(e) => return Err(err(e)),
                }
                let mut copy = InstanceCreate::new(
                    &name,
                    InstanceSource::Copy {
                        source: source.instance_name(),
                        project: None,
                        instance_only: true,
                        refresh: false,
                    },
                );
                copy.config = layout::fork_config(target, spec);
                copy.config.insert(post_stop::KEY.to_string(), self.raw_lxc(target));
                copy.devices = spec.devices.clone();
                // The source's profiles hold its interface devices: the fork sets up its own.
                copy.profiles = Some(vec!["default".to_string()]);
                match when_idle(|| client.create_instance(&copy)).await {
                    Ok(()) => {}
                    Err(e) if e.is_already_exists() => {
                        let (existing, _) = client.get_instance(&name).await.map_err(err)?;
                        check_owner(target, &existing)?;
                        wait_for_operations(&client, &name).await.map_err(err)?;
                    }
                    Err(e) => return Err(err(e)),
                }
            }
            Err(e) => return Err(err(e)),
        }
        guest_templates::add(&client, &name).await.map_err(err)?;
        info!(workshop = %target.name, source = %source.name, "forked");
        Ok(())
    }
}
