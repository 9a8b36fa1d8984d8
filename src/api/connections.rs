//! The open connections of every listener, counted so that the daemon stands by only when no
//! client is connected (an exec websocket is a connection too, for as long as it is open).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::dev::Extensions;

/// The count of open connections (cheap to clone, shared by every server's workers).
#[derive(Debug, Clone, Default)]
pub struct Connections(Arc<AtomicUsize>);

impl Connections {
    /// Counts the connection whose extensions these are until they are dropped with it.
    pub fn open(&self, ext: &mut Extensions) {
        self.0.fetch_add(1, Ordering::SeqCst);
        ext.insert(Open(self.0.clone()));
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Lives in a connection's extensions, which its dispatcher drops when the connection closes.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
