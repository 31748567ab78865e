//! Each client connection's deadlines, from accept to last byte: a watchdog that closes a connection whose first request, idle time or stalled write outlasts its timeout, and drains it at its maximum age.
//!
//! hyper bounds an HTTP/1 head once it has started, but not what comes
//! before it: hyper-util's protocol sniff (HTTP/1 or HTTP/2) reads with no
//! timeout, and HTTP/2 has no idle timeout at all. A socket that sends
//! nothing, or only the HTTP/2 preface, would hold one of
//! `listen.max_connections` forever, and enough of them lock the IdV app
//! out of LexisNexis. So the clock here is the connection's own, started at
//! accept, whatever the protocol and with the TLS handshake inside it.
//!
//! The parts of a connection report to its [`Activity`] with atomics only
//! (a request begins or ends, a write waits or moves), and the watchdog
//! sleeps until the nearest deadline, then looks again: nothing on the data
//! path waits for it or wakes it, except a write that starts to wait, which
//! is already the slow case.
//!
//! An HTTP/2 answer can stall while the socket moves: a client that never
//! opens a stream's flow-control window (SETTINGS_INITIAL_WINDOW_SIZE 0,
//! no WINDOW_UPDATE) keeps answering PINGs, so no write ever waits, yet its
//! answers sit in hyper's send buffers and hold their upstream connections.
//! So each HTTP/2 answer has a [`StreamClock`]: from the moment its body is
//! handed to hyper, and after each frame it gives, it is the client's turn
//! until hyper asks for the next frame. hyper asks only once the stream's
//! window has room, so an answer whose turn outlasts the write timeout is
//! stalled by the client, and the connection is closed: every stream on it
//! is reset and every answer's upstream connection released, as HTTP/1's
//! stalled write closes its connection. hyper offers no way to reset one
//! stream from outside its body, and the body of a stalled stream is never
//! polled, so the connection is the unit.
//!
//! The request body's own pace is the data path's business
//! (`proxy::pace`): it is per request, and a shadowed request cut there
//! still gets its line.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The connection-level timeouts (`[listen]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From accept to the first request's head, TLS handshake and protocol
    /// detection included.
    pub header: Duration,
    /// With no request open, from the end of the last one.
    pub idle: Duration,
    /// A write to the client that makes no progress for this long.
    pub write: Duration,
    /// After this a connection is drained (HTTP/1 `Connection: close`,
    /// HTTP/2 GOAWAY), so no client pins one connection forever.
    pub max_age: Duration,
}

/// The phase whose deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// No whole request head since accept.
    Header,
    /// No request open for `idle`.
    Idle,
    /// A write waited `write` without moving a byte.
    Write,
    /// The connection reached `max_age`: drained, not cut.
    MaxAge,
}

/// What one connection's parts tell its watchdog.
pub struct Activity {
    opened: Instant,
    /// Requests being served: from the handler's call to the end (or drop)
    /// of its answer's body.
    open: AtomicU32,
    /// Milliseconds from `opened` to the end of the last request, plus one;
    /// 0 while no request has arrived.
    quiet_since: AtomicU64,
    /// Milliseconds from `opened` to when a write began to wait, plus one;
    /// 0 while writes are moving.
    write_waiting_since: AtomicU64,
    /// Wakes the watchdog when a write starts to wait (its deadline is then
    /// nearer than the one the watchdog sleeps towards).
    changed: Notify,
    /// HTTP/2 answers' clocks. Pushed once per answer, and pruned of the
    /// answers already gone as it grows, so it holds about as many as the
    /// streams open; read by the watchdog when it wakes.
    streams: Mutex<Vec<Arc<StreamClock>>>,
}

/// Since when an HTTP/2 answer has waited for its client to take a frame
/// (milliseconds from the connection's start, plus one; 0: hyper is asking
/// for a frame, or the answer is done).
#[derive(Default)]
pub struct StreamClock(AtomicU64);

