//! Hostile clients for `benches/hostile_memory.sh`: plays one scenario against the proxy's data port (held HTTP/1 and HTTP/2 request bodies, trickled bodies, answers never read, idle sockets) and prints one summary line.
//!
//! Scenarios, the review's numbers as defaults (`--clients`, `--connections`,
//! `--streams`):
//!
//! - `held-bodies-h1`: 1,000 HTTP/1.1 POSTs to the InstantVerify path, each
//!   declaring 1,048,576 bytes and sending 1,048,000 (`--declared`,
//!   `--send`), then silent.
//! - `held-bodies-h2`: 4 HTTP/2 connections (raw frames) × 200 such POSTs:
//!   HEADERS, then DATA as far as the proxy's flow-control windows allow
//!   (each write bounded in time), then silent. The client keeps the
//!   connection alive: it acknowledges SETTINGS and answers PINGs.
//! - `trickle`: 100 InstantVerify POSTs whose body comes a byte a second.
//! - `non-reader`: 200 requests for the fake LexisNexis's large answer
//!   (`examples/bench_vendors.rs`), never read: `--route shadowed` POSTs the
//!   InstantVerify request to its path with the query `large`, `--route
//!   passthrough` GETs `/large`.
//! - `idle-sockets`: 4,200 connections that send nothing; then one fresh
//!   GET, timed from its connect to its answer's status line.
//! - `held-heads`: 4,096 HTTP/1.1 request heads of 61,440 bytes each
//!   (`--head-bytes`), sent without the blank line that ends a head, then
//!   silent.
//! - `zero-window`: 200 HTTP/2 connections × 100 GETs of a passthrough path
//!   (`/`), with SETTINGS_INITIAL_WINDOW_SIZE 0 and never a WINDOW_UPDATE:
//!   no answer byte may be sent. The client acknowledges SETTINGS and
//!   answers PINGs, so its socket looks alive.
//!
//! Every client holds on until the proxy closes its connection, or until
//! `--seconds` (60) have passed since the scenario began. A client that
//! never reads cannot see its connection closed (the proxy's FIN waits
//! behind the unread answer): at the end it reads what is left, and a
//! connection that ends short of its answer was cut. With `--admin`, the
//! proxy's `connections_timed_out_total` is polled every 200 ms, which says
//! when (and a non-reader scenario ends once every client was cut).
//!
//! The summary line is `key=value` pairs, times in seconds since the
//! scenario began: `opened` connections, `closed_by_proxy` (EOF or reset
//! before the end; `closed_by_reset` of them resets), `close_first_s` and
//! `close_last_s`, `held_at_end`, `answers` (status×count, or `none`), bytes
//! `sent`; for HTTP/2 also `streams`, `refused`, `resets` (code×count),
//! `goaway`, and `stream_end_first_s`/`stream_end_last_s` (when the streams
//! the proxy took in ended; `held_at_end` counts streams); for non-readers
//! `cut` and `whole`; for idle sockets `connected_s` (all silent sockets
//! connected), `fresh_s` and `fresh_status`; with `--admin`, `timeouts`
//! (phase:count, the increase over the scenario), `timeouts_first_s` and
//! `timeouts_last_s` (when the count first rose, and when it reached its
//! final value; the count at each change goes to stderr).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{Notify, Semaphore};
use tokio::time::{Instant, sleep, sleep_until, timeout, timeout_at};

const IV_PATH: &str = "/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation";
const IV_BODY: &[u8] = include_bytes!("../tests/fixtures/lexis_nexis/instant_verify/request.json");
/// The most one write may wait before the client counts itself stalled.
const WRITE_BOUND: Duration = Duration::from_secs(5);
/// How long a connect may take (idle sockets past the proxy's
/// `max_connections` sit in its backlog, connected as far as TCP goes).
const CONNECT_BOUND: Duration = Duration::from_secs(10);
/// Connects in progress at once. Thousands at once overflow the listen
/// queue, and the kernel then resets some of them itself (failed SYN
/// cookies): a test of the kernel, not of the proxy.
const CONNECTS_AT_ONCE: usize = 128;

