//! What operators see and change while the proxy runs: the metrics, the live settings, the readiness flags, the periodic stats line, the diagnostic lines with JSON fields.
//!
//! Atomics only, read and written from anywhere above without a lock; the
//! admin listener (`ingress::admin`) serves them.

pub mod event;
pub mod live;
pub mod metrics;
pub mod readiness;
pub mod stats;
