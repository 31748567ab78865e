//! Exactly one line per shadowed request, whatever happened to either side, and it says what.

use crate::support::*;

/// A proxy in front of `upstream` with a Socure that verifies everyone.
async fn proxy_for(upstream: &FakeVendor) -> (TestProxy, FakeVendor) {
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    (
        TestProxy::start(upstream.addr, socure.addr, Options::default()).await,
        socure,
    )
}

#[tokio::test]
async fn client_gone_before_the_upstream_answered() {
    let upstream = FakeVendor::start(|_| Reply::Hang).await;
    let (proxy, socure) = proxy_for(&upstream).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.write(&instant_verify_request()).await;
    upstream.wait_for_requests(1).await;
    drop(client);

    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 1);
    let e = event(&lines[0]);
    assert_eq!(e["resolution_outcome"], "client_gone");
    assert_eq!(
        e["resolution_result"]["exception"],
        "Client closed the connection before the LexisNexis answer was complete"
    );
    assert_eq!(e["socure_outcome"], "answered", "the mirror still ran");
    assert_eq!(socure.requests().len(), 1);
}

#[tokio::test]
async fn upstream_cut_off_in_the_middle_of_its_answer() {
    let full = json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    ));
    let half = full[..full.len() - 100].to_vec();
    let sent_part = half.clone();
    let upstream = FakeVendor::start(move |_| Reply::CutMidBody(half.clone())).await;
    let (proxy, _socure) = proxy_for(&upstream).await;

    let mut client = RawClient::connect(proxy.addr).await;
    client.write(&instant_verify_request()).await;
    let got = client.read_to_close().await;
    assert!(
        got.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "the head went through"
    );
    let body_part = &sent_part[sent_part
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head")
        + 4..];
    assert!(
        got.ends_with(body_part),
        "what the upstream sent reached the client, then the cut"
    );

    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 1);
    let e = event(&lines[0]);
    assert_eq!(e["resolution_outcome"], "upstream_failed");
    assert_eq!(
        e["resolution_result"]["exception"],
        "LexisNexis request failed: connection closed before the answer was complete"
    );
}

#[tokio::test]
async fn upstream_answer_that_is_not_json() {
    let upstream = FakeVendor::always(response(
        "200 OK",
        &[("Content-Type", "text/html")],
        b"<html>FAKEY</html>",
    ))
    .await;
    let (proxy, _socure) = proxy_for(&upstream).await;

    let answer = send(proxy.addr, &instant_verify_request()).await;
    assert_eq!(
        answer.body, b"<html>FAKEY</html>",
        "the client still gets it as sent"
    );

    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 1);
    let e = event(&lines[0]);
    assert_eq!(e["resolution_outcome"], "answered");
    assert_eq!(
        e["resolution_result"]["exception"],
        "An error occured parsing the response body JSON, status=200 content_type=text/html"
    );
    assert!(!lines[0].to_string().contains("FAKEY"), "no body quoted");
}

#[tokio::test]
async fn both_sides_failing_still_leave_one_line() {
    let upstream = FakeVendor::start(|_| Reply::Reset).await;
    let socure = FakeVendor::start(|_| Reply::Reset).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    let answer = send(proxy.addr, &instant_verify_request()).await;
    assert_eq!(answer.status(), 502);

    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 1);
    let e = event(&lines[0]);
    assert_eq!(e["resolution_outcome"], "upstream_failed");
    assert_eq!(e["socure_outcome"], "failed");
    assert_eq!(
        e["socure_result"]["exception"],
        "Connection failed: connection reset"
    );
}
