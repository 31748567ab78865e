//! socure-shadow-proxy: forwards LexisNexis InstantVerify traffic unchanged, mirrors each applicant to Socure ID+, writes one paired line.
//!
//! The modules, in the order a request meets them:
//!
//! - [`config`]: typed configuration, environment overrides, validation.
//! - [`server`]: start-up, the accept loop, shutdown in bounded stages.
//! - [`intercept`]: forward-proxy mode: `CONNECT`, interception, tunnels.
//! - [`authority`]: the interception CA: `ca init`, minting and caching leaves.
//! - [`framing`]: watches raw request bytes for `Content-Length` with `Transfer-Encoding`.
//! - [`proxy`]: one request's way: route, tap if shadowed, forward, answer.
//! - [`forward`]: the pooled client to LexisNexis, hop-by-hop rules, 400/502/504.
//! - [`connect`]: where upstream connections go: `connect_to`, or DNS that skips the hosts file.
//! - [`tap`]: recognises InstantVerify, reads its body once, watches its answer go by.
//! - [`mirror`]: the background task per shadowed request: Socure call, pairing, line.
//! - [`selection`]: which applicants go to Socure: sticky sample, daily budget, duplicates.
//! - [`applicant`]: pure, request bytes to applicant.
//! - [`socure`]: the ID+ client; request mapping and response judging.
//! - [`resolution`]: pure, the LexisNexis exchange to `resolution_result`.
//! - [`verdict`]: the result shape both vendors are judged into.
//! - [`pair`]: both sides and their timings into one shadow line.
//! - [`sink`]: the one writer of the shadow log.
//! - [`metrics`]: the Prometheus series, updated with atomics only.
//! - [`live`]: what a SIGHUP reload changes while serving.
//! - [`admin`]: the admin listener: `/healthz`, `/readyz`, `/metrics`.
//! - [`tls`]: every rustls config: the verifying clients, the TLS listener.
//! - [`demo`]: built-in fake vendors and the `demo` command.

pub use socure_shadow_judge as judge;

pub mod admin;
pub mod authority;
pub mod body;
pub mod config;
pub mod connect;
pub mod demo;
pub mod error;
pub mod forward;
pub mod framing;
pub mod intercept;
pub mod live;
pub mod metrics;
pub mod mirror;
pub mod proxy;
pub mod selection;
pub mod server;
pub mod sink;
pub mod socure_client;
pub mod sys;
pub mod tap;
pub mod tls;
