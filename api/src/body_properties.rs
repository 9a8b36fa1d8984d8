//! Property tests: the body of every POST route, from arbitrary bytes, arbitrary JSON values
//! and objects shaped like the real requests, decodes or fails without panicking; and what
//! decodes holds only well-formed names. The daemon-side checks of each route are driven in
//! `workshopd`'s `api::v1::hostile_tests`.

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::changes::ChangeAction;
use crate::definition::is_valid_name;
use crate::exec::ExecRequest;
use crate::projects::ProjectRequest;
use crate::warnings::WarningAction;
use crate::workshopctl::WorkshopctlRequest;
use crate::workshops::WorkshopsRequest;

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        proptest::sample::select(
            &["launch", "start", "okay", "abort", "wait-on-error", "1s", "dev", "../x"][..]
        )
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The keys of every request body, so that shaped objects reach the field decoders.
const KEYS: &[&str] = &[
    "names",
    "action",
    "options",
    "mode",
    "refresh-option",
    "verbose",
    "command",
    "command-prefix",
    "environment",
    "working-dir",
    "timeout",
    "user-id",
    "group-id",
    "interactive",
    "width",
    "height",
    "timestamp",
    "path",
    "context-id",
    "args",
    "stdin",
    "terminal",
    "split-stderr",
];

/// An object with some of the real keys, holding arbitrary values.
fn shaped() -> impl Strategy<Value = Value> {
    proptest::collection::vec((proptest::sample::select(KEYS), json_value()), 0..8).prop_map(|pairs| {
        let object: Map<String, Value> = pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        Value::Object(object)
    })
}

/// Decodes `value` and `bytes` as `T` both ways the daemon can (from bytes, from a value).
fn decode<T: DeserializeOwned>(value: &Value, bytes: &[u8]) -> Option<T> {
    let _ = serde_json::from_slice::<T>(bytes);
    let _ = serde_json::from_slice::<T>(value.to_string().as_bytes());
    serde_json::from_value::<T>(value.clone()).ok()
}

fn check_all(value: &Value, bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Some(request) = decode::<WorkshopsRequest>(value, bytes) {
        for name in &request.names {
            prop_assert!(is_valid_name(name.as_str()) && name.as_str().len() <= 40, "{}", name);
        }
    }
    let _ = decode::<ExecRequest>(value, bytes);
    let _ = decode::<ChangeAction>(value, bytes);
    let _ = decode::<WarningAction>(value, bytes);
    let _ = decode::<ProjectRequest>(value, bytes);
    let _ = decode::<WorkshopctlRequest>(value, bytes);
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_json_never_panics(value in json_value(), bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        check_all(&value, &bytes)?;
    }

    #[test]
    fn shaped_bodies_never_panic(value in shaped()) {
        check_all(&value, &[])?;
    }

    #[test]
    fn workshop_requests_keep_only_good_names(names in proptest::collection::vec(".{0,10}", 0..4)) {
        let body = json!({"action": "start", "names": names});
        match serde_json::from_value::<WorkshopsRequest>(body) {
            Ok(request) => prop_assert!(request.names.iter().all(|n| is_valid_name(n.as_str()))),
            Err(e) => prop_assert!(e.to_string().starts_with("invalid workshop name"), "{}", e),
        }
    }
}
