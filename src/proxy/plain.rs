//! A plain HTTP/1.1 request's way on the hand-written lane: the ticket at the door, a place in flight, the body (already read with its head, as a rule), the upstream exchange on a raw connection, and the answer relayed to the client with a copy shown to the ticket.
//!
//! The same steps, in the same order, as [`Proxy::handle`] takes through
//! hyper: the same ticket calls, the same errors and answers
//! (`answer::fail`), the same metrics. What differs is only the carrying:
//! heads go through as bytes (`proxy::head`, `client::wire`), so a
//! request costs no `HeaderMap`, no hyper dispatch and no task hop.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::Response;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::body::ProxyBody;
use crate::body::pace::Paced;
use crate::client::wire::{self, Chunks, Framing, WireError};
use crate::error::BoxError;
use crate::ops::metrics::Route;
use crate::proxy::Proxy;
use crate::proxy::answer::{self, ProxyError};
use crate::proxy::head::PlainHead;
use crate::shadow::ticket::Ticket;
use crate::upstream::forward::{ForwardError, Upstream};
use crate::upstream::pool::Origin;

/// After an answer: whether the client connection can take another request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    KeepAlive,
    Close,
}

/// A connection's buffers, kept across its requests.
#[derive(Default)]
pub struct Scratch {
    /// The head that goes upstream, then the head and first body bytes
    /// that go to the client.
    pub out: Vec<u8>,
    /// The upstream's answer as read.
    answer: BytesMut,
    /// Bytes of this request's answer went to the client.
    answering: bool,
}

/// The largest request body the lane takes: it reads a body whole before
/// it goes upstream (the body comes with its head, as a rule), so a larger
/// one is left to hyper, which streams it. An InstantVerify body is under
/// 1 KiB.
pub const MAX_BODY: usize = 16 * 1024;
/// The most a relay reads of an answer's body at once.
const RELAY_CHUNK: usize = 16 * 1024;
/// The most a client may send ahead while its request is upstream.
const MAX_EARLY_BYTES: usize = 16 * 1024;

/// What one lane connection with a request open may hold at worst beside
/// its task, for `capacity`: the client's bytes (a head up to `head`, the
/// body, bytes sent ahead), the head that goes upstream with the body, and
/// the answer's head and one piece of its body, read and written.
pub fn worst_buffers(head: usize) -> usize {
    let client = head + MAX_BODY + MAX_EARLY_BYTES;
    let out = (head + MAX_BODY).max(wire::MAX_ANSWER_HEAD + RELAY_CHUNK);
    let answer = wire::MAX_ANSWER_HEAD + RELAY_CHUNK;
    client + out + answer
}

impl Proxy {
    /// Answers one plain request whose head is at the start of `buf` (and
    /// whose upstream head is in `scratch.out`). `draining`: the connection
    /// closes after this answer.
    pub async fn plain<IO>(
        &self,
        io: &mut IO,
        buf: &mut BytesMut,
        head: PlainHead,
        scratch: &mut Scratch,
        draining: bool,
    ) -> After
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let started = Instant::now();
        let (route, ticket) = match &self.shadow {
            Some(tickets) => {
                tickets.take_declared(&head.method, &head.path, Some(head.content_length))
            }
            None => (Route::Passthrough, None),
        };
        buf.advance(head.len);
        let request = Plain {
            proxy: self,
            head: &head,
            route,
            ticket,
            started,
            keep_alive: !draining && head.keep_alive,
        };
        scratch.answering = false;
        // Boxed: the request's future is large, and is moved into the
        // unwind guard and again into this one's state otherwise.
        let answered = std::panic::AssertUnwindSafe(Box::pin(request.run(io, buf, scratch)));
        match futures_util::FutureExt::catch_unwind(answered).await {
            Ok(after) => after,
            Err(_) => {
                // As hyper's path: a 500 for this request alone, unless its
                // answer had begun (then the connection's end says it).
                self.metrics.forwarded(route, 500, None, started.elapsed());
                let response = answer::fail(ProxyError::Internal, &head.method, &head.path);
                if !scratch.answering
                    && let Ok(bytes) = serialize(response, false).await
                {
                    let _ = io.write_all(&bytes).await;
                }
                let _ = io.shutdown().await;
                After::Close
            }
        }
    }
}

