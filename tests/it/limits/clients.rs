//! Timeouts from accept to last byte, the connection limit, the mirror's byte budget, and the lines of requests that never reached LexisNexis: what a hostile or leaky client can hold, and for how long.
//!
//! Every timeout here is set to a second or two, so each test is bounded by
//! the timeout it checks; waits are on events (an answer, a close, a metric
//! reaching a value), each bounded by `TEST_BOUND`.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::tls::{TestPki, client_trusting, tls_over};
use crate::support::*;

const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame.
const HTTP2_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

fn ok_upstream_answer() -> Vec<u8> {
    json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    ))
}

/// Where the head of raw request `whole` ends (its body starts).
fn head_end(whole: &[u8]) -> usize {
    whole
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4
}

/// A proxy with `options` in front of a fast fake LexisNexis and a fast
/// fake Socure (returned with it: the upstream first).
async fn proxy_with(options: Options) -> (TestProxy, [FakeVendor; 2]) {
    let upstream = FakeVendor::always(ok_upstream_answer()).await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;
    (proxy, [upstream, socure])
}

/// A shadowing proxy with the mirror's byte budget and the body's grace
/// period set.
async fn proxy_with_budget(budget: usize, body_grace_seconds: u32) -> (TestProxy, [FakeVendor; 2]) {
    proxy_with(Options {
        // Room for the HTTP/2 test's ten streams on one connection.
        listen_extra: format!(
            "request_body_timeout_seconds = {body_grace_seconds}\nhttp2_max_concurrent_streams = 16"
        ),
        shadow_extra: format!("max_buffered_bytes = {budget}"),
        ..Options::default()
    })
    .await
}

fn timed_out(phase: &str) -> String {
    format!("socure_shadow_proxy_connections_timed_out_total{{phase=\"{phase}\"}}")
}

/// Reads until the proxy closes the connection (EOF or reset), bounded.
async fn closed_by_proxy(stream: &mut TcpStream) {
    let mut sink = Vec::new();
    tokio::time::timeout(TEST_BOUND, stream.read_to_end(&mut sink))
        .await
        .expect("the proxy closed the connection in time")
        .ok();
}

#[tokio::test]
async fn silent_connections_at_the_limit_are_closed_and_a_fresh_request_is_served() {
    const LIMIT: usize = 6;
    let header_timeout = Duration::from_secs(1);
    let (proxy, [upstream, _socure]) = proxy_with(Options {
        max_connections: LIMIT as u64,
        listen_extra: "header_timeout_seconds = 1".into(),
        ..Options::default()
    })
    .await;

    // Every place the review found a connection held forever: nothing at
    // all, only HTTP/2's preface, the preface and SETTINGS.
    let mut silent = Vec::new();
    for n in 0..LIMIT {
        let mut stream = TcpStream::connect(proxy.addr).await.expect("connect");
        match n % 3 {
            0 => {}
            1 => stream.write_all(HTTP2_PREFACE).await.expect("preface"),
            _ => {
                stream.write_all(HTTP2_PREFACE).await.expect("preface");
                stream.write_all(HTTP2_SETTINGS).await.expect("settings");
            }
        }
        silent.push(stream);
    }
    // The fresh client waits in the backlog until a silent one is closed.
    let started = Instant::now();
    let answer = tokio::time::timeout(
        header_timeout + Duration::from_secs(1),
        send(proxy.addr, &request("GET", "/fresh", &[], b"")),
    )
    .await
    .expect("served within the header timeout plus a second");
    assert_eq!(answer.status(), 200);
    assert!(
        started.elapsed() >= header_timeout / 2,
        "it did have to wait"
    );
    for stream in &mut silent {
        closed_by_proxy(stream).await;
    }
    let text = metric_reaches(proxy.admin, &timed_out("header"), LIMIT as f64).await;
    assert_eq!(metric(&text, &timed_out("header")), LIMIT as f64);
    assert_eq!(upstream.requests().len(), 1, "only the fresh request");
    proxy.finish().await;
}

