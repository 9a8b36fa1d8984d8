//! End-to-end tests: real `workshopd` processes, the real `workshop` CLI, real sockets; the
//! `workshops` module also needs a real LXD (`WORKSHOP_TEST_LXD=1`).

mod api;
mod cli;
mod connections;
mod data_home;
mod doctor;
mod exec;
mod fork;
mod guest;
mod hooks;
mod install;
mod layers;
mod messages;
mod names;
mod projects;
mod refresh;
mod sdk_cli;
mod sdks;
mod security;
mod sessions;
mod sketch;
mod snap;
mod sockets;
mod space;
mod systemd;
mod try_sdks;
mod workshops;
