//! State shared by every replica through Redis: the one daily Socure budget of the whole fleet, and its one duplicate window.
//!
//! Called only from mirror tasks, never from the forward path, and every
//! call is bounded by `timeout`: a slow or dead Redis costs a mirror that
//! long at most, and says so (`FleetError`), so the caller can apply its
//! policy. The connection is made on first use and then kept by redis-rs's
//! `ConnectionManager`, which reconnects by itself after Redis comes back.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ring::hmac;

use crate::config::{FleetConfig, FleetOnError};
use time::Date;
use tokio::sync::OnceCell;

/// One reservation, atomically: count the call, give the counter its
/// expiry on first use, and grant it only within the limit. A refused call
/// still counts, which changes nothing: the count is only compared with
/// the limit.
const RESERVE: &str = r"
local used = redis.call('INCR', KEYS[1])
if used == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
if used <= tonumber(ARGV[1]) then
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

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
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
}

impl Fleet {
    /// `client` is not contacted until the first call. `prefix` starts
    /// every key, so fleets (or tests) can share one Redis.
    pub fn new(client: redis::Client, timeout: Duration, prefix: &str) -> Self {
        Self {
            client,
            connection: OnceCell::new(),
            timeout,
            reserve: redis::Script::new(RESERVE),
            claim: redis::Script::new(CLAIM),
            prefix: prefix.to_owned(),
        }
    }

    /// Reserves one Socure call from `day`'s budget of `limit` (UTC): `true`
    /// when granted. Exactly `limit` are granted on `day`, however many
    /// replicas race.
    pub async fn reserve_call(&self, day: Date, limit: u64) -> Result<bool, FleetError> {
        let key = format!("{}:budget:{day}", self.prefix);
        let bounded = async {
            let mut connection = self.connection().await?;
            let granted: i64 = self
                .reserve
                .key(key)
                .arg(limit)
                .arg(COUNTER_TTL_SECONDS)
                .invoke_async(&mut connection)
                .await?;
            Ok::<_, FleetError>(granted == 1)
        };
        tokio::time::timeout(self.timeout, bounded)
            .await
            .map_err(|_| FleetError::Timeout(self.timeout))?
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
            .get_or_try_init(|| {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    // Reconnection goes on in the background; a call never
                    // waits on it for longer than its own timeout.
                    .set_number_of_retries(1);
                ConnectionManager::new_with_config(self.client.clone(), config)
            })
            .await?;
        Ok(connection.clone())
    }
}
