//! Test support: raw HTTP/1.1 fake vendors on 127.0.0.1 port 0 that record exactly what they receive, a raw client, and a proxy started per test.
//!
//! The fakes and the client speak HTTP from bytes they parse themselves, so
//! the tests can assert on the bytes on the wire (header-name case, framing,
//! body), not on what an HTTP library chose to show. Nothing here sleeps to
//! synchronise: a test reads the shadow log only after the proxy's shutdown
//! has drained the mirrors and flushed the log.
#![allow(dead_code)]

pub mod browser;
pub mod redis_server;
pub mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use socure_shadow_proxy::config::Config;
use socure_shadow_proxy::server::{self, Running};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

pub const WORKFLOW: &str = "gsa2.chk32.test.wf";
pub const IV_PATH: &str = "/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation";
pub const PF_PATH: &str =
    "/restws/identity/v2/test_account/customers.gsa2.phonefinder.wf/conversation";
pub const API_KEY: &str = "fake-socure-api-key-0000";
/// No single exchange in these tests should take longer; a hang fails fast.
pub const TEST_BOUND: Duration = Duration::from_secs(20);

/// The keys of both vendors' results, in the order CONTRACT.md section 3
/// fixes (identity-idp's `Resolution::Result#to_h`).
pub const RESULT_KEYS: [&str; 11] = [
    "success",
    "errors",
    "exception",
    "timed_out",
    "transaction_id",
    "reference",
    "can_pass_with_additional_verification",
    "attributes_requiring_additional_verification",
    "vendor_name",
    "vendor_workflow",
    "verified_attributes",
];

/// The keys of the Socure request body, in identity-idp's order, without
/// `email` and `mobileNumber` (never sent) and with the contract's
/// `customerUserId` last.
pub const SOCURE_REQUEST_KEYS: [&str; 15] = [
    "modules",
    "firstName",
    "surName",
    "country",
    "physicalAddress",
    "physicalAddress2",
    "city",
    "state",
    "zip",
    "nationalId",
    "dob",
    "userConsent",
    "consentTimestamp",
    "countryOfOrigin",
    "customerUserId",
];

/// Checks the Socure request's consent time (five minutes ago, to the
/// second, in UTC with `Z`, as identity-idp's `5.minutes.ago.iso8601`
/// prints it) and removes it, so the rest can be compared exactly.
pub fn take_consent_timestamp(body: &mut Value) {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    let text = body["consentTimestamp"]
        .as_str()
        .expect("consentTimestamp is a string")
        .to_owned();
    assert_eq!(
        text.len(),
        "2024-08-22T19:20:45Z".len(),
        "to the second: {text}"
    );
    assert!(
        text.ends_with('Z'),
        "UTC, as identity-idp prints it: {text}"
    );
    let at = OffsetDateTime::parse(&text, &Rfc3339).expect("ISO 8601");
    let age = OffsetDateTime::now_utc() - at;
    assert!(
        age >= time::Duration::minutes(4) && age <= time::Duration::minutes(6),
        "about five minutes ago, was {age}"
    );
    body.as_object_mut()
        .expect("object")
        .shift_remove("consentTimestamp");
}

/// The keys of a JSON object, in order.
pub fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// A fixture from `tests/fixtures/`.
pub fn fixture(relative: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative);
    std::fs::read(&path).unwrap_or_else(|err| panic!("fixture {}: {err}", path.display()))
}

pub fn fixture_json(relative: &str) -> Value {
    serde_json::from_slice(&fixture(relative)).expect("fixture is JSON")
}

/// One HTTP message as it crossed the wire.
#[derive(Debug, Clone)]
pub struct Message {
    /// The raw head, start line to the blank line included.
    pub head: Vec<u8>,
    pub start_line: String,
    /// Names with their case as sent, values as bytes, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, de-chunked when it was chunked.
    pub body: Vec<u8>,
    pub chunked: bool,
}

