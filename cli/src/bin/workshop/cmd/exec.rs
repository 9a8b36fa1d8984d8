//! `workshop exec`, `shell`, `run` and `actions`.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use workshop_api::exec::{ExecControl, ExecRequest, user_switch};
use workshop_client::exec::{self, ExitCodeError, Outgoing};

use crate::cmd::ListFormat;
use crate::context::{Ctx, InferError, infer_name};
use crate::table::Table;
use crate::term::{self, RawMode, Signals};
use crate::{ExitStatus, warnstamp_banner};

/// The workshop user's uid and gid.
const WORKSHOP_ID: u32 = 1000;
/// How long output may keep arriving after the command finished.
const OUTPUT_GRACE: Duration = Duration::from_secs(3);

/// Flags of `exec` and `run`.
#[derive(Debug, Args)]
pub struct ExecFlags {
    /// Set the working directory in the workshop
    #[arg(short = 'w', long = "cwd", default_value = "/project")]
    pub cwd: String,
    /// Set an environment variable, e.g. 'FOO=bar'; if only the name is provided, the value is
    /// inherited from the CLI environment
    #[arg(long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Run as a specific workshop user
    #[arg(long, default_value_t = WORKSHOP_ID)]
    pub uid: u32,
    /// Run as a member of a specific workshop group
    #[arg(long, default_value_t = WORKSHOP_ID)]
    pub gid: u32,
    /// Set a timeout; valid units are ns, us or µs, ms, s, m, h
    #[arg(long, value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    /// Force interactive mode
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Force non-interactive mode
    #[arg(short = 'I', long)]
    pub non_interactive: bool,
    /// [WORKSHOP] [--] COMMAND... (flags must come first)
    #[arg(value_name = "ARGS", required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

fn parse_timeout(text: &str) -> Result<Duration, workshop_api::duration::DurationError> {
    workshop_api::duration::parse(text)
}

/// Arguments of `shell`.
#[derive(Debug, Args)]
pub struct ShellArgs {
    /// The workshop (default: the project's only workshop)
    #[arg(value_name = "WORKSHOP")]
    pub name: Option<String>,
}

/// Arguments of `actions`.
#[derive(Debug, Args)]
pub struct ActionsArgs {
    /// The workshop (default: the project's only workshop)
    #[arg(value_name = "WORKSHOP")]
    pub name: Option<String>,
    /// Output format (the reference's YAML map by default)
    #[arg(long, value_enum, default_value_t = ListFormat::Yaml)]
    pub format: ListFormat,
    /// Hide table headers
    #[arg(long)]
    pub no_headers: bool,
}

/// The positional arguments of `exec`/`run` and where the `--` separator was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecArgv {
    pub av: Vec<String>,
    /// Number of arguments before `--`: 0 (`exec -- cmd`), 1 (`exec ws -- cmd`), or none.
    pub dash: Option<usize>,
}

impl ExecArgv {
    /// From the positional arguments as clap returns them (a leading `--` is consumed, a `--`
    /// after the first argument is kept) and the raw command line.
    pub fn new(args: Vec<String>, raw: &[String]) -> Self {
        let leading_dash =
            raw.len() > args.len() && raw.ends_with(&args) && raw[raw.len() - args.len() - 1] == "--";
        if leading_dash {
            return Self { av: args, dash: Some(0) };
        }
        if args.len() > 1 && args[1] == "--" {
            let mut av = args;
            av.remove(1);
            return Self { av, dash: Some(1) };
        }
        Self { av: args, dash: None }
    }
}

fn subject(action: bool) -> (&'static str, &'static str) {
    if action { ("run", "action") } else { ("exec", "command") }
}

/// Quotes `word` for a POSIX shell when needed.
fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\"'\"'"))
    }
}

