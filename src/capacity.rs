//! What a configuration lets the proxy hold at worst: file descriptors and memory, added up from each bound and the buffers under it.
//!
//! Every holder the proxy has is bounded by a key: client connections by
//! `listen.max_connections`; requests open at once by the same number (a
//! request takes its place on the way upstream before its body is read:
//! `upstream::in_flight`), plus, when `listen.http2_max_concurrent_streams`
//! passes an HTTP/2 connection's eight places, the streams waiting for one;
//! the mirror by `shadow.max_pending` and `shadow.max_buffered_bytes`; Socure
//! calls by `shadow.max_in_flight`. The sums here are what docs/limits.md's
//! "Memory ceiling" explains, from the same constants the code uses, so the
//! figure cannot drift from the code; the per-holder overheads (a task, a
//! connection's bookkeeping) are measured figures, rounded up
//! (`benches/hostile_memory.sh`).
//!
//! Pure arithmetic over the config: `run` logs it at start and warns when
//! the process's descriptor limit is below what the configuration may use.

use crate::config::{Config, ListenMode};
use crate::ingress::admin;
use crate::ingress::serve::{HTTP2_CONNECTION_WINDOW, HTTP2_SEND_BUFFER};
use crate::proxy::plain;
use crate::upstream::forward::UPSTREAM_READ_BUFFER;
use crate::upstream::in_flight::PER_CLIENT_CONNECTION;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// The memory docs/limits.md states as the ceiling of the defaults.
pub const STATED_CEILING: u64 = 256 * MIB;

/// A client connection's own state beside its buffers: its task, the
/// watchdog, the framing watch, TLS records in and out.
const CONNECTION_OVERHEAD: u64 = 32 * KIB;
/// An open request's task and state, the HTTP/2 stream's bookkeeping.
const REQUEST_OVERHEAD: u64 = 16 * KIB;
/// An upstream connection carrying an answer: its read buffer (bounded by
/// `forward::UPSTREAM_READ_BUFFER`), its write buffer and bookkeeping.
const UPSTREAM_CONNECTION: u64 = 96 * KIB;
/// A mirror slot beside its budgeted bytes: the task, the parsed
/// applicant, the verdicts, the line waiting for the writer.
const SLOT_OVERHEAD: u64 = 8 * KIB;
/// A Socure call's connection (its answer's bytes are in the mirror's
/// budget).
const SOCURE_CONNECTION: u64 = 48 * KIB;
/// The process with nothing to do: code, runtimes, metrics (measured idle
/// RSS is about 20 MiB).
const BASELINE: u64 = 24 * MIB;

/// Descriptors kept free of every bound above: the admin port's
/// connections, and the fixed ones (listeners, the log, stdio, the
/// runtime's epoll and timers, Redis, DNS sockets).
const FIXED_DESCRIPTORS: u64 = 64;

/// The worst case of one configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// File descriptors the configuration may have open at once.
    pub descriptors: u64,
    pub memory: Memory,
}

/// Memory at worst, by holder, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Every client connection with its buffers full: an HTTP/1 head up to
    /// `max_header_bytes` read and as much queued to write, or an HTTP/2
    /// connection's unread window and header block.
    pub connections: u64,
    /// Every open request: its head, its task, and its answer on the way
    /// (an upstream connection, and HTTP/2's queued answer bytes).
    pub requests: u64,
    /// The mirror: its byte budget (request bodies, answer copies, Socure
    /// answers), its slots, its Socure connections.
    pub mirror: u64,
    pub baseline: u64,
}

impl Memory {
    pub fn total(&self) -> u64 {
        self.connections + self.requests + self.mirror + self.baseline
    }
}

