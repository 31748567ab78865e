//! Hostile and bad input: smuggling-shaped framing, oversized heads and
//! bodies, garbage. Each is refused cleanly or passed through as the rules
//! say, nothing reaches the upstream that should not, and the proxy lives on.

use crate::support::*;

/// After all the abuse, an ordinary request still goes through.
async fn still_serving(proxy: &TestProxy) {
    let answer = send(proxy.addr, &instant_verify_request()).await;
    assert_eq!(answer.status(), 200, "the proxy is still serving");
}

/// A request with both `Content-Length` and `Transfer-Encoding` is refused
/// with 400 and the connection closes, in either order of the two fields,
/// after ordinary requests of both framings on the same connection (so the
/// framing watch must follow them to find it), on the shadowed path and off
/// it. Nothing behind it is read as a request.
#[tokio::test]
async fn content_length_with_transfer_encoding_is_400_and_smuggles_nothing() {
    let Stack {
        upstream,
        socure,
        proxy,
    } = Stack::passing().await;
    // A classic CL.TE attempt: by Content-Length the body holds a second
    // request; by Transfer-Encoding the body is empty and that request follows.
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let body = format!("0\r\n\r\n{smuggled}");
    let fields = [
        format!(
            "Content-Length: {}\r\nTransfer-Encoding: chunked",
            body.len()
        ),
        format!(
            "Transfer-Encoding: chunked\r\nContent-Length: {}",
            body.len()
        ),
    ];
    let mut sent_ordinary = 0;
    for path in [IV_PATH, PF_PATH] {
        for both in &fields {
            let mut client = RawClient::connect(proxy.addr).await;
            let chunked = format!(
                "POST {PF_PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                 3;ext=1\r\n{{}}\n\r\n0\r\nX-Trailer: t\r\n\r\n"
            );
            for ordinary in [chunked.into_bytes(), request("GET", "/plain", &[], b"")] {
                assert_eq!(client.send(&ordinary).await.status(), 200);
                sent_ordinary += 1;
            }
            client
                .write(
                    format!("POST {path} HTTP/1.1\r\nHost: x\r\n{both}\r\n\r\n{body}").as_bytes(),
                )
                .await;
            let got = client.read_to_close().await;
            let answer = parse(&got);
            assert_eq!(answer.status(), 400, "{path} {both:?}");
            assert_eq!(answer.body, b"both Content-Length and Transfer-Encoding\n");
            assert_eq!(answer.header_str("connection"), Some("close"));
            assert_eq!(
                got.len(),
                answer.head.len() + answer.body.len(),
                "one answer only, then close"
            );
        }
    }

    still_serving(&proxy).await;
    let received = upstream.requests();
    assert_eq!(
        received.len(),
        sent_ordinary + 1,
        "the ordinary requests only: nothing refused, nothing smuggled"
    );
    assert!(received.iter().all(|r| !r.start_line.contains("smuggled")));
    let lines = proxy.finish().await;
    assert_eq!(socure.requests().len(), 1, "only the ordinary applicant");
    let refused: Vec<_> = lines
        .iter()
        .filter(|l| event(l)["resolution_outcome"] == "request_refused")
        .collect();
    assert_eq!(
        lines.len(),
        3,
        "two refused InstantVerify requests, one ordinary"
    );
    assert_eq!(refused.len(), 2);
    for line in refused {
        assert_eq!(event(line)["socure_outcome"], "not_sent");
    }
}

#[tokio::test]
async fn oversized_and_too_many_headers_are_refused_with_431() {
    let Stack {
        upstream, proxy, ..
    } = Stack::passing().await;
    let big = "a".repeat(100 * 1024);
    let many: String = (0..200).map(|i| format!("X-Fake-{i}: v\r\n")).collect();
    for head in [
        format!("POST {IV_PATH} HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\nContent-Length: 0\r\n\r\n"),
        format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n"),
    ] {
        let mut client = RawClient::connect(proxy.addr).await;
        client.write(head.as_bytes()).await;
        let answer = parse(&client.read_to_close().await);
        assert_eq!(answer.status(), 431);
    }
    still_serving(&proxy).await;
    assert_eq!(
        upstream.requests().len(),
        1,
        "nothing oversized was forwarded"
    );
    assert_eq!(proxy.finish().await.len(), 1);
}

