//! The tap: recognises InstantVerify traffic, reads its request body once, and watches its answer go by.
//!
//! The request body is read into memory (up to `shadow.max_body_bytes`) and
//! replayed to the upstream frame by frame, so the forwarded bytes are the
//! received bytes. The answer is never held: [`ResponseTap`] passes every
//! frame to the client as it arrives and keeps a copy on the side, which it
//! hands to the pairing task when the body ends (or says why it didn't).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::upstream::in_flight::UpstreamBody;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

use crate::body::{ProxyBody, RequestBody};
use crate::error::BoxError;
use crate::judge::resolution::Exchange;
use crate::shadow::admission::Charge;
use crate::shadow::mirror::Reporter;

/// How much of an answer is kept for judging. InstantVerify answers are a few
/// KiB; a bigger one is passed through whole and logged as too large to judge.
/// Each admitted request may hold this much (README, "Memory ceiling").
pub const RESPONSE_TAP_LIMIT: usize = 256 * 1024;

/// Whether a request is an InstantVerify call to shadow:
/// `POST /restws/identity/v2/{account}/{workflow}/conversation` with the
/// configured workflow.
pub fn is_instant_verify(method: &Method, path: &str, workflow: &str) -> bool {
    if method != Method::POST || workflow.is_empty() {
        return false;
    }
    let Some(rest) = path.strip_prefix("/restws/identity/v2/") else {
        return false;
    };
    let mut segments = rest.split('/');
    matches!(
        (segments.next(), segments.next(), segments.next(), segments.next()),
        (Some(account), Some(wf), Some("conversation"), None) if !account.is_empty() && wf == workflow
    )
}

/// A request body read for the tap.
pub struct ReadBody {
    /// Data frames as received, in order.
    pub chunks: Vec<Bytes>,
    trailers: Option<HeaderMap>,
    /// The unread rest when the body was larger than the limit.
    rest: Option<RequestBody>,
}

impl ReadBody {
    /// A copy of the whole body in one exact-size buffer, when it fit under
    /// the limit. A copy, not the received chunks: those may be slices of
    /// the connection's larger read buffer, which the mirror would keep alive.
    pub fn whole(&self) -> Option<Vec<u8>> {
        self.rest.is_none().then(|| self.chunks.concat())
    }

    /// The body to forward: the frames read, then whatever was not read yet.
    pub fn into_forward_body(self) -> ProxyBody {
        let mut queued: VecDeque<Frame<Bytes>> = self.chunks.into_iter().map(Frame::data).collect();
        if let Some(trailers) = self.trailers {
            queued.push_back(Frame::trailers(trailers));
        }
        Replay {
            queued,
            rest: self.rest,
        }
        .boxed()
    }
}

/// Reads `body` until its end or until more than `limit` bytes are in.
pub async fn read_request(mut body: RequestBody, limit: usize) -> Result<ReadBody, BoxError> {
    let mut chunks = Vec::new();
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        match frame?.into_data() {
            Ok(data) => {
                len = len.saturating_add(data.len());
                chunks.push(data);
                if len > limit {
                    return Ok(ReadBody {
                        chunks,
                        trailers: None,
                        rest: Some(body),
                    });
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    return Ok(ReadBody {
                        chunks,
                        trailers: Some(trailers),
                        rest: None,
                    });
                }
            }
        }
    }
    Ok(ReadBody {
        chunks,
        trailers: None,
        rest: None,
    })
}

/// Frames already read, then the rest of the live body.
struct Replay {
    queued: VecDeque<Frame<Bytes>>,
    rest: Option<RequestBody>,
}

impl Body for Replay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(frame) = self.queued.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        match self.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.queued.is_empty() && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let queued: u64 = self
            .queued
            .iter()
            .filter_map(Frame::data_ref)
            .map(|d| d.len() as u64)
            .sum();
        match &self.rest {
            // Trailers need chunked framing, so no exact length with them.
            None if self.queued.iter().all(Frame::is_data) => SizeHint::with_exact(queued),
            None => SizeHint::default(),
            Some(rest) => {
                // Upper first: `set_lower` asserts it stays at or under the upper bound.
                let rest = rest.size_hint();
                let mut hint = SizeHint::new();
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper.saturating_add(queued));
                }
                hint.set_lower(rest.lower().saturating_add(queued));
                hint
            }
        }
    }
}

