//! Workshops end to end against the real LXD (`WORKSHOP_TEST_LXD=1`), driven through the CLI
//! as an unprivileged user.