/// The worst case `config` allows.
pub fn of(config: &Config) -> Capacity {
    let listen = &config.listen;
    let connections = listen.max_connections as u64;
    let head = listen.max_header_bytes as u64;
    let streams = u64::from(listen.http2_max_concurrent_streams);
    // HTTP/2 streams past a connection's places wait for one, each with
    // its head and task, answer-less.
    let waiting = connections * streams.saturating_sub(PER_CLIENT_CONNECTION as u64);
    let http1 = 2 * head;
    let http2 = head + u64::from(HTTP2_CONNECTION_WINDOW);
    let per_connection = http1.max(http2) + CONNECTION_OVERHEAD;
    let per_request = head + REQUEST_OVERHEAD + UPSTREAM_CONNECTION + HTTP2_SEND_BUFFER as u64;
    // A connection on the hand-written lane holds its own buffers instead
    // of hyper's (and an upstream connection of the lane's pool): the
    // larger of the two ways counts.
    // Its upstream connection's read buffer is among the lane's buffers.
    let lane = CONNECTION_OVERHEAD
        + REQUEST_OVERHEAD
        + (UPSTREAM_CONNECTION - UPSTREAM_READ_BUFFER as u64)
        + plain::worst_buffers(listen.max_header_bytes) as u64;
    let per_request = per_request.max(lane.saturating_sub(per_connection));
    let shadow = &config.shadow;
    let memory = Memory {
        connections: connections * per_connection,
        requests: connections * per_request + waiting * (head + REQUEST_OVERHEAD),
        mirror: shadow.max_buffered_bytes as u64
            + shadow.max_pending as u64 * SLOT_OVERHEAD
            + shadow.max_in_flight as u64 * SOCURE_CONNECTION,
        baseline: BASELINE,
    };
    // A tunnel holds its client connection and one to its far end.
    let tunnels = match listen.mode {
        ListenMode::ForwardProxy(_) => connections,
        ListenMode::Reverse { .. } => 0,
    };
    // Upstream connections: those carrying requests, and as many again
    // connecting or idle in the pool (a connect that lost the race to an
    // idle connection joins the pool); Socure's likewise.
    let descriptors = connections
        + tunnels
        + 2 * connections
        + 2 * shadow.max_in_flight as u64
        + admin::MAX_CONNECTIONS as u64
        + FIXED_DESCRIPTORS;
    Capacity {
        descriptors,
        memory,
    }
}

/// `bytes` in MiB, rounded up, for the logs.
pub fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(MIB)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        Config::from_toml(
            &format!(
                "[upstream]\nbase_url = \"https://lexisnexis.example\"\n\
                 [shadow]\nenabled = true\ninstant_verify_workflow = \"wf\"\n\
                 [socure]\nbase_url = \"https://socure.example\"\n{extra}"
            ),
            &std::collections::HashMap::from([(
                "SOCURE_IDPLUS_API_KEY".to_owned(),
                "fake-key".to_owned(),
            )]),
        )
        .expect("a valid config")
    }

    #[test]
    fn the_defaults_stay_under_the_stated_ceiling() {
        let defaults = of(&config(""));
        assert!(
            defaults.memory.total() <= STATED_CEILING,
            "{} MiB",
            mib(defaults.memory.total())
        );
        // Reverse mode: 512 clients, 1,024 upstream, 512 Socure, reserve.
        assert_eq!(defaults.descriptors, 512 + 1024 + 512 + 64 + 64);
    }

    #[test]
    fn every_bound_moves_the_worst_case() {
        let base = of(&config("")).memory;
        for extra in [
            "[listen]\nmax_connections = 1024\n",
            "[listen]\nmax_header_bytes = 65536\n",
            "[listen]\nhttp2_max_concurrent_streams = 100\n",
        ] {
            let bigger = of(&config(extra)).memory;
            assert!(bigger.total() > base.total(), "{extra}");
        }
        let more_streams = of(&config("[listen]\nhttp2_max_concurrent_streams = 100\n")).memory;
        assert_eq!(more_streams.connections, base.connections);
        assert_eq!(
            more_streams.requests - base.requests,
            512 * 92 * (32 * KIB + REQUEST_OVERHEAD),
            "92 waiting streams per connection"
        );
    }
}
