//! A guest that reboots in a loop is not started again for ever: each workshop gets
//! [`MAX_RESTARTS`] starts after its guest's reboots within [`WINDOW`]; the next reboot leaves
//! it stopped (its owner is warned) and its count starts again from zero.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::backend::Target;

/// Starts after a reboot a workshop gets within [`WINDOW`].
pub const MAX_RESTARTS: usize = 5;
/// The window the starts are counted in.
pub const WINDOW: Duration = Duration::from_secs(600);
/// Workshops counted at most at once (beyond, the one started longest ago is forgotten).
const TRACKED: usize = 1024;

/// The warning of the owner of workshop `name` of the project at `path` when its guest
/// rebooted once too often.
pub fn warning(name: &str, path: &str) -> String {
    format!(
        "cannot start workshop {name:?} of project {path:?} again: its guest rebooted more than \
         {MAX_RESTARTS} times within {} minutes (start it with \"workshop start {name}\")",
        WINDOW.as_secs() / 60
    )
}

/// The recent starts after a reboot, per workshop.
#[derive(Debug, Default)]
pub struct RebootLoops {
    starts: HashMap<Target, VecDeque<Instant>>,
}

impl RebootLoops {
    /// Whether the workshop of `target`, whose guest rebooted at `now`, may be started again;
    /// a start allowed is counted, and a refusal forgets the workshop's count.
    pub fn allow(&mut self, target: &Target, now: Instant) -> bool {
        self.starts.retain(|_, starts| {
            while starts.front().is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW) {
                starts.pop_front();
            }
            !starts.is_empty()
        });
        if self.starts.get(target).is_some_and(|starts| starts.len() >= MAX_RESTARTS) {
            self.starts.remove(target);
            return false;
        }
        if self.starts.len() >= TRACKED && !self.starts.contains_key(target) {
            let oldest =
                self.starts.iter().min_by_key(|(_, starts)| starts.back().copied()).map(|(t, _)| t.clone());
            if let Some(oldest) = oldest {
                self.starts.remove(&oldest);
            }
        }
        self.starts.entry(target.clone()).or_default().push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workshop_rebooting_in_a_loop_is_left_stopped_then_counted_again() {
        let mut loops = RebootLoops::default();
        let (ws, other) = (Target::new("alice", "p1", "ws"), Target::new("alice", "p1", "other"));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        for i in 0..MAX_RESTARTS as u64 {
            assert!(loops.allow(&ws, at(i)), "start {i}");
        }
        assert!(loops.allow(&other, at(10)), "each workshop is counted on its own");
        assert!(!loops.allow(&ws, at(20)), "one reboot too many");
        // Started again by its owner: its reboots count from zero.
        assert!(loops.allow(&ws, at(30)));
        // Starts older than the window no longer count.
        let mut loops = RebootLoops::default();
        for i in 0..MAX_RESTARTS as u64 {
            assert!(loops.allow(&ws, at(i * 60)));
        }
        assert!(loops.allow(&ws, at(WINDOW.as_secs() + 1)), "the first start left the window");
        assert!(!loops.allow(&ws, at(WINDOW.as_secs() + 2)));
    }

    #[test]
    fn the_warning_says_what_to_do() {
        assert_eq!(
            warning("dev", "/home/alice/app"),
            "cannot start workshop \"dev\" of project \"/home/alice/app\" again: its guest rebooted more \
             than 5 times within 10 minutes (start it with \"workshop start dev\")"
        );
    }

    #[test]
    fn the_count_is_bounded_and_keeps_counting_new_loops() {
        let mut loops = RebootLoops::default();
        let t0 = Instant::now();
        let first = Target::new("alice", "p1", "w0");
        for i in 0..TRACKED + 10 {
            let at = t0 + Duration::from_millis(i as u64);
            assert!(loops.allow(&Target::new("alice", "p1", &format!("w{i}")), at));
        }
        assert_eq!(loops.starts.len(), TRACKED);
        assert!(!loops.starts.contains_key(&first), "the one started longest ago is forgotten");
        // A new loop is still counted, and stopped.
        let extra = Target::new("alice", "p1", "extra");
        let at = t0 + Duration::from_secs(1);
        for _ in 0..MAX_RESTARTS {
            assert!(loops.allow(&extra, at));
        }
        assert!(!loops.allow(&extra, at));
    }
}
