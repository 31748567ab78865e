//! The proxy's Prometheus metrics: every series registered once at start,
//! updated with atomics only (counters, gauges, and histograms on lock-free
//! atomic buckets), rendered on the admin listener's `/metrics`.
//!
//! Each proxy has its own recorder, not the `metrics` global one, so several
//! proxies in one process (the tests) never mix their numbers.
//!
//! Each labelled family's values are an enum's variants, labelled by strum:
//! registration walks the variants, and a variant's discriminant is the
//! index of its counter, so a value is added or renamed in one place.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use strum::{EnumCount, VariantArray};

use crate::config::reload::LiveSettings;
use crate::judge::pair::{Agreement, SocureOutcome};

/// Before every family's name.
pub const PREFIX: &str = "socure_shadow_proxy_";
// The families the periodic stats line reads back out of the rendered text.
pub const REQUESTS_FORWARDED: &str = "requests_forwarded_total";
pub const MIRRORS_STARTED: &str = "mirrors_started_total";
pub const MIRRORS_SHED: &str = "mirrors_shed_total";
pub const MIRRORS_SAMPLED_OUT: &str = "mirrors_sampled_out_total";
pub const LINES_WRITTEN: &str = "shadow_lines_written_total";
pub const LINES_LOST: &str = "shadow_lines_lost_total";
pub const LOG_WRITABLE: &str = "shadow_log_writable";
pub const MIRRORS: &str = "mirrors_total";
/// `mirrors_total`'s label.
pub const SOCURE_OUTCOME: &str = "socure_outcome";
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, VariantArray, EnumCount)]
#[strum(serialize_all = "snake_case")]
pub enum Route {
    Shadowed,
    Passthrough,
    /// To be shadowed, but the mirror was full: forwarded without the tap.
    Shed,
}

/// `status_class` labels, by the status code's first digit less one.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Which timeout closed a client connection (or failed a request body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, VariantArray, EnumCount)]
#[strum(serialize_all = "snake_case")]
pub enum Phase {
    /// No whole request head since accept.
    Header,
    /// No request open for `listen.idle_timeout_seconds`.
    Idle,
    /// A write to the client stalled.
    Write,
    /// Drained at `listen.max_connection_age_seconds` (not cut).
    MaxAge,
    /// A request body below its pace (the request got 408).
    RequestBody,
    /// A tunnel with no bytes either way.
    TunnelIdle,
}

/// Why a mirror was not sent to Socure though the applicant was eligible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, VariantArray, EnumCount)]
pub enum Skipped {
    /// `shadow.max_in_flight` calls already running.
    #[strum(serialize = "max_in_flight")]
    Capacity,
    /// `socure.max_calls_per_day` reached.
    #[strum(serialize = "daily_budget")]
    Budget,
    /// The same applicant within `shadow.dedup_window_seconds`.
    #[strum(serialize = "duplicate")]
    Duplicate,
}

/// Which bound of the upstream requests in flight a request met
/// (`upstream::in_flight`'s error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, VariantArray, EnumCount)]
#[strum(serialize_all = "snake_case")]
pub enum BusyLimit {
    /// `listen.max_connections` for the process.
    Process,
    /// An HTTP/2 connection's share, taken for the upstream timeout.
    Connection,
}

/// Why a forward-proxy `CONNECT` was refused with 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, VariantArray, EnumCount)]
#[strum(serialize_all = "snake_case")]
pub enum ConnectRefused {
    /// Not intercepted, and neither `tunnel_other_hosts` nor `tunnel_allow` lets it through.
    NotListed,
    /// One of the proxy's own ports.
    OwnPort,
    /// A port other than 443, not in `tunnel_allow`.
    Port,
    /// An internal address, not in `tunnel_allow`.
    Internal,
    /// An address an intercepted host's traffic goes to.
    InterceptedAddress,
    /// An intercepted host at a port it is not intercepted at.
    InterceptedHostOtherPort,
}

