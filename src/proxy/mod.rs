//! The data path: one request's way through the proxy: route, tap if shadowed, forward, answer.
//!
//! Every request is forwarded. Only an InstantVerify request, with shadow
//! mode on, also goes through the tap: its body is read once and handed to
//! the mirror, and its answer is watched on its way back. Nothing here waits
//! for Socure or for the shadow log.

use std::sync::Arc;

use futures_util::FutureExt;
use http::header::CONTENT_LENGTH;
use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::body::pace::{Pace, Paced};
use crate::body::{self, ProxyBody, RequestBody};
use crate::error::{self, BoxError};
use crate::judge::resolution::Exchange;
use crate::ops::live::Live;
use crate::ops::metrics::{Metrics, Phase, Route};
use crate::shadow::admission::{Charge, Slot};
use crate::shadow::mirror::{Mirror, MirrorInput, Reporter};
use crate::upstream::forward::{self, ForwardError, Upstream, UpstreamTime};
use crate::upstream::in_flight::{ConnectionShare, Permit, UpstreamBody};

pub mod tap;

use tap::ResponseTap;

/// Marks a request whose head carried both `Content-Length` and
/// `Transfer-Encoding`: set in its extensions by the listener, whose framing
/// watch saw the raw head (hyper keeps only one of the two fields).
#[derive(Debug, Clone, Copy)]
pub struct AmbiguousLength;

pub struct Proxy {
    upstream: Upstream,
    /// `None` when shadow mode is off: then the proxy is a plain forwarder.
    mirror: Option<Mirror>,
    limits: ProxyLimits,
    metrics: Metrics,
    live: Arc<Live>,
}

/// The sizes the proxy accepts and holds.
#[derive(Debug, Clone)]
pub struct ProxyLimits {
    /// The InstantVerify workflow whose requests are shadowed.
    pub workflow: String,
    /// Request bytes held for the mirror.
    pub max_body_bytes: usize,
    /// The hard limit on any request body: past it, 413.
    pub max_request_body_bytes: usize,
    /// How fast a request body must come: too slow, 408.
    pub body_pace: Pace,
}

impl Proxy {
    pub fn new(
        upstream: Upstream,
        mirror: Option<Mirror>,
        limits: ProxyLimits,
        metrics: Metrics,
        live: Arc<Live>,
    ) -> Self {
        Self {
            upstream,
            mirror,
            limits,
            metrics,
            live,
        }
    }

    pub fn mirror(&self) -> Option<&Mirror> {
        self.mirror.as_ref()
    }

    /// Answers one request, whatever happens inside: a panic in this
    /// request's handling becomes a 500 for this request alone.
    pub async fn handle(&self, request: Request<Incoming>) -> Response<ProxyBody> {
        let started = std::time::Instant::now();
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        // One atomic load: a reload can turn shadow mode on or off between
        // two requests, never in the middle of one.
        let shadowed = self.mirror.as_ref().filter(|_| {
            self.live.current().shadow_enabled
                && tap::is_instant_verify(&method, &path, &self.limits.workflow)
        });
        // The door: without a slot the request is shed (counted) and goes
        // through as if shadow mode were off, so an overload never queues
        // mirror work or holds its body.
        let (route, shadow) =
            match shadowed.map(|mirror| (mirror, mirror.admit(self.reserve_for(&request)))) {
                Some((mirror, Some(slot))) => (
                    Route::Shadowed,
                    Some(Admitted {
                        mirror,
                        slot: Some(slot),
                        path: &path,
                    }),
                ),
                Some((_, None)) => (Route::Shed, None),
                None => (Route::Passthrough, None),
            };
        let answer = self.route(request, shadow, &method, &path);
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
        shadow: Option<Admitted<'_>>,
        method: &http::Method,
        path: &str,
    ) -> Response<ProxyBody> {
        let (mut parts, body) = request.into_parts();
        if let Err(err) = self.admit(&parts) {
            if let Some(admitted) = shadow {
                // Whatever admit refuses never reached the upstream.
                admitted.unforwarded(err.to_string(), Exchange::RequestRefused);
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
                if let Some(admitted) = shadow {
                    admitted.unforwarded(err.to_string(), exchange_for(&err));
                }
                return self.fail(err, method, path);
            }
        };
        let body = Limited::new(
            Paced::new(body, self.limits.body_pace),
            self.limits.max_request_body_bytes,
        );
        match shadow {
            Some(admitted) => {
                self.shadowed(admitted, parts, body, permit, method, path)
                    .await
            }
            None => match self.upstream.send(parts, body.boxed(), permit).await {
                Ok(response) => passthrough(response, |body| body.map_err(BoxError::from).boxed()),
                Err(err) => self.fail(err, method, path),
            },
        }
    }

    /// Refuses, before a byte of the body is read or forwarded, a request
    /// the framing watch found with both `Content-Length` and
    /// `Transfer-Encoding` (hyper keeps only the latter, so the headers alone
    /// cannot show it), one with two `Host` fields or (HTTP/1.1) none, and a
    /// body declared larger than the hard limit.
    fn admit(&self, parts: &http::request::Parts) -> Result<(), ForwardError> {
        if parts.extensions.get::<AmbiguousLength>().is_some() {
            return Err(ForwardError::AmbiguousLength);
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
            return Err(ForwardError::BadTarget);
        }
        // Section 3.2 again: HTTP/1.1 must name its host (HTTP/1.0 had no
        // `Host`; HTTP/2 names it in `:authority`, which hyper puts in the URI).
        if parts.version == http::Version::HTTP_11
            && !parts.headers.contains_key(http::header::HOST)
        {
            return Err(ForwardError::MissingHost);
        }
        let declared = declared_length(&parts.headers);
        if declared.is_some_and(|n| n > self.limits.max_request_body_bytes as u64) {
            return Err(ForwardError::TooLarge);
        }
        Ok(())
    }

