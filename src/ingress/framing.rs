//! Watches each HTTP/1 connection's raw request bytes for framing that hyper
//! tolerates but the proxy refuses: `Content-Length` together with
//! `Transfer-Encoding`.
//!
//! hyper frames such a request by `Transfer-Encoding`, drops `Content-Length`
//! and closes the connection after answering (RFC 9112 section 6.3), so
//! nothing can be smuggled; but it hands the handler no sign of it, and a
//! request like that is an attack more often than a mistake, so we answer 400
//! and forward nothing. [`Watched`] sits between the socket and hyper and
//! follows the request stream as hyper will read it: each head, then its body
//! by `Content-Length` or chunked framing. It only ever observes bytes; it
//! never changes or holds them back.
//!
//! It fails open: at anything it does not follow exactly (a parse error, an
//! upgrade, HTTP/2, a head past the size limit) it stops watching for the
//! rest of the connection and flags nothing more. hyper refuses those itself,
//! so a missed flag costs only the literal 400, never a wrong one.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the watcher found, shared with the connection's request handler.
#[derive(Debug)]
pub struct Findings {
    /// Index (0-based, in arrival order) of the first request with both
    /// length fields; `u64::MAX` while there is none.
    ambiguous: AtomicU64,
    /// Requests the handler has seen on this connection.
    served: AtomicU64,
}

impl Findings {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            ambiguous: AtomicU64::new(u64::MAX),
            served: AtomicU64::new(0),
        })
    }

    /// Called once per request, in order, by the connection's handler:
    /// whether this request is the one with both length fields. hyper parses
    /// a head only from bytes that came through [`Watched`], so the scanner
    /// has always seen head `n` before the handler is called for request `n`.
    pub fn next_request_is_ambiguous(&self) -> bool {
        let n = self.served.fetch_add(1, Ordering::Relaxed);
        self.ambiguous.load(Ordering::Acquire) == n
    }
}

/// A connection's socket as hyper reads it, with the request stream watched.
pub struct Watched<T> {
    inner: T,
    scanner: Scanner,
    findings: Arc<Findings>,
}