/// What one call to the fleet's Redis came to: its label is the `result`,
/// [`FleetOutcome::call`] the `call`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, VariantArray, EnumCount)]
#[strum(serialize_all = "snake_case")]
pub enum FleetOutcome {
    Granted,
    Refused,
    #[strum(serialize = "error")]
    ReserveFailed,
    First,
    Duplicate,
    #[strum(serialize = "error")]
    ClaimFailed,
    /// A timed-out reservation taken back: it had been granted, and its
    /// call went back to the budget.
    Returned,
    /// ... it had not run yet, and now never will.
    Barred,
    /// ... without an answer in time: it may stay counted.
    #[strum(serialize = "error")]
    WithdrawFailed,
}

/// Which call to the fleet's Redis: `fleet_calls_total`'s `call` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum FleetCall {
    /// A budget reservation.
    Reserve,
    /// The duplicate window.
    Claim,
    /// A reservation that timed out, taken back in the background.
    Withdraw,
}

impl FleetOutcome {
    pub fn call(self) -> FleetCall {
        match self {
            FleetOutcome::Granted | FleetOutcome::Refused | FleetOutcome::ReserveFailed => {
                FleetCall::Reserve
            }
            FleetOutcome::First | FleetOutcome::Duplicate | FleetOutcome::ClaimFailed => {
                FleetCall::Claim
            }
            FleetOutcome::Returned | FleetOutcome::Barred | FleetOutcome::WithdrawFailed => {
                FleetCall::Withdraw
            }
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
    load_probe: OnceLock<LoadProbe>,
    /// Upstream requests in flight, read at each render.
    upstream_probe: OnceLock<CountProbe>,
    requests: RequestSeries,
    load: LoadSeries,
    mirror: MirrorSeries,
    log: LogSeries,
    fleet: FleetSeries,
    state: StateSeries,
}

/// The settings in force and how the last reload went: what an operator
/// cannot otherwise see after a SIGHUP short of the log.
struct StateSeries {
    shadow_enabled: Gauge,
    sample_percent: Gauge,
    max_calls_per_day: Gauge,
    reload_success: Gauge,
    reload_time: Gauge,
}

impl StateSeries {
    fn register(r: &Registrar) -> Self {
        Self {
            shadow_enabled: r.gauge(
                "shadow_enabled",
                0.0,
                "shadow.enabled in force: 1 when requests are shadowed, 0 when off (live: a reload changes it).",
            ),
            sample_percent: r.gauge(
                "sample_percent",
                0.0,
                "shadow.sample_percent in force: the share of applicants mirrored, 0 to 100 (live).",
            ),
            max_calls_per_day: r.gauge(
                "max_calls_per_day",
                f64::INFINITY,
                "socure.max_calls_per_day in force: Socure calls per UTC day, +Inf when unlimited (live).",
            ),
            reload_success: r.gauge(
                "config_last_reload_success",
                1.0,
                "1 when the last configuration load succeeded (the start, or the last SIGHUP), 0 when the last reload was refused and the configuration before it stays in force.",
            ),
            reload_time: r.gauge(
                "config_last_reload_timestamp_seconds",
                0.0,
                "When the configuration was last loaded or a reload last tried, in Unix seconds.",
            ),
        }
    }
}

/// The data path's: answers, latencies, timeouts, refusals.
struct RequestSeries {
    forwarded: [[Counter; STATUS_CLASSES.len()]; Route::COUNT],
    upstream_latency: Histogram,
    proxy_overhead: Histogram,
    upstream_in_flight: Gauge,
    upstream_busy: [Counter; BusyLimit::COUNT],
    timed_out: [Counter; Phase::COUNT],
    connects_refused: [Counter; ConnectRefused::COUNT],
}

/// What the mirror holds, set from the probe at each render.
struct LoadSeries {
    pending: Gauge,
    pending_peak: Gauge,
    pending_max: Gauge,
    buffered: Gauge,
    buffered_peak: Gauge,
    buffered_max: Gauge,
}

/// The shadow side's: mirrors, Socure calls, and what each line said.
struct MirrorSeries {
    started: Counter,
    shed: Counter,
    sampled_out: Counter,
    queued: Counter,
    skipped: [Counter; Skipped::COUNT],
    in_flight: Gauge,
    socure_latency: Histogram,
    outcomes: [Counter; SocureOutcome::VARIANTS.len()],
    agreement: [Counter; Agreement::VARIANTS.len()],
}

/// The shadow log's.
struct LogSeries {
    written: Counter,
    lost: Counter,
    aggregated: Counter,
    writable: Gauge,
}

struct FleetSeries {
    calls: [Counter; FleetOutcome::COUNT],
    latency: Histogram,
}

/// Registers each series with its `# HELP`.
struct Registrar {
    recorder: PrometheusRecorder,
}

impl Registrar {
    fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        Self { recorder }
    }

    fn key_name(name: &str) -> KeyName {
        KeyName::from(format!("{PREFIX}{name}"))
    }

    fn describe_counter(&self, name: &str, help: &'static str) {
        self.recorder
            .describe_counter(Self::key_name(name), None, SharedString::from(help));
    }

    fn key(name: &str, labels: &[(&'static str, &'static str)]) -> Key {
        let labels: Vec<Label> = labels.iter().map(|(k, v)| Label::new(*k, *v)).collect();
        Key::from_parts(format!("{PREFIX}{name}"), labels)
    }

    /// One counter of a family already described, registered at zero so
    /// the series exists before its first event.
    fn labelled(&self, name: &str, labels: &[(&'static str, &'static str)]) -> Counter {
        let counter = self
            .recorder
            .register_counter(&Self::key(name, labels), &METADATA);
        counter.increment(0);
        counter
    }

    fn counter(&self, name: &str, help: &'static str) -> Counter {
        self.describe_counter(name, help);
        self.labelled(name, &[])
    }

    /// One counter per variant of `T`, labelled `key="<its label>"`, in
    /// the variants' order: a variant's discriminant indexes its counter.
    fn family<T, const N: usize>(
        &self,
        name: &str,
        key: &'static str,
        help: &'static str,
    ) -> [Counter; N]
    where
        T: VariantArray + Copy + Into<&'static str>,
    {
        const { assert!(T::VARIANTS.len() == N, "one counter per variant") };
        self.describe_counter(name, help);
        std::array::from_fn(|i| self.labelled(name, &[(key, T::VARIANTS[i].into())]))
    }

    /// A gauge set to `at` now.
    fn gauge(&self, name: &str, at: f64, help: &'static str) -> Gauge {
        self.recorder
            .describe_gauge(Self::key_name(name), None, SharedString::from(help));
        let gauge = self
            .recorder
            .register_gauge(&Self::key(name, &[]), &METADATA);
        gauge.set(at);
        gauge
    }

    fn histogram(&self, name: &str, help: &'static str) -> Histogram {
        self.recorder
            .describe_histogram(Self::key_name(name), None, SharedString::from(help));
        self.recorder
            .register_histogram(&Self::key(name, &[]), &METADATA)
    }

    /// The usual `_info` gauge: always 1, the build in its labels, so a
    /// dashboard can join any series to the version that produced it.
    fn build_info(&self) {
        let name = "build_info";
        self.recorder.describe_gauge(
            Self::key_name(name),
            None,
            SharedString::from(
                "Always 1; the proxy's version and the commit it was built from, as labels.",
            ),
        );
        self.recorder
            .register_gauge(
                &Self::key(
                    name,
                    &[("version", env!("CARGO_PKG_VERSION")), ("commit", COMMIT)],
                ),
                &METADATA,
            )
            .set(1.0);
    }
}

impl RequestSeries {
    fn register(r: &Registrar) -> Self {
        r.describe_counter(
            REQUESTS_FORWARDED,
            "Answers sent to clients, by route (shadowed or passthrough) and status class.",
        );
        let forwarded = std::array::from_fn(|route| {
            std::array::from_fn(|class| {
                r.labelled(
                    REQUESTS_FORWARDED,
                    &[
                        ("route", Route::VARIANTS[route].into()),
                        ("status_class", STATUS_CLASSES[class]),
                    ],
                )
            })
        });
        Self {
            forwarded,
            upstream_latency: r.histogram(
                "upstream_latency_seconds",
                "From sending a request to the upstream to its response head.",
            ),
            proxy_overhead: r.histogram(
                "proxy_overhead_seconds",
                "Time a request spent in the proxy itself, up to its response head, upstream time excluded.",
            ),
            upstream_in_flight: r.gauge(
                "upstream_in_flight",
                0.0,
                "Requests on their way to the upstream now, each holding an upstream connection until its answer's body is done; at most listen.max_connections, and 8 per HTTP/2 client connection.",
            ),
            upstream_busy: r.family::<BusyLimit, _>(
                "upstream_busy_total",
                "limit",
                "Requests answered 503 because too many were on their way upstream, by the limit met (process: listen.max_connections; connection: an HTTP/2 connection's 8, taken for upstream.timeout_seconds).",
            ),
            timed_out: r.family::<Phase, _>(
                "connections_timed_out_total",
                "phase",
                "Client connections closed by a timeout, by phase (listen.*_timeout_seconds); max_age connections are drained, not cut; request_body counts requests answered 408; tunnel_idle counts forward-proxy tunnels quiet for listen.tunnel_idle_timeout_seconds.",
            ),
            connects_refused: r.family::<ConnectRefused, _>(
                "connects_refused_total",
                "reason",
                "Forward-proxy CONNECTs refused with 403, by reason: not_listed (listen.tunnel_other_hosts off, not in listen.tunnel_allow), own_port (the proxy's own data or admin port), port (not 443), internal (an internal address, IPv6 forms that carry one included), intercepted_address (where an intercepted host's traffic goes: never a blind tunnel), intercepted_host_other_port.",
            ),
        }
    }
}

impl LoadSeries {
    fn register(r: &Registrar) -> Self {
        Self {
            pending: r.gauge(
                "mirrors_pending",
                0.0,
                "Shadowed requests held by the mirror now (admitted, line not yet written).",
            ),
            pending_peak: r.gauge(
                "mirrors_pending_peak",
                0.0,
                "The most shadowed requests the mirror has held at once since start.",
            ),
            pending_max: r.gauge(
                "mirrors_pending_max",
                0.0,
                "shadow.max_pending: the bound on mirrors_pending; past it requests are shed.",
            ),
            buffered: r.gauge(
                "mirror_buffered_bytes",
                0.0,
                "Bytes held for the mirror now: request bodies reserved at the door, answer copies as they grow.",
            ),
            buffered_peak: r.gauge(
                "mirror_buffered_bytes_peak",
                0.0,
                "The most mirror_buffered_bytes has been.",
            ),
            buffered_max: r.gauge(
                "mirror_buffered_bytes_max",
                0.0,
                "shadow.max_buffered_bytes: the bound on mirror_buffered_bytes; past it requests are shed.",
            ),
        }
    }

