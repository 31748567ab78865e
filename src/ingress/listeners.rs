//! The ports: both listeners, bound last of a start (a failure names its key), how each data connection is taken in by `[listen] mode`, and the accept loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::config::{self, Config, InterceptConfig, ListenMode};
use crate::ingress::authority::Authority;
use crate::ingress::intercept::Interceptor;
use crate::ingress::serve::{Drain, HttpServing};
use crate::ops::metrics::Metrics;

/// The listen mode with its TLS material read and checked (the preflight's).
/// Boxed: the CA is large beside the others, and moved once.
pub type Front = ListenMode<ServerConfig, Box<(Authority, InterceptConfig)>>;

/// The listen mode ready to take connections in.
pub type Entry = ListenMode<TlsAcceptor, Arc<Interceptor>>;

/// A listener's address cannot be bound, which only trying can tell. Names
/// the key and the variable that can set it (whichever set this value), so
/// the operator knows both places to change it.
#[derive(Debug, thiserror::Error)]
#[error("{key}{} {address}: {}", env.map(|var| format!(" (env {var})")).unwrap_or_default(), bind_reason(source))]
pub struct BindError {
    key: &'static str,
    env: Option<&'static str>,
    address: SocketAddr,
    #[source]
    source: std::io::Error,
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

/// The data and admin listeners, bound.
pub struct Listeners {
    pub data: TcpListener,
    pub data_addr: SocketAddr,
    pub admin: TcpListener,
    pub admin_addr: SocketAddr,
}

impl Listeners {
    /// Binds `listen.address`, then `admin.address`.
    pub async fn bind(config: &Config) -> Result<Self, BindError> {
        let (data, data_addr) = bind("listen.address", config.listen.address).await?;
        let (admin, admin_addr) = bind("admin.address", config.admin.address).await?;
        Ok(Self {
            data,
            data_addr,
            admin,
            admin_addr,
        })
    }

    /// How data connections are taken in. The interceptor is made only
    /// now: it must know the ports just bound, never to tunnel to them.
    pub fn entry(&self, front: Front, config: &Config, metrics: &Metrics) -> Entry {
        match front {
            ListenMode::Reverse { tls } => ListenMode::Reverse {
                tls: tls.map(|server| TlsAcceptor::from(Arc::new(server))),
            },
            ListenMode::ForwardProxy(ca) => {
                let (authority, intercept) = *ca;
                ListenMode::ForwardProxy(Arc::new(Interceptor::new(
                    authority,
                    &intercept,
                    &config.upstream,
                    vec![self.data_addr.port(), self.admin_addr.port()],
                    metrics.clone(),
                )))
            }
        }
    }
}

/// Binds `key`'s address.
async fn bind(
    key: &'static str,
    address: SocketAddr,
) -> Result<(TcpListener, SocketAddr), BindError> {
    let failed = |source| BindError {
        key,
        env: config::env_var(key),
        address,
        source,
    };
    let listener = TcpListener::bind(address).await.map_err(failed)?;
    let local = listener.local_addr().map_err(failed)?;
    Ok((listener, local))
}

/// Accepts data connections until `shutdown`, at most `max_connections`
/// at once, and returns the tracker of those still open, for the drain.
pub async fn accept(
    listener: TcpListener,
    entry: Entry,
    http: HttpServing,
    mut shutdown: watch::Receiver<bool>,
    max_connections: usize,
) -> TaskTracker {
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
            ListenMode::Reverse { tls: None } => {
                tokio::spawn(async move {
                    http.serve(stream, None, drain).await;
                    drop(permit);
                });
            }
            ListenMode::Reverse {
                tls: Some(acceptor),
            } => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    http.serve_tls(stream, acceptor, None, drain, &peer.to_string())
                        .await;
                    drop(permit);
                });
            }
            ListenMode::ForwardProxy(interceptor) => {
                let interceptor = Arc::clone(interceptor);
                let shutdown = shutdown.clone();
                // The permit goes in with the connection: a tunnel or an
                // intercepted session keeps it for as long as it lives.
                tokio::spawn(interceptor.serve(http, stream, drain, permit, shutdown));
            }
        }
    }
    open
}
