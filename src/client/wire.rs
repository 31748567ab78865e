//! The hand-written lane's side of the upstream: raw HTTP/1.1 connections in a small pool a request checks out directly, the answer's head read with httparse, and its body's framing followed byte for byte.
//!
//! hyper's client, even without the legacy pool, costs a request a task
//! hop to the connection's own task and back, a channel for the body and a
//! `HeaderMap` built and read again: most of what the forward path spent
//! beyond the kernel. Here the request's task writes the head it already
//! has as bytes and reads the answer on the same socket, and the answer's
//! header lines go back to the client as they came (their case and order
//! are "unchanged" for free). The same connector opens the connections
//! (TCP where `connect` says, TLS for `https`), so both lanes reach the
//! upstream the same way; hyper's pool still serves the requests the lane
//! does not take.

use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use hyper_rustls::MaybeHttpsStream;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use crate::client::connect::{self, ConnectError, Connector};
use crate::client::idle::Origin;
use crate::client::idle::{IdleSet, Kept, Usable};

/// One raw connection to the upstream, plain or TLS; boxed, as a TLS
/// stream is a kilobyte or more by value, and it moves in and out of the
/// pool on every request.
pub type Stream = Box<TokioIo<MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>>>;

/// Why an exchange on a raw connection failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("upstream connection failed")]
    Io(#[from] std::io::Error),
    #[error("upstream closed the connection before its answer was whole")]
    Closed,
    #[error("upstream answer malformed: {0}")]
    Malformed(&'static str),
    #[error("upstream answer head over {0} bytes")]
    HeadTooLarge(usize),
}

/// The raw connections kept between requests.
pub struct WirePool {
    connector: Connector,
    idle: IdleSet<Stream>,
}

impl Kept for Stream {
    fn usable(&mut self) -> Usable {
        if still_open(self) {
            Usable::Now
        } else {
            Usable::Never
        }
    }
}

impl WirePool {
    /// At most `max_idle` connections wait idle; one idle for
    /// `idle_timeout` is closed within half as long again (`idle`).
    pub fn new(connector: Connector, max_idle: usize, idle_timeout: Duration) -> Self {
        Self {
            connector,
            idle: IdleSet::new(max_idle, idle_timeout),
        }
    }

    /// The newest idle connection to `to` still open, or a new one. A
    /// reused connection can have been closed by the upstream a moment ago;
    /// the exchange on it then fails (it is not retried: the request may
    /// have been taken).
    pub async fn checkout(&self, to: &Origin) -> Result<Stream, ConnectError> {
        if let Some(stream) = self.idle.take(to) {
            return Ok(stream);
        }
        let io = Box::pin(connect::open(&self.connector, to)).await?;
        self.idle.start_sweeping();
        Ok(Box::new(TokioIo::new(io)))
    }

    /// Keeps `stream` for the next request to `to`, unless enough wait.
    pub fn give_back(&self, to: &Origin, stream: Stream) {
        self.idle.put(to.clone(), stream);
    }
}

/// Whether an idle connection is still quiet: nothing to read, not even its
/// end. A read that is ready (the upstream's FIN, a reset, or bytes no
/// request asked for) means it cannot carry a request. The poll's waker is
/// a no-op: the next real read registers its own.
fn still_open(stream: &mut Stream) -> bool {
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    matches!(
        std::pin::Pin::new(stream).poll_read(&mut cx, &mut buf),
        Poll::Pending
    )
}

/// Header fields that describe one connection, not the message (RFC 9110
/// section 7.6.1, plus the legacy `Proxy-Connection` and `Keep-Alive`),
/// for both lanes (`forward` drops them from hyper's `HeaderMap`s). Fields
/// named in `Connection` are dropped too.
pub const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "transfer-encoding",
    "upgrade",
];

/// Whether a raw field name is one of [`HOP_BY_HOP`], in any case.
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|hop| hop.as_bytes().eq_ignore_ascii_case(name))
}

