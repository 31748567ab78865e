//! The listeners: the ports, how connections come in and become requests for the data path (data port, TLS, forward-proxy interception) or the admin port.
//!
//! Above the data path: it hands each request to `proxy`, and imports nothing
//! from the server that composes it.

pub mod admin;
pub mod authority;
pub mod deadline;
pub mod framing;
pub mod intercept;
pub mod lane;
pub mod listeners;
pub mod serve;
pub mod tls;
pub mod tunnel;
