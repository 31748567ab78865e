//! The hand-written HTTP/1.1 lane of a data-port connection: reads each request head itself, carries the plain ones through `proxy::plain`, and hands the connection to hyper, bytes read included, at the first head that is not plain.
//!
//! Pingora's way, for the one shape of request this proxy lives for: the
//! IdV app's InstantVerify `POST`, over and over on a keep-alive
//! connection. Everything else (HTTP/2, upgrades, `Expect`, chunked
//! request bodies, malformed or oversized heads, `CONNECT`...) stays with
//! hyper, which has the answers to those cases; a connection that meets
//! one goes on under hyper for the rest of its life. The connection's
//! deadlines (`deadline`) and its drain are the same for both: the caller
//! runs this under the same watchdog as hyper.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

use crate::ingress::deadline::Activity;
use crate::proxy::Proxy;
use crate::proxy::head::{self, Parsed};
use crate::proxy::plain::{self, After, Scratch};

/// The first read's room: an InstantVerify request (head and body) fits.
const FIRST_READ: usize = 4096;

/// Serves plain requests on `io` until the client is done (`None`) or a
/// head is not plain: then the bytes read of it (and past it) are returned
/// for hyper, which serves the rest of the connection. `stop` is the
/// drain: an idle connection closes at once, a busy one after its answer.
pub async fn serve<IO>(
    proxy: &Proxy,
    io: &mut IO,
    activity: &Arc<Activity>,
    stop: &CancellationToken,
    max_head_bytes: usize,
) -> Option<Bytes>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = BytesMut::with_capacity(FIRST_READ);
    let mut scratch = Scratch::default();
    let upstream_host = proxy.upstream_host();
    // Larger bodies are hyper's, which streams them (`plain::MAX_BODY`).
    let max_body = proxy.max_request_body_bytes().min(plain::MAX_BODY) as u64;
    loop {
        let head = loop {
            if !buf.is_empty() {
                match head::parse(
                    &buf,
                    max_head_bytes,
                    max_body,
                    upstream_host,
                    &mut scratch.out,
                ) {
                    Parsed::Plain(head) => break head,
                    Parsed::NotPlain => return Some(buf.freeze()),
                    Parsed::Partial => {}
                }
            }
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(FIRST_READ);
            }
            let read = tokio::select! {
                read = io.read_buf(&mut buf) => read,
                () = stop.cancelled(), if buf.is_empty() => return None,
            };
            match read {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        };
        let open = activity.request();
        let after = proxy
            .plain(io, &mut buf, head, &mut scratch, stop.is_cancelled())
            .await;
        drop(open);
        activity.request_ended();
        if after == After::Close {
            return None;
        }
        // Keep the buffer small between requests: a large body read once
        // should not stay with the connection.
        if buf.is_empty() && buf.capacity() > 4 * FIRST_READ {
            buf = BytesMut::with_capacity(FIRST_READ);
        }
    }
}

/// A connection whose first bytes were already read: they are read again
/// first, then the socket.
pub struct Prefixed<IO> {
    prefix: Bytes,
    inner: IO,
}

impl<IO> Prefixed<IO> {
    pub fn new(prefix: Bytes, inner: IO) -> Self {
        Self { prefix, inner }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Prefixed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let take = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..take]);
            this.prefix.advance(take);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Prefixed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn prefixed_reads_its_prefix_then_the_socket() {
        let (mut near, far) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut near, b" world")
            .await
            .expect("write");
        drop(near);
        let mut io = Prefixed::new(Bytes::from_static(b"hello"), far);
        let mut all = String::new();
        io.read_to_string(&mut all).await.expect("read");
        assert_eq!(all, "hello world");
    }
}
