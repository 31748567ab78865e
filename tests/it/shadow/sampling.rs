//! Cost control: the sticky sample, the daily budget, the duplicate window,
//! each through the proxy with a fake Socure that counts its calls.

use crate::support::*;
use serde_json::Value;

/// Sends each request once, 16 at a time; every answer must be a 200.
async fn send_all(proxy: std::net::SocketAddr, requests: Vec<Vec<u8>>) {
    let requests = std::sync::Arc::new(tokio::sync::Mutex::new(requests));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let requests = std::sync::Arc::clone(&requests);
            tokio::spawn(async move {
                let mut client = RawClient::connect(proxy).await;
                loop {
                    let Some(request) = requests.lock().await.pop() else {
                        break;
                    };
                    assert_eq!(client.send(&request).await.status(), 200);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
}

async fn sampled(percent: f64, users: usize) -> (Vec<Value>, String, usize) {
    let Stack {
        upstream,
        socure,
        proxy,
    } = Stack::passing_with(Options {
        sample_percent: percent,
        // Room for every call: this test is about the sample, not capacity.
        max_in_flight: 4_096,
        ..Options::default()
    })
    .await;
    send_all(proxy.addr, (0..users).map(distinct_applicant).collect()).await;
    assert_eq!(upstream.requests().len(), users, "every request forwarded");
    let (lines, metrics) = proxy.finish_with_metrics().await;
    (lines, metrics, socure.requests().len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_takes_its_share_of_distinct_users() {
    const USERS: usize = 1_000;
    let (lines, metrics, calls) = sampled(0.0, USERS).await;
    assert_eq!((lines.len(), calls), (0, 0), "0%: no line, no call");
    assert_eq!(
        metric(&metrics, "socure_shadow_proxy_mirrors_sampled_out_total"),
        1_000.0
    );

    let (lines, _, calls) = sampled(100.0, USERS).await;
    assert_eq!((lines.len(), calls), (USERS, USERS));

    let (lines, metrics, calls) = sampled(30.0, USERS).await;
    // Binomial(1000, 0.3): sd about 14.5; 5 sd either side.
    assert!((228..=372).contains(&lines.len()), "{}", lines.len());
    assert_eq!(
        calls,
        lines.len(),
        "a line for each call, none for the rest"
    );
    assert_eq!(
        metric(&metrics, "socure_shadow_proxy_mirrors_sampled_out_total"),
        (USERS - lines.len()) as f64
    );
}

#[tokio::test]
async fn one_users_requests_are_all_in_or_all_out() {
    let Stack { socure, proxy, .. } = Stack::passing_with(Options {
        sample_percent: 30.0,
        ..Options::default()
    })
    .await;
    // Ten users, five requests each (the retries of one person).
    for user in 0..10 {
        for _ in 0..5 {
            assert_eq!(
                send(proxy.addr, &distinct_applicant(user)).await.status(),
                200
            );
        }
    }
    let lines = proxy.finish().await;
    for user in 0..10 {
        let uuid = format!("00000000-0000-4000-8000-{user:012}");
        let count = lines
            .iter()
            .filter(|l| l["properties"]["user_id"] == uuid.as_str())
            .count();
        assert!(count == 0 || count == 5, "user {user}: {count} of 5");
    }
    assert_eq!(socure.requests().len(), lines.len());
}

#[tokio::test]
async fn the_daily_budget_stops_calls_at_the_limit() {
    let Stack { socure, proxy, .. } = Stack::passing_with(Options {
        max_calls_per_day: Some(3),
        ..Options::default()
    })
    .await;
    for user in 0..5 {
        assert_eq!(
            send(proxy.addr, &distinct_applicant(user)).await.status(),
            200
        );
    }
    let (lines, metrics) = proxy.finish_with_metrics().await;
    assert_eq!(socure.requests().len(), 3, "three calls, then none");
    assert_eq!(lines.len(), 5, "every applicant still has its line");
    let exhausted: Vec<_> = lines
        .iter()
        .filter(|l| event(l)["socure_outcome"] == "budget_exhausted")
        .collect();
    assert_eq!(exhausted.len(), 2);
    for line in exhausted {
        assert_eq!(
            event(line)["socure_not_sent_reason"],
            "socure.max_calls_per_day (3) reached for today (UTC)"
        );
        assert!(event(line)["socure_result"].is_null());
    }
    assert_eq!(
        metric(
            &metrics,
            "socure_shadow_proxy_mirrors_not_sent_total{reason=\"daily_budget\"}"
        ),
        2.0
    );
}

#[tokio::test]
async fn a_duplicate_applicant_in_the_window_is_not_sent_again() {
    let Stack { socure, proxy, .. } = Stack::passing_with(Options {
        dedup_window_seconds: 600.0,
        ..Options::default()
    })
    .await;
    // The same person twice (the second with other case and spacing in the
    // name, and a dashed SSN), then someone else.
    let mut again = fixture_json("lexis_nexis/instant_verify/request.json");
    let first = distinct_applicant(7);
    let first_body: Value = serde_json::from_slice(&parse(&first).body).expect("json");
    again["Settings"] = first_body["Settings"].clone();
    again["Person"] = first_body["Person"].clone();
    let name = again["Person"]["Name"]["FirstName"]
        .as_str()
        .unwrap_or_default()
        .to_uppercase();
    again["Person"]["Name"]["FirstName"] = format!("  {name} ").into();
    again["Person"]["SSN"]["Number"] = "900-00-0007".into();
    for request in [
        first,
        iv_post(again.to_string().as_bytes()),
        distinct_applicant(8),
    ] {
        assert_eq!(send(proxy.addr, &request).await.status(), 200);
    }
    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 3);
    assert_eq!(socure.requests().len(), 2, "the duplicate made no call");
    // Lines are written as mirrors finish, not in request order.
    let of_user = |n: usize| -> Vec<&Value> {
        let uuid = format!("00000000-0000-4000-8000-{n:012}");
        lines
            .iter()
            .filter(|l| l["properties"]["user_id"] == uuid.as_str())
            .collect()
    };
    let seven = of_user(7);
    assert_eq!(seven.len(), 2);
    let (original, duplicate) = if event(seven[0])["socure_outcome"] == "duplicate" {
        (seven[1], seven[0])
    } else {
        (seven[0], seven[1])
    };
    assert_eq!(event(original)["socure_outcome"], "answered");
    assert_eq!(event(duplicate)["socure_outcome"], "duplicate");
    assert_eq!(event(duplicate)["duplicate_of"], original["id"]);
    assert!(event(duplicate)["socure_result"].is_null());
    assert_eq!(event(of_user(8)[0])["socure_outcome"], "answered");
}
