//! The proxy's Prometheus metrics: every series registered once at start,
//! updated with atomics only (counters, gauges, and histograms on lock-free
//! atomic buckets), rendered on the admin listener's `/metrics`.
//!
//! Each proxy has its own recorder, not the `metrics` global one, so several
//! proxies in one process (the tests) never mix their numbers.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use strum::VariantArray;

use crate::judge::pair::{Agreement, SocureOutcome};

const PREFIX: &str = "socure_shadow_proxy_";
/// The commit the build script found (`unknown` outside a git checkout
/// without `SHADOW_PROXY_COMMIT`), for `build_info`.
const COMMIT: &str = env!("SHADOW_PROXY_BUILD_COMMIT");
const METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);
/// Latency buckets in seconds: sub-millisecond proxy overhead up to the
/// upstream's 30 s timeout.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Whether a request went through the tap.
#[derive(Debug, Clone, Copy)]
pub enum Route {
    Shadowed = 0,
    Passthrough = 1,
    /// To be shadowed, but the mirror was full: forwarded without the tap.
    Shed = 2,
}

const ROUTES: [&str; 3] = ["shadowed", "passthrough", "shed"];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Which timeout closed a client connection (or failed a request body).
#[derive(Debug, Clone, Copy)]
pub enum Phase {
    /// No whole request head since accept.
    Header = 0,
    /// No request open for `listen.idle_timeout_seconds`.
    Idle = 1,
    /// A write to the client stalled.
    Write = 2,
    /// Drained at `listen.max_connection_age_seconds` (not cut).
    MaxAge = 3,
    /// A request body below its pace (the request got 408).
    RequestBody = 4,
    /// A tunnel with no bytes either way.
    TunnelIdle = 5,
}

const PHASES: [&str; 6] = [
    "header",
    "idle",
    "write",
    "max_age",
    "request_body",
    "tunnel_idle",
];

/// Why a mirror was not sent to Socure though the applicant was eligible.
#[derive(Debug, Clone, Copy)]
pub enum Skipped {
    /// `shadow.max_in_flight` calls already running.
    Capacity = 0,
    /// `socure.max_calls_per_day` reached.
    Budget = 1,
    /// The same applicant within `shadow.dedup_window_seconds`.
    Duplicate = 2,
}

const SKIP_REASONS: [&str; 3] = ["max_in_flight", "daily_budget", "duplicate"];

/// Which bound of the upstream requests in flight a request met
/// (`upstream::in_flight`'s error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyLimit {
    /// `listen.max_connections` for the process.
    Process = 0,
    /// An HTTP/2 connection's share, taken for the upstream timeout.
    Connection = 1,
}

const BUSY_LIMITS: [&str; 2] = ["process", "connection"];

/// Why a forward-proxy `CONNECT` was refused with 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectRefused {
    /// Not intercepted, and neither `tunnel_other_hosts` nor `tunnel_allow` lets it through.
    NotListed = 0,
    /// One of the proxy's own ports.
    OwnPort = 1,
    /// A port other than 443, not in `tunnel_allow`.
    Port = 2,
    /// An internal address, not in `tunnel_allow`.
    Internal = 3,
    /// An address an intercepted host's traffic goes to.
    InterceptedAddress = 4,
    /// An intercepted host at a port it is not intercepted at.
    InterceptedHostOtherPort = 5,
}

impl ConnectRefused {
    pub const ALL: [ConnectRefused; 6] = [
        ConnectRefused::NotListed,
        ConnectRefused::OwnPort,
        ConnectRefused::Port,
        ConnectRefused::Internal,
        ConnectRefused::InterceptedAddress,
        ConnectRefused::InterceptedHostOtherPort,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ConnectRefused::NotListed => "not_listed",
            ConnectRefused::OwnPort => "own_port",
            ConnectRefused::Port => "port",
            ConnectRefused::Internal => "internal",
            ConnectRefused::InterceptedAddress => "intercepted_address",
            ConnectRefused::InterceptedHostOtherPort => "intercepted_host_other_port",
        }
    }
}

