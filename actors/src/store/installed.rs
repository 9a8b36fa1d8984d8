//! What `GET /v1/sdks` and `GET /v1/sdks/{name}` need from the SDK trees on this machine.
//!
//! The tree store (`$WORKSHOP/sdk/trees/`, issue 11 item 3) owns them: it answers
//! [`ListInstalled`] and is handed to the API front as a `Recipient<ListInstalled>`. Until it
//! is wired in the daemon has no SDK trees, and the routes say so (an empty list).

use actix::Message;
use workshop_api::sdks::{SdkInstalled, SdkTree};

/// One SDK tree and the workshops of the viewer that use it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstalledTree {
    pub tree: SdkTree,
    /// From the tree's `meta/sdk.yaml`, for `sdk info` of an SDK the Store does not know.
    pub title: String,
    pub summary: String,
    pub description: String,
    /// The viewer's workshops with this tree installed (every user's for root).
    pub installed: Vec<SdkInstalled>,
}

/// Lists SDK trees: every tree of `name`, or every tree when `name` is `None`.
///
/// Scope: trees are shared content, but local revisions (`xN`) and installations belong to
/// their users: the viewer sees Store trees, their own local trees and their own
/// installations; root sees everything.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<InstalledTree>, InstalledError>")]
pub struct ListInstalled {
    /// The caller's uid.
    pub viewer: u32,
    pub name: Option<String>,
}

/// Why the trees cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum InstalledError {
    /// Installations are read off LXD's instances: without LXD (degraded mode) they are unknown.
    #[error("cannot list SDK trees: {0}")]
    Backend(#[from] crate::backend::BackendError),
    #[error("cannot list SDK trees: {0}")]
    Failed(String),
}
