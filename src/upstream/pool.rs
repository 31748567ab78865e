//! The upstream connections hyper's path keeps open between requests: HTTP/1.1 senders that a request's own task checks out, sends on and gives back, with no pool task or channel in between.
//!
//! hyper-util's legacy `Client` did this job before: its checkout future,
//! its `Uri` clones, its request-to-connection channel and, when a
//! connection was not yet idle as its answer arrived, a task spawned per
//! request were a visible share of the forward path's CPU. Here a request
//! takes an idle connection from the pool's `idle::IdleSet` (its bounds and
//! sweep are there, shared with the hand-written lane's `wire` pool), or
//! opens one; once its answer is read the connection goes back. A
//! connection the upstream closed while idle is dropped when met; one that
//! closed just as a request was handed to it gives the request back unsent,
//! and the request goes on a new connection, as the legacy client retried
//! it.

use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1;

use crate::body::ProxyBody;
use crate::client::connect::{ConnectError, Connector, open};
pub use crate::client::idle::Origin;
use crate::client::idle::{Back, IdleSet, Kept, Usable};

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
    connector: Connector,
    http1: http1::Builder,
    idle: IdleSet<Sender>,
}

type Sender = http1::SendRequest<ProxyBody>;

/// A sender can take a request once its HTTP/1 has seen its last answer's
/// end (and the request body it answered early is out); until then it is
/// passed over, never waited for: a request never waits on another's
/// exchange.
impl Kept for Sender {
    fn usable(&mut self) -> Usable {
        if self.is_ready() {
            Usable::Now
        } else if self.is_closed() {
            Usable::Never
        } else {
            Usable::Later
        }
    }
}

/// A connection carrying one request, given back to the pool (or closed)
/// by [`Pooled::release`]; dropped, it closes.
pub struct Pooled {
    to: Origin,
    sender: Sender,
    back: Back<Sender>,
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
            connector,
            http1,
            idle: IdleSet::new(max_idle, idle_timeout),
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
        if let Some(mut pooled) = self.checkout(to) {
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

    fn checkout(&self, to: &Origin) -> Option<Pooled> {
        let sender = self.idle.take(to)?;
        Some(Pooled {
            to: to.clone(),
            sender,
            back: self.idle.back(),
        })
    }

    /// Connections waiting idle now.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.idle.len()
    }

    /// A new connection to `to`, its HTTP/1 driven by a task of its own
    /// (which ends when the connection closes).
    async fn connect(&self, to: &Origin) -> Result<Pooled, ConnectError> {
        let io = open(&self.connector, to).await?;
        let (sender, connection) = self
            .http1
            .handshake(io)
            .await
            .map_err(ConnectError::Handshake)?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "upstream connection ended with an error");
            }
        });
        self.idle.start_sweeping();
        Ok(Pooled {
            to: to.clone(),
            sender,
            back: self.idle.back(),
        })
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
        self.back.put(self.to, self.sender);
    }

    /// Whether the connection can take the next request now.
    pub fn is_ready(&self) -> bool {
        self.sender.is_ready()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use http::uri::Scheme;

    use super::*;
    use crate::client::connect::Redirect;
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
