//! The host DNS check: with systemd-resolved, the host resolves workshop names
//! (`<ws>.<project>.wp`) when `workshopbr0` has the bridge's dnsmasq as its per-link DNS server
//! for the routing domain `~wp`. Without systemd-resolved, the check says how to get there.

use std::time::Duration;

use workshop_api::doctor::{Check, CheckStatus};

use super::command::run_bounded;

const LIMIT: Duration = Duration::from_secs(5);
/// The DNS domain of workshops on the bridge.
pub const DOMAIN: &str = "wp";

/// What `resolvectl` said of the bridge: its DNS servers and its domains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkDns {
    pub servers: Vec<String>,
    pub domains: Vec<String>,
}

/// The words after the `Link N (name):` label of `resolvectl dns|domain <link>` output.
fn words(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.split_once("):").map(|(_, rest)| rest))
        .flat_map(|rest| rest.split_whitespace().map(str::to_string))
        .collect()
}

/// The commands that point the bridge's link at `address` for `~wp`.
fn commands(bridge: &str, address: &str) -> [Vec<String>; 2] {
    let owned = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    [
        owned(&["resolvectl", "dns", bridge, address]),
        owned(&["resolvectl", "domain", bridge, &format!("~{DOMAIN}")]),
    ]
}

/// The check from what `resolvectl` said (`None`: systemd-resolved does not run).
pub fn judge(link: Option<&LinkDns>, bridge: &str, address: Option<&str>) -> Check {
    let Some(address) = address else {
        return Check::new("host-dns", CheckStatus::Skipped, format!("{bridge} has no IPv4 address"));
    };
    let Some(link) = link else {
        return Check::new(
            "host-dns",
            CheckStatus::Warning,
            format!(
                "systemd-resolved does not run: the host does not resolve workshop names \
                 (<ws>.<project>.{DOMAIN}); workshops resolve each other"
            ),
        )
        .fix(format!("point the host's resolver at {address} for the domain {DOMAIN} (dnsmasq: server=/{DOMAIN}/{address})"));
    };
    let routed = link.domains.iter().any(|d| d == &format!("~{DOMAIN}") || d == DOMAIN);
    if link.servers.iter().any(|s| s == address) && routed {
        return Check::ok("host-dns", format!("the host resolves *.{DOMAIN} through {address} on {bridge}"));
    }
    let fix: Vec<String> = commands(bridge, address).iter().map(|c| c.join(" ")).collect();
    Check::new(
        "host-dns",
        CheckStatus::Warning,
        format!("the host does not resolve *.{DOMAIN}: {bridge} has no DNS for it"),
    )
    .fixable(fix.join("; "))
}

/// Asks systemd-resolved about the bridge's link.
fn link(bridge: &str) -> Option<LinkDns> {
    let said = |what: &str| match run_bounded("resolvectl", &[what, bridge], LIMIT) {
        Some(Ok(said)) if said.success => Some(words(&said.stdout)),
        _ => None,
    };
    Some(LinkDns { servers: said("dns")?, domains: said("domain")? })
}

pub fn check(bridge: &str, address: Option<&str>) -> Check {
    judge(link(bridge).as_ref(), bridge, address)
}

/// Points the bridge's link at `address` for `~wp` (systemd-resolved only).
pub fn fix(bridge: &str, address: Option<&str>) -> Result<(), String> {
    let Some(address) = address else { return Ok(()) };
    if link(bridge).is_none() {
        return Err("systemd-resolved does not run".into());
    }
    for command in commands(bridge, address) {
        let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
        match run_bounded(&command[0], &args, LIMIT) {
            Some(Ok(said)) if said.success => {}
            Some(Ok(said)) => return Err(format!("{}: {}", command.join(" "), said.stderr.trim())),
            Some(Err(why)) => return Err(why),
            None => return Err("resolvectl is not installed".into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolvectl_output_is_read_after_the_link_label() {
        assert_eq!(words("Link 5 (workshopbr0): 10.0.0.1 fd00::1\n"), ["10.0.0.1", "fd00::1"]);
        assert_eq!(words("Link 5 (workshopbr0):\n"), Vec::<String>::new());
    }

    #[test]
    fn the_link_needs_the_server_and_the_domain() {
        let ok = LinkDns { servers: vec!["10.0.0.1".into()], domains: vec!["~wp".into()] };
        assert_eq!(judge(Some(&ok), "br", Some("10.0.0.1")).status, CheckStatus::Ok);
        let bare = LinkDns::default();
        let check = judge(Some(&bare), "br", Some("10.0.0.1"));
        assert_eq!(check.status, CheckStatus::Warning);
        assert!(check.fixable);
        assert_eq!(check.fix.as_deref(), Some("resolvectl dns br 10.0.0.1; resolvectl domain br ~wp"));
        let none = judge(None, "br", Some("10.0.0.1"));
        assert!(none.message.starts_with("systemd-resolved does not run"), "{}", none.message);
        assert!(!none.fixable && none.fix.unwrap().contains("server=/wp/10.0.0.1"));
        assert_eq!(judge(None, "br", None).status, CheckStatus::Skipped);
    }
}
