//! A small typed client for LXD's REST API (`/1.0`), over the local Unix socket or HTTPS.
//!
//! It knows nothing about workshops. Calls are methods on [`Client`]; background operations are
//! awaited with LXD's `/wait` long-poll; exec and events use LXD's websockets.

#![warn(missing_docs)]

mod certificates;
mod client;
mod error;
mod events;
mod exec;
mod files;
mod images;
mod instances;
mod metadata;
mod networks;
mod operations;
mod profiles;
mod projects;
mod put;
mod serde_util;
mod server;
mod snapshots;
mod storage;
mod transport;
mod websocket;

pub use certificates::Certificate;
pub use client::{Client, Upload};
pub use error::{LxdError, Result, Unreachable};
pub use events::{Event, EventKind, EventStream, LifecycleEvent};
pub use exec::{ControlSender, ExecRequest, ExecResult, ExecSession, ExecStdin, OutputStream};
pub use files::{FileContent, FileInfo, FileKind, PushOptions};
pub use images::{AliasRef, Image, ImageAlias, ImageImport, RemoteImage};
pub use instances::{
    Instance, InstanceCreate, InstancePut, InstanceSource, InstanceState, NetworkAddress, NetworkState,
    StateAction,
};
pub use metadata::{InstanceMetadata, MetadataTemplate};
pub use networks::Network;
pub use operations::Operation;
pub use profiles::{Devices, Profile, ProfilePut};
pub use projects::Project;
pub use put::ConfigPut;
pub use server::{GpuCard, GpuDrm, ServerEnvironment, ServerInfo, ServerVersion, StorageDriverInfo};
pub use snapshots::InstanceSnapshot;
pub use storage::{StoragePool, StorageVolume, Usage};
pub use transport::{Endpoint, TlsIdentity, discover_socket};
