//! The firewall check: a FORWARD policy of DROP without an exception for the bridge (what
//! Docker sets up) or an active UFW without rules for it leaves workshops without a network.
//! nftables is asked first (`nft -j list table ip filter`, as the reference does); iptables
//! where nft is missing or has no such table. The daemon checks at start-up and warns every
//! user ([`warning_text`]); `workshop doctor` says it and fixes it.

use std::time::Duration;

use serde_json::Value;
use workshop_api::doctor::{Check, CheckStatus};

use super::command::run_bounded;

const LIMIT: Duration = Duration::from_secs(5);

/// What the firewall tools said: `nft -j list table ip filter` (when nft has that table),
/// `iptables -S FORWARD`, `iptables -S DOCKER-USER` (when that chain exists) and `ufw status`
/// (when UFW is installed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub nft: Option<String>,
    pub forward: Option<String>,
    pub docker_user: Option<String>,
    pub ufw: Option<String>,
}

/// Who most likely set the FORWARD policy up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Docker,
    Ufw,
    Unknown,
}

/// A FORWARD policy that drops what the bridge routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Blocked {
    cause: Cause,
    /// Seen through nftables (the fix is said in nft's words).
    nft: bool,
}

/// Whether `rules` (`iptables -S` lines) accept traffic in from and out to `bridge`.
fn accepts(rules: &str, bridge: &str) -> bool {
    let has = |dir: &str| {
        rules.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.windows(2).any(|w| w == [dir, bridge]) && words.windows(2).any(|w| w == ["-j", "ACCEPT"])
        })
    };
    has("-i") && has("-o")
}

/// What nftables' `ip filter` table (its JSON listing) says: `None` when it has no FORWARD
/// chain; else whether that chain drops what the bridge routes, with no rule of the
/// FORWARD or DOCKER-USER chains accepting both what comes in from it and what goes out to it.
fn nft_blocked(json: &str, bridge: &str) -> Option<Option<Cause>> {
    let listing: Value = serde_json::from_str(json).ok()?;
    let objects = listing.get("nftables")?.as_array()?;
    let chains: Vec<&Value> = objects.iter().filter_map(|o| o.get("chain")).collect();
    let forward = chains.iter().find(|c| c.get("name").and_then(Value::as_str) == Some("FORWARD"))?;
    if !matches!(forward.get("policy").and_then(Value::as_str), Some("drop" | "reject")) {
        return Some(None);
    }
    let rules: Vec<&Value> = objects
        .iter()
        .filter_map(|o| o.get("rule"))
        .filter(|r| matches!(r.get("chain").and_then(Value::as_str), Some("FORWARD" | "DOCKER-USER")))
        .collect();
    let accepts_on = |key: &str| {
        rules.iter().any(|r| {
            let exprs = r.get("expr").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            let on_bridge = exprs.iter().any(|e| {
                e.get("match").is_some_and(|m| {
                    m.pointer("/left/meta/key").and_then(Value::as_str) == Some(key)
                        && m.get("right").and_then(Value::as_str) == Some(bridge)
                        && m.get("op").and_then(Value::as_str).is_none_or(|op| op == "==")
                })
            });
            on_bridge && exprs.iter().any(|e| e.get("accept").is_some())
        })
    };
    if accepts_on("iifname") && accepts_on("oifname") {
        return Some(None);
    }
    let named = |word: &str| {
        chains.iter().any(|c| c.get("name").and_then(Value::as_str).is_some_and(|n| n.contains(word)))
    };
    let ruled = |word: &str| {
        objects
            .iter()
            .filter_map(|o| o.get("rule"))
            .any(|r| r.get("chain").and_then(Value::as_str).is_some_and(|c| c.contains(word)))
    };
    let cause = if named("DOCKER") {
        Cause::Docker
    } else if ruled("ufw") || named("ufw") {
        Cause::Ufw
    } else {
        Cause::Unknown
    };
    Some(Some(cause))
}

/// The FORWARD policy's verdict: nftables' when it has the table, else iptables'.
fn forward_blocked(rules: &Rules, bridge: &str) -> Option<Blocked> {
    if let Some(verdict) = rules.nft.as_deref().and_then(|json| nft_blocked(json, bridge)) {
        return verdict.map(|cause| Blocked { cause, nft: true });
    }
    let forward = rules.forward.as_deref()?;
    let drops = forward.lines().any(|l| matches!(l.trim(), "-P FORWARD DROP" | "-P FORWARD REJECT"));
    let excepted =
        accepts(forward, bridge) || rules.docker_user.as_deref().is_some_and(|r| accepts(r, bridge));
    if !drops || excepted {
        return None;
    }
    let cause = if rules.docker_user.is_some() {
        Cause::Docker
    } else if forward.contains("ufw") {
        Cause::Ufw
    } else {
        Cause::Unknown
    };
    Some(Blocked { cause, nft: false })
}

