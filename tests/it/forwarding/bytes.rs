//! The forward path is unchanged: checked on raw bytes at the fake upstream and at the client.

use crate::support::*;

/// The upstream got the client's request, byte for byte, but for `Host` and
/// hop-by-hop framing.
fn assert_forwarded_unchanged(sent: &[u8], got: &Message, upstream: std::net::SocketAddr) {
    let sent = parse(sent);
    assert_eq!(
        got.start_line, sent.start_line,
        "method, target and version"
    );
    assert_eq!(
        got.end_to_end_headers(&["host"]),
        sent.end_to_end_headers(&["host"]),
        "every end-to-end header, name case and value, in order"
    );
    assert_eq!(
        got.header_str("Host"),
        Some(upstream.to_string().as_str()),
        "Host names the upstream"
    );
    assert_eq!(got.body, sent.body, "body byte for byte");
}

/// The client got the upstream's answer, byte for byte, but for hop-by-hop framing.
fn assert_answered_unchanged(upstream_raw: &[u8], got: &Message) {
    let sent = parse(upstream_raw);
    assert_eq!(got.start_line, sent.start_line, "status line");
    assert_eq!(
        got.end_to_end_headers(&[]),
        sent.end_to_end_headers(&[]),
        "response headers"
    );
    assert_eq!(got.body, sent.body, "response body");
}

const UPSTREAM_ANSWER_HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "application/json"),
    ("X-Vendor-ODD-Case", "Kept"),
    ("set-cookie", "a=1"),
    ("Set-Cookie", "b=2"),
];

async fn upstream_with(body: &[u8]) -> (FakeVendor, Vec<u8>) {
    let raw = response("200 OK", UPSTREAM_ANSWER_HEADERS, body);
    (FakeVendor::always(raw.clone()).await, raw)
}

#[tokio::test]
async fn fixture_request_is_forwarded_and_answered_unchanged() {
    let (upstream, raw_answer) = upstream_with(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    ))
    .await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    let sent = instant_verify_request();
    let answer = send(proxy.addr, &sent).await;

    let received = upstream.requests();
    assert_eq!(received.len(), 1);
    assert_forwarded_unchanged(&sent, &received[0], upstream.addr);
    assert_answered_unchanged(&raw_answer, &answer);
    assert_eq!(
        answer.header_str("content-length"),
        Some(raw_answer_len(&raw_answer).as_str())
    );
    assert!(
        answer.header("date").is_none(),
        "no Date the upstream did not send"
    );
    assert_eq!(
        proxy.finish().await.len(),
        1,
        "the shadowed request left one line"
    );
}

fn raw_answer_len(raw: &[u8]) -> String {
    parse(raw).body.len().to_string()
}

#[tokio::test]
async fn odd_header_case_survives_both_ways() {
    let (upstream, raw_answer) = upstream_with(b"{}").await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    let sent = request(
        "POST",
        IV_PATH,
        &[
            ("content-TYPE", "application/json"),
            ("X-FaKe-Trace", "one"),
            ("x-fake-trace", "two"),
            (
                "AUTHORIZATION",
                "HMAC-SHA256 keyid=K, ts=T, nonce=N, bodyHash=B, signature=S",
            ),
        ],
        &fixture("lexis_nexis/instant_verify/request.json"),
    );
    let answer = send(proxy.addr, &sent).await;

    let received = upstream.requests();
    assert_forwarded_unchanged(&sent, &received[0], upstream.addr);
    let names: Vec<&str> = received[0]
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    for name in [
        "content-TYPE",
        "X-FaKe-Trace",
        "x-fake-trace",
        "AUTHORIZATION",
    ] {
        assert!(names.contains(&name), "{name} kept its case: {names:?}");
    }
    assert_answered_unchanged(&raw_answer, &answer);
    let names: Vec<&str> = answer.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"X-Vendor-ODD-Case"), "{names:?}");
    proxy.finish().await;
}

#[tokio::test]
async fn chunked_body_arrives_whole_on_both_routes() {
    let (upstream, raw_answer) = upstream_with(b"{}").await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    let body = fixture("lexis_nexis/instant_verify/request.json");
    for path in [IV_PATH, PF_PATH] {
        let (first, rest) = body.split_at(100);
        let mut sent = format!(
            "POST {path} HTTP/1.1\r\nHost: idv-app.fake\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        for chunk in [first, rest] {
            sent.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            sent.extend_from_slice(chunk);
            sent.extend_from_slice(b"\r\n");
        }
        sent.extend_from_slice(b"0\r\n\r\n");
        let answer = send(proxy.addr, &sent).await;
        assert_answered_unchanged(&raw_answer, &answer);
    }
    let received = upstream.requests();
    assert_eq!(received.len(), 2);
    for got in &received {
        assert_eq!(got.body, body, "de-framed body byte for byte");
        assert_eq!(got.header_str("Content-Type"), Some("application/json"));
    }
    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 1, "only the InstantVerify request is shadowed");
    assert_eq!(
        event(&lines[0])["socure_outcome"],
        "answered",
        "the chunked body was parsed"
    );
}

