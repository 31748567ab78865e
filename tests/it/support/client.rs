//! The client side: a connection that writes raw bytes and reads raw answers, one request on a new connection, a GET to the admin listener.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Message, TEST_BOUND, read_message, request};

/// A client connection that speaks raw bytes.
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.expect("connect to proxy"),
            buf: Vec::new(),
        }
    }

    /// Writes `bytes` without waiting for an answer.
    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write request");
    }

    /// Everything the proxy sends until it closes the connection, raw.
    pub async fn read_to_close(&mut self) -> Vec<u8> {
        let mut all = std::mem::take(&mut self.buf);
        tokio::time::timeout(TEST_BOUND, self.stream.read_to_end(&mut all))
            .await
            .expect("proxy closed in time")
            .ok();
        all
    }

    /// Writes `bytes` and reads one response, bounded by [`TEST_BOUND`].
    pub async fn send(&mut self, bytes: &[u8]) -> Message {
        self.stream.write_all(bytes).await.expect("write request");
        self.receive(TEST_BOUND)
            .await
            .expect("proxy answered in time")
    }

    /// Reads one response, or `None` if none came within `bound`.
    pub async fn receive(&mut self, bound: Duration) -> Option<Message> {
        tokio::time::timeout(bound, read_message(&mut self.stream, &mut self.buf, true))
            .await
            .ok()
            .map(|read| {
                read.expect("read response")
                    .expect("a response before close")
            })
    }
}

/// A GET to the admin listener: status and body.
pub async fn admin_get(admin: SocketAddr, path: &str) -> (u16, String) {
    let answer = send(admin, &request("GET", path, &[], b"")).await;
    (
        answer.status(),
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

/// One request on a new connection.
pub async fn send(addr: SocketAddr, bytes: &[u8]) -> Message {
    RawClient::connect(addr).await.send(bytes).await
}
