//! What a SIGHUP reload may change while the proxy serves ([`LiveSettings`]), and what it may not.

use std::time::Duration;

use serde::{Serialize, Serializer};

use super::{Config, DailyLimit};

/// The settings a reload applies at once; a change anywhere else needs a
/// restart. Each is listed here once: its field gives its type, and its
/// serde name its key in the config's words, from which the reload's log
/// line ([`LiveSettings::to_json`]) and the keys a reload may change
/// ([`Config::needs_restart`]) are made; the running proxy keeps the whole
/// struct (`ops::live`). A new live setting is a field here and the line
/// of [`Config::live`] that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LiveSettings {
    #[serde(rename = "shadow.enabled")]
    pub shadow_enabled: bool,
    /// In basis points; shown as the percentage the key holds.
    #[serde(rename = "shadow.sample_percent", serialize_with = "percent")]
    pub sample_basis_points: u32,
    #[serde(rename = "socure.timeout_seconds", serialize_with = "seconds")]
    pub socure_timeout: Duration,
    #[serde(rename = "socure.max_calls_per_day")]
    pub max_calls_per_day: DailyLimit,
}

fn percent<S: Serializer>(basis_points: &u32, serializer: S) -> Result<S::Ok, S::Error> {
    (f64::from(*basis_points) / 100.0).serialize(serializer)
}

fn seconds<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    duration.as_secs_f64().serialize(serializer)
}

impl LiveSettings {
    /// The live settings as the config's keys and JSON values (`null` for
    /// an unlimited budget), for the reload's log line.
    pub fn to_json(&self) -> serde_json::Value {
        // Plain numbers, booleans and `null`: nothing here can fail.
        serde_json::to_value(self).unwrap_or_default()
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
        // The live keys are those of the reload's log line.
        let live = self.live().to_json();
        let mut keys: Vec<String> = self
            .effective
            .changes(&new.effective)
            .into_iter()
            .map(|change| change.key)
            .filter(|key| live.get(key).is_none())
            .collect();
        if self.socure.api_key != new.socure.api_key {
            keys.push("socure.api_key".into());
        }
        keys
    }
}
