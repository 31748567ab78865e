//! Test support, one file per fake or role: the fake vendors (`vendor`, `lexis_nexis`, `socure`, and over TLS `tls`), the raw client, the proxy in process (`proxy`) or as the real binary (`process`), the wire format they share, and readers of what the proxy wrote (`lines`, `metrics`).
//!
//! Everything is re-exported here, so a test says `use crate::support::*`.
//! Nothing here sleeps to synchronise; every wait is bounded by
//! [`TEST_BOUND`].

pub mod browser;
pub mod redis_server;
pub mod tls;

mod client;
mod fixtures;
mod lexis_nexis;
mod lines;
mod metrics;
mod process;
mod proxy;
mod socure;
mod vendor;
mod wire;

use std::time::Duration;

pub use client::*;
pub use fixtures::*;
pub use lexis_nexis::*;
pub use lines::*;
pub use metrics::*;
pub use process::*;
pub use proxy::*;
pub use socure::*;
pub use vendor::*;
pub use wire::*;

/// No single exchange in these tests should take longer; a hang fails fast.
pub const TEST_BOUND: Duration = Duration::from_secs(20);
