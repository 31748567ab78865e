//! The request body's pace: a client must keep sending its body, at a minimum average rate after a grace period, or the body fails with [`BodyTimedOut`] (408 to the client; a shadowed request's line says why).
//!
//! Beside the other body types because the upstream's client meets this
//! error too, when a slow body is streamed out rather than read first.
//!
//! Without it a client that declares a large body and then stalls, or sends
//! a byte a second, holds its connection, its task and whatever was read so
//! far for as long as it likes. Two rules, either of which ends the body:
//! - no byte for `grace` (nginx's `client_body_timeout`: a stall, counted
//!   from the last byte, so a client that sent most of a large body at
//!   once and then stopped is not given credit for it);
//! - Kestrel's minimum data rate: the body may take `grace` plus one second
//!   for every `min_rate` bytes received, so a trickle ends soon after the
//!   grace period, while a large body sent at any sane speed never notices.
//!
//! A timer is armed only when a read has to wait: a body that arrives with
//! its head (every InstantVerify request) never makes one, and the clock is
//! read only then.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::error::BoxError;

/// How fast a request body must come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// The longest a body may go without a byte, and the time any body may
    /// take before its average rate counts.
    pub grace: Duration,
    /// Bytes a second the client must keep up past the grace period.
    pub min_rate: u64,
}

/// The client did not keep its body's pace.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("request body slower than {min_rate} bytes a second after {grace:?}")]
pub struct BodyTimedOut {
    grace: Duration,
    min_rate: u64,
}

/// A request body held to a [`Pace`].
pub struct Paced<B> {
    inner: B,
    pace: Pace,
    started: Instant,
    received: u64,
    /// When the current wait began: the first read that waited after the
    /// last byte (within a poll of it, which is as exact as a stall needs).
    waiting_since: Option<Instant>,
    /// Armed on the first read that waits; boxed so the body stays `Unpin`.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> Paced<B> {
    /// The clock starts now: call when the request's head has arrived.
    pub fn new(inner: B, pace: Pace) -> Self {
        Self {
            inner,
            pace,
            started: Instant::now(),
            received: 0,
            waiting_since: None,
            timer: None,
        }
    }

    /// The nearer of the two rules' deadlines, for a wait that began at
    /// `waiting_since`.
    fn deadline(&self, waiting_since: Instant) -> Instant {
        let stall = waiting_since + self.pace.grace;
        let earned = if self.pace.min_rate == 0 {
            Duration::MAX
        } else {
            Duration::from_secs_f64(self.received as f64 / self.pace.min_rate as f64)
        };
        let slow = self
            .started
            .checked_add(self.pace.grace.saturating_add(earned))
            .unwrap_or_else(far_future);
        stall.min(slow)
    }
}

/// Later than any connection lives.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

impl<B> Body for Paced<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received = this.received.saturating_add(data.len() as u64);
                }
                this.waiting_since = None;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let waiting_since = *this.waiting_since.get_or_insert_with(Instant::now);
                let deadline = this.deadline(waiting_since);
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut {
                        grace: this.pace.grace,
                        min_rate: this.pace.min_rate,
                    })))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
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
    use super::*;
    use http_body_util::BodyExt;
    use http_body_util::channel::{Channel, Sender};

    const PACE: Pace = Pace {
        grace: Duration::from_secs(10),
        min_rate: 1000,
    };

    fn channel_body() -> (Sender<Bytes>, Channel<Bytes>) {
        let (tx, body) = Channel::new(8);
        (tx, body)
    }

    /// Reads `paced` on, expecting the next frame to be the timeout.
    async fn next_is_timeout(paced: &mut Paced<Channel<Bytes>>) {
        let err = paced
            .frame()
            .await
            .expect("a frame")
            .expect_err("timed out");
        assert!(err.is::<BodyTimedOut>());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_after_the_grace_period() {
        let (tx, body) = channel_body();
        let mut paced = Paced::new(body, PACE);
        let started = Instant::now();
        next_is_timeout(&mut paced).await;
        assert_eq!(started.elapsed(), PACE.grace);
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_after_a_fast_start_ends_at_the_grace_period_from_the_last_byte() {
        let (mut tx, body) = channel_body();
        let mut paced = Paced::new(body, PACE);
        let started = Instant::now();
        tx.send_data(Bytes::from(vec![b'x'; 5000]))
            .await
            .expect("sent");
        let frame = paced.frame().await.expect("a frame").expect("data");
        assert_eq!(frame.data_ref().map(Bytes::len), Some(5000));
        next_is_timeout(&mut paced).await;
        // Stalled after its first bytes: 10 s from the last byte, not the
        // 15 s those 5,000 bytes earned at 1,000 a second.
        assert_eq!(started.elapsed(), PACE.grace);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_under_the_minimum_rate_ends_soon_after_the_grace_period() {
        let (mut tx, body) = channel_body();
        let mut paced = Paced::new(body, PACE);
        let started = Instant::now();
        let trickle = tokio::spawn(async move {
            // 100 bytes a second, a tenth of the minimum, never a stall.
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if tx
                    .send_data(Bytes::from_static(b"0123456789"))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        loop {
            match paced.frame().await.expect("a frame") {
                Ok(_) => continue,
                Err(err) => {
                    assert!(err.is::<BodyTimedOut>());
                    break;
                }
            }
        }
        // 10 s of grace, plus the second or so its ~1,000 bytes earned.
        let took = started.elapsed();
        assert!(
            took > PACE.grace && took < PACE.grace + Duration::from_secs(2),
            "{took:?}"
        );
        trickle.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_ends_in_time_is_passed_whole() {
        let (mut tx, body) = channel_body();
        let mut paced = Paced::new(body, PACE);
        tx.send_data(Bytes::from_static(b"whole"))
            .await
            .expect("sent");
        drop(tx);
        let collected = (&mut paced).collect().await.expect("whole body");
        assert_eq!(collected.to_bytes(), "whole");
    }
}
