//! Templates: one stopped instance per user, base image and id mapping whose files LXD has
//! already shifted to the workshops' mapping. On this LXD (no idmapped mounts) the first start
//! of an instance made from an image rewrites the owner of every file, which takes most of a
//! second; a copy of a shifted template starts without it. A launch copies the template when
//! it is ready, else creates from the image and has the template prepared in the background.
//! Its one start runs the guest set-up as its init, so nothing of the guest's boot runs in it
//! and a copy starts with the set-up done (no edits of the user database while it boots). A
//! template is ready once LXD has shifted it and its set-up has completed; one made with
//! another set-up is replaced. Several daemons may share a user's project: one prepares, the
//! others wait for it, and a template left half-made is replaced once it is old.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::FutureExt as _;
use futures_util::future::{LocalBoxFuture, Shared};
use tracing::{debug, info, warn};

use super::{LxdBackend, layout};
use crate::backend::{CreateSpec, Target};
use crate::lxd::{Client, InstanceCreate, InstanceSource, PushOptions, Upload};

/// A preparation running in the background, known so that it is not started twice.
pub(super) type Preparation = Shared<LocalBoxFuture<'static, ()>>;

/// How long to wait for a template another daemon is preparing.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(30);
const WAIT_RETRY: Duration = Duration::from_millis(100);
/// How long a template's start may take to end by itself.
const STOP_WAIT: Duration = Duration::from_secs(30);
/// A template that is still not prepared this long after its creation was abandoned.
const ABANDONED_AFTER: Duration = Duration::from_secs(120);

impl LxdBackend {
    /// The name of the prepared template to copy `spec`'s workshop from, if there is one.
    /// Otherwise the template is prepared in the background, for the launches after this
    /// one: a launch never waits for it.
    pub(super) async fn ready_template(&self, target: &Target, spec: &CreateSpec) -> Option<String> {
        let raw_idmap = layout::raw_idmap(spec.host_uid, spec.host_gid);
        let name = layout::template_name(&spec.image, &target.user, &raw_idmap);
        let setup_hash = layout::setup_hash(&spec.setup);
        let client = self.instances_client(&target.user);
        match client.get_instance(&name).await {
            Ok((instance, _)) if layout::is_prepared(&instance, &setup_hash) => return Some(name),
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                debug!(template = %name, error = %e, "cannot look up the template");
                return None;
            }
        }
        let key = format!("{}/{name}", layout::instances_project(&target.user));
        let mut templates = self.templates.borrow_mut();
        templates.retain(|_, preparation| preparation.peek().is_none());
        templates.entry(key).or_insert_with(|| {
            let images = self.client.unscoped();
            let job = self.activity.begin();
            let template = Template { name, image: spec.image.clone(), raw_idmap, setup: spec.setup.clone() };
            let preparation =
                prepare(client, images, template).map(move |()| drop(job)).boxed_local().shared();
            actix_rt::spawn(preparation.clone());
            preparation
        });
        None
    }
}

/// What a template is made of.
struct Template {
    name: String,
    /// Fingerprint of the image.
    image: String,
    raw_idmap: String,
    /// The guest set-up its start runs.
    setup: String,
}

/// Makes sure the template exists and is prepared; says so in the log either way.
async fn prepare(client: Client, images: Client, template: Template) {
    if let Err(reason) = make(&client, &images, &template).await {
        warn!(template = %template.name, reason = %reason, "cannot prepare a template; launches create workshops from the image");
    }
}

