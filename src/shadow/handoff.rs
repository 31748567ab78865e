//! The hand-off between the forward path and the mirrors: a queue the mirror runtime drains on a tick, and the reporter through which a request gives its LexisNexis side.
//!
//! The forward path never awaits anything here and does not even wake the
//! mirror's thread: it drops the new job, and later the LexisNexis side,
//! into a queue that the mirror runtime drains every [`HANDOFF_TICK`]. The
//! queue holds four times `max_pending` messages: only a request admitted by
//! the mirror's door (`admission`) puts anything in it, two messages each
//! (and a late LexisNexis side may outlive its slot), so it is not expected
//! to fill; if it ever did, the message is refused, never waited for, and
//! counted or logged.
//! (Measured at 1,000 requests/s on two cores: with a wake-up per request,
//! shadow mode added 50-80 µs to the median answer; with the queue, 30-40
//! µs. The queue costs the mirror at most one tick of delay, and the forward
//! path's timings are taken before it.)

use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::judge::pair::ResolutionSide;
use crate::judge::resolution::Exchange;

/// How often the mirror runtime takes what the forward path handed over
/// while there is traffic.
pub const HANDOFF_TICK: Duration = Duration::from_millis(2);
/// When idle, the pump looks less often, doubling its wait up to this, so
/// an idle proxy does not wake 500 times a second. The first mirror after a
/// quiet spell starts at most this late (the vendors' timings are unaffected).
const HANDOFF_IDLE_TICK: Duration = Duration::from_millis(50);

/// Work handed from the forward path to the mirror runtime without waking it.
pub enum Handoff<J> {
    /// A new mirror job, for the pump's `start`.
    Start(J),
    /// A task's LexisNexis side, delivered on the mirror's own thread.
    Report(oneshot::Sender<ResolutionSide>, ResolutionSide),
}

/// Takes what the forward path handed over, every tick, on the mirror
/// runtime: each new job goes to `start`.
pub async fn pump<J>(handoff: mpsc::Receiver<Handoff<J>>, start: impl Fn(J)) {
    let mut wait = HANDOFF_TICK;
    loop {
        tokio::time::sleep(wait).await;
        let mut took = false;
        loop {
            match handoff.try_recv() {
                Ok(Handoff::Start(job)) => start(job),
                Ok(Handoff::Report(tx, side)) => {
                    // The task may have given up already; nothing to do then.
                    let _ = tx.send(side);
                }
                Err(mpsc::TryRecvError::Empty) => break,
                // Every sender is gone: the proxy is done with the mirror.
                Err(mpsc::TryRecvError::Disconnected) => return,
            }
            took = true;
        }
        wait = if took {
            HANDOFF_TICK
        } else {
            (wait * 2).min(HANDOFF_IDLE_TICK)
        };
    }
}

/// Hands the LexisNexis side of a shadowed request to its pairing task,
/// exactly once. Dropped unused, it reports that the client went away: the
/// server drops a request's future when its client disconnects.
pub struct ResolutionReporter<J> {
    tx: Option<oneshot::Sender<ResolutionSide>>,
    handoff: mpsc::SyncSender<Handoff<J>>,
    started: Instant,
}

impl<J> ResolutionReporter<J> {
    /// A reporter for the task that awaits `tx`, handing over through
    /// `handoff`; its clock starts now.
    pub fn new(tx: oneshot::Sender<ResolutionSide>, handoff: mpsc::SyncSender<Handoff<J>>) -> Self {
        Self {
            tx: Some(tx),
            handoff,
            started: Instant::now(),
        }
    }

    /// Starts the vendor clock: call right before the upstream send.
    pub fn start_clock(&mut self) {
        self.started = Instant::now();
    }

    pub fn report(mut self, exchange: Exchange) {
        self.send(exchange);
    }

    fn send(&mut self, exchange: Exchange) {
        if let Some(tx) = self.tx.take() {
            // Timed here, on the forward path: the hand-off delay is not LexisNexis's.
            let elapsed = exchange.reached_upstream().then(|| self.started.elapsed());
            // If the mirror runtime is gone, `tx` drops and the task (if any)
            // records the client as gone; never waits for room.
            let sent = self
                .handoff
                .try_send(Handoff::Report(tx, ResolutionSide { exchange, elapsed }));
            if let Err(mpsc::TrySendError::Full(_)) = sent {
                tracing::error!("mirror hand-off queue full; a line will say client_gone");
            }
        }
    }
}

impl<J> Drop for ResolutionReporter<J> {
    /// Dropped without a report: the client went away before the answer was
    /// through, or the request's handling panicked (then the line says so
    /// rather than blame the client).
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.send(Exchange::InternalError);
        } else {
            self.send(Exchange::ClientGone);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a reporter dropped in the given way hands the mirror thread.
    fn dropped_reporter_sends(panicking: bool) -> Exchange {
        let (handoff, handed) = mpsc::sync_channel::<Handoff<()>>(2);
        let (tx, _rx) = oneshot::channel();
        let reporter = ResolutionReporter::new(tx, handoff);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _held = reporter;
            assert!(!panicking, "forced panic while a reporter is held");
        }));
        match handed.try_recv() {
            Ok(Handoff::Report(_, side)) => side.exchange,
            _ => panic!("the reporter handed nothing over"),
        }
    }

    #[test]
    fn a_reporter_dropped_by_a_panic_says_internal_error_not_client_gone() {
        assert!(matches!(
            dropped_reporter_sends(true),
            Exchange::InternalError
        ));
        assert!(matches!(
            dropped_reporter_sends(false),
            Exchange::ClientGone
        ));
    }
}
