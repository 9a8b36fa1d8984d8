//! Cached JSON encodings of changes and tasks, so that a checkpoint re-encodes only the
//! entries that changed since the previous one. The cache is emptied whenever the entry
//! is borrowed mutably through the [`State`](super::State).

use std::fmt;
use std::sync::OnceLock;

use serde::Serialize;

/// The JSON encoding of one entry, filled on first use.
#[derive(Clone, Default)]
pub(crate) struct JsonCache(OnceLock<Box<[u8]>>);

impl JsonCache {
    /// Forgets the encoding (the entry is about to change).
    pub(crate) fn invalidate(&mut self) {
        self.0.take();
    }

    /// The encoding of `value`, computed if not cached.
    pub(crate) fn encoded<T: Serialize>(&self, value: &T) -> &[u8] {
        self.0.get_or_init(|| {
            // Entries hold only string-keyed maps, which always encode.
            serde_json::to_vec(value).expect("internal error: cannot encode state entry").into_boxed_slice()
        })
    }
}

impl fmt::Debug for JsonCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let filled = if self.0.get().is_some() { "filled" } else { "empty" };
        write!(f, "JsonCache({filled})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_until_invalidated() {
        let mut cache = JsonCache::default();
        assert_eq!(cache.encoded(&1), b"1");
        assert_eq!(cache.encoded(&2), b"1");
        cache.invalidate();
        assert_eq!(cache.encoded(&2), b"2");
    }
}