impl Message {
    /// The first value of `name`, compared without case.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The headers a proxy must pass on unchanged: all but the hop-by-hop
    /// ones and the framing ones, which a proxy may re-frame.
    pub fn end_to_end_headers(&self, also_skip: &[&str]) -> Vec<(String, Vec<u8>)> {
        const HOP: [&str; 7] = [
            "connection",
            "keep-alive",
            "proxy-connection",
            "te",
            "transfer-encoding",
            "upgrade",
            "content-length",
        ];
        self.headers
            .iter()
            .filter(|(n, _)| {
                let lower = n.to_ascii_lowercase();
                !HOP.contains(&lower.as_str()) && !also_skip.contains(&lower.as_str())
            })
            .cloned()
            .collect()
    }

    pub fn status(&self) -> u16 {
        self.start_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("body is JSON")
    }
}

/// Reads one message from `stream`, keeping any extra bytes in `buf`.
/// `None` when the peer closed before a new message began.
pub async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    is_response: bool,
) -> std::io::Result<Option<Message>> {
    let head_end = loop {
        if let Some(pos) = find(buf, b"\r\n\r\n") {
            break pos + 4;
        }
        if fill(stream, buf).await? == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed inside a head",
            ));
        }
    };
    let head: Vec<u8> = buf.drain(..head_end).collect();
    let text = String::from_utf8_lossy(&head[..head.len() - 4]).into_owned();
    let mut lines = text.split("\r\n");
    let start_line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, Vec<u8>)> = lines
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.to_owned(), value.trim().as_bytes().to_vec()))
        })
        .collect();
    let mut message = Message {
        head,
        start_line,
        headers,
        body: Vec::new(),
        chunked: false,
    };
    let chunked = message
        .header_str("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let length = message
        .header_str("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    if chunked {
        message.chunked = true;
        loop {
            let line = read_line(stream, buf).await?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size")
            })?;
            if size == 0 {
                // Trailers, then the blank line.
                while !read_line(stream, buf).await?.is_empty() {}
                break;
            }
            let data = read_exact(stream, buf, size + 2).await?;
            message.body.extend_from_slice(&data[..size]);
        }
    } else if let Some(length) = length {
        message.body = read_exact(stream, buf, length).await?;
    } else if is_response && !matches!(message.status(), 204 | 304) {
        // No framing: the body runs to the end of the connection.
        while fill(stream, buf).await? != 0 {}
        message.body = std::mem::take(buf);
    }
    Ok(Some(message))
}

/// Parses a message held in memory (one we built, or one we recorded).
pub fn parse(bytes: &[u8]) -> Message {
    let is_response = bytes.starts_with(b"HTTP/");
    let mut cursor = std::io::Cursor::new(bytes.to_vec());
    let mut buf = Vec::new();
    let mut reading = std::pin::pin!(read_message(&mut cursor, &mut buf, is_response));
    // Reading from memory never waits, so one poll finishes it.
    match reading
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(result) => result.expect("parse").expect("a message"),
        std::task::Poll::Pending => panic!("an in-memory read cannot wait"),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn fill<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

async fn read_line<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> std::io::Result<String> {
    loop {
        if let Some(pos) = find(buf, b"\r\n") {
            let line: Vec<u8> = buf.drain(..pos + 2).collect();
            return Ok(String::from_utf8_lossy(&line[..pos]).into_owned());
        }
        if fill(stream, buf).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed inside a line",
            ));
        }
    }
}

async fn read_exact<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    n: usize,
) -> std::io::Result<Vec<u8>> {
    while buf.len() < n {
        if fill(stream, buf).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed inside a body",
            ));
        }
    }
    Ok(buf.drain(..n).collect())
}

/// A raw response with a `Content-Length` computed from `body`.
pub fn response(status_line: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status_line}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A JSON 200 as LexisNexis or Socure would send it.
pub fn json_ok(body: &[u8]) -> Vec<u8> {
    response("200 OK", &[("Content-Type", "application/json")], body)
}

