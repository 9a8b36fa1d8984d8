//! Tasks: the unit of work the scheduler runs.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::cache::JsonCache;
use super::data::{self, DataBag};
use super::{ChangeId, LaneId, Status, TaskId};

/// How many log entries a task keeps.
pub const TASK_LOG_ENTRIES: usize = 10;
/// Bytes of a log message a task keeps (messages can carry a guest's output); the rest is
/// replaced by [`TRUNCATED`].
pub const TASK_LOG_MESSAGE_BYTES: usize = 8 << 10;
/// What ends a log message that was cut.
const TRUNCATED: &str = " [truncated]";

/// Level of a task log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Progress information.
    Info,
    /// An error; ERROR entries of failed tasks make up [`crate::state::State::change_err`].
    Error,
}

impl LogLevel {
    fn as_str(self) -> &'static str {
        match self {
            LogLevel::Info => "INFO",
            LogLevel::Error => "ERROR",
        }
    }
}

/// Progress of a running task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// What is being counted ("Downloading image").
    pub label: String,
    /// Units done.
    pub done: u64,
    /// Units in total (> 0).
    pub total: u64,
}

/// A task: a kind (handler name), a status, a data bag and its place in the change's DAG.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Task {
    /// Decimal id, unique in the state.
    pub id: TaskId,
    /// Handler name, e.g. "create-workshop".
    pub kind: String,
    /// User-visible summary.
    pub summary: String,
    pub(crate) status: Status,
    #[serde(default = "done_status", deserialize_with = "waited_status")]
    pub(crate) waited_status: Status,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) clean: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) progress: Option<Progress>,
    #[serde(default, skip_serializing_if = "DataBag::is_empty")]
    pub(crate) data: DataBag,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) wait_tasks: Vec<TaskId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) halt_tasks: Vec<TaskId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) lanes: Vec<LaneId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) log: Vec<String>,
    #[serde(default)]
    pub(crate) change: ChangeId,
    pub(crate) spawn_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ready_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Duration::is_zero", with = "go_nanos")]
    pub(crate) doing_time: Duration,
    #[serde(default, skip_serializing_if = "Duration::is_zero", with = "go_nanos")]
    pub(crate) undoing_time: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) at_time: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub(crate) json: JsonCache,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn done_status() -> Status {
    Status::Done
}

/// Older states carry no waited status; it defaults to Done (as in the reference).
fn waited_status<'de, D: Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
    let status = Status::deserialize(d)?;
    Ok(if status == Status::Default { Status::Done } else { status })
}

/// Go `time.Duration` in JSON: integer nanoseconds.
mod go_nanos {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let nanos = i64::deserialize(d)?;
        Ok(Duration::from_nanos(nanos.max(0).unsigned_abs()))
    }
}

impl Task {
    pub(crate) fn new(id: TaskId, kind: &str, summary: &str, now: DateTime<Utc>) -> Task {
        Task {
            id,
            kind: kind.to_owned(),
            summary: summary.to_owned(),
            status: Status::Default,
            waited_status: Status::Done,
            clean: false,
            progress: None,
            data: DataBag::new(),
            wait_tasks: Vec::new(),
            halt_tasks: Vec::new(),
            lanes: Vec::new(),
            log: Vec::new(),
            change: ChangeId::new(),
            spawn_time: now,
            ready_time: None,
            doing_time: Duration::ZERO,
            undoing_time: Duration::ZERO,
            at_time: None,
            json: JsonCache::default(),
        }
    }

    /// The current status; an unset status reads as `Do`.
    pub fn status(&self) -> Status {
        match self.status {
            Status::Default => Status::Do,
            s => s,
        }
    }

    /// The status the task returns to when a `Wait` is resolved.
    pub fn waited_status(&self) -> Status {
        self.waited_status
    }

    /// The status relevant for aborting: the waited status while in `Wait`.
    pub(crate) fn effective_status(&self) -> Status {
        match self.status() {
            Status::Wait => self.waited_status,
            s => s,
        }
    }

    /// Whether its cleanup ran (or it needs none).
    pub fn is_clean(&self) -> bool {
        self.clean
    }

    /// The change it belongs to ("" before it is added to one).
    pub fn change(&self) -> &ChangeId {
        &self.change
    }

    /// Tasks that must be Done before this one runs.
    pub fn wait_tasks(&self) -> &[TaskId] {
        &self.wait_tasks
    }

    /// Tasks waiting for this one.
    pub fn halt_tasks(&self) -> &[TaskId] {
        &self.halt_tasks
    }

    /// The lanes it is in; a task in no lane is in lane 0.
    pub fn lanes(&self) -> &[LaneId] {
        if self.lanes.is_empty() { &[0] } else { &self.lanes }
    }

    /// The last log entries, "RFC3339 INFO|ERROR message".
    pub fn log(&self) -> &[String] {
        &self.log
    }

