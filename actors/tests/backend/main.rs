//! Integration tests of the LXD backend against a real LXD. They run only with
//! `WORKSHOP_TEST_LXD=1`; then LXD must work (pool `workshop`, bridge `workshopbr0`, images
//! `debian@12` and `ubuntu@22.04`, host ids 1000 mappable: see scripts/setup-lxd.sh).

mod common;
mod failures;
mod hooks;
mod lifecycle;
mod names;
mod rebuilds;
mod setup;
mod snapshots;
mod templates;