/// Splits the arguments into workshop and command. `names` gives the project's workshops and is
/// only asked for when the workshop is not named before a `--`.
pub fn split_exec_args(
    args: &ExecArgv,
    interactive: bool,
    action: bool,
    names: impl FnOnce() -> anyhow::Result<Vec<String>>,
    project_path: &str,
) -> anyhow::Result<(String, Vec<String>)> {
    let (verb, what) = subject(action);
    // An option the command does not have, before the workshop or command (cobra's words).
    if args.dash != Some(0)
        && let Some(first) = args.av.first().filter(|a| a.len() > 1 && a.starts_with('-'))
    {
        match first.strip_prefix("--") {
            Some(_) => bail!("unknown flag: {}", first.split('=').next().unwrap_or(first)),
            None => bail!("unknown shorthand flag: {:?} in {first}", first.chars().nth(1).unwrap_or('-')),
        }
    }
    let split = |av: &[String]| -> anyhow::Result<(String, Vec<String>)> {
        if av.len() > 1 {
            return Ok((av[0].clone(), av[1..].to_vec()));
        }
        bail!("cannot {verb} {what} in {:?}: must specify {what}", av[0])
    };
    if args.dash == Some(1) {
        return split(&args.av);
    }
    let inferred: Result<String, InferError> = infer_name(names()?, project_path);
    if args.dash == Some(0) {
        return Ok((inferred?, args.av.clone()));
    }
    match inferred {
        Ok(single) if single != args.av[0] => {
            if interactive {
                return Ok((single, args.av.clone()));
            }
            let suggest = ["workshop", verb, "--", &args.av[0]].map(shell_quote).join(" ");
            bail!(crate::messages::unclear(&args.av[0], what, &suggest))
        }
        Ok(_) => split(&args.av),
        Err(e) if e.names.contains(&args.av[0]) => split(&args.av),
        Err(e) => Err(e.into()),
    }
}

/// The login-shell wrapper put in front of ad-hoc commands (not actions).
fn command_prefix(uid: u32, gid: u32, env: &BTreeMap<String, String>, interactive: bool) -> Vec<String> {
    let mut prefix: Vec<String> = user_switch(interactive).iter().map(|w| w.to_string()).collect();
    prefix.extend(["-u".into(), format!("#{uid}"), "-g".into(), format!("#{gid}")]);
    prefix.extend(env.keys().map(|k| format!("--preserve-env={k}")));
    prefix.extend(["--", "bash", "-l", "-c", "exec -- \"$0\" \"$@\""].map(String::from));
    prefix
}

/// The environment sent with the command: `TERM`, the user's runtime dir and bus, and `--env`.
fn environment(
    uid: u32,
    flags: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if let Some(term) = lookup("TERM") {
        env.insert("TERM".to_string(), term);
    }
    let runtime = format!("/run/user/{uid}");
    env.insert("DBUS_SESSION_BUS_ADDRESS".to_string(), format!("unix:path={runtime}/bus"));
    env.insert("XDG_RUNTIME_DIR".to_string(), runtime);
    for kv in flags {
        match kv.split_once('=') {
            Some((k, v)) => {
                env.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Some(v) = lookup(kv) {
                    env.insert(kv.clone(), v);
                }
            }
        }
    }
    env
}

/// `workshop exec` and `workshop run`.
pub fn exec(ctx: &Ctx, flags: &ExecFlags, action: bool, raw: &[String]) -> anyhow::Result<()> {
    let args = ExecArgv::new(flags.args.clone(), raw);
    run_session(ctx, flags, action, args)
}

/// `workshop shell`: a login shell as the workshop user in `/project`.
pub fn shell(ctx: &Ctx, args: &ShellArgs) -> anyhow::Result<()> {
    let flags = ExecFlags {
        cwd: "/project".into(),
        env: Vec::new(),
        uid: WORKSHOP_ID,
        gid: WORKSHOP_ID,
        timeout: None,
        interactive: false,
        non_interactive: false,
        args: Vec::new(),
    };
    let mut av: Vec<String> = args.name.iter().cloned().collect();
    let dash = Some(av.len());
    av.push("bash".into());
    run_session(ctx, &flags, false, ExecArgv { av, dash })
}