    fn set(&self, load: MirrorLoad) {
        self.pending.set(load.held as f64);
        self.pending_peak.set(load.peak as f64);
        self.pending_max.set(load.max as f64);
        self.buffered.set(load.bytes as f64);
        self.buffered_peak.set(load.bytes_peak as f64);
        self.buffered_max.set(load.max_bytes as f64);
    }
}

impl MirrorSeries {
    fn register(r: &Registrar) -> Self {
        Self {
            started: r.counter(
                MIRRORS_STARTED,
                "Shadowed requests handed to the mirror (before sampling).",
            ),
            shed: r.counter(
                MIRRORS_SHED,
                "Shadowed requests forwarded without the mirror because shadow.max_pending or shadow.max_buffered_bytes were held (no line; counted in idv_socure_shadow_mode_shed lines).",
            ),
            sampled_out: r.counter(
                MIRRORS_SAMPLED_OUT,
                "Shadowed requests left out by shadow.sample_percent (no line).",
            ),
            queued: r.counter(
                "mirrors_queued_total",
                "Socure calls that found shadow.max_in_flight calls running and waited for a place (up to shadow.queue_timeout_seconds; those still without one are counted in mirrors_not_sent_total{reason=\"max_in_flight\"}).",
            ),
            skipped: r.family::<Skipped, _>(
                "mirrors_not_sent_total",
                "reason",
                "Eligible applicants not sent to Socure, by reason.",
            ),
            in_flight: r.gauge(
                "mirrors_in_flight",
                0.0,
                "Socure calls in flight now.",
            ),
            socure_latency: r.histogram(
                "socure_latency_seconds",
                "Socure ID+ calls, start to judged answer or failure.",
            ),
            outcomes: r.family::<SocureOutcome, _>(
                MIRRORS,
                SOCURE_OUTCOME,
                "Mirrors completed, by the socure_outcome their line records.",
            ),
            agreement: r.family::<Agreement, _>(
                "vendor_agreement_total",
                "agreement",
                "Lines by how the two vendors' verdicts compare.",
            ),
        }
    }
}

impl LogSeries {
    fn register(r: &Registrar) -> Self {
        Self {
            written: r.counter(
                LINES_WRITTEN,
                "Shadow lines whole on disk: every byte accepted by the kernel.",
            ),
            lost: r.counter(
                LINES_LOST,
                "Shadow lines not on disk: a write failed or was cut short (the partial line is cut back), or the log could not be opened.",
            ),
            aggregated: r.counter(
                "shadow_lines_aggregated_total",
                "Admitted requests with no verdict from either vendor (refused, unreadable, or the client gone before LexisNexis answered; Socure not called), past 20 lines a second for the process: counted in idv_socure_shadow_mode_shed lines instead of a line each.",
            ),
            writable: r.gauge(
                LOG_WRITABLE,
                1.0,
                "1 while the shadow log's last write worked, 0 while it fails (full disk, gone directory); never affects /readyz.",
            ),
        }
    }
}

impl FleetSeries {
    fn register(r: &Registrar) -> Self {
        let calls = "fleet_calls_total";
        r.describe_counter(
            calls,
            "Calls to the fleet's Redis ([fleet]), by call (reserve: a budget reservation; claim: the duplicate window; withdraw: a reservation that timed out, taken back in the background) and result (error: failed or timed out, fleet.on_error applied; a withdrawal returned a granted call to the budget, or barred a grant not yet run).",
        );
        Self {
            calls: std::array::from_fn(|i| {
                let outcome = FleetOutcome::VARIANTS[i];
                r.labelled(
                    calls,
                    &[("call", outcome.call().into()), ("result", outcome.into())],
                )
            }),
            latency: r.histogram(
                "fleet_latency_seconds",
                "Round trip of a call to the fleet's Redis, to its answer or its failure.",
            ),
        }
    }
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registrar::new();
        r.build_info();
        Self(Arc::new(Series {
            handle: r.recorder.handle(),
            load_probe: OnceLock::new(),
            upstream_probe: OnceLock::new(),
            requests: RequestSeries::register(&r),
            load: LoadSeries::register(&r),
            mirror: MirrorSeries::register(&r),
            log: LogSeries::register(&r),
            fleet: FleetSeries::register(&r),
            state: StateSeries::register(&r),
        }))
    }

