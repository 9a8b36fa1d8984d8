//! `workshopctl`: the in-workshop tool hooks use to talk to workshopd (`set-health`).
//! Started as `workshop-tty`, it is the first process of terminal sessions ([`terminal`]).
//!
//! It is copied into every workshop, whatever its base, so it is built as a static binary
//! (`make release`) and stays small. Help, and mistakes in the arguments of `set-health`
//! (which anyone may run), are answered here with the daemon's own grammar
//! (`workshop_api::workshopctl`); every other command goes to the daemon (`POST
//! /v1/workshopctl` on the untrusted socket) with the hook's cookie, and the daemon, which
//! trusts nothing a workshop sends, checks it in the reference's order: who may run it (only
//! root, but for `set-health` and help), then its arguments.

use std::io::Write;
use std::process::ExitCode;

use workshop_api::ErrorKind;
use workshop_api::workshopctl::{self, Invocation, WorkshopctlRequest};
use workshop_client::{Client, ClientError, socket};

/// Overrides the socket path (tests).
const SOCKET_ENV: &str = "WORKSHOPCTL_SOCKET";
/// The hook's cookie, set by the daemon in every hook's environment.
const COOKIE_ENV: &str = "WORKSHOP_COOKIE";

mod terminal;

/// The name workshopctl has when it starts terminal sessions ([`terminal`]).
const TERMINAL_NAME: &str = "workshop-tty";

fn main() -> ExitCode {
    // Bytes that are not UTF-8 read as U+FFFD, as the reference's runes do.
    let mut argv = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    let name = argv.next().unwrap_or_default();
    let args: Vec<String> = argv.collect();
    if std::path::Path::new(&name).file_name().is_some_and(|n| n == TERMINAL_NAME) {
        return terminal::run(&args);
    }
    // Help, and mistakes in what anyone may run (`set-health`), need no daemon; any other
    // command is the daemon's to judge, in the reference's order: who may run it (root),
    // then its arguments.
    match workshopctl::parse(&args) {
        Ok(Invocation::Help(text)) => {
            print_streams(&text, "");
            return ExitCode::SUCCESS;
        }
        Err(e) if args.is_empty() || workshopctl::allowed_without_root(&args) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        _ => {}
    }
    let socket = std::env::var(SOCKET_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| socket::GUEST_UNTRUSTED_SOCKET.to_string());
    let client = Client::new(socket);
    let request = WorkshopctlRequest {
        context_id: std::env::var(COOKIE_ENV).unwrap_or_default(),
        args: workshopctl::fit_args(args),
        stdin: None,
    };
    match client.workshopctl(&request) {
        Ok(result) => {
            print_streams(&result.stdout, &result.stderr);
            ExitCode::SUCCESS
        }
        Err(e) => failure(&e),
    }
}

fn print_streams(stdout: &str, stderr: &str) {
    let _ = std::io::stdout().write_all(stdout.as_bytes());
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(stderr.as_bytes());
}

/// An `unsuccessful` error carries the command's output and exit code; anything else is printed.
fn failure(e: &ClientError) -> ExitCode {
    if let Some(api) = e.api().filter(|a| a.kind == Some(ErrorKind::Unsuccessful)) {
        let text = |key: &str| api.value.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        print_streams(&text("stdout"), &text("stderr"));
        if let Some(code) = api.value.get("exit-code").and_then(|c| c.as_i64()) {
            return ExitCode::from(u8::try_from(code).unwrap_or(1));
        }
    }
    eprintln!("error: {e}");
    ExitCode::FAILURE
}