#[tokio::test]
async fn query_string_is_kept_verbatim() {
    let (upstream, raw_answer) = upstream_with(b"{}").await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    let target = format!("{IV_PATH}?mode=testing&x=%20a%2Fb&empty=");
    let sent = request(
        "POST",
        &target,
        &[("Content-Type", "application/json")],
        &fixture("lexis_nexis/instant_verify/request.json"),
    );
    let answer = send(proxy.addr, &sent).await;

    let received = upstream.requests();
    assert_eq!(received[0].start_line, format!("POST {target} HTTP/1.1"));
    assert_forwarded_unchanged(&sent, &received[0], upstream.addr);
    assert_answered_unchanged(&raw_answer, &answer);
    let lines = proxy.finish().await;
    assert_eq!(
        lines[0]["properties"]["path"], IV_PATH,
        "the line's path has no query"
    );
}

#[tokio::test]
async fn other_workflow_is_forwarded_unchanged_and_not_mirrored() {
    let (upstream, raw_answer) =
        upstream_with(&fixture("lexis_nexis/phone_finder/rdp2_response.json")).await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    let sent = request(
        "POST",
        PF_PATH,
        &[("Content-Type", "application/json")],
        &fixture("lexis_nexis/phone_finder/request.json"),
    );
    let answer = send(proxy.addr, &sent).await;

    assert_forwarded_unchanged(&sent, &upstream.requests()[0], upstream.addr);
    assert_answered_unchanged(&raw_answer, &answer);
    assert!(proxy.finish().await.is_empty(), "no line for PhoneFinder");
    assert!(
        socure.requests().is_empty(),
        "PhoneFinder is never mirrored"
    );
}

#[tokio::test]
async fn get_is_forwarded_unchanged() {
    let (upstream, raw_answer) = upstream_with(b"{\"ok\":true}").await;
    let socure = socure_answering(json_ok(b"{}")).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    let sent = request("GET", "/restws/status?verbose=1", &[("Accept", "*/*")], b"");
    let answer = send(proxy.addr, &sent).await;

    let received = upstream.requests();
    assert_forwarded_unchanged(&sent, &received[0], upstream.addr);
    assert!(received[0].body.is_empty());
    assert_answered_unchanged(&raw_answer, &answer);
    assert!(proxy.finish().await.is_empty());
    assert!(socure.requests().is_empty());
}

#[tokio::test]
async fn upstream_500_reaches_the_client_untouched() {
    let raw_answer = response(
        "500 Internal Server Error",
        &[("Content-Type", "text/plain"), ("X-Vendor-Error", "E42")],
        b"vendor is unhappy",
    );
    let upstream = FakeVendor::always(raw_answer.clone()).await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    let answer = send(proxy.addr, &instant_verify_request()).await;

    assert_answered_unchanged(&raw_answer, &answer);
    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 1);
    let resolution = &resolution(event(&lines[0]));
    assert_eq!(resolution["exception"], "Unexpected status code '500'");
    assert!(
        !serde_json::to_string(&lines[0])
            .expect("json")
            .contains("vendor is unhappy")
    );
}

#[tokio::test]
async fn keep_alive_connection_carries_several_requests() {
    let (upstream, raw_answer) = upstream_with(b"{}").await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    let mut client = RawClient::connect(proxy.addr).await;
    for _ in 0..3 {
        let answer = client.send(&instant_verify_request()).await;
        assert_answered_unchanged(&raw_answer, &answer);
    }
    assert_eq!(upstream.requests().len(), 3);
    assert_eq!(proxy.finish().await.len(), 3);
}

