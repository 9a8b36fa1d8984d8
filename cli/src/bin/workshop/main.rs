//! `workshop`: the command-line client of workshopd.

mod cmd;
mod complete;
mod context;
mod help;
mod messages;
mod term;
mod timefmt;
mod wait;
mod warnstamp;

use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use clap_complete::Shell;
use workshop_api::workshops::WorkshopAction;
use workshop_client::Client;
use workshop_client::{style, table};

use crate::cmd::changes::{ChangesArgs, TasksArgs};
use crate::cmd::connect::{ConnectArgs, DisconnectArgs, RemountArgs};
use crate::cmd::connections::ConnectionsArgs;
use crate::cmd::exec::{ActionsArgs, ExecFlags, ShellArgs};
use crate::cmd::info::InfoArgs;
use crate::cmd::init::InitArgs;
use crate::cmd::lifecycle::{ForkArgs, ModeArgs, NamesArgs, RefreshArgs, RestoreArgs};
use crate::cmd::list::ListArgs;
use crate::cmd::warnings::WarningsArgs;
use crate::context::Ctx;

/// Declarative, container-isolated development environments.
#[derive(Debug, Parser)]
#[command(name = "workshop", disable_version_flag = true)]
struct Cli {
    /// Project directory (default: the current directory)
    #[arg(short = 'p', long = "project", global = true, value_name = "DIR")]
    project: Option<PathBuf>,
    /// Print the version and exit
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new workshop definition in the project directory
    Init(InitArgs),
    /// Construct one or many workshops using their definitions
    Launch(ModeArgs),
    /// Update workshops according to their definitions
    Refresh(RefreshArgs),
    /// Rebuild workshops from their last launch or refresh
    Restore(RestoreArgs),
    /// Copy a workshop under a new name, as it is now (copy-on-write)
    Fork(ForkArgs),
    /// Start stopped workshops
    Start(NamesArgs),
    /// Stop running workshops
    Stop(NamesArgs),
    /// Remove workshops and their data
    Remove(NamesArgs),
    /// List the workshops of the project
    List(ListArgs),
    /// Edit a workshop's sketch SDK and refresh the workshop with it
    SketchSdk(cmd::sketch::SketchArgs),
    /// List the sketch SDKs of the project's workshops
    Sketches(cmd::sketch::SketchesArgs),
    /// Print the current status and details of a workshop
    Info(InfoArgs),
    /// Run an ad-hoc shell command in a workshop
    Exec(ExecFlags),
    /// Start an interactive terminal session for the workshop
    Shell(ShellArgs),
    /// Run a named action from the workshop definition
    Run(ExecFlags),
    /// List the named actions defined in a workshop
    Actions(ActionsArgs),
    /// List the changes of the project
    Changes(ChangesArgs),
    /// List the interface connections of the project's workshops
    Connections(ConnectionsArgs),
    /// Connect a plug to a slot
    Connect(ConnectArgs),
    /// Disconnect a plug from a slot
    Disconnect(DisconnectArgs),
    /// Mount another host directory for a plug
    Remount(RemountArgs),
    /// List tasks for a specific change
    Tasks(TasksArgs),
    /// List warnings
    Warnings(WarningsArgs),
    /// Acknowledge warnings
    Okay,
    /// Check that this machine can run workshops, and say how to fix what it cannot
    Doctor(cmd::doctor::DoctorArgs),
    /// Show what workshops, templates, caches and SDK trees use on disk
    Du(cmd::space::DuArgs),
    /// Remove what no workshop uses: templates, caches of removed workshops, unused SDK trees (root)
    Prune(cmd::space::PruneArgs),
    /// Show the versions of the client and the daemon
    Version(cmd::version::VersionArgs),
    /// Generate a shell completion script (it asks workshop for names as you type)
    Completion {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Write the manual pages (workshop.1 and one per command) into DIR (`make install`)
    #[command(hide = true)]
    GenerateManpages { dir: PathBuf },
}

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

/// A remote command's exit status, passed on as ours.
#[derive(Debug)]
pub struct ExitStatus(pub i32);

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for ExitStatus {}

/// The new-warnings banner for the latest response of `client`, if one is due.
pub fn warnstamp_banner(client: &Client) -> Option<String> {
    let last = warnstamp::path().and_then(|p| warnstamp::read(&p).ok().flatten());
    warnstamp::banner(client.warnings_summary(), last)
}

fn dispatch(ctx: &Ctx, command: Command, raw: &[String]) -> anyhow::Result<()> {
    match command {
        Command::Init(args) => cmd::init::run(ctx, &args),
        Command::Launch(args) => cmd::lifecycle::launch(ctx, &args),
        Command::Refresh(args) => cmd::lifecycle::refresh(ctx, &args),
        Command::Restore(args) => cmd::lifecycle::restore(ctx, &args),
        Command::Fork(args) => cmd::lifecycle::fork(ctx, &args),
        Command::Start(args) => cmd::lifecycle::simple(ctx, WorkshopAction::Start, &args),
        Command::Stop(args) => cmd::lifecycle::simple(ctx, WorkshopAction::Stop, &args),
        Command::Remove(args) => cmd::lifecycle::simple(ctx, WorkshopAction::Remove, &args),
        Command::List(args) => cmd::list::run(ctx, &args),
        Command::SketchSdk(args) => cmd::sketch::sketch_sdk(ctx, &args),
        Command::Sketches(args) => cmd::sketch::sketches(ctx, &args),
        Command::Info(args) => cmd::info::run(ctx, &args),
        Command::Exec(flags) => cmd::exec::exec(ctx, &flags, false, raw),
        Command::Shell(args) => cmd::exec::shell(ctx, &args),
        Command::Run(flags) => cmd::exec::exec(ctx, &flags, true, raw),
        Command::Actions(args) => cmd::exec::actions(ctx, &args),
        Command::Changes(args) => cmd::changes::changes(ctx, &args),
        Command::Connections(args) => cmd::connections::run(ctx, &args),
        Command::Connect(args) => cmd::connect::connect(ctx, &args),
        Command::Disconnect(args) => cmd::connect::disconnect(ctx, &args),
        Command::Remount(args) => cmd::connect::remount(ctx, &args),
        Command::Tasks(args) => cmd::changes::tasks(ctx, &args),
        Command::Warnings(args) => cmd::warnings::warnings(ctx, &args),
        Command::Okay => cmd::warnings::okay(ctx),
        Command::Doctor(args) => cmd::doctor::run(ctx, &args),
        Command::Du(args) => cmd::space::du(ctx, &args),
        Command::Prune(args) => cmd::space::prune(ctx, &args),
        Command::Version(args) => cmd::version::run(ctx, &args),
        Command::Completion { shell } => {
            let shell = match shell {
                CompletionShell::Bash => Shell::Bash,
                CompletionShell::Zsh => Shell::Zsh,
                CompletionShell::Fish => Shell::Fish,
                CompletionShell::Powershell => Shell::PowerShell,
            };
            Ok(complete::write_script(shell, &mut std::io::stdout())
                .inspect_err(workshop_client::output::exit_if_broken_pipe)?)
        }
        Command::GenerateManpages { dir } => Ok(clap_mangen::generate_to(Cli::command(), dir)?),
    }
}

/// Prints a command-line error the way the reference does and exits.
fn usage_error(e: clap::Error) -> ! {
    if !e.use_stderr() {
        let _ = e.print();
        std::process::exit(0);
    }
    if e.kind() == ErrorKind::InvalidSubcommand
        && let Some(ContextValue::String(name)) = e.get(ContextKind::InvalidSubcommand)
    {
        let suggestions = match e.get(ContextKind::SuggestedSubcommand) {
            Some(ContextValue::Strings(suggestions)) => suggestions.clone(),
            _ => Vec::new(),
        };
        eprintln!("error: {}", messages::unknown_command(name, &suggestions));
        std::process::exit(1);
    }
    // An option the command does not have, in cobra's words (the reference's).
    if e.kind() == ErrorKind::UnknownArgument
        && let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg)
        && let Some(text) = unknown_flag(arg)
    {
        eprintln!("error: {text}");
        std::process::exit(1);
    }
    let _ = e.print();
    std::process::exit(1);
}

