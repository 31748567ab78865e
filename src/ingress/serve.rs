//! The one hyper server setup every listener uses, and the serving of one client connection into the proxy.
//!
//! The data port speaks HTTP/1.1 and HTTP/2 ([`HttpServing`]); forward-proxy
//! `CONNECT`s and the admin port speak HTTP/1.1 ([`http1`]). All of them
//! bound a request head in time, and the data port in size too, so a client
//! that never finishes its head cannot hold a task. The data port's
//! connections are timed from accept to last byte (`deadline`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::config::ListenConfig;
use crate::ingress::deadline::{Activity, Answering, Expired, Timed, Timeouts};
use crate::ingress::{framing, lane};
use crate::ops::metrics::{Metrics, Phase};
use crate::proxy::{AmbiguousLength, Proxy};
use crate::upstream::forward::Target;
use crate::upstream::in_flight::ConnectionShare;

/// HTTP/2 flow control: what one stream, and one connection, may send
/// before the proxy has read it. hyper's defaults (1 MiB each, and 200
/// streams) let four connections hold 800 MB of request bodies; with these a
/// connection holds at most 64 KiB unread, whatever its stream count (the
/// window is the connection's part of the memory ceiling; a stream's body is
/// read as fast as the upstream takes it, so throughput is the stream's
/// window per round trip, plenty on the pod's loopback).
pub const HTTP2_STREAM_WINDOW: u32 = 64 * 1024;
pub const HTTP2_CONNECTION_WINDOW: u32 = 64 * 1024;
/// Answer bytes hyper queues per HTTP/2 stream for a client that is slow to
/// take them (hyper's default is 400 KiB): part of every open request's
/// worst case; a LexisNexis answer is a few KiB.
pub const HTTP2_SEND_BUFFER: usize = 16 * 1024;
/// Pings on an HTTP/2 connection with requests open, so a peer that
/// vanished without a FIN is found; unanswered for as long, the connection
/// is closed.
const HTTP2_KEEP_ALIVE: Duration = Duration::from_secs(20);

/// HTTP/1.1 as the side listeners speak it: a head that must arrive within
/// `header_read_timeout`, and, when `max_header_bytes` is given, fit in it
/// (past it hyper answers 431).
pub fn http1(max_header_bytes: Option<usize>, header_read_timeout: Duration) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    if let Some(max) = max_header_bytes {
        builder.max_buf_size(max);
    }
    builder
}