/// How an answer's body is framed on the upstream connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (204, 304, or `Content-Length: 0`).
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes.
    UntilClose,
}

/// An answer's head, parsed, and what goes to the client for it.
#[derive(Debug)]
pub struct AnswerHead {
    pub status: u16,
    pub content_type: Option<String>,
    pub framing: Framing,
    /// The upstream may keep the connection for another request.
    pub reusable: bool,
    /// Bytes of the head in the read buffer.
    pub len: usize,
}

/// The longest answer head read: as long as the longest request head the
/// listener takes by default. (hyper's client allowed 64 KiB; a lane
/// connection's worst case must stay within hyper's, `capacity`, and a
/// LexisNexis head is a few hundred bytes.)
pub const MAX_ANSWER_HEAD: usize = 32 * 1024;
const MAX_ANSWER_HEADERS: usize = 100;

/// Reads the answer's head into `buf` (bytes past it stay there) and, when
/// the answer goes on to a client, writes that client's head into `out`:
/// the status line as HTTP/1.1 with the upstream's reason, every
/// end-to-end header as it came, and `transfer-encoding: chunked` when the
/// body's length is not known (`None`: the answer is read here, as the
/// Socure client reads its own). Informational (1xx) heads are skipped.
pub async fn read_answer_head(
    stream: &mut Stream,
    buf: &mut BytesMut,
    mut out: Option<&mut Vec<u8>>,
) -> Result<AnswerHead, WireError> {
    loop {
        if let Some(head) = parse_answer_head(buf, out.as_deref_mut())? {
            if (100..200).contains(&head.status) {
                if head.status == 101 {
                    return Err(WireError::Malformed(
                        "101 to a request that asked no upgrade",
                    ));
                }
                buf.advance(head.len);
                continue;
            }
            return Ok(head);
        }
        if buf.len() >= MAX_ANSWER_HEAD {
            return Err(WireError::HeadTooLarge(MAX_ANSWER_HEAD));
        }
        buf.reserve(4096);
        if stream.read_buf(buf).await? == 0 {
            return Err(WireError::Closed);
        }
    }
}

/// One parse of the answer head in `buf`: `None` while it is partial.
fn parse_answer_head(
    buf: &[u8],
    out: Option<&mut Vec<u8>>,
) -> Result<Option<AnswerHead>, WireError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_ANSWER_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(WireError::Malformed("too many header fields"));
        }
        Err(_) => return Err(WireError::Malformed("not an HTTP/1 answer head")),
    };
    let status = response.code.unwrap_or(0);
    let fields = Fields::of(response.headers, response.version == Some(1))?;
    let framing = if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::Empty
    } else if fields.chunked {
        Framing::Chunked
    } else {
        match fields.content_length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }
    };
    if let Some(out) = out {
        client_head(&response, &fields.named, framing, out);
    }
    Ok(Some(AnswerHead {
        status,
        content_type: fields.content_type,
        framing,
        reusable: !fields.close && framing != Framing::UntilClose,
        len,
    }))
}