#[derive(Parser)]
#[command(about = "Hostile clients against the proxy's data port; one summary line")]
struct Args {
    /// The proxy's data address, HOST:PORT.
    proxy: SocketAddr,
    #[arg(value_enum)]
    scenario: Scenario,
    /// Clients (HTTP/1 scenarios and idle sockets); default: 1,000
    /// held-bodies-h1, 100 trickle, 200 non-reader, 4,200 idle-sockets.
    #[arg(long)]
    clients: Option<usize>,
    /// HTTP/2 scenarios: connections; default: 4 held-bodies-h2, 200
    /// zero-window.
    #[arg(long)]
    connections: Option<usize>,
    /// HTTP/2 scenarios: streams opened on each connection; default: 200
    /// held-bodies-h2, 100 zero-window.
    #[arg(long)]
    streams: Option<u32>,
    /// held-heads: the bytes of each unfinished head.
    #[arg(long, default_value_t = 61_440)]
    head_bytes: usize,
    /// held-bodies-*: the Content-Length each body declares.
    #[arg(long, default_value_t = 1_048_576)]
    declared: usize,
    /// held-bodies-*: the bytes of it sent before the client falls silent.
    #[arg(long, default_value_t = 1_048_000)]
    send: usize,
    /// The scenario ends this long after it began, at the latest.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// non-reader: the InstantVerify path (shadowed) or another (passthrough).
    #[arg(long, value_enum, default_value = "shadowed")]
    route: Route,
    /// The proxy's admin address, to time closes from its metrics.
    #[arg(long)]
    admin: Option<SocketAddr>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    HeldBodiesH1,
    HeldBodiesH2,
    Trickle,
    NonReader,
    IdleSockets,
    HeldHeads,
    ZeroWindow,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Route {
    Shadowed,
    Passthrough,
}

/// One HTTP/1 connection's fate.
#[derive(Default)]
struct Outcome {
    connected: bool,
    /// When the proxy ended the connection (EOF or reset).
    closed: Option<Duration>,
    /// The answer's status, if one came.
    status: Option<u16>,
    /// The close was a reset (or another error), not an EOF.
    reset: bool,
    sent: u64,
    /// non-reader: the answer ended short of its length (cut), or was whole.
    cut: bool,
    whole: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let start = Instant::now();
    let run = Run {
        args: &args,
        clients: args
            .clients
            .unwrap_or_else(|| default_clients(args.scenario)),
        start,
        deadline: start + Duration::from_secs(args.seconds),
    };
    let poller = args.admin.map(|admin| TimeoutPoller::spawn(admin, start));
    let mut summary = vec![(
        "scenario",
        args.scenario
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_owned()),
    )];
    summary.extend(run.scenario(poller.as_ref()).await);
    summary.push(("elapsed_s", secs(start.elapsed())));
    if let Some(poller) = poller {
        summary.extend(poller.finish().await);
    }
    let line: Vec<String> = summary
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!("{}", line.join(" "));
    Ok(())
}

/// HTTP/1 clients (or idle sockets) when `--clients` is not given.
fn default_clients(scenario: Scenario) -> usize {
    match scenario {
        Scenario::HeldBodiesH1 => 1000,
        Scenario::Trickle => 100,
        Scenario::NonReader => 200,
        Scenario::IdleSockets => 4200,
        Scenario::HeldHeads => 4096,
        Scenario::HeldBodiesH2 | Scenario::ZeroWindow => 0,
    }
}

/// One scenario's run: its arguments, its clients, when it began and when
/// it must end.
struct Run<'a> {
    args: &'a Args,
    clients: usize,
    start: Instant,
    deadline: Instant,
}

impl Run<'_> {
    /// Runs the scenario asked for; its part of the summary line.
    async fn scenario(&self, poller: Option<&TimeoutPoller>) -> Vec<(&'static str, String)> {
        let args = self.args;
        match args.scenario {
            Scenario::HeldBodiesH1 => {
                let mut request = head("POST", IV_PATH, args.declared).into_bytes();
                request.resize(request.len() + args.send.min(args.declared), b'x');
                self.whole_requests(request.into()).await
            }
            Scenario::HeldHeads => {
                // A head as large as asked, never ended by its blank line.
                let mut request = format!(
                    "POST {IV_PATH} HTTP/1.1\r\nHost: idv-vendor.test\r\nContent-Type: application/json\r\nX-Padding: "
                )
                .into_bytes();
                request.resize(args.head_bytes.max(request.len()), b'x');
                self.whole_requests(request.into()).await
            }
            Scenario::Trickle => {
                let (proxy, start, deadline) = (args.proxy, self.start, self.deadline);
                let outcomes = spawn_all(self.clients, |_| {
                    h1_client(proxy, start, deadline, Sending::Trickle)
                })
                .await;
                h1_summary(&outcomes)
            }
            Scenario::NonReader => self.non_readers(poller).await,
            Scenario::IdleSockets => {
                idle_sockets(args.proxy, self.clients, self.start, self.deadline).await
            }
            Scenario::HeldBodiesH2 => {
                let load = H2Load::HeldBodies {
                    declared: args.declared,
                    send: args.send.min(args.declared),
                };
                self.h2_connections(load, 4, 200).await
            }
            Scenario::ZeroWindow => self.h2_connections(H2Load::ZeroWindow, 200, 100).await,
        }
    }

    /// Every client sends `request` at once, then nothing.
    async fn whole_requests(&self, request: Arc<[u8]>) -> Vec<(&'static str, String)> {
        let (proxy, start, deadline) = (self.args.proxy, self.start, self.deadline);
        let outcomes = spawn_all(self.clients, |_| {
            h1_client(proxy, start, deadline, Sending::Whole(Arc::clone(&request)))
        })
        .await;
        h1_summary(&outcomes)
    }

    /// Clients that never read the answer, on the route asked for.
    async fn non_readers(&self, poller: Option<&TimeoutPoller>) -> Vec<(&'static str, String)> {
        let request: Arc<[u8]> = match self.args.route {
            Route::Shadowed => {
                let mut r = head("POST", &format!("{IV_PATH}?large"), IV_BODY.len()).into_bytes();
                r.extend_from_slice(IV_BODY);
                r.into()
            }
            Route::Passthrough => {
                b"GET /large HTTP/1.1\r\nHost: idv-vendor.test\r\n\r\n"[..].into()
            }
        };
        // Ends early once the proxy has cut every client (seen in its
        // metrics: the clients themselves cannot see it).
        let all_cut = Arc::new(Notify::new());
        if let Some(poller) = poller {
            poller.notify_at(self.clients as f64, Arc::clone(&all_cut));
        }
        let (proxy, start, deadline) = (self.args.proxy, self.start, self.deadline);
        let outcomes = spawn_all(self.clients, |_| {
            non_reader(
                proxy,
                start,
                deadline,
                Arc::clone(&request),
                Arc::clone(&all_cut),
            )
        })
        .await;
        let mut summary = h1_summary(&outcomes);
        summary.push(("cut", outcomes.iter().filter(|o| o.cut).count().to_string()));
        summary.push((
            "whole",
            outcomes.iter().filter(|o| o.whole).count().to_string(),
        ));
        summary
    }

    /// HTTP/2 connections each opening streams with `load`; the counts
    /// default to `connections` and `streams` when not given.
    async fn h2_connections(
        &self,
        load: H2Load,
        connections: usize,
        streams: u32,
    ) -> Vec<(&'static str, String)> {
        let (proxy, start, deadline) = (self.args.proxy, self.start, self.deadline);
        let streams = self.args.streams.unwrap_or(streams);
        let outcomes = spawn_all(self.args.connections.unwrap_or(connections), |_| {
            h2_connection(proxy, streams, load, start, deadline)
        })
        .await;
        h2_summary(&outcomes)
    }
}

