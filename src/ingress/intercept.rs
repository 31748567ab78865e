//! Forward-proxy mode, where the proxy is the IdV app's `HTTPS_PROXY`: a
//! `CONNECT` to an intercepted host is answered, its TLS terminated with a
//! leaf from [`Authority`], and the requests inside take the same way as in
//! reverse mode; a `CONNECT` elsewhere is tunnelled untouched or refused
//! (the rules are in [`tunnel`](super::tunnel)); plain-HTTP proxy requests
//! are refused.
//!
//! Only the upstream's host and `[listen] intercept_hosts` are ever
//! intercepted, each at one port, and requests inside a tunnel to host H go
//! to H and nowhere else. A `CONNECT` target must be `HOST:PORT` and is
//! normalised before anything compares it (`Host.` is `host`), so no
//! spelling of an intercepted host slips past the shadow into a tunnel.
//!
//! The client connection's `max_connections` permit moves into the task
//! that carries the tunnel or the intercepted session, so those count for
//! as long as they live, not just for the `CONNECT` exchange.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio_rustls::TlsAcceptor;

use crate::body::{ProxyBody, full};
use crate::client::connect::Resolver;
use crate::config::{Host, HostPort, InterceptConfig, UpstreamConfig};
use crate::ingress::authority::Authority;
use crate::ingress::serve::{self, Drain, HttpServing};
use crate::ingress::tunnel::{self, Carried, Intercepted, OpenError, TunnelRules};
use crate::ops::metrics::{ConnectRefused, Metrics};
use crate::proxy::answer::ProxyError;
use crate::upstream::forward::Target;

/// Answers the `CONNECT`s of forward-proxy mode.
pub struct Interceptor {
    authority: Authority,
    /// Intercepted hosts, normalised, each with the one port it is
    /// intercepted at: the upstream's (at `base_url`'s port, so its requests
    /// always take `connect_to`) and the extra ones.
    hosts: Vec<HostPort>,
    rules: TunnelRules,
    tunnel_idle_timeout: Duration,
    metrics: Metrics,
}

/// What one client connection's `CONNECT` handling shares, each taken by
/// the first `CONNECT` answered 200 (after it the connection is a tunnel,
/// so there is never a second): the drain handle that lets shutdown drain
/// an intercepted connection, and the connection's `max_connections` permit.
struct Client {
    http: HttpServing,
    drain: Mutex<Option<Drain>>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Client {
    fn take_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.permit.lock().ok().and_then(|mut p| p.take())
    }
}

/// What a `CONNECT` target is to this proxy.
enum Way {
    Intercept(HostPort),
    /// An intercepted host at a port it is not intercepted at.
    WrongPort,
    Tunnel(HostPort),
}

impl Interceptor {
    /// `own_ports` are the proxy's bound data and admin ports: never tunnelled to.
    pub fn new(
        authority: Authority,
        config: &InterceptConfig,
        upstream: &UpstreamConfig,
        own_ports: Vec<u16>,
        metrics: Metrics,
    ) -> Self {
        let mut hosts = config.extra_hosts.clone();
        let upstream_host = upstream
            .base_url
            .host()
            .and_then(|h| Host::parse(h).ok())
            .map(|host| HostPort {
                host,
                port: upstream.base_url.port_u16().unwrap_or(443),
            });
        hosts.extend(upstream_host.clone());
        // Where the upstream client connects for each intercepted host, as
        // `client::connect::Redirect` decides it.
        let endpoints = hosts
            .iter()
            .map(|to| match &upstream.connect_to {
                Some(connect_to) if Some(to) == upstream_host.as_ref() => connect_to.clone(),
                _ => (to.host.unbracketed(), to.port),
            })
            .collect();
        // A resolver of the upstream's own kind (the preflight built one
        // from the same settings moments ago, so this one builds too).
        let resolver = Resolver::new(&upstream.resolve)
            .inspect_err(|err| {
                tracing::error!(error = %err, "no resolver for the intercepted hosts: every tunnel will be refused");
            })
            .ok();
        Self {
            authority,
            hosts,
            rules: TunnelRules::new(
                config,
                own_ports,
                Intercepted::new(endpoints, resolver),
                upstream.connect_timeout,
            ),
            tunnel_idle_timeout: config.tunnel_idle_timeout,
            metrics,
        }
    }

