//! Start-up, the accept loop, and shutdown in bounded stages.
//!
//! [`start`] builds everything that can fail (TLS, clients, the shadow log)
//! before it binds, so a bad start never leaves a half-open port. Shutdown
//! stops accepting, lets connections finish their requests, gives the mirrors
//! in flight a bounded time to write their lines, then closes and flushes the
//! shadow log.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::forward::{ForwardError, Upstream};
use crate::framing;
use crate::mirror::{Mirror, MirrorLimits};
use crate::proxy::{Proxy, ProxyLimits};
use crate::sink::{self, SinkError, SinkReport, SinkTask};
use crate::socure::{SocureClient, SocureError};
use crate::tls;

/// How long the pairing task waits for the LexisNexis answer beyond the
/// upstream timeout (the answer's body streams to the client first).
const RESOLUTION_WAIT_MARGIN: Duration = Duration::from_secs(30);
/// Once interrupted, a mirror only has to build and queue its line.
const LINE_WRITE_BOUND: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error(transparent)]
    Upstream(#[from] ForwardError),
    #[error(transparent)]
    Socure(#[from] SocureError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("cannot start the mirror runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
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
    shutdown: watch::Sender<bool>,
    task: JoinHandle<RunReport>,
}

impl Running {
    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
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

/// How many file descriptors the process table is grown to at start.
const FD_TABLE_RESERVE: u64 = 16 * 1024;

/// Builds the proxy from `config`, binds, and starts serving.
pub async fn start(config: Config) -> Result<Running, StartError> {
    reserve_fd_table();
    let tls = tls::client_config()?;
    let upstream = Upstream::new(&config.upstream, tls.clone())?;
    let (mirror, sink_task, mirror_runtime) = if config.shadow.enabled {
        let (sink, sink_task) = sink::open(&config.shadow.log_path)?;
        let socure = SocureClient::new(&config.socure, tls)?;
        // One worker is plenty for the mirrors (they mostly wait), and keeps
        // them from taking the forward path's workers.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("shadow-mirror")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let mirror = Mirror::new(
            runtime.handle().clone(),
            socure,
            sink,
            config.shadow.instant_verify_workflow.clone(),
            MirrorLimits {
                max_in_flight: config.shadow.max_in_flight,
                resolution_wait: config.upstream.timeout + RESOLUTION_WAIT_MARGIN,
            },
        );
        (Some(mirror), Some(sink_task), Some(runtime))
    } else {
        (None, None, None)
    };
    let proxy = Arc::new(Proxy::new(
        upstream,
        mirror,
        ProxyLimits {
            workflow: config.shadow.instant_verify_workflow.clone(),
            max_body_bytes: config.shadow.max_body_bytes,
            max_request_body_bytes: config.listen.max_request_body_bytes,
        },
    ));

    let address = config.listen.address;
    let listener = TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind { address, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { address, source })?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let stages = Stages {
        drain: config.upstream.timeout + Duration::from_secs(1),
        mirror_grace: config.shadow.shutdown_grace,
    };
    let task = tokio::spawn(async move {
        let report = serve(
            listener,
            proxy,
            sink_task,
            shutdown_rx,
            stages,
            ConnectionLimits {
                max_connections: config.listen.max_connections,
                max_header_bytes: config.listen.max_header_bytes,
            },
        )
        .await;
        // Every mirror has written its line by now (or been counted as lost).
        if let Some(runtime) = mirror_runtime {
            runtime.shutdown_background();
        }
        report
    });
    tracing::info!(
        %local_addr,
        upstream = %config.upstream.base_url,
        shadow_enabled = config.shadow.enabled,
        workflow = %config.shadow.instant_verify_workflow,
        "socure-shadow-proxy listening"
    );
    Ok(Running {
        local_addr,
        shutdown,
        task,
    })
}

/// Grows the kernel's file-descriptor table once, now, instead of while
/// serving. Linux doubles a multi-threaded process's table as it passes 256,
/// 512, 1024... descriptors and waits out an RCU grace period (about 10 ms)
/// each time, on whichever thread opened the descriptor: measured here, the
/// request that crossed the line took 10-28 ms instead of 1 ms. Duplicating a
/// descriptor to a high number pays that once, before the first request. Best
/// effort: without it the proxy works, with those one-off stalls.
fn reserve_fd_table() {
    use std::os::fd::AsFd;
    let soft_limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft);
    let Some(target) = FD_TABLE_RESERVE.min(soft_limit).checked_sub(1) else {
        return;
    };
    let Ok(target) = i32::try_from(target) else {
        return;
    };
    let Ok(null) = std::fs::File::open("/dev/null") else {
        return;
    };
    match nix::fcntl::fcntl(null.as_fd(), nix::fcntl::FcntlArg::F_DUPFD(target)) {
        Ok(high) => {
            let _ = nix::unistd::close(high);
        }
        Err(err) => tracing::debug!(error = %err, "could not reserve the file-descriptor table"),
    }
}

