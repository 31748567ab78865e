//! The mirror: for each shadowed request, one background task that calls Socure, awaits the LexisNexis side, and writes the line.
//!
//! The forward path takes a slot at the door (`admission`; without one the
//! request is shed and only counted), queues the job (through `handoff`)
//! and gets back a `Reporter`. The task always ends in exactly one line: the
//! Socure call is bounded by its timeout and by `max_in_flight` (past it the
//! call is dropped, not queued), the wait for the LexisNexis side by
//! `resolution_wait`, and at shutdown by the grace period, after which
//! [`Mirror::interrupt`] makes every task write what it has. A side that
//! cannot be had is recorded as such, never skipped; even a panic inside the
//! task still leaves its line.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::{DailyLimit, FleetOnError};
use crate::judge::applicant;
use crate::judge::applicant::Applicant;
use crate::judge::pair::{self, Agreement, ResolutionSide, ShadowLine, SocureSide};
use crate::judge::resolution::Exchange;
use crate::ops::live::Live;
use crate::ops::metrics::{FleetOutcome, Metrics, Skipped};
use crate::shadow::admission::{Admission, Slot};
use crate::shadow::fleet::{FleetError, FleetUse};
use crate::shadow::handoff::{Handoff, ResolutionReporter, pump};
use crate::shadow::selection::{self, Budget, Dedup};
use crate::shadow::sink::SinkSender;
use crate::shadow::socure_client::SocureClient;

/// The forward path's handle on one admitted request's mirror.
pub type Reporter = ResolutionReporter<Job>;

/// What the tap could hand the mirror.
pub enum MirrorInput {
    /// The whole request body, as received, in one exact-size buffer (so it
    /// never keeps a connection's larger read buffer alive).
    Body(Vec<u8>),
    /// Nothing to mirror, and why (never quoting the request).
    Skip(String),
}

/// How a mirror is bounded.
#[derive(Debug, Clone, Copy)]
pub struct MirrorLimits {
    /// Socure calls in flight at most. Past it a call is dropped (and its
    /// line says so): queueing would grow memory for as long as Socure is down.
    pub max_in_flight: usize,
    /// How long a task waits for the LexisNexis side.
    pub resolution_wait: Duration,
    /// The same applicant again within this is not sent again; zero: off.
    pub dedup_window: Duration,
}

pub struct Mirror {
    /// To the pump on the mirror runtime: a runtime of its own, so mirror
    /// work never queues behind or ahead of the forward path's tasks. Its
    /// messages are bounded by the slots: two at most per admitted request.
    handoff: mpsc::SyncSender<Handoff<Job>>,
    admission: Arc<Admission>,
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
    limits: MirrorLimits,
    permits: Arc<Semaphore>,
    interrupted: CancellationToken,
    metrics: Metrics,
    live: Arc<Live>,
    budget: Budget,
    dedup: Option<Dedup>,
    /// The fleet's shared budget and window, when there is one.
    fleet: Option<FleetUse>,
}

/// One admitted request, as the forward path hands it over.
pub struct Job {
    /// Held until the line is written.
    slot: Slot,
    path: String,
    plan: Plan,
    resolution: oneshot::Receiver<ResolutionSide>,
}

/// The Socure half of a task, decided on the forward path without waiting.
enum Plan {
    /// Mirror this body; without a permit the call is dropped for capacity.
    Mirror {
        body: Vec<u8>,
        permit: Option<OwnedSemaphorePermit>,
    },
    Skip(String),
}

