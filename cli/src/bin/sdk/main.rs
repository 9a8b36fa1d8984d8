//! `sdk`: find SDKs in the SDK Store and see the SDKs on this machine, through workshopd's
//! trusted socket (../shared/spec/reference-inventory.md §1.3).

mod find;
mod info;
mod list;
mod marks;

use clap::{Parser, Subcommand};
use workshop_client::Client;

/// Find SDKs in the SDK Store and see the SDKs on this machine.
#[derive(Debug, Parser)]
#[command(name = "sdk", disable_version_flag = true)]
struct Cli {
    /// Print SDK CLI version
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Search the Store for SDKs
    Find(find::FindArgs),
    /// List SDK trees available on this machine
    List(list::ListArgs),
    /// Show SDK info
    Info(info::InfoArgs),
    /// Generate a shell completion script (it asks sdk for candidates as you type)
    Completion {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

pub use workshop_client::output::{Format, ListFormat};

fn main() {
    // A completion request from the shell is answered (then exits): --base and --arch offer
    // their values.
    clap_complete::env::CompleteEnv::with_factory(<Cli as clap::CommandFactory>::command)
        .var(workshop_client::completion::VAR)
        .complete();
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        let _ = e.print();
        std::process::exit(if e.use_stderr() { 1 } else { 0 });
    });
    if cli.version {
        workshop_client::outln!("{}", workshop_api::VERSION);
        return;
    }
    let Some(command) = cli.command else {
        let _ = <Cli as clap::CommandFactory>::command().print_help();
        return;
    };
    let client = Client::default();
    let marks = marks::Marks::detect();
    let result = match command {
        Command::Find(args) => find::run(&client, &args, &marks),
        Command::List(args) => list::run(&client, &args),
        Command::Info(args) => info::run(&client, &args, &marks),
        Command::Completion { shell } => completion(shell),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// `sdk completion <shell>`: the registration script.
fn completion(shell: CompletionShell) -> anyhow::Result<()> {
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
        CompletionShell::Powershell => clap_complete::Shell::PowerShell,
    };
    Ok(workshop_client::completion::write_script(shell, "sdk", &mut std::io::stdout())
        .inspect_err(workshop_client::output::exit_if_broken_pipe)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_definition_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn find_joins_its_words_and_info_takes_base_and_arch() {
        let cli = Cli::try_parse_from(["sdk", "find", "jupyter", "notebooks", "--no-headers"]).unwrap();
        let Some(Command::Find(args)) = cli.command else { panic!("not find") };
        assert_eq!((args.query(), args.no_headers), ("jupyter notebooks".to_string(), true));
        let cli =
            Cli::try_parse_from(["sdk", "info", "go", "--base", "ubuntu@24.04", "--arch", "all"]).unwrap();
        let Some(Command::Info(args)) = cli.command else { panic!("not info") };
        assert_eq!((args.base.as_deref(), args.arch.as_deref()), (Some("ubuntu@24.04"), Some("all")));
        assert!(Cli::try_parse_from(["sdk", "info", "go", "--arch", "x86_64"]).is_err());
        assert!(Cli::try_parse_from(["sdk", "info"]).is_err());
        assert!(Cli::try_parse_from(["sdk", "-v"]).unwrap().version);
        assert!(Cli::try_parse_from(["sdk", "list", "--format", "json"]).is_ok());
    }

    /// The candidates for the last word of `line`.
    fn completed(line: &[&str]) -> Vec<String> {
        let args = line.iter().map(std::ffi::OsString::from).collect();
        let mut cmd = <Cli as clap::CommandFactory>::command();
        let found = clap_complete::engine::complete(&mut cmd, args, line.len() - 1, None).unwrap();
        found.into_iter().map(|c| c.get_value().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn base_and_arch_complete_their_values() {
        assert_eq!(completed(&["sdk", "info", "--base", "ubuntu@24.0"]), ["ubuntu@24.04"]);
        assert_eq!(completed(&["sdk", "info", "--arch", "s3"]), ["s390x"]);
        assert!(completed(&["sdk", "co"]).contains(&"completion".to_string()));
    }
}
