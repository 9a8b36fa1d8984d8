//! The JSON data bags carried by the state, changes and tasks.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::StateError;

/// A key → JSON value bag, as persisted in state.json.
pub type DataBag = Map<String, Value>;

/// Decodes the entry for `key`; `Ok(None)` when there is none.
pub(crate) fn try_get<T: DeserializeOwned>(bag: &DataBag, key: &str) -> Result<Option<T>, StateError> {
    match bag.get(key) {
        None => Ok(None),
        Some(value) => T::deserialize(value)
            .map(Some)
            .map_err(|source| StateError::Decode { key: key.to_owned(), source }),
    }
}

/// Decodes the entry for `key`; `None` when missing or when it does not decode (logged).
pub(crate) fn get<T: DeserializeOwned>(bag: &DataBag, key: &str) -> Option<T> {
    try_get(bag, key).unwrap_or_else(|err| {
        tracing::warn!(key, error = %err, "ignoring undecodable state entry");
        None
    })
}

/// Stores `value` under `key`; a value serializing to `null` removes the entry.
///
/// # Panics
/// If `value` cannot be represented as JSON (a programming error, e.g. a map with
/// non-string keys).
pub(crate) fn set<T: Serialize>(bag: &mut DataBag, key: &str, value: T) {
    let value = serde_json::to_value(value)
        .unwrap_or_else(|err| panic!("internal error: cannot encode state entry {key:?}: {err}"));
    if value.is_null() {
        bag.remove(key);
    } else {
        bag.insert(key.to_owned(), value);
    }
}

/// A typed key of a data bag: its name and the type of its value, declared once and used by
/// whoever writes or reads it.
pub struct Key<T> {
    name: &'static str,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<T> Key<T> {
    pub const fn new(name: &'static str) -> Self {
        Self { name, _type: std::marker::PhantomData }
    }

    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<T: DeserializeOwned> Key<T> {
    /// The value in `bag`; `None` when missing or of another type (logged).
    pub fn get(&self, bag: &DataBag) -> Option<T> {
        get(bag, self.name)
    }
}

impl<T: Serialize> Key<T> {
    /// Stores `value` in `bag` (a `null` value removes the entry).
    pub fn set(&self, bag: &mut DataBag, value: &T) {
        set(bag, self.name, value)
    }
}

/// The data accessors of a type with a `data: DataBag` field (the state, changes, tasks):
/// `data`, `get`, `try_get`, `has`, `set` and `clear`, as inherent methods.
macro_rules! data_accessors {
    () => {
        /// The whole data bag.
        pub fn data(&self) -> &$crate::state::DataBag {
            &self.data
        }

        /// Decodes data entry `key`; `None` if missing or of another type (logged).
        pub fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
            $crate::state::data::get(&self.data, key)
        }

        /// Decodes data entry `key`, reporting a type mismatch as an error.
        pub fn try_get<T: serde::de::DeserializeOwned>(
            &self,
            key: &str,
        ) -> Result<Option<T>, $crate::state::StateError> {
            $crate::state::data::try_get(&self.data, key)
        }

        /// Whether data entry `key` exists.
        pub fn has(&self, key: &str) -> bool {
            self.data.contains_key(key)
        }

        /// Stores data entry `key` (a `null` value removes it).
        pub fn set<T: serde::Serialize>(&mut self, key: &str, value: T) {
            $crate::state::data::set(&mut self.data, key, value)
        }

        /// Removes data entry `key`.
        pub fn clear(&mut self, key: &str) {
            self.data.remove(key);
        }

        /// The value of a typed key.
        pub fn read<T: serde::de::DeserializeOwned>(&self, key: &$crate::state::Key<T>) -> Option<T> {
            key.get(&self.data)
        }

        /// Stores the value of a typed key.
        pub fn write<T: serde::Serialize>(&mut self, key: &$crate::state::Key<T>, value: &T) {
            key.set(&mut self.data, value)
        }
    };
}
pub(crate) use data_accessors;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_remove() {
        let mut bag = DataBag::new();
        set(&mut bag, "n", 3u32);
        assert_eq!(get::<u32>(&bag, "n"), Some(3));
        assert_eq!(get::<String>(&bag, "n"), None);
        assert!(matches!(try_get::<String>(&bag, "n"), Err(StateError::Decode { .. })));
        assert_eq!(try_get::<u32>(&bag, "missing").unwrap(), None);
        set(&mut bag, "n", Option::<u32>::None);
        assert!(!bag.contains_key("n"));
    }
}