    /// Serves one client connection of forward-proxy mode: HTTP/1.1 only
    /// (`CONNECT` is HTTP/1), with upgrades, until the client is done, its
    /// connection becomes a tunnel, or shutdown drains it.
    ///
    /// `permit` is the connection's place in `max_connections`: kept by a
    /// tunnel or an intercepted session for its whole life.
    pub async fn serve(
        self: Arc<Self>,
        http: HttpServing,
        stream: TcpStream,
        drain: Drain,
        permit: OwnedSemaphorePermit,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let max_header_bytes = http.max_header_bytes();
        let header_timeout = http.header_timeout();
        let client = Arc::new(Client {
            http,
            drain: Mutex::new(Some(drain)),
            permit: Mutex::new(Some(permit)),
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
            return refuse(ProxyError::Forbidden(why));
        }
        let to = match connect_target(request.uri()) {
            Ok(to) => to,
            Err(err) => {
                // The error, not the target: it could carry user-info.
                tracing::info!(error = %err, "CONNECT refused");
                return refuse(err);
            }
        };
        match self.way(to) {
            Way::Intercept(to) => self.intercept(client, request, to),
            Way::WrongPort => {
                tracing::info!(to = %request.uri(), "CONNECT refused: an intercepted host at another port");
                self.metrics
                    .connect_refused(ConnectRefused::InterceptedHostOtherPort);
                refuse(ProxyError::Forbidden(
                    "CONNECT refused: this host is carried only at its configured port\n",
                ))
            }
            Way::Tunnel(to) => self.tunnel(client, request, to).await,
        }
    }

    fn way(&self, to: HostPort) -> Way {
        if self.hosts.contains(&to) {
            Way::Intercept(to)
        } else if self.hosts.iter().any(|h| h.host == to.host) {
            // Never tunnelled: that would carry the vendor's traffic past
            // the shadow, or to a port the operator did not configure.
            Way::WrongPort
        } else {
            Way::Tunnel(to)
        }
    }

    /// Opens the far end by the rules, answers `200`, then carries bytes
    /// both ways until both close or the tunnel is idle too long.
    async fn tunnel(
        &self,
        client: Arc<Client>,
        request: Request<Incoming>,
        to: HostPort,
    ) -> Response<ProxyBody> {
        // Connected before answering, so a far end that cannot be reached
        // gets a 502 rather than a dead tunnel.
        let (far, address) = match self.rules.open(&to).await {
            Ok(opened) => opened,
            Err(OpenError::Refused { refusal, address }) => {
                tracing::info!(
                    %to,
                    address = ?address,
                    reason = refusal.reason(),
                    "CONNECT refused"
                );
                self.metrics.connect_refused(refusal.counted());
                return refuse(refusal.into_error());
            }
            Err(OpenError::Unreachable(err)) => return refuse(ProxyError::Tunnel(err)),
            Err(OpenError::InterceptedUnknown(err)) => {
                tracing::warn!(
                    %to,
                    error = %err,
                    "CONNECT not opened: where the intercepted hosts' traffic goes could not be learnt, so this tunnel could be to them"
                );
                return refuse(ProxyError::Tunnel(err));
            }
        };
        let Some(permit) = client.take_permit() else {
            return refuse(ProxyError::Forbidden("one CONNECT per connection\n"));
        };
        tracing::debug!(%to, %address, "CONNECT tunnelled untouched");
        let idle = self.tunnel_idle_timeout;
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            // Held until the tunnel ends: it counts toward max_connections.
            let _permit = permit;
            let Ok(upgraded) = hyper::upgrade::on(request).await else {
                return;
            };
            let (mut near, mut far) = (TokioIo::new(upgraded), far);
            // Lent, not given: both sockets close when this task ends, after
            // the count below, so whoever sees the close also sees the count.
            match tunnel::carry(&mut near, &mut far, idle).await {
                Carried::Idle => {
                    metrics.tunnel_idle_timed_out();
                    tracing::debug!(%to, "tunnel closed: idle");
                }
                Carried::Closed(result) => {
                    tracing::debug!(%to, result = ?result, "tunnel closed");
                }
            }
        });
        established()
    }

    /// Answers `200` and, once the client's TLS arrives, serves the requests
    /// inside as the proxy serves any, bound for `to`.
    fn intercept(
        &self,
        client: Arc<Client>,
        request: Request<Incoming>,
        to: HostPort,
    ) -> Response<ProxyBody> {
        let host = to.host.unbracketed();
        let (config, target) = match (
            self.authority.server_config(&host),
            Target::intercepted(&to),
        ) {
            (Ok(config), Ok(target)) => (config, target),
            (Err(err), _) => {
                tracing::error!(host, error = %err, "cannot mint a certificate for an intercepted host");
                return refuse(ProxyError::Internal);
            }
            (_, Err(err)) => return refuse(err.into()),
        };
        let Some(drain) = client.drain.lock().ok().and_then(|mut d| d.take()) else {
            return refuse(ProxyError::Forbidden("one CONNECT per connection\n"));
        };
        let Some(permit) = client.take_permit() else {
            return refuse(ProxyError::Forbidden("one CONNECT per connection\n"));
        };
        let http = client.http.clone();
        tokio::spawn(async move {
            // Held until the session ends: it counts toward max_connections.
            let _permit = permit;
            let upgraded = match hyper::upgrade::on(request).await {
                Ok(upgraded) => upgraded,
                Err(err) => {
                    tracing::debug!(error = %err, "CONNECT upgrade failed");
                    return;
                }
            };
            let client = format!("inside CONNECT to {to}");
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

/// The `HOST:PORT` of a `CONNECT`, which RFC 9110 allows only in
/// authority-form: no scheme, no path, no user-info, a port from 1 to 65535.
fn connect_target(uri: &Uri) -> Result<HostPort, ProxyError> {
    use crate::config::HostPortError;
    if uri.scheme().is_some() || uri.path_and_query().is_some() {
        return Err(ProxyError::BadConnect(HostPortError::NotAuthorityForm));
    }
    let authority = uri
        .authority()
        .ok_or(ProxyError::BadConnect(HostPortError::EmptyHost))?;
    HostPort::parse(authority.as_str()).map_err(ProxyError::BadConnect)
}

/// The `200` that turns the connection into a tunnel.
fn established() -> Response<ProxyBody> {
    let mut response = Response::new(full(bytes::Bytes::new()));
    *response.status_mut() = StatusCode::OK;
    response
}

fn refuse(err: ProxyError) -> Response<ProxyBody> {
    tracing::debug!(error = %err, "proxy request refused");
    err.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostPortError;

    fn target(text: &str) -> Result<String, HostPortError> {
        let uri: Uri = text.parse().map_err(|_| HostPortError::BadHost)?;
        match connect_target(&uri) {
            Ok(to) => Ok(to.to_string()),
            Err(ProxyError::BadConnect(err)) => Err(err),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn only_authority_form_is_a_connect_target() {
        assert_eq!(target("Vendor.Test.:443"), Ok("vendor.test:443".into()));
        assert_eq!(target("[::1]:8443"), Ok("[::1]:8443".into()));
        assert_eq!(target("user:pw@host:443"), Err(HostPortError::UserInfo));
        assert_eq!(target("host"), Err(HostPortError::MissingPort));
        assert_eq!(
            target("https://host:443/"),
            Err(HostPortError::NotAuthorityForm)
        );
        assert_eq!(target("/path"), Err(HostPortError::NotAuthorityForm));
    }
}
