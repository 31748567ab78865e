//! The way to the resolution vendor: the pooled clients (hyper's and the lane's raw one), the hop-by-hop rules and the proxy's own answers.
//!
//! Below the data path, beside the shadow side: it knows nothing of Socure.

pub mod forward;
pub mod in_flight;
pub mod pool;
