//! The settings a SIGHUP reload changes while the proxy serves: shadow mode
//! on or off, the sample share, the daily Socure budget and the Socure
//! timeout. Read with atomic loads on every request, written only by a
//! reload; no request waits on them.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::config::DailyLimit;
use crate::config::reload::LiveSettings;

/// [`DailyLimit::Unlimited`] in `max_calls_per_day`'s atomic: a limit of
/// `u64::MAX` calls a day is as good as none. Nothing outside this file
/// sees the encoding.
const UNLIMITED: u64 = u64::MAX;

#[derive(Debug)]
pub struct Live {
    enabled: AtomicBool,
    sample_basis_points: AtomicU32,
    max_calls_per_day: AtomicU64,
    socure_timeout_ms: AtomicU64,
}

impl Live {
    pub fn new(settings: LiveSettings) -> Self {
        let live = Self {
            enabled: AtomicBool::new(false),
            sample_basis_points: AtomicU32::new(0),
            max_calls_per_day: AtomicU64::new(UNLIMITED),
            socure_timeout_ms: AtomicU64::new(0),
        };
        live.apply(settings);
        live
    }

    /// Takes `settings`, each with one atomic store.
    pub fn apply(&self, settings: LiveSettings) {
        self.enabled
            .store(settings.shadow_enabled, Ordering::Relaxed);
        self.sample_basis_points
            .store(settings.sample_basis_points, Ordering::Relaxed);
        self.max_calls_per_day.store(
            settings.max_calls_per_day.calls().unwrap_or(UNLIMITED),
            Ordering::Relaxed,
        );
        let timeout = u64::try_from(settings.socure_timeout.as_millis()).unwrap_or(u64::MAX);
        self.socure_timeout_ms
            .store(timeout.max(1), Ordering::Relaxed);
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub fn sample_basis_points(&self) -> u32 {
        self.sample_basis_points.load(Ordering::Relaxed)
    }

    pub fn max_calls_per_day(&self) -> DailyLimit {
        match self.max_calls_per_day.load(Ordering::Relaxed) {
            UNLIMITED => DailyLimit::Unlimited,
            calls => DailyLimit::AtMost(calls),
        }
    }

    pub fn socure_timeout(&self) -> Duration {
        Duration::from_millis(self.socure_timeout_ms.load(Ordering::Relaxed))
    }
}
