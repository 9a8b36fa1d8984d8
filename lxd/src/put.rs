//! The writable part shared by projects, networks, storage pools and storage volumes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Configuration and description: what `PUT` replaces on a project, a network, a storage pool
/// or a storage volume. Get it from the object's `writable()`, modify, send back with its
/// ETag.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConfigPut {
    /// Configuration.
    pub config: BTreeMap<String, String>,
    /// Description.
    pub description: String,
}