/// A connection to `addr`, at most `CONNECTS_AT_ONCE` connects in progress.
async fn connect(addr: SocketAddr) -> Option<TcpStream> {
    static CONNECTING: Semaphore = Semaphore::const_new(CONNECTS_AT_ONCE);
    let _permit = CONNECTING.acquire().await.ok()?;
    timeout(CONNECT_BOUND, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()
}

/// Runs `n` clients at once and waits for them all.
async fn spawn_all<T, F, Fut>(n: usize, mut client: F) -> Vec<T>
where
    T: Send + 'static,
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(client(i))).collect();
    let mut out = Vec::with_capacity(n);
    for task in tasks {
        out.push(task.await.expect("a client panicked"));
    }
    out
}

fn head(method: &str, path: &str, content_length: usize) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: idv-vendor.test\r\nContent-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n"
    )
}

fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

/// What an HTTP/1 client sends.
enum Sending {
    /// These bytes at once, then nothing.
    Whole(Arc<[u8]>),
    /// The InstantVerify request's head, then its body a byte a second.
    Trickle,
}

/// Connects, sends, and reads until the proxy closes or `deadline`.
async fn h1_client(addr: SocketAddr, start: Instant, deadline: Instant, send: Sending) -> Outcome {
    let mut outcome = Outcome::default();
    let Some(stream) = connect(addr).await else {
        return outcome;
    };
    outcome.connected = true;
    let (mut rd, mut wr) = stream.into_split();
    let mut sent = 0u64;
    let writing = async {
        match send {
            Sending::Whole(bytes) => {
                for chunk in bytes.chunks(64 * 1024) {
                    match timeout(WRITE_BOUND, wr.write_all(chunk)).await {
                        Ok(Ok(())) => sent += chunk.len() as u64,
                        _ => break,
                    }
                }
            }
            Sending::Trickle => {
                let head = head("POST", IV_PATH, IV_BODY.len());
                if let Ok(Ok(())) = timeout(WRITE_BOUND, wr.write_all(head.as_bytes())).await {
                    sent += head.len() as u64;
                    for byte in IV_BODY {
                        if !matches!(
                            timeout(WRITE_BOUND, wr.write_all(&[*byte])).await,
                            Ok(Ok(()))
                        ) {
                            break;
                        }
                        sent += 1;
                        sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
        // Then silent, the connection kept open.
        std::future::pending::<()>().await;
    };
    tokio::select! {
        (status, reset) = read_until_closed(&mut rd) => {
            outcome.closed = Some(start.elapsed());
            outcome.status = status;
            outcome.reset = reset;
        }
        () = writing => {}
        () = sleep_until(deadline) => {}
    }
    outcome.sent = sent;
    outcome
}

/// Reads until EOF or an error: the answer's status (if any), and whether
/// it ended in an error (a reset) rather than an EOF.
async fn read_until_closed<R: AsyncRead + Unpin>(rd: &mut R) -> (Option<u16>, bool) {
    let mut first = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let reset = loop {
        match rd.read(&mut buf).await {
            Ok(0) => break false,
            Ok(n) => {
                if first.len() < 16 {
                    first.extend_from_slice(&buf[..n.min(16)]);
                }
            }
            Err(_) => break true,
        }
    };
    (status_of(&first), reset)
}

/// The status code of an HTTP/1 status line at the start of `bytes`.
fn status_of(bytes: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(bytes.get(..12)?).ok()?;
    line.strip_prefix("HTTP/1.1 ")?.parse().ok()
}

/// Sends a request and never reads, until `deadline` or until `all_cut`;
/// then reads what is left, to tell a cut answer from a whole one.
async fn non_reader(
    addr: SocketAddr,
    start: Instant,
    deadline: Instant,
    request: Arc<[u8]>,
    all_cut: Arc<Notify>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let Some(mut stream) = connect(addr).await else {
        return outcome;
    };
    outcome.connected = true;
    if !matches!(
        timeout(WRITE_BOUND, stream.write_all(&request)).await,
        Ok(Ok(()))
    ) {
        return outcome;
    }
    outcome.sent = request.len() as u64;
    tokio::select! {
        () = sleep_until(deadline) => {}
        () = all_cut.notified() => {}
    }
    // Whatever the kernel still holds for us comes at once; a connection
    // the proxy still serves keeps sending, so bounded.
    let mut head = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0usize;
    let drained = timeout(Duration::from_secs(3), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => {
                    received += n;
                    if head.len() < 4096 {
                        head.extend_from_slice(&buf[..n.min(4096)]);
                    }
                }
            }
        }
    })
    .await
    .unwrap_or(false);
    outcome.status = status_of(&head);
    let head_len = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4);
    let length = std::str::from_utf8(&head[..head_len.unwrap_or(0)])
        .ok()
        .and_then(|h| {
            h.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
        });
    let body = received - head_len.unwrap_or(received).min(received);
    outcome.whole = length.is_some_and(|l| body >= l);
    if drained {
        // Closed by the proxy at some point before now (the metrics say
        // when); short of the answer's length, it was cut.
        outcome.closed = Some(start.elapsed());
        outcome.cut = !outcome.whole;
    }
    outcome
}

