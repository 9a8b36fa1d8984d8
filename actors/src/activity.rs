//! Work the daemon does outside any change: a template prepared in the background, the start
//! of the workshops LXD left stopped. Counted, so that the daemon does not stand by (exit until
//! the next request) while such work is under way.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The count of background jobs under way (cheap to clone, shared between threads).
#[derive(Debug, Clone, Default)]
pub struct Activity(Arc<AtomicUsize>);

impl Activity {
    /// Counts one job until the returned guard is dropped.
    #[must_use = "the job counts only while the guard lives"]
    pub fn begin(&self) -> Job {
        self.0.fetch_add(1, Ordering::SeqCst);
        Job(self.0.clone())
    }

    /// How many jobs are under way.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// One background job, counted while it lives.
#[derive(Debug)]
pub struct Job(Arc<AtomicUsize>);

impl Drop for Job {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_counts_while_its_guard_lives() {
        let activity = Activity::default();
        let first = activity.begin();
        let second = activity.clone().begin();
        assert_eq!(activity.count(), 2);
        drop(first);
        assert_eq!(activity.count(), 1);
        drop(second);
        assert_eq!(activity.count(), 0);
    }
}
