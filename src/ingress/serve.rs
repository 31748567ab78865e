//! The one hyper server setup every listener uses, and the serving of one client connection into the proxy.
//!
//! The data port speaks HTTP/1.1 and HTTP/2 ([`HttpServing`]); forward-proxy
//! `CONNECT`s and the admin port speak HTTP/1.1 ([`http1`]). All of them
//! bound a request head in time, and the data port in size too, so a client
//! that never finishes its head cannot hold a task.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::ingress::framing;
use crate::proxy::{AmbiguousLength, Proxy};
use crate::upstream::forward::Target;

/// A client that has not sent a whole request head by then is dropped.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// A client that has not finished its TLS handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
/// HTTP/2, both with bounded heads.
fn data_port(max_header_bytes: usize) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // The case of header names is part of "unchanged".
        .preserve_header_case(true)
        // A `Date` the upstream did not send would be a change.
        .auto_date_header(false)
        // Past this a request head is refused with 431 (hyper's read buffer
        // is what bounds the head).
        .max_buf_size(max_header_bytes)
        // A client that never finishes its head must not hold a task forever.
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .auto_date_header(false)
        .max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// Serves HTTP (1.1 or 2) on one client connection, through the framing
/// watch, into the proxy. Cloned into each connection's task.
#[derive(Clone)]
pub struct HttpServing {
    builder: auto::Builder<TokioExecutor>,
    proxy: Arc<Proxy>,
    max_header_bytes: usize,
}

impl HttpServing {
    pub fn new(proxy: Arc<Proxy>, max_header_bytes: usize) -> Self {
        Self {
            builder: data_port(max_header_bytes),
            proxy,
            max_header_bytes,
        }
    }

    pub fn max_header_bytes(&self) -> usize {
        self.max_header_bytes
    }

    /// Completes the client's TLS handshake (bounded by
    /// [`TLS_HANDSHAKE_TIMEOUT`]), then serves as [`HttpServing::serve`].
    /// `client` names it in the log if the handshake fails.
    pub async fn serve_tls<IO>(
        self,
        accepting: tokio_rustls::Accept<IO>,
        target: Option<Target>,
        watcher: Watcher,
        client: &str,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, accepting).await {
            Ok(Ok(tls)) => self.serve(tls, target, watcher).await,
            Ok(Err(err)) => {
                tracing::info!(client, error = %err, "TLS handshake with a client failed")
            }
            Err(_) => tracing::info!(client, "TLS handshake with a client timed out"),
        }
    }

    /// Serves `io` until the client is done or shutdown drains it (through
    /// `watcher`). `target`, when set, is where this connection's requests
    /// go instead of the configured upstream (forward-proxy interception).
    pub async fn serve<IO>(self, io: IO, target: Option<Target>, watcher: Watcher)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (io, framing) = framing::Watched::new(io, self.max_header_bytes);
        let proxy = self.proxy;
        let service = service_fn(move |mut request: Request<Incoming>| {
            let proxy = Arc::clone(&proxy);
            // Only HTTP/1 requests are counted: the watch stops at HTTP/2's
            // preface.
            if request.version() <= http::Version::HTTP_11 && framing.next_request_is_ambiguous() {
                request.extensions_mut().insert(AmbiguousLength);
            }
            if let Some(target) = &target {
                request.extensions_mut().insert(target.clone());
            }
            async move { Ok::<_, Infallible>(proxy.handle(request).await) }
        });
        let connection = self.builder.serve_connection(TokioIo::new(io), service);
        if let Err(err) = watcher.watch(connection.into_owned()).await {
            tracing::debug!(error = %err, "connection ended with an error");
        }
    }
}
