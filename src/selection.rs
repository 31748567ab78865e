//! Which eligible applicants are sent to Socure, which bills per call: the
//! sticky sample (`shadow.sample_percent`), the daily budget
//! (`socure.max_calls_per_day`) and the duplicate window
//! (`shadow.dedup_window_seconds`).
//!
//! All of it runs in the mirror task, off the forward path. The sample is
//! decided from a plain SHA-256 of the user's uuid, so every replica puts the
//! same person on the same side. The duplicate window keys on an HMAC of the
//! normalized identity fields under a key drawn at start and never written
//! anywhere, so nothing kept in memory can be turned back into a person, and
//! the keys mean nothing to another process.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ring::{digest, hmac};
use time::OffsetDateTime;

use crate::applicant::Applicant;

/// Basis points in 100%.
pub const ALL: u32 = 10_000;

/// Whether the applicant with `user_uuid` is in a sample of `basis_points`
/// (0 to 10,000). Without a uuid the draw is per request.
pub fn sampled_in(user_uuid: Option<&str>, basis_points: u32) -> bool {
    if basis_points >= ALL {
        return true;
    }
    if basis_points == 0 {
        return false;
    }
    let draw = match user_uuid {
        Some(uuid) => {
            let hash = digest::digest(&digest::SHA256, uuid.trim().to_ascii_lowercase().as_bytes());
            let mut first = [0u8; 8];
            first.copy_from_slice(&hash.as_ref()[..8]);
            u64::from_be_bytes(first)
        }
        // uuid v4 draws its bits from the OS's random source.
        None => uuid::Uuid::new_v4().as_u64_pair().0,
    };
    draw % u64::from(ALL) < u64::from(basis_points)
}

/// Socure calls made today (UTC), against a limit that may change on reload.
#[derive(Debug, Default)]
pub struct Budget {
    /// (days since the epoch, calls made that day). Locked only to count.
    used: Mutex<(i64, u64)>,
}

impl Budget {
    /// Takes one call from today's budget; `false` when `limit` is reached.
    pub fn take(&self, limit: u64) -> bool {
        let today = OffsetDateTime::now_utc()
            .unix_timestamp()
            .div_euclid(86_400);
        let Ok(mut used) = self.used.lock() else {
            return false;
        };
        if used.0 != today {
            *used = (today, 0);
        }
        if used.1 >= limit {
            return false;
        }
        used.1 += 1;
        true
    }
}

/// How many applicants the duplicate window remembers at most; past it the
/// oldest are forgotten early.
const DEDUP_CAPACITY: usize = 100_000;

/// Applicants seen within the window, by keyed hash, with their line's id.
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
        // 32 random bytes from the OS, through uuid v4 (two draws).
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
        let fingerprint = self.fingerprint(applicant);
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

    /// The keyed hash of the fields that identify a person, normalized so
    /// case, spacing and SSN dashes do not make a new person.
    fn fingerprint(&self, applicant: &Applicant) -> [u8; 32] {
        let norm = |value: Option<&str>| {
            value
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        };
        let address = applicant.address.as_ref();
        let fields = [
            norm(applicant.first_name.as_deref()),
            norm(applicant.last_name.as_deref()),
            applicant
                .ssn
                .as_deref()
                .unwrap_or("")
                .chars()
                .filter(char::is_ascii_digit)
                .collect(),
            applicant.dob.map(|d| d.iso()).unwrap_or_default(),
            norm(address.and_then(|a| a.street1.as_deref())),
            norm(address.and_then(|a| a.city.as_deref())),
            norm(address.and_then(|a| a.state.as_deref())),
            norm(address.and_then(|a| a.zip5.as_deref())),
        ];
        let mut context = hmac::Context::with_key(&self.key);
        for field in &fields {
            // Length-prefixed, so fields cannot run into each other.
            context.update(&(field.len() as u64).to_be_bytes());
            context.update(field.as_bytes());
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(context.sign().as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_sticky_and_near_its_share() {
        let users: Vec<String> = (0..10_000)
            .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
            .collect();
        let share = |bp| users.iter().filter(|u| sampled_in(Some(u), bp)).count();
        assert_eq!(share(0), 0);
        assert_eq!(share(ALL), users.len());
        let thirty = share(3_000);
        // Binomial(10000, 0.3): sd about 46; 5 sd either side.
        assert!((2_770..=3_230).contains(&thirty), "{thirty}");
        for user in users.iter().take(100) {
            let first = sampled_in(Some(user), 3_000);
            assert!((0..5).all(|_| sampled_in(Some(user), 3_000) == first));
        }
    }

    #[test]
    fn the_budget_stops_at_its_limit() {
        let budget = Budget::default();
        assert!((0..3).all(|_| budget.take(3)));
        assert!(!budget.take(3));
        assert!(budget.take(4), "a raised limit applies at once");
        assert!(!Budget::default().take(0));
    }
}
