//! Typed client of the workshopd v1 API over its Unix socket.
//!
//! Blocking and dependency-light: a small HTTP/1.1 writer and parser over
//! [`std::os::unix::net::UnixStream`] ([`http`]), the typed [`Client`] ([`client`]), and the exec
//! websockets ([`exec`]). Wire types come from `workshop_api`. [`table`], [`output`] and [`style`] are the
//! output conventions the `workshop` and `sdk` binaries share; [`completion`] their shell
//! completion scripts.

pub mod client;
pub mod completion;
pub mod exec;
#[doc(hidden)]
pub mod fake_daemon;
pub mod http;
pub mod output;
pub mod socket;
pub mod style;
pub mod table;

pub use client::{ApiError, ChangeConflict, ChangeSelect, Client, ClientError, WarningsSummary};
