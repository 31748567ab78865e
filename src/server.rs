//! The composition root: builds everything from the config, runs the accept loop, shuts down in bounded stages. Nothing imports it.
//!
//! [`start`] builds everything that can fail (TLS, clients, the shadow log)
//! before it binds, so a bad start never leaves a half-open port: the
//! [`preflight`] reads and checks every file, and the ports are bound last.
//! Shutdown stops accepting, lets connections finish their requests, gives
//! the mirrors in flight a bounded time to write their lines, then closes
//! and flushes the shadow log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use crate::capacity::{self, Capacity};
use crate::config::effective::Change;
use crate::config::reload::LiveSettings;
use crate::config::{Config, ListenMode, Resolve};
use crate::ingress::admin;
use crate::ingress::listeners::{self, BindError, Front, Listeners};
use crate::ingress::serve::HttpServing;
use crate::ops::live::{InForce, Live};
use crate::ops::metrics::Metrics;
use crate::ops::readiness::Readiness;
use crate::ops::stats;
use crate::preflight::{self, Checked, PreflightError};
use crate::proxy::Proxy;
use crate::shadow::side::{ShadowSide, SideError, SideParts};
use crate::shadow::sink::{LogReopen, SinkReport};
use crate::shadow::ticket::Tickets;
use crate::sys;

/// Once interrupted, a mirror only has to build and queue its line.
const LINE_WRITE_BOUND: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config or its files, or a component built from them (the shadow
    /// log): found before anything was bound, each named by its key.
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    #[error("cannot start the mirror runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A listener's address cannot be bound, which only trying can tell.
    #[error(transparent)]
    Bind(#[from] BindError),
}

/// What a reload did.
#[derive(Debug)]
pub struct Reloaded {
    /// The live settings now in force.
    pub applied: LiveSettings,
    /// Every key whose value differs from the configuration the proxy
    /// started with.
    pub changes: Vec<Change>,
    /// Those of them a reload cannot apply.
    pub needs_restart: Vec<String>,
}

/// What a run did, reported once it has shut down.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunReport {
    pub sink: SinkReport,
    /// Mirrors cut short when the grace period ran out (each wrote its line).
    pub mirrors_interrupted: usize,
    /// Mirrors that had not even written their line after being cut short:
    /// those lines are lost. Zero unless something is badly wrong.
    pub mirrors_unfinished: usize,
}

/// A started proxy.
pub struct Running {
    local_addr: SocketAddr,
    admin_addr: SocketAddr,
    metrics: Metrics,
    /// The config the proxy started with, and what a reload can change.
    config: Config,
    live: Arc<Live>,
    /// What `/config` serves.
    in_force: Arc<InForce>,
    /// Whether the mirror was built, so a reload can turn shadow mode on.
    can_shadow: bool,
    /// Asks the shadow log's writer to reopen its file (none without a mirror).
    log_reopen: Option<LogReopen>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<RunReport>,
}

impl Running {
    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Closes the shadow log and opens its path again (logrotate's
    /// `postrotate`: SIGUSR1), within one of the writer's ticks.
    pub fn reopen_log(&self) {
        if let Some(reopen) = &self.log_reopen {
            reopen.request();
        }
    }

    /// Applies `new`'s live settings at once (no connection is touched) and
    /// says what it did; the caller logs it. The shadow log is reopened too,
    /// as a reload does for nginx's logs.
    pub fn reload(&self, new: &Config) -> Reloaded {
        self.reopen_log();
        let mut needs_restart = self.config.needs_restart(new);
        let mut applied = new.live();
        if applied.shadow_enabled && !self.can_shadow {
            // Nothing to turn on: no Socure key or workflow at start.
            applied.shadow_enabled = false;
            needs_restart.push("shadow.enabled (no Socure key or workflow at start)".into());
        }
        self.live.apply(applied);
        self.metrics.settings_in_force(&applied);
        self.metrics.config_loaded(true);
        self.in_force.set(&with_live(
            self.config.effective.to_json(),
            &applied.to_json(),
        ));
        Reloaded {
            applied,
            changes: self.config.effective.changes(&new.effective),
            needs_restart,
        }
    }

    /// A reload refused (the file did not load): nothing changed, and the
    /// metrics say so until a reload succeeds.
    pub fn reload_refused(&self) {
        self.metrics.config_loaded(false);
    }

    /// The metrics, readable after shutdown too.
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// The admin listener's address (port 0 resolved).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Shuts down in stages and returns what the run did.
    pub async fn shutdown(self) -> RunReport {
        let _ = self.shutdown.send(true);
        self.task.await.unwrap_or_else(|err| {
            tracing::error!(error = %err, "proxy task failed");
            RunReport::default()
        })
    }
}

/// Tasks that live as long as the run: aborted when it ends, or if the
/// serving task is itself dropped.
struct SideTasks(Vec<JoinHandle<()>>);

impl Drop for SideTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// How often histogram samples are folded into their buckets.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// The data path's runtime: tokio's single-threaded scheduler when the
/// process may use one CPU (as linkerd2-proxy does), the multi-threaded one
/// otherwise. On one CPU a second worker thread buys no parallelism, only
/// cross-thread wake-ups, work stealing and parking, which the profile put
/// at a tenth of the forward path's CPU. The mirrors and the shadow log run
/// on threads of their own either way.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if sys::usable_cpus() == Some(1) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()
}

