//! State shared by every replica through Redis: the one daily Socure budget of the whole fleet, and its one duplicate window.
//!
//! Called only from mirror tasks, never from the forward path, and every
//! call is bounded by `timeout`: a slow or dead Redis costs a mirror that
//! long at most, and says so (`FleetError`), so the caller can apply its
//! policy. The connection is made on first use and then kept by redis-rs's
//! `ConnectionManager`, which reconnects by itself after Redis comes back.
//!
//! A reservation counts only when its answer came in time. Giving up on an
//! answer does not stop a script already sent: a stalled Redis runs it when
//! it resumes. So each reservation carries a random token, and one that
//! timed out is withdrawn in the background (bounded, counted): the
//! withdrawal gives back a grant that ran, and bars one that has not run
//! yet, whichever of the two Redis runs first.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ring::hmac;
use time::Date;
use tokio::sync::OnceCell;
use tokio_util::task::TaskTracker;

use crate::config::{FleetConfig, FleetOnError};
use crate::ops::metrics::{FleetOutcome, Metrics};

/// One reservation, atomically: grant it within the day's limit, count it,
/// give the counter its expiry on first use, and record the grant under the
/// reservation's token. A refused call is not counted, so a withdrawn grant
/// frees a place for the next. A reservation already decided answers as it
/// was decided; one already withdrawn is never granted (the withdrawal came
/// first, and its record bars this grant).
///
/// KEYS: the day's counter, the reservation's record. ARGV: the limit, the
/// counter's TTL, the record's TTL.
const RESERVE: &str = r"
local state = redis.call('GET', KEYS[2])
if state then
  if state == 'granted' then return 1 end
  return 0
end
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then
  return 0
end
if redis.call('INCR', KEYS[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
redis.call('SET', KEYS[2], 'granted', 'EX', ARGV[3])
return 1
";

/// Takes back a reservation whose answer never came: gives its call back to
/// the day's budget if it was granted (1), and in any case leaves the record
/// `withdrawn`, so a grant arriving later does nothing (0 then). Either
/// order of the two scripts ends the same: not counted.
///
/// KEYS: as [`RESERVE`]'s. ARGV: the record's TTL.
const WITHDRAW: &str = r"
local state = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], 'withdrawn', 'EX', ARGV[1])
if state == 'granted' and tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
  redis.call('DECR', KEYS[1])
  return 1
end
return 0
";

/// The first line for an applicant takes the key for the window; a later
/// one within it gets the first one's id back. One script, so two replicas
/// seeing the same applicant at once cannot both be first.
const CLAIM: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return false
end
return redis.call('GET', KEYS[1])
";

/// A day's counter outlives its day by a day, so a replica whose clock is
/// a little behind still finds it.
const COUNTER_TTL_SECONDS: u64 = 2 * 86_400;

/// A reservation's record lasts a day: longer than any stall after which
/// a late grant or withdrawal could still run, and at most a day's budget
/// of small keys.
const RECORD_TTL_SECONDS: u64 = 86_400;

/// How long a withdrawal may wait for its answer, off every request's path:
/// long enough to outlast the stall that made its reservation time out.
const WITHDRAW_WITHIN: Duration = Duration::from_secs(10);

/// Withdrawals waiting for their answer at most: past it, a timed-out
/// reservation stays counted (counted as a failed withdrawal), so a long
/// outage cannot pile up tasks.
const MAX_WITHDRAWALS: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

impl FleetError {
    /// Whether the script may have run although its answer never came: a
    /// timeout, or the connection lost mid-call. Not a refused connection
    /// (nothing was sent), not an error reply (the script answered).
    fn may_have_run(&self) -> bool {
        match self {
            FleetError::Timeout(_) => true,
            FleetError::Redis(err) => {
                (err.is_io_error() || err.is_timeout()) && !err.is_connection_refusal()
            }
        }
    }
}

/// One reservation of a Socure call from a day's budget: the day's counter
/// and the reservation's own record, named by a random token (nothing in
/// Redis tells of a person).
#[derive(Debug, Clone)]
pub struct Reservation {
    counter: String,
    record: String,
}

/// The fleet as the mirror uses it: the shared state, what an outage
/// means, and the key the replicas share for applicants' fingerprints.
pub struct FleetUse {
    pub fleet: Fleet,
    pub on_error: FleetOnError,
    /// `None`: no duplicate window.
    pub dedup_key: Option<hmac::Key>,
    /// Whether the last call failed: an outage is logged when it starts
    /// and when it ends, not once per mirror.
    pub failing: AtomicBool,
}

