//! Templates: one stopped instance per user, base image and id mapping whose files LXD has
//! already shifted to the workshops' mapping. On this LXD (no idmapped mounts) the first start
//! of an instance made from an image rewrites the owner of every file, which takes most of a
//! second; a copy of a shifted template starts without it. A template is made at the first
//! launch that needs it, by starting it once with an init that only sleeps, so nothing of the
//! guest runs in it. Several daemons may share a user's project: one prepares, the others wait
//! for it, and a template left half-made is replaced once it is old.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::FutureExt as _;
use futures_util::future::{LocalBoxFuture, Shared};
use tracing::{debug, info, warn};

use super::{LxdBackend, layout};
use crate::backend::{CreateSpec, Target};
use crate::lxd::{Client, InstanceCreate, InstanceSource};

/// A preparation shared by every launch that needs the same template meanwhile; the
/// template's name, or why there is none.
pub(super) type Preparation = Shared<LocalBoxFuture<'static, Result<String, String>>>;

/// How long to wait for a template another daemon is preparing.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(30);
const WAIT_RETRY: Duration = Duration::from_millis(250);
/// A template that is still not prepared this long after its creation was abandoned.
const ABANDONED_AFTER: Duration = Duration::from_secs(120);

impl LxdBackend {
    /// The name of a prepared template to copy `spec`'s workshop from, preparing it first
    /// when needed.
    pub(super) async fn template(&self, target: &Target, spec: &CreateSpec) -> Result<String, String> {
        let raw_idmap = layout::raw_idmap(spec.host_uid, spec.host_gid);
        let name = layout::template_name(&spec.image, &target.user, &raw_idmap);
        let key = format!("{}/{name}", layout::instances_project(&target.user));
        let preparation = self
            .templates
            .borrow_mut()
            .entry(key.clone())
            .or_insert_with(|| {
                let client = self.instances_client(&target.user);
                let images = self.client.unscoped();
                prepare(client, images, name, spec.image.clone(), raw_idmap).boxed_local().shared()
            })
            .clone();
        let result = preparation.clone().await;
        let mut templates = self.templates.borrow_mut();
        if templates.get(&key).is_some_and(|p| p.ptr_eq(&preparation)) {
            templates.remove(&key);
        }
        result
    }
}

/// Makes sure the template `name` exists and is prepared.
async fn prepare(
    client: Client,
    images: Client,
    name: String,
    image: String,
    raw_idmap: String,
) -> Result<String, String> {
    let waiting_since = Instant::now();
    loop {
        match client.get_instance(&name).await {
            Ok((instance, _)) => {
                if !instance.config.contains_key(layout::TEMPLATE_KEY) {
                    return Err(format!("instance {name:?} exists and is not a template"));
                }
                if layout::is_prepared(&instance) {
                    return Ok(name);
                }
                if is_abandoned(&instance.created_at) {
                    info!(template = %name, "replacing a template left half-made");
                    client.delete_instance(&name, true).await.map_err(|e| e.to_string())?;
                    continue;
                }
                if waiting_since.elapsed() >= WAIT_FOR_OTHERS {
                    return Err(format!("template {name:?} is still being prepared elsewhere"));
                }
                actix_rt::time::sleep(WAIT_RETRY).await;
            }
            Err(e) if e.is_not_found() => {
                let mut create = InstanceCreate::new(&name, InstanceSource::ImageFingerprint(image.clone()));
                create.config = layout::template_config(&image, &raw_idmap);
                match client.create_instance(&create).await {
                    Ok(()) => {}
                    // Another daemon got there first: wait for it.
                    Err(e) if e.is_already_exists() => continue,
                    Err(e) => return Err(e.to_string()),
                }
                let started = Instant::now();
                if let Err(e) = shift(&client, &name).await {
                    if let Err(e) = client.delete_instance(&name, true).await {
                        warn!(template = %name, error = %e, "cannot remove a template that failed");
                    }
                    return Err(e);
                }
                info!(template = %name, elapsed_ms = started.elapsed().as_millis() as u64, "template prepared");
                prune(&client, &images, &image).await;
                return Ok(name);
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Starts the template once (LXD shifts its files) and stops it.
async fn shift(client: &Client, name: &str) -> Result<(), String> {
    client.start_instance(name).await.map_err(|e| e.to_string())?;
    client.stop_instance(name, None, true).await.map_err(|e| e.to_string())?;
    let (instance, _) = client.get_instance(name).await.map_err(|e| e.to_string())?;
    if layout::is_prepared(&instance) {
        Ok(())
    } else {
        Err(format!("LXD did not record template {name:?} as shifted"))
    }
}

/// Removes the user's templates of images that are no longer in LXD.
async fn prune(client: &Client, images: &Client, current: &str) {
    let (instances, known) = match (client.list_instances(None).await, images.list_images().await) {
        (Ok(instances), Ok(images)) => (instances, images),
        (Err(e), _) | (_, Err(e)) => {
            debug!(error = %e, "cannot list templates to prune");
            return;
        }
    };
    for instance in instances {
        let Some(image) = instance.config.get(layout::TEMPLATE_KEY) else { continue };
        if image == current || known.iter().any(|i| &i.fingerprint == image) {
            continue;
        }
        match client.delete_instance(&instance.name, true).await {
            Ok(()) => info!(template = %instance.name, "removed the template of a removed image"),
            Err(e) => warn!(template = %instance.name, error = %e, "cannot remove an old template"),
        }
    }
}

/// Whether an instance created at `created_at` (RFC 3339) is older than [`ABANDONED_AFTER`].
fn is_abandoned(created_at: &str) -> bool {
    DateTime::parse_from_rfc3339(created_at).is_ok_and(|created| {
        Utc::now().signed_duration_since(created).to_std().is_ok_and(|age| age >= ABANDONED_AFTER)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_half_made_templates_are_abandoned() {
        let at = |ago: i64| (Utc::now() - chrono::Duration::seconds(ago)).to_rfc3339();
        assert!(is_abandoned(&at(600)));
        assert!(!is_abandoned(&at(10)));
        assert!(!is_abandoned(&at(-10)), "a clock ahead of ours");
        assert!(!is_abandoned("not a time"));
    }
}
