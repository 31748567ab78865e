//! The admin listener's Prometheus text: one series' value, and polling until a series reaches a value.

use std::net::SocketAddr;
use std::time::Duration;

use super::{TEST_BOUND, admin_get};

/// The value of one series (name and labels exactly as rendered) in a
/// Prometheus text exposition.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} not in:\n{text}"))
}

/// Polls `/metrics` until `series` reaches `at_least` (bounded): the
/// metric is the event waited for.
pub async fn metric_reaches(admin: SocketAddr, series: &str, at_least: f64) -> String {
    metric_until(admin, series, |value| value >= at_least).await
}

/// Polls `/metrics` until `series` satisfies `wanted` (bounded).
pub async fn metric_until(admin: SocketAddr, series: &str, wanted: impl Fn(f64) -> bool) -> String {
    tokio::time::timeout(TEST_BOUND, async {
        loop {
            let (_, text) = admin_get(admin, "/metrics").await;
            if wanted(metric(&text, series)) {
                return text;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{series} never took the value waited for"))
}