fn h1_summary(outcomes: &[Outcome]) -> Vec<(&'static str, String)> {
    let opened = outcomes.iter().filter(|o| o.connected).count();
    let closes: Vec<Duration> = outcomes.iter().filter_map(|o| o.closed).collect();
    let mut answers = BTreeMap::new();
    for status in outcomes.iter().filter_map(|o| o.status) {
        *answers.entry(status).or_insert(0usize) += 1;
    }
    vec![
        ("opened", opened.to_string()),
        ("closed_by_proxy", closes.len().to_string()),
        (
            "closed_by_reset",
            outcomes.iter().filter(|o| o.reset).count().to_string(),
        ),
        (
            "close_first_s",
            closes.iter().min().map_or("-".into(), |d| secs(*d)),
        ),
        (
            "close_last_s",
            closes.iter().max().map_or("-".into(), |d| secs(*d)),
        ),
        ("held_at_end", (opened - closes.len()).to_string()),
        ("answers", histogram(&answers)),
        (
            "sent",
            outcomes.iter().map(|o| o.sent).sum::<u64>().to_string(),
        ),
    ]
}

fn histogram<K: std::fmt::Display>(counts: &BTreeMap<K, usize>) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k}x{n}")).collect();
    parts.join(",")
}

/// Opens `n` silent connections, then times one fresh GET; the silent ones
/// are watched until the proxy closes them or `deadline`.
async fn idle_sockets(
    addr: SocketAddr,
    n: usize,
    start: Instant,
    deadline: Instant,
) -> Vec<(&'static str, String)> {
    let silent = spawn_all(n, |_| connect(addr)).await;
    let connected = start.elapsed();
    let watched: Vec<_> = silent
        .into_iter()
        .flatten()
        .map(|mut stream| {
            tokio::spawn(async move {
                let mut outcome = Outcome {
                    connected: true,
                    ..Outcome::default()
                };
                if let Ok((status, reset)) =
                    timeout_at(deadline, read_until_closed(&mut stream)).await
                {
                    outcome.closed = Some(start.elapsed());
                    outcome.status = status;
                    outcome.reset = reset;
                }
                outcome
            })
        })
        .collect();
    let asked = Instant::now();
    let fresh = timeout_at(deadline, async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream
            .write_all(b"GET /fresh HTTP/1.1\r\nHost: idv-vendor.test\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut first = [0u8; 12];
        stream.read_exact(&mut first).await.ok()?;
        Some((asked.elapsed(), status_of(&first)))
    })
    .await
    .ok()
    .flatten();
    let mut outcomes = Vec::with_capacity(watched.len());
    for task in watched {
        outcomes.push(task.await.expect("a watcher panicked"));
    }
    let mut summary = h1_summary(&outcomes);
    summary.push(("connected_s", secs(connected)));
    summary.push((
        "fresh_s",
        fresh.map_or("-".into(), |(d, _)| format!("{:.2}", d.as_secs_f64())),
    ));
    summary.push((
        "fresh_status",
        fresh
            .and_then(|(_, s)| s)
            .map_or("-".into(), |s| s.to_string()),
    ));
    summary
}

// --- HTTP/2, raw frames ---------------------------------------------------

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
const REFUSED_STREAM: u32 = 0x7;
/// The largest DATA frame every peer takes (SETTINGS_MAX_FRAME_SIZE's floor).
const MAX_FRAME: usize = 16_384;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&u32::try_from(payload.len()).expect("small").to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// HEADERS opening stream `id` with the held POST declaring `declared`
/// bytes (HPACK literals without indexing, new names).
fn h2_headers(id: u32, declared: usize) -> Vec<u8> {
    let declared = declared.to_string();
    let mut block = Vec::new();
    for (name, value) in [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", IV_PATH),
        (":authority", "idv-vendor.test"),
        ("content-type", "application/json"),
        ("content-length", declared.as_str()),
    ] {
        block.push(0x00);
        block.push(u8::try_from(name.len()).expect("short"));
        block.extend_from_slice(name.as_bytes());
        block.push(u8::try_from(value.len()).expect("short"));
        block.extend_from_slice(value.as_bytes());
    }
    frame(HEADERS, END_HEADERS, id, &block)
}

/// How one stream ended, if it did.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StreamEnd {
    Open,
    Answered(u16),
    Reset(u32),
}