/// One plain request on its way.
struct Plain<'p> {
    proxy: &'p Proxy,
    head: &'p PlainHead,
    route: Route,
    ticket: Option<Ticket>,
    started: Instant,
    /// The client connection stays open after this answer.
    keep_alive: bool,
}

impl Plain<'_> {
    async fn run<IO>(mut self, io: &mut IO, buf: &mut BytesMut, scratch: &mut Scratch) -> After
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let upstream = &self.proxy.upstream;
        let permit = match upstream.take_place(None).await {
            Ok(permit) => permit,
            // The body is still on the connection: it closes.
            Err(err) => return self.fail(io, err.into(), false).await,
        };
        let length = usize::try_from(self.head.content_length).unwrap_or(usize::MAX);
        let body = if buf.len() >= length {
            buf.split_to(length).freeze()
        } else {
            match self.read_body(io, buf, length).await {
                Ok(body) => body,
                Err(err) => {
                    let err = ForwardError::from_client_body(err);
                    return self.fail(io, err.into(), false).await;
                }
            }
        };
        if let Some(ticket) = self.ticket.as_mut() {
            let whole = (body.len() <= ticket.body_limit()).then(|| body.to_vec());
            ticket.request_read(whole);
            ticket.sending();
        }
        let to = upstream.origin();
        let (mut stream, mut answer, upstream_time) =
            match send(io, buf, to, &body, scratch, upstream).await {
                Ok(sent) => sent,
                Err(Some(err)) => return self.fail(io, err, true).await,
                // The ticket's drop says the client went away.
                Err(None) => return After::Close,
            };
        if let Some(ticket) = self.ticket.as_mut() {
            ticket.answer_head(answer.status, answer.content_type.take());
        }
        self.proxy.metrics.forwarded(
            self.route,
            answer.status,
            Some(upstream_time),
            self.started.elapsed(),
        );
        if !self.keep_alive {
            scratch.out.extend_from_slice(b"connection: close\r\n");
        }
        scratch.out.extend_from_slice(b"\r\n");
        scratch.answer.advance(answer.len);
        let relayed = self.relay(io, &mut stream, answer.framing, scratch).await;
        drop(permit);
        match relayed {
            Relayed::Whole => {
                if answer.reusable && scratch.answer.is_empty() {
                    upstream.wire().give_back(to, stream);
                }
                if let Some(ticket) = self.ticket.take() {
                    ticket.answered();
                }
                if self.keep_alive {
                    After::KeepAlive
                } else {
                    let _ = io.shutdown().await;
                    After::Close
                }
            }
            Relayed::UpstreamFailed => {
                if let Some(ticket) = self.ticket.take() {
                    ticket.not_forwarded(
                        crate::judge::resolution::Exchange::UpstreamFailed,
                        "the answer broke off".into(),
                    );
                }
                After::Close
            }
            // The ticket's drop says the client went away.
            Relayed::ClientGone => After::Close,
        }
    }

    /// The rest of the body, beyond what came with the head, held to the
    /// body's pace as hyper's path holds it (`body::pace`).
    async fn read_body<IO>(
        &self,
        io: &mut IO,
        buf: &mut BytesMut,
        length: usize,
    ) -> Result<Bytes, BoxError>
    where
        IO: AsyncRead + Unpin,
    {
        let mut body = BytesMut::with_capacity(length);
        let mut paced = Paced::new(
            ClientBody {
                io,
                buf,
                left: length,
            },
            self.proxy.limits.body_pace,
        );
        while let Some(frame) = paced.frame().await {
            if let Ok(data) = frame?.into_data() {
                body.extend_from_slice(&data);
            }
        }
        Ok(body.freeze())
    }

    /// The answer's body to the client as the upstream frames it: its
    /// length kept, or chunked again (as hyper would) when it has none.
    async fn relay<IO>(
        &mut self,
        io: &mut IO,
        stream: &mut wire::Stream,
        framing: Framing,
        scratch: &mut Scratch,
    ) -> Relayed
    where
        IO: AsyncWrite + Unpin,
    {
        scratch.answering = true;
        let Scratch { out, answer, .. } = scratch;
        let ticket = &mut self.ticket;
        let mut show = |data: &[u8]| {
            if let Some(ticket) = ticket.as_mut() {
                ticket.answer_data(data);
            }
        };
        match framing {
            Framing::Empty => {
                if io.write_all(out).await.is_err() {
                    return Relayed::ClientGone;
                }
                Relayed::Whole
            }
            Framing::Length(length) => {
                relay_length(io, stream, length, out, answer, &mut show).await
            }
            Framing::Chunked | Framing::UntilClose => {
                relay_unframed(io, stream, framing, out, answer, &mut show).await
            }
        }
    }

    /// The proxy's own answer (`answer::fail`), counted as hyper's path
    /// counts it. `body_read`: the request's body is off the connection,
    /// so it may carry another request unless the error says otherwise.
    async fn fail<IO>(mut self, io: &mut IO, err: ProxyError, body_read: bool) -> After
    where
        IO: AsyncWrite + Unpin,
    {
        if let Some(ticket) = self.ticket.take() {
            ticket.not_forwarded(err.exchange(), err.to_string());
        }
        let keep_alive = self.keep_alive && body_read && !err.closes_connection();
        let response = self.proxy.fail(err, &self.head.method, &self.head.path);
        self.proxy.metrics.forwarded(
            self.route,
            response.status().as_u16(),
            None,
            self.started.elapsed(),
        );
        let Ok(bytes) = serialize(response, keep_alive).await else {
            return After::Close;
        };
        if io.write_all(&bytes).await.is_err() || !keep_alive {
            let _ = io.shutdown().await;
            return After::Close;
        }
        After::KeepAlive
    }
}

