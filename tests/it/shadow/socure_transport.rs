//! The Socure client's HTTP/1.1 on the wire: every framing of an answer read whole, the connection kept between calls and dropped when it cannot carry another, the size limit applied before the body is read, and what is not HTTP named as such.

use std::time::Duration;

use crate::support::*;
use socure_shadow_proxy::SocureClient;
use socure_shadow_proxy::config::{DailyLimit, Secret, SocureConfig};
use socure_shadow_proxy::judge::applicant::{self, Applicant};
use socure_shadow_proxy::judge::socure::{Answer, SocureError};
use socure_shadow_proxy::tls;

const BOUND: Duration = Duration::from_secs(5);

fn client(socure: &FakeVendor) -> SocureClient {
    let config = SocureConfig {
        base_url: format!("http://{}/", socure.addr).parse().expect("url"),
        timeout: BOUND,
        api_key: Some(Secret::new(API_KEY)),
        ca_file: None,
        max_calls_per_day: DailyLimit::Unlimited,
    };
    let tls = tls::client_config(None, None).expect("tls");
    SocureClient::new(&config, tls, 4).expect("client")
}

fn applicant() -> Applicant {
    applicant::parse(&fixture("lexis_nexis/instant_verify/request.json")).expect("applicant")
}

async fn call(client: &SocureClient) -> Result<Answer, SocureError> {
    client.call(&applicant(), BOUND, &mut |_| true).await
}

/// `body` as a chunked answer, in two chunks, the first with an extension.
fn chunked(body: &[u8]) -> Vec<u8> {
    let (first, second) = body.split_at(body.len() / 2);
    let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                    Transfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    out.extend_from_slice(format!("{:x};ext=1\r\n", first.len()).as_bytes());
    out.extend_from_slice(first);
    out.extend_from_slice(format!("\r\n{:X}\r\n", second.len()).as_bytes());
    out.extend_from_slice(second);
    out.extend_from_slice(b"\r\n0\r\n\r\n");
    out
}

#[tokio::test]
async fn an_answer_is_read_whole_however_it_is_framed() {
    let kyc = fixture("socure/kyc_all_verified.json");
    let mut until_close = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n".to_vec();
    until_close.extend_from_slice(&kyc);
    for (framing, reply) in [
        ("content-length", Reply::Now(json_ok(&kyc))),
        ("chunked", Reply::Now(chunked(&kyc))),
        ("until close", Reply::CutMidBody(until_close)),
    ] {
        let socure = FakeVendor::start(move |_| reply.clone()).await;
        let answer = call(&client(&socure)).await.expect(framing);
        assert_eq!(answer.status, 200, "{framing}");
        assert_eq!(
            answer.content_type.as_deref(),
            Some("application/json"),
            "{framing}"
        );
        assert_eq!(answer.body, kyc, "{framing}");
    }
}

#[tokio::test]
async fn one_connection_carries_consecutive_calls() {
    let socure = FakeVendor::always(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let client = client(&socure);
    for _ in 0..3 {
        assert_eq!(call(&client).await.expect("answer").status, 200);
    }
    assert_eq!(socure.requests().len(), 3, "one request per call");
    assert_eq!(socure.connections(), 1, "the connection was kept");
    let host = socure.addr.to_string();
    for request in socure.requests() {
        assert_eq!(request.header_str("host"), Some(host.as_str()));
        assert_eq!(
            request.header_str("content-length"),
            Some(request.body.len().to_string().as_str())
        );
    }
}

#[tokio::test]
async fn a_connection_the_answer_closes_is_not_used_again() {
    let socure = FakeVendor::always(response(
        "200 OK",
        &[
            ("Content-Type", "application/json"),
            ("Connection", "close"),
        ],
        &fixture("socure/kyc_all_verified.json"),
    ))
    .await;
    let client = client(&socure);
    for _ in 0..2 {
        assert_eq!(call(&client).await.expect("answer").status, 200);
    }
    assert_eq!(socure.connections(), 2);
}

#[tokio::test]
async fn an_answer_over_the_limit_is_refused_by_its_stated_length() {
    // The head alone says too much: the call fails without waiting for a
    // body that never comes (the fake sends none and keeps the connection).
    let socure = FakeVendor::always(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 300000\r\n\r\n"
            .to_vec(),
    )
    .await;
    assert!(matches!(
        call(&client(&socure)).await,
        Err(SocureError::TooLarge)
    ));
}

#[tokio::test]
async fn a_chunked_answer_over_the_limit_is_refused() {
    let socure = FakeVendor::always(chunked(&vec![b' '; 300 * 1024])).await;
    assert!(matches!(
        call(&client(&socure)).await,
        Err(SocureError::TooLarge)
    ));
}

#[tokio::test]
async fn an_answer_that_is_not_http_is_named_so() {
    let socure = FakeVendor::always(b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec()).await;
    let call = call(&client(&socure)).await;
    assert_eq!(
        call.map(|_| ()).map_err(|err| err.to_string()),
        Err("Connection failed: answer was not HTTP/1.1".to_owned())
    );
}

#[tokio::test]
async fn the_byte_budget_is_asked_for_every_piece() {
    let kyc = fixture("socure/kyc_all_verified.json");
    let socure = FakeVendor::always(chunked(&kyc)).await;
    let mut asked = Vec::new();
    let answer = client(&socure)
        .call(&applicant(), BOUND, &mut |n| {
            asked.push(n);
            true
        })
        .await
        .expect("answer");
    assert_eq!(asked.iter().sum::<usize>(), kyc.len());
    assert_eq!(answer.body, kyc);

    let refused = client(&socure)
        .call(&applicant(), BOUND, &mut |_| false)
        .await;
    assert!(matches!(refused, Err(SocureError::OverBudget)));
}
