//! The LXD templates of every workshop instance, rendered by LXD from the instance's config
//! into the guest when a new instance (created or copied) first starts, before anything in it
//! runs: the DNS search hook ([`search`]) and the machine id ([`machine_id`]).

use tracing::debug;

use super::{machine_id, search};
use crate::lxd::{Client, Result};

/// Gives the (not yet started) instance `name` the templates: their files first (an entry
/// without its file would fail the start), then the entries, when they differ.
pub(super) async fn add(client: &Client, name: &str) -> Result<()> {
    let templates = [
        (search::HOOK_PATH, search::TEMPLATE_FILE, search::hook_template(), search::hook_entry()),
        (machine_id::PATH, machine_id::TEMPLATE_FILE, machine_id::template(), machine_id::entry()),
    ];
    let (mut metadata, etag) = client.instance_metadata(name).await?;
    for (_, file, body, _) in &templates {
        client.put_instance_template(name, file, body.as_bytes()).await?;
    }
    let mut changed = false;
    for (path, _, _, entry) in templates {
        if metadata.templates.get(path) != Some(&entry) {
            metadata.templates.insert(path.into(), entry);
            changed = true;
        }
    }
    if changed {
        client.update_instance_metadata(name, &metadata, &etag).await?;
        debug!(instance = %name, "added the guest templates");
    }
    Ok(())
}
