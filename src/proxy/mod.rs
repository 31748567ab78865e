//! The data path: one request's way through the proxy: a ticket at the shadow's door, route, tap if it holds one, forward, answer.
//!
//! Every request is forwarded. Only one that holds a shadow ticket (an
//! InstantVerify request, shadow mode on, room in the mirror) also goes
//! through the tap: its body is read once and its copy given to the ticket,
//! and its answer is shown to the ticket on its way back. The ticket is all
//! this module knows of the shadow side, and nothing here waits for Socure
//! or for the shadow log.

use futures_util::FutureExt;
use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::body::pace::{Pace, Paced};
use crate::body::{self, ProxyBody, RequestBody};
use crate::config::Config;
use crate::error::BoxError;
use crate::ops::metrics::{Metrics, Phase, Route};
use crate::shadow::ticket::{Ticket, Tickets};
use crate::upstream::forward::{self, ForwardError, Upstream, UpstreamTime};
use crate::upstream::in_flight::{ConnectionShare, Permit, UpstreamBody};

pub mod answer;
pub mod head;
pub mod plain;
pub mod tap;

use answer::{ProxyError, fail};
use tap::ResponseTap;

/// Marks a request whose head carried both `Content-Length` and
/// `Transfer-Encoding`: set in its extensions by the listener, whose framing
/// watch saw the raw head (hyper keeps only one of the two fields).
#[derive(Debug, Clone, Copy)]
pub struct AmbiguousLength;

pub struct Proxy {
    upstream: Upstream,
    /// `None` when the mirror was not built: then the proxy is a plain
    /// forwarder.
    shadow: Option<Tickets>,
    limits: ProxyLimits,
    metrics: Metrics,
}

/// The sizes and paces the proxy accepts (`[listen]`).
#[derive(Debug, Clone)]
struct ProxyLimits {
    /// The hard limit on any request body: past it, 413.
    max_request_body_bytes: usize,
    /// How fast a request body must come: too slow, 408.
    body_pace: Pace,
}

impl Proxy {
    pub fn new(
        config: &Config,
        upstream: Upstream,
        shadow: Option<Tickets>,
        metrics: Metrics,
    ) -> Self {
        let listen = &config.listen;
        Self {
            upstream,
            shadow,
            limits: ProxyLimits {
                max_request_body_bytes: listen.max_request_body_bytes,
                body_pace: Pace {
                    grace: listen.timeouts.request_body_grace,
                    min_rate: listen.timeouts.request_body_min_rate,
                },
            },
            metrics,
        }
    }

    /// Answers one request, whatever happens inside: a panic in this
    /// request's handling becomes a 500 for this request alone.
    pub async fn handle(&self, request: Request<Incoming>) -> Response<ProxyBody> {
        let started = std::time::Instant::now();
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        let (route, ticket) = match &self.shadow {
            Some(tickets) => tickets.take(&method, &path, request.headers()),
            None => (Route::Passthrough, None),
        };
        let answer = self.route(request, ticket, &method, &path);
        let response = answer_even_if_panics(answer, &method, &path).await;
        self.metrics.forwarded(
            route,
            response.status().as_u16(),
            response.extensions().get::<UpstreamTime>().map(|t| t.0),
            started.elapsed(),
        );
        response
    }

    /// Never fails: the proxy's own errors become 400/413/502/504 answers
    /// here. `method` and `path` are the request's, taken once by `handle`.
    async fn route(
        &self,
        request: Request<Incoming>,
        ticket: Option<Ticket>,
        method: &http::Method,
        path: &str,
    ) -> Response<ProxyBody> {
        let (mut parts, body) = request.into_parts();
        if let Err(err) = self.admit(&parts) {
            if let Some(ticket) = ticket {
                // Whatever admit refuses never reached the upstream.
                ticket.not_forwarded(err.exchange(), err.to_string());
            }
            return fail(err, method, path);
        }
        // A place on the way upstream, held until the answer's body is
        // done: taken before the body is read, so it bounds the requests
        // (and heads) held open as well as the upstream connections.
        let share = parts.extensions.remove::<ConnectionShare>();
        let permit = match self.upstream.take_place(share).await {
            Ok(permit) => permit,
            Err(err) => {
                let err = ProxyError::from(err);
                if let Some(ticket) = ticket {
                    ticket.not_forwarded(err.exchange(), err.to_string());
                }
                return self.fail(err, method, path);
            }
        };
        let body = Limited::new(
            Paced::new(body, self.limits.body_pace),
            self.limits.max_request_body_bytes,
        );
        match ticket {
            Some(ticket) => {
                let request = Request::from_parts(parts, body);
                self.shadowed(ticket, request, permit, method, path).await
            }
            None => match self.upstream.send(parts, body.boxed(), permit).await {
                Ok(response) => passthrough(response, |body| body.map_err(BoxError::from).boxed()),
                Err(err) => self.fail(err.into(), method, path),
            },
        }
    }