fn run_session(ctx: &Ctx, flags: &ExecFlags, action: bool, args: ExecArgv) -> anyhow::Result<()> {
    if flags.interactive && flags.non_interactive {
        bail!(crate::messages::EXEC_BOTH_MODES);
    }
    let project = ctx.project()?;
    let stdin_tty = term::is_tty(0);
    let stdout_tty = term::is_tty(1);
    let interactive = flags.interactive || (!flags.non_interactive && stdin_tty && stdout_tty);
    // A workshop named first is looked for among those that can be read (a stray definition
    // file of the project is the daemon's warning, and an action's install says it); one
    // inferred needs every file read.
    let state = if args.dash == Some(0) { "all" } else { "available" };
    let names = || Ok(ctx.workshop_names_in(&project, state)?);
    let (workshop, command) = split_exec_args(&args, interactive, action, names, &project.path)?;

    let env = environment(flags.uid, &flags.env, |k| std::env::var(k).ok());
    let (width, height) = if stdout_tty { term::window_size(1).unwrap_or((0, 0)) } else { (0, 0) };
    let request = ExecRequest {
        command,
        command_prefix: if action {
            Vec::new()
        } else {
            command_prefix(flags.uid, flags.gid, &env, interactive)
        },
        action,
        environment: env,
        working_dir: flags.cwd.clone(),
        timeout: flags.timeout.map(workshop_api::duration::format).unwrap_or_default(),
        user_id: Some(flags.uid),
        group_id: Some(flags.gid),
        interactive,
        width,
        height,
    };
    let (change, task) = ctx.client.exec(&project.id, &workshop, &request)?;

    let raw_mode = if interactive && stdin_tty {
        Some(RawMode::enable(0).context("cannot switch terminal to raw mode")?)
    } else {
        None
    };
    let raw_mode = Arc::new(Mutex::new(raw_mode));
    // Caught before any output can reach the caller: one who saw the command's first line
    // and signals us at once has the signal forwarded, once the streams are open.
    let signals = Signals::catch(&FORWARDED).context("cannot catch signals")?;
    let streams = ctx.client.open_exec_streams(
        &task,
        interactive,
        Box::new(std::io::stdout()),
        Box::new(std::io::stderr()),
    );
    let streams = match streams {
        Ok(streams) => streams,
        Err(e) => {
            restore_terminal(&raw_mode);
            return Err(e.into());
        }
    };
    forward_signals(signals, &streams.control, interactive, Arc::clone(&raw_mode), ctx)?;
    copy_stdin(streams.stdio.sender());

    let waited = ctx.client.wait_change(&change, flags.timeout.map(|t| t + Duration::from_secs(1)));
    if HANGUP.load(Ordering::SeqCst) {
        // The remote command may have died of the forwarded SIGHUP; whatever its status, the
        // signal thread ends the process with 0.
        loop {
            std::thread::park();
        }
    }
    streams.wait_output(OUTPUT_GRACE);
    restore_terminal(&raw_mode);
    match exec::exit_code(&waited?) {
        Ok(0) => Ok(()),
        Ok(code) => Err(ExitStatus(code).into()),
        Err(ExitCodeError::ChangeFailed(err)) => bail!(err),
        Err(e) => Err(e.into()),
    }
}

fn restore_terminal(raw_mode: &Mutex<Option<RawMode>>) {
    if let Ok(mut guard) = raw_mode.lock()
        && let Some(raw) = guard.as_mut()
    {
        raw.restore();
    }
}

/// Copies standard input to the `stdio` stream, then signals its end.
fn copy_stdin(tx: std::sync::mpsc::Sender<Outgoing>) {
    let spawned = std::thread::Builder::new().name("stdin".into()).spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.send(Outgoing::Data(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(Outgoing::Eof);
    });
    drop(spawned);
}

/// How long a SIGHUP waits for the forwarded signal to be written to the daemon.
const HANGUP_FLUSH: Duration = Duration::from_secs(2);

/// Set once SIGHUP arrived: the signal thread then owns the exit.
static HANGUP: AtomicBool = AtomicBool::new(false);

