//! The user's request never waits for Socure: on one keep-alive connection,
//! with Socure answering after 2 s, each answer comes back while the mirror
//! of the one before it is still waiting.
//!
//! nginx's `mirror` fails exactly this: it holds the next request on a
//! connection until the previous request's mirror subrequest is done.

mod support;

use std::time::Duration;

use support::*;

#[tokio::test]
async fn second_request_on_a_connection_does_not_wait_for_the_first_mirror() {
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
