//! The upstream connections kept open between requests: HTTP/1.1 senders that a request's own task checks out, sends on and gives back, with no pool task or channel in between.
//!
//! hyper-util's legacy `Client` did this job before: its checkout future,
//! its `Uri` clones, its request-to-connection channel and, when a
//! connection was not yet idle as its answer arrived, a task spawned per
//! request were a visible share of the forward path's CPU. Here a request
//! takes an idle connection under a lock held for a few comparisons (never
//! across an `.await`), or opens one; once its answer is read the
//! connection goes back, newest last, and the next request takes it.
//!
//! Bounds: at most `max_idle` connections wait idle (beyond, a freed one is
//! closed), and one idle for `idle_timeout` is closed, within half as long
//! again: a sweep every half timeout counts ticks, so giving a connection
//! back reads no clock. A connection the upstream closed while idle is
//! dropped when met; one that closed just as a request was handed to it
//! gives the request back unsent, and the request goes on a new
//! connection, as the legacy client retried it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_rustls::HttpsConnector;
use tower_service::Service;

use crate::body::ProxyBody;
use crate::error::BoxError;
use crate::upstream::connect::Redirect;

/// How the pool opens a connection: TCP where `connect` says, TLS above
/// it for `https`.
pub type Connector = HttpsConnector<Redirect>;

/// Why a connection could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP or TLS: the connector's own error (refused, no route, timed out,
    /// certificate not trusted...).
    #[error("could not open a connection to the upstream")]
    Open(#[source] BoxError),
    /// HTTP/1 could not start on the connection.
    #[error("could not start HTTP/1 on the upstream connection")]
    Handshake(#[source] hyper::Error),
    #[error("cannot name the upstream's address as a URI")]
    Address(#[source] http::Error),
}

/// Why a request had no answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The exchange on the connection failed (including the request body's
    /// own failure while it streamed out, which hyper reports here).
    #[error("upstream request failed")]
    Exchange(#[source] hyper::Error),
}

/// The upstream connections kept between requests.
pub struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    connector: Connector,
    http1: http1::Builder,
    idle: Mutex<Idle>,
    max_idle: usize,
    idle_timeout: Duration,
}

/// The connections waiting, oldest first, and the sweep's tick count.
#[derive(Default)]
struct Idle {
    connections: Vec<IdleConnection>,
    /// Sweeps so far: a connection is stamped with it when given back.
    ticks: u64,
    sweeping: bool,
}

struct IdleConnection {
    to: Origin,
    sender: http1::SendRequest<ProxyBody>,
    since_tick: u64,
}

/// Which connections may carry a request: those to the same scheme and
/// authority (forward-proxy mode reaches more than one host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: Scheme,
    pub authority: Authority,
}

/// A connection carrying one request, given back to the pool (or closed)
/// by [`Pooled::release`]; dropped, it closes.
pub struct Pooled {
    to: Origin,
    sender: http1::SendRequest<ProxyBody>,
    pool: Weak<Shared>,
}

impl Pool {
    /// `http1` is how each connection speaks HTTP/1.1 (header case, read
    /// buffer); `max_idle` and `idle_timeout` bound the connections kept.
    pub fn new(
        connector: Connector,
        http1: http1::Builder,
        max_idle: usize,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                connector,
                http1,
                idle: Mutex::new(Idle::default()),
                max_idle,
                idle_timeout,
            }),
        }
    }

    /// Sends `request` to `to` on an idle connection, or a new one, and
    /// returns the answer's head with the connection that carries its body.
    pub async fn send(
        &self,
        to: &Origin,
        request: Request<ProxyBody>,
    ) -> Result<(Response<Incoming>, Pooled), SendError> {
        let mut request = request;
        if let Some(mut pooled) = self.shared.checkout(to) {
            match pooled.sender.try_send_request(request).await {
                Ok(response) => return Ok((response, pooled)),
                Err(mut err) => match err.take_message() {
                    // Closed under it before a byte went out: a new
                    // connection takes the request as it is.
                    Some(unsent) => request = unsent,
                    None => return Err(SendError::Exchange(err.into_error())),
                },
            }
        }
        // Boxed: opening a connection is rare, and its future (a TLS stream
        // by value) would otherwise make every request's future kilobytes
        // larger, and hyper's server moves each request's future once.
        let mut pooled = Box::pin(self.connect(to)).await?;
        let response = pooled
            .sender
            .send_request(request)
            .await
            .map_err(SendError::Exchange)?;
        Ok((response, pooled))
    }

    /// Connections waiting idle now.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.shared.lock().connections.len()
    }

    /// A new connection to `to`, its HTTP/1 driven by a task of its own
    /// (which ends when the connection closes).
    async fn connect(&self, to: &Origin) -> Result<Pooled, ConnectError> {
        let uri = Uri::builder()
            .scheme(to.scheme.clone())
            .authority(to.authority.clone())
            .path_and_query("/")
            .build()
            .map_err(ConnectError::Address)?;
        let mut connector = self.shared.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(ConnectError::Open)?;
        let io = connector.call(uri).await.map_err(ConnectError::Open)?;
        let (sender, connection) = self
            .shared
            .http1
            .handshake(io)
            .await
            .map_err(ConnectError::Handshake)?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "upstream connection ended with an error");
            }
        });
        self.start_sweeping();
        Ok(Pooled {
            to: to.clone(),
            sender,
            pool: Arc::downgrade(&self.shared),
        })
    }

    /// Starts the idle sweep, once, from within the runtime (the first
    /// connection is opened there; the pool is built before it runs).
    fn start_sweeping(&self) {
        {
            let mut idle = self.shared.lock();
            if idle.sweeping {
                return;
            }
            idle.sweeping = true;
        }
        let every = self.shared.idle_timeout / 2;
        tokio::spawn(sweep(Arc::downgrade(&self.shared), every));
    }
}