#[tokio::test]
async fn a_client_silent_after_its_tls_handshake_is_closed_at_the_header_timeout() {
    let upstream = FakeVendor::always(ok_upstream_answer()).await;
    let pki = TestPki::new("sidecar");
    let leaf = pki.leaf("sidecar", &["idv-vendor.test"]);
    let proxy = TestProxy::from_toml(|log| {
        Options {
            enabled: false,
            listen_extra: format!(
                "header_timeout_seconds = 1\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"",
                leaf.cert_file.display(),
                leaf.key_file.display()
            ),
            ..Options::default()
        }
        .toml(upstream.addr, upstream.addr, log)
    })
    .await;
    let tcp = TcpStream::connect(proxy.addr).await.expect("connect");
    let mut tls = tls_over(tcp, "idv-vendor.test", client_trusting(&pki.ca_cert))
        .await
        .expect("handshake");
    let mut sink = Vec::new();
    tokio::time::timeout(TEST_BOUND, tls.read_to_end(&mut sink))
        .await
        .expect("closed in time")
        .ok();
    assert!(sink.is_empty(), "nothing was sent to a silent client");
    metric_reaches(proxy.admin, &timed_out("header"), 1.0).await;
    proxy.stop().await;
}

#[tokio::test]
async fn stalled_and_trickled_bodies_get_408_and_the_shadowed_ones_their_lines() {
    let (proxy, [upstream, _socure]) = proxy_with(Options {
        listen_extra: "request_body_timeout_seconds = 1\nrequest_body_min_bytes_per_second = 1000"
            .into(),
        ..Options::default()
    })
    .await;
    let whole = instant_verify_request();
    let head_end = head_end(&whole);

    // Stalled: the head and part of the body, then nothing.
    let mut stalled = RawClient::connect(proxy.addr).await;
    stalled.write(&whole[..head_end + 100]).await;
    // Trickled: a byte every 100 ms, far under 1,000 a second. The pacing
    // is the client's behaviour under test, not a synchronisation.
    let mut trickled = TcpStream::connect(proxy.addr).await.expect("connect");
    trickled.write_all(&whole[..head_end]).await.expect("head");
    let body = whole[head_end..].to_vec();
    let trickle = tokio::spawn(async move {
        let mut answer = Vec::new();
        for byte in body {
            if trickled.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
                read = trickled.read_to_end(&mut answer) => { read.ok(); return answer; }
            }
        }
        trickled.read_to_end(&mut answer).await.ok();
        answer
    });
    // A passthrough request stalled the same way: its body streams to the
    // upstream, and the pace still applies.
    let mut passthrough = RawClient::connect(proxy.addr).await;
    passthrough
        .write(b"POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly a part")
        .await;

    assert_eq!(
        stalled
            .receive(TEST_BOUND)
            .await
            .expect("an answer")
            .status(),
        408
    );
    assert_eq!(
        passthrough
            .receive(TEST_BOUND)
            .await
            .expect("an answer")
            .status(),
        408
    );
    let trickled_answer = tokio::time::timeout(TEST_BOUND, trickle)
        .await
        .expect("trickle ended")
        .expect("joined");
    assert!(
        trickled_answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&trickled_answer)
    );
    assert!(
        upstream
            .requests()
            .iter()
            .all(|r| !r.start_line.contains("conversation")),
        "no stalled InstantVerify request reached LexisNexis"
    );
    let (lines, metrics) = proxy.finish_with_metrics().await;
    assert_eq!(lines.len(), 2, "one line per shadowed request");
    for line in &lines {
        let e = event(line);
        assert_eq!(e["resolution_outcome"], "request_unreadable");
        assert_eq!(e["socure_outcome"], "not_sent");
    }
    assert_eq!(metric(&metrics, &timed_out("request_body")), 3.0);
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_by_the_write_timeout() {
    // Far more than the socket buffers of both ends can take.
    let big = vec![b'x'; 64 * 1024 * 1024];
    let upstream = FakeVendor::always(response("200 OK", &[], &big)).await;
    let proxy = TestProxy::start(
        upstream.addr,
        upstream.addr,
        Options {
            enabled: false,
            listen_extra: "write_timeout_seconds = 1".into(),
            ..Options::default()
        },
    )
    .await;
    let mut client = TcpStream::connect(proxy.addr).await.expect("connect");
    client
        .write_all(&request("GET", "/big", &[], b""))
        .await
        .expect("request");
    metric_reaches(proxy.admin, &timed_out("write"), 1.0).await;
    let mut got = Vec::new();
    tokio::time::timeout(TEST_BOUND, client.read_to_end(&mut got))
        .await
        .expect("closed in time")
        .ok();
    assert!(
        got.len() < big.len(),
        "the connection was cut before the whole answer ({} bytes)",
        got.len()
    );
    proxy.stop().await;
}

