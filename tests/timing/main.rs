//! The user's request never waits for Socure: on one keep-alive connection,
//! with Socure answering after 2 s, each answer comes back while the mirror
//! of the one before it is still waiting.
//!
//! nginx's `mirror` fails exactly this: it holds the next request on a
//! connection until the previous request's mirror subrequest is done.
//!
//! A test binary of its own, apart from `tests/it`: it compares latencies,
//! so it must not share the CPU with the other tests (cargo runs test
//! binaries one after another), nor its two tests with each other: each
//! holds [`ONE_AT_A_TIME`] throughout.

// The support of tests/it, where every item is used (that binary checks it
// for dead code); this one uses a few: the fake vendors, `TestProxy`,
// `RawClient` and the fixture helpers.
#[allow(dead_code, unused_imports)]
#[path = "../it/support/mod.rs"]
mod support;

use std::time::Duration;

use crate::support::*;

/// Held by each test for its whole run, so the two never share the CPU
/// although the harness starts them on threads of their own. An async
/// mutex: it is held across awaits, and each test has its own runtime.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn second_request_on_a_connection_does_not_wait_for_the_first_mirror() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let raw_answer = json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    ));
    let upstream = FakeVendor::always(raw_answer.clone()).await;
    let socure = FakeVendor::start(|_| {
        Reply::After(
            Duration::from_secs(2),
            json_ok(&fixture("socure/kyc_all_verified.json")),
        )
    })
    .await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    let mut client = RawClient::connect(proxy.addr).await;
    for n in 1..=2 {
        let answer = client.send(&instant_verify_request()).await;
        assert_eq!(answer.status(), 200, "request {n}");
        assert_eq!(answer.body, parse(&raw_answer).body, "request {n}");
        // The deterministic check: Socure has not answered any mirror yet,
        // so no client answer can have waited for one.
        assert_eq!(
            socure.answered(),
            0,
            "request {n} was answered before any Socure answer"
        );
    }
    assert_eq!(upstream.requests().len(), 2);

    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 2, "both mirrors completed and were paired");
    assert_eq!(socure.answered(), 2);
    for line in &lines {
        let e = event(line);
        assert_eq!(e["socure_outcome"], "answered");
        assert_eq!(e["socure_result"]["success"], true);
        assert!(
            e["socure_elapsed_ms"].as_u64().expect("ms") >= 2000,
            "Socure took its 2 s"
        );
    }
}

/// The `q` quantile of `samples` (sorted in place).
fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    let rank = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

/// A fake Socure that answers after 2 s, served from its own thread and
/// runtime. The mirror's calls make it accept and read a request each; on
/// the test's own two workers that work would land between the measured
/// requests of the shadow-on proxy and be counted against it, though it is
/// the fake's work, not the proxy's.
fn slow_socure_on_its_own_thread() -> FakeVendor {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("fake Socure runtime");
        runtime.block_on(async {
            let socure = FakeVendor::start(|_| {
                Reply::After(
                    Duration::from_secs(2),
                    json_ok(&fixture("socure/kyc_all_verified.json")),
                )
            })
            .await;
            tx.send(socure).expect("hand the fake over");
            // Serves until the test process exits.
            std::future::pending::<()>().await
        });
    });
    rx.recv_timeout(TEST_BOUND).expect("fake Socure started")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_latency_with_a_slow_socure_matches_shadow_off() {
    let _alone = ONE_AT_A_TIME.lock().await;
    // p99 of 500 is the 5th worst: a single scheduler hiccup on this
    // shared machine cannot decide it alone.
    const ROUNDS: usize = 500;
    let raw_answer = json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    ));
    let upstream = FakeVendor::always(raw_answer).await;
    let socure = slow_socure_on_its_own_thread();
    let on = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;
    let off = TestProxy::start(
        upstream.addr,
        socure.addr,
        Options {
            enabled: false,
            ..Options::default()
        },
    )
    .await;

    // Alternate the two so both see the same machine at the same moments.
    let (mut on_client, mut off_client) = (
        RawClient::connect(on.addr).await,
        RawClient::connect(off.addr).await,
    );
    let (mut on_times, mut off_times) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
    let request = instant_verify_request();
    for _ in 0..ROUNDS {
        let started = std::time::Instant::now();
        assert_eq!(on_client.send(&request).await.status(), 200);
        on_times.push(started.elapsed());
        let started = std::time::Instant::now();
        assert_eq!(off_client.send(&request).await.status(), 200);
        off_times.push(started.elapsed());
    }
    assert_eq!(socure.answered(), 0, "no answer waited for Socure's 2 s");

    if std::env::var_os("SHOW_TIMES").is_some() {
        let mut idx: Vec<(usize, Duration)> = on_times.iter().copied().enumerate().collect();
        idx.sort_by_key(|(_, d)| std::cmp::Reverse(*d));
        eprintln!("on worst {:?}", &idx[..6]);
        let mut idx: Vec<(usize, Duration)> = off_times.iter().copied().enumerate().collect();
        idx.sort_by_key(|(_, d)| std::cmp::Reverse(*d));
        eprintln!("off worst {:?}", &idx[..6]);
    }
    let (p99_on, p99_off) = (
        quantile(&mut on_times, 0.99),
        quantile(&mut off_times, 0.99),
    );
    // A generous ratio, as timed tests may only check: waiting for Socure
    // would cost its 2 s, a hundred times the bound below, so this cannot
    // pass by accident; what it tolerates is scheduler noise. Under 5 ms that
    // noise is the signal on this shared 2-core machine: shadow-off p99 alone
    // has measured up to 0.96 ms in a full `cargo test`, and shadow-on 4.6 ms
    // against 2.7 ms off once in CI, while other jobs shared the machine.
    // The deterministic check that no answer waited is `socure.answered()`
    // above; latency figures belong to the benchmark (README).
    let floor = Duration::from_millis(5);
    assert!(
        p99_on.as_secs_f64() <= 4.0 * p99_off.max(floor).as_secs_f64(),
        "p99 with shadow on {p99_on:?} vs off {p99_off:?}"
    );
    assert_eq!(on.finish().await.len(), ROUNDS);
    assert!(off.finish().await.is_empty());
}
