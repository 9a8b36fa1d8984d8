//! Interfaces and connections (reference-inventory §4): the plugs and slots of a workshop's
//! SDKs and definition (`repo.rs`) and the rules of each interface (`policy.rs`). Pure code;
//! the interface manager's tasks build on it.

pub mod mount;
pub mod policy;
pub mod repo;