/// The commands that let the bridge's traffic through a FORWARD policy that drops it.
fn forward_fix(blocked: Blocked, bridge: &str) -> Vec<Vec<String>> {
    let words = |text: String| text.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    if blocked.cause == Cause::Ufw {
        return ufw_fix(bridge);
    }
    let chain = if blocked.cause == Cause::Docker { "DOCKER-USER" } else { "FORWARD" };
    if blocked.nft {
        vec![
            words(format!("nft insert rule ip filter {chain} iifname {bridge} accept")),
            words(format!(
                "nft insert rule ip filter {chain} oifname {bridge} ct state related,established accept"
            )),
        ]
    } else {
        vec![
            words(format!("iptables -I {chain} -i {bridge} -j ACCEPT")),
            words(format!("iptables -I {chain} -o {bridge} -j ACCEPT")),
        ]
    }
}

fn ufw_fix(bridge: &str) -> Vec<Vec<String>> {
    ["allow in on", "route allow in on", "route allow out on"]
        .iter()
        .map(|what| format!("ufw {what} {bridge}").split_whitespace().map(str::to_string).collect())
        .collect()
}

/// Whether an active UFW has no rules for the bridge.
fn ufw_blocks(rules: &Rules, bridge: &str) -> bool {
    rules
        .ufw
        .as_deref()
        .is_some_and(|ufw| ufw.lines().any(|l| l.trim() == "Status: active") && !ufw.contains(bridge))
}

/// What blocks the bridge, and the commands that would unblock it.
fn blockers(rules: &Rules, bridge: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut problems = Vec::new();
    let mut commands: Vec<Vec<String>> = Vec::new();
    let forward = forward_blocked(rules, bridge);
    if let Some(blocked) = forward {
        let by = match blocked.cause {
            Cause::Docker => " (Docker sets it so)",
            Cause::Ufw => " (UFW sets it so)",
            Cause::Unknown => "",
        };
        problems.push(format!("the FORWARD policy drops what {bridge} routes{by}"));
        commands.extend(forward_fix(blocked, bridge));
    }
    if ufw_blocks(rules, bridge) && !forward.is_some_and(|b| b.cause == Cause::Ufw) {
        problems.push(format!("UFW is active without rules for {bridge}"));
        commands.extend(ufw_fix(bridge));
    }
    (problems, commands)
}

/// The start-up warning (the reference's words) when the firewall drops what the bridge
/// routes; `None` when nothing does.
pub fn warning_text(rules: &Rules, bridge: &str) -> Option<String> {
    let blocked = forward_blocked(rules, bridge).or_else(|| {
        ufw_blocks(rules, bridge).then_some(Blocked { cause: Cause::Ufw, nft: rules.nft.is_some() })
    })?;
    let fix: Vec<String> =
        forward_fix(blocked, bridge).iter().map(|c| format!("sudo {}", c.join(" "))).collect();
    let by = match blocked.cause {
        Cause::Docker => " This is likely caused by Docker.",
        Cause::Ufw => " This is likely caused by UFW.",
        Cause::Unknown => "",
    };
    let joiner = if blocked.cause == Cause::Ufw { " && " } else { " \\; " };
    Some(format!(
        "{WARNING_START}{bridge} bridge: the FORWARD chain policy is set to DROP with no rules allowing \
         traffic through the bridge.{by} To resolve, run: {}",
        fix.join(joiner)
    ))
}

/// How every firewall warning starts (to find the one raised before).
pub const WARNING_START: &str = "firewall rules may be blocking network traffic on the ";

/// The check from what the tools said.
pub fn judge(rules: &Rules, bridge: &str) -> Check {
    let (problems, commands) = blockers(rules, bridge);
    if !problems.is_empty() {
        let fix: Vec<String> = commands.iter().map(|c| c.join(" ")).collect();
        return Check::new(
            "firewall",
            CheckStatus::Failed,
            format!("workshops have no network: {}", problems.join("; ")),
        )
        .fixable(fix.join("; "));
    }
    match (&rules.nft, &rules.forward, &rules.ufw) {
        (None, None, None) => {
            Check::new("firewall", CheckStatus::Skipped, "neither nft, iptables nor ufw is installed")
        }
        _ => Check::ok("firewall", format!("nothing blocks what {bridge} routes")),
    }
}

