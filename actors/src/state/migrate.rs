//! Schema versioning of state.json (the reference's `patch` package).
//!
//! The schema version lives in the data bag as `patch-level` (incompatible changes) and
//! `patch-sublevel` (compatible additions). Level 1 / sublevel 0 is the first schema of
//! this implementation and the reference's current one. A compatible addition that needs
//! old data adjusted adds a step to [`SUBLEVEL_STEPS`]; an incompatible change adds a step
//! here and bumps [`PATCH_LEVEL`].

use super::{State, StateError};

/// Current incompatible schema level.
pub const PATCH_LEVEL: u64 = 1;
/// Current compatible schema sublevel.
pub const PATCH_SUBLEVEL: u64 = SUBLEVEL_STEPS.len() as u64;

/// Steps of level 1: `SUBLEVEL_STEPS[n]` brings sublevel `n` to `n + 1`.
const SUBLEVEL_STEPS: &[fn(&mut State)] = &[warnings_of_root];

/// Sublevel 1: warnings have owners. Those of before were all about some user's project yet
/// shown to every user (their text may quote what only that user should see), so none is
/// daemon-wide: they become root's. A newer daemon's state read by an older one loses the
/// owners and goes back to sublevel 0, so this applies again on the next upgrade.
fn warnings_of_root(st: &mut State) {
    st.own_unowned_warnings(0);
}

/// Records the current schema version (for new states).
pub(crate) fn stamp_current(st: &mut State) {
    st.set("patch-level", PATCH_LEVEL);
    st.set("patch-sublevel", PATCH_SUBLEVEL);
}

/// Brings a loaded state to the current schema; refuses states from a newer level.
pub(crate) fn apply(st: &mut State) -> Result<(), StateError> {
    let level: u64 = st.try_get("patch-level")?.unwrap_or(0);
    let sublevel: u64 = st.try_get("patch-sublevel")?.unwrap_or(0);
    if level > PATCH_LEVEL {
        return Err(StateError::TooNew { level });
    }
    // Level 0 is a document written before versioning existed; it has the shape of
    // level 1, sublevel 0.
    let sublevel = if level < PATCH_LEVEL { 0 } else { sublevel };
    if level < PATCH_LEVEL {
        tracing::info!(from = level, to = PATCH_LEVEL, "upgrading state schema");
        st.set("patch-level", PATCH_LEVEL);
    }
    if sublevel < PATCH_SUBLEVEL {
        tracing::info!(from = sublevel, to = PATCH_SUBLEVEL, "upgrading state schema sublevel");
        for step in &SUBLEVEL_STEPS[sublevel as usize..] {
            step(st);
        }
    } else if sublevel > PATCH_SUBLEVEL {
        // A newer sublevel only added compatible data; recording ours makes a later
        // upgrade re-apply its sublevel steps.
        tracing::info!(from = sublevel, to = PATCH_SUBLEVEL, "resetting state schema sublevel");
    }
    st.set("patch-sublevel", PATCH_SUBLEVEL);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_newer_level() {
        let doc = br#"{"data":{"patch-level":2,"patch-sublevel":0},"changes":{},"tasks":{}}"#;
        let err = State::from_json(doc).unwrap_err();
        assert!(matches!(err, StateError::TooNew { level: 2 }));
        assert_eq!(
            err.to_string(),
            "cannot downgrade: workshopd is too old for the current system state (patch level 2)"
        );
    }

    #[test]
    fn stamps_unversioned_and_resets_newer_sublevel() {
        let st = State::from_json(br#"{"data":{},"changes":{},"tasks":{}}"#).unwrap();
        assert_eq!(st.get::<u64>("patch-level"), Some(PATCH_LEVEL));
        assert_eq!(st.get::<u64>("patch-sublevel"), Some(PATCH_SUBLEVEL));
        let st = State::from_json(br#"{"data":{"patch-level":1,"patch-sublevel":3}}"#).unwrap();
        assert_eq!(st.get::<u64>("patch-sublevel"), Some(PATCH_SUBLEVEL));
    }

    #[test]
    fn warnings_of_before_owners_become_roots() {
        let warning = |message: &str, owner: Option<u32>| {
            let mut w = serde_json::json!({
                "message": message, "first-added": "2025-01-01T00:00:00Z",
                "last-added": "2025-01-01T00:00:00Z", "expire-after": "672h0m0s", "repeat-after": "24h0m0s",
            });
            if let Some(uid) = owner {
                w["owner"] = uid.into();
            }
            w
        };
        let doc = |sublevel: u64| {
            serde_json::json!({
                "data": {"patch-level": 1, "patch-sublevel": sublevel},
                "warnings": [warning("cannot load \"/home/a/p/workshop.yaml\": secret", None)],
            })
            .to_string()
        };
        for old in [doc(0), r#"{"warnings":[{"message":"m","first-added":"2025-01-01T00:00:00Z","last-added":"2025-01-01T00:00:00Z","expire-after":"1h0m0s","repeat-after":"1h0m0s"}]}"#.to_string()] {
            let st = State::from_json(old.as_bytes()).unwrap();
            assert!(st.all_warnings(1000).is_empty(), "another user sees an old warning");
            assert_eq!(st.all_warnings(0)[0].owner(), Some(0));
            assert_eq!(st.get::<u64>("patch-sublevel"), Some(PATCH_SUBLEVEL));
        }
        // At the current sublevel a warning without an owner is daemon-wide and stays so.
        let mut current = serde_json::from_str::<serde_json::Value>(&doc(PATCH_SUBLEVEL)).unwrap();
        current["warnings"].as_array_mut().unwrap().push(warning("mine", Some(1000)));
        let st = State::from_json(current.to_string().as_bytes()).unwrap();
        assert_eq!(st.all_warnings(1000).len(), 2);
        assert_eq!(st.all_warnings(1001).len(), 1);
    }

    #[test]
    fn rejects_malformed_level() {
        let err = State::from_json(br#"{"data":{"patch-level":"one"}}"#).unwrap_err();
        assert!(matches!(err, StateError::Decode { .. }));
    }
}
