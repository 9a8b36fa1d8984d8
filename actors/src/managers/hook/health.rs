//! The `check-health` protocol (../shared/spec/reference-inventory.md §5): what a run of the
//! hook decides, the record kept in the task's data (`health`), and the summary `info`
//! shows while a change is in progress.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use workshop_api::workshopctl::HealthStatus;
use workshop_api::workshops::{HealthCheck, SdkInfo};

use super::contexts::HealthReport;
use crate::managers::task::keys;
use crate::state::State;

/// Runs of `check-health` after the first one while the SDK reports `waiting`.
pub const RETRIES: u32 = 10;
/// Pause before the next run after a `waiting`.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long one run of `check-health` may take at launch (a refresh has none of its own).
pub const LAUNCH_TIMEOUT: Duration = Duration::from_secs(5);

/// What the last run of `check-health` established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckResult {
    /// The hook did not call `workshopctl set-health`.
    Unknown,
    Waiting,
    Okay,
    Error,
}

impl From<HealthStatus> for CheckResult {
    fn from(status: HealthStatus) -> Self {
        match status {
            HealthStatus::Okay => Self::Okay,
            HealthStatus::Waiting => Self::Waiting,
            HealthStatus::Error => Self::Error,
        }
    }
}

/// The task data `health` of a `check-health` task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HealthRecord {
    pub sdk: String,
    pub timestamp: DateTime<Utc>,
    pub check_result: CheckResult,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub code: String,
}

impl HealthRecord {
    /// The record of a run of `sdk`'s hook that reported `report` (none: unknown).
    pub fn of(sdk: &str, report: Option<HealthReport>, now: DateTime<Utc>) -> Self {
        match report {
            Some(r) => Self {
                sdk: sdk.to_string(),
                timestamp: r.timestamp,
                check_result: r.status.into(),
                message: r.message,
                code: r.code,
            },
            None => Self {
                sdk: sdk.to_string(),
                timestamp: now,
                check_result: CheckResult::Unknown,
                message: String::new(),
                code: String::new(),
            },
        }
    }
}

/// What follows a run of `check-health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    /// Run the hook again after [`RETRY_AFTER`].
    Again,
    Failed(String),
}

/// The verdict on `record` after `retries` runs beyond the first.
pub fn verdict(record: &HealthRecord, retries: u32) -> Verdict {
    match record.check_result {
        CheckResult::Okay => Verdict::Healthy,
        CheckResult::Unknown => Verdict::Failed(format!("SDK {:?} health status is unknown", record.sdk)),
        CheckResult::Error => Verdict::Failed(record.message.clone()),
        CheckResult::Waiting if retries >= RETRIES => {
            Verdict::Failed(format!("SDK {:?} is not healthy after multiple checks", record.sdk))
        }
        CheckResult::Waiting => Verdict::Again,
    }
}

/// The error of a run of `check-health` that did not end in time.
pub fn timed_out(sdk: &str) -> String {
    format!("SDK {sdk:?} health status check timed out")
}

/// The last health reported for each SDK of `workshop` by the `check-health` tasks of
/// `change`, as `info` shows it while the change is in progress.
pub fn summary(st: &State, change: &str, workshop: &str) -> BTreeMap<String, HealthCheck> {
    st.change_tasks(change)
        .into_iter()
        .filter(|t| t.kind == "run-hook" && t.read(&keys::WORKSHOP).as_deref() == Some(workshop))
        .filter_map(|t| t.read(&keys::HEALTH))
        .map(|h| (h.sdk, HealthCheck { timestamp: h.timestamp, message: h.message, code: h.code }))
        .collect()
}

