//! The profiles holding a workshop's interface devices: one per SDK, `<ws>-<pid>-<sdk>` in
//! the user's LXD project (reference-inventory §4.1, `lxd_device/backend.go`).

use std::collections::BTreeMap;

use super::{LxdBackend, lxd_error};
use crate::backend::{BackendError, Device, Target};
use crate::lxd::ProfilePut;

/// The name of the profile of SDK `sdk` of a workshop.
pub(super) fn profile_name(target: &Target, sdk: &str) -> String {
    format!("{}-{sdk}", target.instance_name())
}

/// What a workshop's profile of SDK `sdk` says it is.
fn profile_description(target: &Target, sdk: &str) -> String {
    format!("Interfaces of SDK {sdk:?} in workshop {:?}", target.name)
}

impl LxdBackend {
    /// Makes the profile hold `devices` (ETag-checked) and the instance use it; when the
    /// instance cannot take it (a device LXD cannot plug in), whether the profile was already
    /// attached or not, the profile is put back as it was. No devices: the profile is
    /// detached and deleted.
    pub(super) async fn set_profile(
        &self,
        target: &Target,
        sdk: &str,
        devices: &BTreeMap<String, Device>,
    ) -> Result<(), BackendError> {
        let name = profile_name(target, sdk);
        if devices.is_empty() {
            return self.drop_profile(target, &name).await;
        }
        let client = self.instances_client(&target.user);
        let what = format!("set up the interfaces of {sdk:?} in workshop {:?}", target.name);
        let put = ProfilePut {
            config: BTreeMap::new(),
            description: profile_description(target, sdk),
            devices: devices.clone(),
        };
        let previous = match client.get_profile(&name).await {
            Ok((profile, etag)) => Some((profile.writable(), etag)),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(lxd_error(&what, e)),
        };
        match &previous {
            None => client.create_profile(&name, &put).await.map_err(|e| lxd_error(&what, e))?,
            Some((old, etag)) if *old != put => {
                if let Err(e) = client.update_profile(&name, &put, etag).await {
                    // LXD keeps a profile change an instance using it could not take ("profile
                    // change still saved"): the old one goes back, or the instance would not
                    // start again.
                    let restored = match client.get_profile(&name).await {
                        Ok((now, etag)) if now.writable() != *old => {
                            client.update_profile(&name, old, &etag).await
                        }
                        Ok(_) => Ok(()),
                        Err(e) => Err(e),
                    };
                    if let Err(undo) = restored {
                        tracing::warn!(profile = %name, error = %undo, "cannot roll back a profile");
                    }
                    return Err(lxd_error(&what, e));
                }
            }
            Some(_) => {}
        }
        let attached = self
            .edit_instance(target, &what, |instance| {
                if instance.profiles.contains(&name) {
                    return false;
                }
                instance.profiles.push(name.clone());
                true
            })
            .await;
        if let Err(e) = attached {
            let rolled_back = match &previous {
                None => client.delete_profile(&name).await,
                Some((old, _)) => match client.get_profile(&name).await {
                    Ok((_, etag)) => client.update_profile(&name, old, &etag).await,
                    Err(e) => Err(e),
                },
            };
            if let Err(undo) = rolled_back {
                tracing::warn!(profile = %name, error = %undo, "cannot roll back a profile");
            }
            return Err(e);
        }
        Ok(())
    }

    /// Detaches the profile from the instance (a removed instance is fine) and deletes it
    /// (a missing one is fine).
    async fn drop_profile(&self, target: &Target, name: &str) -> Result<(), BackendError> {
        self.drop_named_profiles(target, &[name.to_string()]).await
    }

    /// Deletes the workshop's profiles that no instance uses: those left by a launch whose
    /// instance went with its undo (a change that failed after it set them up, or a
    /// connection made while it waited on an error). A profile is the workshop's when its
    /// name and description are those it gives its profiles.
    pub(super) async fn drop_orphan_profiles(&self, target: &Target) {
        let client = self.instances_client(&target.user);
        let prefix = profile_name(target, "");
        let profiles = match client.list_profiles().await {
            Ok(profiles) => profiles,
            Err(e) => {
                tracing::warn!(workshop = %target.name, error = %e, "cannot list the profiles left by a workshop");
                return;
            }
        };
        for profile in profiles {
            let Some(sdk) = profile.name.strip_prefix(&prefix) else { continue };
            if !profile.used_by.is_empty() || profile.description != profile_description(target, sdk) {
                continue;
            }
            match client.delete_profile(&profile.name).await {
                Ok(()) => tracing::debug!(profile = %profile.name, "deleted a profile left by a workshop"),
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    tracing::warn!(profile = %profile.name, error = %e, "cannot delete a profile left by a workshop")
                }
            }
        }
    }

    /// Removes the profiles of SDKs `sdks`: one update detaches them all, then they are
    /// deleted together. Missing ones, and a workshop no longer there, are fine.
    pub(super) async fn drop_profiles(&self, target: &Target, sdks: &[String]) -> Result<(), BackendError> {
        let names: Vec<String> = sdks.iter().map(|sdk| profile_name(target, sdk)).collect();
        self.drop_named_profiles(target, &names).await
    }

    async fn drop_named_profiles(&self, target: &Target, names: &[String]) -> Result<(), BackendError> {
        if names.is_empty() {
            return Ok(());
        }
        let what = format!("remove profiles {} of workshop {:?}", names.join(", "), target.name);
        let detached = self
            .edit_instance(target, &what, |instance| {
                let before = instance.profiles.len();
                instance.profiles.retain(|p| !names.contains(p));
                instance.profiles.len() != before
            })
            .await;
        match detached {
            Ok(()) | Err(BackendError::NotLaunched(_)) => {}
            Err(e) => return Err(e),
        }
        let client = self.instances_client(&target.user);
        let deletions = names.iter().map(|name| async {
            match client.delete_profile(name).await {
                Err(e) if !e.is_not_found() => Err(lxd_error(&what, e)),
                _ => Ok(()),
            }
        });
        futures_util::future::try_join_all(deletions).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_named_after_the_instance_and_the_sdk() {
        let target = Target::new("u", "0123abcd", "ws");
        assert_eq!(
            profile_name(&target, "test-sdk-mount"),
            format!("{}-test-sdk-mount", target.instance_name())
        );
    }
}