/// Makes the calling thread yield the CPU to the forward path whenever both
/// want it: side work (mirrors, the shadow log) runs under `SCHED_IDLE`, so a
/// forward worker that wakes preempts it at once instead of waiting out a
/// time slice (nice 10 alone still let a busy mirror thread delay a forward
/// worker by up to a slice, which showed in p99). The price: when the forward
/// path keeps both cores busy, mirrors get almost no CPU, so they fill
/// `max_in_flight` and are dropped, and their Socure timings include that
/// wait. On Linux the policy is per thread. Best effort: falls back to nice 10,
/// and at worst the thread keeps the default priority.
pub fn lower_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param for the call; `0` names the
    // calling thread; the call has no other memory effects.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0 {
        return;
    }
    let idle_error = std::io::Error::last_os_error();
    // SAFETY: setpriority has no memory effects; `0` names the calling thread.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
    if result != 0 {
        tracing::debug!(
            idle_error = %idle_error,
            error = %std::io::Error::last_os_error(),
            "could not lower a side thread's priority"
        );
    }
}

/// What bounds each client connection, and how many there are.
struct ConnectionLimits {
    max_connections: usize,
    max_header_bytes: usize,
}

/// The time each shutdown stage may take.
struct Stages {
    drain: Duration,
    mirror_grace: Duration,
}

async fn serve(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    sink_task: Option<SinkTask>,
    mut shutdown: watch::Receiver<bool>,
    stages: Stages,
    limits: ConnectionLimits,
) -> RunReport {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // The case of header names is part of "unchanged".
        .preserve_header_case(true)
        // A `Date` the upstream did not send would be a change.
        .auto_date_header(false)
        // Past this a request head is refused with 431 (hyper's read buffer
        // is what bounds the head).
        .max_buf_size(limits.max_header_bytes)
        // A client that never finishes its head must not hold a task forever.
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder
        .http2()
        .auto_date_header(false)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let graceful = GracefulShutdown::new();

    let connections = Arc::new(Semaphore::new(limits.max_connections));
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
        let proxy = Arc::clone(&proxy);
        let (stream, framing) = framing::Watched::new(stream, limits.max_header_bytes);
        let service = service_fn(move |mut request: Request<Incoming>| {
            let proxy = Arc::clone(&proxy);
            // Only HTTP/1 requests are counted: the watch stops at HTTP/2's
            // preface.
            if request.version() <= http::Version::HTTP_11 && framing.next_request_is_ambiguous() {
                request.extensions_mut().insert(framing::AmbiguousLength);
            }
            async move { Ok::<_, Infallible>(proxy.handle(request).await) }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
            drop(permit);
        });
    }

    drop(listener);
    tracing::info!("shutting down: no new connections; draining");
    if tokio::time::timeout(stages.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain period; closing them");
    }
    let mut report = RunReport::default();
    if let Some(mirror) = proxy.mirror() {
        let tasks = mirror.tasks();
        tasks.close();
        if tokio::time::timeout(stages.mirror_grace, tasks.wait())
            .await
            .is_err()
        {
            report.mirrors_interrupted = tasks.len();
            tracing::warn!(
                interrupted = tasks.len(),
                "mirrors still running after the grace period; cutting them short"
            );
            mirror.interrupt();
            if tokio::time::timeout(LINE_WRITE_BOUND, tasks.wait())
                .await
                .is_err()
            {
                report.mirrors_unfinished = tasks.len();
                tracing::error!(
                    unfinished = tasks.len(),
                    "mirrors did not write their lines"
                );
            }
        }
    }
    if let Some(sink_task) = sink_task {
        report.sink = sink_task.close().await;
    }
    tracing::info!(lines_written = report.sink.lines_written, "stopped");
    report
}