/// Gives each of `sdks` its health from `summary` (`info` shows its message, and its code
/// among the notes).
pub fn attach(sdks: &mut [SdkInfo], summary: &BTreeMap<String, HealthCheck>) {
    for sdk in sdks {
        if let Some(health) = summary.get(&sdk.name) {
            sdk.health_check = Some(health.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::managers::hook::{Hook, plan};
    use crate::managers::task::{self, TaskTarget};

    fn record(result: CheckResult, message: &str) -> HealthRecord {
        HealthRecord {
            sdk: "db".into(),
            timestamp: Utc::now(),
            check_result: result,
            message: message.into(),
            code: String::new(),
        }
    }

    #[test]
    fn the_verdicts_of_the_reference() {
        assert_eq!(verdict(&record(CheckResult::Okay, ""), 0), Verdict::Healthy);
        assert_eq!(
            verdict(&record(CheckResult::Unknown, ""), 0),
            Verdict::Failed(r#"SDK "db" health status is unknown"#.into())
        );
        assert_eq!(
            verdict(&record(CheckResult::Error, "Health check failed"), 0),
            Verdict::Failed("Health check failed".into())
        );
        assert_eq!(verdict(&record(CheckResult::Waiting, "Cannot finish"), 9), Verdict::Again);
        assert_eq!(
            verdict(&record(CheckResult::Waiting, "Cannot finish"), 10),
            Verdict::Failed(r#"SDK "db" is not healthy after multiple checks"#.into())
        );
        assert_eq!(timed_out("db"), r#"SDK "db" health status check timed out"#);
    }

    #[test]
    fn records_read_back_from_task_data() {
        let report = HealthReport {
            status: HealthStatus::Waiting,
            message: "Cannot finish health check".into(),
            code: "try-later".into(),
            timestamp: Utc::now(),
        };
        let r = HealthRecord::of("db", Some(report.clone()), Utc::now());
        assert_eq!(
            (r.check_result, r.code.as_str(), r.timestamp),
            (CheckResult::Waiting, "try-later", report.timestamp)
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["check-result"], "waiting");
        assert_eq!(serde_json::from_value::<HealthRecord>(json).unwrap(), r);
        assert_eq!(HealthRecord::of("db", None, Utc::now()).check_result, CheckResult::Unknown);
    }

    #[test]
    fn health_is_attached_to_the_sdks_that_reported() {
        let sdk = |name: &str| SdkInfo {
            name: name.into(),
            version: None,
            channel: None,
            source: None,
            revision: "x1".into(),
            built_at: None,
            installed_at: None,
            health_check: None,
            mounts: Vec::new(),
            tunnels: Vec::new(),
        };
        let mut sdks = vec![sdk("db"), sdk("web")];
        let check =
            HealthCheck { timestamp: Utc::now(), message: "Cannot finish".into(), code: "try-later".into() };
        attach(&mut sdks, &BTreeMap::from([("db".to_string(), check.clone())]));
        assert_eq!(sdks[0].health_check, Some(check));
        assert_eq!(sdks[1].health_check, None);
    }

    #[test]
    fn the_summary_is_per_workshop_and_sdk() {
        let mut st = State::new();
        let now = Utc::now();
        let user = crate::managers::UserRef { name: "u".into(), uid: 1000, gid: 1000, data_home: None };
        let change = task::new_change(&mut st, "launch", "Launch", &user, "0123abcd", now);
        let target = |name: &str| TaskTarget {
            name: name.into(),
            project_id: "0123abcd".into(),
            project_path: "/p".into(),
            user: user.clone(),
        };
        let a = plan::add_hook(&mut st, &change, &target("a"), "db", Hook::CheckHealth, None, now);
        let b = plan::add_hook(&mut st, &change, &target("b"), "db", Hook::CheckHealth, None, now);
        plan::add_hook(&mut st, &change, &target("a"), "web", Hook::CheckHealth, None, now);
        let mut waiting = record(CheckResult::Waiting, "Cannot finish health check");
        waiting.code = "try-later".into();
        st.task_mut(&a).unwrap().write(&keys::HEALTH, &waiting);
        st.task_mut(&b).unwrap().write(&keys::HEALTH, &record(CheckResult::Okay, ""));
        let of_a = summary(&st, &change, "a");
        assert_eq!(of_a.keys().collect::<Vec<_>>(), ["db"], "web has not reported yet");
        assert_eq!(
            (of_a["db"].message.as_str(), of_a["db"].code.as_str()),
            ("Cannot finish health check", "try-later")
        );
        assert_eq!(summary(&st, &change, "b")["db"].message, "");
    }
}