/// One connection's state, shared by its reader and writer.
struct H2State {
    /// What the proxy lets us send: on the connection, and per stream.
    connection_window: i64,
    initial_window: i64,
    windows: HashMap<u32, i64>,
    max_streams: Option<u32>,
    ends: HashMap<u32, StreamEnd>,
    /// When each stream ended.
    ended: HashMap<u32, Duration>,
    goaway: Option<u32>,
    closed: Option<Duration>,
}

struct H2Outcome {
    connected: bool,
    streams: u32,
    sent: u64,
    ends: Vec<(StreamEnd, Option<Duration>)>,
    goaway: Option<u32>,
    closed: Option<Duration>,
}

/// What an HTTP/2 connection's streams do.
#[derive(Clone, Copy)]
enum H2Load {
    /// POSTs declaring `declared` bytes, sending `send` of them as far as
    /// the proxy's windows allow; the client's windows are wide open.
    HeldBodies { declared: usize, send: usize },
    /// GETs of `/`, with every window of the client shut for good.
    ZeroWindow,
}

/// GET `/` on stream `id`, ending the stream.
fn h2_get(id: u32) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in [
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "idv-vendor.test"),
    ] {
        block.push(0x00);
        block.push(u8::try_from(name.len()).expect("short"));
        block.extend_from_slice(name.as_bytes());
        block.push(u8::try_from(value.len()).expect("short"));
        block.extend_from_slice(value.as_bytes());
    }
    frame(HEADERS, END_HEADERS | END_STREAM, id, &block)
}

/// One connection of `streams` streams doing `load`.
async fn h2_connection(
    addr: SocketAddr,
    streams: u32,
    load: H2Load,
    start: Instant,
    deadline: Instant,
) -> H2Outcome {
    let mut outcome = H2Outcome {
        connected: false,
        streams: 0,
        sent: 0,
        ends: Vec::new(),
        goaway: None,
        closed: None,
    };
    let Some(stream) = connect(addr).await else {
        return outcome;
    };
    outcome.connected = true;
    let (rd, wr) = stream.into_split();
    let wr = Arc::new(tokio::sync::Mutex::new(wr));
    let ids: Vec<u32> = (0..streams).map(|n| 1 + 2 * n).collect();
    let state = Arc::new(Mutex::new(H2State::opening(&ids)));
    let changed = Arc::new(Notify::new());
    let reader = tokio::spawn(h2_reader(
        rd,
        Arc::clone(&wr),
        Arc::clone(&state),
        Arc::clone(&changed),
        start,
    ));
    if write_bounded(&wr, &h2_opening(load, &ids)).await {
        outcome.streams = streams;
        // A zero-window client is silent now but for PINGs and SETTINGS; the
        // streams end when the proxy resets them or closes the connection.
        if let H2Load::HeldBodies { send, .. } = load {
            // The proxy refuses streams past its limit: let its SETTINGS and
            // refusals arrive before any DATA (a PING's answer comes after them).
            let _ = write_bounded(&wr, &frame(PING, 0, 0, &[0; 8])).await;
            let _ = timeout(
                Duration::from_secs(2),
                wait_for(&state, &changed, |s| s.max_streams.is_some()),
            )
            .await;
            sleep(Duration::from_millis(200)).await;
            outcome.sent = h2_send_bodies(&wr, &state, &changed, &ids, send, deadline).await;
        }
    }
    // Silent now; wait for the proxy to end every stream or the connection.
    // A zero-window stream's answer head is not its end (its body never
    // comes): only a reset, or the connection's close, ends it.
    let zero_window = matches!(load, H2Load::ZeroWindow);
    let ended = |e: &StreamEnd| match e {
        StreamEnd::Open => false,
        StreamEnd::Answered(_) => !zero_window,
        StreamEnd::Reset(_) => true,
    };
    let _ = timeout_at(
        deadline,
        wait_for(&state, &changed, |s| {
            s.closed.is_some() || s.ends.values().all(ended)
        }),
    )
    .await;
    reader.abort();
    let s = state.lock().expect("state");
    outcome.ends = ids
        .iter()
        .map(|id| (s.ends[id], s.ended.get(id).copied()))
        .collect();
    outcome.goaway = s.goaway;
    outcome.closed = s.closed;
    outcome
}

/// What a connection sends first: the preface, SETTINGS (no dynamic HPACK
/// table, so the answers' statuses can be read without one; no push; a
/// large window for the answers, or none for a zero-window client), as much
/// connection window, and the HEADERS opening each of `ids`.
fn h2_opening(load: H2Load, ids: &[u32]) -> Vec<u8> {
    let mut opening = PREFACE.to_vec();
    let mut settings = Vec::new();
    // A zero-window client lets no answer byte through, ever.
    let window = match load {
        H2Load::HeldBodies { .. } => 1 << 24,
        H2Load::ZeroWindow => 0,
    };
    for (id, value) in [(0x1u16, 0u32), (0x2, 0), (0x4, window)] {
        settings.extend_from_slice(&id.to_be_bytes());
        settings.extend_from_slice(&value.to_be_bytes());
    }
    opening.extend(frame(SETTINGS, 0, 0, &settings));
    if window > 0 {
        opening.extend(frame(WINDOW_UPDATE, 0, 0, &window.to_be_bytes()));
    }
    for &id in ids {
        opening.extend(match load {
            H2Load::HeldBodies { declared, .. } => h2_headers(id, declared),
            H2Load::ZeroWindow => h2_get(id),
        });
    }
    opening
}

