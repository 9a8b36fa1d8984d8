//! The top-level help lists the commands in the reference's groups instead of one flat list.

use clap::Command;

/// Group titles (the reference's wording) and their commands, in display order.
const GROUPS: &[(&str, &[&str])] = &[
    (
        "Create new workshops; start, stop, update or delete existing ones:",
        &["init", "launch", "refresh", "restore", "fork", "start", "stop", "remove"],
    ),
    ("Sketch an SDK inside a workshop:", &["sketch-sdk", "sketches"]),
    ("List and acknowledge warnings:", &["warnings", "okay"]),
    ("Enumerate workshops, list their details:", &["list", "info", "actions"]),
    ("List recent changes and individual activities:", &["changes", "tasks"]),
    ("Manage connections between plugs and slots:", &["connections", "connect", "disconnect", "remount"]),
    ("Run commands inside a workshop:", &["exec", "shell", "run"]),
    ("Check and clean up this machine:", &["doctor", "du", "prune"]),
    ("Additional commands:", &["version", "completion", "help"]),
];

/// What clap's generated `help` subcommand says.
const HELP_ABOUT: &str = "Print this message or the help of the given subcommand(s)";

/// `cmd` with a help template that shows its subcommands by group.
pub fn grouped(cmd: Command) -> Command {
    let about = |name: &str| -> String {
        if name == "help" {
            return HELP_ABOUT.to_string();
        }
        cmd.find_subcommand(name).and_then(|c| c.get_about()).map(|a| a.to_string()).unwrap_or_default()
    };
    let width = GROUPS.iter().flat_map(|(_, names)| names.iter()).map(|n| n.len()).max().unwrap_or(0);
    let mut groups = String::new();
    for (title, names) in GROUPS {
        groups.push_str(title);
        groups.push('\n');
        for name in *names {
            groups.push_str(&format!("  {name:<width$}  {}\n", about(name)));
        }
        groups.push('\n');
    }
    let template = format!(
        "{{before-help}}{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{groups}Options:\n{{options}}{{after-help}}"
    );
    cmd.help_template(template)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_is_in_exactly_one_group() {
        let cmd = crate::Cli::command();
        let grouped: Vec<&str> = GROUPS.iter().flat_map(|(_, names)| names.iter().copied()).collect();
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let count = grouped.iter().filter(|n| **n == sub.get_name()).count();
            assert_eq!(count, 1, "{} is in {count} groups", sub.get_name());
        }
        for name in grouped.iter().filter(|n| **n != "help") {
            assert!(cmd.find_subcommand(name).is_some(), "group lists unknown command {name}");
        }
    }

    #[test]
    fn help_shows_the_groups_with_descriptions() {
        let help = grouped(crate::Cli::command()).render_help().to_string();
        assert!(help.contains("Create new workshops; start, stop, update or delete existing ones:\n  init "));
        assert!(help.contains("Run commands inside a workshop:\n  exec "), "{help}");
        assert!(help.contains("  okay         Acknowledge warnings\n"), "{help}");
        assert!(help.contains("Options:\n  -p, --project <DIR>"), "{help}");
    }
}
