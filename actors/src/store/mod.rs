//! Where `.sdk` archives come from: the SDK Store and users' try areas.
//!
//! - [`StoreClient`] speaks the Store's protocol (`wire.rs`) at a configurable URL
//!   ([`StoreConfig::from_env`]: `WORKSHOP_STORE_URL`, else the reference's `SDK_STORE_URL`,
//!   else `https://api.pkg.store`): one resolve call for all the Store SDKs of a launch
//!   ([`StoreClient::resolve`]), downloads checked against the announced size and sha3-384 into
//!   `$WORKSHOP_CACHE/sdk/` ([`StoreClient::download`]), search and information for the `sdk`
//!   CLI. Every answer is bounded in size and time ([`Limits`]).
//! - [`try_area::fetch`] takes a try SDK from the user's try area, read as the user, into a
//!   root-only copy checked against its sidecar digest.
//!
//! Both give a [`VerifiedArchive`] for the tree store to extract. [`StoreActor`] serves the
//! client to the API front and the managers by messages; [`installed`] is what the routes ask
//! of the tree store.

mod actor;
mod archive;
mod catalog;
mod client;
mod config;
mod download;
mod error;
mod http;
pub mod installed;
mod resolve;
pub mod try_area;
mod wire;

#[cfg(any(test, feature = "fixture-store"))]
pub mod fixture;

#[cfg(test)]
mod tests;

pub use actor::{Download, Find, Info, Resolve, StoreActor};
pub use archive::{VerifiedArchive, is_digest, sha3_384_hex};
pub use catalog::full_info;
pub use client::StoreClient;
pub use config::{DEFAULT_URL, Limits, REFERENCE_URL_ENV, StoreConfig, URL_ENV};
pub use download::archive_name;
pub use error::StoreError;
pub use resolve::{DEFAULT_CHANNEL, ResolvedSdk, StoreSdk};