/// What a command said on success.
fn said(program: &str, args: &[&str]) -> Option<String> {
    match run_bounded(program, args, LIMIT) {
        Some(Ok(said)) if said.success => Some(said.stdout),
        _ => None,
    }
}

/// Asks the tools.
pub fn rules() -> Rules {
    Rules { ufw: said("ufw", &["status"]), ..forward_rules() }
}

/// Asks nftables and iptables only (a few milliseconds, at every start; `ufw` is a Python
/// program, and UFW's forwarding policy shows in their tables anyway).
pub fn forward_rules() -> Rules {
    Rules {
        nft: said("nft", &["-j", "list", "table", "ip", "filter"]),
        forward: said("iptables", &["-S", "FORWARD"]),
        docker_user: said("iptables", &["-S", "DOCKER-USER"]),
        ufw: None,
    }
}

pub fn check(bridge: &str) -> Check {
    judge(&rules(), bridge)
}

/// Runs the commands that unblock the bridge, as found now.
pub fn fix(bridge: &str) -> Result<(), String> {
    for command in blockers(&rules(), bridge).1 {
        let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
        match run_bounded(&command[0], &args, LIMIT) {
            Some(Ok(said)) if said.success => {}
            Some(Ok(said)) => return Err(format!("{}: {}", command.join(" "), said.stderr.trim())),
            Some(Err(why)) => return Err(why),
            None => return Err(format!("{} is not installed", command[0])),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BR: &str = "workshopbr0";

    #[test]
    fn an_open_forward_policy_is_fine() {
        let rules = Rules { forward: Some("-P FORWARD ACCEPT\n".into()), ..Rules::default() };
        assert_eq!(judge(&rules, BR).status, CheckStatus::Ok);
        assert_eq!(judge(&Rules::default(), BR).status, CheckStatus::Skipped);
    }

    #[test]
    fn dockers_drop_policy_needs_an_exception_in_docker_user() {
        let docker = Rules {
            forward: Some("-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n".into()),
            docker_user: Some("-N DOCKER-USER\n-A DOCKER-USER -j RETURN\n".into()),
            ..Rules::default()
        };
        let check = judge(&docker, BR);
        assert_eq!(check.status, CheckStatus::Failed);
        assert!(check.fixable);
        assert_eq!(
            check.fix.as_deref(),
            Some(
                "iptables -I DOCKER-USER -i workshopbr0 -j ACCEPT; iptables -I DOCKER-USER -o workshopbr0 -j ACCEPT"
            )
        );
        let mut fixed = docker.clone();
        fixed.docker_user = Some(format!(
            "-N DOCKER-USER\n-A DOCKER-USER -o {BR} -j ACCEPT\n-A DOCKER-USER -i {BR} -j ACCEPT\n-A DOCKER-USER -j RETURN\n"
        ));
        assert_eq!(judge(&fixed, BR).status, CheckStatus::Ok);
        // An exception for another bridge is none for ours.
        let other = Rules {
            docker_user: Some(
                "-A DOCKER-USER -i lxdbr0 -j ACCEPT\n-A DOCKER-USER -o lxdbr0 -j ACCEPT\n".into(),
            ),
            ..docker
        };
        assert_eq!(judge(&other, BR).status, CheckStatus::Failed);
    }

    #[test]
    fn an_active_ufw_needs_rules_for_the_bridge() {
        let ufw = Rules {
            ufw: Some("Status: active\n\nTo Action From\n22/tcp ALLOW Anywhere\n".into()),
            ..Rules::default()
        };
        let check = judge(&ufw, BR);
        assert_eq!(check.status, CheckStatus::Failed);
        assert!(check.fix.unwrap().starts_with("ufw allow in on workshopbr0"));
        let allowed = Rules {
            ufw: Some(format!("Status: active\nAnywhere on {BR} ALLOW Anywhere\n")),
            ..Rules::default()
        };
        assert_eq!(judge(&allowed, BR).status, CheckStatus::Ok);
        let inactive = Rules { ufw: Some("Status: inactive\n".into()), ..Rules::default() };
        assert_eq!(judge(&inactive, BR).status, CheckStatus::Ok);
    }

    /// `nft -j list table ip filter` as Docker leaves it, with `extra` rules in DOCKER-USER.
    fn docker_nft(extra: &str) -> String {
        format!(
            r#"{{"nftables": [{{"metainfo": {{"version": "1.0.6"}}}},
            {{"table": {{"family": "ip", "name": "filter", "handle": 1}}}},
            {{"chain": {{"family": "ip", "table": "filter", "name": "FORWARD", "handle": 2, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}}},
            {{"chain": {{"family": "ip", "table": "filter", "name": "DOCKER-USER", "handle": 3}}}},
            {{"chain": {{"family": "ip", "table": "filter", "name": "DOCKER", "handle": 4}}}},
            {{"rule": {{"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 5, "expr": [{{"jump": {{"target": "DOCKER-USER"}}}}]}}}}
            {extra}]}}"#
        )
    }

    fn nft_rule(key: &str, bridge: &str) -> String {
        format!(
            r#",{{"rule": {{"family": "ip", "table": "filter", "chain": "DOCKER-USER", "handle": 9, "expr": [{{"match": {{"op": "==", "left": {{"meta": {{"key": "{key}"}}}}, "right": "{bridge}"}}}}, {{"accept": null}}]}}}}"#
        )
    }

    #[test]
    fn dockers_drop_policy_seen_by_nft_warns_in_the_references_words() {
        let rules = Rules { nft: Some(docker_nft("")), ..Rules::default() };
        let text = warning_text(&rules, BR).expect("blocked");
        assert_eq!(
            text,
            "firewall rules may be blocking network traffic on the workshopbr0 bridge: the FORWARD chain \
             policy is set to DROP with no rules allowing traffic through the bridge. This is likely caused \
             by Docker. To resolve, run: sudo nft insert rule ip filter DOCKER-USER iifname workshopbr0 \
             accept \\; sudo nft insert rule ip filter DOCKER-USER oifname workshopbr0 ct state \
             related,established accept"
        );
        let check = judge(&rules, BR);
        assert_eq!(check.status, CheckStatus::Failed);
        assert!(
            check
                .fix
                .unwrap()
                .starts_with("nft insert rule ip filter DOCKER-USER iifname workshopbr0 accept")
        );
        // The fix lets both ways through; one way, or another bridge, is not enough.
        let fixed = format!("{}{}", nft_rule("iifname", BR), nft_rule("oifname", BR));
        let rules = Rules { nft: Some(docker_nft(&fixed)), ..Rules::default() };
        assert_eq!(warning_text(&rules, BR), None);
        assert_eq!(judge(&rules, BR).status, CheckStatus::Ok);
        let rules = Rules { nft: Some(docker_nft(&nft_rule("iifname", BR))), ..Rules::default() };
        assert!(warning_text(&rules, BR).is_some());
        let other = format!("{}{}", nft_rule("iifname", "lxdbr0"), nft_rule("oifname", "lxdbr0"));
        let rules = Rules { nft: Some(docker_nft(&other)), ..Rules::default() };
        assert!(warning_text(&rules, BR).is_some());
    }

    #[test]
    fn nft_has_the_last_word_over_iptables() {
        // An accepting FORWARD chain: nothing to say, whatever iptables (legacy) lists.
        let open = docker_nft("").replace(r#""policy": "drop""#, r#""policy": "accept""#);
        let rules = Rules { nft: Some(open), forward: Some("-P FORWARD DROP\n".into()), ..Rules::default() };
        assert_eq!(warning_text(&rules, BR), None);
        // No FORWARD chain in nft: iptables says it, without Docker's chain an unknown cause.
        let rules = Rules {
            nft: Some(r#"{"nftables": [{"metainfo": {}}]}"#.into()),
            forward: Some("-P FORWARD DROP\n".into()),
            ..Rules::default()
        };
        let text = warning_text(&rules, BR).unwrap();
        assert!(text.ends_with("To resolve, run: sudo iptables -I FORWARD -i workshopbr0 -j ACCEPT \\; sudo iptables -I FORWARD -o workshopbr0 -j ACCEPT"), "{text}");
        assert!(!text.contains("Docker"), "{text}");
        // A broken listing is no verdict either.
        let rules = Rules { nft: Some("{".into()), ..Rules::default() };
        assert_eq!(warning_text(&rules, BR), None);
    }

    #[test]
    fn ufw_is_named_as_the_cause() {
        let rules = Rules {
            ufw: Some("Status: active\n\nTo Action From\n22/tcp ALLOW Anywhere\n".into()),
            ..Rules::default()
        };
        let text = warning_text(&rules, BR).unwrap();
        assert!(text.contains("This is likely caused by UFW. To resolve, run: sudo ufw allow in on workshopbr0 && sudo ufw route allow in on workshopbr0 && sudo ufw route allow out on workshopbr0"), "{text}");
        assert!(text.starts_with(WARNING_START));
    }
}
