//! Shared helpers: opt-in switch, unique names, and a cleanup guard that removes what a test
//! created even when it panics.

use std::cell::RefCell;
use std::process::Command;

use workshop_actors::lxd::Client;

/// Pool and image the machine's setup script provides.
pub const POOL: &str = "workshop";
pub const IMAGE: &str = "debian@12";

/// The client, or None (after saying so) when LXD tests are not enabled.
pub fn lxd() -> Option<Client> {
    if std::env::var("WORKSHOP_TEST_LXD").as_deref() != Ok("1") {
        eprintln!("skipped: WORKSHOP_TEST_LXD not set");
        return None;
    }
    Some(Client::local().expect("LXD client"))
}

/// `wst-<test>-<random>`.
pub fn name(test: &str) -> String {
    format!("wst-{test}-{:08x}", rand::random::<u32>())
}

/// Runs `lxc` and returns its stdout; panics on failure.
pub fn lxc(args: &[&str]) -> String {
    let out = Command::new("lxc").args(args).output().expect("run lxc");
    assert!(out.status.success(), "lxc {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Cleanup commands (lxc argument lists) run in reverse order on drop, errors ignored.
#[derive(Default)]
pub struct Cleanup {
    commands: RefCell<Vec<Vec<String>>>,
}

impl Cleanup {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an `lxc` command to run at the end.
    pub fn lxc(&self, args: &[&str]) {
        self.commands.borrow_mut().push(args.iter().map(|s| s.to_string()).collect());
    }

    /// Deletes an instance (forced) at the end.
    pub fn instance(&self, project: &str, name: &str) {
        self.lxc(&["delete", "-f", "--project", project, name]);
    }

    /// Deletes a project at the end (register it before what lives in it).
    pub fn project(&self, name: &str) {
        self.lxc(&["project", "delete", name]);
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for args in self.commands.borrow().iter().rev() {
            match Command::new("lxc").args(args).output() {
                Ok(out) if !out.status.success() => {
                    let err = String::from_utf8_lossy(&out.stderr);
                    if !err.contains("not found") {
                        eprintln!("cleanup: lxc {args:?}: {}", err.trim());
                    }
                }
                Err(e) => eprintln!("cleanup: lxc {args:?}: {e}"),
                Ok(_) => {}
            }
        }
    }
}
