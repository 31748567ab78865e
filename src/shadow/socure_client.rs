//! The Socure ID+ client: the one call per applicant, bounded by the live timeout, never retried.
//!
//! What to send and how to judge the answer are pure and live in the judge
//! crate (`judge::socure`); this is the I/O: HTTP/1.1 over rustls on the
//! hand-written lane's raw connections (`client::wire`), the API key in
//! one header, the answer read up to its size limit. One call per
//! applicant and no retries: a retry would bill twice and skew the latency
//! figures.
//!
//! reqwest made this call before. Counted by callgrind
//! (`benches/instructions.sh`), its layers cost a call about 47,000
//! instructions of a shadowed request's 284,000: the redirect layer, there
//! even with redirects off, printed and parsed the URL twice; the retry
//! and tower layers wrapped each future; hyper's connection task took the
//! answer and handed it to the call's task through a channel. The mirror's
//! share of one core is what bounds coverage (`docs/performance.md`), so
//! the call now writes its prebuilt head and the body in one write and
//! reads the answer on the same task, as the forward lane does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use http::HeaderValue;
use http::uri::{Authority, Scheme};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::connect::ConnectError;
use crate::client::connect::Redirect;
use crate::client::idle::Origin;
use crate::client::wire::{self, Chunks, Framing, WireError, WirePool};
use crate::config::{Secret, SocureConfig};
use crate::judge::applicant::Applicant;
use crate::judge::socure::{
    Answer, CONSENT_AGE, ENDPOINT_PATH, MAX_RESPONSE_BYTES, SocureError, request_body,
};

/// How long an idle connection to Socure is kept (reqwest's default).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The ID+ client. Holds the key; shows it to nobody.
pub struct SocureClient {
    pool: WirePool,
    origin: Origin,
    /// Every call's head up to its `content-length` value: the request
    /// line, `host`, `content-type`, and `authorization: SocureApiKey
    /// {key}`. It holds the key: never logged, never formatted (this type
    /// has no `Debug`).
    head: Vec<u8>,
    /// The host, for the TLS warnings.
    host: String,
    /// Whether the last TLS handshake failed: the failure is logged when it
    /// starts, not once per call.
    tls_failing: AtomicBool,
}

/// The `Authorization` header for `api_key`, marked sensitive; `None` when
/// the key cannot be a header value (a control character: most often the
/// newline at the end of the file a secret was made from).
pub fn authorization(api_key: &Secret) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("SocureApiKey {}", api_key.expose())).ok()?;
    value.set_sensitive(true);
    Some(value)
}

