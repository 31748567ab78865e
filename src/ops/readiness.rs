//! What `/readyz` answers from: draining, and whether the shadow log can be written.
//!
//! Flags set by the server (draining) and the shadow log's writer, read by
//! the admin listener; atomics only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What `/readyz` reports on. The listener is bound and the upstream client
/// built before the admin listener starts, so those need no flag.
#[derive(Debug, Default)]
pub struct Readiness {
    draining: AtomicBool,
    /// Set by the shadow log's writer; `None` when shadow mode is off.
    sink_writable: Option<Arc<AtomicBool>>,
}

impl Readiness {
    pub fn new(sink_writable: Option<Arc<AtomicBool>>) -> Self {
        Self {
            draining: AtomicBool::new(false),
            sink_writable,
        }
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// `Err` says why not ready.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.draining.load(Ordering::Relaxed) {
            return Err("draining\n");
        }
        if self
            .sink_writable
            .as_ref()
            .is_some_and(|w| !w.load(Ordering::Relaxed))
        {
            return Err("shadow log not writable\n");
        }
        Ok(())
    }
}