/// Signals forwarded to the remote command; SIGWINCH becomes a resize, SIGHUP also ends us.
const FORWARDED: [libc::c_int; 13] = [
    libc::SIGWINCH,
    libc::SIGHUP,
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGABRT,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGSEGV,
    libc::SIGCONT,
];

fn forward_signals(
    signals: Signals,
    control: &exec::Pump,
    interactive: bool,
    raw_mode: Arc<Mutex<Option<RawMode>>>,
    ctx: &Ctx,
) -> anyhow::Result<()> {
    let tx = control.sender();
    let banner = warnstamp_banner(&ctx.client);
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        while let Some(sig) = signals.next(None) {
            match sig {
                libc::SIGWINCH => {
                    if interactive && let Some((w, h)) = term::window_size(1) {
                        let _ = tx.send(Outgoing::Control(ExecControl::resize(w, h)));
                    }
                }
                libc::SIGHUP => {
                    HANGUP.store(true, Ordering::SeqCst);
                    // The signal reaches the daemon before we go (it relays in order).
                    let _ = tx.send(Outgoing::Control(ExecControl::signal(sig)));
                    let (flushed, written) = std::sync::mpsc::channel();
                    if tx.send(Outgoing::Flush(flushed)).is_ok() {
                        let _ = written.recv_timeout(HANGUP_FLUSH);
                    }
                    restore_terminal(&raw_mode);
                    eprint!("SIGHUP received, exiting\r\n");
                    if let Some(banner) = &banner {
                        eprintln!("{banner}");
                    }
                    std::process::exit(0);
                }
                sig => {
                    let _ = tx.send(Outgoing::Control(ExecControl::signal(sig)));
                }
            }
        }
    })?;
    Ok(())
}

