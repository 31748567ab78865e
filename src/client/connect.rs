//! Where the proxy opens its connections to the upstream: `[upstream]
//! connect_to`, else a name lookup that the pod's hosts file cannot turn back
//! onto the proxy itself.
//!
//! The trap this avoids: when the IdV app reaches the proxy through a
//! Kubernetes `hostAliases` entry (vendor name -> 127.0.0.1), the proxy shares
//! that hosts file, so the system resolver would send the proxy to itself.
//! [`Redirect`] sends connections for the upstream's host and port to
//! `connect_to` (like curl's `--connect-to`); TLS above it still sends SNI
//! for, and verifies, the upstream's own name, because hyper-rustls takes
//! both from the request URI before the TCP connection is made. Without
//! `connect_to`, [`Resolver::Dns`] asks the DNS servers directly and never
//! reads the hosts file.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use http::Uri;
use http::uri::{Authority, Scheme};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use tower_service::Service;

use crate::client::idle::Origin;
use crate::config::{Resolve, UpstreamConfig};
use crate::error::BoxError;

/// A resolver could not be built (no usable `/etc/resolv.conf`, say).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up DNS resolution for the upstream: {0}")]
pub struct ResolverError(String);

/// Turns a host name into addresses, the way `[upstream] resolve` says.
#[derive(Clone)]
pub enum Resolver {
    /// DNS only; the hosts file is never read.
    Dns(Arc<TokioResolver>),
    /// getaddrinfo: hosts file, then DNS.
    System(GaiResolver),
}

impl Resolver {
    pub fn new(resolve: &Resolve) -> Result<Self, ResolverError> {
        let servers = match resolve {
            Resolve::System => return Ok(Resolver::System(GaiResolver::new())),
            Resolve::Dns { servers } => servers,
        };
        let mut builder = if servers.is_empty() {
            TokioResolver::builder_tokio().map_err(|err| ResolverError(err.to_string()))?
        } else {
            let name_servers = servers
                .iter()
                .map(|server| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = server.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = server.port();
                    NameServerConfig::new(server.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), name_servers),
                TokioRuntimeProvider::default(),
            )
        };
        builder.options_mut().use_hosts_file = ResolveHosts::Never;
        let resolver = builder
            .build()
            .map_err(|err| ResolverError(err.to_string()))?;
        Ok(Resolver::Dns(Arc::new(resolver)))
    }
}

type Resolving =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, BoxError>> + Send>>;

impl Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Resolving;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        match self {
            Resolver::Dns(resolver) => {
                let resolver = Arc::clone(resolver);
                Box::pin(async move {
                    let found = resolver.lookup_ip(name.as_str()).await?;
                    // The port is filled in by the HTTP connector.
                    let addrs: Vec<SocketAddr> =
                        found.iter().map(|ip| SocketAddr::new(ip, 0)).collect();
                    Ok(addrs.into_iter())
                })
            }
            Resolver::System(gai) => {
                let resolving = gai.call(name);
                Box::pin(async move {
                    let addrs: Vec<SocketAddr> = resolving.await?.collect();
                    Ok(addrs.into_iter())
                })
            }
        }
    }
}

/// The TCP connector under TLS: connections for the upstream's host and
/// port go to `connect_to` when it is set; every other connection (and all
/// of them without `connect_to`) goes where the resolver says.
#[derive(Clone)]
pub struct Redirect {
    inner: HttpConnector<Resolver>,
    /// The upstream's host (lower case) and port.
    from: (String, u16),
    to: Option<Authority>,
}

impl Redirect {
    pub fn new(config: &UpstreamConfig) -> Result<Self, ResolverError> {
        let mut inner = HttpConnector::new_with_resolver(Resolver::new(&config.resolve)?);
        inner.enforce_http(false);
        inner.set_nodelay(true);
        inner.set_connect_timeout(Some(config.connect_timeout));
        let to = match &config.connect_to {
            Some((host, port)) => Some(
                format!("{host}:{port}")
                    .parse::<Authority>()
                    .map_err(|_| ResolverError("upstream.connect_to is not HOST:PORT".into()))?,
            ),
            None => None,
        };
        Ok(Self {
            inner,
            from: host_and_port(&config.base_url)
                .ok_or_else(|| ResolverError("upstream.base_url has no host".into()))?,
            to,
        })
    }