/// Returns once `done` holds of the connection's state (unbounded: the
/// caller bounds it).
async fn wait_for(state: &Mutex<H2State>, changed: &Notify, done: impl Fn(&H2State) -> bool) {
    loop {
        let notified = changed.notified();
        if done(&state.lock().expect("state")) {
            return;
        }
        notified.await;
    }
}

/// Writes `bytes` unless it takes longer than `WRITE_BOUND`.
async fn write_bounded(wr: &tokio::sync::Mutex<OwnedWriteHalf>, bytes: &[u8]) -> bool {
    matches!(
        timeout(WRITE_BOUND, async {
            wr.lock().await.write_all(bytes).await
        })
        .await,
        Ok(Ok(()))
    )
}

/// DATA on every open stream, as far as the windows allow, until each has
/// sent `send` bytes, the windows stay shut for `WRITE_BOUND`, or a write
/// stalls. Returns the bytes sent.
async fn h2_send_bodies(
    wr: &tokio::sync::Mutex<OwnedWriteHalf>,
    state: &Mutex<H2State>,
    changed: &Notify,
    ids: &[u32],
    send: usize,
    deadline: Instant,
) -> u64 {
    let chunk = vec![b'x'; MAX_FRAME];
    let mut left: HashMap<u32, usize> = ids.iter().map(|&id| (id, send)).collect();
    let mut sent = 0u64;
    let mut next = 0usize;
    while Instant::now() < deadline {
        let notified = changed.notified();
        // The next stream (round robin) that may send, and how much.
        let pick = {
            let mut s = state.lock().expect("state");
            if s.closed.is_some() || s.goaway.is_some() {
                break;
            }
            let allowed = s.max_streams.map_or(ids.len(), |m| m as usize);
            let mut pick = None;
            for k in 0..ids.len() {
                let id = ids[(next + k) % ids.len()];
                let n = left[&id]
                    .min(MAX_FRAME)
                    .min(usize::try_from(s.windows[&id].max(0)).unwrap_or(0))
                    .min(usize::try_from(s.connection_window.max(0)).unwrap_or(0));
                let index = ((id - 1) / 2) as usize;
                if n > 0 && index < allowed && s.ends[&id] == StreamEnd::Open {
                    next = (next + k + 1) % ids.len();
                    *s.windows.get_mut(&id).expect("known") -= n as i64;
                    s.connection_window -= n as i64;
                    pick = Some((id, n));
                    break;
                }
            }
            pick
        };
        match pick {
            Some((id, n)) => {
                if !write_bounded(wr, &frame(DATA, 0, id, &chunk[..n])).await {
                    break;
                }
                *left.get_mut(&id).expect("known") -= n;
                sent += n as u64;
            }
            None => {
                let all_sent = {
                    let s = state.lock().expect("state");
                    ids.iter()
                        .all(|id| left[id] == 0 || s.ends[id] != StreamEnd::Open)
                };
                if all_sent || timeout(WRITE_BOUND, notified).await.is_err() {
                    break;
                }
            }
        }
    }
    sent
}

/// Reads the proxy's frames: keeps the windows, acknowledges SETTINGS,
/// answers PINGs, records each stream's end and the connection's.
async fn h2_reader(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    wr: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    state: Arc<Mutex<H2State>>,
    changed: Arc<Notify>,
    start: Instant,
) {
    loop {
        let mut header = [0u8; 9];
        if rd.read_exact(&mut header).await.is_err() {
            break;
        }
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let (kind, flags) = (header[3], header[4]);
        let id = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        if rd.read_exact(&mut payload).await.is_err() {
            break;
        }
        let reply = {
            let mut s = state.lock().expect("state");
            let was_open = s.ends.get(&id) == Some(&StreamEnd::Open);
            let reply = s.on_frame(kind, flags, id, &payload);
            if was_open && s.ends.get(&id) != Some(&StreamEnd::Open) {
                s.ended.insert(id, start.elapsed());
            }
            reply
        };
        changed.notify_waiters();
        if let Some(reply) = reply {
            // The writer may be stalled behind a full socket: never wait on it
            // here for long.
            let _ = write_bounded(&wr, &reply).await;
        }
    }
    state.lock().expect("state").closed = Some(start.elapsed());
    changed.notify_waiters();
}

impl H2State {
    /// A connection's state before the proxy has said anything, with
    /// streams `ids` open.
    fn opening(ids: &[u32]) -> Self {
        let initial_window = 65_535;
        Self {
            connection_window: 65_535,
            initial_window,
            windows: ids.iter().map(|&id| (id, initial_window)).collect(),
            max_streams: None,
            ends: ids.iter().map(|&id| (id, StreamEnd::Open)).collect(),
            ended: HashMap::new(),
            goaway: None,
            closed: None,
        }
    }

