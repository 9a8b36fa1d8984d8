//! `workshop doctor`: whether this machine can run workshops, and what to run where it
//! cannot (`--fix` applies the safe fixes, as root).

use clap::Args;
use workshop_api::doctor::{Check, CheckStatus};

use crate::ExitStatus;
use crate::cmd::{Format, bold_headers};
use crate::context::Ctx;
use crate::table::Table;

/// Flags of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Apply the fixes that are safe to apply (as root): id ranges for LXD, firewall exceptions
    /// for the bridge
    #[arg(long)]
    pub fix: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The client's own check: whether the daemon answers.
fn daemon_check(ctx: &Ctx) -> Check {
    match ctx.client.system_info() {
        Ok(info) => Check::ok("daemon", format!("workshopd {} answers", info.version)),
        Err(e) => Check::new("daemon", CheckStatus::Failed, e.to_string())
            .fix("start the daemon: systemctl start workshopd.socket (or run workshopd)"),
    }
}

/// `workshop doctor`: fails when a check failed.
pub fn run(ctx: &Ctx, args: &DoctorArgs) -> anyhow::Result<()> {
    let daemon = daemon_check(ctx);
    let mut checks = vec![daemon.clone()];
    if daemon.status == CheckStatus::Ok {
        checks.extend(if args.fix { ctx.client.doctor_fix()? } else { ctx.client.doctor()? });
    }
    match args.format.data(&checks)? {
        Some(data) => workshop_client::out!("{data}"),
        None => workshop_client::out!("{}", render(&checks, args.fix, bold_headers())),
    }
    if checks.iter().any(|c| c.status == CheckStatus::Failed) {
        return Err(ExitStatus(1).into());
    }
    Ok(())
}

/// The table of checks, then what to run for each one that is not ok.
fn render(checks: &[Check], fixed: bool, bold: bool) -> String {
    let mut table = Table::new(&["check", "status", "message"]);
    for c in checks {
        table.row(vec![c.name.clone(), c.status.as_str().to_string(), c.message.clone()]);
    }
    let mut out = table.render(true, bold);
    let fixes: Vec<&Check> =
        checks.iter().filter(|c| c.status != CheckStatus::Ok && c.fix.is_some()).collect();
    if !fixes.is_empty() {
        out.push_str("\nTo fix:\n");
        for c in &fixes {
            let hint = if c.fixable && !fixed { " (workshop doctor --fix does this, as root)" } else { "" };
            out.push_str(&format!("  {}: {}{hint}\n", c.name, c.fix.as_deref().unwrap_or_default()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_say_what_to_run() {
        let checks = vec![
            Check::ok("lxd", "LXD 5.0.2"),
            Check::new("firewall", CheckStatus::Failed, "no network")
                .fixable("iptables -I FORWARD -i br -j ACCEPT"),
            Check::new("images", CheckStatus::Warning, "some bases missing").fix("run setup"),
            Check::new("id-map", CheckStatus::Skipped, "root"),
        ];
        let text = render(&checks, false, false);
        assert!(text.starts_with("CHECK     STATUS   MESSAGE\nlxd       ok       LXD 5.0.2\n"), "{text}");
        assert!(text.contains("\nTo fix:\n  firewall: iptables -I FORWARD -i br -j ACCEPT (workshop doctor --fix does this, as root)\n  images: run setup\n"), "{text}");
        assert!(!render(&checks, true, false).contains("--fix does this"));
        assert!(!render(&checks[..1], false, false).contains("To fix"));
    }
}
