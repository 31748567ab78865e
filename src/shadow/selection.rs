//! Which eligible applicants are sent to Socure, which bills per call: the sticky sample, the daily budget, the duplicate window, and the fleet's say in them; one gate the mirror task asks once.
//!
//! All of it runs in the mirror task, off the forward path. [`Gate::decide`]
//! applies the rules in order (the sample, the duplicate window, the room for
//! one more call, waited for a moment, the day's budget) and returns either a call to make or
//! what the line says instead; with a fleet, the window and the budget are
//! the fleet's (Redis), and `fleet.on_error` says what an outage means. What is pure (the
//! sample draw from a user's uuid, the identity fingerprint) is in
//! `judge::selection`; here is what needs a clock, a random draw or state:
//! the draw for a request without a uuid, the count of today's calls, and
//! the applicants seen within the window. The fingerprint key is drawn at
//! start and never written anywhere, so nothing kept in memory can be turned
//! back into a person, and the keys mean nothing to another process.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::hmac;
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::{DailyLimit, FleetOnError};
use crate::judge::applicant::Applicant;
use crate::judge::pair::SocureSide;
use crate::judge::resolution::Exchange;
use crate::judge::selection;
use crate::ops::live::Live;
use crate::ops::metrics::{FleetOutcome, Metrics, Skipped};
use crate::shadow::fleet::{FleetError, FleetUse};

/// What the gate decided for one applicant.
pub enum Decision {
    /// Left out of the sample: no call and no line, only the count.
    SampledOut,
    /// Call Socure, holding this place among the calls in flight.
    Call(OwnedSemaphorePermit),
    /// No call; the line says why.
    NotCalled(SocureSide),
}

/// The places among the Socure calls in flight, as the gate sees them.
pub struct Places {
    /// `shadow.max_in_flight`, for the line's reason when none came free.
    pub max: usize,
    pub permits: Arc<Semaphore>,
    /// `shadow.queue_timeout_seconds`.
    pub queue_timeout: Duration,
    /// Cancelled at the end of the shutdown grace period: a call still
    /// waiting then is dropped, never started.
    pub interrupted: CancellationToken,
}

/// The selection rules and the state they keep, for the whole process.
pub struct Gate {
    live: Arc<Live>,
    metrics: Metrics,
    budget: Budget,
    /// `None`: no duplicate window (`shadow.dedup_window_seconds = 0`).
    dedup: Option<Dedup>,
    dedup_window: Duration,
    /// Waited for when the forward path found none free.
    places: Places,
    /// The fleet's shared budget and window, when there is one.
    fleet: Option<FleetUse>,
}

impl Gate {
    pub fn new(
        live: Arc<Live>,
        metrics: Metrics,
        dedup_window: Duration,
        places: Places,
        fleet: Option<FleetUse>,
    ) -> Self {
        Self {
            live,
            metrics,
            budget: Budget::default(),
            dedup: (!dedup_window.is_zero()).then(|| Dedup::new(dedup_window)),
            dedup_window,
            places,
            fleet,
        }
    }