impl Shared {
    /// The idle table; a panic elsewhere while it was held leaves a table
    /// still consistent (every change is one push, remove or retain).
    fn lock(&self) -> MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The newest idle connection to `to` that can take a request now.
    /// Those found closed are dropped; one whose HTTP/1 has yet to go idle
    /// (its task has not yet seen its last answer's end, or the request
    /// body it answered early is still going out) is passed over, never
    /// waited for: a request never waits on another's exchange.
    fn checkout(self: &Arc<Self>, to: &Origin) -> Option<Pooled> {
        let mut idle = self.lock();
        let mut at = idle.connections.len();
        while at > 0 {
            at -= 1;
            let candidate = &idle.connections[at];
            if candidate.to != *to {
                continue;
            }
            if candidate.sender.is_ready() {
                let found = idle.connections.remove(at);
                return Some(Pooled {
                    to: found.to,
                    sender: found.sender,
                    pool: Arc::downgrade(self),
                });
            }
            if candidate.sender.is_closed() {
                idle.connections.remove(at);
            }
        }
        None
    }

    /// Keeps `pooled` for the next request, unless enough are idle.
    fn give_back(&self, pooled: Pooled) {
        let mut idle = self.lock();
        if idle.connections.len() >= self.max_idle {
            return;
        }
        let since_tick = idle.ticks;
        idle.connections.push(IdleConnection {
            to: pooled.to,
            sender: pooled.sender,
            since_tick,
        });
    }
}

/// Every `every` (half the idle timeout), closes the connections idle for
/// two full ticks or more (so for at least the timeout, at most half as long
/// again) and those the upstream closed; ends with the pool.
async fn sweep(pool: Weak<Shared>, every: Duration) {
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once.
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(shared) = pool.upgrade() else { return };
        let mut idle = shared.lock();
        idle.ticks += 1;
        let oldest_kept = idle.ticks.saturating_sub(2);
        idle.connections
            .retain(|c| c.since_tick >= oldest_kept && !c.sender.is_closed());
    }
}

impl Pooled {
    /// Gives the connection back once its answer is whole (`answer_done`):
    /// its HTTP/1 goes idle as soon as its task sees that answer's end, and
    /// a checkout passes over it until then (the legacy client spawned a
    /// task per such request to wait for it). A connection whose answer was
    /// cut short closes, as HTTP/1 requires.
    pub fn release(self, answer_done: bool) {
        if !answer_done || self.sender.is_closed() {
            return;
        }
        if let Some(pool) = self.pool.upgrade() {
            pool.give_back(self);
        }
    }

    /// Whether the connection can take the next request now.
    pub fn is_ready(&self) -> bool {
        self.sender.is_ready()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// An upstream on 127.0.0.1 that answers every request on a connection
    /// with an empty 204, and counts the connections it accepted and saw
    /// closed.
    async fn upstream() -> (std::net::SocketAddr, Arc<Mutex<(usize, usize)>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new((0, 0)));
        let counts = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counts.lock().expect("lock").0 += 1;
                let counts = Arc::clone(&counts);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let reply = b"HTTP/1.1 204 No Content\r\n\r\n";
                        if stream.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                    counts.lock().expect("lock").1 += 1;
                });
            }
        });
        (addr, seen)
    }

    fn pool(idle_timeout: Duration) -> Pool {
        let config = crate::config::UpstreamConfig {
            base_url: "http://127.0.0.1:1".parse().expect("url"),
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            ca_file: None,
            client_identity: None,
            connect_to: None,
            resolve: crate::config::Resolve::System,
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(Redirect::new(&config).expect("redirect"));
        Pool::new(connector, http1::Builder::new(), 4, idle_timeout)
    }

    /// The fake upstream as the pool names it.
    fn origin(addr: std::net::SocketAddr) -> Origin {
        Origin {
            scheme: Scheme::HTTP,
            authority: addr.to_string().parse().expect("authority"),
        }
    }

    async fn get(pool: &Pool, to: &Origin) {
        let request = Request::builder()
            .uri("/")
            .header("host", to.authority.as_str())
            .body(
                Empty::<Bytes>::new()
                    .map_err(|never| match never {})
                    .boxed(),
            )
            .expect("request");
        let (response, pooled) = pool.send(to, request).await.expect("answered");
        assert_eq!(response.status(), 204);
        let done = response.into_body().collect().await.is_ok();
        pooled.release(done);
    }

    async fn until(what: impl Fn() -> bool) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while !what() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("in time");
    }

    #[tokio::test]
    async fn one_connection_carries_request_after_request() {
        let (addr, seen) = upstream().await;
        let pool = pool(Duration::from_secs(90));
        let to = origin(addr);
        for _ in 0..10 {
            get(&pool, &to).await;
            until(|| pool.idle() == 1).await;
        }
        assert_eq!(seen.lock().expect("lock").0, 1, "one connection, reused");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_after_the_idle_timeout() {
        let (addr, seen) = upstream().await;
        let pool = pool(Duration::from_secs(10));
        let to = origin(addr);
        get(&pool, &to).await;
        until(|| pool.idle() == 1).await;
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert_eq!(pool.idle(), 1, "kept within the timeout");
        tokio::time::sleep(Duration::from_secs(7)).await;
        assert_eq!(pool.idle(), 0, "closed within half the timeout again");
        until(|| seen.lock().expect("lock").1 == 1).await;
    }
}
