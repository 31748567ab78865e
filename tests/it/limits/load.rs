//! Load: 500 shadowed requests at once, Socure answering in a mix of every
//! fault mode. Every client answer is right, there is exactly one line per
//! request, ids are unique, and each line says what its Socure mode did.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};

const REQUESTS: usize = 500;

/// Socure's behaviour for user `n`, and what the line must then say.
fn mode(n: usize) -> (&'static str, Reply) {
    let ok = json_ok(&fixture("socure/kyc_all_verified.json"));
    match n % 8 {
        0 => ("ok", Reply::Now(ok)),
        1 => (
            "400",
            Reply::Now(response(
                "400 Bad Request",
                &[("Content-Type", "application/json")],
                &fixture("socure/error_400.json"),
            )),
        ),
        2 => (
            "500",
            Reply::Now(response("500 Internal Server Error", &[], b"It works!")),
        ),
        3 => ("reset", Reply::Reset),
        4 => ("slow", Reply::After(Duration::from_millis(200), ok)),
        5 => ("hang", Reply::Hang),
        6 => ("not json", Reply::Now(response("200 OK", &[], b"<html>"))),
        _ => (
            "no kyc",
            Reply::Now(json_ok(&fixture("socure/kyc_missing_section.json"))),
        ),
    }
}

fn user(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn user_number(user: &str) -> usize {
    user.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a load-test user")
}

fn body_for(n: usize) -> Vec<u8> {
    let mut body = fixture_json("lexis_nexis/instant_verify/request.json");
    body["Settings"]["Reference"] = json!(format!("load:{}", user(n)));
    body["Person"]["Name"]["FirstName"] = json!("FAKEY");
    body["Person"]["Name"]["LastName"] = json!("MCFAKERSON");
    body["Person"]["SSN"]["Number"] = json!(format!("900{:06}", n));
    body.to_string().into_bytes()
}

fn assert_line_matches_mode(e: &Value, mode: &str) {
    let socure = &e["socure_result"];
    match mode {
        "ok" | "slow" => {
            assert_eq!(e["socure_outcome"], "answered", "{mode}");
            assert_eq!(socure["success"], true, "{mode}");
        }
        "400" => assert_eq!(
            socure["exception"],
            "Request-specific error message goes here (400)"
        ),
        "500" => assert_eq!(
            socure["exception"],
            "the server responded with status 500 (500)"
        ),
        "reset" => {
            assert_eq!(e["socure_outcome"], "failed");
            assert_eq!(socure["exception"], "Connection failed: connection reset");
        }
        "hang" => {
            assert_eq!(e["socure_outcome"], "timed_out");
            assert_eq!(socure["timed_out"], true);
        }
        "not json" => assert_eq!(
            socure["exception"],
            "Response body is not a JSON object (200)"
        ),
        _ => assert_eq!(socure["exception"], "No kyc section on response"),
    }
}

/// Each request holds about six descriptors in this one process (client,
/// proxy, both fakes); make sure the soft limit allows it.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let wanted = hard.min(8192);
        if soft < wanted {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, wanted, hard);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_shadowed_requests_with_socure_faults() {
    raise_fd_limit();
    let raw_answer = json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    ));
    let upstream = FakeVendor::always(raw_answer.clone()).await;
    let socure = FakeVendor::start(|request| {
        let n = request.json()["customerUserId"]
            .as_str()
            .map(user_number)
            .expect("customerUserId");
        mode(n).1
    })
    .await;
    let options = Options {
        // Fifteen times the slow mode's 200 ms: in a full `cargo test` on a
        // loaded 2-core machine, 1 s timed out some of the 500 answered
        // calls. Pausing the clock is no cure here: the shadow log is
        // written on a thread of its own (`shadow::sink`), and a paused
        // clock jumps ahead while the test waits on it.
        socure_timeout_seconds: 3.0,
        max_in_flight: 1024,
        ..Options::default()
    };
    let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;
    let expected_body = parse(&raw_answer).body;

    let addr = proxy.addr;
    let clients: Vec<_> = (0..REQUESTS)
        .map(|n| tokio::spawn(async move { send(addr, &iv_post(&body_for(n))).await }))
        .collect();
    let all = tokio::time::timeout(TEST_BOUND, futures_util::future::join_all(clients))
        .await
        .expect("every client answered in time");
    for answer in all {
        let answer = answer.expect("client task");
        assert_eq!(answer.status(), 200);
        assert_eq!(
            answer.body, expected_body,
            "every client got the upstream's answer"
        );
    }
    assert_eq!(upstream.requests().len(), REQUESTS);

    let lines = proxy.finish().await;
    assert_eq!(lines.len(), REQUESTS, "exactly one line per request");
    let ids: HashSet<&str> = lines
        .iter()
        .map(|l| l["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), REQUESTS, "ids are unique");
    let mut seen = HashSet::new();
    for line in &lines {
        let n = user_number(line["properties"]["user_id"].as_str().expect("user_id"));
        assert!(seen.insert(n), "user {n} has one line, not two");
        let e = event(line);
        assert_eq!(e["resolution_outcome"], "answered");
        assert_eq!(resolution(e)["success"], true);
        assert_line_matches_mode(e, mode(n).0);
    }
    assert_eq!(
        socure.requests().len(),
        REQUESTS,
        "one Socure call each, no retries"
    );
}
