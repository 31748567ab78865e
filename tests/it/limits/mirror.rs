//! The mirror's own bounds. Overload: with the mirror starved, requests past `max_pending` are shed at the door. Every request is still answered with the upstream's bytes, the mirror never holds more than its bound, and lines plus shed counts equal requests exactly, also when SIGTERM comes right after the burst.
//!
//! Past `max_in_flight` a call waits up to `queue_timeout_seconds` for a
//! place and is made when one comes free, or else dropped (the request is
//! still answered at once, its line says so); at shutdown mirrors still
//! running after the grace period are cut short, and calls still waiting are
//! dropped without being made, each still writing its line. A body over
//! `shadow.max_body_bytes` is forwarded whole and not mirrored.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::support::*;

/// Sends `total` InstantVerify requests over `connections` keep-alive
/// connections at once; every answer must be the upstream's, byte for byte.
async fn burst(addr: std::net::SocketAddr, connections: usize, total: usize, expected: &[u8]) {
    let per_connection = total / connections;
    assert_eq!(per_connection * connections, total);
    let clients: Vec<_> = (0..connections)
        .map(|_| {
            tokio::spawn(async move {
                let mut client = RawClient::connect(addr).await;
                let mut bodies = Vec::with_capacity(per_connection);
                for _ in 0..per_connection {
                    let answer = client.send(&instant_verify_request()).await;
                    assert_eq!(answer.status(), 200);
                    bodies.push(answer.body);
                }
                bodies
            })
        })
        .collect();
    let mut answered = 0;
    for client in clients {
        for body in client.await.expect("client task") {
            assert_eq!(body, expected, "the upstream's answer, unchanged");
            answered += 1;
        }
    }
    assert_eq!(answered, total);
}

/// (proofing lines, the shed count summed over the summary lines).
fn lines_and_shed(lines: &[Value]) -> (usize, u64) {
    let mut proofing = 0;
    let mut shed = 0;
    for line in lines {
        match line["name"].as_str() {
            Some("idv_socure_shadow_mode_proofing_result") => proofing += 1,
            Some("idv_socure_shadow_mode_shed") => {
                let event = event(line);
                let count = event["shed_count"].as_u64().expect("a shed count");
                assert!(count > 0, "a summary only when something was shed");
                assert!(event["from"].as_str() <= event["until"].as_str(), "{line}");
                assert!(
                    event["reason"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("shadow.max_pending (")),
                    "{line}"
                );
                shed += count;
            }
            other => panic!("unexpected line {other:?}"),
        }
    }
    (proofing, shed)
}

fn upstream_answer() -> Vec<u8> {
    json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    ))
}

#[tokio::test]
async fn a_full_mirror_sheds_every_further_request_and_counts_each_once() {
    let upstream = FakeVendor::always(upstream_answer()).await;
    let socure = FakeVendor::start(|_| Reply::Hang).await;
    const HELD: usize = 4;
    let options = Options {
        max_in_flight: HELD as u64,
        max_pending: HELD as u64,
        socure_timeout_seconds: 60.0,
        shutdown_grace_seconds: 0.2,
        ..Options::default()
    };
    let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;
    let expected = parse(&upstream_answer()).body;
    // Fill the mirror: these hold every slot until shutdown cuts them short.
    burst(proxy.addr, HELD, HELD, &expected).await;
    socure.wait_for_requests(HELD).await;

    const BURST: usize = 400;
    burst(proxy.addr, 16, BURST, &expected).await;
    let (_, metrics) = admin_get(proxy.admin, "/metrics").await;
    let gauge = |name: &str| metric(&metrics, &format!("socure_shadow_proxy_{name}"));
    assert_eq!(gauge("mirrors_pending"), HELD as f64);
    assert_eq!(
        gauge("mirrors_pending_peak"),
        HELD as f64,
        "never past the bound"
    );
    assert_eq!(gauge("mirrors_pending_max"), HELD as f64);
    assert_eq!(gauge("mirrors_shed_total"), BURST as f64);
    assert_eq!(
        gauge("requests_forwarded_total{route=\"shed\",status_class=\"2xx\"}"),
        BURST as f64
    );

    let lines = proxy.finish().await;
    let (proofing, shed) = lines_and_shed(&lines);
    assert_eq!(proofing, HELD, "the held requests' lines");
    assert_eq!(shed, BURST as u64, "every shed request counted once");
    assert_eq!(socure.requests().len(), HELD, "shed requests cost no call");
    assert_eq!(upstream.requests().len(), HELD + BURST, "all forwarded");
}