#[tokio::test]
async fn the_mirror_never_holds_more_bytes_than_its_budget() {
    let whole = instant_verify_request();
    let declared = parse(&whole).body.len();
    // Room for two declared bodies, not three.
    let budget = declared * 2 + declared / 2;
    let (proxy, _fakes) = proxy_with_budget(budget, 2).await;
    let head_end = head_end(&whole);
    // Five requests hold their bodies open: two are admitted (each reserves
    // its declared length), three are shed and stream through unmirrored.
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut client = RawClient::connect(proxy.addr).await;
        client.write(&whole[..head_end + 10]).await;
        held.push(client);
    }
    let text = metric_reaches(proxy.admin, "socure_shadow_proxy_mirrors_shed_total", 3.0).await;
    assert_eq!(
        metric(&text, "socure_shadow_proxy_mirror_buffered_bytes"),
        (declared * 2) as f64
    );
    assert!(metric(&text, "socure_shadow_proxy_mirror_buffered_bytes_peak") <= budget as f64);
    assert_eq!(
        metric(&text, "socure_shadow_proxy_mirror_buffered_bytes_max"),
        budget as f64
    );
    // Every client is answered (408: their bodies never came), none refused
    // for the budget.
    for client in &mut held {
        assert_eq!(
            client.receive(TEST_BOUND).await.expect("answered").status(),
            408
        );
    }
    let (lines, metrics) = proxy.finish_with_metrics().await;
    let (summaries, lines): (Vec<_>, Vec<_>) = lines
        .into_iter()
        .partition(|line| line["name"] == "idv_socure_shadow_mode_shed");
    assert_eq!(lines.len(), 2, "the two admitted requests' lines");
    let shed: u64 = summaries
        .iter()
        .map(|s| {
            let e = event(s);
            assert!(
                e["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("max_buffered_bytes")),
                "{e}"
            );
            e["shed_count"].as_u64().expect("a count")
        })
        .sum();
    assert_eq!(shed, 3);
    assert_eq!(
        metric(&metrics, "socure_shadow_proxy_mirror_buffered_bytes"),
        0.0,
        "every reservation given back"
    );
}

#[tokio::test]
async fn a_socure_answer_is_read_within_the_mirrors_budget() {
    // A 200 KiB answer (under Socure's own 256 KiB limit) against a budget
    // with room for the request body and 64 KiB more.
    let declared = parse(&instant_verify_request()).body.len();
    let budget = declared + 64 * 1024;
    let mut large =
        serde_json::from_slice::<serde_json::Value>(&fixture("socure/kyc_all_verified.json"))
            .expect("the fixture is JSON");
    large["padding"] = serde_json::Value::String("x".repeat(200 * 1024));
    let upstream = FakeVendor::always(ok_upstream_answer()).await;
    let socure = socure_answering(json_ok(large.to_string().as_bytes())).await;
    let proxy = TestProxy::start(
        upstream.addr,
        socure.addr,
        Options {
            shadow_extra: format!("max_buffered_bytes = {budget}"),
            ..Options::default()
        },
    )
    .await;
    let answer = send(proxy.addr, &instant_verify_request()).await;
    assert_eq!(answer.status(), 200, "the client never notices");
    let (lines, metrics) = proxy.finish_with_metrics().await;
    assert_eq!(lines.len(), 1);
    let e = event(&lines[0]);
    assert_eq!(e["socure_outcome"], "failed");
    assert_eq!(
        e["socure_result"]["exception"],
        "Response body not read: the mirror's byte budget (shadow.max_buffered_bytes) was held"
    );
    assert!(metric(&metrics, "socure_shadow_proxy_mirror_buffered_bytes_peak") <= budget as f64);
    assert_eq!(
        metric(&metrics, "socure_shadow_proxy_mirror_buffered_bytes"),
        0.0,
        "the answer's reservation given back"
    );
    assert_eq!(socure.requests().len(), 1);
}