impl<T> Watched<T> {
    /// `max_head_bytes`: past this a head is hyper's to refuse (431), and
    /// the watcher stops.
    pub fn new(inner: T, max_head_bytes: usize) -> (Self, Arc<Findings>) {
        let findings = Findings::new();
        let watched = Self {
            inner,
            scanner: Scanner::new(max_head_bytes),
            findings: Arc::clone(&findings),
        };
        (watched, findings)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && let Some(index) = this.scanner.feed(&buf.filled()[before..])
        {
            this.findings.ambiguous.store(index, Ordering::Release);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Where the scanner is in the request stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting a request head into `Scanner::head`.
    Head,
    /// Skipping this many body bytes (`Content-Length` framing).
    Body(u64),
    /// Reading a chunk-size line; `digits` so far, `value` so far.
    ChunkSize {
        value: u64,
        digits: u8,
    },
    /// Past a chunk size's `;`: skipping an extension to its line end.
    ChunkExtension {
        value: u64,
    },
    /// Expecting the LF that ends a chunk-size line.
    ChunkSizeLf {
        value: u64,
    },
    /// Skipping chunk data.
    ChunkData(u64),
    /// Expecting the CR, then the LF, that end chunk data.
    ChunkDataCr,
    ChunkDataLf,
    /// In the trailer section; `line` bytes of the current line so far.
    Trailer {
        line: usize,
    },
    /// Expecting the LF of a trailer line (or of the final empty line).
    TrailerLf {
        line: usize,
    },
    /// Not following any more (see the module comment).
    Stopped,
}

/// Follows HTTP/1 request framing over arbitrary read boundaries.
#[derive(Debug)]
pub struct Scanner {
    state: State,
    head: Vec<u8>,
    max_head_bytes: usize,
    /// Heads parsed so far.
    requests: u64,
}

impl Scanner {
    pub fn new(max_head_bytes: usize) -> Self {
        Self {
            state: State::Head,
            head: Vec::new(),
            max_head_bytes,
            requests: 0,
        }
    }

    /// Follows `bytes`, the next bytes of the stream. Returns the index of a
    /// request whose head has both length fields, if these bytes completed
    /// one. After such a request hyper closes the connection, so the scanner
    /// stops there.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Option<u64> {
        while !bytes.is_empty() {
            match self.state {
                State::Stopped => return None,
                State::Head => {
                    let searched = self.head.len().saturating_sub(3);
                    let room = self.max_head_bytes.saturating_sub(self.head.len());
                    let take = bytes.len().min(room.max(1));
                    self.head.extend_from_slice(&bytes[..take]);
                    match find_head_end(&self.head[searched..]) {
                        Some(end) => {
                            let end = searched + end;
                            let rest = self.head.len() - end;
                            bytes = &bytes[take - rest..];
                            if let Some(index) = self.end_head(end) {
                                return Some(index);
                            }
                        }
                        None if self.head.len() >= self.max_head_bytes => {
                            self.state = State::Stopped;
                        }
                        None => bytes = &bytes[take..],
                    }
                }
                State::Body(left) => {
                    (bytes, self.state) = skip(bytes, left, State::Body, State::Head);
                }
                State::ChunkData(left) => {
                    (bytes, self.state) = skip(bytes, left, State::ChunkData, State::ChunkDataCr);
                }
                _ => {
                    self.state = self.chunk_step(bytes[0]);
                    bytes = &bytes[1..];
                }
            }
        }
        None
    }

    /// Parses the head in `self.head[..end]` and picks the body's framing.
    fn end_head(&mut self, end: usize) -> Option<u64> {
        let framing = parse_head(&self.head[..end]);
        self.head.clear();
        let index = self.requests;
        self.requests += 1;
        match framing {
            Some(Framing::Ambiguous) => {
                self.state = State::Stopped;
                Some(index)
            }
            Some(Framing::Length(0)) => {
                self.state = State::Head;
                None
            }
            Some(Framing::Length(n)) => {
                self.state = State::Body(n);
                None
            }
            Some(Framing::Chunked) => {
                self.state = State::ChunkSize {
                    value: 0,
                    digits: 0,
                };
                None
            }
            None => {
                self.state = State::Stopped;
                None
            }
        }
    }

    /// One byte of chunk framing (RFC 9112 section 7.1), as strictly as
    /// hyper reads it; anything else stops the scanner.
    fn chunk_step(&self, byte: u8) -> State {
        match self.state {
            State::ChunkSize { value, digits } => match (byte as char).to_digit(16) {
                // hyper refuses a size past u64 (more than 16 hex digits).
                Some(d) if digits < 16 => State::ChunkSize {
                    value: value * 16 + u64::from(d),
                    digits: digits + 1,
                },
                None if digits > 0 => match byte {
                    b'\r' => State::ChunkSizeLf { value },
                    b';' | b' ' | b'\t' => State::ChunkExtension { value },
                    _ => State::Stopped,
                },
                _ => State::Stopped,
            },
            State::ChunkExtension { value } => match byte {
                b'\r' => State::ChunkSizeLf { value },
                b'\n' => State::Stopped,
                _ => State::ChunkExtension { value },
            },
            State::ChunkSizeLf { value } => match (byte, value) {
                (b'\n', 0) => State::Trailer { line: 0 },
                (b'\n', n) => State::ChunkData(n),
                _ => State::Stopped,
            },
            State::ChunkDataCr if byte == b'\r' => State::ChunkDataLf,
            State::ChunkDataLf if byte == b'\n' => State::ChunkSize {
                value: 0,
                digits: 0,
            },
            State::Trailer { line } => match byte {
                b'\r' => State::TrailerLf { line },
                b'\n' => State::Stopped,
                _ if line >= self.max_head_bytes => State::Stopped,
                _ => State::Trailer { line: line + 1 },
            },
            State::TrailerLf { line } => match (byte, line) {
                (b'\n', 0) => State::Head,
                (b'\n', _) => State::Trailer { line: 0 },
                _ => State::Stopped,
            },
            _ => State::Stopped,
        }
    }
}

/// Skips up to `left` bytes of `bytes`: what remains, and the state after,
/// `more(left)` if bytes are still owed, else `then`.
fn skip(bytes: &[u8], left: u64, more: fn(u64) -> State, then: State) -> (&[u8], State) {
    let n = left.min(bytes.len() as u64);
    let state = if n == left { then } else { more(left - n) };
    (&bytes[n as usize..], state)
}

/// Where the blank line after a head ends, as an index past it.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// How a request head frames its body.
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    Ambiguous,
}