impl Activity {
    /// Starts the connection's clock: call at accept.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            open: AtomicU32::new(0),
            quiet_since: AtomicU64::new(0),
            write_waiting_since: AtomicU64::new(0),
            changed: Notify::new(),
            streams: Mutex::new(Vec::new()),
        })
    }

    /// A clock for an HTTP/2 answer about to be handed to hyper: its turn
    /// starts now.
    pub fn stream_clock(&self) -> Arc<StreamClock> {
        let clock = Arc::new(StreamClock(AtomicU64::new(self.stamp())));
        // Held for a push (and, now and then, a prune): the answers of one
        // connection seldom meet here, and no await is held across it.
        if let Ok(mut streams) = self.streams.lock() {
            if streams.len() >= streams.capacity().max(16) {
                streams.retain(|clock| Arc::strong_count(clock) > 1);
            }
            streams.push(Arc::clone(&clock));
        }
        clock
    }

    /// The oldest turn of an HTTP/2 answer still waiting for its client.
    fn oldest_stream_turn(&self) -> Option<u64> {
        let streams = self.streams.lock().ok()?;
        streams
            .iter()
            .filter(|clock| Arc::strong_count(clock) > 1)
            .map(|clock| clock.0.load(Ordering::Relaxed))
            .filter(|&since| since != 0)
            .min()
    }

    /// Milliseconds since the connection opened, plus one (0 means "never").
    fn stamp(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    fn at(&self, stamp: u64) -> Instant {
        self.opened + Duration::from_millis(stamp.saturating_sub(1))
    }

    /// Tells the watchdog a request just ended, so the idle clock is looked
    /// at now rather than at its next look: for a reader of heads with no
    /// timer of its own (hyper bounds its next head itself; the lane does
    /// not).
    pub fn request_ended(&self) {
        self.changed.notify_one();
    }

    /// A request has arrived; it is open until the guard is dropped.
    pub fn request(self: &Arc<Self>) -> OpenRequest {
        self.open.fetch_add(1, Ordering::SeqCst);
        OpenRequest(Arc::clone(self))
    }

    fn write_waits(&self) {
        if self.write_waiting_since.load(Ordering::Relaxed) == 0 {
            self.write_waiting_since
                .store(self.stamp(), Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    fn write_moved(&self) {
        if self.write_waiting_since.load(Ordering::Relaxed) != 0 {
            self.write_waiting_since.store(0, Ordering::Relaxed);
        }
    }

    /// The nearest deadline and the phase it ends, or `None` for a time to
    /// look again (requests are open and writes are moving: no deadline
    /// runs, but one may start without telling the watchdog).
    fn next(&self, timeouts: &Timeouts, max_age: bool) -> (Instant, Option<Expired>) {
        let waiting = self.write_waiting_since.load(Ordering::Relaxed);
        let open = self.open.load(Ordering::SeqCst);
        let quiet = self.quiet_since.load(Ordering::SeqCst);
        let stream_turn = if open > 0 {
            self.oldest_stream_turn()
        } else {
            None
        };
        let (deadline, phase) = if waiting != 0 {
            (self.at(waiting) + timeouts.write, Some(Expired::Write))
        } else if let Some(since) = stream_turn
            && self.at(since) + timeouts.write
                <= Instant::now() + timeouts.write.min(timeouts.idle) / 4
        {
            // Due within the next look: sleep until it exactly.
            (self.at(since) + timeouts.write, Some(Expired::Write))
        } else if open > 0 {
            // A request that ends starts the idle clock without a wake-up,
            // and an HTTP/2 answer's turn starts without one: looking again
            // a quarter of the shorter timeout later keeps both clocks
            // within a quarter of their value.
            (Instant::now() + timeouts.idle.min(timeouts.write) / 4, None)
        } else if quiet == 0 {
            (self.opened + timeouts.header, Some(Expired::Header))
        } else {
            (self.at(quiet) + timeouts.idle, Some(Expired::Idle))
        };
        let aged = self.opened + timeouts.max_age;
        if max_age && aged <= deadline {
            (aged, Some(Expired::MaxAge))
        } else {
            (deadline, phase)
        }
    }

    /// Returns when a deadline passes. With `max_age` false the connection
    /// is already draining and its age no longer counts.
    pub async fn expired(&self, timeouts: &Timeouts, max_age: bool) -> Expired {
        let sleep = tokio::time::sleep_until(self.opened + timeouts.header);
        tokio::pin!(sleep);
        loop {
            let (deadline, phase) = self.next(timeouts, max_age);
            if let Some(phase) = phase
                && deadline <= Instant::now()
            {
                return phase;
            }
            sleep.as_mut().reset(deadline);
            tokio::select! {
                () = sleep.as_mut() => {}
                () = self.changed.notified() => {}
            }
        }
    }
}

/// One open request; its drop starts the idle clock if it was the last.
pub struct OpenRequest(Arc<Activity>);

impl OpenRequest {
    /// A clock for this request's HTTP/2 answer ([`Activity::stream_clock`]).
    pub fn stream_clock(&self) -> Arc<StreamClock> {
        self.0.stream_clock()
    }
}

impl Drop for OpenRequest {
    fn drop(&mut self) {
        let activity = &self.0;
        // Stamped before the count falls, so the watchdog never sees no
        // request open with a stale (or no) end time.
        activity
            .quiet_since
            .store(activity.stamp(), Ordering::SeqCst);
        activity.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An answer's body that keeps its request open until it is sent (or
/// dropped), and over HTTP/2 keeps its [`StreamClock`] running while it
/// waits for the client.
pub struct Answering<B> {
    inner: B,
    _open: OpenRequest,
    clock: Option<Arc<StreamClock>>,
}

impl<B> Answering<B> {
    /// `clock`: the answer's [`Activity::stream_clock`] over HTTP/2, `None`
    /// over HTTP/1 (whose stalled client stalls the socket's writes).
    pub fn new(inner: B, open: OpenRequest, clock: Option<Arc<StreamClock>>) -> Self {
        Self {
            inner,
            _open: open,
            clock,
        }
    }
}

impl<B: Body + Unpin> Body for Answering<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Some(clock) = &this.clock {
            // Asked for a frame: not the client's turn, until one is given.
            let turn = match &polled {
                Poll::Ready(Some(Ok(_))) => this._open.0.stamp(),
                _ => 0,
            };
            clock.0.store(turn, Ordering::Relaxed);
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

/// A client connection's socket, telling its [`Activity`] when writes wait
/// and when they move. Below TLS, so what it sees is the socket's own
/// progress.
pub struct Timed<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Timed<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }

    fn note<R>(&self, polled: &Poll<io::Result<R>>, moved: impl Fn(&R) -> bool) {
        match polled {
            Poll::Pending => self.activity.write_waits(),
            Poll::Ready(Ok(r)) if moved(r) => self.activity.write_moved(),
            Poll::Ready(_) => {}
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Timed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Timed<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.note(&polled, |n| *n > 0);
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.note(&polled, |n| *n > 0);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.note(&polled, |()| true);
        polled
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(60),
        write: Duration::from_secs(30),
        max_age: Duration::from_secs(3600),
    };

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_never_sends_a_request_ends_at_the_header_timeout() {
        let activity = Activity::new();
        let started = Instant::now();
        assert_eq!(activity.expired(&TIMEOUTS, true).await, Expired::Header);
        assert_eq!(started.elapsed(), TIMEOUTS.header);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_counts_from_the_end_of_the_last_request() {
        let activity = Activity::new();
        let request = activity.request();
        tokio::time::advance(Duration::from_secs(100)).await;
        drop(request);
        let ended = Instant::now();
        assert_eq!(activity.expired(&TIMEOUTS, true).await, Expired::Idle);
        assert_eq!(ended.elapsed(), TIMEOUTS.idle);
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_request_is_never_idle_but_its_stalled_write_is_cut() {
        let activity = Activity::new();
        let _request = activity.request();
        let watch = {
            let activity = Arc::clone(&activity);
            tokio::spawn(async move { activity.expired(&TIMEOUTS, true).await })
        };
        tokio::time::advance(TIMEOUTS.idle * 3).await;
        assert!(!watch.is_finished(), "no deadline while a request is open");
        activity.write_waits();
        let waited = Instant::now();
        assert_eq!(watch.await.expect("joined"), Expired::Write);
        assert!(waited.elapsed() <= TIMEOUTS.write + Duration::from_millis(1));
    }

    /// An HTTP/2 answer of `frames` one-byte frames, as hyper gets it.
    fn answer(
        activity: &Arc<Activity>,
        frames: usize,
    ) -> Answering<http_body_util::Full<bytes::Bytes>> {
        let open = activity.request();
        let clock = open.stream_clock();
        let body = http_body_util::Full::new(bytes::Bytes::from(vec![b'x'; frames]));
        Answering::new(body, open, Some(clock))
    }

    #[tokio::test(start_paused = true)]
    async fn an_http2_answer_its_client_never_takes_expires_at_the_write_timeout() {
        let activity = Activity::new();
        // Handed to hyper, never asked for a frame (a zero window).
        let _answer = answer(&activity, 1);
        let started = Instant::now();
        assert_eq!(activity.expired(&TIMEOUTS, true).await, Expired::Write);
        assert_eq!(started.elapsed(), TIMEOUTS.write);
    }

    #[tokio::test(start_paused = true)]
    async fn an_http2_answer_taken_frame_by_frame_or_finished_never_expires() {
        use http_body_util::BodyExt;
        let activity = Activity::new();
        let mut taken = answer(&activity, 1);
        let watch = {
            let activity = Arc::clone(&activity);
            tokio::spawn(async move { activity.expired(&TIMEOUTS, true).await })
        };
        // The client takes its frame within the timeout, then the end.
        tokio::time::advance(TIMEOUTS.write / 2).await;
        assert!(taken.frame().await.is_some_and(|f| f.is_ok()));
        tokio::time::advance(TIMEOUTS.write / 2).await;
        assert!(taken.frame().await.is_none());
        // Done with its body, kept by hyper: no longer the client's turn.
        tokio::time::advance(TIMEOUTS.write * 3).await;
        assert!(
            !watch.is_finished(),
            "no deadline for an answer taken whole"
        );
        // Its request ends: now the idle clock runs.
        drop(taken);
        assert_eq!(watch.await.expect("joined"), Expired::Idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_is_drained_at_its_maximum_age() {
        let activity = Activity::new();
        let _request = activity.request();
        let started = Instant::now();
        assert_eq!(activity.expired(&TIMEOUTS, true).await, Expired::MaxAge);
        assert!(started.elapsed() >= TIMEOUTS.max_age);
    }
}