/// Builds the proxy from `config`, binds, and starts serving: the
/// [`preflight`] first, then [`start_checked`].
pub async fn start(config: Config) -> Result<Running, StartError> {
    start_checked(preflight::check(config)?).await
}

/// Starts from a config that passed the [`preflight`], with what it built:
/// each component in turn, everything that can fail before the ports are
/// bound, then the serving task.
pub async fn start_checked(checked: Checked) -> Result<Running, StartError> {
    let Checked {
        config,
        upstream,
        front,
        socure,
        fleet,
    } = checked;
    let worst = prepare_host(&config, &front);
    let metrics = Metrics::new();
    let live = Arc::new(Live::new(config.live()));
    metrics.settings_in_force(&config.live());
    metrics.config_loaded(true);
    let in_force = Arc::new(InForce::new(&config.effective.to_json()));
    // The preflight made the Socure client when shadow mode is on, and also
    // when it is off but could be turned on by a reload.
    let (shadow, tickets) = match socure {
        Some(socure) => {
            let parts = SideParts {
                socure,
                fleet,
                metrics: metrics.clone(),
                live: Arc::clone(&live),
            };
            let (side, tickets) =
                ShadowSide::build(&config, parts).map_err(|err| side_error(&config, err))?;
            (Some(side), Some(tickets))
        }
        None => (None, None),
    };
    let proxy = proxy(&config, upstream, tickets, &metrics);
    let listeners = Listeners::bind(&config).await?;
    let entry = listeners.entry(front, &config, &metrics);
    let (local_addr, admin_addr) = (listeners.data_addr, listeners.admin_addr);
    let readiness = Arc::new(Readiness::default());
    let side_tasks = side_tasks(&config, &metrics, listeners.admin, &readiness, &in_force);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let log_reopen = shadow.as_ref().map(ShadowSide::log_reopen);
    let can_shadow = shadow.is_some();
    let http = HttpServing::new(Arc::clone(&proxy), &config.listen, metrics.clone());
    let accepting = listeners::accept(
        listeners.data,
        entry,
        http,
        shutdown_rx,
        config.listen.max_connections,
    );
    let stages = Stages::of(&config);
    let task = tokio::spawn(async move {
        let open = accepting.await;
        let report = shut_down(open, &readiness, shadow, stages).await;
        drop(side_tasks);
        report
    });
    log_listening(&config, local_addr, admin_addr, &worst);
    Ok(Running {
        local_addr,
        admin_addr,
        metrics,
        live,
        in_force,
        can_shadow,
        log_reopen,
        config,
        shutdown,
        task,
    })
}

/// The effective document `config` (as `Effective::to_json` gives it)
/// with the live settings applied (`section.key` -> value) put in place.
fn with_live(mut document: serde_json::Value, applied: &serde_json::Value) -> serde_json::Value {
    for (key, value) in applied.as_object().into_iter().flatten() {
        let Some((section, name)) = key.split_once('.') else {
            continue;
        };
        if let Some(section) = document["config"][section].as_object_mut() {
            section.insert(name.to_owned(), value.clone());
        }
    }
    document
}

/// The shadow side's failure, placed by its key as the preflight's are.
fn side_error(config: &Config, err: SideError) -> StartError {
    match err {
        SideError::Log(_) => PreflightError::one(config, "shadow.log_path", err).into(),
        SideError::Runtime(err) => StartError::Runtime(err),
    }
}

/// The process's own limits and signals, checked and set before anything
/// is built: returns what the config lets the proxy hold at worst.
fn prepare_host(config: &Config, front: &Front) -> Capacity {
    let worst = capacity::of(config);
    let descriptors = sys::raise_fd_limit();
    if let Some(limit) = descriptors.filter(|limit| *limit < worst.descriptors) {
        tracing::warn!(
            limit,
            needed = worst.descriptors,
            "the descriptor limit (ulimit -n) is below what listen.max_connections, shadow.max_in_flight and the admin port may use: under a flood, accepts and probes could fail; raise the limit or lower those keys"
        );
    }
    sys::reserve_fd_table();
    sys::ignore_file_size_signal();
    if matches!(front, ListenMode::Reverse { tls: Some(_) })
        && config.upstream.connect_to.is_none()
        && config.upstream.resolve == Resolve::System
    {
        tracing::warn!(
            "TLS listener with upstream.resolve = \"system\" and no upstream.connect_to: \
             if the pod's hosts file points the vendor's name at this sidecar, requests loop back to it"
        );
    }
    worst
}

