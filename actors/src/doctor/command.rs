//! Host commands the checks run (`iptables`, `ufw`): bounded in time and output.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Output kept of a command.
const OUTPUT_LIMIT: u64 = 1 << 20;

/// What a command said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program` with `args` (no shell), for at most `limit`: `None` when it is not
/// installed; an error when it could not run or did not finish in time (it is killed).
pub fn run_bounded(program: &str, args: &[&str], limit: Duration) -> Option<Result<Said, String>> {
    let mut child = match Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(Err(format!("cannot run {program}: {e}"))),
    };
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Some(Err(format!("cannot read the output of {program}")));
    };
    let read = |stream: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stream.take(OUTPUT_LIMIT).read_to_string(&mut text);
            text
        })
    };
    let (stdout, stderr) = (read(Box::new(out)), read(Box::new(err)));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Some(Err(format!("{program} did not finish within {} s", limit.as_secs())));
            }
            Err(e) => return Some(Err(format!("cannot wait for {program}: {e}"))),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Some(Ok(Said { success: status.success(), stdout, stderr }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_slow_and_finished_commands() {
        assert_eq!(run_bounded("/nonexistent/tool", &[], Duration::from_secs(1)), None);
        let said = run_bounded("sh", &["-c", "echo out; echo err >&2; exit 3"], Duration::from_secs(5))
            .unwrap()
            .unwrap();
        assert_eq!(said, Said { success: false, stdout: "out\n".into(), stderr: "err\n".into() });
        let started = Instant::now();
        let slow = run_bounded("sleep", &["30"], Duration::from_millis(200)).unwrap().unwrap_err();
        assert!(slow.contains("did not finish"), "{slow}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