/// The head the client gets for `response`, into `out`; `named` are the
/// fields its `Connection` names, dropped as hop-by-hop.
fn client_head(
    response: &httparse::Response<'_, '_>,
    named: &[&[u8]],
    framing: Framing,
    out: &mut Vec<u8>,
) {
    let status = response.code.unwrap_or(0);
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    // httparse takes exactly three digits.
    out.extend_from_slice(&[
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
        b' ',
    ]);
    out.extend_from_slice(response.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for header in response.headers.iter() {
        let name = header.name.as_bytes();
        if is_hop_by_hop(name) || named.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(header.value);
        out.extend_from_slice(b"\r\n");
    }
    if matches!(framing, Framing::Chunked | Framing::UntilClose) {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
}

/// What an answer's fields say of its framing and connection.
struct Fields<'b> {
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
    content_type: Option<String>,
    /// Fields `Connection` names: hop-by-hop too.
    named: Vec<&'b [u8]>,
}

impl<'b> Fields<'b> {
    fn of(headers: &[httparse::Header<'b>], http11: bool) -> Result<Self, WireError> {
        let mut fields = Fields {
            content_length: None,
            chunked: false,
            close: !http11,
            content_type: None,
            named: Vec::new(),
        };
        for header in headers {
            let name = header.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length") {
                let length = std::str::from_utf8(header.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .ok_or(WireError::Malformed("bad Content-Length"))?;
                if fields.content_length.is_some_and(|seen| seen != length) {
                    return Err(WireError::Malformed("two Content-Length values"));
                }
                fields.content_length = Some(length);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                // Only chunked (last) frames a body HTTP/1.1 can follow.
                let value = header.value.trim_ascii();
                fields.chunked =
                    value.len() >= 7 && value[value.len() - 7..].eq_ignore_ascii_case(b"chunked");
                if !fields.chunked {
                    return Err(WireError::Malformed("transfer coding other than chunked"));
                }
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in header.value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        fields.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        fields.close = false;
                    } else if !token.is_empty() {
                        fields.named.push(token);
                    }
                }
            } else if name.eq_ignore_ascii_case(b"content-type") {
                fields.content_type = std::str::from_utf8(header.value).ok().map(str::to_owned);
            }
        }
        if fields.chunked && fields.content_length.is_some() {
            return Err(WireError::Malformed(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        Ok(fields)
    }
}

/// Follows a chunked body as it is read: what is data, and where it ends.
#[derive(Debug, Default)]
pub struct Chunks {
    state: ChunkState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading a chunk-size line.
    #[default]
    Size,
    /// Inside a chunk: this many data bytes left.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
    Done,
}

/// The longest chunk-size or trailer line followed.
const MAX_CHUNK_LINE: usize = 4096;

impl Chunks {
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes what it can of `buf`, handing each piece of data to `data`.
    /// Leaves a partial line in `buf` for the next read.
    pub fn feed(
        &mut self,
        buf: &mut BytesMut,
        mut data: impl FnMut(&[u8]),
    ) -> Result<(), WireError> {
        loop {
            match self.state {
                ChunkState::Done => return Ok(()),
                ChunkState::Data(left) => {
                    if buf.is_empty() {
                        return Ok(());
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    data(&buf[..take]);
                    buf.advance(take);
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailers => {
                    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                        if buf.len() > MAX_CHUNK_LINE {
                            return Err(WireError::Malformed("chunk line too long"));
                        }
                        return Ok(());
                    };
                    let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
                    self.state = match self.state {
                        ChunkState::DataEnd if line.is_empty() => ChunkState::Size,
                        ChunkState::DataEnd => {
                            return Err(WireError::Malformed("chunk data overruns its size"));
                        }
                        ChunkState::Trailers if line.is_empty() => ChunkState::Done,
                        ChunkState::Trailers => ChunkState::Trailers,
                        _ => match chunk_size(line)? {
                            0 => ChunkState::Trailers,
                            n => ChunkState::Data(n),
                        },
                    };
                    buf.advance(end + 1);
                }
            }
        }
    }
}

/// A chunk-size line's size (extensions after `;` are ignored).
fn chunk_size(line: &[u8]) -> Result<u64, WireError> {
    let digits = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return Err(WireError::Malformed("bad chunk size"));
    }
    let mut size = 0u64;
    for &b in digits {
        let digit = (b as char)
            .to_digit(16)
            .ok_or(WireError::Malformed("bad chunk size"))?;
        size = size * 16 + u64::from(digit);
    }
    Ok(size)
}

/// Appends `data` to `out` as one chunk of a chunked body.
pub fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The end of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &[u8]) -> (Result<Option<AnswerHead>, WireError>, String) {
        let mut out = Vec::new();
        let parsed = parse_answer_head(raw, Some(&mut out));
        (parsed, String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn an_answer_head_keeps_case_order_and_reason_and_drops_hop_by_hop() {
        let raw = b"HTTP/1.1 200 Fine Thanks\r\nX-B: 1\r\nConnection: keep-alive, X-Hop\r\nX-Hop: no\r\nContent-Type: application/json\r\nContent-Length: 2\r\nx-a: 2\r\n\r\n{}";
        let (parsed, out) = head(raw);
        let parsed = parsed.expect("parses").expect("whole");
        assert_eq!(parsed.status, 200);
        assert_eq!(parsed.framing, Framing::Length(2));
        assert!(parsed.reusable);
        assert_eq!(parsed.len, raw.len() - 2);
        assert_eq!(parsed.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            out,
            "HTTP/1.1 200 Fine Thanks\r\nX-B: 1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nx-a: 2\r\n"
        );
    }

    #[test]
    fn bodies_without_a_length_are_rechunked_and_close_is_not_reused() {
        let (parsed, out) = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        let parsed = parsed.expect("parses").expect("whole");
        assert_eq!(parsed.framing, Framing::Chunked);
        assert!(out.ends_with("transfer-encoding: chunked\r\n"));
        let (parsed, _) = head(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        let parsed = parsed.expect("parses").expect("whole");
        assert_eq!(parsed.framing, Framing::UntilClose);
        assert!(!parsed.reusable);
        let (parsed, _) = head(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n");
        assert!(!parsed.expect("parses").expect("whole").reusable);
    }

    #[test]
    fn ambiguous_or_partial_heads() {
        assert!(matches!(
            head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n").0,
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(
            head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").0,
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(head(b"HTTP/1.1 200 OK\r\nX: 1\r\n").0, Ok(None)));
        assert!(head(b"garbage\r\n\r\n").0.is_err());
    }

    #[test]
    fn chunks_are_followed_across_reads() {
        let mut chunks = Chunks::default();
        let mut seen = Vec::new();
        let mut buf = BytesMut::new();
        for part in [
            &b"4\r\nab"[..],
            b"cd\r\n1;ext=1\r\ne\r",
            b"\n0\r\nTrailer: x\r\n",
            b"\r\n",
        ] {
            buf.extend_from_slice(part);
            chunks
                .feed(&mut buf, |d| seen.extend_from_slice(d))
                .expect("well framed");
        }
        assert!(chunks.is_done());
        assert_eq!(seen, b"abcde");
        assert!(buf.is_empty());
        let mut bad = Chunks::default();
        let mut buf = BytesMut::from(&b"zz\r\n"[..]);
        assert!(bad.feed(&mut buf, |_| {}).is_err());
        let mut out = Vec::new();
        push_chunk(&mut out, b"hello, world");
        assert_eq!(out, b"c\r\nhello, world\r\n");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]

        /// Whatever an upstream sends, reading its head and following its
        /// chunks never panics.
        #[test]
        fn any_answer_bytes_without_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512), cut in 0usize..512) {
            let mut out = Vec::new();
            let _ = parse_answer_head(&raw, Some(&mut out));
            let mut chunks = Chunks::default();
            let (a, b) = raw.split_at(cut.min(raw.len()));
            for part in [a, b] {
                let mut buf = BytesMut::from(part);
                if chunks.feed(&mut buf, |_| {}).is_err() {
                    break;
                }
            }
        }

        /// Data chunked in any sizes and read in any pieces comes out whole.
        #[test]
        fn chunked_data_comes_out_whole(
            pieces in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 1..64), 0..8),
            cut in 0usize..1024,
        ) {
            let mut wire = Vec::new();
            for piece in &pieces {
                push_chunk(&mut wire, piece);
            }
            wire.extend_from_slice(LAST_CHUNK);
            let mut chunks = Chunks::default();
            let mut seen = Vec::new();
            let mut buf = BytesMut::new();
            let (a, b) = wire.split_at(cut.min(wire.len()));
            for part in [a, b] {
                buf.extend_from_slice(part);
                chunks.feed(&mut buf, |d| seen.extend_from_slice(d)).expect("well framed");
            }
            proptest::prop_assert!(chunks.is_done());
            proptest::prop_assert_eq!(seen, pieces.concat());
        }
    }
}
