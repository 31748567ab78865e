//! The periodic stats line: what the proxy did since the last one (requests, shadowed, shed, lines, Socure outcomes), read from its own metrics.
//!
//! Read from the rendered metrics once per interval, off every request's
//! path: the counters are the metrics' own, so the line and `/metrics`
//! cannot disagree, and no request pays for the line.

use std::collections::BTreeMap;
use std::time::Duration;

use super::event;
use super::metrics::{self, Metrics, PREFIX};

/// Counter totals at one moment.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Totals {
    pub requests: u64,
    pub shadowed: u64,
    pub shed: u64,
    pub sampled_out: u64,
    pub lines_written: u64,
    pub lines_lost: u64,
    /// The `shadow_log_writable` gauge: a state, not a count.
    pub log_writable: bool,
    /// Lines by `socure_outcome`.
    pub outcomes: BTreeMap<String, u64>,
}

impl Totals {
    /// The totals in Prometheus text `rendered`: each counter summed over
    /// its labels, outcomes by their label.
    pub fn parse(rendered: &str) -> Self {
        let mut totals = Totals::default();
        for line in rendered.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            // Counters are whole numbers; a value that is not one is not ours.
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let value = value as u64;
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            match name.strip_prefix(PREFIX).unwrap_or_default() {
                metrics::REQUESTS_FORWARDED => totals.requests += value,
                metrics::MIRRORS_STARTED => totals.shadowed += value,
                metrics::MIRRORS_SHED => totals.shed += value,
                metrics::MIRRORS_SAMPLED_OUT => totals.sampled_out += value,
                metrics::LINES_WRITTEN => totals.lines_written += value,
                metrics::LINES_LOST => totals.lines_lost += value,
                metrics::LOG_WRITABLE => totals.log_writable = value >= 1,
                metrics::MIRRORS => {
                    if let Some(outcome) = label(labels, metrics::SOCURE_OUTCOME) {
                        *totals.outcomes.entry(outcome.to_owned()).or_default() += value;
                    }
                }
                _ => {}
            }
        }
        totals
    }

    /// What happened from `earlier` to `self`.
    pub fn since(&self, earlier: &Totals) -> Totals {
        Totals {
            requests: self.requests.saturating_sub(earlier.requests),
            shadowed: self.shadowed.saturating_sub(earlier.shadowed),
            shed: self.shed.saturating_sub(earlier.shed),
            sampled_out: self.sampled_out.saturating_sub(earlier.sampled_out),
            lines_written: self.lines_written.saturating_sub(earlier.lines_written),
            lines_lost: self.lines_lost.saturating_sub(earlier.lines_lost),
            log_writable: self.log_writable,
            outcomes: self
                .outcomes
                .iter()
                .map(|(k, v)| {
                    let before = earlier.outcomes.get(k).copied().unwrap_or(0);
                    (k.clone(), v.saturating_sub(before))
                })
                .filter(|(_, v)| *v > 0)
                .collect(),
        }
    }
}

/// `key="value"` out of a Prometheus label set.
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels
        .trim_end_matches('}')
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// Writes the stats line every `every` until the runtime ends.
pub fn spawn(metrics: Metrics, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The counters start at zero with the proxy: so does the first
        // line's span, whenever this task first runs.
        let mut last = Totals::default();
        loop {
            ticks.tick().await;
            let now = Totals::parse(&metrics.render());
            let delta = now.since(&last);
            // The outcomes as an object, not a string to take apart:
            // `fields.socure_outcomes.answered` in a log query.
            let outcomes: serde_json::Map<String, serde_json::Value> = delta
                .outcomes
                .iter()
                .map(|(k, v)| (k.clone(), (*v).into()))
                .collect();
            let serde_json::Value::Object(fields) = serde_json::json!({
                "interval_seconds": every.as_secs_f64(),
                "requests": delta.requests,
                "shadowed": delta.shadowed,
                "shed": delta.shed,
                "sampled_out": delta.sampled_out,
                "lines_written": delta.lines_written,
                "lines_lost": delta.lines_lost,
                "shadow_log_writable": delta.log_writable,
                "socure_outcomes": outcomes,
            }) else {
                continue;
            };
            event::info("stats since the last line", fields);
            last = now;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_summed_over_labels_and_subtracted() {
        let before = Totals::parse(
            "# TYPE x counter\nsocure_shadow_proxy_requests_forwarded_total{route=\"instant_verify\",status_class=\"2xx\"} 3\nsocure_shadow_proxy_requests_forwarded_total{route=\"other\",status_class=\"5xx\"} 1\nsocure_shadow_proxy_mirrors_total{socure_outcome=\"answered\"} 2\n",
        );
        assert_eq!(before.requests, 4);
        let after = Totals::parse(
            "socure_shadow_proxy_requests_forwarded_total{route=\"instant_verify\",status_class=\"2xx\"} 10\nsocure_shadow_proxy_mirrors_total{socure_outcome=\"answered\"} 5\nsocure_shadow_proxy_mirrors_total{socure_outcome=\"dropped\"} 1\nsocure_shadow_proxy_shadow_lines_written_total 6\nsocure_shadow_proxy_mirrors_started_total 6\n",
        );
        let delta = after.since(&before);
        assert_eq!(delta.requests, 6);
        assert_eq!(delta.lines_written, 6);
        assert_eq!(delta.shadowed, 6);
        assert!(!delta.log_writable, "absent is not writable");
        let writable = Totals::parse("socure_shadow_proxy_shadow_log_writable 1\n");
        assert!(
            writable.since(&after).log_writable,
            "the gauge as it is now"
        );
        assert_eq!(
            delta.outcomes,
            BTreeMap::from([("answered".to_owned(), 3), ("dropped".to_owned(), 1)])
        );
    }
}
