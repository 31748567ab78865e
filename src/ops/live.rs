//! The settings a SIGHUP reload changes while the proxy serves: shadow mode
//! on or off, the sample share, the daily Socure budget and the Socure
//! timeout; and the effective configuration in force, for `/config`. Read
//! without a lock, written only by a reload; no request waits on them.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::reload::LiveSettings;

/// The live settings in force: one atomic pointer to the whole set, so
/// they are kept as the config types them (nothing to encode for an
/// atomic integer, nothing listed again here) and a reload replaces them
/// together.
#[derive(Debug)]
pub struct Live(ArcSwap<LiveSettings>);

impl Live {
    pub fn new(settings: LiveSettings) -> Self {
        Self(ArcSwap::from_pointee(settings))
    }

    /// Puts `settings` in force, with one atomic store.
    pub fn apply(&self, settings: LiveSettings) {
        self.0.store(Arc::new(settings));
    }

    /// The settings in force now, copied out: a request that reads this
    /// once sees one reload's values throughout.
    pub fn current(&self) -> LiveSettings {
        **self.0.load()
    }
}

/// The effective configuration in force, as `check-config --format json`
/// prints it (secrets absent): what the admin port's `/config` serves. A
/// reload replaces it with its live settings applied; keys a reload cannot
/// change keep the values the proxy started with, as the proxy does.
#[derive(Debug)]
pub struct InForce(ArcSwap<String>);

impl InForce {
    pub fn new(document: &serde_json::Value) -> Self {
        Self(ArcSwap::from_pointee(Self::text(document)))
    }

    /// Puts `document` in force.
    pub fn set(&self, document: &serde_json::Value) {
        self.0.store(Arc::new(Self::text(document)));
    }

    /// The document, pretty-printed, as `/config` serves it.
    pub fn current(&self) -> Arc<String> {
        self.0.load_full()
    }

    fn text(document: &serde_json::Value) -> String {
        let mut text = serde_json::to_string_pretty(document).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::DailyLimit;

    #[test]
    fn a_reload_replaces_every_setting_as_the_config_gives_it() {
        let start = LiveSettings {
            shadow_enabled: true,
            sample_basis_points: 10_000,
            socure_timeout: Duration::from_secs(5),
            max_calls_per_day: DailyLimit::Unlimited,
        };
        let live = Live::new(start);
        assert_eq!(live.current(), start);
        // No value stands for another: not the largest limit for none, not
        // a timeout rounded to what an integer of milliseconds holds.
        let reloaded = LiveSettings {
            shadow_enabled: false,
            sample_basis_points: 1,
            socure_timeout: Duration::from_micros(1_500),
            max_calls_per_day: DailyLimit::AtMost(u64::MAX),
        };
        live.apply(reloaded);
        assert_eq!(live.current(), reloaded);
    }
}
