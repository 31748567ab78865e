//! Forward-proxy mode, where the proxy is the IdV app's `HTTPS_PROXY`: a
//! `CONNECT` to an intercepted host is answered, its TLS terminated with a
//! leaf from [`Authority`], and the requests inside take the same way as in
//! reverse mode; a `CONNECT` elsewhere is tunnelled untouched or refused;
//! plain-HTTP proxy requests are refused.
//!
//! Only the upstream's host and `[listen] intercept_hosts` are ever
//! intercepted, and requests inside a tunnel to host H go to H and nowhere
//! else, so the proxy cannot be used to reach an arbitrary address (unless
//! `tunnel_other_hosts` is set, which is then the operator's choice).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::body::{ProxyBody, full};
use crate::config::{InterceptConfig, UpstreamConfig};
use crate::ingress::authority::Authority;
use crate::ingress::serve::{self, Drain, HttpServing};
use crate::upstream::forward::{ForwardError, Target};

/// Answers the `CONNECT`s of forward-proxy mode.
pub struct Interceptor {
    authority: Authority,
    /// Intercepted host names, lower case: the upstream's and the extra ones.
    hosts: Vec<String>,
    tunnel_other_hosts: bool,
    connect_timeout: Duration,
}

/// What one client connection's `CONNECT` handling shares: the drain handle
/// that lets shutdown drain the intercepted connection, taken by the first
/// `CONNECT` that is intercepted (after a `200` the connection is a tunnel,
/// so there is never a second).
struct Client {
    http: HttpServing,
    drain: Mutex<Option<Drain>>,
}

impl Interceptor {
    pub fn new(authority: Authority, config: &InterceptConfig, upstream: &UpstreamConfig) -> Self {
        let mut hosts = config.extra_hosts.clone();
        if let Some(host) = upstream.base_url.host() {
            hosts.push(host.to_ascii_lowercase());
        }
        Self {
            authority,
            hosts,
            tunnel_other_hosts: config.tunnel_other_hosts,
            connect_timeout: upstream.connect_timeout,
        }
    }

    /// Serves one client connection of forward-proxy mode: HTTP/1.1 only
    /// (`CONNECT` is HTTP/1), with upgrades, until the client is done, its
    /// connection becomes a tunnel, or shutdown drains it.
    pub async fn serve(
        self: Arc<Self>,
        http: HttpServing,
        stream: TcpStream,
        drain: Drain,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let max_header_bytes = http.max_header_bytes();
        let header_timeout = http.header_timeout();
        let client = Arc::new(Client {
            http,
            drain: Mutex::new(Some(drain)),
        });
        let service = service_fn(move |request: Request<Incoming>| {
            let this = Arc::clone(&self);
            let client = Arc::clone(&client);
            async move { Ok::<_, Infallible>(this.answer(client, request).await) }
        });
        // The same bounds as the proxy's own listener: a head too big is a
        // 431, and one that never finishes does not hold a task.
        let connection = serve::http1(Some(max_header_bytes), header_timeout)
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        tokio::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            _ = shutdown.changed() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(err) = result {
            tracing::debug!(error = %err, "proxy client connection ended with an error");
        }
    }

    async fn answer(&self, client: Arc<Client>, request: Request<Incoming>) -> Response<ProxyBody> {
        if request.method() != Method::CONNECT {
            let why = if request.uri().scheme().is_some() {
                "plain-HTTP proxy requests are not carried; use https:// through CONNECT\n"
            } else {
                "this port is an HTTPS proxy: send CONNECT\n"
            };
            return refuse(ForwardError::Forbidden(why));
        }
        let Some((host, port)) = request
            .uri()
            .authority()
            .map(|a| (a.host().to_ascii_lowercase(), a.port_u16().unwrap_or(443)))
        else {
            return refuse(ForwardError::BadTarget);
        };
        if self.hosts.contains(&host) {
            return self.intercept(client, request, host, port);
        }
        if !self.tunnel_other_hosts {
            tracing::info!(host, port, "CONNECT refused: host not intercepted");
            return refuse(ForwardError::Forbidden(
                "CONNECT refused: this proxy only carries its configured hosts\n",
            ));
        }
        // Connected before answering, so a far end that cannot be reached
        // gets a 502 rather than a dead tunnel.
        let far = match tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Ok(Ok(far)) => far,
            Ok(Err(err)) => return refuse(ForwardError::Tunnel(err)),
            Err(_) => {
                return refuse(ForwardError::Tunnel(std::io::Error::from(
                    std::io::ErrorKind::TimedOut,
                )));
            }
        };
        tracing::debug!(host, port, "CONNECT tunnelled untouched");
        tokio::spawn(async move {
            let Ok(upgraded) = hyper::upgrade::on(request).await else {
                return;
            };
            let mut far = far;
            let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(upgraded), &mut far).await;
        });
        established()
    }

    /// Answers `200` and, once the client's TLS arrives, serves the requests
    /// inside as the proxy serves any, bound for `host:port`.
    fn intercept(
        &self,
        client: Arc<Client>,
        request: Request<Incoming>,
        host: String,
        port: u16,
    ) -> Response<ProxyBody> {
        let (config, target) = match (
            self.authority.server_config(&host),
            Target::intercepted(&host, port),
        ) {
            (Ok(config), Ok(target)) => (config, target),
            (Err(err), _) => {
                tracing::error!(host, error = %err, "cannot mint a certificate for an intercepted host");
                return refuse(ForwardError::Internal);
            }
            (_, Err(err)) => return refuse(err),
        };
        let Some(drain) = client.drain.lock().ok().and_then(|mut d| d.take()) else {
            return refuse(ForwardError::Forbidden("one CONNECT per connection\n"));
        };
        let http = client.http.clone();
        tokio::spawn(async move {
            let upgraded = match hyper::upgrade::on(request).await {
                Ok(upgraded) => upgraded,
                Err(err) => {
                    tracing::debug!(error = %err, "CONNECT upgrade failed");
                    return;
                }
            };
            let client = format!("inside CONNECT to {host}");
            http.serve_tls(
                TokioIo::new(upgraded),
                TlsAcceptor::from(config),
                Some(target),
                drain,
                &client,
            )
            .await;
        });
        established()
    }
}

/// The `200` that turns the connection into a tunnel.
fn established() -> Response<ProxyBody> {
    let mut response = Response::new(full(bytes::Bytes::new()));
    *response.status_mut() = StatusCode::OK;
    response
}

fn refuse(err: ForwardError) -> Response<ProxyBody> {
    tracing::debug!(error = %err, "proxy request refused");
    err.into_response()
}