    /// A connector that sends every connection where the system resolver
    /// says (getaddrinfo: the hosts file, then DNS): the Socure client's,
    /// whose vendor name no `hostAliases` entry turns back onto the proxy.
    pub fn system() -> Self {
        let mut inner = HttpConnector::new_with_resolver(Resolver::System(GaiResolver::new()));
        inner.enforce_http(false);
        inner.set_nodelay(true);
        Self {
            inner,
            from: (String::new(), 0),
            to: None,
        }
    }

    /// Where a connection for `uri` really goes.
    fn target(&self, uri: Uri) -> Uri {
        let Some(to) = &self.to else { return uri };
        if host_and_port(&uri).as_ref() != Some(&self.from) {
            return uri;
        }
        let mut parts = uri.into_parts();
        parts.authority = Some(to.clone());
        Uri::from_parts(parts).unwrap_or_else(|_| {
            // Unreachable: scheme and path were already valid with an
            // authority; keep the original rather than panic.
            Uri::from_static("/")
        })
    }
}

/// A URI's host, lower case and without a trailing dot (`host.` is the same
/// name, and must not slip past `connect_to`), and its port (the scheme's
/// default if none).
fn host_and_port(uri: &Uri) -> Option<(String, u16)> {
    let host = uri.host()?;
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme() == Some(&Scheme::HTTP) {
            80
        } else {
            443
        });
    Some((host, port))
}

impl Service<Uri> for Redirect {
    type Response = <HttpConnector<Resolver> as Service<Uri>>::Response;
    type Error = <HttpConnector<Resolver> as Service<Uri>>::Error;
    type Future = <HttpConnector<Resolver> as Service<Uri>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let target = self.target(uri);
        self.inner.call(target)
    }
}

impl std::fmt::Debug for Redirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redirect")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish()
    }
}

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

/// A new TCP (and, for `https`, TLS) connection to `to` by `connector`.
pub async fn open(
    connector: &Connector,
    to: &Origin,
) -> Result<<Connector as Service<Uri>>::Response, ConnectError> {
    let uri = Uri::builder()
        .scheme(to.scheme.clone())
        .authority(to.authority.clone())
        .path_and_query("/")
        .build()
        .map_err(ConnectError::Address)?;
    let mut connector = connector.clone();
    std::future::poll_fn(|cx| connector.poll_ready(cx))
        .await
        .map_err(ConnectError::Open)?;
    connector.call(uri).await.map_err(ConnectError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn redirect(base_url: &str) -> Redirect {
        Redirect::new(&UpstreamConfig {
            base_url: base_url.parse().expect("url"),
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            ca_file: None,
            client_identity: None,
            connect_to: Some(("10.9.8.7".into(), 8443)),
            resolve: Resolve::System,
        })
        .expect("redirect")
    }

    #[test]
    fn connect_to_takes_the_upstreams_host_however_it_is_spelt() {
        let redirect = redirect("https://Vendor.Test");
        for uri in [
            "https://vendor.test/x",
            "https://VENDOR.test:443/x",
            "https://vendor.test./x",
        ] {
            let to = redirect.target(uri.parse().expect("uri"));
            assert_eq!(
                to.authority().map(|a| a.as_str()),
                Some("10.9.8.7:8443"),
                "{uri}"
            );
            assert_eq!(to.path(), "/x");
        }
        for uri in ["https://vendor.test:8443/x", "https://other.test/x"] {
            let to = redirect.target(uri.parse().expect("uri"));
            assert_ne!(
                to.authority().map(|a| a.as_str()),
                Some("10.9.8.7:8443"),
                "{uri}"
            );
        }
    }
}
