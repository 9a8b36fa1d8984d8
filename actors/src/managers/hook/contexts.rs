//! The live contexts of running hooks: a random cookie (the hook's `WORKSHOP_COOKIE`) names
//! the workshop, SDK and hook it was given to, and holds what `workshopctl set-health` said.
//! A context exists only while its hook runs: it is removed when the run ends, fails or is
//! cancelled (its [`Live`] guard is dropped with the handler), so a cookie that outlives its
//! hook names nothing.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use chrono::{DateTime, Utc};
use rand::distr::{Alphanumeric, SampleString};
use workshop_api::workshopctl::{COOKIE_LENGTH, HealthStatus, SetHealth};

use super::Hook;
use crate::backend::Target;
use crate::backend::lxd::origin::GuestWorkshop;

/// What a hook reported with `set-health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    pub status: HealthStatus,
    pub message: String,
    pub code: String,
    pub timestamp: DateTime<Utc>,
}

/// One running hook.
#[derive(Debug)]
struct Context {
    target: Target,
    sdk: String,
    hook: Hook,
    health: Option<HealthReport>,
}

/// The running hooks, by cookie.
#[derive(Debug, Default)]
pub struct Contexts {
    live: RefCell<HashMap<String, Context>>,
}

/// A running hook's context; dropping it ends the context.
#[derive(Debug)]
pub struct Live {
    contexts: Rc<Contexts>,
    cookie: String,
}

impl Live {
    pub fn cookie(&self) -> &str {
        &self.cookie
    }

    /// Ends the context and returns what the hook reported, if anything.
    pub fn finish(self) -> Option<HealthReport> {
        self.contexts.live.borrow_mut().remove(&self.cookie).and_then(|c| c.health)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.contexts.live.borrow_mut().remove(&self.cookie);
    }
}

/// A fresh cookie: 32 letters and digits from a cryptographically secure generator.
fn new_cookie() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), COOKIE_LENGTH)
}

impl Contexts {
    /// Starts the context of `hook` of `sdk` running in `target`.
    pub fn open(self: &Rc<Self>, target: Target, sdk: &str, hook: Hook) -> Live {
        let mut live = self.live.borrow_mut();
        let mut cookie = new_cookie();
        while live.contains_key(&cookie) {
            cookie = new_cookie();
        }
        live.insert(cookie.clone(), Context { target, sdk: sdk.to_string(), hook, health: None });
        Live { contexts: self.clone(), cookie }
    }

    /// The hook `cookie` names, when it runs in the caller's own workshop; nothing for any
    /// other cookie, so that a caller cannot tell another workshop's cookie from a made-up one.
    pub fn hook_of(&self, cookie: &str, caller: &GuestWorkshop) -> Option<Hook> {
        let live = self.live.borrow();
        live.get(cookie).filter(|c| caller.is(&c.target)).map(|c| c.hook)
    }

    /// Records `report` in the context `cookie` names (already matched by [`Self::hook_of`]).
    pub fn set_health(&self, cookie: &str, report: &SetHealth, now: DateTime<Utc>) {
        if let Some(c) = self.live.borrow_mut().get_mut(cookie) {
            tracing::debug!(sdk = %c.sdk, workshop = %c.target.name, status = report.status.as_str(), "set-health");
            c.health = Some(HealthReport {
                status: report.status,
                message: report.message.clone(),
                code: report.code.clone(),
                timestamp: now,
            });
        }
    }

    /// Whether no hook is running.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.live.borrow().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(user: &str, project_id: &str, name: &str) -> GuestWorkshop {
        GuestWorkshop {
            lxd_project: format!("workshop.{user}"),
            project_id: project_id.into(),
            workshop: name.into(),
        }
    }

    #[test]
    fn cookies_are_long_random_and_live_while_their_hook_runs() {
        let contexts = Rc::new(Contexts::default());
        let a = contexts.open(Target::new("alice", "0123abcd", "dev"), "one", Hook::CheckHealth);
        let b = contexts.open(Target::new("alice", "0123abcd", "dev"), "two", Hook::SetupBase);
        assert_eq!(a.cookie().len(), 32);
        assert!(a.cookie().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.cookie(), b.cookie());
        let dev = guest("alice", "0123abcd", "dev");
        assert_eq!(contexts.hook_of(a.cookie(), &dev), Some(Hook::CheckHealth));
        assert_eq!(contexts.hook_of(b.cookie(), &dev), Some(Hook::SetupBase));

        let cookie = a.cookie().to_string();
        let okay = SetHealth::new("okay", "", "").unwrap();
        contexts.set_health(&cookie, &okay, Utc::now());
        assert_eq!(a.finish().map(|h| h.status), Some(HealthStatus::Okay));
        assert_eq!(contexts.hook_of(&cookie, &dev), None, "an ended hook's cookie names nothing");
        let cookie = b.cookie().to_string();
        drop(b);
        assert_eq!(contexts.hook_of(&cookie, &dev), None, "a cancelled hook's cookie names nothing");
        assert!(contexts.is_empty());
    }

    #[test]
    fn a_cookie_speaks_only_for_its_own_workshop() {
        let contexts = Rc::new(Contexts::default());
        let live = contexts.open(Target::new("alice", "0123abcd", "dev"), "one", Hook::CheckHealth);
        for other in [
            guest("alice", "0123abcd", "prod"),
            guest("alice", "0123abce", "dev"),
            guest("bob", "0123abcd", "dev"),
        ] {
            assert_eq!(contexts.hook_of(live.cookie(), &other), None, "{other:?}");
        }
        assert_eq!(contexts.hook_of("", &guest("alice", "0123abcd", "dev")), None);
    }
}