/// How an answer's relay ended.
enum Relayed {
    Whole,
    UpstreamFailed,
    ClientGone,
}

/// The exchange with the upstream, bounded by its timeout, with the
/// client watched meanwhile (as hyper's server watches it: one that goes
/// away ends the exchange; bytes it sends wait for the next request).
/// `Err(None)`: the client went away.
async fn send<IO: AsyncRead + Unpin>(
    io: &mut IO,
    buf: &mut BytesMut,
    to: &Origin,
    body: &Bytes,
    scratch: &mut Scratch,
    upstream: &Upstream,
) -> Result<(wire::Stream, wire::AnswerHead, Duration), Option<ProxyError>> {
    let sent_at = Instant::now();
    let exchange = tokio::time::timeout(
        upstream.timeout(),
        exchange(upstream.wire(), to, body, scratch),
    );
    let answered = tokio::select! {
        answered = exchange => answered,
        () = client_gone(io, buf) => return Err(None),
    };
    let err = match answered {
        Ok(Ok((stream, answer))) => return Ok((stream, answer, sent_at.elapsed())),
        Err(_) => ForwardError::Timeout(upstream.timeout()),
        Ok(Err(WireError::Connect(err))) => ForwardError::Connect(err),
        Ok(Err(err)) => ForwardError::Wire(err),
    };
    Err(Some(err.into()))
}

/// Sends the request (head in `scratch.out`, then `body`) on a pooled or
/// new connection and reads the answer's head, leaving the client's head
/// in `scratch.out` and what was read past it in `scratch.answer`.
async fn exchange(
    pool: &wire::WirePool,
    to: &Origin,
    body: &Bytes,
    scratch: &mut Scratch,
) -> Result<(wire::Stream, wire::AnswerHead), WireError> {
    let mut stream = pool.checkout(to).await?;
    // One write for head and body (the lane's bodies are small).
    scratch.out.extend_from_slice(body);
    stream.write_all(&scratch.out).await?;
    scratch.answer.clear();
    let head =
        wire::read_answer_head(&mut stream, &mut scratch.answer, Some(&mut scratch.out)).await?;
    Ok((stream, head))
}

