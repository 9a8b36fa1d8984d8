//! The LXD templates of every workshop instance, rendered by LXD from the instance's config
//! into the guest when a new instance (created or copied) first starts, before anything in it
//! runs: the DNS search hook ([`search`]), the machine id ([`machine_id`]), the host name
//! and an empty DHCP client state.

use tracing::debug;

use super::{machine_id, search};
use crate::lxd::{Client, MetadataTemplate, Result};

/// ISC dhclient's lease files (the image's network is ifupdown's): they hold the DUID the
/// client identifies itself with, and the address it asks for again. A copy (a fork, a
/// workshop made from a layer or rebuilt from one) starts with them empty, so that it is a
/// DHCP client of its own: with its source's identity the bridge's dnsmasq may hand it the
/// source's address.
const DHCP_STATE: [(&str, &str); 2] = [
    ("/var/lib/dhcp/dhclient.eth0.leases", "workshop-dhclient-leases.tpl"),
    ("/var/lib/dhcp/dhclient6.eth0.leases", "workshop-dhclient6-leases.tpl"),
];

/// The guest's host name is the workshop's name, as the reference's (`hostname` in a workshop
/// prints `dev`, not its instance's `dev-<project id>`); an instance without one (a template)
/// keeps its instance name. On the bridge the workshop is still known by its instance name:
/// LXD's static DHCP entry names it, whatever the guest's DHCP client sends.
const HOSTNAME: &str = "/etc/hostname";
const HOSTNAME_FILE: &str = "workshop-hostname.tpl";
/// The name resolves in the guest (sudo looks it up), as Debian's installer writes it.
const HOSTS: &str = "/etc/hosts";
const HOSTS_FILE: &str = "workshop-hosts.tpl";

/// The host name as an LXD (pongo2) template.
fn hostname_template() -> String {
    let get = format!("config_get(\"{}\", \"\")", super::layout::NAME_KEY);
    format!("{{% if {get} %}}{{{{ {get} }}}}{{% else %}}{{{{ container.name }}}}{{% endif %}}")
}

fn hosts_template() -> String {
    format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{}\n\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        hostname_template()
    )
}

/// The metadata entry rendering template `file` when a new instance first starts.
fn entry(file: &str) -> MetadataTemplate {
    MetadataTemplate {
        when: vec!["create".into(), "copy".into()],
        create_only: false,
        template: file.into(),
        properties: Default::default(),
    }
}

/// The templates: where each goes in the guest, its file name and its content.
fn templates() -> Vec<(&'static str, &'static str, String)> {
    let mut templates = vec![
        (search::HOOK_PATH, search::TEMPLATE_FILE, search::hook_template()),
        (machine_id::PATH, machine_id::TEMPLATE_FILE, machine_id::template()),
        (HOSTNAME, HOSTNAME_FILE, format!("{}\n", hostname_template())),
        (HOSTS, HOSTS_FILE, hosts_template()),
    ];
    templates.extend(DHCP_STATE.iter().map(|(path, file)| (*path, *file, String::new())));
    templates
}

/// Gives the (not yet started) instance `name` the templates: their files first (an entry
/// without its file would fail the start), then the entries, when they differ.
pub(super) async fn add(client: &Client, name: &str) -> Result<()> {
    let templates = templates();
    // The files are uploaded side by side, and beside the read of the metadata.
    let uploads =
        templates.iter().map(|(_, file, body)| client.put_instance_template(name, file, body.as_bytes()));
    let ((mut metadata, etag), _) = futures_util::future::try_join(
        client.instance_metadata(name),
        futures_util::future::try_join_all(uploads),
    )
    .await?;
    let mut changed = false;
    for (path, file, _) in templates {
        let wanted = entry(file);
        if metadata.templates.get(path) != Some(&wanted) {
            metadata.templates.insert(path.into(), wanted);
            changed = true;
        }
    }
    if changed {
        client.update_instance_metadata(name, &metadata, &etag).await?;
        debug!(instance = %name, "added the guest templates");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_when_a_new_instance_first_starts() {
        let templates = templates();
        let paths: Vec<&str> = templates.iter().map(|(path, _, _)| *path).collect();
        assert_eq!(
            paths,
            [
                "/etc/dhcp/dhclient-enter-hooks.d/workshop-search",
                "/etc/machine-id",
                "/etc/hostname",
                "/etc/hosts",
                "/var/lib/dhcp/dhclient.eth0.leases",
                "/var/lib/dhcp/dhclient6.eth0.leases"
            ]
        );
        // One file name each; the lease files come out empty.
        let files: std::collections::BTreeSet<&str> = templates.iter().map(|(_, file, _)| *file).collect();
        assert_eq!(files.len(), templates.len());
        assert!(templates[4..].iter().all(|(_, _, body)| body.is_empty()));
        assert_eq!(
            templates[2].2,
            "{% if config_get(\"user.workshop.name\", \"\") %}{{ config_get(\"user.workshop.name\", \"\") }}\
             {% else %}{{ container.name }}{% endif %}\n"
        );
        assert!(
            templates[3].2.contains("\n127.0.1.1\t{% if config_get(\"user.workshop.name\""),
            "{}",
            templates[3].2
        );
        assert_eq!(entry("x.tpl").when, ["create", "copy"]);
        assert!(!entry("x.tpl").create_only);
    }
}
