//! Mirroring is bounded: past `max_in_flight` a mirror is dropped (the request
//! is still answered at once, its line says so), and at shutdown mirrors still
//! running after the grace period are cut short, each still writing its line.

use crate::support::*;

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

    let started = std::time::Instant::now();
    let lines = proxy.finish().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
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
        assert_eq!(e["resolution_result"]["success"], true);
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
        third
            .receive(std::time::Duration::from_millis(300))
            .await
            .is_none(),
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
