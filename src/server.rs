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

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::body::pace::Pace;
use crate::capacity;
use crate::config::effective::Change;
use crate::config::reload::LiveSettings;
use crate::config::{self, Config, Resolve};
use crate::ingress::admin;
use crate::ingress::intercept::Interceptor;
use crate::ingress::serve::{Drain, HttpServing};
use crate::ops::live::Live;
use crate::ops::metrics::{Metrics, MirrorLoad};
use crate::ops::readiness::Readiness;
use crate::ops::stats;
use crate::preflight::{self, Checked, Front, PreflightError};
use crate::proxy::{Proxy, ProxyLimits};
use crate::shadow::admission::Admission;
use crate::shadow::mirror::{Mirror, MirrorLimits};
use crate::shadow::sink::{self, LogReopen, SinkError, SinkReport, SinkTask};
use crate::sys;

/// How long the pairing task waits for the LexisNexis answer beyond the
/// upstream timeout (the answer's body streams to the client first).
const RESOLUTION_WAIT_MARGIN: Duration = Duration::from_secs(30);
/// Once interrupted, a mirror only has to build and queue its line.
const LINE_WRITE_BOUND: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config or its files: found before anything was bound.
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("cannot start the mirror runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A listener's address cannot be bound, which only trying can tell.
    /// Names the key and the variable that can set it (whichever set this
    /// value), so the operator knows both places to change it.
    #[error("{key}{} {address}: {}", env.map(|var| format!(" (env {var})")).unwrap_or_default(), bind_reason(source))]
    Bind {
        key: &'static str,
        env: Option<&'static str>,
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
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

/// Why a bind failed, in the operator's terms.
fn bind_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::AddrInUse => {
            "address already in use: another process listens there".into()
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "address not available: no interface of this host has that IP address".into()
        }
        std::io::ErrorKind::PermissionDenied => {
            "permission denied: a port below 1024 needs CAP_NET_BIND_SERVICE".into()
        }
        _ => crate::error::io_reason(err),
    }
}