impl FleetUse {
    /// From `[fleet]`: the client (TLS trusting `ca_pem` besides the web
    /// PKI roots, for `rediss://`) is made, not connected.
    pub fn new(config: &FleetConfig, ca_pem: Option<Vec<u8>>) -> Result<Self, FleetError> {
        let url = config.redis_url.expose();
        let client = match ca_pem {
            Some(root_cert) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                },
            )?,
            None => redis::Client::open(url)?,
        };
        Ok(Self {
            fleet: Fleet::new(client, config.timeout, &config.key_prefix),
            on_error: config.on_error,
            dedup_key: config
                .dedup_key
                .as_ref()
                .map(|key| hmac::Key::new(hmac::HMAC_SHA256, key.expose().as_bytes())),
            failing: AtomicBool::new(false),
        })
    }
}

/// The fleet's shared state, as one replica sees it.
pub struct Fleet {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    timeout: Duration,
    reserve: redis::Script,
    claim: redis::Script,
    prefix: String,
    withdrawals: Arc<Withdrawals>,
    /// Where withdrawals are counted (they end after their mirror has).
    metrics: Option<Metrics>,
}

/// Takes back the reservations whose answer never came, in tasks of their
/// own, on a connection of their own: the fleet's connection gives up on an
/// answer after `fleet.timeout_ms`, and a withdrawal must outlast the stall
/// that made its reservation time out.
struct Withdrawals {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    script: redis::Script,
    /// The withdrawals still waiting for their answer.
    tasks: TaskTracker,
}

impl Fleet {
    /// `client` is not contacted until the first call. `prefix` starts
    /// every key, so fleets (or tests) can share one Redis.
    pub fn new(client: redis::Client, timeout: Duration, prefix: &str) -> Self {
        Self {
            withdrawals: Arc::new(Withdrawals {
                client: client.clone(),
                connection: OnceCell::new(),
                script: redis::Script::new(WITHDRAW),
                tasks: TaskTracker::new(),
            }),
            client,
            connection: OnceCell::new(),
            timeout,
            reserve: redis::Script::new(RESERVE),
            claim: redis::Script::new(CLAIM),
            prefix: prefix.to_owned(),
            metrics: None,
        }
    }

    /// Counts the withdrawals into `metrics`.
    pub(crate) fn count_into(&mut self, metrics: Metrics) {
        self.metrics = Some(metrics);
    }

    /// Reserves one Socure call from `day`'s budget of `limit` (UTC): `true`
    /// when granted. Exactly `limit` are granted on `day`, however many
    /// replicas race, and only those whose answer came count.
    pub async fn reserve_call(&self, day: Date, limit: u64) -> Result<bool, FleetError> {
        self.reserve(&self.reservation(day), limit).await
    }

    /// A new reservation from `day`'s budget, not yet asked for.
    pub fn reservation(&self, day: Date) -> Reservation {
        let counter = format!("{}:budget:{day}", self.prefix);
        // The counter's name as the record's hash tag: both in one cluster
        // slot, as a script's keys must be.
        let record = format!(
            "{{{counter}}}:reservation:{}",
            uuid::Uuid::new_v4().simple()
        );
        Reservation { counter, record }
    }