/// A raw request with a `Content-Length` computed from `body`.
pub fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        out.push_str("Host: idv-app.fake\r\n");
    }
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// What a fake vendor does with one request.
#[derive(Clone)]
pub enum Reply {
    /// These bytes, at once.
    Now(Vec<u8>),
    /// These bytes, after a delay (the vendor's own slowness, not a sync point).
    After(Duration, Vec<u8>),
    /// Never answer; keep the connection open.
    Hang,
    /// Close the connection with a TCP reset, without answering.
    Reset,
    /// Send these bytes (a head and part of its body), then close: the
    /// answer is cut short. A plain close, so the bytes arrive before it.
    CutMidBody(Vec<u8>),
}

type Responder = dyn Fn(&Message) -> Reply + Send + Sync;

/// A fake vendor on 127.0.0.1, port 0, recording every request it reads.
pub struct FakeVendor {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Message>>>,
    answered: Arc<AtomicUsize>,
    arrived: Arc<Notify>,
}

impl FakeVendor {
    pub async fn start(reply: impl Fn(&Message) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake vendor");
        let addr = listener.local_addr().expect("fake vendor address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(AtomicUsize::new(0));
        let arrived = Arc::new(Notify::new());
        let reply: Arc<Responder> = Arc::new(reply);
        let log = Recorder {
            received: Arc::clone(&received),
            answered: Arc::clone(&answered),
            arrived: Arc::clone(&arrived),
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_fake(stream, Arc::clone(&reply), log.clone()));
            }
        });
        Self {
            addr,
            received,
            answered,
            arrived,
        }
    }

    /// Waits (bounded by [`TEST_BOUND`]) until `n` requests have arrived.
    pub async fn wait_for_requests(&self, n: usize) {
        tokio::time::timeout(TEST_BOUND, async {
            loop {
                let notified = self.arrived.notified();
                if self.received.lock().expect("lock").len() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
        .expect("requests arrived in time");
    }

    /// Always answers `bytes`.
    pub async fn always(bytes: Vec<u8>) -> Self {
        Self::start(move |_| Reply::Now(bytes.clone())).await
    }

    pub fn requests(&self) -> Vec<Message> {
        self.received.lock().expect("lock").clone()
    }

    /// How many answers it has finished sending.
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

/// Where a fake vendor's connections record what they see.
#[derive(Clone)]
struct Recorder {
    received: Arc<Mutex<Vec<Message>>>,
    answered: Arc<AtomicUsize>,
    arrived: Arc<Notify>,
}

async fn serve_fake(mut stream: TcpStream, reply: Arc<Responder>, log: Recorder) {
    let mut buf = Vec::new();
    while let Ok(Some(message)) = read_message(&mut stream, &mut buf, false).await {
        let action = reply(&message);
        log.received.lock().expect("lock").push(message);
        log.arrived.notify_waiters();
        match action {
            Reply::Now(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::After(delay, bytes) => {
                tokio::time::sleep(delay).await;
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::Hang => std::future::pending::<()>().await,
            Reply::Reset => {
                let _ = stream.set_zero_linger();
                return;
            }
            Reply::CutMidBody(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
                return;
            }
        }
        log.answered.fetch_add(1, Ordering::SeqCst);
    }
}

/// A client connection that speaks raw bytes.
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.expect("connect to proxy"),
            buf: Vec::new(),
        }
    }

    /// Writes `bytes` without waiting for an answer.
    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write request");
    }

    /// Everything the proxy sends until it closes the connection, raw.
    pub async fn read_to_close(&mut self) -> Vec<u8> {
        let mut all = std::mem::take(&mut self.buf);
        tokio::time::timeout(TEST_BOUND, self.stream.read_to_end(&mut all))
            .await
            .expect("proxy closed in time")
            .ok();
        all
    }

    /// Writes `bytes` and reads one response, bounded by [`TEST_BOUND`].
    pub async fn send(&mut self, bytes: &[u8]) -> Message {
        self.stream.write_all(bytes).await.expect("write request");
        self.receive(TEST_BOUND)
            .await
            .expect("proxy answered in time")
    }

    /// Reads one response, or `None` if none came within `bound`.
    pub async fn receive(&mut self, bound: Duration) -> Option<Message> {
        tokio::time::timeout(bound, read_message(&mut self.stream, &mut self.buf, true))
            .await
            .ok()
            .map(|read| {
                read.expect("read response")
                    .expect("a response before close")
            })
    }
}

/// The value of one series (name and labels exactly as rendered) in a
/// Prometheus text exposition.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} not in:\n{text}"))
}