#[tokio::test]
async fn a_churning_mirror_stays_under_its_bound_and_lines_plus_shed_equal_requests() {
    let upstream = FakeVendor::always(upstream_answer()).await;
    // Two calls hang for good; the rest are dropped for capacity, so slots
    // keep being taken and given back while the burst runs.
    let socure = FakeVendor::start(|_| Reply::Hang).await;
    const MAX_PENDING: usize = 8;
    let options = Options {
        max_in_flight: 2,
        max_pending: MAX_PENDING as u64,
        socure_timeout_seconds: 60.0,
        shutdown_grace_seconds: 0.2,
        ..Options::default()
    };
    let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;
    const BURST: usize = 600;
    burst(proxy.addr, 24, BURST, &parse(&upstream_answer()).body).await;
    let (_, metrics) = admin_get(proxy.admin, "/metrics").await;
    let peak = metric(&metrics, "socure_shadow_proxy_mirrors_pending_peak");
    assert!(
        peak <= MAX_PENDING as f64 && peak >= 2.0,
        "peak {peak} within 2..={MAX_PENDING}"
    );

    let lines = proxy.finish().await;
    let (proofing, shed) = lines_and_shed(&lines);
    assert_eq!(proofing as u64 + shed, BURST as u64, "{proofing} + {shed}");
    assert!(socure.requests().len() <= 2);
}

/// Resident memory of a process, from /proc.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_a_burst_accounts_for_every_request_and_exits_0() {
    let upstream = FakeVendor::always(upstream_answer()).await;
    let socure = FakeVendor::start(|_| Reply::Hang).await;
    let options = Options {
        max_in_flight: 4,
        max_pending: 16,
        socure_timeout_seconds: 60.0,
        shutdown_grace_seconds: 1.0,
        ..Options::default()
    };
    let proxy = ProxyProcess::start(upstream.addr, socure.addr, &options, &[]);
    let expected = parse(&upstream_answer()).body;
    // Warm up the pools and buffers, then take the idle figure.
    burst(proxy.addr, 4, 16, &expected).await;
    let idle = rss_kib(proxy.pid);

    const BURST: usize = 1_920;
    burst(proxy.addr, 32, BURST, &expected).await;
    let after = rss_kib(proxy.pid);
    eprintln!("RSS: {idle} KiB idle, {after} KiB after a burst of {BURST}");
    // A shed request holds nothing: memory does not follow the burst.
    assert!(
        after < idle + 16 * 1024,
        "RSS {idle} KiB idle, {after} KiB after {BURST} requests"
    );

    let signalled = Instant::now();
    proxy.signal(Signal::SIGTERM);
    let status = tokio::task::block_in_place(|| proxy.wait_exit(TEST_BOUND)).expect("exited");
    let took = signalled.elapsed();
    assert!(status.success(), "exit 0, was {status:?}");
    assert!(
        took < Duration::from_secs(1) + Duration::from_secs(3),
        "grace (1 s) plus a margin: {took:?}"
    );
    let (proofing, shed) = lines_and_shed(&proxy.log_lines());
    assert_eq!(
        proofing as u64 + shed,
        (16 + BURST) as u64,
        "{proofing} lines + {shed} shed"
    );
    assert!(shed > 0, "the mirror was full, so some were shed");
}

#[tokio::test]
async fn mirror_over_the_cap_is_dropped_and_shutdown_cuts_the_rest_short() {
    let raw_answer = json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    ));
    let upstream = FakeVendor::always(raw_answer.clone()).await;
    let socure = FakeVendor::start(|_| Reply::Hang).await;
    let options = Options {
        max_in_flight: 2,
        socure_timeout_seconds: 60.0,
        shutdown_grace_seconds: 0.2,
        ..Options::default()
    };
    let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;

    for _ in 0..2 {
        let answer = send(proxy.addr, &instant_verify_request()).await;
        assert_eq!(answer.body, parse(&raw_answer).body);
    }
    // Both permits are now held by calls Socure will never answer.
    socure.wait_for_requests(2).await;
    let answer = send(proxy.addr, &instant_verify_request()).await;
    assert_eq!(
        answer.status(),
        200,
        "over the cap, still forwarded at once"
    );
    assert_eq!(answer.body, parse(&raw_answer).body);

    let started = Instant::now();
    let lines = proxy.finish().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown is bounded by the grace period, not the 60 s Socure timeout"
    );
    assert_eq!(
        socure.requests().len(),
        2,
        "the dropped mirror made no call"
    );
    assert_eq!(lines.len(), 3, "one line each");
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|l| event(l)["socure_outcome"].as_str().expect("outcome"))
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "shutdown").count(),
        2,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == "dropped").count(),
        1,
        "{outcomes:?}"
    );
    for line in &lines {
        let e = event(line);
        assert_eq!(
            e["resolution_outcome"], "answered",
            "the LexisNexis side was in"
        );
        assert_eq!(resolution(e)["success"], true);
        match e["socure_outcome"].as_str() {
            Some("dropped") => {
                assert!(e["socure_result"].is_null());
                assert_eq!(
                    e["socure_not_sent_reason"],
                    "shadow.max_in_flight (2) Socure calls already in flight"
                );
            }
            _ => assert_eq!(
                e["socure_result"]["exception"],
                "Proxy shut down before Socure answered"
            ),
        }
    }
}

/// Socure hangs on its first call and answers every later one at once.
async fn socure_hanging_on_the_first_call() -> FakeVendor {
    let calls = std::sync::atomic::AtomicUsize::new(0);
    FakeVendor::start(move |_| {
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Reply::Hang
        } else {
            Reply::Now(json_ok(&fixture("socure/kyc_all_verified.json")))
        }
    })
    .await
}

