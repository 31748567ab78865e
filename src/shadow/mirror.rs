//! The mirror: for each shadowed request, one background task that calls Socure, awaits the LexisNexis side, and writes the line.
//!
//! The forward path's ticket (`ticket`) takes a slot at the door
//! (`admission`; without one the request is shed and only counted) and
//! queues the job and later the LexisNexis side (through `handoff`); which
//! applicants are sent to Socure is the gate's (`selection`). The task
//! always ends in exactly one line (or, for a line that would carry no
//! verdict past its rate, one count in the summary line): the
//! Socure call is bounded by its timeout and by `max_in_flight` (past it the
//! call waits up to `queue_timeout` for a place, within its slot, and is
//! then dropped), the wait for the LexisNexis side by
//! `resolution_wait`, and at shutdown by the grace period, after which
//! [`Mirror::interrupt`] makes every task write what it has. A side that
//! cannot be had is recorded as such, never skipped; even a panic inside the
//! task still leaves its line.

use std::future::Future;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use time::OffsetDateTime;
use tokio::sync::{Semaphore, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::judge::applicant;
use crate::judge::pair::{self, Agreement, LineContext, ResolutionSide, ShadowLine, SocureSide};
use crate::judge::resolution::Exchange;
use crate::ops::live::Live;
use crate::ops::metrics::Metrics;
use crate::shadow::admission::{Admission, Charge, Slot};
use crate::shadow::fleet::FleetUse;
use crate::shadow::handoff::{Handoff, Job, Plan, pump};
use crate::shadow::selection::{self, Decision, Gate, Places};
use crate::shadow::sink::SinkSender;
use crate::shadow::socure_client::SocureClient;

/// How long the pairing task waits for the LexisNexis answer beyond the
/// upstream timeout (the answer's body streams to the client first).
const RESOLUTION_WAIT_MARGIN: Duration = Duration::from_secs(30);

/// What a mirror is built from besides the config.
pub struct MirrorParts {
    /// The mirrors' own runtime: a runtime of its own, so mirror work never
    /// queues behind or ahead of the forward path's tasks.
    pub runtime: tokio::runtime::Handle,
    pub admission: Arc<Admission>,
    pub socure: SocureClient,
    pub sink: SinkSender,
    pub metrics: Metrics,
    pub live: Arc<Live>,
    /// The fleet's shared budget and window, when there is one.
    pub fleet: Option<FleetUse>,
}

/// The mirrors of every admitted request; cloned into each ticket.
#[derive(Clone)]
pub struct Mirror {
    /// To the pump on the mirror runtime. Its messages are bounded by the
    /// slots: two at most per admitted request.
    handoff: mpsc::SyncSender<Handoff>,
    shared: Arc<Shared>,
}

/// What every task needs, shared.
struct Shared {
    /// The door the task's slot came from, and the process's one budget of
    /// lines that carry no verdict.
    admission: Arc<Admission>,
    socure: SocureClient,
    sink: SinkSender,
    workflow: String,
    /// How long a task waits for the LexisNexis side.
    resolution_wait: Duration,
    /// Socure calls in flight at most (`shadow.max_in_flight`). Past it a
    /// call waits for a place no longer than `shadow.queue_timeout_seconds`,
    /// holding its slot, then is dropped (and its line says so): the slots
    /// bound the waiting, so it never grows memory.
    permits: Arc<Semaphore>,
    interrupted: CancellationToken,
    metrics: Metrics,
    live: Arc<Live>,
    gate: Gate,
}

impl Mirror {
    pub fn new(config: &Config, parts: MirrorParts) -> Self {
        let MirrorParts {
            runtime,
            admission,
            socure,
            sink,
            metrics,
            live,
            mut fleet,
        } = parts;
        if let Some(fleet) = fleet.as_mut() {
            // Its withdrawals end after their mirrors: it counts them itself.
            fleet.fleet.count_into(metrics.clone());
        }
        // Two messages per slot: the job, then its LexisNexis side; and room
        // as large again for sides that arrive after their task gave up
        // waiting (its slot already given back), which the pump discards.
        let (handoff, taken) = mpsc::sync_channel(admission.max().saturating_mul(4));
        let shadow = &config.shadow;
        let permits = Arc::new(Semaphore::new(shadow.max_in_flight));
        let interrupted = CancellationToken::new();
        let shared = Arc::new(Shared {
            admission,
            socure,
            sink,
            workflow: shadow.instant_verify_workflow.clone(),
            resolution_wait: config.upstream.timeout + RESOLUTION_WAIT_MARGIN,
            permits: Arc::clone(&permits),
            interrupted: interrupted.clone(),
            gate: Gate::new(
                Arc::clone(&live),
                metrics.clone(),
                shadow.dedup_window,
                Places {
                    max: shadow.max_in_flight,
                    permits,
                    queue_timeout: shadow.queue_timeout,
                    interrupted,
                },
                fleet,
            ),
            metrics,
            live,
        });
        let spawner = Arc::clone(&shared);
        runtime.spawn(pump(taken, move |job| {
            // Boxed: the task's future is kilobytes (the Socure call's
            // inside it), and tokio moves a task's future by value when it
            // spawns and when it finishes.
            tokio::spawn(Box::pin(run(Arc::clone(&spawner), job)));
        }));
        Self { handoff, shared }
    }

    /// A place for one more request in the mirror, or `None`: then the
    /// request is shed (already counted) and forwarded without the mirror.
    pub(super) fn admit(&self, reserve: usize) -> Option<Slot> {
        let slot = self.shared.admission.try_admit(reserve);
        if slot.is_none() {
            self.shared.metrics.mirror_shed();
        }
        slot
    }

    /// A reservation, against the same budget as the slots, for a copy of
    /// an answer.
    pub(super) fn charge(&self) -> Charge {
        self.shared.admission.charge()
    }

    /// Whether a line with no verdict may be written: yes for the first
    /// `NO_VERDICT_LINES_PER_SECOND` each second, for the whole process
    /// (every connection draws on the same budget, so reconnecting gains
    /// nothing). When not, the request is counted into the summary line.
    pub(super) fn line_for_no_verdict(&self) -> bool {
        self.shared.line_for_no_verdict()
    }

    /// Counts, among the mirrors started, a request whose ticket decided at
    /// the door that it gets no line of its own (it went into the summary
    /// line's count instead), as if its mirror had decided so.
    pub(super) fn counted_at_door(&self) {
        self.shared.metrics.mirror_started();
    }

    /// Returns once every admitted request's line is written.
    pub async fn drained(&self) {
        self.shared.admission.emptied().await;
    }

    /// Requests admitted whose line is not written yet.
    pub fn held(&self) -> usize {
        self.shared.admission.held()
    }

    /// Tells every task to stop waiting and write its line now: the shutdown
    /// grace period is over.
    pub fn interrupt(&self) {
        self.shared.interrupted.cancel();
    }

    /// Starts the mirror of one admitted request at `path` (no query): of
    /// `body` when the tap read it whole, else `Err` saying why not; `lined`
    /// when its ticket has already had its line allowed within the
    /// no-verdict rate. Returns where the LexisNexis side goes
    /// ([`Mirror::report`]).
    pub(super) fn start(
        &self,
        slot: Slot,
        path: String,
        body: Result<Vec<u8>, String>,
        lined: bool,
    ) -> oneshot::Sender<ResolutionSide> {
        let (tx, resolution) = oneshot::channel();
        let plan = match body {
            Ok(body) => Plan::Mirror {
                body,
                permit: Arc::clone(&self.shared.permits).try_acquire_owned().ok(),
            },
            Err(reason) => Plan::Skip(reason),
        };
        self.shared.metrics.mirror_started();
        let job = Job {
            slot,
            path,
            plan,
            resolution,
            lined,
        };
        match self.handoff.try_send(Handoff::Start(job)) {
            Ok(()) => {}
            // The pump is gone (the runtime is shutting down): run it here
            // rather than lose its line.
            Err(mpsc::TrySendError::Disconnected(Handoff::Start(job))) => {
                tokio::spawn(run(Arc::clone(&self.shared), job));
            }
            // Not expected (the queue has room for every slot's two messages
            // and as many late ones); the slot goes back, the line is counted lost.
            Err(_) => {
                self.shared.metrics.line_lost();
                tracing::error!("mirror hand-off queue full; a shadow line was lost");
            }
        }
        tx
    }

    /// Hands a task its LexisNexis side, on the mirror's own thread, never
    /// waiting for room. If the mirror runtime is gone, `tx` drops and the
    /// task (if any) records the client as gone.
    pub(super) fn report(&self, tx: oneshot::Sender<ResolutionSide>, side: ResolutionSide) {
        if let Err(mpsc::TrySendError::Full(_)) = self.handoff.try_send(Handoff::Report(tx, side)) {
            tracing::error!("mirror hand-off queue full; a line will say client_gone");
        }
    }
}

/// One admitted request's mirror, to its line: judged, written, and the
/// slot given back with it.
async fn run(shared: Arc<Shared>, job: Job) {
    let Job {
        slot,
        path,
        plan,
        resolution,
        lined,
    } = job;
    let task = shared.mirror(path.clone(), plan, resolution, lined);
    // Sampled out, or a line with no verdict past its rate: no line, only
    // the count; the slot goes back here.
    let Some(line) = line_even_if_panics(task, path, &shared.workflow).await else {
        return;
    };
    let event = &line.properties.event_properties;
    shared
        .metrics
        .line_made(event.socure_outcome, Agreement::of(event));
    if let Err(err) = shared.sink.write(&line, slot) {
        shared.metrics.line_lost();
        tracing::error!(error = %err, line_id = %line.id, "shadow line not written");
    }
}

/// A fresh line id, decided when the mirror starts so a later duplicate
/// can point to it.
fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The task's line, or, if the task panicked, a line that says so: a
/// shadowed request gets its one line whatever happens inside its mirror.
async fn line_even_if_panics(
    run: impl Future<Output = Option<ShadowLine>>,
    path: String,
    workflow: &str,
) -> Option<ShadowLine> {
    match std::panic::AssertUnwindSafe(run).catch_unwind().await {
        Ok(line) => line,
        Err(_) => {
            tracing::error!(
                path,
                "mirror task panicked; writing its line without results"
            );
            Some(pair::pair(
                LineContext {
                    id: new_id(),
                    at: OffsetDateTime::now_utc(),
                    path,
                    applicant: None,
                    workflow,
                },
                ResolutionSide {
                    exchange: Exchange::InternalError,
                    elapsed: None,
                },
                SocureSide::NotSent {
                    reason: "internal error in the mirror".into(),
                },
            ))
        }
    }
}

impl Shared {
    /// Whether a line with no verdict may be written: yes for the first
    /// `NO_VERDICT_LINES_PER_SECOND` each second, for the whole process
    /// (every connection draws on the same budget, so reconnecting gains
    /// nothing). When not, the request is counted into the summary line.
    fn line_for_no_verdict(&self) -> bool {
        let allowed = self.admission.line_without_verdict();
        if !allowed {
            self.metrics.line_aggregated();
        }
        allowed
    }

    async fn mirror(
        &self,
        path: String,
        plan: Plan,
        rx: oneshot::Receiver<ResolutionSide>,
        lined: bool,
    ) -> Option<ShadowLine> {
        let id = new_id();
        // Parsing happens here, off the forward path. The applicant is kept
        // apart from the permit: the call borrows it, and the line needs it
        // afterwards (its `user_id`, and what to redact from vendor text).
        let (parsed, permit) = match plan {
            Plan::Skip(reason) => (Err(reason), None),
            Plan::Mirror { body, permit } => (
                applicant::parse(&body).map_err(|err| err.to_string()),
                permit,
            ),
        };
        // Decided before the wait for LexisNexis begins: an applicant left
        // out of the sample gives its slot back at once. (That side is
        // queued for the task meanwhile, never lost.)
        let decision = self
            .gate
            .decide(parsed.as_ref().map_err(String::as_str), &id, permit)
            .await;
        let call = match decision {
            // Sampled out: no line, only the count.
            Decision::SampledOut => return None,
            Decision::Call(permit) => Ok(permit),
            Decision::NotCalled(side) => Err(side),
        };
        let socure_side = async {
            match (call, &parsed) {
                (Ok(permit), Ok(applicant)) => {
                    let side = self.call_socure(applicant).await;
                    // The permit goes back as soon as the call ends, not when the line is written.
                    drop(permit);
                    side
                }
                (Err(side), _) => side,
                // The gate calls only for a parsed applicant.
                (Ok(_), Err(reason)) => SocureSide::NotSent {
                    reason: reason.clone(),
                },
            }
        };
        let (socure_side, resolution_side) = tokio::join!(socure_side, self.resolution_side(rx));
        let called = matches!(
            socure_side,
            SocureSide::Called { .. } | SocureSide::Interrupted { .. }
        );
        if selection::no_verdict(&resolution_side.exchange, called)
            && !lined
            && !self.line_for_no_verdict()
        {
            return None;
        }
        Some(pair::pair(
            LineContext {
                id,
                at: OffsetDateTime::now_utc(),
                path,
                applicant: parsed.as_ref().ok(),
                workflow: &self.workflow,
            },
            resolution_side,
            socure_side,
        ))
    }

    /// The Socure call, bounded by its timeout and cut short at the end of
    /// the shutdown grace period.
    async fn call_socure(&self, applicant: &applicant::Applicant) -> SocureSide {
        // The Socure answer's bytes, in the mirror's budget until the line
        // is made (its judging is the last use of them).
        let mut answer_charge = self.admission.charge();
        let mut reserve = |n| answer_charge.grow(n);
        let started = Instant::now();
        self.metrics.socure_call_started();
        let side = tokio::select! {
            biased;
            call = self.socure.call(applicant, self.live.current().socure_timeout, &mut reserve) => SocureSide::Called { call, elapsed: started.elapsed() },
            () = self.interrupted.cancelled() => SocureSide::Interrupted { elapsed: started.elapsed() },
        };
        self.metrics.socure_call_ended(started.elapsed());
        side
    }

    /// The LexisNexis side as the forward path reports it, or why it never
    /// came: the wait ran out, or the shutdown grace period did.
    async fn resolution_side(&self, rx: oneshot::Receiver<ResolutionSide>) -> ResolutionSide {
        tokio::select! {
            biased;
            waited = tokio::time::timeout(self.resolution_wait, rx) => match waited {
                Ok(Ok(side)) => side,
                // The ticket always sends before it drops; this is a backstop.
                Ok(Err(_)) => ResolutionSide { exchange: Exchange::ClientGone, elapsed: None },
                Err(_) => ResolutionSide {
                    exchange: Exchange::Abandoned,
                    elapsed: Some(self.resolution_wait),
                },
            },
            () = self.interrupted.cancelled() => ResolutionSide { exchange: Exchange::Shutdown, elapsed: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_mirror_task_still_gives_its_one_line() {
        let run = async { panic!("forced panic in a mirror task") };
        let line = line_even_if_panics(run, "/fake/path".into(), "fake.wf")
            .await
            .expect("a line");
        let line = serde_json::to_value(&line).expect("a line serializes");
        let event = &line["properties"]["event_properties"];
        assert_eq!(event["resolution_outcome"], "internal_error");
        assert_eq!(event["socure_outcome"], "not_sent");
        assert_eq!(
            event["socure_not_sent_reason"],
            "internal error in the mirror"
        );
    }
}