    /// Takes in one frame from the proxy; the frame to answer it with, if any.
    fn on_frame(&mut self, kind: u8, flags: u8, id: u32, payload: &[u8]) -> Option<Vec<u8>> {
        match kind {
            DATA if flags & END_STREAM != 0 => {
                self.ends.entry(id).and_modify(|e| {
                    if *e == StreamEnd::Open {
                        *e = StreamEnd::Answered(0);
                    }
                });
            }
            HEADERS => {
                let status = status_from_block(payload, flags).unwrap_or(0);
                self.ends.insert(id, StreamEnd::Answered(status));
            }
            RST_STREAM if payload.len() >= 4 => {
                // After an answer, a reset (NO_ERROR) only says "send no
                // more of the body": the answer is the stream's end.
                let code = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                let end = self.ends.entry(id).or_insert(StreamEnd::Open);
                if *end == StreamEnd::Open {
                    *end = StreamEnd::Reset(code);
                }
            }
            SETTINGS if flags & ACK == 0 => {
                self.on_settings(payload);
                return Some(frame(SETTINGS, ACK, 0, &[]));
            }
            PING if flags & ACK == 0 => return Some(frame(PING, ACK, 0, payload)),
            GOAWAY if payload.len() >= 8 => {
                self.goaway = Some(u32::from_be_bytes([
                    payload[4], payload[5], payload[6], payload[7],
                ]));
            }
            WINDOW_UPDATE if payload.len() >= 4 => {
                let add = i64::from(
                    u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
                        & 0x7fff_ffff,
                );
                if id == 0 {
                    self.connection_window += add;
                } else if let Some(window) = self.windows.get_mut(&id) {
                    *window += add;
                }
            }
            _ => {}
        }
        None
    }

    /// SETTINGS from the proxy: its stream limit, and its initial window
    /// (which moves every stream's window by the change).
    fn on_settings(&mut self, payload: &[u8]) {
        for pair in payload.chunks_exact(6) {
            let value = u32::from_be_bytes([pair[2], pair[3], pair[4], pair[5]]);
            match u16::from_be_bytes([pair[0], pair[1]]) {
                0x3 => self.max_streams = Some(value),
                0x4 => {
                    let delta = i64::from(value) - self.initial_window;
                    self.initial_window = i64::from(value);
                    for window in self.windows.values_mut() {
                        *window += delta;
                    }
                }
                _ => {}
            }
        }
        self.max_streams.get_or_insert(u32::MAX);
    }
}

/// The `:status` at the start of a response's header block, read without a
/// dynamic table (the client's SETTINGS gave it size 0): a static index, or
/// a literal with the static name `:status`, plain or Huffman-coded.
fn status_from_block(payload: &[u8], flags: u8) -> Option<u16> {
    let mut block = payload;
    if flags & PADDED != 0 {
        let pad = usize::from(*block.first()?);
        block = block.get(1..block.len().checked_sub(pad)?)?;
    }
    if flags & PRIORITY != 0 {
        block = block.get(5..)?;
    }
    // Dynamic table size updates (001xxxxx) may come first.
    while block.first()? & 0xe0 == 0x20 {
        block = &block[1..];
    }
    let first = *block.first()?;
    if first & 0x80 != 0 {
        return [200, 204, 206, 304, 400, 404, 500]
            .get(usize::from(first & 0x7f).checked_sub(8)?)
            .copied();
    }
    let name_index = if first & 0xc0 == 0x40 {
        first & 0x3f
    } else {
        first & 0x0f
    };
    if name_index != 8 {
        return None;
    }
    let value_head = *block.get(1)?;
    let value = block.get(2..2 + usize::from(value_head & 0x7f))?;
    let digits = if value_head & 0x80 != 0 {
        huffman_digits(value)?
    } else {
        std::str::from_utf8(value).ok()?.to_owned()
    };
    digits.parse().ok()
}

/// Three digits, Huffman-coded (RFC 7541 appendix B: '0'-'2' are 5 bits,
/// 00000-00010; '3'-'9' are 6 bits, 011001-011111).
fn huffman_digits(bytes: &[u8]) -> Option<String> {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let take = |at: usize, n: usize| -> Option<u8> {
        bits.get(at..at + n)
            .map(|s| s.iter().fold(0u8, |acc, b| (acc << 1) | b))
    };
    let mut at = 0;
    let mut out = String::new();
    while out.len() < 3 {
        let five = take(at, 5)?;
        if five <= 2 {
            out.push(char::from(b'0' + five));
            at += 5;
            continue;
        }
        let six = take(at, 6)?;
        if (0x19..=0x1f).contains(&six) {
            out.push(char::from(b'3' + (six - 0x19)));
            at += 6;
        } else {
            return None;
        }
    }
    Some(out)
}

