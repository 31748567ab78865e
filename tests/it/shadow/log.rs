//! The shadow log under its own faults, through the real binary: a full disk costs counted lines and never a client's answer or a broken line, and a rotated log is reopened (SIGUSR1, SIGHUP, or by itself when its path moves on).

use std::path::Path;

use nix::sys::signal::Signal;

use crate::support::*;

/// One shadowed request, then its line: the `n`th written.
async fn one_line(proxy: &ProxyProcess, n: f64) {
    assert_eq!(
        send(proxy.addr, &instant_verify_request()).await.status(),
        200
    );
    metric_reaches(
        proxy.admin,
        "socure_shadow_proxy_shadow_lines_written_total",
        n,
    )
    .await;
}

/// Moves the log away (renamed to `to`, or deleted), sends `signal` if
/// any, and waits for the writer to say it reopened the log (`why`).
fn rotate(proxy: &ProxyProcess, to: Option<&Path>, signal: Option<Signal>, why: &str) {
    match to {
        Some(to) => std::fs::rename(&proxy.log, to).expect("rotate"),
        None => std::fs::remove_file(&proxy.log).expect("delete"),
    }
    if let Some(signal) = signal {
        proxy.signal(signal);
    }
    tokio::task::block_in_place(|| proxy.wait_for_stderr(&format!("shadow log reopened{why}")));
}

fn stop_cleanly(proxy: &ProxyProcess) {
    proxy.signal(Signal::SIGTERM);
    let status = tokio::task::block_in_place(|| proxy.wait_exit(TEST_BOUND)).expect("exited");
    assert!(status.success());
}

/// Field `name` of a JSON diagnostics line (stderr is not a terminal).
fn field(line: &str, name: &str) -> u64 {
    let line: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    line["fields"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

/// The log's bytes as whole JSON lines; fails on a broken or glued one.
fn whole_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the log ends with a whole line"
    );
    text.lines()
        .map(|line| serde_json::from_str(line).expect("each line is one whole JSON object"))
        .collect()
}

// Two workers: the waits on the child block one, and the fakes run here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_costs_counted_lines_never_an_answer_or_a_broken_line() {
    const REQUESTS: u64 = 20;
    // Room for a few lines (each is about 2 KB), then EFBIG, as a full disk.
    const ROOM: u64 = 8 * 1024;
    let (upstream, socure) = passing_vendors().await;
    let proxy = ProxyProcess::start_limited(
        |log| Options::default().toml(upstream.addr, socure.addr, log),
        &[],
        &[(nix::sys::resource::Resource::RLIMIT_FSIZE, ROOM)],
    );
    for _ in 0..REQUESTS {
        let answer = send(proxy.addr, &instant_verify_request()).await;
        assert_eq!(answer.status(), 200, "the client never notices");
    }
    let text = metric_reaches(
        proxy.admin,
        "socure_shadow_proxy_shadow_lines_lost_total",
        1.0,
    )
    .await;
    assert_eq!(
        metric(&text, "socure_shadow_proxy_shadow_log_writable"),
        0.0
    );
    assert_eq!(
        admin_get(proxy.admin, "/readyz").await.0,
        200,
        "still ready"
    );
    // More requests while full, then SIGTERM at once: their lines are
    // written or counted lost by the close.
    forward_fixture_requests(proxy.addr, usize::try_from(REQUESTS).expect("a few")).await;
    proxy.signal(Signal::SIGTERM);
    let status = tokio::task::block_in_place(|| proxy.wait_exit(TEST_BOUND)).expect("exited");
    assert_eq!(
        status.code(),
        Some(1),
        "a run that lost lines does not exit 0"
    );
    let stderr = String::from_utf8_lossy(&proxy.stderr()).into_owned();
    let stop = stderr
        .lines()
        .find(|line| line.contains("stopped;"))
        .unwrap_or_else(|| panic!("a stop line in {stderr}"));
    let (written, lost) = (field(stop, "lines_written"), field(stop, "lines_lost"));
    assert_eq!(
        written + lost,
        2 * REQUESTS,
        "every line written or counted: {stop}"
    );
    assert!(lost > 0 && written > 0, "{stop}");
    let lines = whole_lines(&proxy.log);
    assert_eq!(lines.len() as u64, written, "counted means on disk");
    let size = std::fs::metadata(&proxy.log).expect("the log").len();
    assert!(size <= ROOM, "{size}");
    assert_eq!(upstream.requests().len() as u64, 2 * REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_and_sighup_reopen_the_log_after_a_rotation() {
    let (upstream, socure) = passing_vendors().await;
    let proxy = ProxyProcess::start(upstream.addr, socure.addr, &Options::default(), &[]);
    one_line(&proxy, 1.0).await;

    // Asked with nothing moved: the reopen is the signal's, not the check's.
    proxy.signal(Signal::SIGUSR1);
    tokio::task::block_in_place(|| proxy.wait_for_stderr("shadow log reopened (asked to)"));

    // logrotate: move the file, then signal; a reload reopens it too.
    let rotated = proxy.log.with_extension("log.1");
    rotate(&proxy, Some(&rotated), Some(Signal::SIGUSR1), "");
    one_line(&proxy, 2.0).await;
    assert_eq!(whole_lines(&rotated).len(), 1);
    assert_eq!(
        whole_lines(&proxy.log).len(),
        1,
        "the new line in a new file"
    );
    let second = proxy.log.with_extension("log.2");
    rotate(&proxy, Some(&second), Some(Signal::SIGHUP), "");
    one_line(&proxy, 3.0).await;
    assert_eq!(whole_lines(&second).len(), 1);
    assert_eq!(whole_lines(&proxy.log).len(), 1);
    stop_cleanly(&proxy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_renamed_or_deleted_without_a_signal_is_reopened_by_itself() {
    let (upstream, socure) = passing_vendors().await;
    let proxy = ProxyProcess::start(upstream.addr, socure.addr, &Options::default(), &[]);
    let by_itself = " (its path names another file or none)";
    one_line(&proxy, 1.0).await;
    let rotated = proxy.log.with_extension("log.1");
    rotate(&proxy, Some(&rotated), None, by_itself);
    one_line(&proxy, 2.0).await;
    // The second line went to the file then deleted; the third is in the
    // one opened after.
    rotate(&proxy, None, None, by_itself);
    one_line(&proxy, 3.0).await;
    assert_eq!(whole_lines(&rotated).len(), 1);
    assert_eq!(whole_lines(&proxy.log).len(), 1);
    stop_cleanly(&proxy);
}
