//! Warnings: user-facing messages keyed by their text, repeated and expired over time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use workshop_api::duration;

use super::State;

/// How long after being shown (okayed) a warning is shown again.
pub const WARNING_REPEAT_AFTER: Duration = Duration::from_secs(24 * 3600);
/// How long after it was last added a warning is dropped.
pub const WARNING_EXPIRE_AFTER: Duration = Duration::from_secs(28 * 24 * 3600);

/// A warning; its serde form is both the state.json entry and the API object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Warning {
    message: String,
    first_added: DateTime<Utc>,
    last_added: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_shown: Option<DateTime<Utc>>,
    #[serde(with = "go_duration")]
    expire_after: Duration,
    #[serde(with = "go_duration")]
    repeat_after: Duration,
}

impl Warning {
    /// The warning text (also its identity).
    pub fn message(&self) -> &str {
        &self.message
    }
    /// When this message was first added.
    pub fn first_added(&self) -> DateTime<Utc> {
        self.first_added
    }
    /// When this message was most recently added.
    pub fn last_added(&self) -> DateTime<Utc> {
        self.last_added
    }
    /// When the user last acknowledged it, if ever.
    pub fn last_shown(&self) -> Option<DateTime<Utc>> {
        self.last_shown
    }
    /// How long after `last_added` it expires.
    pub fn expire_after(&self) -> Duration {
        self.expire_after
    }
    /// How long after `last_shown` it is shown again.
    pub fn repeat_after(&self) -> Duration {
        self.repeat_after
    }

    /// Whether it expired before `now`.
    pub fn expired_before(&self, now: DateTime<Utc>) -> bool {
        add(self.last_added, self.expire_after) < now
    }

    /// Whether it should be shown at `t`: never shown and added no later than `t`, or
    /// shown longer than `repeat_after` before `t`.
    pub fn show_after(&self, t: DateTime<Utc>) -> bool {
        match self.last_shown {
            None => self.first_added <= t,
            Some(shown) => add(shown, self.repeat_after) < t,
        }
    }
}

fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

mod go_duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&duration::format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl State {
    /// Records a warning: a new message is added with first/last-added set to `now`;
    /// an existing one gets its last-added refreshed. Blank messages are ignored.
    pub fn warn(&mut self, message: &str, now: DateTime<Utc>) {
        if message.trim().is_empty() || message.trim() != message {
            tracing::error!(message, "internal error: ignoring malformed warning");
            return;
        }
        let warning = self.warnings.entry(message.to_owned()).or_insert_with(|| Warning {
            message: message.to_owned(),
            first_added: now,
            last_added: now,
            last_shown: None,
            expire_after: WARNING_EXPIRE_AFTER,
            repeat_after: WARNING_REPEAT_AFTER,
        });
        warning.last_added = now;
        warning.repeat_after = WARNING_REPEAT_AFTER;
    }

    /// Removes the warning with this message; whether there was one.
    pub fn remove_warning(&mut self, message: &str) -> bool {
        self.warnings.remove(message).is_some()
    }

    /// All stored warnings, oldest last-added first.
    pub fn all_warnings(&self) -> Vec<&Warning> {
        let mut all: Vec<&Warning> = self.warnings.values().collect();
        all.sort_by_key(|w| w.last_added);
        all
    }

    /// Warnings due to be shown at `now` (oldest last-added first) and the latest
    /// last-added among them; clients remember it and pass it to [`State::okay_warnings`].
    pub fn pending_warnings(&self, now: DateTime<Utc>) -> (Vec<&Warning>, Option<DateTime<Utc>>) {
        let mut pending: Vec<&Warning> = self.warnings.values().filter(|w| w.show_after(now)).collect();
        pending.sort_by_key(|w| w.last_added);
        let latest = pending.last().map(|w| w.last_added);
        (pending, latest)
    }

    /// The number of pending warnings and their latest last-added (the response
    /// envelope's `warning-count`/`warning-timestamp`).
    pub fn warnings_summary(&self, now: DateTime<Utc>) -> (usize, Option<DateTime<Utc>>) {
        self.warnings
            .values()
            .filter(|w| w.show_after(now))
            .fold((0, None), |(n, latest), w| (n + 1, latest.max(Some(w.last_added))))
    }

    /// Acknowledges the warnings that were showable at `t`: their last-shown becomes `t`.
    /// Returns how many were acknowledged.
    pub fn okay_warnings(&mut self, t: DateTime<Utc>) -> usize {
        let mut n = 0;
        for w in self.warnings.values_mut() {
            if w.show_after(t) {
                w.last_shown = Some(t);
                n += 1;
            }
        }
        n
    }

    /// Drops warnings that expired before `now`.
    pub(crate) fn drop_expired_warnings(&mut self, now: DateTime<Utc>) {
        self.warnings.retain(|_, w| !w.expired_before(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    #[test]
    fn warn_keys_by_message_and_tracks_times() {
        let mut st = State::new();
        st.warn("disk is full", at(0));
        st.warn("other", at(1));
        st.warn("disk is full", at(2));
        let all = st.all_warnings();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].message(), "other");
        assert_eq!(all[1].first_added(), at(0));
        assert_eq!(all[1].last_added(), at(2));
        st.warn("", at(3));
        st.warn(" padded ", at(3));
        assert_eq!(st.all_warnings().len(), 2);
    }

    #[test]
    fn pending_okay_and_repeat_after() {
        let mut st = State::new();
        st.warn("a", at(0));
        st.warn("b", at(1));
        let (pending, latest) = st.pending_warnings(at(2));
        assert_eq!(pending.len(), 2);
        assert_eq!(latest, Some(at(1)));
        assert_eq!(st.warnings_summary(at(2)), (2, Some(at(1))));

        // Okay with the listed timestamp acknowledges both.
        assert_eq!(st.okay_warnings(at(1)), 2);
        assert_eq!(st.pending_warnings(at(2)).0.len(), 0);
        assert_eq!(st.warnings_summary(at(2)), (0, None));

        // A warning added after the okay timestamp is not acknowledged by it.
        st.warn("c", at(3));
        assert_eq!(st.okay_warnings(at(1)), 0);
        assert_eq!(st.pending_warnings(at(4)).0.len(), 1);

        // 24 h after being shown they come back.
        assert_eq!(st.pending_warnings(at(25)).0.len(), 1);
        let (again, _) = st.pending_warnings(at(25) + chrono::Duration::seconds(1));
        assert_eq!(again.len(), 3);
    }

    #[test]
    fn expiry_after_28_days() {
        let mut st = State::new();
        st.warn("old", at(0));
        st.warn("new", at(24 * 20));
        let limit = at(24 * 28);
        assert!(!st.all_warnings()[0].expired_before(limit));
        st.drop_expired_warnings(limit + chrono::Duration::seconds(1));
        let left: Vec<&str> = st.all_warnings().iter().map(|w| w.message()).collect();
        assert_eq!(left, ["new"]);
    }

    #[test]
    fn json_shape_matches_reference() {
        let mut st = State::new();
        st.warn("hello", at(0));
        st.okay_warnings(at(1));
        let json = serde_json::to_value(st.all_warnings()[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "message": "hello",
                "first-added": "2025-01-01T00:00:00Z",
                "last-added": "2025-01-01T00:00:00Z",
                "last-shown": "2025-01-01T01:00:00Z",
                "expire-after": "672h0m0s",
                "repeat-after": "24h0m0s",
            })
        );
        let back: Warning = serde_json::from_value(json).unwrap();
        assert_eq!(&back, st.all_warnings()[0]);
    }
}