/// Polls `/metrics` until `series` reaches `at_least` (bounded): the
/// metric is the event waited for.
pub async fn metric_reaches(admin: SocketAddr, series: &str, at_least: f64) -> String {
    metric_until(admin, series, |value| value >= at_least).await
}

/// Polls `/metrics` until `series` satisfies `wanted` (bounded).
pub async fn metric_until(admin: SocketAddr, series: &str, wanted: impl Fn(f64) -> bool) -> String {
    tokio::time::timeout(TEST_BOUND, async {
        loop {
            let (_, text) = admin_get(admin, "/metrics").await;
            if wanted(metric(&text, series)) {
                return text;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{series} never took the value waited for"))
}

/// A GET to the admin listener: status and body.
pub async fn admin_get(admin: SocketAddr, path: &str) -> (u16, String) {
    let answer = send(admin, &request("GET", path, &[], b"")).await;
    (
        answer.status(),
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

/// One request on a new connection.
pub async fn send(addr: SocketAddr, bytes: &[u8]) -> Message {
    RawClient::connect(addr).await.send(bytes).await
}

/// Settings for a proxy under test.
pub struct Options {
    pub enabled: bool,
    pub socure_timeout_seconds: f64,
    pub upstream_timeout_seconds: f64,
    pub max_in_flight: u64,
    pub max_pending: u64,
    pub shutdown_grace_seconds: f64,
    pub max_request_body_bytes: u64,
    pub max_connections: u64,
    pub sample_percent: f64,
    pub dedup_window_seconds: f64,
    pub max_calls_per_day: Option<u64>,
    /// More `[listen]` keys, as TOML lines.
    pub listen_extra: String,
    /// More `[shadow]` keys, as TOML lines.
    pub shadow_extra: String,
    /// `shadow.max_body_bytes`; the proxy's default when `None`.
    pub max_shadow_body_bytes: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            enabled: true,
            socure_timeout_seconds: 5.0,
            upstream_timeout_seconds: 10.0,
            max_in_flight: 512,
            max_pending: 1024,
            shutdown_grace_seconds: 10.0,
            max_request_body_bytes: 10 * 1024 * 1024,
            max_connections: 4096,
            sample_percent: 100.0,
            dedup_window_seconds: 0.0,
            max_calls_per_day: None,
            listen_extra: String::new(),
            shadow_extra: String::new(),
            max_shadow_body_bytes: None,
        }
    }
}

impl Options {
    /// The config file for these options.
    pub fn toml(&self, upstream: SocketAddr, socure: SocketAddr, log: &std::path::Path) -> String {
        format!(
            r#"
[listen]
address = "127.0.0.1:0"
max_request_body_bytes = {max_request_body_bytes}
max_connections = {max_connections}
{listen_extra}
[admin]
address = "127.0.0.1:0"
[upstream]
base_url = "http://{upstream}"
timeout_seconds = {upstream_timeout}
[shadow]
enabled = {enabled}
instant_verify_workflow = "{WORKFLOW}"
log_path = "{log}"
max_in_flight = {max_in_flight}
max_pending = {max_pending}
shutdown_grace_seconds = {grace}
sample_percent = {sample_percent}
dedup_window_seconds = {dedup}
{shadow_extra}
{shadow_body}
[socure]
base_url = "http://{socure}"
timeout_seconds = {socure_timeout}
{budget}
"#,
            max_request_body_bytes = self.max_request_body_bytes,
            max_connections = self.max_connections,
            upstream_timeout = self.upstream_timeout_seconds,
            enabled = self.enabled,
            log = log.display(),
            max_in_flight = self.max_in_flight,
            max_pending = self.max_pending,
            grace = self.shutdown_grace_seconds,
            socure_timeout = self.socure_timeout_seconds,
            sample_percent = self.sample_percent,
            dedup = self.dedup_window_seconds,
            listen_extra = self.listen_extra,
            shadow_extra = self.shadow_extra,
            shadow_body = self
                .max_shadow_body_bytes
                .map(|n| format!("max_body_bytes = {n}"))
                .unwrap_or_default(),
            budget = self
                .max_calls_per_day
                .map(|n| format!("max_calls_per_day = {n}"))
                .unwrap_or_default(),
        )
    }
}

/// A proxy on 127.0.0.1 port 0 in front of the two fakes, logging to a temp file.
pub struct TestProxy {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    running: Running,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestProxy {
    pub async fn start(upstream: SocketAddr, socure: SocketAddr, options: Options) -> Self {
        Self::from_toml(|log| options.toml(upstream, socure, log)).await
    }

    /// A proxy with the config `toml` builds, given the shadow log's path.
    pub async fn from_toml(toml: impl FnOnce(&std::path::Path) -> String) -> Self {
        Self::from_toml_with_env(toml, &[]).await
    }

    /// The same, with `env` besides the Socure key.
    pub async fn from_toml_with_env(
        toml: impl FnOnce(&std::path::Path) -> String,
        env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("shadow.log");
        let text = toml(&log);
        let mut env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        env.insert("SOCURE_IDPLUS_API_KEY".to_owned(), API_KEY.to_owned());
        let config = Config::from_toml(&text, &env).expect("test config is valid");
        let running = server::start(config).await.expect("proxy starts");
        Self {
            addr: running.local_addr(),
            admin: running.admin_addr(),
            running,
            log,
            _dir: dir,
        }
    }

    /// Like [`TestProxy::finish`], and the Prometheus text of the metrics
    /// once everything is written.
    pub async fn finish_with_metrics(self) -> (Vec<Value>, String) {
        let metrics = self.running.metrics();
        let lines = self.finish().await;
        metrics.upkeep();
        (lines, metrics.render())
    }

    /// Shuts the proxy down (draining mirrors, flushing the log) and returns
    /// every shadow line written, parsed.
    pub async fn finish(self) -> Vec<Value> {
        let text = self.finish_text().await;
        text.lines()
            .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
            .collect()
    }

    /// Shuts the proxy down as [`TestProxy::finish`] does and returns the
    /// shadow log as written, whole lines only.
    pub async fn finish_text(self) -> String {
        let report = tokio::time::timeout(TEST_BOUND, self.running.shutdown())
            .await
            .expect("shutdown in time");
        assert_eq!(report.mirrors_unfinished, 0, "every mirror finished");
        let text = match std::fs::read_to_string(&self.log) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => panic!("read shadow log: {err}"),
        };
        assert!(text.is_empty() || text.ends_with('\n'), "whole lines only");
        text
    }

    /// Shuts the proxy down without reading the log (for logs that are
    /// not files).
    pub async fn stop(self) -> server::RunReport {
        tokio::time::timeout(TEST_BOUND, self.running.shutdown())
            .await
            .expect("shutdown in time")
    }

    /// Whether the log file exists at all.
    pub fn log_exists(&self) -> bool {
        self.log.exists()
    }
}

/// Fake vendors that both pass everyone, and a proxy in front of them.
pub struct Stack {
    pub upstream: FakeVendor,
    pub socure: FakeVendor,
    pub proxy: TestProxy,
}

impl Stack {
    pub async fn passing() -> Self {
        Self::passing_with(Options::default()).await
    }

    /// Both fakes passing everyone, and a proxy with `options`.
    pub async fn passing_with(options: Options) -> Self {
        let (upstream, socure) = passing_vendors().await;
        let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;
        Self {
            upstream,
            socure,
            proxy,
        }
    }
}

/// A fake LexisNexis and a fake Socure that pass everyone (the fixtures).
pub async fn passing_vendors() -> (FakeVendor, FakeVendor) {
    let upstream = FakeVendor::always(json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    )))
    .await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    (upstream, socure)
}

/// The `event_properties` of a line.
pub fn event(line: &Value) -> &Value {
    &line["properties"]["event_properties"]
}

/// A Socure fake answering `bytes` to everything.
pub async fn socure_answering(bytes: Vec<u8>) -> FakeVendor {
    FakeVendor::always(bytes).await
}

/// The fixture request for a fake user `n` (a 900-series SSN, a uuid of
/// zeros and `n`), so each user is a distinct applicant.
pub fn distinct_applicant(n: usize) -> Vec<u8> {
    let mut body = fixture_json("lexis_nexis/instant_verify/request.json");
    body["Settings"]["Reference"] = format!("fake-sp:00000000-0000-4000-8000-{n:012}").into();
    body["Person"]["SSN"]["Number"] = format!("900{:06}", n % 1_000_000).into();
    iv_post(body.to_string().as_bytes())
}

/// A JSON POST of `body` to the InstantVerify path.
pub fn iv_post(body: &[u8]) -> Vec<u8> {
    request(
        "POST",
        IV_PATH,
        &[("Content-Type", "application/json")],
        body,
    )
}

/// The fixture InstantVerify request as the IdP would send it.
pub fn instant_verify_request() -> Vec<u8> {
    request(
        "POST",
        IV_PATH,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Basic ZmFrZTpmYWtl"),
        ],
        &fixture("lexis_nexis/instant_verify/request.json"),
    )
}

/// The real binary, started with a config file, as an operator would run it.
pub struct ProxyProcess {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub pid: i32,
    exited: std::sync::mpsc::Receiver<std::process::ExitStatus>,
    /// stderr, line by line, as it is written.
    stderr_lines: std::sync::mpsc::Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stdout: Arc<Mutex<Vec<u8>>>,
    pub log: PathBuf,
    /// The config file it was started with (rewrite it, then SIGHUP).
    pub config: PathBuf,
    _dir: tempfile::TempDir,
}

impl ProxyProcess {
    /// Starts `socure-shadow-proxy run` in front of the two fakes and waits
    /// (bounded) for its "listening" line to learn its port.
    pub fn start(
        upstream: SocketAddr,
        socure: SocketAddr,
        options: &Options,
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_toml(|log| options.toml(upstream, socure, log), env)
    }

    /// Starts the binary with the config `toml` builds, given the shadow
    /// log's path.
    pub fn start_toml(toml: impl FnOnce(&std::path::Path) -> String, env: &[(&str, &str)]) -> Self {
        Self::start_limited(toml, env, &[])
    }

    /// As [`ProxyProcess::start_toml`], under resource `limits` (soft and
    /// hard alike): RLIMIT_FSIZE (`ulimit -f`) makes a full disk for the
    /// shadow log without a filesystem to fill, RLIMIT_NOFILE a small
    /// descriptor table.
    pub fn start_limited(
        toml: impl FnOnce(&std::path::Path) -> String,
        env: &[(&str, &str)],
        limits: &[(nix::sys::resource::Resource, u64)],
    ) -> Self {
        use std::io::{BufRead, Read};
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("shadow.log");
        let config = dir.path().join("proxy.toml");
        std::fs::write(&config, toml(&log)).expect("write config");
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_socure-shadow-proxy"));
        let limits = limits.to_vec();
        // SAFETY: between fork and exec only setrlimit runs, an
        // async-signal-safe system call; nothing is allocated or locked
        // (the list was copied before the fork).
        unsafe {
            command.pre_exec(move || {
                for &(resource, limit) in &limits {
                    nix::sys::resource::setrlimit(resource, limit, limit)
                        .map_err(std::io::Error::from)?;
                }
                Ok(())
            });
        }
        let mut child = command
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env("SOCURE_IDPLUS_API_KEY", API_KEY)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the proxy binary");
        let pid = i32::try_from(child.id()).expect("pid");

        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (line_tx, stderr_lines) = std::sync::mpsc::channel();
        let mut err_pipe = std::io::BufReader::new(child.stderr.take().expect("stderr"));
        let stderr_copy = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut line = Vec::new();
            while err_pipe.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                stderr_copy.lock().expect("lock").extend_from_slice(&line);
                let _ = line_tx.send(String::from_utf8_lossy(&line).into_owned());
                line.clear();
            }
        });
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let mut out_pipe = child.stdout.take().expect("stdout");
        let stdout_copy = Arc::clone(&stdout);
        std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = out_pipe.read_to_end(&mut all);
            stdout_copy.lock().expect("lock").extend_from_slice(&all);
        });
        let (exit_tx, exited) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
        let mut process = Self {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            admin: SocketAddr::from(([0, 0, 0, 0], 0)),
            pid,
            exited,
            stderr_lines,
            stderr,
            stdout,
            log,
            config,
            _dir: dir,
        };
        let listening = process.wait_for_stderr("local_addr");
        // Text (`name=value`) or JSON (`"name":"value"`) diagnostics.
        let field = |name: &str| -> SocketAddr {
            listening
                .split(&format!("{name}="))
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .or_else(|| {
                    listening
                        .split(&format!("\"{name}\":\""))
                        .nth(1)
                        .and_then(|rest| rest.split('"').next())
                })
                .and_then(|addr| addr.parse().ok())
                .expect("a socket address in the listening line")
        };
        process.addr = field("local_addr");
        process.admin = field("admin_addr");
        process
    }

    /// Waits (bounded) for the next stderr line containing `needle`.
    pub fn wait_for_stderr(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + TEST_BOUND;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .stderr_lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no stderr line with {needle:?} in time"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), signal)
            .expect("signal the proxy");
    }

    /// Waits for the process to exit, at most `bound`.
    pub fn wait_exit(&self, bound: Duration) -> Option<std::process::ExitStatus> {
        self.exited.recv_timeout(bound).ok()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> Vec<u8> {
        self.stderr.lock().expect("lock").clone()
    }

    /// Everything written to stdout (complete once the process has exited).
    pub fn stdout(&self) -> Vec<u8> {
        self.stdout.lock().expect("lock").clone()
    }

    pub fn log_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
            .collect()
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        // Never leave a proxy running after its test.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// An upstream that never answers and records the raw bytes of each
/// connection, to see what a request that failed on its way looked like on
/// the wire (a [`FakeVendor`] records only whole messages).
pub struct RawUpstream {
    pub addr: SocketAddr,
    connections: Arc<Mutex<Vec<RawConnection>>>,
    changed: Arc<Notify>,
}

/// What a [`RawUpstream`] saw on one connection.
#[derive(Debug, Clone, Default)]
pub struct RawConnection {
    pub bytes: Vec<u8>,
    /// Whether the proxy has closed it.
    pub closed: bool,
}

impl RawUpstream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind raw upstream");
        let addr = listener.local_addr().expect("raw upstream address");
        let connections = Arc::new(Mutex::new(Vec::new()));
        let changed = Arc::new(Notify::new());
        let (record, notify) = (Arc::clone(&connections), Arc::clone(&changed));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (record, notify) = (Arc::clone(&record), Arc::clone(&notify));
                tokio::spawn(async move {
                    let at = {
                        let mut all = record.lock().expect("lock");
                        all.push(RawConnection::default());
                        all.len() - 1
                    };
                    notify.notify_waiters();
                    let mut chunk = [0u8; 8192];
                    loop {
                        let n = stream.read(&mut chunk).await.unwrap_or(0);
                        {
                            let mut all = record.lock().expect("lock");
                            all[at].bytes.extend_from_slice(&chunk[..n]);
                            all[at].closed = n == 0;
                        }
                        notify.notify_waiters();
                        if n == 0 {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            connections,
            changed,
        }
    }

    /// Each connection's bytes so far, and whether it was closed.
    pub fn connections(&self) -> Vec<RawConnection> {
        self.connections.lock().expect("lock").clone()
    }

    /// Waits (bounded by [`TEST_BOUND`]) until `done` holds of the connections.
    pub async fn wait_until(&self, done: impl Fn(&[RawConnection]) -> bool) {
        tokio::time::timeout(TEST_BOUND, async {
            loop {
                let notified = self.changed.notified();
                if done(&self.connections.lock().expect("lock")) {
                    return;
                }
                notified.await;
            }
        })
        .await
        .expect("the raw upstream saw it in time");
    }
}