/// One HTTP/2 HEADERS frame opening stream `id` with a POST to `path`
/// (HPACK literals without indexing), not ending the stream.
fn http2_headers(id: u32, path: &str) -> Vec<u8> {
    http2_request(
        id,
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "idv-vendor.test"),
            ("content-type", "application/json"),
        ],
        false,
    )
}

/// HEADERS opening stream `id` with `fields` (HPACK literals without
/// indexing), ending the stream when `end` (a request without a body).
fn http2_request(id: u32, fields: &[(&str, &str)], end: bool) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0x00);
        block.push(u8::try_from(name.len()).expect("short"));
        block.extend_from_slice(name.as_bytes());
        block.push(u8::try_from(value.len()).expect("short"));
        block.extend_from_slice(value.as_bytes());
    }
    let mut frame = Vec::new();
    frame.extend_from_slice(&u32::try_from(block.len()).expect("small").to_be_bytes()[1..]);
    frame.push(0x1); // HEADERS
    frame.push(if end { 0x4 | 0x1 } else { 0x4 }); // END_HEADERS, END_STREAM
    frame.extend_from_slice(&id.to_be_bytes());
    frame.extend_from_slice(&block);
    frame
}

/// RST_STREAM for stream `id` with error `code` (0 is NO_ERROR, which
/// hyper reads as the body's clean end).
fn http2_reset_with(id: u32, code: u32) -> Vec<u8> {
    let mut frame = vec![0, 0, 4, 0x3, 0];
    frame.extend_from_slice(&id.to_be_bytes());
    frame.extend_from_slice(&code.to_be_bytes());
    frame
}

/// RST_STREAM error codes.
const NO_ERROR: u32 = 0x0;
const CANCEL: u32 = 0x8;

/// Opens streams `ids` (POSTs to the InstantVerify path, bodies never
/// sent), resets each with `code` once the proxy has taken them all in (a
/// reset that comes first never reaches it), and returns once each has its
/// line or its count, so the next round's wait counts only its own streams.
async fn reset_once_taken_in(proxy: &TestProxy, stream: &mut TcpStream, ids: &[u32], code: u32) {
    let headers: Vec<u8> = ids
        .iter()
        .flat_map(|&id| http2_headers(id, IV_PATH))
        .collect();
    stream.write_all(&headers).await.expect("headers");
    metric_reaches(
        proxy.admin,
        "socure_shadow_proxy_mirrors_pending",
        ids.len() as f64,
    )
    .await;
    let resets: Vec<u8> = ids
        .iter()
        .flat_map(|&id| http2_reset_with(id, code))
        .collect();
    stream.write_all(&resets).await.expect("resets");
    metric_until(proxy.admin, "socure_shadow_proxy_mirrors_pending", |held| {
        held == 0.0
    })
    .await;
}

