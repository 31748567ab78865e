//! One shadow line read back: only the fields the report counts, borrowed from the text where JSON allows.
//!
//! The line's shape is the judge crate's (`pair::ShadowLine`, `pair::ShedLine`);
//! this side is lenient where that side is exact, because a month of logs may
//! hold lines from older versions, other events and damaged writes. Anything
//! that is not one of our two events, or lacks what the report needs, is
//! classified, never fatal.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use socure_shadow_judge::pair::{EVENT_NAME, SHED_EVENT_NAME, SocureOutcome};
use socure_shadow_judge::resolution::ResolutionOutcome;

/// What one line of input turned out to be.
#[derive(Debug)]
pub enum Seen<'a> {
    Proofing(Box<Proofing<'a>>),
    Shed {
        at: OffsetDateTime,
        count: u64,
        reason: Cow<'a, str>,
    },
    /// Valid JSON of another event (the IdP's `events.log` holds many).
    OtherEvent,
    /// Not JSON, or one of our events without what the report needs.
    Malformed,
}

/// The parts of an `idv_socure_shadow_mode_proofing_result` line the report reads.
#[derive(Debug)]
pub struct Proofing<'a> {
    pub at: OffsetDateTime,
    pub resolution: Side<'a>,
    /// `None` when Socure was not called (`socure_result: null`).
    pub socure: Option<Side<'a>>,
    pub resolution_outcome: Label<'a, ResolutionOutcome>,
    pub socure_outcome: Label<'a, SocureOutcome>,
    pub resolution_elapsed_ms: Option<u64>,
    pub socure_elapsed_ms: Option<u64>,
}

/// An outcome label as the line spells it, and the judge's outcome it names.
///
/// The report decides by `known` only (so a label renamed in the judge is
/// read by its new name, never compared with an old spelling here), and
/// counts by `text`: a line from another version may carry an outcome this
/// build does not know, which is then shown under its own name and decides
/// nothing.
#[derive(Debug)]
pub struct Label<'a, T> {
    pub text: Cow<'a, str>,
    pub known: Option<T>,
}

impl<'a, T: std::str::FromStr> Label<'a, T> {
    fn read(text: Cow<'a, str>) -> Self {
        let known = text.parse().ok();
        Self { text, known }
    }
}

/// One vendor's result, as far as the report reads it.
#[derive(Debug, Deserialize)]
pub struct Side<'a> {
    pub success: bool,
    /// Only whether there is one: its words are the vendor's.
    #[serde(default)]
    pub exception: Option<IgnoredAny>,
    #[serde(default)]
    pub timed_out: bool,
    #[serde(default, borrow)]
    pub attributes_requiring_additional_verification: Vec<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub verified_attributes: Option<Vec<Cow<'a, str>>>,
    #[serde(default, borrow)]
    pub errors: Errors<'a>,
    /// identity-idp's adjudicated shape (the line since the proxy wrote
    /// it so): the InstantVerify verdict is `context.stages.resolution`.
    /// Absent in the earlier flat lines, whose verdict is this object.
    #[serde(default, borrow)]
    context: Option<Context<'a>>,
}

#[derive(Debug, Deserialize)]
struct Context<'a> {
    #[serde(default, borrow)]
    stages: Option<Stages<'a>>,
}

#[derive(Debug, Deserialize)]
struct Stages<'a> {
    #[serde(default, borrow)]
    resolution: Option<Box<Side<'a>>>,
}

impl<'a> Side<'a> {
    /// The LexisNexis verdict of a `resolution_result`, in either shape.
    fn resolution_stage(mut self) -> Self {
        match self
            .context
            .take()
            .and_then(|context| context.stages)
            .and_then(|stages| stages.resolution)
        {
            Some(stage) => *stage,
            None => self,
        }
    }
}

/// Only Socure's `errors` carries `reason_codes`; LexisNexis's products are
/// not read.
#[derive(Debug, Default, Deserialize)]
pub struct Errors<'a> {
    #[serde(default, borrow)]
    pub reason_codes: Vec<Cow<'a, str>>,
}

/// The envelope both events share, with the union of their properties.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    properties: Option<Properties<'a>>,
}

#[derive(Deserialize)]
struct Properties<'a> {
    #[serde(borrow)]
    event_properties: Option<EventProperties<'a>>,
}

#[derive(Deserialize)]
struct EventProperties<'a> {
    #[serde(default, borrow)]
    resolution_result: Option<Side<'a>>,
    #[serde(default, borrow)]
    socure_result: Option<Side<'a>>,
    #[serde(default, borrow)]
    resolution_outcome: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    socure_outcome: Option<Cow<'a, str>>,
    #[serde(default)]
    resolution_elapsed_ms: Option<u64>,
    #[serde(default)]
    socure_elapsed_ms: Option<u64>,
    // The summary line's.
    #[serde(default)]
    shed_count: Option<u64>,
    #[serde(default, borrow)]
    reason: Option<Cow<'a, str>>,
}