/// cobra's refusal of an option it does not know; `None` for what is no option.
fn unknown_flag(arg: &str) -> Option<String> {
    if let Some(long) = arg.strip_prefix("--").filter(|l| !l.is_empty()) {
        return Some(format!("unknown flag: --{}", long.split('=').next().unwrap_or(long)));
    }
    let short = arg.strip_prefix('-')?.chars().next().filter(|c| *c != '-')?;
    Some(format!("unknown shorthand flag: '{short}' in {arg}"))
}

fn main() {
    complete::answer_if_asked();
    let raw: Vec<String> = std::env::args().collect();
    let cli = help::grouped(Cli::command())
        .try_get_matches_from(&raw)
        .and_then(|matches| Cli::from_arg_matches(&matches))
        .unwrap_or_else(|e| usage_error(e));
    if cli.version {
        workshop_client::outln!("{}", workshop_api::VERSION);
        return;
    }
    let Some(command) = cli.command else {
        let _ = help::grouped(Cli::command()).print_help();
        return;
    };
    let ctx = Ctx { client: Client::default(), project_flag: cli.project };
    let result = dispatch(&ctx, command, &raw);
    // After a command that went through only, as the reference's (cobra's post-run).
    let banner = if result.is_ok() { warnstamp_banner(&ctx.client) } else { None };
    let code = match result {
        Ok(()) => 0,
        Err(e) => match e.downcast_ref::<ExitStatus>() {
            Some(status) => status.0,
            None => {
                eprintln!("error: {e:#}");
                1
            }
        },
    };
    if let Some(banner) = banner {
        eprintln!("{banner}");
    }
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(args)
    }

    #[test]
    fn unknown_flags_in_cobras_words() {
        assert_eq!(unknown_flag("--bogus").as_deref(), Some("unknown flag: --bogus"));
        assert_eq!(unknown_flag("--bogus=1").as_deref(), Some("unknown flag: --bogus"));
        assert_eq!(unknown_flag("-x").as_deref(), Some("unknown shorthand flag: 'x' in -x"));
        assert_eq!(unknown_flag("-xy").as_deref(), Some("unknown shorthand flag: 'x' in -xy"));
        for not_a_flag in ["extra", "-", "--"] {
            assert_eq!(unknown_flag(not_a_flag), None, "{not_a_flag}");
        }
        let e = parse(&["workshop", "list", "--bogus"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownArgument);
        assert!(matches!(e.get(ContextKind::InvalidArg), Some(ContextValue::String(a)) if a == "--bogus"));
    }

    #[test]
    fn refresh_plan_takes_a_format_and_no_mode() {
        let cli = parse(&["workshop", "refresh", "--plan", "--format", "yaml", "a", "b"]).unwrap();
        let Some(Command::Refresh(args)) = cli.command else { panic!("not refresh") };
        assert!(args.plan);
        assert_eq!(args.format, crate::cmd::Format::Yaml);
        assert_eq!(args.mode.names, ["a", "b"]);
        for refused in [
            &["workshop", "refresh", "--format", "json"][..],
            &["workshop", "refresh", "--plan", "--abort"],
            &["workshop", "refresh", "--plan", "--no-wait"],
            &["workshop", "launch", "--plan"],
        ] {
            assert!(parse(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn project_flag_before_or_after_the_command() {
        let before = parse(&["workshop", "--project", "p", "list"]).unwrap();
        assert_eq!(before.project, Some(PathBuf::from("p")));
        let after = parse(&["workshop", "list", "-p", "p", "--no-headers"]).unwrap();
        assert_eq!(after.project, Some(PathBuf::from("p")));
    }

    #[test]
    fn exec_flags_stop_at_the_first_argument() {
        let cli =
            parse(&["workshop", "exec", "--env", "A=1", "-w", "/tmp", "ws", "cmd", "-w", "-p", "x"]).unwrap();
        let Some(Command::Exec(flags)) = cli.command else { panic!("not exec") };
        assert_eq!(flags.cwd, "/tmp");
        assert_eq!(flags.env, ["A=1"]);
        assert_eq!(flags.args, ["ws", "cmd", "-w", "-p", "x"]);
        assert_eq!(cli.project, None);
    }

    #[test]
    fn exec_timeout_is_a_go_duration() {
        let cli = parse(&["workshop", "exec", "--timeout", "1m30s", "--", "sleep", "5"]).unwrap();
        let Some(Command::Exec(flags)) = cli.command else { panic!("not exec") };
        assert_eq!(flags.timeout, Some(std::time::Duration::from_secs(90)));
        assert!(parse(&["workshop", "exec", "--timeout", "5", "--", "true"]).is_err());
    }

    #[test]
    fn launch_modes_parse_and_are_refused_together_later() {
        // Two modes are refused in the reference's words when the command runs
        // (cmd::lifecycle's tests), not by the parser.
        assert!(parse(&["workshop", "launch", "--abort", "--continue"]).is_ok());
        assert!(parse(&["workshop", "refresh", "--wait-on-error", "ws"]).is_ok());
    }

    #[test]
    fn init_sdks_are_comma_separated() {
        let cli = parse(&["workshop", "init", "dev", "--sdks", "ollama/cpu/stable,jupyter"]).unwrap();
        let Some(Command::Init(args)) = cli.command else { panic!("not init") };
        assert_eq!(args.sdks, ["ollama/cpu/stable", "jupyter"]);
        assert_eq!(args.base, "ubuntu@24.04");
    }

    #[test]
    fn version_flag() {
        assert!(parse(&["workshop", "-v"]).unwrap().version);
    }

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
