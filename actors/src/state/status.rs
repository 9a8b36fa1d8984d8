//! Task and change statuses.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Status of a task or change; persisted as its integer code (0..=10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Status {
    /// Unset: tasks read as `Do`, changes derive their status from their tasks.
    #[default]
    Default,
    /// Must not run for now, usually because of an error elsewhere.
    Hold,
    /// Ready to start.
    Do,
    /// Running, or an attempt was made to run it (so it runs again after a restart).
    Doing,
    /// Accomplished successfully.
    Done,
    /// Must stop what it is doing and then undo.
    Abort,
    /// Must be undone, because of an error elsewhere.
    Undo,
    /// Being undone, or an attempt was made to undo it.
    Undoing,
    /// Done first, then undone after an error elsewhere.
    Undone,
    /// Failed while running or while being undone.
    Error,
    /// Waiting for an external event (user action) before it can progress.
    Wait,
}

impl Status {
    /// All statuses in code order.
    pub const ALL: [Status; 11] = [
        Status::Default,
        Status::Hold,
        Status::Do,
        Status::Doing,
        Status::Done,
        Status::Abort,
        Status::Undo,
        Status::Undoing,
        Status::Undone,
        Status::Error,
        Status::Wait,
    ];

    /// Whether the task or change has finished its attempt (Done, Undone, Hold or Error).
    pub fn is_ready(self) -> bool {
        matches!(self, Status::Done | Status::Undone | Status::Hold | Status::Error)
    }

    /// The integer code used in state.json.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The status for an integer code, if it is a known one.
    pub fn from_code(code: u64) -> Option<Status> {
        Status::ALL.get(usize::try_from(code).ok()?).copied()
    }

    /// The name shown to users ("Doing").
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Default => "Default",
            Status::Hold => "Hold",
            Status::Do => "Do",
            Status::Doing => "Doing",
            Status::Done => "Done",
            Status::Abort => "Abort",
            Status::Undo => "Undo",
            Status::Undoing => "Undoing",
            Status::Undone => "Undone",
            Status::Error => "Error",
            Status::Wait => "Wait",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = u64::deserialize(d)?;
        Status::from_code(code).ok_or_else(|| serde::de::Error::custom(format!("unknown status code {code}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_names() {
        for (i, s) in Status::ALL.iter().enumerate() {
            assert_eq!(s.code() as usize, i);
            assert_eq!(Status::from_code(i as u64), Some(*s));
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, i.to_string());
            assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), *s);
        }
        assert_eq!(Status::from_code(11), None);
        assert!(serde_json::from_str::<Status>("11").is_err());
        assert_eq!(Status::Doing.to_string(), "Doing");
        assert_eq!(Status::Wait.to_string(), "Wait");
    }

    #[test]
    fn ready_statuses() {
        let ready: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_ready()).collect();
        assert_eq!(ready, [Status::Hold, Status::Done, Status::Undone, Status::Error]);
    }
}
