//! Which eligible applicants are sent to Socure, which bills per call: the sticky sample, the daily budget, the duplicate window.
//!
//! All of it runs in the mirror task, off the forward path. What is pure (the
//! sample draw from a user's uuid, the identity fingerprint) is in
//! `judge::selection`; here is what needs a clock, a random draw or state:
//! the draw for a request without a uuid, the count of today's calls, and
//! the applicants seen within the window. The fingerprint key is drawn at
//! start and never written anywhere, so nothing kept in memory can be turned
//! back into a person, and the keys mean nothing to another process.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ring::hmac;
use time::OffsetDateTime;

use crate::config::DailyLimit;
use crate::judge::applicant::Applicant;
use crate::judge::selection;

/// Whether the applicant with `user_uuid` is in a sample of `basis_points`
/// (0 to 10,000). Without a uuid the draw is per request.
pub fn sampled_in(user_uuid: Option<&str>, basis_points: u32) -> bool {
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
