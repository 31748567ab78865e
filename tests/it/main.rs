//! The integration tests, one binary: real sockets on 127.0.0.1, fake vendors started by each test (`support`), the proxy in process or as the real binary.
//!
//! One module per concern; `tests/timing` is the one test kept apart,
//! because it compares latencies and must not share the CPU.

mod support;

mod bounded;
mod browser_harness;
mod canaries;
mod cli;
mod demo_data;
mod disabled;
mod fault_matrix;
mod fleet;
mod forwarding;
mod hostile;
mod identity_idp_specs;
mod judging;
mod layers;
mod limits;
mod load;
mod one_line;
mod operations;
mod overload;
mod parsers_fuzz;
mod preflight;
mod report;
mod report_page;
mod sampling;
mod shadow_log;
mod shutdown;
mod socure_request;
mod tunnel;
mod ways_in;