/// The data port's server: HTTP/1.1 that keeps what "unchanged" needs, and
/// HTTP/2 with bounded streams and windows, both with bounded heads.
fn data_port(listen: &ListenConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // The case of header names is part of "unchanged".
        .preserve_header_case(true)
        // A `Date` the upstream did not send would be a change.
        .auto_date_header(false)
        // Past this a request head is refused with 431 (hyper's read buffer
        // is what bounds the head).
        .max_buf_size(listen.max_header_bytes)
        // hyper starts this timer as soon as it waits for a head, so on a
        // keep-alive connection it is the idle timeout too: the next head
        // must be whole within `idle` of the last answer (nginx's
        // keepalive_timeout). The first head is the watchdog's, timed from
        // accept with the shorter `header`.
        .timer(TokioTimer::new())
        .header_read_timeout(listen.timeouts.idle);
    builder
        .http2()
        .auto_date_header(false)
        .max_header_list_size(u32::try_from(listen.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(listen.http2_max_concurrent_streams)
        .initial_stream_window_size(HTTP2_STREAM_WINDOW)
        .initial_connection_window_size(HTTP2_CONNECTION_WINDOW)
        .max_send_buf_size(HTTP2_SEND_BUFFER)
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_KEEP_ALIVE)
        .keep_alive_timeout(HTTP2_KEEP_ALIVE);
    builder
}

/// A connection's part in shutdown: told when to drain, and keeping the
/// server's drain waiting until the connection is done (dropped).
pub struct Drain {
    signal: watch::Receiver<bool>,
    _open: TaskTrackerToken,
}

impl Drain {
    pub fn new(signal: watch::Receiver<bool>, open: TaskTrackerToken) -> Self {
        Self {
            signal,
            _open: open,
        }
    }

    /// Returns once shutdown has begun (or the server is gone).
    async fn requested(&mut self) {
        let _ = self.signal.wait_for(|draining| *draining).await;
    }
}

/// Serves HTTP (1.1 or 2) on one client connection, through the framing
/// watch and the connection's deadlines, into the proxy. Cloned into each
/// connection's task.
#[derive(Clone)]
pub struct HttpServing {
    builder: auto::Builder<TokioExecutor>,
    proxy: Arc<Proxy>,
    max_header_bytes: usize,
    timeouts: Timeouts,
    metrics: Metrics,
    /// `listen.http1_lane`.
    lane: bool,
}

impl HttpServing {
    pub fn new(proxy: Arc<Proxy>, listen: &ListenConfig, metrics: Metrics) -> Self {
        Self {
            builder: data_port(listen),
            proxy,
            max_header_bytes: listen.max_header_bytes,
            lane: listen.http1_lane,
            timeouts: Timeouts {
                header: listen.timeouts.header,
                idle: listen.timeouts.idle,
                write: listen.timeouts.write,
                max_age: listen.timeouts.max_connection_age,
            },
            metrics,
        }
    }

    pub fn max_header_bytes(&self) -> usize {
        self.max_header_bytes
    }

    /// How long a request head may take (the `CONNECT` listener's too).
    pub fn header_timeout(&self) -> Duration {
        self.timeouts.header
    }

    /// Completes the client's TLS handshake, then serves as
    /// [`HttpServing::serve`]; the header timeout runs from now, across the
    /// handshake. `client` names it in the log if the handshake fails.
    pub async fn serve_tls<IO>(
        self,
        io: IO,
        acceptor: TlsAcceptor,
        target: Option<Target>,
        drain: Drain,
        client: &str,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Activity::new();
        let accepting = acceptor.accept(Timed::new(io, Arc::clone(&activity)));
        let tls = tokio::select! {
            accepted = accepting => match accepted {
                Ok(tls) => tls,
                Err(err) => {
                    tracing::info!(client, error = %err, "TLS handshake with a client failed");
                    return;
                }
            },
            expired = activity.expired(&self.timeouts, false) => {
                self.metrics.timed_out(expired.into());
                tracing::info!(client, "TLS handshake with a client timed out");
                return;
            }
        };
        self.serve_timed(tls, activity, target, drain).await;
    }

    /// Serves `io` until the client is done, a deadline passes, or shutdown
    /// drains it. `target`, when set, is where this connection's requests
    /// go instead of the configured upstream (forward-proxy interception).
    pub async fn serve<IO>(self, io: IO, target: Option<Target>, drain: Drain)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Activity::new();
        let io = Timed::new(io, Arc::clone(&activity));
        self.serve_timed(io, activity, target, drain).await;
    }

    async fn serve_timed<IO>(
        self,
        io: IO,
        activity: Arc<Activity>,
        target: Option<Target>,
        mut drain: Drain,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // Intercepted connections (forward-proxy mode) go where each
        // request's `CONNECT` said: hyper's path carries that.
        if target.is_some() || !self.lane {
            return self.serve_hyper(io, activity, target, drain, false).await;
        }
        let mut io = io;
        let stop = CancellationToken::new();
        let mut draining = false;
        let handover = {
            let lane = lane::serve(
                &self.proxy,
                &mut io,
                &activity,
                &stop,
                self.max_header_bytes,
            );
            tokio::pin!(lane);
            loop {
                tokio::select! {
                    handover = lane.as_mut() => break handover,
                    () = drain.requested(), if !draining => {
                        draining = true;
                        stop.cancel();
                    }
                    expired = activity.expired(&self.timeouts, !draining) => {
                        if self.closes_at(expired) {
                            return;
                        }
                        draining = true;
                        stop.cancel();
                    }
                }
            }
        };
        if let Some(read) = handover {
            let io = lane::Prefixed::new(read, io);
            self.serve_hyper(io, activity, target, drain, draining)
                .await;
        }
    }

    /// Counts an expired deadline; whether the connection closes now (every
    /// deadline but the age, which drains it instead). Dropping the
    /// connection closes the socket; a shadowed request cut there still
    /// gets its line.
    fn closes_at(&self, expired: Expired) -> bool {
        let phase = Phase::from(expired);
        self.metrics.timed_out(phase);
        if expired == Expired::MaxAge {
            return false;
        }
        tracing::debug!(phase = <&str>::from(phase), "connection closed: timed out");
        true
    }

    /// hyper's path: HTTP/1.1 that the lane did not take, and HTTP/2.
    /// `draining`: shutdown (or the connection's age) began before hyper
    /// took the connection over.
    async fn serve_hyper<IO>(
        self,
        io: IO,
        activity: Arc<Activity>,
        target: Option<Target>,
        mut drain: Drain,
        draining: bool,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (io, framing) = framing::Watched::new(io, self.max_header_bytes);
        let proxy = Arc::clone(&self.proxy);
        let requests = Arc::clone(&activity);
        // This connection's share of the upstream requests in flight, for
        // its HTTP/2 streams (HTTP/1 has one request at a time).
        let share = ConnectionShare::new();
        let service = service_fn(move |mut request: Request<Incoming>| {
            let open = requests.request();
            let proxy = Arc::clone(&proxy);
            // Only HTTP/1 requests are counted: the watch stops at HTTP/2's
            // preface.
            if request.version() <= http::Version::HTTP_11 && framing.next_request_is_ambiguous() {
                request.extensions_mut().insert(AmbiguousLength);
            }
            if let Some(target) = &target {
                request.extensions_mut().insert(target.clone());
            }
            let http2 = request.version() == http::Version::HTTP_2;
            if http2 {
                request.extensions_mut().insert(share.clone());
            }
            async move {
                let response = proxy.handle(request).await;
                // The answer's turn starts as it is handed to hyper.
                let clock = http2.then(|| open.stream_clock());
                Ok::<_, Infallible>(response.map(|body| Answering::new(body, open, clock)))
            }
        });
        let connection = self.builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        // Once draining (shutdown, or the connection's age) the age no
        // longer counts; the other deadlines still do.
        let mut draining = draining;
        if draining {
            connection.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(err) = ended {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
                    return;
                }
                () = drain.requested(), if !draining => {
                    draining = true;
                    connection.as_mut().graceful_shutdown();
                }
                expired = activity.expired(&self.timeouts, !draining) => {
                    if self.closes_at(expired) {
                        return;
                    }
                    draining = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The metric's phase for an expired deadline: its label is the log
/// line's too.
impl From<Expired> for Phase {
    fn from(expired: Expired) -> Self {
        match expired {
            Expired::Header => Phase::Header,
            Expired::Idle => Phase::Idle,
            Expired::Write => Phase::Write,
            Expired::MaxAge => Phase::MaxAge,
        }
    }
}
