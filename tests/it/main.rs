//! The integration tests, one binary: real sockets on 127.0.0.1, fake vendors started by each test (`support`), the proxy in process or as the real binary.
//!
//! One folder per topic, one module per concern within it; `tests/timing`
//! is the one test kept apart, because it compares latencies and must not
//! share the CPU. `cargo test --test it limits::` runs a topic.

mod support;

/// Every relative link in the README and docs/ resolves; the README stays one page.
mod doc_links;

/// The layers of `src/`, read from the code itself.
mod layers;

/// Secrets and PII never leave: canaries through every output, parsers fed garbage.
mod clean {
    mod canaries;
    mod parsers_fuzz;
}

/// The forward path: bytes unchanged, the ways into the IdV app's path, tunnels.
mod forwarding {
    mod bytes;
    mod lane;
    mod tunnel;
    mod ways_in;
}

/// Both vendors' results judged as identity-idp does.
mod judging {
    mod demo_data;
    mod fixtures;
    mod identity_idp_specs;
}

/// What a hostile, leaky or heavy client can hold, and the mirror's own bounds.
mod limits {
    mod clients;
    mod hostile;
    mod load;
    mod mirror;
}

/// Running it: the binary's start and preflight, the admin listener, shutdown.
mod ops {
    mod admin;
    mod ca_issue;
    mod cli;
    mod dashboards;
    mod preflight;
    mod shutdown;
}

/// `report` over line sets, and its HTML page in a headless browser.
mod report {
    mod browser_harness;
    mod built;
    mod decision;
    mod line_sets;
    mod page;
}

/// The shadow side: what is mirrored, what reaches Socure, one line per applicant, the log, the fleet.
mod shadow {
    mod disabled;
    mod fault_matrix;
    mod fleet;
    mod log;
    mod sampling;
    mod socure_request;
    mod socure_transport;
}
