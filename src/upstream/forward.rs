//! The forward path to the resolution vendor: the pooled connections, hop-by-hop rules, and the proxy's own 400/502/504.
//!
//! "Unchanged" is the point (the IdP signs body, path and host, CONTRACT.md
//! section 1): method, path and query, every end-to-end header with its value
//! and the case of its name, and the body bytes go out as they came in; the
//! answer comes back the same way. Only hop-by-hop headers (RFC 9110 section
//! 7.6.1) are dropped, and `Host` names the upstream.

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri, Version};
use http_body_util::{BodyExt, LengthLimitError};
use hyper::client::conn::http1;

use crate::body::ProxyBody;
use crate::body::pace::BodyTimedOut;
use crate::client::connect::ConnectError;
use crate::client::connect::Redirect;
use crate::client::wire::{HOP_BY_HOP, WireError, WirePool};
use crate::config::{HostPort, UpstreamConfig};
use crate::error::{BoxError, caused_by};
use crate::ops::metrics::BusyLimit;
use crate::upstream::in_flight::{ConnectionShare, InFlight, Permit, UpstreamBody};
use crate::upstream::pool::{Origin, Pool, SendError};

/// Why a request could not be forwarded, or its answer not had. The data
/// path's `proxy::answer` turns each into the client's answer.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("upstream did not answer within {0:?}")]
    Timeout(Duration),
    #[error("could not connect to the upstream")]
    Connect(#[source] ConnectError),
    #[error("upstream request failed")]
    Upstream(#[source] hyper::Error),
    /// The hand-written lane's exchange failed on the connection.
    #[error("upstream request failed")]
    Wire(#[source] WireError),
    #[error("request body could not be read from the client")]
    ClientBody(#[source] BoxError),
    #[error("request body over listen.max_request_body_bytes")]
    TooLarge,
    /// The client did not keep its body's pace (`listen.request_body_*`).
    #[error("request body too slow")]
    BodyTimeout(#[source] BodyTimedOut),
    #[error("request target cannot be forwarded")]
    BadTarget,
    #[error("upstream client could not be built: {0}")]
    Setup(&'static str),
    /// Too many requests on their way to the upstream already (`in_flight`).
    #[error("too many upstream requests in flight ({})", match .0 {
        BusyLimit::Process => "listen.max_connections for the process",
        BusyLimit::Connection => "this HTTP/2 connection's share",
    })]
    Busy(BusyLimit),
}

impl ForwardError {
    /// A request body error: over the hard limit (413) or broken (400).
    pub fn from_client_body(err: BoxError) -> Self {
        if err.is::<LengthLimitError>() {
            ForwardError::TooLarge
        } else {
            match err.downcast::<BodyTimedOut>() {
                Ok(timed_out) => ForwardError::BodyTimeout(*timed_out),
                Err(err) => ForwardError::ClientBody(err),
            }
        }
    }

    /// A failed exchange with the upstream, told by whose fault it is: the
    /// client's when its body failed while it streamed out (hyper reports
    /// that as the request's own error, after part of it may have gone).
    fn from_exchange(err: SendError) -> Self {
        let err = match err {
            SendError::Connect(err) => return ForwardError::Connect(err),
            SendError::Exchange(err) => err,
        };
        if caused_by::<LengthLimitError>(&err) {
            // The client's body hit the hard limit while it streamed out ...
            ForwardError::TooLarge
        } else if let Some(timed_out) = timed_out_body(&err) {
            // ... or fell below its pace ...
            ForwardError::BodyTimeout(timed_out)
        } else if caused_by::<FromClient>(&err) {
            // ... or broke (a bad chunk, a reset from the client).
            ForwardError::ClientBody(Box::new(err))
        } else {
            ForwardError::Upstream(err)
        }
    }
}

/// Marks an error of the client's request body on its way to the upstream,
/// so that the client's fault is not taken for the upstream's.
#[derive(Debug, thiserror::Error)]
#[error("the client's request body failed")]
struct FromClient(#[source] BoxError);

/// The pace error under a client error, if the request body was too slow.
fn timed_out_body(err: &hyper::Error) -> Option<BodyTimedOut> {
    crate::error::chain(err).find_map(|cause| cause.downcast_ref::<BodyTimedOut>().copied())
}

/// How long the upstream took to its response head; carried in the
/// response's extensions (never sent) for the metrics.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamTime(pub std::time::Duration);

/// Where a request is forwarded: scheme, authority, and the `Host` sent.
#[derive(Debug, Clone)]
pub struct Target {
    scheme: Scheme,
    authority: Authority,
    /// `None`: the client's own `Host` goes out as it came.
    host_header: Option<HeaderValue>,
}

impl Target {
    /// The configured upstream: `Host` names it, whatever the client said,
    /// so a foreign `Host` can never steer the request.
    pub fn upstream(scheme: Scheme, authority: Authority) -> Result<Self, ForwardError> {
        Ok(Self {
            host_header: Some(
                HeaderValue::from_str(authority.as_str())
                    .map_err(|_| ForwardError::Setup("upstream host is not a valid Host header"))?,
            ),
            scheme,
            authority,
        })
    }

    /// An intercepted `CONNECT` to `to`: its requests go there over TLS
    /// with their `Host` as the app sent it (the app signed for it). The
    /// host is the normalised one, so `connect::Redirect` recognises the
    /// upstream's host however the `CONNECT` spelt it.
    pub fn intercepted(to: &HostPort) -> Result<Self, ForwardError> {
        let authority = if to.port == 443 {
            Authority::try_from(to.host.to_string())
        } else {
            Authority::try_from(to.to_string())
        }
        .map_err(|_| ForwardError::BadTarget)?;
        Ok(Self {
            scheme: Scheme::HTTPS,
            authority,
            host_header: None,
        })
    }
}

/// How far ahead of the client an upstream connection reads an answer
/// (hyper's default is about 400 KiB): a client that stops reading a large
/// answer holds at most this much of it in the proxy (and the kernel's
/// socket buffers), per upstream connection. Part of every open request's
/// worst case (`capacity`).
pub const UPSTREAM_READ_BUFFER: usize = 64 * 1024;

/// How long an upstream connection may wait idle for its next request
/// (the legacy client's setting, kept).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The pooled connections to the upstream. Requests go to the configured
/// upstream, or, in forward-proxy mode, to the intercepted host a request
/// carries as a [`Target`] extension.
pub struct Upstream {
    pool: Pool,
    /// The hand-written lane's connections (`ingress::lane`).
    wire: WirePool,
    /// Where the configured upstream's connections go: built once, as the
    /// lane's pool is keyed by it on every request.
    origin: Origin,
    target: Target,
    timeout: Duration,
    /// Requests in flight: each holds an upstream connection.
    in_flight: InFlight,
}

impl Upstream {
    /// `tls` is the verifying client config; `connector` decides where TCP
    /// connections go (see `connect`); at most `max_in_flight` requests are
    /// on their way at once (see `in_flight`).
    pub fn new(
        config: &UpstreamConfig,
        tls: rustls::ClientConfig,
        connector: Redirect,
        max_in_flight: usize,
    ) -> Result<Self, ForwardError> {
        // HTTP/1.1 only: it is what the IdP speaks to LexisNexis, and the only
        // version in which the case of a header name survives.
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let mut http1 = http1::Builder::new();
        http1
            .preserve_header_case(true)
            .max_buf_size(UPSTREAM_READ_BUFFER);
        // As many idle as may be busy: the connections a peak needed wait for
        // the next one, and never more than `capacity` counts.
        let wire = WirePool::new(https.clone(), max_in_flight, IDLE_TIMEOUT);
        let pool = Pool::new(https, http1, max_in_flight, IDLE_TIMEOUT);
        let parts = config.base_url.clone().into_parts();
        let scheme = parts.scheme.unwrap_or(Scheme::HTTPS);
        let authority = parts
            .authority
            .ok_or(ForwardError::Setup("upstream base URL has no host"))?;
        let origin = Origin {
            scheme: scheme.clone(),
            authority: authority.clone(),
        };
        Ok(Self {
            pool,
            wire,
            origin,
            target: Target::upstream(scheme, authority)?,
            timeout: config.timeout,
            in_flight: InFlight::new(max_in_flight),
        })
    }

    /// The lane's raw connections.
    pub fn wire(&self) -> &WirePool {
        &self.wire
    }

    /// Where the configured upstream's requests go.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The `Host` the configured upstream's requests carry.
    pub fn host_header(&self) -> &[u8] {
        self.target.host_header.as_ref().map_or(
            self.target.authority.as_str().as_bytes(),
            HeaderValue::as_bytes,
        )
    }

    /// How long the upstream may take to its answer's head.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Requests on their way to the upstream now (for the metrics).
    pub fn in_flight(&self) -> usize {
        self.in_flight.held()
    }

    /// A place for one request on its way here, taken before its body is
    /// read (so it also bounds the request heads held), with the client
    /// connection's `share` for HTTP/2; see `in_flight`. Its share is waited
    /// for at most the upstream timeout.
    pub async fn take_place(&self, share: Option<ConnectionShare>) -> Result<Permit, ForwardError> {
        self.in_flight
            .take(share, self.timeout)
            .await
            .map_err(ForwardError::Busy)
    }

    /// Sends the request to the upstream and returns its answer as soon as
    /// the head is in; the body streams on, holding the request's place in
    /// flight until it is done.
    pub async fn send(
        &self,
        parts: http::request::Parts,
        body: ProxyBody,
        permit: Permit,
    ) -> Result<Response<UpstreamBody>, ForwardError> {
        let body = body.map_err(|err| BoxError::from(FromClient(err))).boxed();
        let (to, request) = self.outgoing(parts, body)?;
        let started = std::time::Instant::now();
        match tokio::time::timeout(self.timeout, self.pool.send(&to, request)).await {
            Err(_) => Err(ForwardError::Timeout(self.timeout)),
            Ok(Err(err)) => Err(ForwardError::from_exchange(err)),
            Ok(Ok((mut response, pooled))) => {
                response
                    .extensions_mut()
                    .insert(UpstreamTime(started.elapsed()));
                // Most answers are whole in the connection's buffer by now:
                // the connection is idle and takes the next request at once.
                let pooled = if pooled.is_ready() {
                    pooled.release(true);
                    None
                } else {
                    Some(pooled)
                };
                Ok(response.map(|body| UpstreamBody::new(body, permit, pooled)))
            }
        }
    }

    /// The request as it leaves, and where to: same method, path, query,
    /// headers (minus hop-by-hop), extensions (which carry the original
    /// header-name case), body; the upstream's scheme and authority,
    /// whatever the client named. The target is in origin form (`/path?q`),
    /// as HTTP/1.1 sends it to an origin server.
    fn outgoing(
        &self,
        parts: http::request::Parts,
        body: ProxyBody,
    ) -> Result<(Origin, Request<ProxyBody>), ForwardError> {
        let path_and_query = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let target = parts.extensions.get::<Target>().unwrap_or(&self.target);
        let to = Origin {
            scheme: target.scheme.clone(),
            authority: target.authority.clone(),
        };
        let uri = Uri::from(path_and_query);
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        match (&target.host_header, headers.contains_key(header::HOST)) {
            // `insert` replaces every value: exactly one `Host` goes out.
            (Some(named), _) => {
                headers.insert(header::HOST, named.clone());
            }
            (None, true) => {}
            (None, false) => {
                let host = HeaderValue::from_str(target.authority.as_str())
                    .map_err(|_| ForwardError::BadTarget)?;
                headers.insert(header::HOST, host);
            }
        }
        let mut request = Request::new(body);
        *request.method_mut() = parts.method;
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = headers;
        *request.extensions_mut() = parts.extensions;
        Ok((to, request))
    }
}

/// Drops the hop-by-hop fields, keeping the rest in order. Most messages
/// carry none, and then the map is left as it is, not copied.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers
        .keys()
        .any(|name| HOP_BY_HOP.contains(&name.as_str()))
    {
        // `HeaderMap::remove` would reorder the rest; a copy keeps the order.
        *headers = end_to_end(headers);
    }
}

/// A copy of `headers` without hop-by-hop fields, in the same order.
pub fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let named_by_connection: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    let mut kept = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if HOP_BY_HOP.contains(&name.as_str()) || named_by_connection.contains(name) {
            continue;
        }
        kept.append(name.clone(), value.clone());
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_fields_are_dropped_in_order() {
        let mut headers = HeaderMap::new();
        headers.append("x-first", HeaderValue::from_static("1"));
        headers.append(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Private"),
        );
        headers.append("x-private", HeaderValue::from_static("secret-hop"));
        headers.append(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.append("x-last", HeaderValue::from_static("2"));
        headers.append("x-last", HeaderValue::from_static("3"));
        let kept = end_to_end(&headers);
        let names: Vec<(&str, &str)> = kept
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or("?")))
            .collect();
        assert_eq!(
            names,
            vec![("x-first", "1"), ("x-last", "2"), ("x-last", "3")]
        );
    }
}