    /// The bytes a shadowed request's body may hold for the mirror, reserved
    /// at the door: its declared length, up to `shadow.max_body_bytes`
    /// (all of it when the length is not declared).
    fn reserve_for(&self, request: &Request<Incoming>) -> usize {
        let max = self.limits.max_body_bytes;
        declared_length(request.headers())
            .map_or(max, |n| usize::try_from(n).unwrap_or(max).min(max))
    }

    /// [`fail`], counting a body too slow among the timeouts and a busy
    /// upstream by its limit.
    fn fail(&self, err: ForwardError, method: &http::Method, path: &str) -> Response<ProxyBody> {
        match err {
            ForwardError::BodyTimeout(_) => self.metrics.timed_out(Phase::RequestBody),
            ForwardError::Busy(limit) => self.metrics.upstream_busy(limit),
            _ => {}
        }
        fail(err, method, path)
    }

    /// Requests on their way to the upstream now.
    pub fn upstream_in_flight(&self) -> usize {
        self.upstream.in_flight()
    }

    async fn shadowed(
        &self,
        admitted: Admitted<'_>,
        parts: http::request::Parts,
        body: RequestBody,
        permit: Permit,
        method: &http::Method,
        path: &str,
    ) -> Response<ProxyBody> {
        let read = match tap::read_request(body, self.limits.max_body_bytes).await {
            Ok(read) => read,
            Err(err) => {
                let err = ForwardError::from_client_body(err);
                admitted.unforwarded(err.to_string(), exchange_for(&err));
                return self.fail(err, method, path);
            }
        };
        let input = match read.whole() {
            Some(body) => MirrorInput::Body(body),
            None => MirrorInput::Skip("request body larger than shadow.max_body_bytes".into()),
        };
        let charge = admitted.charge();
        let mut reporter = admitted.start(input);
        if let Some(reporter) = reporter.as_mut() {
            reporter.start_clock();
        }
        match self
            .upstream
            .send(parts, read.into_forward_body(), permit)
            .await
        {
            Ok(response) => {
                let status = response.status().as_u16();
                let content_type = body::content_type(response.headers());
                passthrough(response, |body| {
                    ResponseTap::new(body, status, content_type, reporter, charge).boxed()
                })
            }
            Err(err) => {
                if let Some(reporter) = reporter {
                    reporter.report(exchange_for(&err));
                }
                self.fail(err, method, path)
            }
        }
    }
}

/// The body length a request declares, if it declares a sane one.
fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// A request admitted to the mirror and not yet handed to it. Dropped so
/// (the client went away while its body was being read, and the server
/// dropped the request's future), it still starts its mirror, which records
/// the client as gone: every admitted request gets its one line.
struct Admitted<'a> {
    mirror: &'a Mirror,
    slot: Option<Slot>,
    path: &'a str,
}

impl Admitted<'_> {
    /// Hands the request to its mirror with what the tap could read. (The
    /// slot is there until this or the drop takes it: `None` cannot happen.)
    fn start(mut self, input: MirrorInput) -> Option<Reporter> {
        let slot = self.slot.take()?;
        Some(self.mirror.start(slot, self.path.to_owned(), input))
    }

    /// The request never reached LexisNexis (`exchange` says why). Its
    /// mirror decides whether that earns a line of its own (see
    /// `Mirror::start`): the data path only reports.
    fn unforwarded(self, why: String, exchange: Exchange) {
        if let Some(reporter) = self.start(MirrorInput::Skip(why)) {
            reporter.report(exchange);
        }
    }

    /// A reservation, against the same budget as the slot, for the copy of
    /// the answer.
    fn charge(&self) -> Option<Charge> {
        self.slot.as_ref().map(|slot| slot.admission().charge())
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            // The reporter, dropped unused, tells the task the client is gone.
            drop(self.mirror.start(
                slot,
                self.path.to_owned(),
                MirrorInput::Skip("the client went away before its request body was read".into()),
            ));
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
        Err(_) => fail(ForwardError::Internal, method, path),
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

/// What the mirror records when the proxy answered instead of the upstream.
fn exchange_for(err: &ForwardError) -> Exchange {
    match err {
        ForwardError::Timeout(_) => Exchange::UpstreamTimeout,
        // Never sent: the proxy had no room for it on the way to LexisNexis.
        ForwardError::Connect(_) | ForwardError::Busy(_) => Exchange::UpstreamUnreachable,
        ForwardError::ClientBody(_) | ForwardError::BodyTimeout(_) => Exchange::RequestUnreadable,
        ForwardError::TooLarge | ForwardError::AmbiguousLength | ForwardError::MissingHost => {
            Exchange::RequestRefused
        }
        ForwardError::Upstream(_)
        | ForwardError::BadTarget
        | ForwardError::BadConnect(_)
        | ForwardError::Setup(_)
        | ForwardError::Forbidden(_)
        | ForwardError::Tunnel(_) => Exchange::UpstreamFailed,
        ForwardError::Internal => Exchange::InternalError,
    }
}

/// Logs the proxy's own failure (path only: a query could carry anything)
/// and builds its answer.
fn fail(err: ForwardError, method: &http::Method, path: &str) -> Response<ProxyBody> {
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