/// The handles the proxy updates. Cloning is one reference count: a clone
/// is taken per shadowed request, on the forward path.
#[derive(Clone)]
pub struct Metrics(Arc<Series>);

/// What the mirror's door holds, read when `/metrics` is rendered.
#[derive(Debug, Clone, Copy)]
pub struct MirrorLoad {
    pub held: usize,
    pub peak: usize,
    pub max: usize,
    /// Bytes held for the mirror (request bodies, answer copies), their
    /// peak, and `shadow.max_buffered_bytes`.
    pub bytes: usize,
    pub bytes_peak: usize,
    pub max_bytes: usize,
}

type LoadProbe = Box<dyn Fn() -> MirrorLoad + Send + Sync>;
type CountProbe = Box<dyn Fn() -> usize + Send + Sync>;

struct Series {
    handle: PrometheusHandle,
    /// Set once the mirror exists; read at each render, never per request.
    load_probe: std::sync::OnceLock<LoadProbe>,
    /// Upstream requests in flight, read at each render.
    upstream_probe: std::sync::OnceLock<CountProbe>,
    upstream_in_flight: Gauge,
    upstream_busy: Vec<Counter>,
    pending: Gauge,
    pending_peak: Gauge,
    pending_max: Gauge,
    buffered: Gauge,
    buffered_peak: Gauge,
    buffered_max: Gauge,
    forwarded: Vec<Counter>,
    upstream_latency: Histogram,
    proxy_overhead: Histogram,
    timed_out: Vec<Counter>,
    mirrors_started: Counter,
    mirrors_shed: Counter,
    mirror_outcomes: Vec<Counter>,
    mirrors_skipped: Vec<Counter>,
    sampled_out: Counter,
    socure_latency: Histogram,
    in_flight: Gauge,
    lines_written: Counter,
    lines_lost: Counter,
    log_writable: Gauge,
    lines_aggregated: Counter,
    agreement: Vec<Counter>,
    fleet_calls: Vec<Counter>,
    fleet_latency: Histogram,
    connects_refused: Vec<Counter>,
}

/// What one call to the fleet's Redis came to: `(call, result)` labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetOutcome {
    Granted = 0,
    Refused = 1,
    ReserveFailed = 2,
    First = 3,
    Duplicate = 4,
    ClaimFailed = 5,
    /// A timed-out reservation taken back: it had been granted, and its
    /// call went back to the budget.
    Returned = 6,
    /// ... it had not run yet, and now never will.
    Barred = 7,
    /// ... without an answer in time: it may stay counted.
    WithdrawFailed = 8,
}

const FLEET_OUTCOMES: [(&str, &str); 9] = [
    ("reserve", "granted"),
    ("reserve", "refused"),
    ("reserve", "error"),
    ("claim", "first"),
    ("claim", "duplicate"),
    ("claim", "error"),
    ("withdraw", "returned"),
    ("withdraw", "barred"),
    ("withdraw", "error"),
];

/// Registers one series.
struct Registrar {
    recorder: PrometheusRecorder,
}

impl Registrar {
    fn describe(&self, kind: Kind, name: &str, help: &'static str) {
        let name = KeyName::from(format!("{PREFIX}{name}"));
        let help = SharedString::from(help);
        match kind {
            Kind::Counter => self.recorder.describe_counter(name, None, help),
            Kind::Gauge => self.recorder.describe_gauge(name, None, help),
            Kind::Histogram => self.recorder.describe_histogram(name, None, help),
        }
    }

    fn key(name: &str, labels: &[(&'static str, &'static str)]) -> Key {
        let labels: Vec<Label> = labels.iter().map(|(k, v)| Label::new(*k, *v)).collect();
        Key::from_parts(format!("{PREFIX}{name}"), labels)
    }