impl Mirror {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        runtime: tokio::runtime::Handle,
        admission: Arc<Admission>,
        socure: SocureClient,
        sink: SinkSender,
        workflow: String,
        limits: MirrorLimits,
        metrics: Metrics,
        live: Arc<Live>,
        mut fleet: Option<FleetUse>,
    ) -> Self {
        if let Some(fleet) = fleet.as_mut() {
            // Its withdrawals end after their mirrors: it counts them itself.
            fleet.fleet.count_into(metrics.clone());
        }
        // Two messages per slot: the job, then its LexisNexis side; and room
        // as large again for sides that arrive after their task gave up
        // waiting (its slot already given back), which the pump discards.
        let (handoff, taken) = mpsc::sync_channel(admission.max().saturating_mul(4));
        let shared = Arc::new(Shared {
            admission: Arc::clone(&admission),
            socure,
            sink,
            workflow,
            permits: Arc::new(Semaphore::new(limits.max_in_flight)),
            limits,
            interrupted: CancellationToken::new(),
            metrics,
            live,
            budget: Budget::default(),
            dedup: (!limits.dedup_window.is_zero()).then(|| Dedup::new(limits.dedup_window)),
            fleet,
        });
        let spawner = Arc::clone(&shared);
        runtime.spawn(pump(taken, move |job| {
            tokio::spawn(run(Arc::clone(&spawner), job));
        }));
        Self {
            handoff,
            admission,
            shared,
        }
    }

    /// A place for one more request in the mirror, or `None`: then the
    /// request is shed (already counted) and forwarded without the mirror.
    pub fn admit(&self, reserve: usize) -> Option<Slot> {
        let slot = self.admission.try_admit(reserve);
        if slot.is_none() {
            self.shared.metrics.mirror_shed();
        }
        slot
    }

    /// Returns once every admitted request's line is written.
    pub async fn drained(&self) {
        self.admission.emptied().await;
    }

    /// Requests admitted whose line is not written yet.
    pub fn held(&self) -> usize {
        self.admission.held()
    }

    /// Tells every task to stop waiting and write its line now: the shutdown
    /// grace period is over.
    pub fn interrupt(&self) {
        self.shared.interrupted.cancel();
    }

    /// Starts the mirror of one admitted request at `path` (no query) and
    /// returns the handle through which the forward path reports the
    /// LexisNexis side.
    pub fn start(&self, slot: Slot, path: String, input: MirrorInput) -> Reporter {
        let (tx, resolution) = oneshot::channel();
        let plan = match input {
            MirrorInput::Body(body) => Plan::Mirror {
                body,
                permit: Arc::clone(&self.shared.permits).try_acquire_owned().ok(),
            },
            MirrorInput::Skip(reason) => Plan::Skip(reason),
        };
        self.shared.metrics.mirror_started();
        let job = Job {
            slot,
            path,
            plan,
            resolution,
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
        ResolutionReporter::new(tx, self.handoff.clone())
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
    } = job;
    let task = shared.mirror(path.clone(), plan, resolution);
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
                new_id(),
                OffsetDateTime::now_utc(),
                path,
                None,
                workflow,
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

/// Whether a line would say nothing of either vendor: LexisNexis never
/// answered (the request was refused, unreadable, or its client went away
/// first: an HTTP/2 reset included) and Socure was not called.
fn no_verdict(resolution: &ResolutionSide, socure: &SocureSide) -> bool {
    matches!(
        resolution.exchange,
        Exchange::ClientGone | Exchange::RequestUnreadable | Exchange::RequestRefused
    ) && !matches!(
        socure,
        SocureSide::Called { .. } | SocureSide::Interrupted { .. }
    )
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

    /// The id of an earlier line for this applicant within the window, from
    /// the fleet's Redis when there is one; `Err` (the line's reason) when
    /// the fleet cannot say and its policy is to skip.
    async fn duplicate_of(
        &self,
        applicant: &Applicant,
        id: &str,
    ) -> Result<Option<String>, String> {
        let local = || {
            self.dedup
                .as_ref()
                .and_then(|dedup| dedup.check(applicant, id))
        };
        let Some((fleet, key)) = self
            .fleet
            .as_ref()
            .and_then(|fleet| Some((fleet, fleet.dedup_key.as_ref()?)))
        else {
            return Ok(local());
        };
        if self.limits.dedup_window.is_zero() {
            return Ok(None);
        }
        let fingerprint = crate::judge::selection::fingerprint(applicant, key);
        let started = Instant::now();
        let claimed = fleet
            .fleet
            .claim_applicant(&fingerprint, id, self.limits.dedup_window)
            .await;
        let outcome = match &claimed {
            Ok(None) => FleetOutcome::First,
            Ok(Some(_)) => FleetOutcome::Duplicate,
            Err(_) => FleetOutcome::ClaimFailed,
        };
        self.fleet_answered(outcome, started.elapsed(), claimed.as_ref().err());
        match claimed {
            Ok(earlier) => Ok(earlier),
            Err(err) => self.fleet_unavailable(&err, local),
        }
    }

    /// Takes one call from today's budget of `limit`, the fleet's when
    /// there is one and a limit: `Ok(false)` when it is used up.
    async fn take_call(&self, limit: DailyLimit) -> Result<bool, String> {
        let (Some(fleet), Some(calls)) = (self.fleet.as_ref(), limit.calls()) else {
            return Ok(self.budget.take(limit));
        };
        let today = OffsetDateTime::now_utc().date();
        let started = Instant::now();
        let reserved = fleet.fleet.reserve_call(today, calls).await;
        let outcome = match &reserved {
            Ok(true) => FleetOutcome::Granted,
            Ok(false) => FleetOutcome::Refused,
            Err(_) => FleetOutcome::ReserveFailed,
        };
        self.fleet_answered(outcome, started.elapsed(), reserved.as_ref().err());
        match reserved {
            Ok(granted) => Ok(granted),
            Err(err) => self.fleet_unavailable(&err, || self.budget.take(limit)),
        }
    }

    /// Counts a call to the fleet's Redis, and logs an outage once: when
    /// calls start failing, and when they succeed again, not per request.
    fn fleet_answered(
        &self,
        outcome: FleetOutcome,
        elapsed: Duration,
        failed: Option<&FleetError>,
    ) {
        self.metrics.fleet_call(outcome, elapsed);
        let Some(fleet) = &self.fleet else { return };
        match failed {
            Some(err) if !fleet.failing.swap(true, Ordering::Relaxed) => tracing::warn!(
                error = %err,
                on_error = ?fleet.on_error,
                "fleet state unavailable: Redis failing; calls follow fleet.on_error until it answers again"
            ),
            None if fleet.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!("fleet state available again: Redis answers");
            }
            _ => {}
        }
    }

    /// The fleet's policy when Redis fails: skip the call (the line says
    /// why), or let this process's own state decide.
    fn fleet_unavailable<T>(
        &self,
        err: &FleetError,
        local: impl FnOnce() -> T,
    ) -> Result<T, String> {
        match self.fleet.as_ref().map(|f| f.on_error) {
            Some(FleetOnError::Local) => Ok(local()),
            _ => Err(format!("fleet_state_unavailable: {err}")),
        }
    }

    async fn mirror(
        &self,
        path: String,
        plan: Plan,
        rx: oneshot::Receiver<ResolutionSide>,
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
        // The sample comes first: an applicant left out costs nothing more
        // and gets no line, only the count. The draw reads the Reference as
        // sent (hashed, never written), so a user is sticky whatever it holds.
        if let Ok(applicant) = &parsed
            && !selection::sampled_in(
                applicant.user_uuid.as_deref(),
                self.live.current().sample_basis_points,
            )
        {
            self.metrics.sampled_out();
            return None;
        }
        // Read once, so the check and its message agree across a reload.
        let budget = self.live.current().max_calls_per_day;
        // The Socure answer's bytes, in the mirror's budget until the line
        // is made (its judging is the last use of them).
        let mut answer_charge = self.admission.charge();
        let mut reserve = |n| answer_charge.grow(n);
        let socure_side = async {
            let duplicate_of = match &parsed {
                Ok(applicant) => self.duplicate_of(applicant, &id).await,
                Err(_) => Ok(None),
            };
            match (&parsed, duplicate_of, permit) {
                (Err(reason), _, _) => SocureSide::NotSent {
                    reason: reason.clone(),
                },
                (Ok(_), Err(unavailable), _) => SocureSide::NotSent {
                    reason: unavailable,
                },
                (Ok(_), Ok(Some(of)), _) => {
                    self.metrics.mirror_not_sent(Skipped::Duplicate);
                    SocureSide::Duplicate { of }
                }
                (Ok(_), Ok(None), None) => {
                    self.metrics.mirror_not_sent(Skipped::Capacity);
                    SocureSide::Dropped {
                        reason: format!(
                            "shadow.max_in_flight ({}) Socure calls already in flight",
                            self.limits.max_in_flight
                        ),
                    }
                }
                (Ok(applicant), Ok(None), Some(permit)) => match self.take_call(budget).await {
                    Err(unavailable) => SocureSide::NotSent {
                        reason: unavailable,
                    },
                    Ok(false) => {
                        self.metrics.mirror_not_sent(Skipped::Budget);
                        SocureSide::BudgetExhausted {
                            reason: format!(
                                "socure.max_calls_per_day ({budget}) reached for today (UTC){}",
                                if self.fleet.is_some() {
                                    ", fleet-wide"
                                } else {
                                    ""
                                }
                            ),
                        }
                    }
                    Ok(true) => {
                        let started = Instant::now();
                        self.metrics.socure_call_started();
                        let side = tokio::select! {
                            biased;
                            call = self.socure.call(applicant, self.live.current().socure_timeout, &mut reserve) => SocureSide::Called { call, elapsed: started.elapsed() },
                            () = self.interrupted.cancelled() => SocureSide::Interrupted { elapsed: started.elapsed() },
                        };
                        self.metrics.socure_call_ended(started.elapsed());
                        // The permit goes back as soon as the call ends, not when the line is written.
                        drop(permit);
                        side
                    }
                },
            }
        };
        let resolution_side = async {
            tokio::select! {
                biased;
                waited = tokio::time::timeout(self.limits.resolution_wait, rx) => match waited {
                    Ok(Ok(side)) => side,
                    // The reporter always sends before it drops; this is a backstop.
                    Ok(Err(_)) => ResolutionSide { exchange: Exchange::ClientGone, elapsed: None },
                    Err(_) => ResolutionSide {
                        exchange: Exchange::Abandoned,
                        elapsed: Some(self.limits.resolution_wait),
                    },
                },
                () = self.interrupted.cancelled() => ResolutionSide { exchange: Exchange::Shutdown, elapsed: None },
            }
        };
        let (socure_side, resolution_side) = tokio::join!(socure_side, resolution_side);
        if no_verdict(&resolution_side, &socure_side) && !self.line_for_no_verdict() {
            return None;
        }
        Some(pair::pair(
            id,
            OffsetDateTime::now_utc(),
            path,
            parsed.as_ref().ok(),
            &self.workflow,
            resolution_side,
            socure_side,
        ))
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
