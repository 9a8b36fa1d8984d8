//! The firewall check: a FORWARD policy of DROP without an exception for the bridge (what
//! Docker sets up) or an active UFW without rules for it leaves workshops without a network.

use std::time::Duration;

use workshop_api::doctor::{Check, CheckStatus};

use super::command::run_bounded;

const LIMIT: Duration = Duration::from_secs(5);

/// What the firewall tools said: `iptables -S FORWARD`, `iptables -S DOCKER-USER` (when that
/// chain exists) and `ufw status` (when UFW is installed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub forward: Option<String>,
    pub docker_user: Option<String>,
    pub ufw: Option<String>,
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

/// What blocks the bridge, and the commands that would unblock it.
fn blockers(rules: &Rules, bridge: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut problems = Vec::new();
    let mut commands: Vec<Vec<String>> = Vec::new();
    let command = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    if let Some(forward) = &rules.forward {
        let drops = forward.lines().any(|l| matches!(l.trim(), "-P FORWARD DROP" | "-P FORWARD REJECT"));
        let excepted =
            accepts(forward, bridge) || rules.docker_user.as_deref().is_some_and(|r| accepts(r, bridge));
        if drops && !excepted {
            problems.push(format!("the FORWARD policy drops what {bridge} routes (Docker sets it so)"));
            let chain = if rules.docker_user.is_some() { "DOCKER-USER" } else { "FORWARD" };
            commands.push(command(&["iptables", "-I", chain, "-i", bridge, "-j", "ACCEPT"]));
            commands.push(command(&["iptables", "-I", chain, "-o", bridge, "-j", "ACCEPT"]));
        }
    }
    if let Some(ufw) = &rules.ufw
        && ufw.lines().any(|l| l.trim() == "Status: active")
        && !ufw.contains(bridge)
    {
        problems.push(format!("UFW is active without rules for {bridge}"));
        commands.push(command(&["ufw", "allow", "in", "on", bridge]));
        commands.push(command(&["ufw", "route", "allow", "in", "on", bridge]));
        commands.push(command(&["ufw", "route", "allow", "out", "on", bridge]));
    }
    (problems, commands)
}

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
    match (&rules.forward, &rules.ufw) {
        (None, None) => Check::new("firewall", CheckStatus::Skipped, "neither iptables nor ufw is installed"),
        _ => Check::ok("firewall", format!("nothing blocks what {bridge} routes")),
    }
}

/// Asks the tools.
fn rules() -> Rules {
    let said = |program: &str, args: &[&str]| match run_bounded(program, args, LIMIT) {
        Some(Ok(said)) if said.success => Some(said.stdout),
        _ => None,
    };
    Rules {
        forward: said("iptables", &["-S", "FORWARD"]),
        docker_user: said("iptables", &["-S", "DOCKER-USER"]),
        ufw: said("ufw", &["status"]),
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
            ufw: None,
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
}