#[tokio::test]
async fn an_http2_rapid_reset_writes_a_bounded_number_of_lines_and_counts_the_rest() {
    // Rounds of as many streams as one connection may open: each round's
    // streams are reset once the proxy has taken them in (their requests
    // wait for bodies that never come). Resets that arrive before a stream
    // is taken in never reach the proxy (hyper's own guard counts those).
    const ROUND: u32 = 100;
    const ROUNDS: u32 = 50;
    let (proxy, [upstream, _socure]) = proxy_with(Options {
        listen_extra: "http2_max_concurrent_streams = 100".into(),
        ..Options::default()
    })
    .await;
    let started = Instant::now();
    let mut stream = TcpStream::connect(proxy.addr).await.expect("connect");
    let mut opening = Vec::from(HTTP2_PREFACE);
    opening.extend_from_slice(HTTP2_SETTINGS);
    stream.write_all(&opening).await.expect("preface");
    let mut next_id = 1u32;
    for _ in 0..ROUNDS {
        let ids: Vec<u32> = (0..ROUND).map(|n| next_id + 2 * n).collect();
        next_id += 2 * ROUND;
        reset_once_taken_in(&proxy, &mut stream, &ids, CANCEL).await;
    }
    // Closed, so shutdown need not wait out its drain period for it.
    drop(stream);
    let (lines, metrics) = proxy.finish_with_metrics().await;
    let took = started.elapsed().as_secs() + 1;
    let (summaries, lines): (Vec<_>, Vec<_>) = lines
        .into_iter()
        .partition(|line| line["name"] == "idv_socure_shadow_mode_shed");
    let aggregated = metric(
        &metrics,
        "socure_shadow_proxy_shadow_lines_aggregated_total",
    );
    let admitted = lines.len() as f64 + aggregated;
    assert!(
        admitted >= f64::from(ROUND * ROUNDS) * 0.9 && admitted <= f64::from(ROUND * ROUNDS),
        "most streams were taken in, each counted once: {admitted}"
    );
    assert!(
        lines.len() as u64 <= 20 * (took + 1),
        "{} lines in about {took} s",
        lines.len()
    );
    for line in &lines {
        // The reset reaches the request as a broken body, or as its end.
        let outcome = &event(line)["resolution_outcome"];
        assert!(
            outcome == "request_unreadable" || outcome == "client_gone",
            "{outcome}"
        );
    }
    let summarised: u64 = summaries
        .iter()
        .map(|s| event(s)["shed_count"].as_u64().expect("a count"))
        .sum();
    assert_eq!(
        summarised as f64, aggregated,
        "the summary lines hold the exact count"
    );
    assert_eq!(
        metric(&metrics, "socure_shadow_proxy_mirrors_started_total"),
        lines.len() as f64 + aggregated,
        "every request taken in has its line or its count"
    );
    assert!(upstream.requests().is_empty(), "nothing reached LexisNexis");
}

#[tokio::test]
async fn over_http2_held_bodies_stay_within_the_budget_too() {
    const STREAMS: u32 = 10;
    // No Content-Length: each admitted stream reserves all of
    // shadow.max_body_bytes (64 KiB by default). Room for three.
    const MAX_BODY: usize = 64 * 1024;
    let budget = 3 * MAX_BODY + MAX_BODY / 2;
    let (proxy, _fakes) = proxy_with_budget(budget, 1).await;
    let mut stream = TcpStream::connect(proxy.addr).await.expect("connect");
    let mut opening = Vec::from(HTTP2_PREFACE);
    opening.extend_from_slice(HTTP2_SETTINGS);
    for n in 0..STREAMS {
        opening.extend_from_slice(&http2_headers(2 * n + 1, IV_PATH));
    }
    stream.write_all(&opening).await.expect("streams opened");
    let text = metric_reaches(
        proxy.admin,
        "socure_shadow_proxy_mirrors_shed_total",
        f64::from(STREAMS - 3),
    )
    .await;
    assert_eq!(
        metric(&text, "socure_shadow_proxy_mirror_buffered_bytes"),
        (3 * MAX_BODY) as f64
    );
    assert!(metric(&text, "socure_shadow_proxy_mirror_buffered_bytes_peak") <= budget as f64);
    // The bodies never come: every stream ends at the body timeout.
    metric_reaches(proxy.admin, &timed_out("request_body"), f64::from(STREAMS)).await;
    drop(stream);
    let (lines, metrics) = proxy.finish_with_metrics().await;
    let proofing: Vec<_> = lines
        .iter()
        .filter(|line| line["name"] != "idv_socure_shadow_mode_shed")
        .collect();
    assert_eq!(proofing.len(), 3, "the three admitted streams' lines");
    assert_eq!(
        metric(&metrics, "socure_shadow_proxy_mirror_buffered_bytes"),
        0.0
    );
}