fn h2_summary(outcomes: &[H2Outcome]) -> Vec<(&'static str, String)> {
    let opened = outcomes.iter().filter(|o| o.connected).count();
    let closes: Vec<Duration> = outcomes.iter().filter_map(|o| o.closed).collect();
    let ends: Vec<StreamEnd> = outcomes
        .iter()
        .flat_map(|o| o.ends.iter().map(|(end, _)| *end))
        .collect();
    // When the streams the proxy took in (not refused) ended.
    let taken_ends: Vec<Duration> = outcomes
        .iter()
        .flat_map(|o| o.ends.iter())
        .filter(|(end, _)| *end != StreamEnd::Reset(REFUSED_STREAM))
        .filter_map(|(_, at)| *at)
        .collect();
    let mut answers = BTreeMap::new();
    let mut resets = BTreeMap::new();
    for end in &ends {
        match end {
            StreamEnd::Answered(status) => *answers.entry(*status).or_insert(0usize) += 1,
            StreamEnd::Reset(code) => *resets.entry(*code).or_insert(0usize) += 1,
            StreamEnd::Open => {}
        }
    }
    let refused = resets.get(&REFUSED_STREAM).copied().unwrap_or(0);
    let goaways: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.goaway.map(|code| code.to_string()))
        .collect();
    vec![
        ("opened", opened.to_string()),
        (
            "streams",
            outcomes.iter().map(|o| o.streams).sum::<u32>().to_string(),
        ),
        ("refused", refused.to_string()),
        ("resets", histogram(&resets)),
        ("closed_by_proxy", closes.len().to_string()),
        (
            "close_first_s",
            closes.iter().min().map_or("-".into(), |d| secs(*d)),
        ),
        (
            "close_last_s",
            closes.iter().max().map_or("-".into(), |d| secs(*d)),
        ),
        (
            "stream_end_first_s",
            taken_ends.iter().min().map_or("-".into(), |d| secs(*d)),
        ),
        (
            "stream_end_last_s",
            taken_ends.iter().max().map_or("-".into(), |d| secs(*d)),
        ),
        (
            "held_at_end",
            ends.iter()
                .filter(|e| **e == StreamEnd::Open)
                .count()
                .to_string(),
        ),
        ("answers", histogram(&answers)),
        (
            "goaway",
            if goaways.is_empty() {
                "none".into()
            } else {
                goaways.join(",")
            },
        ),
        (
            "sent",
            outcomes.iter().map(|o| o.sent).sum::<u64>().to_string(),
        ),
    ]
}

// --- the proxy's own count --------------------------------------------------

/// Polls the proxy's `connections_timed_out_total` on its admin port.
struct TimeoutPoller {
    task: tokio::task::JoinHandle<Vec<(Duration, BTreeMap<String, f64>)>>,
    stop: Arc<AtomicBool>,
    watch: Watch,
}

/// A count to wait for, and whom to tell once it is reached.
type Watch = Arc<Mutex<Option<(f64, Arc<Notify>)>>>;

impl TimeoutPoller {
    fn spawn(admin: SocketAddr, start: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let watch: Watch = Arc::new(Mutex::new(None));
        let task = tokio::spawn({
            let (stop, watch) = (Arc::clone(&stop), Arc::clone(&watch));
            async move {
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(counts) = timeouts(admin).await {
                        let total: f64 = counts.values().sum();
                        if let Some((at_least, notify)) = &*watch.lock().expect("watch")
                            && total >= *at_least
                        {
                            notify.notify_waiters();
                        }
                        samples.push((start.elapsed(), counts));
                    }
                    sleep(Duration::from_millis(200)).await;
                }
                samples
            }
        });
        Self { task, stop, watch }
    }

    /// Notifies `notify` (every 200 ms) once the count reaches `at_least`.
    fn notify_at(&self, at_least: f64, notify: Arc<Notify>) {
        *self.watch.lock().expect("watch") = Some((at_least, notify));
    }

    async fn finish(self) -> Vec<(&'static str, String)> {
        // One more sample after the clients are done.
        sleep(Duration::from_millis(300)).await;
        self.stop.store(true, Ordering::Relaxed);
        let samples = self.task.await.unwrap_or_default();
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            return vec![("timeouts", "unread".into())];
        };
        let increase: BTreeMap<&String, f64> = last
            .1
            .iter()
            .map(|(phase, n)| (phase, n - first.1.get(phase).copied().unwrap_or(0.0)))
            .filter(|(_, n)| *n > 0.0)
            .collect();
        let total = |counts: &BTreeMap<String, f64>| counts.values().sum::<f64>();
        // The count over time, on stderr, at each change.
        let mut shown = total(&first.1);
        for (at, counts) in &samples {
            if total(counts) != shown {
                shown = total(counts);
                let phases: Vec<String> = counts.iter().map(|(p, n)| format!("{p}:{n}")).collect();
                eprintln!("timeouts at {} s: {}", secs(*at), phases.join(","));
            }
        }
        let rose = samples
            .iter()
            .find(|(_, counts)| total(counts) > total(&first.1))
            .map(|(at, _)| *at);
        let reached = samples
            .iter()
            .find(|(_, counts)| total(counts) >= total(&last.1))
            .map(|(at, _)| *at);
        let phases: Vec<String> = increase.iter().map(|(p, n)| format!("{p}:{n}")).collect();
        vec![
            (
                "timeouts",
                if phases.is_empty() {
                    "none".into()
                } else {
                    phases.join(",")
                },
            ),
            ("timeouts_first_s", rose.map_or("-".into(), secs)),
            (
                "timeouts_last_s",
                match reached {
                    Some(at) if !increase.is_empty() => secs(at),
                    _ => "-".into(),
                },
            ),
        ]
    }
}

/// `connections_timed_out_total` by phase, from `/metrics`.
async fn timeouts(admin: SocketAddr) -> anyhow::Result<BTreeMap<String, f64>> {
    let text = timeout(Duration::from_secs(2), async {
        let mut stream = TcpStream::connect(admin).await?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
            .await?;
        let mut text = String::new();
        stream.read_to_string(&mut text).await?;
        anyhow::Ok(text)
    })
    .await
    .context("metrics timed out")??;
    let prefix = "socure_shadow_proxy_connections_timed_out_total{phase=\"";
    Ok(text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(prefix)?;
            let (phase, value) = rest.split_once("\"} ")?;
            Some((phase.to_owned(), value.trim().parse().ok()?))
        })
        .collect())
}
