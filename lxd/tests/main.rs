//! Integration tests of the LXD client against a real LXD. They run only with
//! `WORKSHOP_TEST_LXD=1`; then LXD must work (pool `workshop`, image `debian@12`).

mod common;
mod events;
mod exec;
mod files;
mod https;
mod images;
mod instances;
mod networks;
mod profiles;
mod projects;
mod server;
mod storage;