#[tokio::test]
async fn one_upstream_connection_carries_request_after_request_whatever_the_answers_framing() {
    let body = fixture("lexis_nexis/instant_verify/successful_response.json");
    // Longer than one read of the proxy's upstream buffer, so its body streams.
    let large = vec![b'x'; 200 * 1024];
    let framed = |n: usize| -> Vec<u8> {
        match n % 3 {
            0 => json_ok(&body),
            1 => {
                let mut chunked = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Transfer-Encoding: chunked\r\n\r\n{:x}\r\n",
                    body.len()
                )
                .into_bytes();
                chunked.extend_from_slice(&body);
                chunked.extend_from_slice(b"\r\n0\r\n\r\n");
                chunked
            }
            _ => {
                let mut whole =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", large.len())
                        .into_bytes();
                whole.extend_from_slice(&large);
                whole
            }
        }
    };
    let answers: Vec<Vec<u8>> = (0..3).map(framed).collect();
    let asked = std::sync::atomic::AtomicUsize::new(0);
    let upstream = FakeVendor::start(move |_| {
        let n = asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Reply::Now(answers[n % 3].clone())
    })
    .await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    const REQUESTS: usize = 9;
    for n in 0..REQUESTS {
        // A new client connection each time: the upstream's is the proxy's own.
        let answer = send(proxy.addr, &instant_verify_request()).await;
        assert_eq!(answer.status(), 200);
        let expected = if n % 3 == 2 { large.len() } else { body.len() };
        assert_eq!(answer.body.len(), expected, "answer {n} whole");
    }
    assert_eq!(upstream.requests().len(), REQUESTS);
    assert_eq!(
        upstream.connections(),
        1,
        "every request after the first reused the first one's connection"
    );
    assert_eq!(proxy.finish().await.len(), REQUESTS);
}

#[tokio::test]
async fn unreachable_upstream_is_502_and_still_one_line() {
    // A port that was just free: nothing listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(closed, socure.addr, Options::default()).await;

    let answer = send(proxy.addr, &instant_verify_request()).await;
    assert_eq!(answer.status(), 502);
    assert_eq!(answer.body, b"upstream unavailable\n");

    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 1);
    assert_eq!(
        event(&lines[0])["resolution_outcome"],
        "upstream_unreachable"
    );
    assert_eq!(
        event(&lines[0])["socure_outcome"],
        "answered",
        "Socure was still asked"
    );
}

#[tokio::test]
async fn upstream_timeout_is_504_and_still_one_line() {
    let upstream = FakeVendor::start(|_| Reply::Hang).await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let options = Options {
        upstream_timeout_seconds: 0.5,
        ..Options::default()
    };
    let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;

    let answer = send(proxy.addr, &instant_verify_request()).await;
    assert_eq!(answer.status(), 504);
    assert_eq!(answer.body, b"upstream timed out\n");

    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 1);
    let e = event(&lines[0]);
    assert_eq!(e["resolution_outcome"], "upstream_timeout");
    assert_eq!(resolution(e)["timed_out"], true);
}

#[tokio::test]
async fn http2_client_is_forwarded_as_http11_and_shadowed() {
    let body = fixture("lexis_nexis/instant_verify/successful_response.json");
    let (upstream, _) = upstream_with(&body).await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(
            socure_shadow_proxy::tls::client_config(None, None).expect("tls"),
        )
        .http2_prior_knowledge()
        .no_proxy()
        .build()
        .expect("client");
    let request_body = fixture("lexis_nexis/instant_verify/request.json");
    let answer = client
        .post(format!("http://{}{IV_PATH}?h2=1", proxy.addr))
        .header("content-type", "application/json")
        .header("x-fake-trace", "h2")
        .body(request_body.clone())
        .send()
        .await
        .expect("h2 request");
    assert_eq!(answer.version(), reqwest::Version::HTTP_2);
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-vendor-odd-case"], "Kept");
    assert_eq!(
        answer.bytes().await.expect("body").as_ref(),
        body.as_slice()
    );

    let received = upstream.requests();
    assert_eq!(
        received[0].start_line,
        format!("POST {IV_PATH}?h2=1 HTTP/1.1")
    );
    assert_eq!(
        received[0].header_str("host"),
        Some(upstream.addr.to_string().as_str())
    );
    assert_eq!(received[0].header_str("x-fake-trace"), Some("h2"));
    assert_eq!(received[0].body, request_body);
    assert_eq!(proxy.finish().await.len(), 1);
}

#[tokio::test]
async fn absolute_form_target_or_foreign_host_never_changes_where_it_goes() {
    let (upstream, _) = upstream_with(b"{}").await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(upstream.addr, socure.addr, Options::default()).await;

    let body = fixture("lexis_nexis/instant_verify/request.json");
    let mut sent = format!(
        "POST http://169.254.169.254{IV_PATH} HTTP/1.1\r\nHost: 169.254.169.254\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    sent.extend_from_slice(&body);
    let answer = send(proxy.addr, &sent).await;
    assert_eq!(answer.status(), 200);

    let received = upstream.requests();
    assert_eq!(received.len(), 1, "it went to the configured upstream");
    assert_eq!(received[0].start_line, format!("POST {IV_PATH} HTTP/1.1"));
    assert_eq!(
        received[0].header_str("host"),
        Some(upstream.addr.to_string().as_str())
    );
    assert_eq!(received[0].body, body);
    proxy.finish().await;
}