/// `workshop actions`: the workshop's actions as a YAML map.
pub fn actions(ctx: &Ctx, args: &ActionsArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => ctx.single_workshop_name(&project)?,
    };
    let actions = ctx.client.actions(&project.id, &name)?;
    if actions.is_empty() && args.format == ListFormat::Yaml {
        return Ok(());
    }
    if let Some(data) = args.format.data(&actions)? {
        workshop_client::out!("{data}");
        return Ok(());
    }
    let mut table = Table::new(&["action", "command"]);
    for (action, info) in &actions {
        let script = &info.script;
        let first = script.lines().next().unwrap_or_default();
        let more = if script.trim_end().lines().count() > 1 { " …" } else { "" };
        table.row(vec![action.clone(), format!("{first}{more}")]);
    }
    if !actions.is_empty() {
        workshop_client::out!("{}", args.format.table(&table, args.no_headers, crate::cmd::bold_headers()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn separator_position() {
        let raw = v(&["workshop", "exec", "--", "echo", "-e", "x"]);
        assert_eq!(
            ExecArgv::new(v(&["echo", "-e", "x"]), &raw),
            ExecArgv { av: v(&["echo", "-e", "x"]), dash: Some(0) }
        );
        let raw = v(&["workshop", "exec", "ws", "--", "echo"]);
        assert_eq!(
            ExecArgv::new(v(&["ws", "--", "echo"]), &raw),
            ExecArgv { av: v(&["ws", "echo"]), dash: Some(1) }
        );
        let raw = v(&["workshop", "exec", "-w", "/tmp", "ws", "echo", "--"]);
        assert_eq!(
            ExecArgv::new(v(&["ws", "echo", "--"]), &raw),
            ExecArgv { av: v(&["ws", "echo", "--"]), dash: None }
        );
        let raw = v(&["workshop", "exec", "-i", "--", "--", "x"]);
        assert_eq!(ExecArgv::new(v(&["--", "x"]), &raw), ExecArgv { av: v(&["--", "x"]), dash: Some(0) });
    }

    fn split(
        av: &[&str],
        dash: Option<usize>,
        interactive: bool,
        names: &[&str],
    ) -> anyhow::Result<(String, Vec<String>)> {
        let names = v(names);
        split_exec_args(&ExecArgv { av: v(av), dash }, interactive, false, move || Ok(names), "/p")
    }

    #[test]
    fn workshop_and_command() {
        assert_eq!(
            split(&["ws", "echo", "foo"], Some(1), false, &[]).unwrap(),
            ("ws".into(), v(&["echo", "foo"]))
        );
        assert_eq!(
            split(&["echo", "foo"], Some(0), false, &["ws"]).unwrap(),
            ("ws".into(), v(&["echo", "foo"]))
        );
        assert_eq!(split(&["ws", "echo"], None, false, &["ws"]).unwrap(), ("ws".into(), v(&["echo"])));
        assert_eq!(split(&["echo", "foo"], None, true, &["ws"]).unwrap(), ("ws".into(), v(&["echo", "foo"])));
        assert_eq!(split(&["b", "true"], None, false, &["a", "b"]).unwrap(), ("b".into(), v(&["true"])));
        // An option before the operands is one the command does not have; after `--` it is
        // the command's.
        let err = |av: &[&str], dash| split(av, dash, false, &["ws"]).unwrap_err().to_string();
        assert_eq!(err(&["--bogus", "true"], Some(1)), "unknown flag: --bogus");
        assert_eq!(err(&["--bogus=1", "true"], None), "unknown flag: --bogus");
        assert_eq!(err(&["-x", "true"], None), "unknown shorthand flag: 'x' in -x");
        assert_eq!(split(&["-x"], Some(0), false, &["ws"]).unwrap(), ("ws".into(), v(&["-x"])));
    }

    #[test]
    fn ambiguous_or_missing_commands() {
        assert_eq!(
            split(&["echo", "foo"], None, false, &["ws"]).unwrap_err().to_string(),
            "unclear if \"echo\" names a workshop or command: try \"workshop exec -- echo\""
        );
        assert_eq!(
            split(&["it's"], None, false, &["ws"]).unwrap_err().to_string(),
            "unclear if \"it's\" names a workshop or command: try \"workshop exec -- 'it'\"'\"'s'\""
        );
        assert_eq!(
            split(&["ws"], None, false, &["ws"]).unwrap_err().to_string(),
            "cannot exec command in \"ws\": must specify command"
        );
        assert_eq!(
            split(&["true"], Some(0), false, &["a", "b"]).unwrap_err().to_string(),
            "cannot infer workshop name: multiple workshops found: \"a\", \"b\""
        );
        assert_eq!(
            split(&["c", "true"], None, true, &["a", "b"]).unwrap_err().to_string(),
            "cannot infer workshop name: multiple workshops found: \"a\", \"b\""
        );
        let names = v(&["ws"]);
        let err = split_exec_args(
            &ExecArgv { av: v(&["build"]), dash: None },
            false,
            true,
            move || Ok(names),
            "/p",
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            "unclear if \"build\" names a workshop or action: try \"workshop run -- build\""
        );
    }

    #[test]
    fn environment_and_prefix() {
        let lookup = |k: &str| match k {
            "TERM" => Some("xterm".to_string()),
            "HOME_DIR" => Some("/h".to_string()),
            _ => None,
        };
        let env = environment(1000, &v(&["Foo=bar", "HOME_DIR", "MISSING"]), lookup);
        assert_eq!(
            env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            v(&[
                "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus",
                "Foo=bar",
                "HOME_DIR=/h",
                "TERM=xterm",
                "XDG_RUNTIME_DIR=/run/user/1000"
            ])
        );
        let prefix = command_prefix(0, 0, &env, false);
        assert_eq!(&prefix[..5], &v(&[workshop_api::exec::GUEST_EXEC, "-u", "#0", "-g", "#0"])[..]);
        assert_eq!(command_prefix(0, 0, &env, true)[..2], [workshop_api::exec::GUEST_TTY, "sudo"]);
        assert!(prefix.contains(&"--preserve-env=Foo".to_string()));
        assert_eq!(&prefix[prefix.len() - 5..], &v(&["--", "bash", "-l", "-c", "exec -- \"$0\" \"$@\""])[..]);
    }
}