    /// The live settings now in force (at start, and after each reload).
    pub fn settings_in_force(&self, live: &LiveSettings) {
        let state = &self.0.state;
        state
            .shadow_enabled
            .set(if live.shadow_enabled { 1.0 } else { 0.0 });
        state
            .sample_percent
            .set(f64::from(live.sample_basis_points) / 100.0);
        state.max_calls_per_day.set(
            live.max_calls_per_day
                .calls()
                .map_or(f64::INFINITY, |calls| calls as f64),
        );
    }

    /// A configuration load: the start's or a reload's, and whether it
    /// succeeded (a refused reload keeps the settings before it).
    pub fn config_loaded(&self, success: bool) {
        let state = &self.0.state;
        state.reload_success.set(if success { 1.0 } else { 0.0 });
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |since| since.as_secs_f64());
        state.reload_time.set(now);
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        if let Some(probe) = self.0.load_probe.get() {
            self.0.load.set(probe());
        }
        if let Some(probe) = self.0.upstream_probe.get() {
            self.0.requests.upstream_in_flight.set(probe() as f64);
        }
        sorted(&self.0.handle.render())
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
        self.0.requests.upstream_busy[limit as usize].increment(1);
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
        self.0.requests.forwarded[route as usize][class].increment(1);
        if let Some(upstream) = upstream {
            self.0
                .requests
                .upstream_latency
                .record(upstream.as_secs_f64());
        }
        self.0.requests.proxy_overhead.record(
            total
                .saturating_sub(upstream.unwrap_or_default())
                .as_secs_f64(),
        );
    }

    /// A connection closed (or drained, or a request body failed) by a timeout.
    pub fn timed_out(&self, phase: Phase) {
        self.0.requests.timed_out[phase as usize].increment(1);
    }

    pub fn mirror_started(&self) {
        self.0.mirror.started.increment(1);
    }

    pub fn mirror_shed(&self) {
        self.0.mirror.shed.increment(1);
    }

    pub fn mirror_not_sent(&self, why: Skipped) {
        self.0.mirror.skipped[why as usize].increment(1);
    }

    /// A Socure call found no place among `max_in_flight` and waits.
    pub fn mirror_queued(&self) {
        self.0.mirror.queued.increment(1);
    }

    pub fn sampled_out(&self) {
        self.0.mirror.sampled_out.increment(1);
    }

    /// A Socure call began; pair with [`Metrics::socure_call_ended`].
    pub fn socure_call_started(&self) {
        self.0.mirror.in_flight.increment(1.0);
    }

    pub fn socure_call_ended(&self, elapsed: Duration) {
        self.0.mirror.in_flight.decrement(1.0);
        self.0.mirror.socure_latency.record(elapsed.as_secs_f64());
    }

    /// A line was made: its Socure outcome and how the vendors compared.
    pub fn line_made(&self, socure_outcome: SocureOutcome, agreement: Agreement) {
        self.0.mirror.outcomes[socure_outcome as usize].increment(1);
        self.0.mirror.agreement[agreement as usize].increment(1);
    }

    /// Proofing lines whole on disk.
    pub fn lines_written(&self, n: u64) {
        self.0.log.written.increment(n);
    }

    pub fn line_lost(&self) {
        self.lines_lost(1);
    }

    pub fn lines_lost(&self, n: u64) {
        self.0.log.lost.increment(n);
    }

    /// Whether the shadow log's last write (or open) worked.
    pub fn log_writable(&self, writable: bool) {
        self.0.log.writable.set(if writable { 1.0 } else { 0.0 });
    }

    /// A request whose line would carry no verdict, counted into a summary line
    /// instead of a line of its own.
    pub fn line_aggregated(&self) {
        self.0.log.aggregated.increment(1);
    }

    /// One call to the fleet's Redis, and how long it took (to its answer,
    /// or to its failure).
    pub fn fleet_call(&self, outcome: FleetOutcome, elapsed: Duration) {
        self.0.fleet.calls[outcome as usize].increment(1);
        self.0.fleet.latency.record(elapsed.as_secs_f64());
    }

    /// A forward-proxy tunnel closed after `listen.tunnel_idle_timeout_seconds`
    /// without a byte either way.
    pub fn tunnel_idle_timed_out(&self) {
        self.timed_out(Phase::TunnelIdle);
    }

    /// A forward-proxy `CONNECT` answered 403.
    pub fn connect_refused(&self, why: ConnectRefused) {
        self.0.requests.connects_refused[why as usize].increment(1);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The exposition with its families in name order, and the samples of
/// each family in label order (a histogram's buckets keep theirs): the
/// exporter renders from hash maps, so its order changes from one scrape
/// to the next, which makes two scrapes hard to compare by eye or `diff`.
fn sorted(rendered: &str) -> String {
    /// A sample's or comment's family: the name, without a histogram's
    /// or summary's suffix.
    fn family(line: &str) -> &str {
        let name = match line.strip_prefix("# ") {
            Some(comment) => comment.split_whitespace().nth(1).unwrap_or(""),
            None => line.split(['{', ' ']).next().unwrap_or(""),
        };
        ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name)
    }
    /// The labels but `le` and `quantile`, so a label set's buckets stay
    /// together in the order they were written.
    fn labels(line: &str) -> String {
        let Some((_, rest)) = line.split_once('{') else {
            return String::new();
        };
        let inside = rest.split_once('}').map_or(rest, |(inside, _)| inside);
        inside
            .split(',')
            .filter(|label| !label.starts_with("le=") && !label.starts_with("quantile="))
            .collect::<Vec<_>>()
            .join(",")
    }
    let mut families: std::collections::BTreeMap<&str, (Vec<&str>, Vec<&str>)> =
        std::collections::BTreeMap::new();
    for line in rendered.lines().filter(|line| !line.is_empty()) {
        let (comments, samples) = families.entry(family(line)).or_default();
        if line.starts_with('#') {
            comments.push(line);
        } else {
            samples.push(line);
        }
    }
    let mut out = String::with_capacity(rendered.len());
    for (comments, mut samples) in families.into_values() {
        // Stable: the buckets of one label set keep their order.
        samples.sort_by_cached_key(|line| labels(line));
        for line in comments.iter().chain(&samples) {
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fmt::Debug;

    use super::*;

    /// `family`'s samples as rendered, by their labels (`key="value",...`);
    /// and how many sample lines there were, so a doubled one shows.
    fn samples(metrics: &Metrics, family: &str) -> (BTreeMap<String, f64>, usize) {
        let start = format!("{PREFIX}{family}{{");
        let lines: Vec<(String, f64)> = metrics
            .render()
            .lines()
            .filter_map(|line| {
                let (labels, value) = line.strip_prefix(&start)?.rsplit_once("} ")?;
                Some((labels.to_owned(), value.parse().expect("a number")))
            })
            .collect();
        let count = lines.len();
        (lines.into_iter().collect(), count)
    }

    fn labels_of<T: VariantArray + Copy + Into<&'static str>>() -> Vec<&'static str> {
        T::VARIANTS.iter().map(|&value| value.into()).collect()
    }

    /// Counting each value of `T` once (on a fresh proxy's metrics) shows
    /// one series per value, at 1 for that value and 0 for the others:
    /// every variant is registered under its own label, rendered once, and
    /// its discriminant indexes its own counter.
    fn each_counts_on_its_own_series<T>(family: &str, key: &str, count: impl Fn(&Metrics, T))
    where
        T: VariantArray + Copy + PartialEq + Debug + Into<&'static str>,
    {
        for &value in T::VARIANTS {
            let metrics = Metrics::new();
            count(&metrics, value);
            let (rendered, lines) = samples(&metrics, family);
            let wanted: BTreeMap<String, f64> = T::VARIANTS
                .iter()
                .map(|&other| {
                    let label: &str = other.into();
                    (format!("{key}=\"{label}\""), f64::from(other == value))
                })
                .collect();
            assert_eq!(lines, T::VARIANTS.len(), "{family}: one line per variant");
            assert_eq!(rendered, wanted, "{family} after counting {value:?}");
        }
    }

    #[test]
    fn every_value_of_each_set_is_rendered_once_and_counts_on_its_own_series() {
        each_counts_on_its_own_series("upstream_busy_total", "limit", Metrics::upstream_busy);
        each_counts_on_its_own_series("connections_timed_out_total", "phase", Metrics::timed_out);
        each_counts_on_its_own_series("mirrors_not_sent_total", "reason", Metrics::mirror_not_sent);
        each_counts_on_its_own_series("connects_refused_total", "reason", Metrics::connect_refused);
        each_counts_on_its_own_series("mirrors_total", "socure_outcome", |m, outcome| {
            m.line_made(outcome, Agreement::BothPass);
        });
        each_counts_on_its_own_series("vendor_agreement_total", "agreement", |m, agreement| {
            m.line_made(SocureOutcome::Answered, agreement);
        });
        for &route in Route::VARIANTS {
            let metrics = Metrics::new();
            metrics.forwarded(route, 404, None, Duration::ZERO);
            let (rendered, lines) = samples(&metrics, REQUESTS_FORWARDED);
            assert_eq!(lines, Route::COUNT * STATUS_CLASSES.len());
            assert_eq!(rendered.len(), lines, "no two series alike");
            for (labels, value) in rendered {
                let this = format!("route=\"{}\",status_class=\"4xx\"", <&str>::from(route));
                assert_eq!(value, f64::from(labels == this), "{labels} after {route:?}");
            }
        }
        for &outcome in FleetOutcome::VARIANTS {
            let metrics = Metrics::new();
            metrics.fleet_call(outcome, Duration::ZERO);
            let (rendered, lines) = samples(&metrics, "fleet_calls_total");
            assert_eq!(lines, FleetOutcome::COUNT);
            assert_eq!(rendered.len(), lines, "no two series alike");
            let this = format!(
                "call=\"{}\",result=\"{}\"",
                <&str>::from(outcome.call()),
                <&str>::from(outcome)
            );
            for (labels, value) in rendered {
                assert_eq!(
                    value,
                    f64::from(labels == this),
                    "{labels} after {outcome:?}"
                );
            }
        }
    }

    /// Dashboards, `config/alerts.yml`, docs/operations.md
    /// name these: a renamed variant must not rename its series unnoticed.
    #[test]
    fn the_label_values_are_the_ones_dashboards_know() {
        assert_eq!(labels_of::<Route>(), ["shadowed", "passthrough", "shed"]);
        assert_eq!(
            labels_of::<Phase>(),
            [
                "header",
                "idle",
                "write",
                "max_age",
                "request_body",
                "tunnel_idle"
            ]
        );
        assert_eq!(
            labels_of::<Skipped>(),
            ["max_in_flight", "daily_budget", "duplicate"]
        );
        assert_eq!(labels_of::<BusyLimit>(), ["process", "connection"]);
        assert_eq!(
            labels_of::<ConnectRefused>(),
            [
                "not_listed",
                "own_port",
                "port",
                "internal",
                "intercepted_address",
                "intercepted_host_other_port",
            ]
        );
        let fleet: Vec<(&str, &str)> = FleetOutcome::VARIANTS
            .iter()
            .map(|&outcome| (outcome.call().into(), outcome.into()))
            .collect();
        assert_eq!(
            fleet,
            [
                ("reserve", "granted"),
                ("reserve", "refused"),
                ("reserve", "error"),
                ("claim", "first"),
                ("claim", "duplicate"),
                ("claim", "error"),
                ("withdraw", "returned"),
                ("withdraw", "barred"),
                ("withdraw", "error"),
            ]
        );
    }

    /// Every family, by name and type, as `/metrics` has always shown them.
    #[test]
    fn the_families_are_the_ones_dashboards_know() {
        let rendered = Metrics::new().render();
        let mut families: Vec<&str> = rendered
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_prefix(PREFIX))
            .collect();
        families.sort_unstable();
        assert_eq!(
            families,
            [
                "build_info gauge",
                "config_last_reload_success gauge",
                "config_last_reload_timestamp_seconds gauge",
                "connections_timed_out_total counter",
                "connects_refused_total counter",
                "fleet_calls_total counter",
                "fleet_latency_seconds histogram",
                "max_calls_per_day gauge",
                "mirror_buffered_bytes gauge",
                "mirror_buffered_bytes_max gauge",
                "mirror_buffered_bytes_peak gauge",
                "mirrors_in_flight gauge",
                "mirrors_not_sent_total counter",
                "mirrors_pending gauge",
                "mirrors_pending_max gauge",
                "mirrors_pending_peak gauge",
                "mirrors_queued_total counter",
                "mirrors_sampled_out_total counter",
                "mirrors_shed_total counter",
                "mirrors_started_total counter",
                "mirrors_total counter",
                "proxy_overhead_seconds histogram",
                "requests_forwarded_total counter",
                "sample_percent gauge",
                "shadow_enabled gauge",
                "shadow_lines_aggregated_total counter",
                "shadow_lines_lost_total counter",
                "shadow_lines_written_total counter",
                "shadow_log_writable gauge",
                "socure_latency_seconds histogram",
                "upstream_busy_total counter",
                "upstream_in_flight gauge",
                "upstream_latency_seconds histogram",
                "vendor_agreement_total counter",
            ]
        );
        let helped = rendered
            .lines()
            .filter(|line| line.starts_with("# HELP "))
            .count();
        assert_eq!(helped, families.len(), "every family has its # HELP");
    }
}
