//! What `/readyz` answers from: whether the data path takes traffic (not while draining).
//!
//! Readiness is the data path's alone. The shadow side (its log, Socure,
//! Redis) never makes the pod unready: the Kubernetes manifests use
//! `/readyz` as the IdV pod's readiness probe, so a full disk under the
//! shadow log would otherwise take the IdV app out of service. The log's
//! health is the `shadow_log_writable` gauge instead. Atomics only.

use std::sync::atomic::{AtomicBool, Ordering};

/// What `/readyz` reports on. The listener is bound and the upstream client
/// built before the admin listener starts, so those need no flag.
#[derive(Debug, Default)]
pub struct Readiness {
    draining: AtomicBool,
}

impl Readiness {
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// `Err` says why not ready.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.draining.load(Ordering::Relaxed) {
            return Err("draining\n");
        }
        Ok(())
    }
}