impl SocureClient {
    /// The client for `config`'s host over `tls`, keeping at most
    /// `max_idle` connections idle between calls (the calls in flight are
    /// bounded by `shadow.max_in_flight`; more idle would never be used).
    pub fn new(
        config: &SocureConfig,
        tls: rustls::ClientConfig,
        max_idle: usize,
    ) -> Result<Self, SocureError> {
        let api_key = config
            .api_key
            .clone()
            .ok_or_else(|| SocureError::Setup("no API key".into()))?;
        let authority: Authority = config
            .base_url
            .authority()
            .cloned()
            .ok_or_else(|| SocureError::Setup("base URL has no host".into()))?;
        let scheme = config.base_url.scheme().cloned().unwrap_or(Scheme::HTTPS);
        if scheme != Scheme::HTTPS && scheme != Scheme::HTTP {
            return Err(SocureError::Setup(
                "base URL is neither http nor https".into(),
            ));
        }
        let authorization = authorization(&api_key)
            .ok_or_else(|| SocureError::Setup("API key is not a valid header value".into()))?;
        // HTTP/1.1 only, as the forward lane: ALPN offers `http/1.1`.
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(Redirect::system());
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(b"POST ");
        head.extend_from_slice(ENDPOINT_PATH.as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        head.extend_from_slice(host_header(&authority, &scheme).as_bytes());
        head.extend_from_slice(b"\r\ncontent-type: application/json\r\nauthorization: ");
        head.extend_from_slice(authorization.as_bytes());
        head.extend_from_slice(b"\r\ncontent-length: ");
        Ok(Self {
            pool: WirePool::new(connector, max_idle, IDLE_TIMEOUT),
            host: authority.host().to_owned(),
            origin: Origin { scheme, authority },
            head,
            tls_failing: AtomicBool::new(false),
        })
    }

    /// Sends `applicant` once. The whole exchange, connect to last body
    /// byte, is bounded by `timeout` (the live `socure.timeout_seconds`).
    /// The answer's bytes are reserved as they come (`reserve(n)`: the
    /// mirror's byte budget): when it says no, the call fails rather than
    /// hold more.
    pub async fn call(
        &self,
        applicant: &Applicant,
        timeout: Duration,
        reserve: &mut (dyn FnMut(usize) -> bool + Send),
    ) -> Result<Answer, SocureError> {
        let body = request_body(applicant, OffsetDateTime::now_utc() - CONSENT_AGE);
        let call = tokio::time::timeout(timeout, self.exchange(&body, reserve))
            .await
            .unwrap_or(Err(SocureError::Timeout));
        self.watch_tls(&call);
        call
    }

    /// One exchange on a kept or new connection, which is kept again when
    /// the answer was whole and the connection may carry another.
    async fn exchange(
        &self,
        body: &[u8],
        reserve: &mut (dyn FnMut(usize) -> bool + Send),
    ) -> Result<Answer, SocureError> {
        let mut stream = self
            .pool
            .checkout(&self.origin)
            .await
            .map_err(|err| match err {
                ConnectError::Open(cause) => connect_failed(&*cause),
                ConnectError::Handshake(_) | ConnectError::Address(_) => {
                    SocureError::Connection("could not connect")
                }
            })?;
        let mut out = Vec::with_capacity(self.head.len() + 24 + body.len());
        out.extend_from_slice(&self.head);
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body);
        stream.write_all(&out).await.map_err(io_failed)?;
        stream.flush().await.map_err(io_failed)?;
        let mut buf = BytesMut::with_capacity(8 * 1024);
        let head = wire::read_answer_head(&mut stream, &mut buf, None)
            .await
            .map_err(wire_failed)?;
        buf.advance(head.len);
        let mut answer = Received {
            body: Vec::new(),
            reserve,
        };
        read_body(&mut stream, &mut buf, head.framing, &mut answer).await?;
        // Bytes past the answer: not an HTTP/1.1 server to talk to again.
        if head.reusable && buf.is_empty() {
            self.pool.give_back(&self.origin, stream);
        }
        Ok(Answer {
            status: head.status,
            content_type: head.content_type,
            body: answer.body,
        })
    }

    /// Logs a TLS failure when it starts (with rustls's reason) and when a
    /// call gets through again, not once per call: each line has the reason.
    fn watch_tls(&self, call: &Result<Answer, SocureError>) {
        match call {
            Err(SocureError::Tls(reason)) if !self.tls_failing.swap(true, Ordering::Relaxed) => {
                tracing::warn!(
                    host = %self.host,
                    reason = %reason,
                    "Socure TLS handshake failed; every call fails so until one gets through"
                );
            }
            Ok(_) if self.tls_failing.swap(false, Ordering::Relaxed) => {
                tracing::info!("Socure TLS handshake succeeds again");
            }
            _ => {}
        }
    }
}

/// The `host` header for `authority`: without the scheme's default port,
/// as reqwest and curl write it.
fn host_header(authority: &Authority, scheme: &Scheme) -> String {
    let default = if *scheme == Scheme::HTTP { 80 } else { 443 };
    match authority.port_u16() {
        Some(port) if port == default => authority.host().to_owned(),
        _ => authority.as_str().to_owned(),
    }
}

/// The answer's body as it is read, each piece held to the size limit and
/// the mirror's byte budget.
struct Received<'r> {
    body: Vec<u8>,
    reserve: &'r mut (dyn FnMut(usize) -> bool + Send),
}

impl Received<'_> {
    fn take(&mut self, piece: &[u8]) -> Result<(), SocureError> {
        if piece.is_empty() {
            return Ok(());
        }
        if self.body.len() + piece.len() > MAX_RESPONSE_BYTES {
            return Err(SocureError::TooLarge);
        }
        if !(self.reserve)(piece.len()) {
            return Err(SocureError::OverBudget);
        }
        self.body.extend_from_slice(piece);
        Ok(())
    }
}