#[tokio::test]
async fn body_over_the_hard_limit_is_413() {
    let upstream = FakeVendor::always(json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    )))
    .await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let options = Options {
        max_request_body_bytes: 64 * 1024,
        ..Options::default()
    };
    let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;

    // Declared too large: refused before a byte of body is read or forwarded.
    let mut client = RawClient::connect(proxy.addr).await;
    client
        .write(
            format!(
                "POST {PF_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                11 * 1024 * 1024
            )
            .as_bytes(),
        )
        .await;
    let answer = parse(&client.read_to_close().await);
    assert_eq!(answer.status(), 413);
    assert_eq!(answer.body, b"request body too large\n");
    assert!(upstream.requests().is_empty(), "nothing forwarded");

    // Chunked, so only counting can tell: refused once it passes the limit.
    for path in [IV_PATH, PF_PATH] {
        let mut sent =
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                .into_bytes();
        for _ in 0..100 {
            sent.extend_from_slice(format!("{:x}\r\n{}\r\n", 1024, "x".repeat(1024)).as_bytes());
        }
        sent.extend_from_slice(b"0\r\n\r\n");
        let mut client = RawClient::connect(proxy.addr).await;
        client.write(&sent).await;
        let answer = parse(&client.read_to_close().await);
        assert_eq!(answer.status(), 413, "{path}");
    }
    still_serving(&proxy).await;
    let lines = proxy.finish().await;
    assert_eq!(
        lines.len(),
        2,
        "the chunked InstantVerify request and the ordinary one"
    );
    assert!(
        lines
            .iter()
            .any(|l| event(l)["resolution_outcome"] == "request_refused")
    );
}