#[tokio::test]
async fn a_rapid_reset_across_reconnects_shares_one_line_budget() {
    // Each connection opens streams and resets each at once, then the next
    // connection does the same: the lines' rate is the process's, not a
    // connection's.
    const CONNECTIONS: u32 = 60;
    const STREAMS: u32 = 50;
    let (proxy, [upstream, _socure]) = proxy_with(Options {
        listen_extra: "http2_max_concurrent_streams = 50".into(),
        ..Options::default()
    })
    .await;
    let started = Instant::now();
    for _ in 0..CONNECTIONS {
        let mut stream = TcpStream::connect(proxy.addr).await.expect("connect");
        let mut opening = Vec::from(HTTP2_PREFACE);
        opening.extend_from_slice(HTTP2_SETTINGS);
        stream.write_all(&opening).await.expect("preface");
        let ids: Vec<u32> = (0..STREAMS).map(|n| 2 * n + 1).collect();
        reset_once_taken_in(&proxy, &mut stream, &ids, NO_ERROR).await;
    }
    let (lines, metrics) = proxy.finish_with_metrics().await;
    let took = started.elapsed().as_secs() + 1;
    let proofing: Vec<_> = lines
        .iter()
        .filter(|line| line["name"] != "idv_socure_shadow_mode_shed")
        .collect();
    let aggregated = metric(
        &metrics,
        "socure_shadow_proxy_shadow_lines_aggregated_total",
    );
    let (summaries, _): (Vec<_>, Vec<_>) = lines
        .iter()
        .partition(|line| line["name"] == "idv_socure_shadow_mode_shed");
    assert!(
        proofing.len() as u64 <= 20 * (took + 1),
        "{} lines in about {took} s",
        proofing.len()
    );
    for line in &proofing {
        // A NO_ERROR reset is, to hyper, the body's clean end: the mirror
        // starts, and the request's future is dropped as the client is gone.
        assert_eq!(event(line)["resolution_outcome"], "client_gone");
        assert_eq!(event(line)["socure_outcome"], "not_sent");
    }
    assert_eq!(
        proofing.len() as f64 + aggregated,
        f64::from(CONNECTIONS * STREAMS),
        "every stream taken in has its line or its count"
    );
    let summarised: u64 = summaries
        .iter()
        .map(|s| event(s)["shed_count"].as_u64().expect("a count"))
        .sum();
    assert_eq!(
        summarised as f64, aggregated,
        "the summary lines hold the count"
    );
    assert!(upstream.requests().is_empty(), "nothing reached LexisNexis");
}

/// HEADERS for a GET of `path` on stream `id`, ending the stream.
fn http2_get(id: u32, path: &str) -> Vec<u8> {
    http2_request(
        id,
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "idv-vendor.test"),
        ],
        true,
    )
}

#[tokio::test]
async fn an_http2_client_that_never_opens_its_windows_holds_eight_upstream_connections_until_the_write_timeout()
 {
    const STREAMS: u32 = 20;
    let (proxy, [upstream, _socure]) = proxy_with(Options {
        listen_extra: "write_timeout_seconds = 1\nhttp2_max_concurrent_streams = 20".into(),
        ..Options::default()
    })
    .await;
    let mut stream = TcpStream::connect(proxy.addr).await.expect("connect");
    let mut opening = Vec::from(HTTP2_PREFACE);
    // SETTINGS_INITIAL_WINDOW_SIZE = 0: no answer byte may be sent, and no
    // WINDOW_UPDATE ever comes. The server's SETTINGS is acknowledged.
    opening.extend_from_slice(&[0, 0, 6, 0x4, 0, 0, 0, 0, 0, 0, 0x4, 0, 0, 0, 0]);
    opening.extend_from_slice(&[0, 0, 0, 0x4, 0x1, 0, 0, 0, 0]);
    for n in 0..STREAMS {
        opening.extend_from_slice(&http2_get(2 * n + 1, "/passthrough"));
    }
    stream.write_all(&opening).await.expect("streams opened");
    // Eight answers wait on the client with their upstream connections;
    // the other streams wait for one of those eight places.
    upstream.wait_for_requests(8).await;
    let text = metric_reaches(proxy.admin, "socure_shadow_proxy_upstream_in_flight", 8.0).await;
    assert_eq!(
        metric(&text, "socure_shadow_proxy_upstream_in_flight"),
        8.0,
        "the connection's share, and no more"
    );
    // No answer moves for the write timeout: the connection is closed...
    metric_reaches(proxy.admin, &timed_out("write"), 1.0).await;
    closed_by_proxy(&mut stream).await;
    // ... and every upstream connection it held is released.
    metric_until(
        proxy.admin,
        "socure_shadow_proxy_upstream_in_flight",
        |held| held == 0.0,
    )
    .await;
    let answer = send(proxy.addr, &request("GET", "/after", &[], b"")).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        upstream.requests().len(),
        9,
        "the waiting streams never went"
    );
}