/// Passes the upstream's answer through untouched and reports a copy when it ends.
pub struct ResponseTap {
    inner: UpstreamBody,
    status: u16,
    content_type: Option<String>,
    seen: BytesMut,
    truncated: bool,
    reporter: Option<Reporter>,
    /// The copy's bytes against `shadow.max_buffered_bytes`: it stops
    /// growing (truncated) when the budget is spent, and travels with the
    /// copy so the reservation ends when the copy is freed.
    charge: Option<Charge>,
}

/// A copy of an answer and its reservation, freed together.
struct ChargedCopy {
    copy: BytesMut,
    _charge: Option<Charge>,
}

impl AsRef<[u8]> for ChargedCopy {
    fn as_ref(&self) -> &[u8] {
        &self.copy
    }
}

impl ResponseTap {
    pub fn new(
        inner: UpstreamBody,
        status: u16,
        content_type: Option<String>,
        reporter: Option<Reporter>,
        charge: Option<Charge>,
    ) -> Self {
        let mut tap = Self {
            inner,
            status,
            content_type,
            seen: BytesMut::new(),
            truncated: false,
            reporter,
            charge,
        };
        // An empty answer is complete before the first poll, and hyper may
        // never poll it.
        tap.finish_if_ended();
        tap
    }

    fn finish_if_ended(&mut self) {
        if self.inner.is_end_stream() {
            self.finish(None);
        }
    }

    /// Reports the answer, or `failure` instead of it.
    fn finish(&mut self, failure: Option<Exchange>) {
        if let Some(reporter) = self.reporter.take() {
            reporter.report(failure.unwrap_or_else(|| Exchange::Answered {
                status: self.status,
                content_type: self.content_type.take(),
                body: Bytes::from_owner(ChargedCopy {
                    copy: std::mem::take(&mut self.seen),
                    _charge: self.charge.take(),
                }),
                truncated: self.truncated,
            }));
        }
    }
}

impl Body for ResponseTap {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && !this.truncated
                {
                    let fits = this.seen.len() + data.len() <= RESPONSE_TAP_LIMIT
                        && this.charge.as_mut().is_none_or(|c| c.grow(data.len()));
                    if fits {
                        this.seen.extend_from_slice(data);
                    } else {
                        // Once cut, the copy is not judged: free it now.
                        this.truncated = true;
                        this.seen = BytesMut::new();
                        this.charge = None;
                    }
                }
                this.finish_if_ended();
            }
            Poll::Ready(Some(Err(_))) => this.finish(Some(Exchange::UpstreamFailed)),
            Poll::Ready(None) => this.finish(None),
            Poll::Pending => {}
        }
        polled.map(|frame| frame.map(|result| result.map_err(BoxError::from)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ResponseTap {
    fn drop(&mut self) {
        // The reporter's own drop says "client gone" if nothing else was said.
        self.finish_if_ended();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configured_instant_verify_workflow_is_tapped() {
        let wf = "gsa2.chk32.test.wf";
        let path = "/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation";
        assert!(is_instant_verify(&Method::POST, path, wf));
        assert!(!is_instant_verify(&Method::GET, path, wf));
        assert!(!is_instant_verify(&Method::POST, path, "other.wf"));
        assert!(!is_instant_verify(
            &Method::POST,
            "/restws/identity/v2/test_account/customers.gsa2.phonefinder.wf/conversation",
            wf
        ));
        assert!(!is_instant_verify(
            &Method::POST,
            &format!("{path}/more"),
            wf
        ));
        assert!(!is_instant_verify(
            &Method::POST,
            "/restws/identity/v2//gsa2.chk32.test.wf/conversation",
            wf
        ));
        assert!(!is_instant_verify(&Method::POST, path, ""));
    }
}