/// Binds `key`'s address.
async fn bind(
    key: &'static str,
    address: SocketAddr,
) -> Result<(TcpListener, SocketAddr), StartError> {
    let failed = |source| StartError::Bind {
        key,
        env: config::env_var(key),
        address,
        source,
    };
    let listener = TcpListener::bind(address).await.map_err(failed)?;
    let local = listener.local_addr().map_err(failed)?;
    Ok((listener, local))
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
        Reloaded {
            applied,
            changes: self.config.effective.changes(&new.effective),
            needs_restart,
        }
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

/// The mirrors' runtime, shut down without blocking when dropped: at the
/// end of a run, or if the serving task is itself dropped (a runtime dropped
/// plainly inside async code panics).
struct MirrorRuntime(Option<tokio::runtime::Runtime>);

impl Drop for MirrorRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
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

/// Builds the proxy from `config`, binds, and starts serving: the
/// [`preflight`] first, then [`start_checked`].
pub async fn start(config: Config) -> Result<Running, StartError> {
    start_checked(preflight::check(config)?).await
}

/// Starts from a config that passed the [`preflight`], with what it built.
pub async fn start_checked(checked: Checked) -> Result<Running, StartError> {
    let Checked {
        config,
        upstream,
        front,
        socure,
        fleet,
    } = checked;
    let started_config = config.clone();
    let worst = capacity::of(&config);
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
    if matches!(front, Front::Tls(_))
        && config.upstream.connect_to.is_none()
        && config.upstream.resolve == Resolve::System
    {
        tracing::warn!(
            "TLS listener with upstream.resolve = \"system\" and no upstream.connect_to: \
             if the pod's hosts file points the vendor's name at this sidecar, requests loop back to it"
        );
    }
    let metrics = Metrics::new();
    let live = Arc::new(Live::new(config.live()));
    // The preflight made the Socure client when shadow mode is on, and also
    // when it is off but could be turned on by a reload (the key and the
    // workflow are there).
    let (mirror, sink_task, mirror_runtime) = if let Some(socure) = socure {
        let admission = Admission::new(config.shadow.max_pending, config.shadow.max_buffered_bytes);
        let probed = Arc::clone(&admission);
        metrics.probe_mirror_load(move || MirrorLoad {
            held: probed.held(),
            peak: probed.peak(),
            max: probed.max(),
            bytes: probed.bytes(),
            bytes_peak: probed.bytes_peak(),
            max_bytes: probed.max_bytes(),
        });
        let (sink, sink_task) = sink::open(
            &config.shadow.log_path,
            metrics.clone(),
            Arc::clone(&admission),
            !config.shadow.enabled,
        )?;
        // One worker is plenty for the mirrors (they mostly wait), and keeps
        // them from taking the forward path's workers.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("shadow-mirror")
            .on_thread_start(sys::lower_priority)
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let mirror = Mirror::new(
            runtime.handle().clone(),
            admission,
            socure,
            sink,
            config.shadow.instant_verify_workflow.clone(),
            MirrorLimits {
                max_in_flight: config.shadow.max_in_flight,
                resolution_wait: config.upstream.timeout + RESOLUTION_WAIT_MARGIN,
                dedup_window: config.shadow.dedup_window,
            },
            metrics.clone(),
            Arc::clone(&live),
            fleet,
        );
        (Some(mirror), Some(sink_task), MirrorRuntime(Some(runtime)))
    } else {
        (None, None, MirrorRuntime(None))
    };
    let mirror_built = mirror.is_some();
    let log_reopen = sink_task.as_ref().map(SinkTask::reopen);
    let proxy = Arc::new(Proxy::new(
        upstream,
        mirror,
        ProxyLimits {
            workflow: config.shadow.instant_verify_workflow.clone(),
            max_body_bytes: config.shadow.max_body_bytes,
            max_request_body_bytes: config.listen.max_request_body_bytes,
            body_pace: Pace {
                grace: config.listen.timeouts.request_body_grace,
                min_rate: config.listen.timeouts.request_body_min_rate,
            },
        },
        metrics.clone(),
        Arc::clone(&live),
    ));

    let probed = Arc::downgrade(&proxy);
    metrics.probe_upstream(move || {
        probed
            .upgrade()
            .map_or(0, |proxy| proxy.upstream_in_flight())
    });
    let (listener, local_addr) = bind("listen.address", config.listen.address).await?;
    let (admin_listener, admin_addr) = bind("admin.address", config.admin.address).await?;
    // The interceptor is made only now: it must know the ports just bound,
    // never to tunnel to them.
    let entry = match front {
        Front::Intercept(authority, intercept) => Entry::ForwardProxy(Arc::new(Interceptor::new(
            *authority,
            &intercept,
            &config.upstream,
            vec![local_addr.port(), admin_addr.port()],
            metrics.clone(),
        ))),
        Front::Tls(server_config) => Entry::Tls(TlsAcceptor::from(Arc::new(server_config))),
        Front::Plain => Entry::Plain,
    };
    let readiness = Arc::new(Readiness::default());
    let running_metrics = metrics.clone();
    if let Err(err) = metrics.spawn_upkeep(METRICS_UPKEEP) {
        // Histograms then fold their samples only when scraped.
        tracing::warn!(error = %err, "cannot start the metrics upkeep thread");
    }
    let mut side_tasks = vec![tokio::spawn(admin::serve(
        admin_listener,
        metrics.clone(),
        Arc::clone(&readiness),
    ))];
    if let Some(every) = config.log.stats_interval {
        side_tasks.push(stats::spawn(metrics, every));
    }
    let side_tasks = SideTasks(side_tasks);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let stages = Stages {
        drain: config.upstream.timeout + Duration::from_secs(1),
        mirror_grace: config.shadow.shutdown_grace,
    };
    let http = HttpServing::new(Arc::clone(&proxy), &config.listen, running_metrics.clone());
    let max_connections = config.listen.max_connections;
    let task = tokio::spawn(async move {
        let report = serve(
            listener,
            entry,
            http,
            proxy,
            sink_task,
            shutdown_rx,
            readiness,
            stages,
            max_connections,
        )
        .await;
        // Every mirror has written its line by now (or been counted as lost).
        drop(mirror_runtime);
        drop(side_tasks);
        report
    });
    tracing::info!(
        %local_addr,
        %admin_addr,
        mode = config.listen.mode.name(),
        upstream = %config.upstream.base_url,
        shadow_enabled = config.shadow.enabled,
        workflow = %config.shadow.instant_verify_workflow,
        worst_case_memory_mib = capacity::mib(worst.memory.total()),
        worst_case_descriptors = worst.descriptors,
        "socure-shadow-proxy listening"
    );
    Ok(Running {
        local_addr,
        admin_addr,
        metrics: running_metrics,
        live,
        can_shadow: mirror_built,
        log_reopen,
        config: started_config,
        shutdown,
        task,
    })
}

/// The time each shutdown stage may take.
struct Stages {
    drain: Duration,
    mirror_grace: Duration,
}

/// How a client connection is taken in, by `[listen] mode`.
enum Entry {
    Plain,
    Tls(TlsAcceptor),
    ForwardProxy(Arc<Interceptor>),
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    listener: TcpListener,
    entry: Entry,
    http: HttpServing,
    proxy: Arc<Proxy>,
    sink_task: Option<SinkTask>,
    mut shutdown: watch::Receiver<bool>,
    readiness: Arc<Readiness>,
    stages: Stages,
    max_connections: usize,
) -> RunReport {
    // Each connection holds a token until it is done: the drain waits for them.
    let open = TaskTracker::new();
    let connections = Arc::new(Semaphore::new(max_connections));
    loop {
        // At the limit, stop accepting: new clients wait in the kernel's
        // backlog instead of costing us a task and buffers each.
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let http = http.clone();
        // Made here, not in the task: a connection counted after the drain
        // began would not be waited for.
        let drain = Drain::new(shutdown.clone(), open.token());
        match &entry {
            Entry::Plain => {
                tokio::spawn(async move {
                    http.serve(stream, None, drain).await;
                    drop(permit);
                });
            }
            Entry::Tls(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    http.serve_tls(stream, acceptor, None, drain, &peer.to_string())
                        .await;
                    drop(permit);
                });
            }
            Entry::ForwardProxy(interceptor) => {
                let interceptor = Arc::clone(interceptor);
                let shutdown = shutdown.clone();
                // The permit goes in with the connection: a tunnel or an
                // intercepted session keeps it for as long as it lives.
                tokio::spawn(interceptor.serve(http, stream, drain, permit, shutdown));
            }
        }
    }

    drop(listener);
    shut_down(open, &readiness, &proxy, sink_task, stages).await
}

/// Shutdown's stages, each bounded: the connections drain (`/readyz` says
/// so from the first moment), the mirrors in flight get their grace period
/// and are then cut short (each still writes its line), and the shadow log
/// writes what is queued and flushes.
async fn shut_down(
    open: TaskTracker,
    readiness: &Readiness,
    proxy: &Proxy,
    sink_task: Option<SinkTask>,
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
    if let Some(mirror) = proxy.mirror() {
        // Every admitted request holds its slot until its line is written,
        // so "no slot held" is "every line written", queued jobs included.
        if tokio::time::timeout(stages.mirror_grace, mirror.drained())
            .await
            .is_err()
        {
            report.mirrors_interrupted = mirror.held();
            tracing::warn!(
                interrupted = report.mirrors_interrupted,
                "mirrors still running after the grace period; cutting them short"
            );
            mirror.interrupt();
            if tokio::time::timeout(LINE_WRITE_BOUND, mirror.drained())
                .await
                .is_err()
            {
                report.mirrors_unfinished = mirror.held();
                tracing::error!(
                    unfinished = report.mirrors_unfinished,
                    "mirrors did not write their lines"
                );
            }
        }
    }
    if let Some(sink_task) = sink_task {
        report.sink = sink_task.close().await;
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
