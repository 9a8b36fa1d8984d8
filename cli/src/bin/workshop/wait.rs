//! Waiting for a change: progress on the terminal, verbose task logs, Ctrl-C handling.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::{Duration, Instant};

use workshop_api::ChangeInfo;
use workshop_client::{Client, ClientError};

use crate::style::Style;
use crate::term::{self, Signals};

/// How long the daemon may be unreachable before waiting gives up.
const MAX_GONE: Duration = Duration::from_secs(5);
/// Pause between polls of the change.
const POLL: Duration = Duration::from_millis(100);
/// Long-poll timeout used between progress updates.
const LONG_POLL: Duration = Duration::from_millis(250);

/// Printed when Ctrl-C hits a change that must not be aborted.
pub const CANNOT_INTERRUPT: &str =
    "cannot interrupt: it may break the workshop, please wait until the operation is finished";

/// Shown while the daemon does not answer during a wait.
pub const SERVER_RESTARTING: &str = "Waiting for server to restart";

/// How a waited-for change ended.
#[derive(Debug)]
pub enum Outcome {
    /// Finished successfully.
    Done,
    /// Undone without error (an explicit abort).
    Undone(ChangeInfo),
    /// A task is waiting on error (`--wait-on-error`).
    Paused(ChangeInfo),
    /// Finished with an error; the text is the change's error.
    Failed(ChangeInfo, String),
}

/// Options of one wait.
#[derive(Debug, Clone, Copy, Default)]
pub struct WaitOptions {
    /// Stream task logs and mark finished tasks.
    pub verbose: bool,
    /// Ctrl-C must not abort the change (start, stop, remove).
    pub skip_abort: bool,
}

/// Waits for change `id` to be ready (or paused).
pub fn wait(client: &Client, id: &str, opts: WaitOptions) -> Result<Outcome, ClientError> {
    let signals = Signals::catch(&[libc::SIGINT]).ok();
    let mut interrupted = false;
    let mut progress = Progress::new(Style::detect(term::is_tty(2)), term::is_tty(2));
    let mut logs = LogFollower::default();
    let mut long_poll = true;
    let mut gone_since: Option<Instant> = None;
    let result = loop {
        if !interrupted && signals.as_ref().and_then(|s| s.next(Some(Duration::ZERO))).is_some() {
            interrupted = true;
            progress.clear();
            if opts.skip_abort {
                workshop_client::outln!("{CANNOT_INTERRUPT}");
            } else if let Err(e) = client.abort_change(id) {
                eprintln!("{e}");
            }
        }
        let chg = match client.change(id, opts.verbose) {
            Ok(chg) => {
                gone_since = None;
                chg
            }
            Err(e) if e.is_communication() => {
                let since = *gone_since.get_or_insert_with(Instant::now);
                if since.elapsed() > MAX_GONE {
                    break Err(e);
                }
                progress.spin(SERVER_RESTARTING);
                std::thread::sleep(POLL);
                continue;
            }
            Err(e) => break Err(e),
        };
        if chg.tasks.iter().any(|t| t.status == "Wait") {
            break Ok(Outcome::Paused(chg));
        }
        if opts.verbose {
            for line in logs.new_lines(&chg, &progress.style) {
                progress.notify(&line);
            }
        }
        if let Some(t) = chg.tasks.iter().find(|t| t.status == "Doing" || t.status == "Undoing") {
            let mut text = if opts.verbose {
                format!("{}{}", finished_count(&chg), t.summary)
            } else {
                t.summary.clone()
            };
            if t.progress.total > 1 {
                text.push_str(&format!(" {}%", t.progress.done * 100 / t.progress.total));
            }
            progress.spin(&text);
        }
        if chg.ready {
            break Ok(finish(chg));
        }
        if long_poll {
            match client.wait_change(id, Some(LONG_POLL)) {
                Ok(_) => {}
                Err(ClientError::Api(e)) if e.status_code == 504 => {}
                Err(e) if e.is_communication() => {}
                Err(_) => long_poll = false,
            }
        } else {
            std::thread::sleep(POLL);
        }
    };
    progress.clear();
    result
}

fn finish(chg: ChangeInfo) -> Outcome {
    if let Some(err) = chg.err.clone().filter(|e| !e.is_empty()) {
        return Outcome::Failed(chg, err);
    }
    match chg.status.as_str() {
        "Done" => Outcome::Done,
        "Undone" => Outcome::Undone(chg),
        other => {
            let err = format!("change finished in status {other:?} with no error message");
            Outcome::Failed(chg, err)
        }
    }
}

/// `(done/total) ` for the verbose spinner; counts down while undoing.
pub fn finished_count(chg: &ChangeInfo) -> String {
    let done = match chg.status.as_str() {
        "Doing" => chg.tasks.iter().filter(|t| t.status == "Done").count(),
        "Undoing" => chg.tasks.iter().filter(|t| t.status == "Undo" || t.status == "Undoing").count(),
        _ => 0,
    };
    format!("({done}/{}) ", chg.tasks.len())
}