/// The data path, with the upstream's load probed for the metrics.
fn proxy(
    config: &Config,
    upstream: crate::upstream::forward::Upstream,
    tickets: Option<Tickets>,
    metrics: &Metrics,
) -> Arc<Proxy> {
    let proxy = Arc::new(Proxy::new(config, upstream, tickets, metrics.clone()));
    let probed = Arc::downgrade(&proxy);
    metrics.probe_upstream(move || {
        probed
            .upgrade()
            .map_or(0, |proxy| proxy.upstream_in_flight())
    });
    proxy
}

/// What runs beside the data port for as long as the run: the admin port,
/// the stats line, the histograms' upkeep.
fn side_tasks(
    config: &Config,
    metrics: &Metrics,
    admin_listener: tokio::net::TcpListener,
    readiness: &Arc<Readiness>,
    in_force: &Arc<InForce>,
) -> SideTasks {
    if let Err(err) = metrics.spawn_upkeep(METRICS_UPKEEP) {
        // Histograms then fold their samples only when scraped.
        tracing::warn!(error = %err, "cannot start the metrics upkeep thread");
    }
    let mut tasks = vec![tokio::spawn(admin::serve(
        admin_listener,
        metrics.clone(),
        Arc::clone(readiness),
        Arc::clone(in_force),
    ))];
    if let Some(every) = config.log.stats_interval {
        tasks.push(stats::spawn(metrics.clone(), every));
    }
    SideTasks(tasks)
}

fn log_listening(
    config: &Config,
    local_addr: SocketAddr,
    admin_addr: SocketAddr,
    worst: &Capacity,
) {
    tracing::info!(
        %local_addr,
        %admin_addr,
        mode = config.listen.mode.name(),
        upstream = %config.upstream.base_url,
        shadow_enabled = config.shadow.enabled,
        workflow = %config.shadow.instant_verify_workflow,
        worst_case_memory_mib = capacity::mib(worst.memory.total()),
        worst_case_descriptors = worst.descriptors,
        runtime = runtime_name(),
        "socure-shadow-proxy listening"
    );
}

/// Which scheduler the data path runs on, for the start line.
fn runtime_name() -> &'static str {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => "current_thread",
        _ => "multi_thread",
    }
}

/// The time each shutdown stage may take.
struct Stages {
    drain: Duration,
    mirror_grace: Duration,
}

impl Stages {
    fn of(config: &Config) -> Self {
        Self {
            drain: config.upstream.timeout + Duration::from_secs(1),
            mirror_grace: config.shadow.shutdown_grace,
        }
    }
}

/// Shutdown's stages, each bounded: the connections drain (`/readyz` says
/// so from the first moment), the mirrors in flight get their grace period
/// and are then cut short (each still writes its line), and the shadow log
/// writes what is queued and flushes.
async fn shut_down(
    open: TaskTracker,
    readiness: &Readiness,
    shadow: Option<ShadowSide>,
    stages: Stages,
) -> RunReport {
    readiness.start_draining();
    tracing::info!("shutting down: no new connections; draining");
    open.close();
    if tokio::time::timeout(stages.drain, open.wait())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain period; closing them");
    }
    let mut report = RunReport::default();
    if let Some(shadow) = shadow {
        (report.mirrors_interrupted, report.mirrors_unfinished) =
            drain_mirrors(&shadow, stages.mirror_grace).await;
        report.sink = shadow.sink.close().await;
        // The mirrors' runtime goes last: every mirror has written its
        // line by now (or been counted as lost).
        drop(shadow.runtime);
    }
    if report.sink.lost_any() {
        tracing::error!(
            lines_written = report.sink.lines_written,
            lines_lost = report.sink.lines_lost,
            shed = report.sink.shed,
            shed_unwritten = report.sink.shed_unwritten,
            "stopped; lines meant for the shadow log are not in it"
        );
    } else {
        tracing::info!(
            lines_written = report.sink.lines_written,
            lines_lost = 0,
            shed = report.sink.shed,
            "stopped"
        );
    }
    report
}

/// Gives the mirrors in flight their grace period, then cuts them short:
/// returns how many were cut short, and how many of those did not even
/// write their line.
async fn drain_mirrors(shadow: &ShadowSide, grace: Duration) -> (usize, usize) {
    let mirror = &shadow.mirror;
    // Every admitted request holds its slot until its line is written,
    // so "no slot held" is "every line written", queued jobs included.
    if tokio::time::timeout(grace, mirror.drained()).await.is_ok() {
        return (0, 0);
    }
    let interrupted = mirror.held();
    tracing::warn!(
        interrupted,
        "mirrors still running after the grace period; cutting them short"
    );
    mirror.interrupt();
    if tokio::time::timeout(LINE_WRITE_BOUND, mirror.drained())
        .await
        .is_ok()
    {
        return (interrupted, 0);
    }
    let unfinished = mirror.held();
    tracing::error!(unfinished, "mirrors did not write their lines");
    (interrupted, unfinished)
}