    /// Appends a log entry stamped with `now`, keeping the last [`TASK_LOG_ENTRIES`], each
    /// with at most [`TASK_LOG_MESSAGE_BYTES`] of its message.
    pub fn logf(&mut self, level: LogLevel, msg: &str, now: DateTime<Utc>) {
        if self.log.len() >= TASK_LOG_ENTRIES {
            self.log.drain(..=self.log.len() - TASK_LOG_ENTRIES);
        }
        let (msg, cut) = match msg.len() > TASK_LOG_MESSAGE_BYTES {
            true => (&msg[..msg.floor_char_boundary(TASK_LOG_MESSAGE_BYTES)], TRUNCATED),
            false => (msg, ""),
        };
        let entry =
            format!("{} {} {msg}{cut}", now.to_rfc3339_opts(SecondsFormat::Secs, true), level.as_str());
        tracing::debug!(task = %self.id, kind = %self.kind, "{entry}");
        self.log.push(entry);
    }

    /// The progress (label, done, total); without explicit progress (0, 1) while `Do`
    /// and (1, 1) otherwise.
    pub fn progress(&self) -> (&str, u64, u64) {
        match &self.progress {
            Some(p) => (&p.label, p.done, p.total),
            None if self.status() == Status::Do => ("", 0, 1),
            None => ("", 1, 1),
        }
    }

    /// Sets the progress; inconsistent numbers (total 0, done > total) clear it.
    pub fn set_progress(&mut self, label: &str, done: u64, total: u64) {
        self.progress =
            (total > 0 && done <= total).then(|| Progress { label: label.to_owned(), done, total });
    }

    /// When it was created.
    pub fn spawn_time(&self) -> DateTime<Utc> {
        self.spawn_time
    }

    /// When it became ready, if it did.
    pub fn ready_time(&self) -> Option<DateTime<Utc>> {
        self.ready_time
    }

    /// Time accumulated running its do handler.
    pub fn doing_time(&self) -> Duration {
        self.doing_time
    }

    /// Time accumulated running its undo handler.
    pub fn undoing_time(&self) -> Duration {
        self.undoing_time
    }

    /// When it is scheduled to run again (retry), if it is.
    pub fn at_time(&self) -> Option<DateTime<Utc>> {
        self.at_time
    }

    data::data_accessors!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap()
    }

    #[test]
    fn log_keeps_last_ten_entries() {
        let mut t = Task::new("1".into(), "k", "s", now());
        for i in 0..13 {
            t.logf(LogLevel::Info, &format!("msg {i}"), now());
        }
        t.logf(LogLevel::Error, "boom", now());
        assert_eq!(t.log().len(), 10);
        assert_eq!(t.log()[0], "2025-03-04T05:06:07Z INFO msg 4");
        assert_eq!(t.log()[9], "2025-03-04T05:06:07Z ERROR boom");
    }

    #[test]
    fn log_messages_are_cut_to_their_bound() {
        let mut t = Task::new("1".into(), "k", "s", now());
        // A guest's output in an error, with a character across the bound.
        let long = format!("{}é{}", "x".repeat(TASK_LOG_MESSAGE_BYTES - 1), "y".repeat(1 << 20));
        t.logf(LogLevel::Error, &long, now());
        let entry = &t.log()[0];
        let message = entry.strip_prefix("2025-03-04T05:06:07Z ERROR ").unwrap();
        assert_eq!(message, format!("{} [truncated]", "x".repeat(TASK_LOG_MESSAGE_BYTES - 1)));
        let exact = "z".repeat(TASK_LOG_MESSAGE_BYTES);
        t.logf(LogLevel::Info, &exact, now());
        assert!(t.log()[1].ends_with(&format!("INFO {exact}")), "a message at the bound is kept whole");
    }

    #[test]
    fn progress_defaults_and_validation() {
        let mut t = Task::new("1".into(), "k", "s", now());
        assert_eq!(t.progress(), ("", 0, 1));
        t.set_progress("Downloading", 3, 10);
        assert_eq!(t.progress(), ("Downloading", 3, 10));
        t.set_progress("x", 11, 10);
        assert_eq!(t.progress(), ("", 0, 1));
        t.status = Status::Doing;
        assert_eq!(t.progress(), ("", 1, 1));
    }

    #[test]
    fn lanes_default_to_zero() {
        let mut t = Task::new("1".into(), "k", "s", now());
        assert_eq!(t.lanes(), [0]);
        t.lanes.push(4);
        assert_eq!(t.lanes(), [4]);
    }

    #[test]
    fn json_shape_and_defaults() {
        let mut t = Task::new("7".into(), "start-workshop", "Start", now());
        t.set("workshop", "ws");
        t.doing_time = Duration::from_millis(1500);
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "7", "kind": "start-workshop", "summary": "Start",
                "status": 0, "waited-status": 4, "data": {"workshop": "ws"},
                "change": "", "spawn-time": "2025-03-04T05:06:07Z", "doing-time": 1_500_000_000u64,
            })
        );
        // Old documents: waited-status 0 reads as Done; unknown fields are ignored.
        let old = r#"{"id":"1","kind":"k","summary":"s","status":3,"waited-status":0,
            "change":"2","spawn-time":"0001-01-01T00:00:00Z","future-field":[1]}"#;
        let t: Task = serde_json::from_str(old).unwrap();
        assert_eq!(t.waited_status(), Status::Done);
        assert_eq!(t.status(), Status::Doing);
    }
}
