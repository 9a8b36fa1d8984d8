//! `workshopctl`: the in-workshop tool hooks use to talk to workshopd (`set-health`).
//!
//! It is copied into every workshop, so it stays small: no argument parser of its own. The
//! arguments go to the daemon as they are (`POST /v1/workshopctl` on the untrusted socket),
//! which parses them and answers the output to print.

use std::io::Write;
use std::process::ExitCode;

use workshop_api::ErrorKind;
use workshop_api::workshopctl::WorkshopctlRequest;
use workshop_client::{Client, ClientError, socket};

/// Overrides the socket path (tests).
const SOCKET_ENV: &str = "WORKSHOPCTL_SOCKET";

fn main() -> ExitCode {
    let socket = std::env::var(SOCKET_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| socket::GUEST_UNTRUSTED_SOCKET.to_string());
    let client = Client::new(socket);
    let request = WorkshopctlRequest {
        context_id: std::env::var("WORKSHOP_COOKIE").unwrap_or_default(),
        args: std::env::args().skip(1).collect(),
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
