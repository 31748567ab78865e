//! Fake vendors for the benchmarks in `benches/`: a fast LexisNexis that
//! answers every request with the InstantVerify success fixture, a Socure that
//! drops packets (a listening socket whose accept queue is full and never
//! drained, so new SYNs go unanswered), and a slow Socure that reads each
//! request and answers the all-verified fixture 2 s later
//! (`benches/side_by_side.sh`).
//!
//! Prints `lexis_nexis=ADDR socure=ADDR socure_slow=ADDR` on its first line,
//! then serves until killed.

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
    println!(
        "lexis_nexis={} socure={} socure_slow={}",
        lexis_nexis.local_addr()?,
        socure.local_addr()?,
        socure_slow.local_addr()?
    );

    tokio::spawn(serve(socure_slow, SOCURE_ANSWER, SLOW_SOCURE_DELAY));
    serve(lexis_nexis, ANSWER, Duration::ZERO).await
}

/// Answers every request on `listener` with `answer` (application/json),
/// `delay` after reading the request's body.
async fn serve(
    listener: TcpListener,
    answer: &'static [u8],
    delay: Duration,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let service = service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| async move {
                    // Read the body as a real vendor would before answering.
                    let _ = request.into_body().collect().await;
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let mut response = hyper::Response::new(Full::new(Bytes::from_static(answer)));
                    response.headers_mut().insert(
                        "content-type",
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(response)
                },
            );
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