/// A body of known length, as it comes: what came with the head goes out
/// with the client's head.
async fn relay_length<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    stream: &mut wire::Stream,
    length: u64,
    out: &mut Vec<u8>,
    answer: &mut BytesMut,
    show: &mut impl FnMut(&[u8]),
) -> Relayed {
    let mut left = usize::try_from(length).unwrap_or(usize::MAX);
    loop {
        let take = left.min(answer.len());
        show(&answer[..take]);
        out.extend_from_slice(&answer[..take]);
        answer.advance(take);
        left -= take;
        if io.write_all(out).await.is_err() {
            return Relayed::ClientGone;
        }
        out.clear();
        if left == 0 {
            return Relayed::Whole;
        }
        answer.reserve(left.min(RELAY_CHUNK));
        match stream.read_buf(answer).await {
            Ok(0) | Err(_) => return Relayed::UpstreamFailed,
            Ok(_) => {}
        }
    }
}

/// A chunked body, or one the upstream's close ends: chunked again for the
/// client, a chunk per read, as hyper would send it.
async fn relay_unframed<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    stream: &mut wire::Stream,
    framing: Framing,
    out: &mut Vec<u8>,
    answer: &mut BytesMut,
    show: &mut impl FnMut(&[u8]),
) -> Relayed {
    let mut chunks = Chunks::default();
    loop {
        let fed = if framing == Framing::Chunked {
            chunks.feed(answer, |data| {
                show(data);
                wire::push_chunk(out, data);
            })
        } else {
            show(answer);
            wire::push_chunk(out, answer);
            answer.clear();
            Ok(())
        };
        if fed.is_err() {
            return Relayed::UpstreamFailed;
        }
        let done = chunks.is_done();
        if done {
            out.extend_from_slice(wire::LAST_CHUNK);
        }
        if io.write_all(out).await.is_err() {
            return Relayed::ClientGone;
        }
        out.clear();
        if done {
            return Relayed::Whole;
        }
        answer.reserve(RELAY_CHUNK);
        match stream.read_buf(answer).await {
            Ok(0) if framing == Framing::UntilClose => {
                if io.write_all(wire::LAST_CHUNK).await.is_err() {
                    return Relayed::ClientGone;
                }
                return Relayed::Whole;
            }
            Ok(0) | Err(_) => return Relayed::UpstreamFailed,
            Ok(_) => {}
        }
    }
}

/// Returns when the client closes its side (or its connection fails);
/// what it sends before that is kept in `buf`, up to a bound past which it
/// is not read until the answer is out.
async fn client_gone<IO: AsyncRead + Unpin>(io: &mut IO, buf: &mut BytesMut) {
    loop {
        if buf.len() >= MAX_EARLY_BYTES {
            return std::future::pending().await;
        }
        buf.reserve(4096.min(MAX_EARLY_BYTES - buf.len()));
        match io.read_buf(buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The proxy's own answer as HTTP/1.1 bytes, as hyper writes it: status
/// line, its headers, `content-length`, and `connection: close` when the
/// connection ends with it.
async fn serialize(response: Response<ProxyBody>, keep_alive: bool) -> Result<Vec<u8>, BoxError> {
    let (head, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut out = Vec::with_capacity(128 + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(head.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &head.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !keep_alive && !head.headers.contains_key(http::header::CONNECTION) {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// The part of a request body not yet read: what is in `buf`, then the
/// connection, up to `left` bytes.
struct ClientBody<'a, IO> {
    io: &'a mut IO,
    buf: &'a mut BytesMut,
    left: usize,
}

impl<IO: AsyncRead + Unpin> Body for ClientBody<'_, IO> {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        if this.buf.is_empty() {
            this.buf.reserve(this.left.min(64 * 1024));
            match tokio_util::io::poll_read_buf(std::pin::Pin::new(&mut *this.io), cx, this.buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(err)) => return Poll::Ready(Some(Err(err))),
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Some(Err(std::io::ErrorKind::UnexpectedEof.into())));
                }
                Poll::Ready(Ok(_)) => {}
            }
        }
        let take = this.left.min(this.buf.len());
        this.left -= take;
        Poll::Ready(Some(Ok(Frame::data(this.buf.split_to(take).freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }
}
