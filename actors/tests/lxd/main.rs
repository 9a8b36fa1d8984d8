//! Integration tests of the LXD client against a real LXD. They run only with
//! `WORKSHOP_TEST_LXD=1`; then LXD must work (pool `workshop`, image `debian@12`).

mod common;
mod server;