/// Remembers which task log lines were shown.
#[derive(Debug, Default)]
pub struct LogFollower {
    seen: HashMap<String, usize>,
    summarised: HashSet<String>,
}

impl LogFollower {
    /// Lines not shown yet, in task ready order; a `✓ summary` line marks each finished task.
    pub fn new_lines(&mut self, chg: &ChangeInfo, style: &Style) -> Vec<String> {
        let mut tasks: Vec<_> = chg.tasks.iter().collect();
        tasks.sort_by_key(|t| (t.ready_time.is_none(), t.ready_time));
        let mut out = Vec::new();
        for t in tasks {
            if !matches!(t.status.as_str(), "Doing" | "Done" | "Error") {
                continue;
            }
            let seen = self.seen.entry(t.id.clone()).or_default();
            if *seen < t.log.len() {
                out.extend(t.log[*seen..].iter().cloned());
                *seen = t.log.len();
            }
            if t.status == "Done" && self.summarised.insert(t.id.clone()) {
                out.push(format!("{} {}", style.tick(), t.summary));
            }
        }
        out
    }
}

/// A one-line spinner on standard error (only when it is a terminal).
struct Progress {
    style: Style,
    enabled: bool,
    frame: usize,
    shown: bool,
}

impl Progress {
    fn new(style: Style, enabled: bool) -> Self {
        Self { style, enabled, frame: 0, shown: false }
    }

    fn spin(&mut self, text: &str) {
        if !self.enabled {
            return;
        }
        let frames = self.style.spinner();
        let glyph = frames[self.frame % frames.len()];
        self.frame += 1;
        let width = term::window_size(2).map_or(80, |(w, _)| usize::from(w));
        let text = shorten(text, width.saturating_sub(3), self.style.ellipsis());
        eprint!("\r\x1b[2K{glyph} {text}");
        let _ = std::io::stderr().flush();
        self.shown = true;
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            self.shown = false;
        }
    }

    fn notify(&mut self, line: &str) {
        self.clear();
        workshop_client::outln!("{line}");
    }
}

/// `text` cut to `max` characters, ending in `ellipsis` when cut.
fn shorten(text: &str, max: usize, ellipsis: &str) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(ellipsis.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(ellipsis);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn change(status: &str, tasks: serde_json::Value) -> ChangeInfo {
        serde_json::from_value(json!({
            "id": "1", "kind": "launch", "summary": "s", "status": status, "ready": false,
            "spawn-time": "2024-05-01T10:00:00Z", "tasks": tasks,
        }))
        .unwrap()
    }

    fn task(id: &str, status: &str, log: &[&str], ready: Option<&str>) -> serde_json::Value {
        json!({"id": id, "kind": "k", "summary": format!("task {id}"), "status": status,
               "spawn-time": "2024-05-01T10:00:00Z", "ready-time": ready, "log": log})
    }

    #[test]
    fn verbose_logs_are_shown_once_with_ticks() {
        let plain = Style { color: false, unicode: true };
        let mut f = LogFollower::default();
        let c1 = change("Doing", json!([task("1", "Doing", &["a"], None), task("2", "Do", &[], None)]));
        assert_eq!(f.new_lines(&c1, &plain), vec!["a"]);
        let c2 = change(
            "Doing",
            json!([
                task("1", "Done", &["a", "b"], Some("2024-05-01T10:00:05Z")),
                task("2", "Doing", &["c"], None)
            ]),
        );
        assert_eq!(f.new_lines(&c2, &plain), vec!["b", "✓ task 1", "c"]);
        assert!(f.new_lines(&c2, &plain).is_empty());
    }

    #[test]
    fn finished_counts() {
        let c = change("Doing", json!([task("1", "Done", &[], None), task("2", "Doing", &[], None)]));
        assert_eq!(finished_count(&c), "(1/2) ");
        let c = change("Undoing", json!([task("1", "Undoing", &[], None), task("2", "Undone", &[], None)]));
        assert_eq!(finished_count(&c), "(1/2) ");
    }

    #[test]
    fn outcome_of_ready_changes() {
        let mut c = change("Done", json!([]));
        c.ready = true;
        assert!(matches!(finish(c.clone()), Outcome::Done));
        c.status = "Undone".into();
        assert!(matches!(finish(c.clone()), Outcome::Undone(_)));
        c.err = Some("cannot perform the following tasks:\n- x (y)".into());
        assert!(matches!(finish(c.clone()), Outcome::Failed(_, e) if e.starts_with("cannot perform")));
        c.err = None;
        c.status = "Hold".into();
        assert!(
            matches!(finish(c), Outcome::Failed(_, e) if e == "change finished in status \"Hold\" with no error message")
        );
    }

    #[test]
    fn long_text_is_shortened() {
        assert_eq!(shorten("abcdef", 4, "…"), "abc…");
        assert_eq!(shorten("abc", 4, "…"), "abc");
    }
}