/// Reads a head's framing the way hyper does. `None` for anything the
/// scanner should not follow past: a head hyper would refuse, HTTP/2's
/// preface, an upgrade or `CONNECT` (after which the bytes are not HTTP/1).
fn parse_head(head: &[u8]) -> Option<Framing> {
    let mut fields = [httparse::EMPTY_HEADER; 100];
    let mut request = httparse::Request::new(&mut fields);
    if !matches!(request.parse(head), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    if request.method == Some("CONNECT") || request.version != Some(1) {
        // HTTP/1.0 has no chunked framing and no keep-alive by default;
        // hyper refuses `Transfer-Encoding` there. Not worth following.
        return None;
    }
    let (mut length, mut chunked, mut encoded) = (None, false, false);
    for field in request.headers.iter() {
        if field.name.eq_ignore_ascii_case("upgrade") {
            return None;
        }
        if field.name.eq_ignore_ascii_case("transfer-encoding") {
            encoded = true;
            // hyper: chunked must be the last coding of the last field.
            chunked = std::str::from_utf8(field.value).ok().is_some_and(|v| {
                v.rsplit(',')
                    .next()
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
            });
        } else if field.name.eq_ignore_ascii_case("content-length") {
            if !field.value.iter().all(u8::is_ascii_digit) || field.value.is_empty() {
                return if encoded {
                    Some(Framing::Ambiguous)
                } else {
                    None
                };
            }
            let value = std::str::from_utf8(field.value).ok()?.parse::<u64>().ok()?;
            if length.is_some_and(|prev| prev != value) && !encoded {
                return None;
            }
            length = Some(value);
        }
    }
    match (encoded, chunked, length) {
        (true, _, Some(_)) => Some(Framing::Ambiguous),
        (true, true, None) => Some(Framing::Chunked),
        (true, false, None) => None,
        (false, _, length) => Some(Framing::Length(length.unwrap_or(0))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_split(stream: &[u8], split: usize) -> (Option<u64>, State, u64) {
        let mut scanner = Scanner::new(65536);
        let mut found = None;
        for piece in stream.chunks(split.max(1)) {
            if let Some(index) = scanner.feed(piece) {
                found.get_or_insert(index);
            }
        }
        (found, scanner.state, scanner.requests)
    }

    const CHUNKED: &[u8] = b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;ext=1\r\nhello\r\n0\r\nTrailer-One: x\r\n\r\n";
    const LENGTH: &[u8] = b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    const BARE: &[u8] = b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    const BOTH: &[u8] = b"POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\
        Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    const BOTH_TE_FIRST: &[u8] = b"POST /d HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\
        content-length: 4\r\nHost: x\r\n\r\n0\r\n\r\n";

    #[test]
    fn follows_keep_alive_requests_of_every_framing_at_any_split() {
        let stream = [CHUNKED, LENGTH, BARE, CHUNKED].concat();
        for split in 1..=stream.len() {
            assert_eq!(
                feed_split(&stream, split),
                (None, State::Head, 4),
                "split {split}"
            );
        }
    }

    #[test]
    fn finds_both_length_fields_in_either_order_after_other_requests() {
        for both in [BOTH, BOTH_TE_FIRST] {
            let stream = [LENGTH, CHUNKED, both, BARE].concat();
            for split in 1..=stream.len() {
                assert_eq!(
                    feed_split(&stream, split),
                    (Some(2), State::Stopped, 3),
                    "split {split}"
                );
            }
        }
    }

    #[test]
    fn stops_at_what_it_does_not_follow() {
        for stream in [
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            b"CONNECT a:443 HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"garbage\r\n\r\n",
        ] {
            let (found, state, _) = feed_split(stream, stream.len());
            assert_eq!((found, state), (None, State::Stopped), "{stream:?}");
        }
    }

    #[test]
    fn a_head_past_the_limit_stops_the_scanner() {
        let mut scanner = Scanner::new(64);
        assert_eq!(scanner.feed(&[b'a'; 100]), None);
        assert_eq!(scanner.state, State::Stopped);
        assert_eq!(scanner.feed(BOTH), None);
    }

    use proptest::prelude::*;

    /// One well-framed request of any framing, body bytes included.
    fn well_framed() -> impl Strategy<Value = Vec<u8>> {
        let body = proptest::collection::vec(any::<u8>(), 0..300);
        prop_oneof![
            Just(BARE.to_vec()),
            body.clone().prop_map(|body| {
                let mut r = format!(
                    "POST /l HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend(body);
                r
            }),
            (proptest::collection::vec(body, 0..4), any::<bool>()).prop_map(|(chunks, trailer)| {
                let mut r = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                for chunk in chunks.iter().filter(|c| !c.is_empty()) {
                    r.extend(format!("{:X};n=v\r\n", chunk.len()).bytes());
                    r.extend(chunk);
                    r.extend(b"\r\n");
                }
                r.extend(if trailer {
                    &b"0\r\nT: v\r\n\r\n"[..]
                } else {
                    b"0\r\n\r\n"
                });
                r
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn never_panics_and_flags_only_a_counted_request(
            bytes in proptest::collection::vec(any::<u8>(), 0..2000),
            split in 1usize..64,
        ) {
            let (found, _, requests) = feed_split(&bytes, split);
            prop_assert!(found.is_none_or(|index| index < requests));
        }

        #[test]
        fn follows_any_keep_alive_sequence_and_flags_exactly_the_ambiguous_one(
            requests in proptest::collection::vec(well_framed(), 0..6),
            ambiguous_at in proptest::option::of(0usize..6),
            split in 1usize..200,
        ) {
            let mut stream: Vec<u8> = Vec::new();
            let mut flagged = None;
            for (i, request) in requests.iter().enumerate() {
                if ambiguous_at == Some(i) {
                    flagged = Some(i as u64);
                    stream.extend(BOTH);
                }
                stream.extend(request);
            }
            let (found, state, counted) = feed_split(&stream, split);
            prop_assert_eq!(found, flagged);
            match flagged {
                Some(index) => prop_assert_eq!((state, counted), (State::Stopped, index + 1)),
                None => prop_assert_eq!((state, counted), (State::Head, requests.len() as u64)),
            }
        }
    }
}
