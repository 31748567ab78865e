//! The proxy's own answers: why it answered instead of the upstream (the data path's error enum), the one place those become HTTP statuses and texts, and what the mirror records for each.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use crate::body::{ProxyBody, full};
use crate::config::HostPortError;
use crate::error;
use crate::judge::resolution::Exchange;
use crate::upstream::forward::ForwardError;

/// Why the proxy answered instead of the upstream: the upstream exchange
/// failed ([`ForwardError`]), the request was refused before it went out,
/// or (forward-proxy mode) its `CONNECT` was.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(transparent)]
    Forward(#[from] ForwardError),
    /// Both `Content-Length` and `Transfer-Encoding`: a smuggling attempt
    /// more often than a mistake, so it is refused, not forwarded.
    #[error("request has both Content-Length and Transfer-Encoding")]
    AmbiguousLength,
    /// RFC 9112 section 3.2: more than one `Host` is a 400, and which one
    /// a later hop would believe is anyone's guess.
    #[error("request has more than one Host")]
    TwoHosts,
    /// An HTTP/1.1 request without `Host` (RFC 9112 section 3.2 requires
    /// the 400): which host it meant is anyone's guess.
    #[error("HTTP/1.1 request without Host")]
    MissingHost,
    /// Forward-proxy mode: a `CONNECT` whose target is not `HOST:PORT`.
    #[error("bad CONNECT target: {0}")]
    BadConnect(#[source] HostPortError),
    /// Forward-proxy mode: a request the proxy will not carry.
    #[error("refused: {0}")]
    Forbidden(&'static str),
    /// Forward-proxy mode: a tunnel's far end could not be reached.
    #[error("could not connect the tunnel")]
    Tunnel(#[source] std::io::Error),
    /// The request's own task panicked; the connection survives it.
    #[error("internal error while handling the request")]
    Internal,
}

impl ProxyError {
    /// The one place where the proxy's own failures become HTTP statuses.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::Forward(err) => match err {
                ForwardError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
                ForwardError::Connect(_) | ForwardError::Upstream(_) | ForwardError::Wire(_) => {
                    StatusCode::BAD_GATEWAY
                }
                ForwardError::ClientBody(_) | ForwardError::BadTarget => StatusCode::BAD_REQUEST,
                ForwardError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                ForwardError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
                ForwardError::Setup(_) => StatusCode::INTERNAL_SERVER_ERROR,
                ForwardError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
            ProxyError::Tunnel(_) => StatusCode::BAD_GATEWAY,
            ProxyError::Forbidden(_) => StatusCode::FORBIDDEN,
            ProxyError::TwoHosts
            | ProxyError::MissingHost
            | ProxyError::BadConnect(_)
            | ProxyError::AmbiguousLength => StatusCode::BAD_REQUEST,
            ProxyError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the mirror records when the proxy answered instead of the upstream.
    pub fn exchange(&self) -> Exchange {
        match self {
            ProxyError::Forward(err) => match err {
                ForwardError::Timeout(_) => Exchange::UpstreamTimeout,
                // Never sent: the proxy had no room for it on the way to LexisNexis.
                ForwardError::Connect(_) | ForwardError::Busy(_) => Exchange::UpstreamUnreachable,
                ForwardError::ClientBody(_) | ForwardError::BodyTimeout(_) => {
                    Exchange::RequestUnreadable
                }
                ForwardError::TooLarge => Exchange::RequestRefused,
                ForwardError::Upstream(_)
                | ForwardError::Wire(_)
                | ForwardError::BadTarget
                | ForwardError::Setup(_) => Exchange::UpstreamFailed,
            },
            // Refused before anything went out.
            ProxyError::AmbiguousLength | ProxyError::TwoHosts | ProxyError::MissingHost => {
                Exchange::RequestRefused
            }
            ProxyError::BadConnect(_) | ProxyError::Forbidden(_) | ProxyError::Tunnel(_) => {
                Exchange::UpstreamFailed
            }
            ProxyError::Internal => Exchange::InternalError,
        }
    }

    /// Whether the connection must close after this answer: the rest of the
    /// request cannot be trusted to be where its framing says it ends.
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            ProxyError::Forward(
                ForwardError::ClientBody(_) | ForwardError::TooLarge | ForwardError::BodyTimeout(_)
            ) | ProxyError::AmbiguousLength
        )
    }

    /// A short plain answer; never any detail an attacker or a log reader
    /// could use, the log line has that.
    pub fn into_response(self) -> Response<ProxyBody> {
        let status = self.status();
        let close = self.closes_connection();
        let text = match self {
            ProxyError::Forward(err) => match err {
                ForwardError::Timeout(_) => "upstream timed out\n",
                ForwardError::Connect(_) | ForwardError::Upstream(_) | ForwardError::Wire(_) => {
                    "upstream unavailable\n"
                }
                ForwardError::ClientBody(_) => "bad request body\n",
                ForwardError::TooLarge => "request body too large\n",
                ForwardError::BodyTimeout(_) => "request body too slow\n",
                ForwardError::BadTarget => "bad request target\n",
                ForwardError::Setup(_) => "proxy misconfigured\n",
                ForwardError::Busy(_) => "too many requests in flight\n",
            },
            ProxyError::Tunnel(_) => "upstream unavailable\n",
            ProxyError::Forbidden(why) => why,
            ProxyError::AmbiguousLength => "both Content-Length and Transfer-Encoding\n",
            ProxyError::TwoHosts => "bad request target\n",
            ProxyError::MissingHost => "missing Host header\n",
            ProxyError::BadConnect(err) => bad_connect_text(err),
            ProxyError::Internal => "proxy internal error\n",
        };
        let mut response = Response::new(full(Bytes::from_static(text.as_bytes())));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// The answer to a malformed `CONNECT` target: what is wrong with it, which
/// only repeats the client's own request back.
fn bad_connect_text(err: HostPortError) -> &'static str {
    match err {
        HostPortError::UserInfo => "bad CONNECT target: user-info (user@) is not allowed\n",
        HostPortError::MissingPort | HostPortError::NotAuthorityForm => {
            "bad CONNECT target: expected HOST:PORT\n"
        }
        HostPortError::BadPort => "bad CONNECT target: the port must be 1 to 65535\n",
        HostPortError::EmptyHost => "bad CONNECT target: the host is empty\n",
        HostPortError::BadHost => {
            "bad CONNECT target: the host is not a host name or an IP address\n"
        }
    }
}

/// Logs the proxy's own failure (path only: a query could carry anything)
/// and builds its answer.
pub fn fail(err: ProxyError, method: &http::Method, path: &str) -> Response<ProxyBody> {
    let causes: Vec<String> = error::chain(&err)
        .skip(1)
        .map(ToString::to_string)
        .collect();
    tracing::warn!(
        status = err.status().as_u16(),
        error = %err,
        cause = %causes.join(": "),
        %method,
        path,
        "proxy answered for the upstream"
    );
    err.into_response()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ops::metrics::BusyLimit;

    #[test]
    fn proxy_errors_map_to_their_statuses() {
        let cases = [
            (
                ProxyError::from(ForwardError::Timeout(Duration::from_secs(1))),
                StatusCode::GATEWAY_TIMEOUT,
            ),
            (
                ProxyError::from(ForwardError::Busy(BusyLimit::Process)),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (ProxyError::TwoHosts, StatusCode::BAD_REQUEST),
            (ProxyError::Forbidden("no\n"), StatusCode::FORBIDDEN),
            (ProxyError::Internal, StatusCode::INTERNAL_SERVER_ERROR),
        ];
        for (err, status) in cases {
            assert_eq!(err.status(), status, "{err}");
        }
    }
}
