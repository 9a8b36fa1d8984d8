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

/// The commands that point `link` at `addresses` for the routing-only domain `~<domain>`.
fn commands(link: &str, addresses: &[String], domain: &str) -> [Vec<String>; 2] {
    let mut dns = vec!["resolvectl".to_string(), "dns".into(), link.into()];
    dns.extend(addresses.iter().cloned());
    [dns, vec!["resolvectl".into(), "domain".into(), link.into(), format!("~{domain}")]]
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
    let fix: Vec<String> =
        commands(bridge, &[address.to_string()], DOMAIN).iter().map(|c| c.join(" ")).collect();
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
    configure(bridge, &[address.to_string()], DOMAIN, 1).map_err(|e| e.to_string())
}

/// Why `configure` could not point a link at its DNS servers.
#[derive(Debug, thiserror::Error)]
pub enum HostDnsError {
    #[error("cannot configure DNS on {0}: it has no IPv4 or IPv6 address")]
    NoAddress(String),
    #[error("cannot configure DNS on {0}: systemd-resolved does not run (resolvectl cannot reach it)")]
    NoResolved(String),
    #[error("cannot configure DNS on {link}: {command}: {why}")]
    Command { link: String, command: String, why: String },
}

/// Points `link` at `addresses` (its dnsmasq) for the routing-only domain `~<domain>`, as
/// `workshopd configure-dns` and the doctor's fix do. The link may appear a moment after the
/// bridge's device (the unit runs when the device does): a missing link is tried `tries`
/// times, a second apart. Blocking.
pub fn configure(link: &str, addresses: &[String], domain: &str, tries: u32) -> Result<(), HostDnsError> {
    if addresses.is_empty() {
        return Err(HostDnsError::NoAddress(link.to_string()));
    }
    for command in commands(link, addresses, domain) {
        let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
        let mut attempt = 1;
        loop {
            let failed = |why: String| HostDnsError::Command {
                link: link.to_string(),
                command: command.join(" "),
                why,
            };
            match run_bounded(&command[0], &args, LIMIT) {
                Some(Ok(said)) if said.success => break,
                Some(Ok(said)) if no_bus(&said.stderr) => {
                    return Err(HostDnsError::NoResolved(link.to_string()));
                }
                Some(Ok(said)) if no_link(&said.stderr) && attempt < tries => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_secs(1));
                }
                Some(Ok(said)) => return Err(failed(said.stderr.trim().to_string())),
                Some(Err(why)) => return Err(failed(why)),
                None => return Err(HostDnsError::NoResolved(link.to_string())),
            }
        }
    }
    Ok(())
}

/// Whether resolvectl could not talk to systemd-resolved at all.
fn no_bus(stderr: &str) -> bool {
    ["Failed to connect to bus", "not been booted with systemd", "org.freedesktop.resolve1"]
        .iter()
        .any(|m| stderr.contains(m))
}

/// Whether resolvectl did not know the link (yet).
fn no_link(stderr: &str) -> bool {
    ["No such device", "Failed to resolve interface", "NoSuchLink"].iter().any(|m| stderr.contains(m))
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

    #[test]
    fn configure_sets_every_address_and_a_routing_domain() {
        let [dns, domain] = commands("workshopbr0", &["10.0.0.1".into(), "fd00::1".into()], "wp");
        assert_eq!(dns.join(" "), "resolvectl dns workshopbr0 10.0.0.1 fd00::1");
        assert_eq!(domain.join(" "), "resolvectl domain workshopbr0 ~wp");
        assert!(matches!(configure("br", &[], "wp", 1), Err(HostDnsError::NoAddress(_))));
    }

    #[test]
    fn resolvectl_failures_are_told_apart() {
        assert!(no_bus("Failed to connect to bus: Host is down"));
        assert!(no_link("Failed to resolve interface \"workshopbr0\": No such device"));
        assert!(!no_bus("Failed to resolve interface \"x\": No such device"));
    }
}