/// Reads the answer's body as `framing` says, after what `buf` holds.
async fn read_body(
    stream: &mut wire::Stream,
    buf: &mut BytesMut,
    framing: Framing,
    answer: &mut Received<'_>,
) -> Result<(), SocureError> {
    match framing {
        Framing::Empty => {}
        Framing::Length(length) => {
            let length = usize::try_from(length).unwrap_or(usize::MAX);
            if length > MAX_RESPONSE_BYTES {
                return Err(SocureError::TooLarge);
            }
            loop {
                let take = (length - answer.body.len()).min(buf.len());
                answer.take(&buf[..take])?;
                buf.advance(take);
                if answer.body.len() == length {
                    break;
                }
                read_more(stream, buf).await?;
            }
        }
        Framing::Chunked => {
            let mut chunks = Chunks::default();
            loop {
                let mut failed = None;
                chunks
                    .feed(buf, |data| {
                        if failed.is_none()
                            && let Err(err) = answer.take(data)
                        {
                            failed = Some(err);
                        }
                    })
                    .map_err(wire_failed)?;
                if let Some(err) = failed {
                    return Err(err);
                }
                if chunks.is_done() {
                    break;
                }
                read_more(stream, buf).await?;
            }
        }
        Framing::UntilClose => loop {
            answer.take(buf)?;
            buf.clear();
            buf.reserve(8 * 1024);
            if stream.read_buf(buf).await.map_err(io_failed)? == 0 {
                break;
            }
        },
    }
    Ok(())
}

/// Reads more of a framed answer; its end before the frame's is a failure.
async fn read_more(stream: &mut wire::Stream, buf: &mut BytesMut) -> Result<(), SocureError> {
    buf.reserve(8 * 1024);
    match stream.read_buf(buf).await.map_err(io_failed)? {
        0 => Err(CLOSED_EARLY),
        _ => Ok(()),
    }
}

const CLOSED_EARLY: SocureError =
    SocureError::Connection("connection closed before the answer was complete");

/// The longest TLS reason a line carries: a certificate's list of names
/// could otherwise make it as long as the certificate.
const MAX_TLS_REASON_BYTES: usize = 256;

/// rustls's error at `cause`: the cause itself, or the error inside an I/O
/// error (tokio-rustls puts it there, and hyper's connector wraps that in
/// another), where `source()` never leads: an I/O error's source is its
/// inner error's source, not the inner error.
fn tls_error<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut at = cause;
    loop {
        if let Some(tls) = at.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        at = at.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

/// `err` in rustls's words, cut at [`MAX_TLS_REASON_BYTES`] on a character
/// boundary.
fn tls_reason(err: &rustls::Error) -> String {
    let mut reason = err.to_string();
    if reason.len() > MAX_TLS_REASON_BYTES {
        reason.truncate(reason.floor_char_boundary(MAX_TLS_REASON_BYTES));
        reason.push_str("...");
    }
    reason
}

/// Names a failure to connect (TCP or TLS) without its address.
fn connect_failed(cause: &(dyn std::error::Error + 'static)) -> SocureError {
    let mut at = Some(cause);
    while let Some(cause) = at {
        if let Some(tls) = tls_error(cause) {
            return SocureError::Tls(tls_reason(tls));
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return SocureError::Connection("connection refused");
                }
                std::io::ErrorKind::TimedOut => return SocureError::Timeout,
                _ => {}
            }
        }
        at = cause.source();
    }
    SocureError::Connection("could not connect")
}

/// Names a failure of the exchange on an open connection.
fn io_failed(err: std::io::Error) -> SocureError {
    use std::io::ErrorKind::*;
    if let Some(tls) = tls_error(&err) {
        return SocureError::Tls(tls_reason(tls));
    }
    match err.kind() {
        ConnectionReset | ConnectionAborted | BrokenPipe => {
            SocureError::Connection("connection reset")
        }
        UnexpectedEof => CLOSED_EARLY,
        TimedOut => SocureError::Timeout,
        _ => SocureError::Connection("request failed"),
    }
}

/// Names a failure while the answer's head or framing was read.
fn wire_failed(err: WireError) -> SocureError {
    match err {
        WireError::Io(io) => io_failed(io),
        WireError::Closed => CLOSED_EARLY,
        WireError::Connect(_) => SocureError::Connection("could not connect"),
        WireError::Malformed(_) | WireError::HeadTooLarge(_) => {
            SocureError::Connection("answer was not HTTP/1.1")
        }
    }
}
