//! Wire types shared by `workshopd` and its clients (`workshop`, `workshopctl`).
//!
//! API boundary: every type that crosses the daemon's sockets is defined here, once, and
//! nothing else is. The JSON shapes follow the reference implementation's v1 API
//! (kebab-case keys). This crate depends on serde and chrono only.

pub mod changes;
pub mod connections;
pub mod data_home;
pub mod definition;
pub mod doctor;
pub mod duration;
pub mod envelope;
pub mod exec;
pub mod ids;
pub mod os_error;
pub mod paths;
pub mod projects;
pub mod routes;
pub mod sdk;
pub mod sdks;
pub mod space;
pub mod system;
pub mod warnings;
pub mod workshopctl;
pub mod workshops;
mod yaml_checks;

#[cfg(test)]
mod body_properties;

pub use changes::{ChangeAction, ChangeInfo, Progress, TaskInfo};
pub use envelope::{ChangeConflict, Envelope, ErrorKind, ErrorResult, Maintenance, ResponseType};
pub use projects::{Project, ProjectRequest};
pub use system::{LxdInfo, SystemInfo};
pub use warnings::{WarningAction, WarningInfo};

/// The version of this build, reported by `workshop version` and `GET /v1/system-info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