#[tokio::test]
async fn a_flood_of_connections_past_the_limit_never_starves_the_admin_port() {
    const LIMIT: u64 = 4;
    let (proxy, [upstream, _socure]) = proxy_with(Options {
        max_connections: LIMIT,
        ..Options::default()
    })
    .await;
    // Ten times the silent connections the data port serves: the extra ones
    // wait in the kernel's backlog, holding none of the proxy's descriptors.
    let mut flood = Vec::new();
    for _ in 0..10 * LIMIT {
        flood.push(TcpStream::connect(proxy.addr).await.expect("connect"));
    }
    assert_eq!(admin_get(proxy.admin, "/healthz").await.0, 200);
    assert_eq!(admin_get(proxy.admin, "/readyz").await.0, 200);
    let (status, text) = admin_get(proxy.admin, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(metric(&text, "socure_shadow_proxy_upstream_in_flight"), 0.0);
    drop(flood);
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn connections_over_the_limit_wait_until_one_closes() {
    let upstream = FakeVendor::always(json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    )))
    .await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let options = Options {
        max_connections: 2,
        ..Options::default()
    };
    let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;

    let mut first = RawClient::connect(proxy.addr).await;
    assert_eq!(first.send(&instant_verify_request()).await.status(), 200);
    let mut second = RawClient::connect(proxy.addr).await;
    assert_eq!(second.send(&instant_verify_request()).await.status(), 200);

    // The kernel completes the third handshake, but the proxy does not take it.
    let mut third = RawClient::connect(proxy.addr).await;
    third.write(&instant_verify_request()).await;
    assert!(
        third.receive(Duration::from_millis(300)).await.is_none(),
        "not served while two connections are open"
    );
    assert_eq!(upstream.requests().len(), 2);

    drop(first);
    let answer = third
        .receive(TEST_BOUND)
        .await
        .expect("served once a connection closed");
    assert_eq!(answer.status(), 200);
    drop(second);
    assert_eq!(proxy.finish().await.len(), 3);
}

#[tokio::test]
async fn a_keep_alive_client_silent_or_stalled_in_its_next_head_is_closed_at_the_idle_timeout() {
    let idle = Duration::from_secs(1);
    // The first head's own timeout is far longer: only the idle one can
    // close these connections in time.
    let (proxy, [upstream, _socure]) = proxy_with(Options {
        listen_extra: "idle_timeout_seconds = 1\nheader_timeout_seconds = 30".into(),
        ..Options::default()
    })
    .await;
    let mut silent = RawClient::connect(proxy.addr).await;
    let mut stalled = RawClient::connect(proxy.addr).await;
    for client in [&mut silent, &mut stalled] {
        assert_eq!(client.send(&instant_verify_request()).await.status(), 200);
    }
    let answered = Instant::now();
    // Half a head, never finished.
    stalled.write(b"GET /next HTTP/1.1\r\nHo").await;
    for client in [&mut silent, &mut stalled] {
        let rest = client.read_to_close().await;
        assert!(rest.is_empty(), "closed without an answer");
    }
    let took = answered.elapsed();
    assert!(
        took >= idle - Duration::from_millis(100) && took < idle * 3,
        "closed at the idle timeout, not before nor at another: {took:?}"
    );
    assert_eq!(upstream.requests().len(), 2, "the half head went nowhere");
    proxy.finish().await;
}
