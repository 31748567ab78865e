//! What a SIGHUP reload may change while the proxy serves ([`LiveSettings`]), and what it may not.

use std::time::Duration;

use super::{Config, DailyLimit};

/// The settings a reload applies at once; a change anywhere else needs a
/// restart. One type, so the reload's diff, the live values and the reload
/// log cannot disagree on which settings these are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveSettings {
    /// `shadow.enabled`
    pub shadow_enabled: bool,
    /// `shadow.sample_percent`, in basis points.
    pub sample_basis_points: u32,
    /// `socure.timeout_seconds`
    pub socure_timeout: Duration,
    /// `socure.max_calls_per_day`
    pub max_calls_per_day: DailyLimit,
}

/// The keys of [`LiveSettings`], in the config's words.
pub const LIVE_KEYS: [&str; 4] = [
    "shadow.enabled",
    "shadow.sample_percent",
    "socure.timeout_seconds",
    "socure.max_calls_per_day",
];

impl LiveSettings {
    /// The live settings as the config's keys and JSON values (`null` for
    /// an unlimited budget), for the reload's log line.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "shadow.enabled": self.shadow_enabled,
            "shadow.sample_percent": f64::from(self.sample_basis_points) / 100.0,
            "socure.timeout_seconds": self.socure_timeout.as_secs_f64(),
            "socure.max_calls_per_day": self.max_calls_per_day,
        })
    }
}

impl Config {
    /// This config's live settings.
    pub fn live(&self) -> LiveSettings {
        LiveSettings {
            shadow_enabled: self.shadow.enabled,
            sample_basis_points: self.shadow.sample_basis_points,
            socure_timeout: self.socure.timeout,
            max_calls_per_day: self.socure.max_calls_per_day,
        }
    }

    /// What a reload cannot apply: the keys whose values differ between
    /// this config and `new`, besides the live ones. The API key (from the
    /// environment) counts as a key too.
    pub fn needs_restart(&self, new: &Config) -> Vec<String> {
        let mut keys: Vec<String> = self
            .effective
            .changes(&new.effective)
            .into_iter()
            .map(|change| change.key)
            .filter(|key| !LIVE_KEYS.contains(&key.as_str()))
            .collect();
        if self.socure.api_key != new.socure.api_key {
            keys.push("socure.api_key".into());
        }
        keys
    }
}
