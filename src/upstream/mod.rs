//! The way to the resolution vendor: the pooled client, the hop-by-hop rules and the proxy's own answers, and where connections go.
//!
//! Below the data path, beside the shadow side: it knows nothing of Socure.

pub mod connect;
pub mod forward;
pub mod idle;
pub mod in_flight;
pub mod pool;
pub mod wire;
