//! socure-shadow-proxy: forwards LexisNexis InstantVerify traffic unchanged, mirrors each applicant to Socure ID+, writes one paired line.
//!
//! The layers, lowest first. Each may import only from those before it (or
//! from its own folder); `tests/it/layers.rs` checks it.
//!
//! - `error`, `body`, `sys`: the shared bottom: the error alias and the cause
//!   walker, the body types, OS tuning.
//! - [`config`]: the typed configuration, its loading, its validation, and
//!   what a reload may change.
//! - [`judge`]: pure (a crate of its own, without I/O, clock or randomness):
//!   the applicant, both vendors' verdicts, the shadow line.
//! - `ops`: metrics, live settings, readiness; atomics only.
//! - `client`: the HTTP/1.1 client under both vendors' calls: where a
//!   connection goes and how it opens, the connections kept, the raw
//!   exchange. Each side builds its own pool from it.
//! - `upstream`: the pooled clients to LexisNexis (hyper's, the lane's raw one).
//! - `shadow`: the ticket (the one item of it the data path names), the
//!   door, the hand-off, the mirror tasks, the selection gate, the Socure
//!   client, the shadow log. It never imports the data path.
//! - `proxy`: one request's way: route, tap, forward, answer; the proxy's
//!   own answers (`ProxyError`).
//! - `ingress`: the listeners: the ports and the accept loop, one hyper
//!   setup, the framing watch, TLS, forward-proxy interception, the admin
//!   port.
//! - [`preflight`]: every step of a start that can fail short of binding,
//!   each problem named by its config key; `check-config` and `run` both
//!   call it, and the server starts from what it built.
//! - [`capacity`] (beside the preflight): what a configuration lets the
//!   proxy hold at worst, descriptors and memory, from the bounds and the
//!   buffer sizes the layers below define.
//! - [`server`]: the composition root: builds each component in turn,
//!   serves, shuts down in stages. Nothing imports it.
//!
//! One vendor, three words, each for one thing: `upstream` is the hop the
//! data path forwards to (a host and a pool, whatever answers there);
//! `resolution` is identity-idp's name for the stage that vendor serves, and
//! so the judge's and the line's (`resolution_result`); LexisNexis is the
//! vendor, in prose, in the fakes that stand in for it, in the fixtures'
//! folders and in what the report prints.
//!
//! The `report` command is not part of this library: it is the workspace
//! crate `socure-shadow-report` (`report/`), which depends on the judge
//! only, and the binary calls it.
//!
//! The modules are private; what the binary, the tests and the fuzz target
//! use is re-exported here.

mod body;
pub mod capacity;
mod client;
pub mod config;
mod error;
mod ingress;
mod ops;
pub mod preflight;
mod proxy;
pub mod server;
mod shadow;
mod sys;
mod upstream;

pub use socure_shadow_judge as judge;

pub use ingress::{authority, framing, tls};
pub use ops::event;
pub use shadow::fleet::{Fleet, FleetError};
pub use shadow::socure_client::SocureClient;
