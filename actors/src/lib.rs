//! Workshop daemon subsystems. Each subsystem is an actix actor that is a thin shell over a
//! plain struct; this crate knows nothing about HTTP, sockets or command-line parsing.
pub mod lxd;
pub mod project;
