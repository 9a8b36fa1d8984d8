//! The guest's DNS search list: `<project id>.<domain> <domain>`, so that a bare workshop
//! name means the workshop of the same project (`curl http://other-ws:8080`) and `<ws>-<pid>`
//! any workshop. The reference sets `Domains=` in a systemd-networkd drop-in; the images here
//! configure their network with ifupdown and ISC dhclient, so it is a dhclient enter hook
//! setting the search list dhclient-script writes into `/etc/resolv.conf`.
//!
//! The hook is an LXD template of the instance (see `guest_templates`): written into the
//! guest any later, it would race the first DHCP exchange of the boot.

use super::layout::{DNS_DOMAIN, PROJECT_ID_KEY};

/// Where dhclient-script sources the hook from.
pub(super) const HOOK_PATH: &str = "/etc/dhcp/dhclient-enter-hooks.d/workshop-search";
/// The template's file name in the instance's templates.
pub(super) const TEMPLATE_FILE: &str = "workshop-search.tpl";

/// The hook, as an LXD (pongo2) template: dhclient-script sources it before it writes
/// `/etc/resolv.conf`.
pub(super) fn hook_template() -> String {
    format!(
        "# Written by Workshop when the workshop was created: bare names are workshops of its project.\n\
         project_id='{{{{ config_get(\"{PROJECT_ID_KEY}\", \"\") }}}}'\n\
         if [ -n \"$project_id\" ]; then\n\
         \x20   new_domain_search=\"$project_id.{DNS_DOMAIN} {DNS_DOMAIN}\"\n\
         fi\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_searches_the_project_then_every_workshop() {
        let hook = hook_template();
        assert!(hook.contains(r#"project_id='{{ config_get("user.workshop.project-id", "") }}'"#), "{hook}");
        assert!(hook.contains(r#"    new_domain_search="$project_id.wp wp""#), "{hook}");
        // Rendered, it is a shell fragment that sets nothing without a project id.
        let rendered = hook.replace(r#"{{ config_get("user.workshop.project-id", "") }}"#, "0123abcd");
        let script = format!("{rendered}\nprintf '%s' \"$new_domain_search\"");
        let out = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "0123abcd.wp wp");
        let empty = hook.replace(r#"{{ config_get("user.workshop.project-id", "") }}"#, "");
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("{empty}\nprintf '%s' \"${{new_domain_search-unset}}\"")])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "unset");
    }
}
