//! How many requests may be on their way to the upstream at once: at most `listen.max_connections` for the process, and at most [`PER_CLIENT_CONNECTION`] for one HTTP/2 client connection.
//!
//! Each request in flight holds an upstream connection (and its buffers)
//! until its answer's body is done or dropped, so this is what bounds the
//! descriptors and memory upstream connections take, whatever clients do:
//! an HTTP/2 client that opens a hundred streams and never reads their
//! answers holds at most eight upstream connections, and its other streams
//! wait their turn (its connection is closed at the write timeout anyway).
//! HTTP/1 needs no share of its own: one request at a time. The process's
//! bound equals the client connections' own: with every connection holding
//! one answer the IdV app never meets it; past it the proxy answers 503 at
//! once rather than queue (Envoy's circuit breaker, nginx's
//! `worker_connections` covering both sides).
//!
//! Taking a permit is one atomic operation; a waiting HTTP/2 stream waits on
//! its own connection's semaphore, never on a lock.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ops::metrics::BusyLimit;
use crate::upstream::pool::Pooled;

/// Upstream requests one HTTP/2 client connection may have in flight; its
/// other streams wait. The IdV app opens a handful of streams at most.
pub const PER_CLIENT_CONNECTION: usize = 8;

/// One HTTP/2 client connection's share: made by the listener per
/// connection, carried to the upstream in each of its requests' extensions.
#[derive(Clone)]
pub struct ConnectionShare(Arc<Semaphore>);

impl ConnectionShare {
    pub fn new() -> Self {
        Self(Arc::new(Semaphore::new(PER_CLIENT_CONNECTION)))
    }
}

impl Default for ConnectionShare {
    fn default() -> Self {
        Self::new()
    }
}

/// The process's requests in flight.
pub struct InFlight {
    permits: Arc<Semaphore>,
    max: usize,
}

/// A request's place in flight, with its connection's share if it has one;
/// both given back when the answer's body is done or dropped.
pub struct Permit {
    _process: OwnedSemaphorePermit,
    _share: Option<OwnedSemaphorePermit>,
}

impl InFlight {
    pub fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Requests in flight now.
    pub fn held(&self) -> usize {
        self.max.saturating_sub(self.permits.available_permits())
    }

    /// A place for one request: the connection's share first (waited for,
    /// at most `wait`), then the process's (taken at once, or refused).
    pub async fn take(
        &self,
        share: Option<ConnectionShare>,
        wait: std::time::Duration,
    ) -> Result<Permit, BusyLimit> {
        let share = match share {
            Some(ConnectionShare(semaphore)) => {
                match tokio::time::timeout(wait, semaphore.acquire_owned()).await {
                    Ok(Ok(permit)) => Some(permit),
                    _ => return Err(BusyLimit::Connection),
                }
            }
            None => None,
        };
        let process = Arc::clone(&self.permits)
            .try_acquire_owned()
            .map_err(|_| BusyLimit::Process)?;
        Ok(Permit {
            _process: process,
            _share: share,
        })
    }
}

/// The upstream's answer body, holding its request's [`Permit`] until the
/// body is done (or dropped): the connection under it is busy until then.
/// It also holds that connection while HTTP/1 is busy with the answer, and
/// gives it back to the pool once the answer is read (or closes it, if the
/// body was dropped half read).
pub struct UpstreamBody {
    inner: hyper::body::Incoming,
    permit: Option<Permit>,
    connection: Option<Pooled>,
}

impl UpstreamBody {
    pub fn new(inner: hyper::body::Incoming, permit: Permit, connection: Option<Pooled>) -> Self {
        Self {
            inner,
            permit: Some(permit),
            connection,
        }
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // hyper's server stops polling a body whose length says it is done,
        // so a whole answer is often dropped here, not read to its end.
        if let Some(connection) = self.connection.take() {
            connection.release(self.inner.is_end_stream());
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            if let Some(connection) = this.connection.take() {
                connection.release(true);
            }
            // The connection is back in the pool (or closed): its place too.
            this.permit = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_takes_its_share_and_the_process_its_bound() {
        let in_flight = InFlight::new(10);
        let share = ConnectionShare::new();
        let mut held = Vec::new();
        for _ in 0..PER_CLIENT_CONNECTION {
            held.push(
                in_flight
                    .take(Some(share.clone()), Duration::from_secs(1))
                    .await
                    .expect("within its share"),
            );
        }
        assert_eq!(in_flight.held(), PER_CLIENT_CONNECTION);
        // The ninth waits for its connection's share, then gives up.
        assert_eq!(
            in_flight
                .take(Some(share.clone()), Duration::from_secs(1))
                .await
                .err(),
            Some(BusyLimit::Connection)
        );
        // Another connection is not held up by this one's share...
        let other = in_flight
            .take(Some(ConnectionShare::new()), Duration::from_secs(1))
            .await
            .expect("its own share");
        let plain = in_flight
            .take(None, Duration::ZERO)
            .await
            .expect("an HTTP/1 request");
        // ... but the process's bound holds for everyone.
        assert_eq!(
            in_flight.take(None, Duration::ZERO).await.err(),
            Some(BusyLimit::Process)
        );
        drop((other, plain));
        // A place given back wakes the one waiting on the share.
        let waiting = {
            let share = share.clone();
            async move { in_flight.take(Some(share), Duration::from_secs(5)).await }
        };
        let waiter = tokio::spawn(waiting);
        tokio::task::yield_now().await;
        drop(held.pop());
        assert!(waiter.await.expect("joined").is_ok());
    }
}
