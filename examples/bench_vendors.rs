//! Fake vendors for the benchmarks in `benches/`: a fast LexisNexis that
//! answers every request with the InstantVerify success fixture, a Socure that
//! drops packets (a listening socket whose accept queue is full and never
//! drained, so new SYNs go unanswered), a slow Socure that reads each
//! request and answers the all-verified fixture 2 s later
//! (`benches/side_by_side.sh`), and a fast Socure that answers it at once
//! (`benches/instructions.sh`).
//!
//! The fake LexisNexis answers a large body instead (`LARGE_BYTES` of
//! JSON-ish bytes) to a request for `/large`, or for any path with the query
//! `large` (so the InstantVerify path can have one too), for clients that
//! never read their answer (`benches/hostile_memory.sh`).
//!
//! Prints `lexis_nexis=ADDR socure=ADDR socure_slow=ADDR large_path=/large
//! large_bytes=N socure_fast=ADDR` on its first line, then serves until
//! killed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const ANSWER: &[u8] =
    include_bytes!("../tests/fixtures/lexis_nexis/instant_verify/successful_response.json");
const SOCURE_ANSWER: &[u8] = include_bytes!("../tests/fixtures/socure/kyc_all_verified.json");
/// How long the slow Socure waits, after reading a request, before answering.
const SLOW_SOCURE_DELAY: Duration = Duration::from_secs(2);
/// The large answer's size: far more than the kernel's socket buffers
/// between the proxy and a client that never reads take (here the proxy's
/// send buffer grows to 4 MiB, `tcp_wmem`'s maximum, and the client's
/// receive buffer stays at 128 KiB), so such a client stalls the proxy's
/// writes.
const LARGE_BYTES: usize = 16 * 1024 * 1024;
const LARGE_PATH: &str = "/large";

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let lexis_nexis = TcpListener::bind("127.0.0.1:0").await?;
    // Backlog 1 and no accept: after the queue fills, the kernel drops SYNs.
    let socure = TcpSocket::new_v4()?;
    socure.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let socure = socure.listen(1)?;
    // Fill the queue now, so the proxy's very first connect already hangs.
    let _fillers = [
        TcpStream::connect(socure.local_addr()?).await?,
        TcpStream::connect(socure.local_addr()?).await?,
    ];
    let socure_slow = TcpListener::bind("127.0.0.1:0").await?;
    let socure_fast = TcpListener::bind("127.0.0.1:0").await?;
    println!(
        "lexis_nexis={} socure={} socure_slow={} large_path={LARGE_PATH} large_bytes={LARGE_BYTES} socure_fast={}",
        lexis_nexis.local_addr()?,
        socure.local_addr()?,
        socure_slow.local_addr()?,
        socure_fast.local_addr()?
    );

    tokio::spawn(serve(socure_slow, SOCURE_ANSWER, None, SLOW_SOCURE_DELAY));
    tokio::spawn(serve(socure_fast, SOCURE_ANSWER, None, Duration::ZERO));
    serve(lexis_nexis, ANSWER, Some(large_answer()), Duration::ZERO).await
}

/// `{"large":"xxx…"}`, `LARGE_BYTES` long.
fn large_answer() -> Bytes {
    let mut body = Vec::with_capacity(LARGE_BYTES);
    body.extend_from_slice(b"{\"large\":\"");
    body.resize(LARGE_BYTES - 2, b'x');
    body.extend_from_slice(b"\"}");
    Bytes::from(body)
}

/// Answers every request on `listener` with `answer` (application/json),
/// `delay` after reading the request's body; with `large`, a request for
/// `LARGE_PATH` or with the query `large` gets that instead.
async fn serve(
    listener: TcpListener,
    answer: &'static [u8],
    large: Option<Bytes>,
    delay: Duration,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let large = large.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let large = large.clone().filter(|_| {
                    request.uri().path() == LARGE_PATH || request.uri().query() == Some("large")
                });
                async move {
                    // Read the body as a real vendor would before answering,
                    // frame by frame: a held body costs this fake nothing.
                    let mut body = request.into_body();
                    while let Some(Ok(_)) = body.frame().await {}
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let answer = large.unwrap_or(Bytes::from_static(answer));
                    let mut response = hyper::Response::new(Full::new(answer));
                    response.headers_mut().insert(
                        "content-type",
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
