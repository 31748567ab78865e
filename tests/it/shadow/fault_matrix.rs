//! Exactly one line per shadowed request, whatever happened to either side,
//! and it says what. The fault matrix drives every way either side can fail
//! through the proxy on its own: each leaves exactly one line whose fields say
//! what happened, and the client gets exactly what the upstream sent (or the
//! proxy's own 502/504 when the upstream sent nothing). The faults the matrix
//! cannot express (the client leaving, an answer cut short on its way to the
//! client) have their own tests below it.

use std::time::Duration;

use crate::support::*;
use serde_json::Value;

/// What the client must get.
enum ClientGets {
    /// Exactly these upstream bytes, parsed.
    Upstream(Vec<u8>),
    /// The proxy's own answer.
    Proxy(u16, &'static [u8]),
}

struct Case {
    name: &'static str,
    upstream: Reply,
    socure: Reply,
    body: Vec<u8>,
    client: ClientGets,
    resolution_outcome: &'static str,
    resolution_exception: Option<&'static str>,
    socure_outcome: &'static str,
    /// The Socure exception, or the not-sent reason, when there is one.
    socure_says: Option<&'static str>,
}

fn ln_ok() -> Vec<u8> {
    json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    ))
}

fn socure_ok() -> Reply {
    Reply::Now(json_ok(&fixture("socure/kyc_all_verified.json")))
}

fn applicant() -> Vec<u8> {
    fixture("lexis_nexis/instant_verify/request.json")
}

fn cases() -> Vec<Case> {
    let mut all = socure_side();
    all.extend(upstream_side());
    all.extend(request_side());
    all
}

/// A case where LexisNexis answers `upstream` and the client gets it.
/// `case` with LexisNexis resetting the connection: the client gets the
/// proxy's 502, and the line says why.
fn upstream_reset(case: Case) -> Case {
    Case {
        resolution_outcome: "upstream_failed",
        resolution_exception: Some(
            "LexisNexis request failed: connection closed before the answer was complete",
        ),
        upstream: Reply::Reset,
        client: ClientGets::Proxy(502, b"upstream unavailable\n"),
        ..case
    }
}

fn base(
    name: &'static str,
    upstream: Vec<u8>,
    socure: Reply,
    socure_outcome: &'static str,
    socure_says: Option<&'static str>,
) -> Case {
    Case {
        name,
        upstream: Reply::Now(upstream.clone()),
        socure,
        body: applicant(),
        client: ClientGets::Upstream(upstream),
        resolution_outcome: "answered",
        resolution_exception: None,
        socure_outcome,
        socure_says,
    }
}

/// Socure failing every way it can, LexisNexis answering.
fn socure_side() -> Vec<Case> {
    let cut_json = {
        let full = json_ok(&fixture("socure/kyc_all_verified.json"));
        full[..full.len() - 40].to_vec()
    };
    vec![
        base(
            "socure timeout",
            ln_ok(),
            Reply::Hang,
            "timed_out",
            Some("Timed out waiting for verification response"),
        ),
        base(
            "socure reset",
            ln_ok(),
            Reply::Reset,
            "failed",
            Some("Connection failed: connection reset"),
        ),
        base(
            "socure cut mid-answer",
            ln_ok(),
            Reply::CutMidBody(cut_json),
            "failed",
            Some("Connection failed: connection closed before the answer was complete"),
        ),
        base(
            "socure 4xx JSON",
            ln_ok(),
            Reply::Now(response(
                "400 Bad Request",
                &[("Content-Type", "application/json")],
                &fixture("socure/error_400.json"),
            )),
            "answered",
            Some("Request-specific error message goes here (400)"),
        ),
        base(
            "socure 5xx text",
            ln_ok(),
            Reply::Now(response(
                "503 Service Unavailable",
                &[("Content-Type", "text/plain")],
                b"It works!",
            )),
            "answered",
            Some("the server responded with status 503 (503)"),
        ),
        base(
            "socure 200 not JSON",
            ln_ok(),
            Reply::Now(response(
                "200 OK",
                &[("Content-Type", "text/html")],
                b"<html></html>",
            )),
            "answered",
            Some("Response body is not a JSON object (200)"),
        ),
        base(
            "socure 200 without kyc",
            ln_ok(),
            Reply::Now(json_ok(&fixture("socure/kyc_missing_section.json"))),
            "answered",
            Some("No kyc section on response"),
        ),
    ]
}