    /// Refuses, before a byte of the body is read or forwarded, a request
    /// the framing watch found with both `Content-Length` and
    /// `Transfer-Encoding` (hyper keeps only the latter, so the headers alone
    /// cannot show it), one with two `Host` fields or (HTTP/1.1) none, and a
    /// body declared larger than the hard limit.
    fn admit(&self, parts: &http::request::Parts) -> Result<(), ProxyError> {
        if parts.extensions.get::<AmbiguousLength>().is_some() {
            return Err(ProxyError::AmbiguousLength);
        }
        // RFC 9112 section 3.2: more than one `Host` is a 400, and which one
        // a later hop would believe is anyone's guess.
        if parts
            .headers
            .get_all(http::header::HOST)
            .iter()
            .nth(1)
            .is_some()
        {
            return Err(ProxyError::TwoHosts);
        }
        // Section 3.2 again: HTTP/1.1 must name its host (HTTP/1.0 had no
        // `Host`; HTTP/2 names it in `:authority`, which hyper puts in the URI).
        if parts.version == http::Version::HTTP_11
            && !parts.headers.contains_key(http::header::HOST)
        {
            return Err(ProxyError::MissingHost);
        }
        let declared = body::declared_length(&parts.headers);
        if declared.is_some_and(|n| n > self.limits.max_request_body_bytes as u64) {
            return Err(ForwardError::TooLarge.into());
        }
        Ok(())
    }

    /// [`fail`], counting a body too slow among the timeouts and a busy
    /// upstream by its limit.
    fn fail(&self, err: ProxyError, method: &http::Method, path: &str) -> Response<ProxyBody> {
        match err {
            ProxyError::Forward(ForwardError::BodyTimeout(_)) => {
                self.metrics.timed_out(Phase::RequestBody);
            }
            ProxyError::Forward(ForwardError::Busy(limit)) => self.metrics.upstream_busy(limit),
            _ => {}
        }
        fail(err, method, path)
    }

    /// The `Host` the configured upstream's requests carry.
    pub fn upstream_host(&self) -> &[u8] {
        self.upstream.host_header()
    }

    /// The hard limit on a request body (`listen.max_request_body_bytes`).
    pub fn max_request_body_bytes(&self) -> usize {
        self.limits.max_request_body_bytes
    }

    /// Requests on their way to the upstream now.
    pub fn upstream_in_flight(&self) -> usize {
        self.upstream.in_flight()
    }

    /// A shadowed request's way: its body read once (a copy to its
    /// ticket), forwarded, and its answer shown to the ticket on its way back.
    async fn shadowed(
        &self,
        mut ticket: Ticket,
        request: Request<RequestBody>,
        permit: Permit,
        method: &http::Method,
        path: &str,
    ) -> Response<ProxyBody> {
        let (parts, body) = request.into_parts();
        let read = match tap::read_request(body, ticket.body_limit()).await {
            Ok(read) => read,
            Err(err) => {
                let err = ProxyError::from(ForwardError::from_client_body(err));
                ticket.not_forwarded(err.exchange(), err.to_string());
                return self.fail(err, method, path);
            }
        };
        ticket.request_read(read.whole());
        ticket.sending();
        match self
            .upstream
            .send(parts, read.into_forward_body(), permit)
            .await
        {
            Ok(response) => {
                ticket.answer_head(
                    response.status().as_u16(),
                    body::content_type(response.headers()),
                );
                passthrough(response, |body| ResponseTap::new(body, ticket).boxed())
            }
            Err(err) => {
                let err = ProxyError::from(err);
                ticket.not_forwarded(err.exchange(), err.to_string());
                self.fail(err, method, path)
            }
        }
    }
}

/// The answer `route` gives, or a 500 if it panicked: the panic ends this
/// request's handling only, never the connection's task or the process.
async fn answer_even_if_panics(
    route: impl Future<Output = Response<ProxyBody>>,
    method: &http::Method,
    path: &str,
) -> Response<ProxyBody> {
    match std::panic::AssertUnwindSafe(route).catch_unwind().await {
        Ok(response) => response,
        Err(_) => fail(ProxyError::Internal, method, path),
    }
}

/// The upstream's answer as the client gets it: hop-by-hop fields dropped,
/// everything else (status, headers, their case, body) as sent.
fn passthrough(
    response: Response<UpstreamBody>,
    wrap: impl FnOnce(UpstreamBody) -> ProxyBody,
) -> Response<ProxyBody> {
    let (mut head, body) = response.into_parts();
    forward::strip_hop_by_hop(&mut head.headers);
    Response::from_parts(head, wrap(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_while_routing_is_a_500_for_that_request() {
        let route = async { panic!("forced panic in a request") };
        let response = answer_even_if_panics(route, &http::Method::POST, "/fake").await;
        assert_eq!(response.status(), 500);
        let body = response.into_body().collect().await.expect("a full body");
        assert_eq!(body.to_bytes(), "proxy internal error\n");
    }
}