async fn make(client: &Client, images: &Client, template: &Template) -> Result<(), String> {
    let name = template.name.as_str();
    let setup_hash = layout::setup_hash(&template.setup);
    let waiting_since = Instant::now();
    loop {
        match client.get_instance(name).await {
            Ok((instance, _)) => {
                if !instance.config.contains_key(layout::TEMPLATE_KEY) {
                    return Err(format!("instance {name:?} exists and is not a template"));
                }
                if layout::is_prepared(&instance, &setup_hash) {
                    return Ok(());
                }
                if layout::is_stale(&instance, &setup_hash) {
                    info!(template = %name, "replacing a template made with another guest set-up");
                    client.delete_instance(name, true).await.map_err(|e| e.to_string())?;
                    continue;
                }
                if is_abandoned(&instance.created_at) {
                    info!(template = %name, "replacing a template left half-made");
                    client.delete_instance(name, true).await.map_err(|e| e.to_string())?;
                    continue;
                }
                if waiting_since.elapsed() >= WAIT_FOR_OTHERS {
                    return Err(format!("template {name:?} is still being prepared elsewhere"));
                }
                actix_rt::time::sleep(WAIT_RETRY).await;
            }
            Err(e) if e.is_not_found() => {
                let mut create =
                    InstanceCreate::new(name, InstanceSource::ImageFingerprint(template.image.clone()));
                create.config = layout::template_config(&template.image, &template.raw_idmap);
                match client.create_instance(&create).await {
                    Ok(()) => {}
                    // Another daemon got there first: wait for it.
                    Err(e) if e.is_already_exists() => continue,
                    Err(e) => return Err(e.to_string()),
                }
                let started = Instant::now();
                if let Err(e) = set_up(client, name, &template.setup, &setup_hash).await {
                    remove_failed(client, name, &setup_hash).await;
                    return Err(e);
                }
                info!(template = %name, elapsed_ms = started.elapsed().as_millis() as u64, "template prepared");
                prune(client, images, &template.image).await;
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Puts the guest set-up in the new template, starts it once (LXD shifts its files, then the
/// set-up runs as its init), waits until it has stopped, checks that the set-up completed and
/// records which set-up it was.
async fn set_up(client: &Client, name: &str, setup: &str, setup_hash: &str) -> Result<(), String> {
    let file = Upload::Bytes(layout::template_setup_file(setup).into_bytes().into());
    client
        .push_file(name, layout::TEMPLATE_SETUP_PATH, file, &PushOptions::owned(0, 0, 0o755))
        .await
        .map_err(|e| format!("cannot put the guest set-up in template {name:?}: {e}"))?;
    shift(client, name).await?;
    // The set-up removes itself at its end.
    match client.path_exists(name, layout::TEMPLATE_SETUP_PATH).await {
        Ok(false) => {}
        Ok(true) => return Err(format!("the guest set-up did not complete in template {name:?}")),
        Err(e) => return Err(format!("cannot check the guest set-up of template {name:?}: {e}")),
    }
    let (_, etag) = client.get_instance(name).await.map_err(|e| e.to_string())?;
    let patch = serde_json::json!({ "config": { layout::TEMPLATE_SETUP_KEY: setup_hash } });
    client.patch_instance(name, &patch, &etag).await.map_err(|e| e.to_string())
}

/// Starts the template once (LXD shifts its files; its init, the set-up, ends by itself) and
/// waits until it has stopped.
async fn shift(client: &Client, name: &str) -> Result<(), String> {
    // Whatever LXD says of a start whose init is gone at once, the record below decides.
    if let Err(e) = client.start_instance(name).await {
        debug!(template = %name, error = %e, "template start reported an error");
    }
    let deadline = Instant::now() + STOP_WAIT;
    loop {
        let (instance, _) = client.get_instance(name).await.map_err(|e| e.to_string())?;
        if !instance.config.contains_key(layout::TEMPLATE_KEY) {
            return Err(format!("template {name:?} was replaced by another instance"));
        }
        if !instance.is_running() {
            return if layout::is_shifted(&instance) {
                Ok(())
            } else {
                Err(format!("LXD did not record template {name:?} as shifted"))
            };
        }
        if Instant::now() >= deadline {
            return Err(format!("template {name:?} did not stop after its start"));
        }
        actix_rt::time::sleep(WAIT_RETRY).await;
    }
}

/// Removes a template whose preparation failed, if it is still an unprepared template (the
/// name may meanwhile be someone else's).
async fn remove_failed(client: &Client, name: &str, setup_hash: &str) {
    let Ok((instance, _)) = client.get_instance(name).await else { return };
    if !instance.config.contains_key(layout::TEMPLATE_KEY) || layout::is_prepared(&instance, setup_hash) {
        return;
    }
    if let Err(e) = client.delete_instance(name, true).await {
        warn!(template = %name, error = %e, "cannot remove a template that failed");
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