/// The `socure_outcome` of each line, sorted.
fn outcomes(lines: &[Value]) -> Vec<String> {
    let mut outcomes: Vec<String> = lines
        .iter()
        .map(|l| {
            event(l)["socure_outcome"]
                .as_str()
                .expect("outcome")
                .to_owned()
        })
        .collect();
    outcomes.sort();
    outcomes
}

/// A proxy with `options` and one place among the calls in flight
/// (`max_in_flight = 1`), taken: one request answered and its call at
/// `socure`. Returns the upstream (kept alive), the proxy and the upstream's
/// answer body, which every request must get unchanged.
async fn the_one_place_taken(
    socure: &FakeVendor,
    options: Options,
) -> (FakeVendor, TestProxy, Vec<u8>) {
    let raw_answer = upstream_answer();
    let upstream = FakeVendor::always(raw_answer.clone()).await;
    let options = Options {
        max_in_flight: 1,
        ..options
    };
    let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;
    let expected = parse(&raw_answer).body;
    let answer = send(proxy.addr, &instant_verify_request()).await;
    assert_eq!(answer.body, expected);
    socure.wait_for_requests(1).await;
    (upstream, proxy, expected)
}

#[tokio::test]
async fn a_call_past_max_in_flight_waits_for_a_place_and_is_made_when_one_ends() {
    let socure = socure_hanging_on_the_first_call().await;
    let options = Options {
        // The hung call ends at its timeout and gives its place back.
        socure_timeout_seconds: 2.0,
        shadow_extra: "queue_timeout_seconds = 30\n".into(),
        ..Options::default()
    };
    let (_upstream, proxy, expected) = the_one_place_taken(&socure, options).await;
    // This request's call waits for the place, but the request itself is
    // answered without waiting.
    let answer = send(proxy.addr, &instant_verify_request()).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.body, expected);
    // Made once the first call timed out.
    socure.wait_for_requests(2).await;
    let (_, metrics) = admin_get(proxy.admin, "/metrics").await;
    let counter = |name: &str| metric(&metrics, &format!("socure_shadow_proxy_{name}"));
    assert_eq!(
        counter("mirrors_queued_total"),
        1.0,
        "the second call waited"
    );
    assert_eq!(
        counter("mirrors_not_sent_total{reason=\"max_in_flight\"}"),
        0.0,
        "and got its place"
    );

    let lines = proxy.finish().await;
    assert_eq!(outcomes(&lines), ["answered", "timed_out"]);
    assert_eq!(socure.requests().len(), 2);
}

#[tokio::test]
async fn calls_still_waiting_for_a_place_at_shutdown_are_dropped_without_being_made() {
    let socure = FakeVendor::start(|_| Reply::Hang).await;
    let options = Options {
        socure_timeout_seconds: 60.0,
        shutdown_grace_seconds: 0.2,
        shadow_extra: "queue_timeout_seconds = 60\n".into(),
        ..Options::default()
    };
    let (_upstream, proxy, expected) = the_one_place_taken(&socure, options).await;
    for _ in 0..3 {
        let answer = send(proxy.addr, &instant_verify_request()).await;
        assert_eq!(answer.body, expected);
    }

    let started = Instant::now();
    let lines = proxy.finish().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown is bounded by the grace period, not the 60 s queue timeout"
    );
    // The call cut short gives its place back; no waiting call takes it.
    assert_eq!(socure.requests().len(), 1, "no call started at shutdown");
    assert_eq!(
        outcomes(&lines),
        ["dropped", "dropped", "dropped", "shutdown"]
    );
    for line in lines
        .iter()
        .filter(|l| event(l)["socure_outcome"] == "dropped")
    {
        assert_eq!(
            event(line)["socure_not_sent_reason"],
            "shadow.max_in_flight (1) Socure calls already in flight"
        );
        assert_eq!(
            resolution(event(line))["success"],
            true,
            "the LexisNexis side was in"
        );
    }
}

#[tokio::test]
async fn five_mib_body_on_the_shadow_path_is_forwarded_whole_but_not_mirrored() {
    let Stack {
        upstream,
        socure,
        proxy,
    } = Stack::passing().await;
    let mut body = fixture("lexis_nexis/instant_verify/request.json");
    body.resize(5 * 1024 * 1024, b' ');
    let answer = send(proxy.addr, &iv_post(&body)).await;
    assert_eq!(answer.status(), 200);

    let received = upstream.requests();
    assert_eq!(received.len(), 1);
    assert!(received[0].body == body, "5 MiB forwarded byte for byte");
    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 1);
    let e = event(&lines[0]);
    assert_eq!(e["socure_outcome"], "not_sent");
    assert_eq!(
        e["socure_not_sent_reason"],
        "request body larger than shadow.max_body_bytes"
    );
    assert_eq!(e["resolution_outcome"], "answered");
    assert!(socure.requests().is_empty());
}
