//! Schema versioning of state.json (the reference's `patch` package).
//!
//! The schema version lives in the data bag as `patch-level` (incompatible changes) and
//! `patch-sublevel` (compatible additions). Level 1 / sublevel 0 is the first schema of
//! this implementation and the reference's current one, so there are no transformations
//! yet; a future incompatible change adds a step here and bumps [`PATCH_LEVEL`].

use super::{State, StateError};

/// Current incompatible schema level.
pub const PATCH_LEVEL: u64 = 1;
/// Current compatible schema sublevel.
pub const PATCH_SUBLEVEL: u64 = 0;

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
    if level < PATCH_LEVEL {
        // Level 0 is a document written before versioning existed; it has the same
        // shape as level 1.
        tracing::info!(from = level, to = PATCH_LEVEL, "upgrading state schema");
        stamp_current(st);
    } else if sublevel != PATCH_SUBLEVEL {
        // A newer sublevel only added compatible data; recording ours makes a later
        // upgrade re-apply its sublevel steps.
        tracing::info!(from = sublevel, to = PATCH_SUBLEVEL, "resetting state schema sublevel");
        st.set("patch-sublevel", PATCH_SUBLEVEL);
    }
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
    fn rejects_malformed_level() {
        let err = State::from_json(br#"{"data":{"patch-level":"one"}}"#).unwrap_err();
        assert!(matches!(err, StateError::Decode { .. }));
    }
}