    /// Whether `applicant` (or why there is none to send) is sent to Socure
    /// under line `id`, given the place among the calls in flight the
    /// forward path could take for it (`None`: none was free).
    pub async fn decide(
        &self,
        applicant: Result<&Applicant, &str>,
        id: &str,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Decision {
        let applicant = match applicant {
            Ok(applicant) => applicant,
            Err(reason) => return not_sent(reason.to_owned()),
        };
        // The sample comes first: an applicant left out costs nothing more.
        // The draw reads the Reference as sent (hashed, never written), so a
        // user is sticky whatever it holds.
        if !sampled_in(
            applicant.user_uuid.as_deref(),
            self.live.current().sample_basis_points,
        ) {
            self.metrics.sampled_out();
            return Decision::SampledOut;
        }
        match self.duplicate_of(applicant, id).await {
            Err(unavailable) => return not_sent(unavailable),
            Ok(Some(of)) => {
                self.metrics.mirror_not_sent(Skipped::Duplicate);
                return Decision::NotCalled(SocureSide::Duplicate { of });
            }
            Ok(None) => {}
        }
        let permit = match permit {
            Some(permit) => Some(permit),
            None => self.wait_for_place().await,
        };
        let Some(permit) = permit else {
            self.metrics.mirror_not_sent(Skipped::Capacity);
            return Decision::NotCalled(SocureSide::Dropped {
                reason: format!(
                    "shadow.max_in_flight ({}) Socure calls already in flight",
                    self.places.max
                ),
            });
        };
        // Read once, so the check and its message agree across a reload.
        let limit = self.live.current().max_calls_per_day;
        match self.take_call(limit).await {
            Err(unavailable) => not_sent(unavailable),
            Ok(true) => Decision::Call(permit),
            Ok(false) => {
                self.metrics.mirror_not_sent(Skipped::Budget);
                Decision::NotCalled(SocureSide::BudgetExhausted {
                    reason: format!(
                        "socure.max_calls_per_day ({limit}) reached for today (UTC){}",
                        if self.fleet.is_some() {
                            ", fleet-wide"
                        } else {
                            ""
                        }
                    ),
                })
            }
        }
    }

    /// A place among the calls in flight, when one comes free within the
    /// queue timeout (first come, first served: the forward path's own try
    /// finds none while calls wait). Waiting here holds the request's slot,
    /// so a mirror short of CPU fills `max_pending` and the overflow is shed
    /// at the door for nothing, rather than admitted and judged only to
    /// write `dropped`.
    async fn wait_for_place(&self) -> Option<OwnedSemaphorePermit> {
        if self.places.queue_timeout.is_zero() {
            return None;
        }
        self.metrics.mirror_queued();
        let place = Arc::clone(&self.places.permits).acquire_owned();
        tokio::select! {
            // First: at shutdown the calls cut short give their places back,
            // and a waiting call must not take one and start.
            biased;
            () = self.places.interrupted.cancelled() => None,
            waited = tokio::time::timeout(self.places.queue_timeout, place) => match waited {
                Ok(Ok(permit)) => Some(permit),
                // Elapsed, or the semaphore closed (it never is).
                _ => None,
            },
        }
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
        if self.dedup_window.is_zero() {
            return Ok(None);
        }
        let fingerprint = selection::fingerprint(applicant, key);
        let started = Instant::now();
        let claimed = fleet
            .fleet
            .claim_applicant(&fingerprint, id, self.dedup_window)
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
                on_error = fleet.on_error.as_str(),
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
}

fn not_sent(reason: String) -> Decision {
    Decision::NotCalled(SocureSide::NotSent { reason })
}

/// Whether a line would say nothing of either vendor: LexisNexis never
/// answered (the request was refused, unreadable, or its client went away
/// first: an HTTP/2 reset included) and Socure was not called. Such lines
/// are written up to a rate, the rest only counted (`admission`).
pub fn no_verdict(exchange: &Exchange, socure_called: bool) -> bool {
    matches!(
        exchange,
        Exchange::ClientGone | Exchange::RequestUnreadable | Exchange::RequestRefused
    ) && !socure_called
}

/// Whether the applicant with `user_uuid` is in a sample of `basis_points`
/// (0 to 10,000). Without a uuid the draw is per request.
pub fn sampled_in(user_uuid: Option<&str>, basis_points: u32) -> bool {
    // Everyone is in a whole sample: no draw to make (a SHA-256 per request).
    if basis_points >= selection::ALL {
        return true;
    }
    // uuid v4 draws its bits from rand's thread-local CSPRNG, seeded by the OS.
    let draw = user_uuid.map_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0, selection::draw);
    selection::sampled_in(draw, basis_points)
}

/// Socure calls made today (UTC), against a limit that may change on reload.
#[derive(Debug, Default)]
pub struct Budget {
    /// (days since the epoch, calls made that day). Locked only to count.
    used: Mutex<(i64, u64)>,
}

impl Budget {
    /// Takes one call from today's budget; `false` when `limit` is
    /// reached. Calls are counted without a limit too, so one set by a
    /// reload counts the day's calls before it.
    pub fn take(&self, limit: DailyLimit) -> bool {
        let today = OffsetDateTime::now_utc()
            .unix_timestamp()
            .div_euclid(86_400);
        let Ok(mut used) = self.used.lock() else {
            return false;
        };
        if used.0 != today {
            *used = (today, 0);
        }
        if !limit.allows(used.1) {
            return false;
        }
        used.1 += 1;
        true
    }
}

/// How many applicants the duplicate window remembers at most; past it the
/// oldest are forgotten early.
const DEDUP_CAPACITY: usize = 100_000;

/// Applicants seen within the window, by keyed fingerprint, with their line's id.
pub struct Dedup {
    key: hmac::Key,
    window: Duration,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    by_key: HashMap<[u8; 32], String>,
    /// Insertion order, for expiry: the window is fixed, so it is also
    /// expiry order.
    order: VecDeque<(Instant, [u8; 32])>,
}

impl Dedup {
    pub fn new(window: Duration) -> Self {
        // 32 random bytes from a CSPRNG seeded by the OS, through uuid v4 (two draws).
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            window,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// The id of the earlier line for the same applicant within the window,
    /// or `None` after remembering this one under `line_id`.
    pub fn check(&self, applicant: &Applicant, line_id: &str) -> Option<String> {
        let fingerprint = selection::fingerprint(applicant, &self.key);
        let now = Instant::now();
        let mut seen = self.seen.lock().ok()?;
        while let Some((at, key)) = seen.order.front().copied() {
            if now.duration_since(at) < self.window && seen.order.len() < DEDUP_CAPACITY {
                break;
            }
            seen.order.pop_front();
            seen.by_key.remove(&key);
        }
        if let Some(earlier) = seen.by_key.get(&fingerprint) {
            return Some(earlier.clone());
        }
        seen.by_key.insert(fingerprint, line_id.to_owned());
        seen.order.push_back((now, fingerprint));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_without_a_uuid_is_drawn_per_request() {
        assert!(sampled_in(None, selection::ALL));
        assert!(!sampled_in(None, 0));
        let user = "00000000-0000-4000-8000-000000000001";
        let first = sampled_in(Some(user), 5_000);
        assert!((0..5).all(|_| sampled_in(Some(user), 5_000) == first));
    }

    #[test]
    fn the_budget_stops_at_its_limit() {
        let budget = Budget::default();
        assert!((0..3).all(|_| budget.take(DailyLimit::AtMost(3))));
        assert!(!budget.take(DailyLimit::AtMost(3)));
        assert!(
            budget.take(DailyLimit::AtMost(4)),
            "a raised limit applies at once"
        );
        assert!(!Budget::default().take(DailyLimit::AtMost(0)));
    }

    #[test]
    fn calls_without_a_limit_count_toward_one_set_later() {
        let budget = Budget::default();
        assert!((0..3).all(|_| budget.take(DailyLimit::Unlimited)));
        assert!(
            !budget.take(DailyLimit::AtMost(3)),
            "a reload's limit counts the day's calls"
        );
    }
}