/// LexisNexis failing every way it can (and once both sides at once).
fn upstream_side() -> Vec<Case> {
    let ln_404 = response(
        "404 Not Found",
        &[("Content-Type", "text/plain")],
        b"no such account",
    );
    let ln_503 = response(
        "503 Service Unavailable",
        &[("Content-Type", "text/plain")],
        b"down",
    );
    let ln_html = response(
        "200 OK",
        &[("Content-Type", "text/html")],
        b"<html>FAKEY maintenance</html>",
    );
    vec![
        Case {
            resolution_outcome: "upstream_timeout",
            resolution_exception: Some("LexisNexis timed out waiting for verification response"),
            upstream: Reply::Hang,
            client: ClientGets::Proxy(504, b"upstream timed out\n"),
            ..base(
                "upstream timeout",
                Vec::new(),
                socure_ok(),
                "answered",
                None,
            )
        },
        upstream_reset(base(
            "upstream reset",
            Vec::new(),
            socure_ok(),
            "answered",
            None,
        )),
        upstream_reset(base(
            "both sides reset",
            Vec::new(),
            Reply::Reset,
            "failed",
            Some("Connection failed: connection reset"),
        )),
        Case {
            resolution_exception: Some(
                "An error occured parsing the response body JSON, status=200 content_type=text/html",
            ),
            ..base("upstream not JSON", ln_html, socure_ok(), "answered", None)
        },
        Case {
            resolution_exception: Some("Unexpected status code '404'"),
            ..base("upstream 4xx", ln_404, socure_ok(), "answered", None)
        },
        Case {
            resolution_exception: Some("Unexpected status code '503'"),
            ..base("upstream 5xx", ln_503, socure_ok(), "answered", None)
        },
    ]
}

/// The request itself not an applicant the mirror can send.
fn request_side() -> Vec<Case> {
    vec![
        Case {
            body: b"FAKEY MCFAKERSON, not JSON".to_vec(),
            ..base(
                "body not JSON",
                ln_ok(),
                socure_ok(),
                "not_sent",
                Some("request body is not JSON (stopped at line 1, column 1)"),
            )
        },
        Case {
            body: br#"{"Settings":{"Reference":"fake"},"Person":{}}"#.to_vec(),
            ..base(
                "body not an applicant",
                ln_ok(),
                socure_ok(),
                "not_sent",
                Some(
                    "request body is not an InstantVerify applicant: no identity fields in Person",
                ),
            )
        },
    ]
}

fn exception(result: &Value) -> Option<&str> {
    result["exception"].as_str()
}

#[tokio::test]
async fn every_fault_leaves_one_line_that_says_what_happened() {
    for case in cases() {
        let (answer, lines, socure) = drive(&case).await;
        assert_client_got(&case, &answer);
        assert_eq!(lines.len(), 1, "{}: exactly one line", case.name);
        assert!(
            !lines[0].to_string().contains("FAKEY"),
            "{}: no part of either body",
            case.name
        );
        assert_line_says(&case, event(&lines[0]), &socure);
    }
}

/// Runs one case through its own proxy: the client's answer, the lines and
/// the fake Socure (to count its calls).
async fn drive(case: &Case) -> (Message, Vec<Value>, FakeVendor) {
    let upstream_reply = case.upstream.clone();
    let upstream = FakeVendor::start(move |_| upstream_reply.clone()).await;
    let socure_reply = case.socure.clone();
    let socure = FakeVendor::start(move |_| socure_reply.clone()).await;
    let options = Options {
        socure_timeout_seconds: 0.5,
        upstream_timeout_seconds: 0.5,
        ..Options::default()
    };
    let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;
    let answer = send(proxy.addr, &iv_post(&case.body)).await;
    let lines = tokio::time::timeout(Duration::from_secs(10), proxy.finish())
        .await
        .expect("finish");
    (answer, lines, socure)
}

fn assert_client_got(case: &Case, answer: &Message) {
    match &case.client {
        ClientGets::Upstream(raw) => {
            let sent = parse(raw);
            assert_eq!(answer.start_line, sent.start_line, "{}", case.name);
            assert_eq!(
                answer.end_to_end_headers(&[]),
                sent.end_to_end_headers(&[]),
                "{}",
                case.name
            );
            assert_eq!(answer.body, sent.body, "{}", case.name);
        }
        ClientGets::Proxy(status, body) => {
            assert_eq!(answer.status(), *status, "{}", case.name);
            assert_eq!(answer.body, *body, "{}", case.name);
        }
    }
}

