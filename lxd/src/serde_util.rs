//! Serde helpers for LXD's JSON (which sends `null` for empty lists and maps).

use serde::{Deserialize, Deserializer};

/// Deserializes `null` as the type's default.
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Deserialize)]
    struct Thing {
        #[serde(default, deserialize_with = "null_default")]
        list: Vec<String>,
        #[serde(default, deserialize_with = "null_default")]
        map: BTreeMap<String, String>,
    }

    #[test]
    fn null_and_missing_become_empty() {
        let thing: Thing = serde_json::from_str(r#"{"list":null}"#).unwrap();
        assert!(thing.list.is_empty() && thing.map.is_empty());
        let thing: Thing = serde_json::from_str(r#"{"list":["a"],"map":{"k":"v"}}"#).unwrap();
        assert_eq!(thing.list, vec!["a"]);
        assert_eq!(thing.map["k"], "v");
    }
}
