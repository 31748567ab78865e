//! State shared by every replica through Redis: the one daily Socure budget of the whole fleet.
//!
//! Called only from mirror tasks, never from the forward path, and every
//! call is bounded by `timeout`: a slow or dead Redis costs a mirror that
//! long at most, and says so (`FleetError`), so the caller can apply its
//! policy. The connection is made on first use and then kept by redis-rs's
//! `ConnectionManager`, which reconnects by itself after Redis comes back.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
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

/// The fleet's shared state, as one replica sees it.
pub struct Fleet {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    timeout: Duration,
    reserve: redis::Script,
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

    /// The shared connection, made on first use. A failed attempt leaves
    /// the cell empty, so the next call tries again.
    async fn connection(&self) -> Result<ConnectionManager, FleetError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            // Reconnection goes on in the background; a call never waits
            // on it for longer than its own timeout.
            .set_number_of_retries(1);
        let connection = self
            .connection
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await?;
        Ok(connection.clone())
    }
}