#[tokio::test]
async fn malformed_requests_are_400_and_nothing_is_forwarded() {
    let Stack {
        upstream, proxy, ..
    } = Stack::passing().await;
    for garbage in [
        &b"HELLO\r\n\r\n"[..],
        b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Name: v\r\n\r\n",
        b"\x00\x01\x02\x03\xff\xfe\r\n\r\n",
    ] {
        let mut client = RawClient::connect(proxy.addr).await;
        client.write(garbage).await;
        let got = client.read_to_close().await;
        assert!(
            got.starts_with(b"HTTP/1.1 400"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
    }
    // A broken chunk on the shadow path: 400, and its line.
    let mut client = RawClient::connect(proxy.addr).await;
    client
        .write(format!("POST {IV_PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n").as_bytes())
        .await;
    let answer = parse(&client.read_to_close().await);
    assert_eq!(answer.status(), 400);

    still_serving(&proxy).await;
    assert_eq!(
        upstream.requests().len(),
        1,
        "only the ordinary request was forwarded"
    );
    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 2);
    assert!(
        lines
            .iter()
            .any(|l| event(l)["resolution_outcome"] == "request_unreadable")
    );
}

/// RFC 9112 section 3.2: a request with two `Host` fields is a 400, so no
/// later hop can be made to believe a different one.
#[tokio::test]
async fn two_host_fields_are_400_and_nothing_is_forwarded() {
    let Stack {
        upstream, proxy, ..
    } = Stack::passing().await;
    let mut two = request("GET", "/plain", &[("Host", "a.fake")], b"");
    let at = two.windows(2).position(|w| w == b"\r\n").expect("line end") + 2;
    two.splice(at..at, b"Host: b.fake\r\n".iter().copied());
    let answer = send(proxy.addr, &two).await;
    assert_eq!(answer.status(), 400);
    assert_eq!(answer.body, b"bad request target\n");
    assert!(upstream.requests().is_empty());
    still_serving(&proxy).await;
    proxy.finish().await;
}

/// RFC 9112 section 3.2: an HTTP/1.1 request without `Host` is a 400, on
/// the shadowed path (which still gets its line) and off it; nothing
/// reaches the upstream. HTTP/1.0 had no `Host` to require: it goes through.
#[tokio::test]
async fn http_1_1_without_host_is_400_and_nothing_is_forwarded() {
    let Stack {
        upstream,
        socure,
        proxy,
    } = Stack::passing().await;
    let body = fixture("lexis_nexis/instant_verify/request.json");
    for path in [IV_PATH, PF_PATH] {
        let mut hostless = format!(
            "POST {path} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        hostless.extend_from_slice(&body);
        let answer = send(proxy.addr, &hostless).await;
        assert_eq!(answer.status(), 400, "{path}");
        assert_eq!(answer.body, b"missing Host header\n", "{path}");
    }
    assert!(upstream.requests().is_empty(), "nothing forwarded");

    let answer = send(proxy.addr, b"GET /plain HTTP/1.0\r\n\r\n").await;
    assert_eq!(answer.status(), 200, "HTTP/1.0 needs no Host");
    assert_eq!(upstream.requests().len(), 1);
    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 1, "the refused InstantVerify request's line");
    let e = event(&lines[0]);
    assert_eq!(e["resolution_outcome"], "request_refused");
    assert_eq!(e["socure_outcome"], "not_sent");
    assert!(socure.requests().is_empty());
}

/// A body that goes wrong after its first chunk has gone upstream on a
/// passthrough path is the client's fault, not the upstream's: a broken
/// chunk-size line is a 400, a body past the hard limit a 413, a body that
/// stalls a 408, never a 502; each request is cut there and its upstream
/// connection dropped. The shadowed path reads the body before forwarding
/// anything: a broken chunk there is a 400 too, nothing goes upstream, and
/// the request gets its line.
#[tokio::test]
async fn a_body_failing_midway_is_the_clients_fault_even_after_bytes_went_upstream() {
    let upstream = RawUpstream::start().await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let options = Options {
        max_request_body_bytes: 64 * 1024,
        listen_extra: "request_body_timeout_seconds = 1\nrequest_body_min_bytes_per_second = 10"
            .into(),
        ..Options::default()
    };
    let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;
    let head = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
        )
    };
    let broken = b"not-a-size\r\nabc\r\n0\r\n\r\n".to_vec();
    let too_large: Vec<u8> = (0..100)
        .flat_map(|_| format!("400\r\n{}\r\n", "x".repeat(1024)).into_bytes())
        .collect();
    let cases: [(&[u8], u16, &[u8]); 3] = [
        (&broken, 400, b"bad request body\n"),
        (&too_large, 413, b"request body too large\n"),
        // Nothing more: the body stalls.
        (b"", 408, b"request body too slow\n"),
    ];
    for (at, (rest, status, text)) in cases.into_iter().enumerate() {
        let mut client = RawClient::connect(proxy.addr).await;
        client.write(head("/other").as_bytes()).await;
        // The first chunk is upstream before the rest is sent.
        upstream
            .wait_until(|c| c.len() == at + 1 && c[at].bytes.windows(5).any(|w| w == b"hello"))
            .await;
        client.write(rest).await;
        let answer = parse(&client.read_to_close().await);
        assert_eq!(answer.status(), status);
        assert_eq!(answer.body, text);
        assert_eq!(answer.header_str("connection"), Some("close"));
        upstream.wait_until(|c| c[at].closed).await;
        let cut = &upstream.connections()[at].bytes;
        assert!(cut.starts_with(b"POST /other HTTP/1.1\r\n"));
        assert!(
            !cut.ends_with(b"0\r\n\r\n"),
            "{status}: the upstream never got a last chunk: {:?}",
            String::from_utf8_lossy(cut)
        );
    }

    let mut client = RawClient::connect(proxy.addr).await;
    client.write(head(IV_PATH).as_bytes()).await;
    client.write(&broken).await;
    let answer = parse(&client.read_to_close().await);
    assert_eq!(answer.status(), 400);
    assert_eq!(answer.body, b"bad request body\n");
    assert_eq!(
        upstream.connections().len(),
        3,
        "nothing more went upstream"
    );
    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 1);
    assert_eq!(event(&lines[0])["resolution_outcome"], "request_unreadable");
    assert!(socure.requests().is_empty());
}