    fn counter(&self, name: &str, labels: &[(&'static str, &'static str)]) -> Counter {
        let counter = self
            .recorder
            .register_counter(&Self::key(name, labels), &METADATA);
        // Registered at zero, so the series exists before its first event.
        counter.increment(0);
        counter
    }

    fn counters(&self, name: &str, label: &'static str, values: &[&'static str]) -> Vec<Counter> {
        values
            .iter()
            .map(|value| self.counter(name, &[(label, value)]))
            .collect()
    }

    fn histogram(&self, name: &str) -> Histogram {
        self.recorder
            .register_histogram(&Self::key(name, &[]), &METADATA)
    }
}

/// The judge's labels of a fixed set, in variant order (so at `as usize`).
fn labels<T: VariantArray + Copy + Into<&'static str>>() -> Vec<&'static str> {
    T::VARIANTS.iter().map(|&v| v.into()).collect()
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        let r = Registrar { recorder };
        for (kind, name, help) in DESCRIPTIONS {
            r.describe(*kind, name, help);
        }
        let mut forwarded = Vec::with_capacity(ROUTES.len() * STATUS_CLASSES.len());
        for route in ROUTES {
            for class in STATUS_CLASSES {
                forwarded.push(r.counter(
                    "requests_forwarded_total",
                    &[("route", route), ("status_class", class)],
                ));
            }
        }
        // The usual `_info` gauge: always 1, the build in its labels, so a
        // dashboard can join any series to the version that produced it.
        r.recorder
            .register_gauge(
                &Registrar::key(
                    "build_info",
                    &[("version", env!("CARGO_PKG_VERSION")), ("commit", COMMIT)],
                ),
                &METADATA,
            )
            .set(1.0);
        let in_flight = r
            .recorder
            .register_gauge(&Registrar::key("mirrors_in_flight", &[]), &METADATA);
        in_flight.set(0.0);
        let gauge = |name: &str| {
            let gauge = r
                .recorder
                .register_gauge(&Registrar::key(name, &[]), &METADATA);
            gauge.set(0.0);
            gauge
        };
        Self(Arc::new(Series {
            handle,
            load_probe: std::sync::OnceLock::new(),
            upstream_probe: std::sync::OnceLock::new(),
            upstream_in_flight: gauge("upstream_in_flight"),
            upstream_busy: r.counters("upstream_busy_total", "limit", &BUSY_LIMITS),
            pending: gauge("mirrors_pending"),
            pending_peak: gauge("mirrors_pending_peak"),
            pending_max: gauge("mirrors_pending_max"),
            buffered: gauge("mirror_buffered_bytes"),
            buffered_peak: gauge("mirror_buffered_bytes_peak"),
            buffered_max: gauge("mirror_buffered_bytes_max"),
            forwarded,
            upstream_latency: r.histogram("upstream_latency_seconds"),
            proxy_overhead: r.histogram("proxy_overhead_seconds"),
            timed_out: r.counters("connections_timed_out_total", "phase", &PHASES),
            mirrors_started: r.counter("mirrors_started_total", &[]),
            mirrors_shed: r.counter("mirrors_shed_total", &[]),
            mirror_outcomes: r.counters(
                "mirrors_total",
                "socure_outcome",
                &labels::<SocureOutcome>(),
            ),
            mirrors_skipped: r.counters("mirrors_not_sent_total", "reason", &SKIP_REASONS),
            sampled_out: r.counter("mirrors_sampled_out_total", &[]),
            socure_latency: r.histogram("socure_latency_seconds"),
            in_flight,
            lines_written: r.counter("shadow_lines_written_total", &[]),
            lines_lost: r.counter("shadow_lines_lost_total", &[]),
            log_writable: {
                let writable = gauge("shadow_log_writable");
                writable.set(1.0);
                writable
            },
            lines_aggregated: r.counter("shadow_lines_aggregated_total", &[]),
            agreement: r.counters(
                "vendor_agreement_total",
                "agreement",
                &labels::<Agreement>(),
            ),
            fleet_calls: FLEET_OUTCOMES
                .iter()
                .map(|(call, result)| {
                    r.counter("fleet_calls_total", &[("call", call), ("result", result)])
                })
                .collect(),
            fleet_latency: r.histogram("fleet_latency_seconds"),
            connects_refused: r.counters(
                "connects_refused_total",
                "reason",
                &ConnectRefused::ALL.map(ConnectRefused::label),
            ),
        }))
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        if let Some(probe) = self.0.load_probe.get() {
            let load = probe();
            self.0.pending.set(load.held as f64);
            self.0.pending_peak.set(load.peak as f64);
            self.0.pending_max.set(load.max as f64);
            self.0.buffered.set(load.bytes as f64);
            self.0.buffered_peak.set(load.bytes_peak as f64);
            self.0.buffered_max.set(load.max_bytes as f64);
        }
        if let Some(probe) = self.0.upstream_probe.get() {
            self.0.upstream_in_flight.set(probe() as f64);
        }
        self.0.handle.render()
    }

    /// Where the `mirrors_pending*` gauges are read from (the first call wins).
    pub fn probe_mirror_load(&self, probe: impl Fn() -> MirrorLoad + Send + Sync + 'static) {
        let _ = self.0.load_probe.set(Box::new(probe));
    }

    /// Where the `upstream_in_flight` gauge is read from (the first call wins).
    pub fn probe_upstream(&self, probe: impl Fn() -> usize + Send + Sync + 'static) {
        let _ = self.0.upstream_probe.set(Box::new(probe));
    }

    /// A request answered 503 because too many were on their way upstream.
    pub fn upstream_busy(&self, limit: BusyLimit) {
        if let Some(counter) = self.0.upstream_busy.get(limit as usize) {
            counter.increment(1);
        }
    }

    /// Drains histogram samples into their buckets; run periodically so the
    /// samples of an unscraped proxy do not pile up.
    pub fn upkeep(&self) {
        self.0.handle.run_upkeep();
    }

    /// Runs [`Metrics::upkeep`] every `every` on a thread of its own, at the
    /// side threads' low priority, never on a forward-path worker; it ends
    /// once every handle to these metrics is gone.
    pub fn spawn_upkeep(&self, every: Duration) -> std::io::Result<()> {
        let series = Arc::downgrade(&self.0);
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                crate::sys::lower_priority();
                loop {
                    std::thread::sleep(every);
                    match series.upgrade() {
                        Some(series) => series.handle.run_upkeep(),
                        None => break,
                    }
                }
            })
            .map(drop)
    }

    /// One answer sent to a client, with the time the upstream took (if it
    /// was reached) and the time the whole request took in the proxy.
    pub fn forwarded(
        &self,
        route: Route,
        status: u16,
        upstream: Option<Duration>,
        total: Duration,
    ) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        if let Some(counter) = self
            .0
            .forwarded
            .get(route as usize * STATUS_CLASSES.len() + class)
        {
            counter.increment(1);
        }
        if let Some(upstream) = upstream {
            self.0.upstream_latency.record(upstream.as_secs_f64());
        }
        self.0.proxy_overhead.record(
            total
                .saturating_sub(upstream.unwrap_or_default())
                .as_secs_f64(),
        );
    }

    /// A connection closed (or drained, or a request body failed) by a timeout.
    pub fn timed_out(&self, phase: Phase) {
        if let Some(counter) = self.0.timed_out.get(phase as usize) {
            counter.increment(1);
        }
    }

    pub fn mirror_started(&self) {
        self.0.mirrors_started.increment(1);
    }

    pub fn mirror_shed(&self) {
        self.0.mirrors_shed.increment(1);
    }

    pub fn mirror_not_sent(&self, why: Skipped) {
        if let Some(counter) = self.0.mirrors_skipped.get(why as usize) {
            counter.increment(1);
        }
    }

    pub fn sampled_out(&self) {
        self.0.sampled_out.increment(1);
    }

    /// A Socure call began; pair with [`Metrics::socure_call_ended`].
    pub fn socure_call_started(&self) {
        self.0.in_flight.increment(1.0);
    }

    pub fn socure_call_ended(&self, elapsed: Duration) {
        self.0.in_flight.decrement(1.0);
        self.0.socure_latency.record(elapsed.as_secs_f64());
    }

    /// A line was made: its Socure outcome and how the vendors compared.
    pub fn line_made(&self, socure_outcome: SocureOutcome, agreement: Agreement) {
        if let Some(counter) = self.0.mirror_outcomes.get(socure_outcome as usize) {
            counter.increment(1);
        }
        if let Some(counter) = self.0.agreement.get(agreement as usize) {
            counter.increment(1);
        }
    }

    /// Proofing lines whole on disk.
    pub fn lines_written(&self, n: u64) {
        self.0.lines_written.increment(n);
    }

    pub fn line_lost(&self) {
        self.lines_lost(1);
    }

    pub fn lines_lost(&self, n: u64) {
        self.0.lines_lost.increment(n);
    }

    /// Whether the shadow log's last write (or open) worked.
    pub fn log_writable(&self, writable: bool) {
        self.0.log_writable.set(if writable { 1.0 } else { 0.0 });
    }

    /// A request whose line would carry no verdict, counted into a summary line
    /// instead of a line of its own.
    pub fn line_aggregated(&self) {
        self.0.lines_aggregated.increment(1);
    }

    /// One call to the fleet's Redis, and how long it took (to its answer,
    /// or to its failure).
    pub fn fleet_call(&self, outcome: FleetOutcome, elapsed: Duration) {
        if let Some(counter) = self.0.fleet_calls.get(outcome as usize) {
            counter.increment(1);
        }
        self.0.fleet_latency.record(elapsed.as_secs_f64());
    }

    /// A forward-proxy tunnel closed after `listen.tunnel_idle_timeout_seconds`
    /// without a byte either way.
    pub fn tunnel_idle_timed_out(&self) {
        self.timed_out(Phase::TunnelIdle);
    }

    /// A forward-proxy `CONNECT` answered 403.
    pub fn connect_refused(&self, why: ConnectRefused) {
        if let Some(counter) = self.0.connects_refused.get(why as usize) {
            counter.increment(1);
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Every family's `# HELP`.
const DESCRIPTIONS: &[(Kind, &str, &str)] = &[
    (
        Kind::Gauge,
        "build_info",
        "Always 1; the proxy's version and the commit it was built from, as labels.",
    ),
    (
        Kind::Counter,
        "fleet_calls_total",
        "Calls to the fleet's Redis ([fleet]), by call (reserve: a budget reservation; claim: the duplicate window; withdraw: a reservation that timed out, taken back in the background) and result (error: failed or timed out, fleet.on_error applied; a withdrawal returned a granted call to the budget, or barred a grant not yet run).",
    ),
    (
        Kind::Histogram,
        "fleet_latency_seconds",
        "Round trip of a call to the fleet's Redis, to its answer or its failure.",
    ),
    (
        Kind::Counter,
        "connects_refused_total",
        "Forward-proxy CONNECTs refused with 403, by reason: not_listed (listen.tunnel_other_hosts off, not in listen.tunnel_allow), own_port (the proxy's own data or admin port), port (not 443), internal (an internal address, IPv6 forms that carry one included), intercepted_address (where an intercepted host's traffic goes: never a blind tunnel), intercepted_host_other_port.",
    ),
    (
        Kind::Counter,
        "requests_forwarded_total",
        "Answers sent to clients, by route (shadowed or passthrough) and status class.",
    ),
    (
        Kind::Gauge,
        "upstream_in_flight",
        "Requests on their way to the upstream now, each holding an upstream connection until its answer's body is done; at most listen.max_connections, and 8 per HTTP/2 client connection.",
    ),
    (
        Kind::Counter,
        "upstream_busy_total",
        "Requests answered 503 because too many were on their way upstream, by the limit met (process: listen.max_connections; connection: an HTTP/2 connection's 8, taken for upstream.timeout_seconds).",
    ),
    (
        Kind::Histogram,
        "upstream_latency_seconds",
        "From sending a request to the upstream to its response head.",
    ),
    (
        Kind::Histogram,
        "proxy_overhead_seconds",
        "Time a request spent in the proxy itself, up to its response head, upstream time excluded.",
    ),
    (
        Kind::Counter,
        "connections_timed_out_total",
        "Client connections closed by a timeout, by phase (listen.*_timeout_seconds); max_age connections are drained, not cut; request_body counts requests answered 408; tunnel_idle counts forward-proxy tunnels quiet for listen.tunnel_idle_timeout_seconds.",
    ),
    (
        Kind::Counter,
        "mirrors_started_total",
        "Shadowed requests handed to the mirror (before sampling).",
    ),
    (
        Kind::Counter,
        "mirrors_total",
        "Mirrors completed, by the socure_outcome their line records.",
    ),
    (
        Kind::Counter,
        "mirrors_shed_total",
        "Shadowed requests forwarded without the mirror because shadow.max_pending or shadow.max_buffered_bytes were held (no line; counted in idv_socure_shadow_mode_shed lines).",
    ),
    (
        Kind::Counter,
        "shadow_lines_aggregated_total",
        "Admitted requests with no verdict from either vendor (refused, unreadable, or the client gone before LexisNexis answered; Socure not called), past 20 lines a second for the process: counted in idv_socure_shadow_mode_shed lines instead of a line each.",
    ),
    (
        Kind::Gauge,
        "mirror_buffered_bytes",
        "Bytes held for the mirror now: request bodies reserved at the door, answer copies as they grow.",
    ),
    (
        Kind::Gauge,
        "mirror_buffered_bytes_peak",
        "The most mirror_buffered_bytes has been.",
    ),
    (
        Kind::Gauge,
        "mirror_buffered_bytes_max",
        "shadow.max_buffered_bytes: the bound on mirror_buffered_bytes; past it requests are shed.",
    ),
    (
        Kind::Counter,
        "mirrors_not_sent_total",
        "Eligible applicants not sent to Socure, by reason.",
    ),
    (
        Kind::Counter,
        "mirrors_sampled_out_total",
        "Shadowed requests left out by shadow.sample_percent (no line).",
    ),
    (
        Kind::Histogram,
        "socure_latency_seconds",
        "Socure ID+ calls, start to judged answer or failure.",
    ),
    (
        Kind::Gauge,
        "mirrors_pending",
        "Shadowed requests held by the mirror now (admitted, line not yet written).",
    ),
    (
        Kind::Gauge,
        "mirrors_pending_peak",
        "The most shadowed requests the mirror has held at once since start.",
    ),
    (
        Kind::Gauge,
        "mirrors_pending_max",
        "shadow.max_pending: the bound on mirrors_pending; past it requests are shed.",
    ),
    (
        Kind::Gauge,
        "mirrors_in_flight",
        "Socure calls in flight now.",
    ),
    (
        Kind::Counter,
        "shadow_lines_written_total",
        "Shadow lines whole on disk: every byte accepted by the kernel.",
    ),
    (
        Kind::Counter,
        "shadow_lines_lost_total",
        "Shadow lines not on disk: a write failed or was cut short (the partial line is cut back), or the log could not be opened.",
    ),
    (
        Kind::Gauge,
        "shadow_log_writable",
        "1 while the shadow log's last write worked, 0 while it fails (full disk, gone directory); never affects /readyz.",
    ),
    (
        Kind::Counter,
        "vendor_agreement_total",
        "Lines by how the two vendors' verdicts compare.",
    ),
];
