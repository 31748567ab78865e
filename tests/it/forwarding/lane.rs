//! The hand-written HTTP/1.1 lane: plain requests go through it, the first request it does not take hands the connection (bytes read included) to hyper, and answers it re-frames still reach the client whole.

use crate::support::*;

/// A plain InstantVerify request and, in the same write, a chunked one the
/// lane leaves to hyper: both reach the upstream whole and both are
/// answered, in order, on the one connection.
#[tokio::test]
async fn a_request_the_lane_leaves_to_hyper_is_served_on_the_same_connection() {
    let upstream = FakeVendor::always(json_ok(b"{}")).await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    let body = fixture("lexis_nexis/instant_verify/request.json");
    let mut both = instant_verify_request();
    both.extend_from_slice(
        format!(
            "POST {PF_PATH} HTTP/1.1\r\nHost: idv-app.fake\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            body.len()
        )
        .as_bytes(),
    );
    both.extend_from_slice(&body);
    both.extend_from_slice(b"\r\n0\r\n\r\n");
    let mut client = RawClient::connect(proxy.addr).await;
    client.write(&both).await;
    for n in 0..2 {
        let answer = client
            .receive(TEST_BOUND)
            .await
            .unwrap_or_else(|| panic!("answer {n} came"));
        assert_eq!(answer.status(), 200, "answer {n}");
        assert_eq!(answer.body, b"{}", "answer {n} whole");
    }
    let received = upstream.requests();
    assert_eq!(received.len(), 2);
    assert!(
        received[0].start_line.contains(IV_PATH),
        "the plain one first"
    );
    assert!(received[1].start_line.contains(PF_PATH), "then hyper's");
    for got in &received {
        assert_eq!(got.body, body, "body byte for byte");
    }
    assert_eq!(
        proxy.finish().await.len(),
        1,
        "the InstantVerify one's line"
    );
}

/// An answer with neither length nor chunks, ended by the upstream's close:
/// the client gets it chunked and whole, the line judges it, and the
/// closed upstream connection is not used again.
#[tokio::test]
async fn an_answer_ended_by_close_reaches_the_client_whole_and_is_judged() {
    let answer_body = fixture("lexis_nexis/instant_verify/successful_response.json");
    let mut raw =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".to_vec();
    raw.extend_from_slice(&answer_body);
    let upstream = FakeVendor::start(move |_| Reply::CutMidBody(raw.clone())).await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    let mut client = RawClient::connect(proxy.addr).await;
    for _ in 0..2 {
        let answer = client.send(&instant_verify_request()).await;
        assert_eq!(answer.status(), 200);
        assert!(answer.chunked, "no length to give: chunked, as hyper would");
        assert_eq!(answer.body, answer_body, "whole");
        assert!(
            answer.header("connection").is_none(),
            "the client's connection stays"
        );
    }
    assert_eq!(
        upstream.connections(),
        2,
        "a closed connection is not reused"
    );
    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert_eq!(resolution(event(line))["success"], true, "judged");
    }
}

/// A field repeated around another reaches the upstream where the client
/// put it on the lane; with `listen.http1_lane = false` hyper serves the
/// request and groups a name's values (its `HeaderMap` keeps them by name):
/// the switch hands every connection to hyper.
#[tokio::test]
async fn the_lane_keeps_every_field_in_place_and_its_switch_hands_all_to_hyper() {
    let body = fixture("lexis_nexis/instant_verify/request.json");
    let sent = request(
        "POST",
        IV_PATH,
        &[
            ("Content-Type", "application/json"),
            ("X-Fake-A", "1"),
            ("X-Fake-B", "2"),
            ("X-Fake-A", "3"),
        ],
        &body,
    );
    for (lane, order) in [(true, ["1", "2", "3"]), (false, ["1", "3", "2"])] {
        let upstream = FakeVendor::always(json_ok(b"{}")).await;
        let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
        let proxy = TestProxy::start(
            upstream.addr,
            socure.addr,
            Options {
                listen_extra: format!("http1_lane = {lane}"),
                ..Options::default()
            },
        )
        .await;
        assert_eq!(send(proxy.addr, &sent).await.status(), 200);
        let received = upstream.requests();
        let values: Vec<String> = received[0]
            .headers
            .iter()
            .filter(|(name, _)| name.starts_with("X-Fake-"))
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
            .collect();
        assert_eq!(values, order, "http1_lane = {lane}");
        assert_eq!(received[0].body, body);
        assert_eq!(proxy.finish().await.len(), 1, "shadowed either way");
    }
}
