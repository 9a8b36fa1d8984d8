//! Warnings: user-facing messages keyed by their owner and text, repeated and expired over
//! time. A warning about a user's things is theirs (its owner is their uid): only they see it
//! and only they dismiss it. One without an owner is daemon-wide: everyone sees it, root
//! dismisses it.

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
    /// The uid of the user it is about; `None` for a daemon-wide warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<u32>,
}

/// Where a warning is stored: two users raising the same message keep two warnings.
pub(super) type WarningKey = (Option<u32>, String);

impl Warning {
    /// The warning text (its identity, with its owner).
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The uid of the user it is about; `None` for a daemon-wide warning.
    pub fn owner(&self) -> Option<u32> {
        self.owner
    }
    /// Whether user `uid` sees it: their own and daemon-wide ones.
    pub fn visible_to(&self, uid: u32) -> bool {
        self.owner.is_none_or(|o| o == uid)
    }
    /// Whether user `uid` may dismiss it: their own; root dismisses daemon-wide ones too.
    pub fn dismissable_by(&self, uid: u32) -> bool {
        self.owner == Some(uid) || (uid == 0 && self.owner.is_none())
    }
    pub(super) fn key(&self) -> WarningKey {
        (self.owner, self.message.clone())
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
    /// Records a warning of `owner` (`None`: daemon-wide): a new message is added with
    /// first/last-added set to `now`; an existing one gets its last-added refreshed. Blank
    /// messages are ignored.
    pub fn warn(&mut self, owner: Option<u32>, message: &str, now: DateTime<Utc>) {
        if message.trim().is_empty() || message.trim() != message {
            tracing::error!(message, "internal error: ignoring malformed warning");
            return;
        }
        let warning = self.warnings.entry((owner, message.to_owned())).or_insert_with(|| Warning {
            message: message.to_owned(),
            first_added: now,
            last_added: now,
            last_shown: None,
            expire_after: WARNING_EXPIRE_AFTER,
            repeat_after: WARNING_REPEAT_AFTER,
            owner,
        });
        warning.last_added = now;
        warning.repeat_after = WARNING_REPEAT_AFTER;
    }

    /// Removes the warning of `owner` with this message; whether there was one.
    pub fn remove_warning(&mut self, owner: Option<u32>, message: &str) -> bool {
        self.warnings.remove(&(owner, message.to_owned())).is_some()
    }

    /// The warnings user `uid` sees, oldest last-added first.
    pub fn all_warnings(&self, uid: u32) -> Vec<&Warning> {
        let mut all: Vec<&Warning> = self.warnings.values().filter(|w| w.visible_to(uid)).collect();
        all.sort_by_key(|w| w.last_added);
        all
    }

    /// The warnings user `uid` sees that are due to be shown at `now` (oldest last-added
    /// first) and the latest last-added among them; clients remember it and pass it to
    /// [`State::okay_warnings`].
    pub fn pending_warnings(&self, uid: u32, now: DateTime<Utc>) -> (Vec<&Warning>, Option<DateTime<Utc>>) {
        let mut pending: Vec<&Warning> =
            self.warnings.values().filter(|w| w.visible_to(uid) && w.show_after(now)).collect();
        pending.sort_by_key(|w| w.last_added);
        let latest = pending.last().map(|w| w.last_added);
        (pending, latest)
    }

    /// The number of warnings pending for user `uid` and their latest last-added (the
    /// response envelope's `warning-count`/`warning-timestamp`).
    pub fn warnings_summary(&self, uid: u32, now: DateTime<Utc>) -> (usize, Option<DateTime<Utc>>) {
        self.warnings
            .values()
            .filter(|w| w.visible_to(uid) && w.show_after(now))
            .fold((0, None), |(n, latest), w| (n + 1, latest.max(Some(w.last_added))))
    }

    /// Acknowledges, for user `uid`, the warnings they may dismiss that were showable at `t`:
    /// their last-shown becomes `t`. Returns how many were acknowledged.
    pub fn okay_warnings(&mut self, uid: u32, t: DateTime<Utc>) -> usize {
        let mut n = 0;
        for w in self.warnings.values_mut().filter(|w| w.dismissable_by(uid)) {
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

    /// Gives every warning without an owner to `owner` (a schema migration).
    pub(super) fn own_unowned_warnings(&mut self, owner: u32) {
        let warnings = std::mem::take(&mut self.warnings);
        for (_, mut w) in warnings {
            w.owner = w.owner.or(Some(owner));
            // A warning `owner` already has keeps the later occurrence.
            let key = w.key();
            match self.warnings.get(&key) {
                Some(kept) if kept.last_added >= w.last_added => {}
                _ => {
                    self.warnings.insert(key, w);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Daemon-wide warnings, seen and dismissed by root.
    const ROOT: u32 = 0;
    const ALICE: u32 = 1000;
    const BOB: u32 = 1001;

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    #[test]
    fn warn_keys_by_message_and_tracks_times() {
        let mut st = State::new();
        st.warn(None, "disk is full", at(0));
        st.warn(None, "other", at(1));
        st.warn(None, "disk is full", at(2));
        let all = st.all_warnings(ROOT);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].message(), "other");
        assert_eq!(all[1].first_added(), at(0));
        assert_eq!(all[1].last_added(), at(2));
        st.warn(None, "", at(3));
        st.warn(None, " padded ", at(3));
        assert_eq!(st.all_warnings(ROOT).len(), 2);
    }

    #[test]
    fn pending_okay_and_repeat_after() {
        let mut st = State::new();
        st.warn(None, "a", at(0));
        st.warn(None, "b", at(1));
        let (pending, latest) = st.pending_warnings(ROOT, at(2));
        assert_eq!(pending.len(), 2);
        assert_eq!(latest, Some(at(1)));
        assert_eq!(st.warnings_summary(ROOT, at(2)), (2, Some(at(1))));

        // Okay with the listed timestamp acknowledges both.
        assert_eq!(st.okay_warnings(ROOT, at(1)), 2);
        assert_eq!(st.pending_warnings(ROOT, at(2)).0.len(), 0);
        assert_eq!(st.warnings_summary(ROOT, at(2)), (0, None));

        // A warning added after the okay timestamp is not acknowledged by it.
        st.warn(None, "c", at(3));
        assert_eq!(st.okay_warnings(ROOT, at(1)), 0);
        assert_eq!(st.pending_warnings(ROOT, at(4)).0.len(), 1);

        // 24 h after being shown they come back.
        assert_eq!(st.pending_warnings(ROOT, at(25)).0.len(), 1);
        let (again, _) = st.pending_warnings(ROOT, at(25) + chrono::Duration::seconds(1));
        assert_eq!(again.len(), 3);
    }

    #[test]
    fn expiry_after_28_days() {
        let mut st = State::new();
        st.warn(None, "old", at(0));
        st.warn(None, "new", at(24 * 20));
        let limit = at(24 * 28);
        assert!(!st.all_warnings(ROOT)[0].expired_before(limit));
        st.drop_expired_warnings(limit + chrono::Duration::seconds(1));
        let left: Vec<&str> = st.all_warnings(ROOT).iter().map(|w| w.message()).collect();
        assert_eq!(left, ["new"]);
    }

    #[test]
    fn json_shape_matches_reference() {
        let mut st = State::new();
        st.warn(None, "hello", at(0));
        st.okay_warnings(ROOT, at(1));
        let json = serde_json::to_value(st.all_warnings(ROOT)[0]).unwrap();
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
        assert_eq!(&back, st.all_warnings(ROOT)[0]);
    }

    #[test]
    fn users_see_their_own_and_daemon_wide_warnings() {
        let mut st = State::new();
        st.warn(Some(ALICE), "cannot find project directory", at(0));
        st.warn(Some(BOB), "cannot find project directory", at(1));
        st.warn(None, "lxd is slow", at(2));
        let seen = |st: &State, uid| -> Vec<(Option<u32>, String)> {
            st.all_warnings(uid).iter().map(|w| (w.owner(), w.message().to_string())).collect()
        };
        let wide = (None, "lxd is slow".to_string());
        assert_eq!(seen(&st, ALICE), [(Some(ALICE), "cannot find project directory".into()), wide.clone()]);
        assert_eq!(seen(&st, BOB), [(Some(BOB), "cannot find project directory".into()), wide.clone()]);
        assert_eq!(seen(&st, ROOT), [wide]);
        assert_eq!(st.pending_warnings(ALICE, at(3)).0.len(), 2);
        assert_eq!(st.warnings_summary(ALICE, at(3)), (2, Some(at(2))));
        assert_eq!(st.warnings_summary(ROOT, at(3)), (1, Some(at(2))));
        // Bob's warning is not Alice's to remove.
        assert!(!st.remove_warning(Some(ALICE), "lxd is slow"));
        assert!(st.remove_warning(Some(BOB), "cannot find project directory"));
        assert_eq!(st.all_warnings(ALICE).len(), 2);
    }

    #[test]
    fn okay_dismisses_only_the_callers_own_and_root_the_daemon_wide_ones() {
        let mut st = State::new();
        st.warn(Some(ALICE), "a", at(0));
        st.warn(Some(BOB), "b", at(0));
        st.warn(None, "wide", at(0));
        assert_eq!(st.okay_warnings(BOB, at(1)), 1);
        assert_eq!(st.warnings_summary(BOB, at(2)).0, 1, "bob cannot dismiss the daemon-wide one");
        assert_eq!(st.warnings_summary(ALICE, at(2)).0, 2, "alice's are untouched");
        assert_eq!(st.okay_warnings(ROOT, at(1)), 1);
        assert_eq!(st.warnings_summary(ALICE, at(2)).0, 1);
        assert_eq!(st.warnings_summary(BOB, at(2)).0, 0);
        assert_eq!(st.okay_warnings(ALICE, at(1)), 1);
        assert_eq!(st.warnings_summary(ALICE, at(2)).0, 0);
    }

    #[test]
    fn the_owner_is_recorded_and_unowned_warnings_can_be_given_to_root() {
        let mut st = State::new();
        st.warn(Some(ALICE), "mine", at(0));
        st.warn(None, "mine", at(1));
        st.warn(None, "old", at(2));
        let json = serde_json::to_value(st.all_warnings(ALICE)[0]).unwrap();
        assert_eq!((json["message"].as_str(), json["owner"].as_u64()), (Some("mine"), Some(1000)));
        let back: Warning = serde_json::from_value(json).unwrap();
        assert_eq!(&back, st.all_warnings(ALICE)[0]);
        st.own_unowned_warnings(ROOT);
        assert_eq!(st.all_warnings(ALICE).len(), 1);
        let root: Vec<(Option<u32>, &str)> =
            st.all_warnings(ROOT).iter().map(|w| (w.owner(), w.message())).collect();
        assert_eq!(root, [(Some(ROOT), "mine"), (Some(ROOT), "old")]);
    }
}
