//! The hand-off between the forward path and the mirrors: what is handed over (a new job, a LexisNexis side) and the queue the mirror runtime drains on a tick.
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
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, oneshot};

use crate::judge::pair::ResolutionSide;
use crate::shadow::admission::Slot;

/// How often the mirror runtime takes what the forward path handed over
/// while there is traffic.
pub const HANDOFF_TICK: Duration = Duration::from_millis(2);
/// When idle, the pump looks less often, doubling its wait up to this, so
/// an idle proxy does not wake 500 times a second. The first mirror after a
/// quiet spell starts at most this late (the vendors' timings are unaffected).
const HANDOFF_IDLE_TICK: Duration = Duration::from_millis(50);

/// Work handed from the forward path to the mirror runtime without waking it.
pub enum Handoff {
    /// A new mirror job, for the pump's `start`.
    Start(Job),
    /// A task's LexisNexis side, delivered on the mirror's own thread.
    Report(oneshot::Sender<ResolutionSide>, ResolutionSide),
}

/// One admitted request, as the forward path hands it over.
pub struct Job {
    /// Held until the line is written.
    pub slot: Slot,
    pub path: String,
    pub plan: Plan,
    pub resolution: oneshot::Receiver<ResolutionSide>,
    /// Whether the ticket already took this line's place in the no-verdict
    /// rate (it decided at the door), so the task does not ask again.
    pub lined: bool,
}

/// The Socure half of a task, decided on the forward path without waiting.
pub enum Plan {
    /// Mirror this body; without a permit the call waits for one (the
    /// gate's queue timeout), then is dropped for capacity.
    Mirror {
        body: Vec<u8>,
        permit: Option<OwnedSemaphorePermit>,
    },
    /// Nothing to mirror, and why (never quoting the request).
    Skip(String),
}

/// Takes what the forward path handed over, every tick, on the mirror
/// runtime: each new job goes to `start`.
pub async fn pump(handoff: mpsc::Receiver<Handoff>, start: impl Fn(Job)) {
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