/// Reads one line of text.
pub fn read(text: &str) -> Seen<'_> {
    let Ok(envelope) = serde_json::from_str::<Envelope<'_>>(text) else {
        // Another event may still be JSON whose `properties` we cannot read
        // as ours: only our two names can make a line malformed.
        return match serde_json::from_str::<NameOnly<'_>>(text) {
            Ok(other) if other.name != EVENT_NAME && other.name != SHED_EVENT_NAME => {
                Seen::OtherEvent
            }
            _ => Seen::Malformed,
        };
    };
    let is_proofing = envelope.name == EVENT_NAME;
    if !is_proofing && envelope.name != SHED_EVENT_NAME {
        return Seen::OtherEvent;
    }
    let Some(at) = envelope
        .time
        .and_then(|t| OffsetDateTime::parse(&t, &Rfc3339).ok())
    else {
        return Seen::Malformed;
    };
    let Some(event) = envelope.properties.and_then(|p| p.event_properties) else {
        return Seen::Malformed;
    };
    if is_proofing {
        let (Some(resolution), Some(resolution_outcome), Some(socure_outcome)) = (
            event.resolution_result,
            event.resolution_outcome,
            event.socure_outcome,
        ) else {
            return Seen::Malformed;
        };
        Seen::Proofing(Box::new(Proofing {
            at,
            resolution: resolution.resolution_stage(),
            socure: event.socure_result,
            resolution_outcome: Label::read(resolution_outcome),
            socure_outcome: Label::read(socure_outcome),
            resolution_elapsed_ms: event.resolution_elapsed_ms,
            socure_elapsed_ms: event.socure_elapsed_ms,
        }))
    } else {
        match (event.shed_count, event.reason) {
            (Some(count), Some(reason)) => Seen::Shed { at, count, reason },
            _ => Seen::Malformed,
        }
    }
}

#[derive(Deserialize)]
struct NameOnly<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_events_malformed_lines_and_ours_are_told_apart() {
        assert!(matches!(
            read(
                r#"{"name":"idv_doc_auth_welcome_visited","properties":{"event_properties":[1]}}"#
            ),
            Seen::OtherEvent
        ));
        assert!(matches!(
            read(r#"{"name":"idv_socure_shadow_mode_proofing_result""#),
            Seen::Malformed
        ));
        assert!(matches!(read("not json"), Seen::Malformed));
        assert!(matches!(
            read(
                r#"{"name":"idv_socure_shadow_mode_proofing_result","time":"yesterday","properties":{}}"#
            ),
            Seen::Malformed
        ));
        let shed = read(
            r#"{"name":"idv_socure_shadow_mode_shed","id":"x","time":"2026-11-01T00:00:00.000Z","properties":{"event_properties":{"shed_count":7,"from":"a","until":"b","reason":"max_pending"},"new_event":true},"log_filename":"events.log"}"#,
        );
        assert!(
            matches!(&shed, Seen::Shed { count: 7, reason, .. } if reason == "max_pending"),
            "{shed:?}"
        );
    }

    #[test]
    fn a_line_with_withheld_ids_is_read_as_any_other() {
        use socure_shadow_judge::pair::{self, ResolutionSide, SocureSide};
        use socure_shadow_judge::resolution::Exchange;
        use socure_shadow_judge::socure::Answer;
        use std::time::Duration;

        let resolution = br#"{"Status":{"TransactionStatus":"passed","ConversationId":{"a":[1,2]},"Reference":"FAKEY 900-55-1234"}}"#;
        let socure = format!(
            r#"{{"referenceId":"{}","kyc":{{"reasonCodes":["I919"]}}}}"#,
            "9".repeat(300)
        );
        let line = pair::pair(
            pair::LineContext {
                id: "00000000-0000-4000-8000-000000000000".into(),
                at: time::macros::datetime!(2026-11-01 00:00:00 UTC),
                path: "/p".into(),
                applicant: None,
                workflow: "wf",
            },
            ResolutionSide {
                exchange: Exchange::Answered {
                    status: 200,
                    content_type: None,
                    body: bytes::Bytes::from_static(resolution),
                    truncated: false,
                },
                elapsed: Some(Duration::from_millis(5)),
            },
            SocureSide::Called {
                call: Ok(Answer {
                    status: 200,
                    content_type: Some("application/json".into()),
                    body: socure.into_bytes(),
                }),
                elapsed: Duration::from_millis(7),
            },
        );
        let text = String::from_utf8(pair::encode(&line).expect("encodes")).expect("utf-8");
        assert!(text.contains(r#""ids_withheld":{"resolution.transaction_id":"not_a_string_or_number","socure.transaction_id":"too_long"}"#), "{text}");
        assert!(text.contains(r#""transaction_id":null"#), "{text}");
        let Seen::Proofing(proofing) = read(text.trim_end()) else {
            panic!("not read as a proofing line: {text}");
        };
        assert!(proofing.resolution.success);
        let socure = proofing.socure.expect("a Socure result");
        assert_eq!(socure.errors.reason_codes, ["I919"]);
        assert_eq!(proofing.resolution_elapsed_ms, Some(5));
        assert_eq!(proofing.socure_elapsed_ms, Some(7));
        assert_eq!(proofing.socure_outcome.text, "answered");
        assert_eq!(proofing.socure_outcome.known, Some(SocureOutcome::Answered));
        assert_eq!(
            proofing.resolution_outcome.known,
            Some(ResolutionOutcome::Answered)
        );
    }
}