/// The line's outcomes and exceptions are the case's, and Socure was
/// called once (no retry) or, when nothing was sent, never.
fn assert_line_says(case: &Case, e: &Value, socure: &FakeVendor) {
    let name = case.name;
    assert_eq!(e["resolution_outcome"], case.resolution_outcome, "{name}");
    assert_eq!(
        exception(resolution(e)),
        case.resolution_exception,
        "{name}"
    );
    assert_eq!(e["socure_outcome"], case.socure_outcome, "{name}");
    if case.socure_outcome == "not_sent" {
        assert!(e["socure_result"].is_null(), "{name}");
        assert_eq!(
            e["socure_not_sent_reason"].as_str(),
            case.socure_says,
            "{name}"
        );
        assert!(socure.requests().is_empty(), "{name}: no Socure call");
    } else {
        assert_eq!(exception(&e["socure_result"]), case.socure_says, "{name}");
        assert_eq!(socure.requests().len(), 1, "{name}: one call, no retry");
    }
}

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
        resolution(e)["exception"],
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
        resolution(e)["exception"],
        "LexisNexis request failed: connection closed before the answer was complete"
    );
}

/// The config for a proxy in front of `upstream` whose Socure is `socure`
/// over TLS (at 127.0.0.1, the name its certificate must carry), trusting
/// `ca` besides the web PKI's roots when given.
fn socure_over_tls(
    upstream: std::net::SocketAddr,
    socure: std::net::SocketAddr,
    ca: Option<&std::path::Path>,
    log: &std::path::Path,
) -> String {
    let plain = format!("base_url = \"http://{socure}\"");
    let toml = Options::default().toml(upstream, socure, log);
    assert!(toml.contains(&plain));
    // `[socure]` is the last section: a key added at the end is its own.
    let ca = ca.map_or_else(String::new, |ca| {
        format!("ca_file = \"{}\"\n", ca.display())
    });
    toml.replace(&plain, &format!("base_url = \"https://{socure}\"")) + &ca
}

/// A Socure certificate the proxy cannot accept (from a CA it does not
/// trust, for another name, expired) fails the call in the handshake;
/// nothing crosses, and the line's exception names rustls's reason instead
/// of a bare "could not connect". The first such failure is logged with the
/// reason too; no secret in either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socure_certificate_refused_in_the_handshake_is_named_with_its_reason() {
    use crate::support::tls::{TestPki, TlsVendor};

    let upstream = FakeVendor::always(ln_ok()).await;
    let stranger = TestPki::new("stranger");
    let socure = TlsVendor::start_as(&stranger.leaf("socure", &["127.0.0.1"]), "127.0.0.1").await;
    let proxy = ProxyProcess::start_toml(
        |log| socure_over_tls(upstream.addr, socure.addr, None, log),
        &[],
    );
    let answer = send(proxy.addr, &iv_post(&applicant())).await;
    assert_eq!(answer.status(), 200, "forwarded as always");
    let logged = proxy.wait_for_stderr("Socure TLS");
    assert!(
        logged.contains("invalid peer certificate: UnknownIssuer"),
        "{logged}"
    );
    proxy.signal(nix::sys::signal::Signal::SIGTERM);
    // Waiting blocks this thread; the fakes serve from the other worker.
    assert!(proxy.wait_exit(TEST_BOUND).is_some_and(|s| s.success()));
    let lines = proxy.log_lines();
    assert_eq!(lines.len(), 1);
    let e = event(&lines[0]);
    assert_eq!(e["socure_outcome"], "failed");
    assert_eq!(
        exception(&e["socure_result"]),
        Some("Connection failed: TLS: invalid peer certificate: UnknownIssuer")
    );
    let stderr = String::from_utf8_lossy(&proxy.stderr()).into_owned();
    for output in [&stderr, &lines[0].to_string()] {
        assert!(!output.contains(API_KEY), "no secret: {output}");
        assert!(!output.contains("FAKEY"), "no PII: {output}");
    }
    assert!(socure.seen().is_empty(), "nothing crossed the handshake");

    // Trusted, but for another name; trusted, but expired.
    let pki = TestPki::new("socure");
    let cases = [
        (
            pki.leaf("other", &["socure-elsewhere.test"]),
            "Connection failed: TLS: invalid peer certificate: certificate not valid for name \"127.0.0.1\"",
        ),
        (
            pki.expired_leaf("expired", &["127.0.0.1"]),
            "Connection failed: TLS: invalid peer certificate: certificate expired",
        ),
    ];
    for (leaf, says) in cases {
        let socure = TlsVendor::start_as(&leaf, "127.0.0.1").await;
        let proxy = TestProxy::from_toml(|log| {
            socure_over_tls(upstream.addr, socure.addr, Some(&pki.ca_cert), log)
        })
        .await;
        assert_eq!(send(proxy.addr, &iv_post(&applicant())).await.status(), 200);
        let lines = proxy.finish().await;
        let exception = exception(&event(&lines[0])["socure_result"]).unwrap_or_default();
        assert!(exception.starts_with(says), "{exception}");
        assert!(socure.seen().is_empty());
    }
}
