//! Fake vendors for the benchmark in `benches/unreachable_socure.sh`: a fast
//! LexisNexis that answers every request with the InstantVerify success
//! fixture, and a Socure that drops packets (a listening socket whose accept
//! queue is full and never drained, so new SYNs go unanswered).
//!
//! Prints `lexis_nexis=ADDR socure=ADDR` on its first line, then serves until killed.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const ANSWER: &[u8] =
    include_bytes!("../tests/fixtures/lexis_nexis/instant_verify/successful_response.json");

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
    println!(
        "lexis_nexis={} socure={}",
        lexis_nexis.local_addr()?,
        socure.local_addr()?
    );

    loop {
        let (stream, _) = lexis_nexis.accept().await?;
        tokio::spawn(async move {
            let service = service_fn(
                |request: hyper::Request<hyper::body::Incoming>| async move {
                    // Read the body as a real vendor would before answering.
                    let _ = request.into_body().collect().await;
                    let mut response = hyper::Response::new(Full::new(Bytes::from_static(ANSWER)));
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
