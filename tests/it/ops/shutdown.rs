//! Graceful shutdown of the real binary: SIGTERM with mirrors in flight ends
//! within the grace period plus a margin, exit 0, one line per request; a
//! second signal exits at once. On one CPU the data path runs on tokio's
//! single-threaded runtime and the whole run, shutdown included, is the same.

use std::time::{Duration, Instant};

use crate::support::*;
use nix::sys::signal::Signal;

async fn stack_with_hanging_socure(options: &Options) -> (FakeVendor, FakeVendor, ProxyProcess) {
    let upstream = FakeVendor::always(json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    )))
    .await;
    let socure = FakeVendor::start(|_| Reply::Hang).await;
    let (u, s) = (upstream.addr, socure.addr);
    let proxy = ProxyProcess::start(u, s, options, &[]);
    (upstream, socure, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_interrupts_mirrors_after_grace_and_logs_every_line() {
    let options = Options {
        socure_timeout_seconds: 60.0,
        shutdown_grace_seconds: 1.0,
        ..Options::default()
    };
    let (_upstream, socure, proxy) = stack_with_hanging_socure(&options).await;
    const REQUESTS: usize = 5;
    forward_fixture_requests(proxy.addr, REQUESTS).await;
    socure.wait_for_requests(REQUESTS).await;

    let signalled = Instant::now();
    proxy.signal(Signal::SIGTERM);
    let status = tokio::task::block_in_place(|| proxy.wait_exit(TEST_BOUND)).expect("exited");
    let took = signalled.elapsed();
    assert!(status.success(), "exit 0, was {status:?}");
    assert!(
        took >= Duration::from_millis(900),
        "the grace period was given: {took:?}"
    );
    assert!(
        took < Duration::from_secs(5),
        "grace (1 s) plus a margin, not the 60 s timeout: {took:?}"
    );

    let lines = proxy.log_lines();
    assert_eq!(lines.len(), REQUESTS, "one line per request");
    for line in &lines {
        assert_eq!(event(line)["socure_outcome"], "shutdown");
        assert_eq!(event(line)["resolution_outcome"], "answered");
    }
    let stderr = String::from_utf8_lossy(&proxy.stderr()).into_owned();
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
    assert!(stderr.contains("cutting them short"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_nothing_in_flight_exits_promptly() {
    let options = Options::default();
    let (_upstream, _socure, proxy) = stack_with_hanging_socure(&options).await;
    let signalled = Instant::now();
    proxy.signal(Signal::SIGTERM);
    let status = tokio::task::block_in_place(|| proxy.wait_exit(TEST_BOUND)).expect("exited");
    assert!(status.success());
    assert!(
        signalled.elapsed() < Duration::from_secs(3),
        "{:?}",
        signalled.elapsed()
    );
    assert!(proxy.log_lines().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_signal_exits_at_once() {
    let options = Options {
        socure_timeout_seconds: 60.0,
        shutdown_grace_seconds: 60.0,
        ..Options::default()
    };
    let (_upstream, socure, proxy) = stack_with_hanging_socure(&options).await;
    assert_eq!(
        send(proxy.addr, &instant_verify_request()).await.status(),
        200
    );
    socure.wait_for_requests(1).await;

    proxy.signal(Signal::SIGTERM);
    // Wait until the first signal has been taken, so the second is a second.
    tokio::task::block_in_place(|| proxy.wait_for_stderr("SIGTERM received"));
    let second = Instant::now();
    proxy.signal(Signal::SIGINT);
    let status = tokio::task::block_in_place(|| proxy.wait_exit(TEST_BOUND)).expect("exited");
    assert!(!status.success(), "an abrupt exit is not a clean one");
    assert!(
        second.elapsed() < Duration::from_secs(3),
        "{:?}",
        second.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_one_cpu_the_data_path_runs_on_one_thread_and_the_run_is_the_same() {
    let (upstream, socure) = passing_vendors().await;
    let proxy = ProxyProcess::start_on_one_cpu(upstream.addr, socure.addr, &Options::default());
    let stderr = String::from_utf8_lossy(&proxy.stderr()).into_owned();
    assert!(
        stderr.contains(r#""runtime":"current_thread""#),
        "the start line names the runtime: {stderr}"
    );
    const REQUESTS: usize = 3;
    forward_fixture_requests(proxy.addr, REQUESTS).await;
    proxy.signal(Signal::SIGTERM);
    let status = tokio::task::block_in_place(|| proxy.wait_exit(TEST_BOUND)).expect("exited");
    assert!(status.success(), "exit 0, was {status:?}");
    let lines = proxy.log_lines();
    assert_eq!(lines.len(), REQUESTS, "one line per request");
    for line in &lines {
        assert_eq!(event(line)["resolution_outcome"], "answered");
        assert_eq!(event(line)["socure_outcome"], "answered");
    }
}
