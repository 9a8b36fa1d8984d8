//! Workshop daemon subsystems. Each subsystem is an actix actor that is a thin shell over a
//! plain struct; this crate knows nothing about HTTP, sockets or command-line parsing.
pub mod managers;
pub mod messages;

pub mod activity;
pub mod backend;
pub mod daemon;
pub mod dispatch;
pub mod doctor;
pub mod engine;
pub mod health;
pub mod project;
pub mod runner;
pub mod sdk;
pub mod space;
pub mod state;
pub mod store;
pub mod userfs;

/// The native LXD client (crate `lxd-client`), under the name the subsystems use.
pub use lxd_client as lxd;
