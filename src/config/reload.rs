//! What a SIGHUP reload may change while the proxy serves ([`LiveSettings`]), and what it may not.

use std::fmt;
use std::time::Duration;

use super::Config;

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
    /// `socure.max_calls_per_day`; `None`: unlimited.
    pub max_calls_per_day: Option<u64>,
}

impl LiveSettings {
    /// The one log line a reload writes about what it applied.
    pub fn log_applied(&self) {
        tracing::info!(
            shadow_enabled = self.shadow_enabled,
            sample_percent = f64::from(self.sample_basis_points) / 100.0,
            socure_timeout_seconds = self.socure_timeout.as_secs_f64(),
            max_calls_per_day = ?self.max_calls_per_day,
            "configuration reloaded"
        );
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

    /// This config with `live` in place of its live settings.
    fn with_live(&self, live: LiveSettings) -> Config {
        let mut config = self.clone();
        config.shadow.enabled = live.shadow_enabled;
        config.shadow.sample_basis_points = live.sample_basis_points;
        config.socure.timeout = live.socure_timeout;
        config.socure.max_calls_per_day = live.max_calls_per_day;
        config
    }

    /// What a reload cannot apply: the sections of `new` that differ from
    /// this config in anything but the live settings.
    pub fn needs_restart(&self, new: &Config) -> Vec<&'static str> {
        let same_live = new.with_live(self.live());
        let differs = |a: &dyn fmt::Debug, b: &dyn fmt::Debug| format!("{a:?}") != format!("{b:?}");
        let mut sections = Vec::new();
        if differs(&self.listen, &same_live.listen) {
            sections.push("listen");
        }
        if differs(&self.admin, &same_live.admin) {
            sections.push("admin");
        }
        if differs(&self.log, &same_live.log) {
            sections.push("log");
        }
        if differs(&self.upstream, &same_live.upstream) {
            sections.push("upstream");
        }
        if differs(&self.shadow, &same_live.shadow) {
            sections.push("shadow (besides enabled and sample_percent)");
        }
        // The key is redacted in Debug, so compare it apart.
        if differs(&self.socure, &same_live.socure)
            || self.socure.api_key != same_live.socure.api_key
        {
            sections.push("socure (besides timeout_seconds and max_calls_per_day)");
        }
        sections
    }
}
