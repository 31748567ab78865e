//! Disabled means invisible, and PhoneFinder is never mirrored.

use crate::support::*;

#[tokio::test]
async fn disabled_mode_makes_no_socure_call_and_writes_no_line() {
    let raw_answer = json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    ));
    let upstream = FakeVendor::always(raw_answer.clone()).await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let options = Options {
        enabled: false,
        ..Options::default()
    };
    let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;

    for _ in 0..3 {
        let answer = send(proxy.addr, &instant_verify_request()).await;
        assert_eq!(answer.status(), 200);
        assert_eq!(
            answer.body,
            parse(&raw_answer).body,
            "still a plain forwarder"
        );
    }
    assert_eq!(upstream.requests().len(), 3);
    assert!(!proxy.log_exists(), "the shadow log is not even opened");
    assert!(proxy.finish().await.is_empty());
    assert!(socure.requests().is_empty(), "no Socure call when disabled");
}

#[tokio::test]
async fn phone_finder_traffic_is_never_mirrored() {
    let upstream = FakeVendor::always(json_ok(&fixture(
        "lexis_nexis/phone_finder/rdp2_response.json",
    )))
    .await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    let body = fixture("lexis_nexis/phone_finder/request.json");
    for path in [
        PF_PATH,
        // The InstantVerify path with another method, or another workflow, is not InstantVerify either.
        "/restws/identity/v2/test_account/gsa2.chk32.other.wf/conversation",
    ] {
        let answer = send(
            proxy.addr,
            &request("POST", path, &[("Content-Type", "application/json")], &body),
        )
        .await;
        assert_eq!(answer.status(), 200);
    }
    send(
        proxy.addr,
        &request(
            "PUT",
            IV_PATH,
            &[("Content-Type", "application/json")],
            &body,
        ),
    )
    .await;

    assert_eq!(upstream.requests().len(), 3, "all forwarded");
    assert!(proxy.finish().await.is_empty(), "no line");
    assert!(socure.requests().is_empty(), "no Socure call");
}
