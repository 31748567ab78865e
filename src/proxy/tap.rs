//! The tap: reads a shadowed request's body once, and watches its answer go by.
//!
//! The request body is read into memory (up to `shadow.max_body_bytes`) and
//! replayed to the upstream frame by frame, so the forwarded bytes are the
//! received bytes. The answer is never held: [`ResponseTap`] passes every
//! frame to the client as it arrives and shows it to the request's shadow
//! ticket, which keeps its copy, and tells the ticket how the body ended.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

use crate::body::{ProxyBody, RequestBody};
use crate::error::BoxError;
use crate::judge::resolution::Exchange;
use crate::shadow::ticket::Ticket;
use crate::upstream::in_flight::UpstreamBody;

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

/// Passes the upstream's answer through untouched, showing each frame to
/// the request's ticket, and tells the ticket how the body ended.
pub struct ResponseTap {
    inner: UpstreamBody,
    /// Until the body ends: then the ticket goes to the mirror.
    ticket: Option<Ticket>,
}

impl ResponseTap {
    pub fn new(inner: UpstreamBody, ticket: Ticket) -> Self {
        let mut tap = Self {
            inner,
            ticket: Some(ticket),
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
        if let Some(ticket) = self.ticket.take() {
            match failure {
                None => ticket.answered(),
                Some(exchange) => {
                    ticket.not_forwarded(exchange, "the answer broke off".into());
                }
            }
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
                if let (Some(data), Some(ticket)) = (frame.data_ref(), this.ticket.as_mut()) {
                    ticket.answer_data(data);
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
        // The ticket's own drop says "client gone" if nothing else was said.
        self.finish_if_ended();
    }
}
