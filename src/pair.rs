//! Joins the two sides of one shadowed request, with their timings, into the one shadow line.
//!
//! The line is identity-idp's `events.log` envelope around the
//! `idv_socure_shadow_mode_proofing_result` event (CONTRACT.md section 4), so
//! the IdV team's queries read it unchanged. Each side also says how it ended
//! (`resolution_outcome`, `socure_outcome`) and how long it took, because the
//! proxy has ways to lose a side that the IdP's job did not.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::resolution::{self, Exchange};
use crate::socure::{self, Answer, SocureError};
use crate::verdict::Verdict;

pub const EVENT_NAME: &str = "idv_socure_shadow_mode_proofing_result";

/// How the LexisNexis side ended, and how long it took from the proxy's send.
#[derive(Debug)]
pub struct ResolutionSide {
    pub exchange: Exchange,
    pub elapsed: Option<Duration>,
}

/// How the Socure side ended.
#[derive(Debug)]
pub enum SocureSide {
    Called {
        call: Result<Answer, SocureError>,
        elapsed: Duration,
    },
    /// No call was made; the reason never quotes the request.
    NotSent { reason: String },
    /// No call was made: `shadow.max_in_flight` calls were already running.
    Dropped { reason: String },
    /// The call was under way when shutdown's grace period ran out.
    Interrupted { elapsed: Duration },
    /// No call: the same applicant's line `of` is within the window.
    Duplicate { of: String },
    /// No call: `socure.max_calls_per_day` is used up for today.
    BudgetExhausted { reason: String },
}

/// A fresh line id, decided when the mirror starts so a later duplicate
/// can point to it.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// One line of the shadow log.
#[derive(Debug, Serialize)]
pub struct ShadowLine {
    pub name: &'static str,
    pub id: String,
    pub time: String,
    pub properties: Properties,
    pub log_filename: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Properties {
    pub event_properties: EventProperties,
    pub new_event: bool,
    pub path: String,
    pub user_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct EventProperties {
    pub resolution_result: Verdict,
    /// `null` when Socure was not called (`not_sent`, `dropped`).
    pub socure_result: Option<Verdict>,
    pub resolution_outcome: &'static str,
    pub resolution_elapsed_ms: Option<u64>,
    pub socure_outcome: &'static str,
    pub socure_elapsed_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socure_not_sent_reason: Option<String>,
    /// For `socure_outcome: "duplicate"`: the id of the earlier line for
    /// the same applicant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
}

/// Judges both sides and builds the line. `path` is the request path without
/// its query; `user_id` the uuid from `Settings.Reference`.
/// How the two vendors' verdicts on one applicant compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    BothPass = 0,
    OnlyLexisNexisPasses = 1,
    OnlySocurePasses = 2,
    BothFail = 3,
    /// Either verdict is an exception, or Socure was not called.
    OneSideErrored = 4,
}

impl Agreement {
    /// Metric label values, in variant order.
    pub const LABELS: [&'static str; 5] = [
        "both_pass",
        "only_lexisnexis_passes",
        "only_socure_passes",
        "both_fail",
        "one_side_errored",
    ];

    pub fn of(event: &EventProperties) -> Self {
        let resolution = &event.resolution_result;
        let Some(socure) = &event.socure_result else {
            return Agreement::OneSideErrored;
        };
        if resolution.exception.is_some() || socure.exception.is_some() {
            return Agreement::OneSideErrored;
        }
        match (resolution.success, socure.success) {
            (true, true) => Agreement::BothPass,
            (true, false) => Agreement::OnlyLexisNexisPasses,
            (false, true) => Agreement::OnlySocurePasses,
            (false, false) => Agreement::BothFail,
        }
    }
}

pub fn pair(
    id: String,
    path: String,
    user_id: Option<String>,
    workflow: &str,
    resolution: ResolutionSide,
    socure: SocureSide,
) -> ShadowLine {
    let duplicate_of = match &socure {
        SocureSide::Duplicate { of } => Some(of.clone()),
        _ => None,
    };
    let (socure_result, socure_outcome, socure_elapsed_ms, socure_not_sent_reason) = match socure {
        SocureSide::Called { call, elapsed } => (
            Some(socure::judge_call(&call)),
            socure::outcome(&call),
            Some(millis(elapsed)),
            None,
        ),
        SocureSide::NotSent { reason } => (None, "not_sent", None, Some(reason)),
        SocureSide::Dropped { reason } => (None, "dropped", None, Some(reason)),
        SocureSide::Interrupted { elapsed } => (
            Some(socure::interrupted()),
            "shutdown",
            Some(millis(elapsed)),
            None,
        ),
        SocureSide::Duplicate { .. } => (None, "duplicate", None, None),
        SocureSide::BudgetExhausted { reason } => (None, "budget_exhausted", None, Some(reason)),
    };

    ShadowLine {
        name: EVENT_NAME,
        id,
        time: timestamp(OffsetDateTime::now_utc()),
        properties: Properties {
            event_properties: EventProperties {
                resolution_result: resolution::judge_exchange(&resolution.exchange, workflow),
                socure_result,
                resolution_outcome: resolution.exchange.outcome(),
                resolution_elapsed_ms: resolution.elapsed.map(millis),
                socure_outcome,
                socure_elapsed_ms,
                socure_not_sent_reason,
                duplicate_of,
            },
            new_event: true,
            path,
            user_id,
        },
        log_filename: "events.log",
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// RFC 3339, milliseconds, `Z`, as the IdP's events carry.
fn timestamp(at: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_is_rfc3339_millis_z() {
        let at = time::macros::datetime!(2024-08-22 19:25:45.678912 UTC);
        assert_eq!(timestamp(at), "2024-08-22T19:25:45.678Z");
    }

    #[test]
    fn envelope_keys_come_in_the_events_log_order() {
        let line = pair(
            new_id(),
            "/p".into(),
            None,
            "wf",
            ResolutionSide {
                exchange: Exchange::ClientGone,
                elapsed: None,
            },
            SocureSide::NotSent { reason: "r".into() },
        );
        let text = serde_json::to_string(&line).expect("json");
        let keys: Vec<usize> = [
            "\"name\"",
            "\"id\"",
            "\"time\"",
            "\"properties\"",
            "\"log_filename\"",
        ]
        .iter()
        .map(|k| text.find(k).expect(k))
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.contains(r#""socure_result":null"#), "{text}");
        assert!(
            text.contains(r#""resolution_outcome":"client_gone""#),
            "{text}"
        );
    }
}