    /// Asks for `reservation` within a limit of `limit`: `true` when
    /// granted. When its answer does not come in time, the caller goes
    /// without, and the reservation is withdrawn in the background (bounded,
    /// counted), so a grant that ran all the same is given back, and one
    /// that runs later does nothing: the budget counts only the calls made.
    pub async fn reserve(&self, reservation: &Reservation, limit: u64) -> Result<bool, FleetError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut connection = tokio::time::timeout_at(deadline, self.connection())
            .await
            .map_err(|_| FleetError::Timeout(self.timeout))??;
        let mut invocation = self.reserve.prepare_invoke();
        invocation
            .key(&reservation.counter)
            .key(&reservation.record)
            .arg(limit)
            .arg(COUNTER_TTL_SECONDS)
            .arg(RECORD_TTL_SECONDS);
        let asked = invocation.invoke_async::<i64>(&mut connection);
        let answered = match tokio::time::timeout_at(deadline, asked).await {
            Ok(Ok(granted)) => Ok(granted == 1),
            // The connection's own response timeout is this same timeout.
            Ok(Err(err)) if err.is_timeout() => Err(FleetError::Timeout(self.timeout)),
            Ok(Err(err)) => Err(FleetError::Redis(err)),
            Err(_) => Err(FleetError::Timeout(self.timeout)),
        };
        if let Err(err) = &answered
            && err.may_have_run()
        {
            self.withdraw_later(reservation.clone());
        }
        answered
    }

    /// Withdraws `reservation` now, bounded by the fleet's timeout: `true`
    /// when it had been granted and its call went back to the budget.
    pub async fn withdraw(&self, reservation: &Reservation) -> Result<bool, FleetError> {
        let bounded = async {
            let mut connection = self.connection().await?;
            withdraw(&self.withdrawals.script, reservation, &mut connection).await
        };
        tokio::time::timeout(self.timeout, bounded)
            .await
            .map_err(|_| FleetError::Timeout(self.timeout))?
    }

    /// Waits until every withdrawal begun so far has its answer or has
    /// given up (each within `WITHDRAW_WITHIN`).
    pub async fn withdrawals_settled(&self) {
        let tasks = &self.withdrawals.tasks;
        tasks.close();
        tasks.wait().await;
        tasks.reopen();
    }

    /// Withdraws `reservation` in a task of its own: the mirror that timed
    /// out has moved on, and waits for nothing here.
    fn withdraw_later(&self, reservation: Reservation) {
        let metrics = self.metrics.clone();
        let count = move |outcome, started: tokio::time::Instant| {
            if let Some(metrics) = &metrics {
                metrics.fleet_call(outcome, started.elapsed());
            }
        };
        let started = tokio::time::Instant::now();
        if self.withdrawals.tasks.len() >= MAX_WITHDRAWALS {
            count(FleetOutcome::WithdrawFailed, started);
            return;
        }
        let withdrawals = Arc::clone(&self.withdrawals);
        self.withdrawals.tasks.spawn(async move {
            let withdrawn =
                tokio::time::timeout(WITHDRAW_WITHIN, withdrawals.withdraw(&reservation)).await;
            count(
                match withdrawn {
                    Ok(Ok(true)) => FleetOutcome::Returned,
                    Ok(Ok(false)) => FleetOutcome::Barred,
                    Ok(Err(_)) | Err(_) => FleetOutcome::WithdrawFailed,
                },
                started,
            );
        });
    }

    /// Claims `fingerprint` (an applicant's keyed hash: nothing in Redis
    /// can be turned back into a person) for `window` under `line_id`:
    /// `None` when this line is the first within the window, else the id
    /// of the line that was.
    pub async fn claim_applicant(
        &self,
        fingerprint: &[u8; 32],
        line_id: &str,
        window: Duration,
    ) -> Result<Option<String>, FleetError> {
        let hex: String = fingerprint.iter().map(|b| format!("{b:02x}")).collect();
        let key = format!("{}:seen:{hex}", self.prefix);
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let bounded = async {
            let mut connection = self.connection().await?;
            let earlier: Option<String> = self
                .claim
                .key(key)
                .arg(line_id)
                .arg(window_ms)
                .invoke_async(&mut connection)
                .await?;
            Ok::<_, FleetError>(earlier)
        };
        tokio::time::timeout(self.timeout, bounded)
            .await
            .map_err(|_| FleetError::Timeout(self.timeout))?
    }

    /// The shared connection, made on first use. A failed attempt leaves
    /// the cell empty, so the next call tries again.
    async fn connection(&self) -> Result<ConnectionManager, FleetError> {
        let connection = self
            .connection
            .get_or_try_init(|| connect(&self.client, self.timeout))
            .await?;
        Ok(connection.clone())
    }
}

impl Withdrawals {
    async fn withdraw(&self, reservation: &Reservation) -> Result<bool, FleetError> {
        let connection = self
            .connection
            .get_or_try_init(|| connect(&self.client, WITHDRAW_WITHIN))
            .await?;
        withdraw(&self.script, reservation, &mut connection.clone()).await
    }
}

/// A connection to `client` that waits for it, and for each answer, at most
/// `timeout`.
async fn connect(
    client: &redis::Client,
    timeout: Duration,
) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        // Reconnection goes on in the background; a call never waits on it
        // for longer than its own timeout.
        .set_number_of_retries(1);
    ConnectionManager::new_with_config(client.clone(), config).await
}

/// Runs the withdrawal script for `reservation`: `true` when its call went
/// back to the budget.
async fn withdraw(
    script: &redis::Script,
    reservation: &Reservation,
    connection: &mut ConnectionManager,
) -> Result<bool, FleetError> {
    let returned: i64 = script
        .key(&reservation.counter)
        .key(&reservation.record)
        .arg(RECORD_TTL_SECONDS)
        .invoke_async(connection)
        .await?;
    Ok(returned == 1)
}
