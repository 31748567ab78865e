//! Joins the two sides of one shadowed request, with their timings, into the one shadow line.
//!
//! The line is identity-idp's `events.log` envelope around the
//! `idv_socure_shadow_mode_proofing_result` event (CONTRACT.md section 4), so
//! the IdV team's queries read it unchanged. Each side also says how it ended
//! (`resolution_outcome`, `socure_outcome`) and how long it took, because the
//! proxy has ways to lose a side that the IdP's job did not. Whatever the
//! vendors say in their own words is judged with the line's applicant in
//! hand ([`Redactor`]), and a line is encoded by [`encode`] only.

use std::time::Duration;

use serde::Serialize;
use serde::ser::SerializeMap;
use time::OffsetDateTime;

use crate::applicant::{Applicant, UserId};
use crate::line_text;
use crate::redact::{IdWithheld, Redactor};
use crate::resolution::{self, Exchange, ResolutionOutcome};
use crate::socure::{self, Answer, SocureError};
use crate::verdict::{Errors, IdsWithheld, Verdict};

pub const EVENT_NAME: &str = "idv_socure_shadow_mode_proofing_result";
/// The summary of requests shed at the mirror's door (no line of their own).
pub const SHED_EVENT_NAME: &str = "idv_socure_shadow_mode_shed";

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
    /// The UUID from `Settings.Reference`; `null` without one.
    pub user_id: Option<String>,
    /// Only present (`true`) when `Settings.Reference` held something that is
    /// not a UUID: `user_id` is then `null`, whatever the Reference said.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub user_id_invalid: bool,
}

#[derive(Debug, Serialize)]
pub struct EventProperties {
    /// The InstantVerify verdict, written in identity-idp's adjudicated
    /// shape ([`Adjudicated`]): the verdict itself at
    /// `resolution_result.context.stages.resolution`.
    #[serde(serialize_with = "adjudicated")]
    pub resolution_result: Verdict,
    /// `null` when Socure was not called (`not_sent`, `dropped`).
    pub socure_result: Option<Verdict>,
    pub resolution_outcome: ResolutionOutcome,
    pub resolution_elapsed_ms: Option<u64>,
    pub socure_outcome: SocureOutcome,
    pub socure_elapsed_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socure_not_sent_reason: Option<String>,
    /// For `socure_outcome: "duplicate"`: the id of the earlier line for
    /// the same applicant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// Only present when a vendor's id was withheld (`null` in its result).
    #[serde(skip_serializing_if = "WithheldIds::is_empty")]
    pub ids_withheld: WithheldIds,
}

/// identity-idp's adjudicated proofing result as far as the proxy sees it
/// (CONTRACT.md section 4): in the IdP's event, `resolution_result` is
/// `ResultAdjudicator#adjudicated_result`, whose `success`, `errors`,
/// `exception` and `timed_out` are derived from its stages and whose
/// `context.stages.resolution` is the InstantVerify result. The proxy sees
/// one stage, so the four are that stage's own values; the stages and
/// adjudication reasons it cannot see are absent, never invented. A query
/// written for the IdP's event (`resolution_result.context.stages.resolution.success`)
/// reads the line unchanged.
#[derive(Debug, Serialize)]
pub struct Adjudicated<'a> {
    pub success: bool,
    pub errors: &'a Errors,
    pub exception: &'a Option<String>,
    pub timed_out: bool,
    pub context: AdjudicationContext<'a>,
}

/// The adjudicated result's `context`: only its `stages`.
#[derive(Debug, Serialize)]
pub struct AdjudicationContext<'a> {
    pub stages: Stages<'a>,
}

/// The stages the proxy saw: InstantVerify's.
#[derive(Debug, Serialize)]
pub struct Stages<'a> {
    pub resolution: &'a Verdict,
}

impl<'a> Adjudicated<'a> {
    pub fn of(resolution: &'a Verdict) -> Self {
        Self {
            success: resolution.success,
            errors: &resolution.errors,
            exception: &resolution.exception,
            timed_out: resolution.timed_out,
            context: AdjudicationContext {
                stages: Stages { resolution },
            },
        }
    }
}

fn adjudicated<S: serde::Serializer>(
    resolution: &Verdict,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    Adjudicated::of(resolution).serialize(serializer)
}

/// The line's `ids_withheld`: which result's id is `null` though the vendor
/// sent one, and why, as `{"resolution.transaction_id": "too_long"}`. Keyed
/// by the result's role, not the vendor, so the keys stay when a result
/// moves or another vendor judges it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WithheldIds(Vec<(&'static str, IdWithheld)>);

impl WithheldIds {
    /// What the two results withheld, `resolution` first.
    pub fn of(resolution: &Verdict, socure: Option<&Verdict>) -> Self {
        let mut withheld = Vec::new();
        let mut add = |keys: [&'static str; 2], ids: IdsWithheld| {
            for (key, why) in keys.into_iter().zip([ids.transaction_id, ids.reference]) {
                if let Some(why) = why {
                    withheld.push((key, why));
                }
            }
        };
        add(
            ["resolution.transaction_id", "resolution.reference"],
            resolution.ids_withheld,
        );
        if let Some(socure) = socure {
            add(
                ["socure.transaction_id", "socure.reference"],
                socure.ids_withheld,
            );
        }
        Self(withheld)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for WithheldIds {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, why) in &self.0 {
            map.serialize_entry(key, why)?;
        }
        map.end()
    }
}

/// How the Socure side ended: the line's `socure_outcome`. The one list of
/// outcomes; the metrics count by it (by `as usize`, so the values are the
/// positions in `SocureOutcome::VARIANTS`) and the report reads it back.
/// The label is spelled once, by strum; serde writes the same (a test holds
/// the two together).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SocureOutcome {
    /// Socure answered (any status); the answer is judged.
    Answered = 0,
    TimedOut = 1,
    /// Refused, reset, TLS, an answer cut short or over the size limit.
    Failed = 2,
    /// No applicant to send (the reason is in the line).
    NotSent = 3,
    /// `shadow.max_in_flight` calls were already running.
    Dropped = 4,
    /// Cut short by the shutdown grace period.
    Shutdown = 5,
    /// The same applicant within `shadow.dedup_window_seconds`.
    Duplicate = 6,
    /// `socure.max_calls_per_day` reached.
    BudgetExhausted = 7,
}

impl SocureOutcome {
    /// The outcome of a call that was made; the other outcomes are the
    /// [`SocureSide`]s without one.
    pub fn of(call: &Result<Answer, SocureError>) -> Self {
        match call {
            Ok(_) => SocureOutcome::Answered,
            Err(SocureError::Timeout) => SocureOutcome::TimedOut,
            Err(_) => SocureOutcome::Failed,
        }
    }

    /// The value the line and the metrics label carry.
    pub fn label(self) -> &'static str {
        self.into()
    }
}

/// How the two vendors' verdicts on one applicant compare: the metric's
/// `agreement` label, and the report's judged cells.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum Agreement {
    BothPass = 0,
    // The vendor's name is one word in every label.
    #[strum(serialize = "only_lexisnexis_passes")]
    OnlyLexisNexisPasses = 1,
    OnlySocurePasses = 2,
    BothFail = 3,
    /// Either verdict is an exception, or Socure was not called.
    OneSideErrored = 4,
}

impl Agreement {
    /// The label value.
    pub fn label(self) -> &'static str {
        self.into()
    }

    pub fn of(event: &EventProperties) -> Self {
        let judged = |verdict: &Verdict| Judged {
            success: verdict.success,
            exception: verdict.exception.is_some(),
        };
        Self::between(
            judged(&event.resolution_result),
            event.socure_result.as_ref().map(judged),
        )
    }

    /// The rule itself: an exception on either side, or no Socure result,
    /// is `OneSideErrored`; otherwise the two successes decide.
    pub fn between(resolution: Judged, socure: Option<Judged>) -> Self {
        let Some(socure) = socure else {
            return Agreement::OneSideErrored;
        };
        if resolution.exception || socure.exception {
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

/// What [`Agreement`] reads of one vendor's result.
#[derive(Debug, Clone, Copy)]
pub struct Judged {
    pub success: bool,
    /// Whether the result carries an exception.
    pub exception: bool,
}

/// What a line is about besides the two sides: given by the caller, since
/// this crate has no clock or random source.
#[derive(Debug, Clone)]
pub struct LineContext<'a> {
    /// The line's id.
    pub id: String,
    pub at: OffsetDateTime,
    /// The request path without its query.
    pub path: String,
    /// The one parsed from the request, if any: it gives `user_id`, and the
    /// values redacted from the vendors' text.
    pub applicant: Option<&'a Applicant>,
    /// The LexisNexis workflow the proxy forwards to (`vendor_workflow`).
    pub workflow: &'a str,
}

/// Judges both sides and builds the line.
pub fn pair(
    context: LineContext<'_>,
    resolution: ResolutionSide,
    socure: SocureSide,
) -> ShadowLine {
    let LineContext {
        id,
        at,
        path,
        applicant,
        workflow,
    } = context;
    let redactor = Redactor::new(applicant);
    let user_id = applicant.map_or(UserId::Absent, |a| a.user_id.clone());
    let duplicate_of = match &socure {
        SocureSide::Duplicate { of } => Some(of.clone()),
        _ => None,
    };
    let (socure_result, socure_outcome, socure_elapsed_ms, socure_not_sent_reason) = match socure {
        SocureSide::Called { call, elapsed } => (
            Some(socure::judge_call(&call, &redactor)),
            SocureOutcome::of(&call),
            Some(millis(elapsed)),
            None,
        ),
        SocureSide::NotSent { reason } => (None, SocureOutcome::NotSent, None, Some(reason)),
        SocureSide::Dropped { reason } => (None, SocureOutcome::Dropped, None, Some(reason)),
        SocureSide::Interrupted { elapsed } => (
            Some(socure::interrupted()),
            SocureOutcome::Shutdown,
            Some(millis(elapsed)),
            None,
        ),
        SocureSide::Duplicate { .. } => (None, SocureOutcome::Duplicate, None, None),
        SocureSide::BudgetExhausted { reason } => {
            (None, SocureOutcome::BudgetExhausted, None, Some(reason))
        }
    };

    let resolution_result = resolution::judge_exchange(&resolution.exchange, workflow, &redactor);
    let ids_withheld = WithheldIds::of(&resolution_result, socure_result.as_ref());

    ShadowLine {
        name: EVENT_NAME,
        id,
        time: timestamp(at),
        properties: Properties {
            event_properties: EventProperties {
                resolution_result,
                socure_result,
                resolution_outcome: resolution.exchange.outcome(),
                resolution_elapsed_ms: resolution.elapsed.map(millis),
                socure_outcome,
                socure_elapsed_ms,
                socure_not_sent_reason,
                duplicate_of,
                ids_withheld,
            },
            new_event: true,
            path,
            user_id_invalid: user_id == UserId::Invalid,
            user_id: user_id.uuid().map(str::to_owned),
        },
        log_filename: "events.log",
    }
}

/// A summary line: `count` shadowed requests, between `from` and `until`,
/// were forwarded as always but shed at the mirror's door (no applicant
/// read, no Socure call, no line of their own). With the proofing lines,
/// these counts add up to every shadowed request.
#[derive(Debug, Serialize)]
pub struct ShedLine {
    pub name: &'static str,
    pub id: String,
    pub time: String,
    pub properties: ShedProperties,
    pub log_filename: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ShedProperties {
    pub event_properties: ShedEvent,
    pub new_event: bool,
}

#[derive(Debug, Serialize)]
pub struct ShedEvent {
    pub shed_count: u64,
    /// The span the count covers: since the previous summary (or the start).
    pub from: String,
    pub until: String,
    pub reason: String,
}

/// The summary line for `count` requests shed between `from` and `until`
/// without a line of their own, for `reason` (the proxy's words: which limit).
pub fn shed(
    id: String,
    from: OffsetDateTime,
    until: OffsetDateTime,
    count: u64,
    reason: String,
) -> ShedLine {
    ShedLine {
        name: SHED_EVENT_NAME,
        id,
        time: timestamp(until),
        properties: ShedProperties {
            event_properties: ShedEvent {
                shed_count: count,
                from: timestamp(from),
                until: timestamp(until),
                reason,
            },
            new_event: true,
        },
        log_filename: "events.log",
    }
}

/// One line of the shadow log as written: the JSON, then `\n`.
///
/// Every line goes through here, and every string in it (keys too) through
/// `LineFormatter`: no control character is written raw, so neither a
/// reader that splits lines on more than `\n` nor a terminal that shows the
/// log is told anything by a vendor's text.
pub fn encode<T: Serialize>(line: &T) -> serde_json::Result<Vec<u8>> {
    // A shadowed request's line is 2 to 3 KiB: room for it at once, not
    // grown (and copied) twice on the way.
    let mut bytes = Vec::with_capacity(4096);
    line.serialize(&mut serde_json::Serializer::with_formatter(
        &mut bytes,
        line_text::LineFormatter,
    ))?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// RFC 3339, milliseconds, `Z`, as the IdP's events carry: every line's
/// `time`. Public so that a tool writing lines of its own (the
/// `shadow_lines` example) writes the same form rather than a copy of it.
pub fn timestamp(at: OffsetDateTime) -> String {
    line_text::utc_text(at, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every label the line, the metrics or the report use: serde's
    /// (what the line says) equals strum's (what the metrics and the report
    /// name and parse), for every variant; and the metrics' `as usize` is
    /// the position in `VARIANTS`.
    #[test]
    fn serde_and_strum_spell_every_label_alike() {
        fn check<T>(variants: &[T])
        where
            T: Serialize + Copy + std::fmt::Debug + Into<&'static str>,
        {
            assert!(!variants.is_empty());
            for &variant in variants {
                let label: &'static str = variant.into();
                assert_eq!(
                    serde_json::to_value(variant).expect("serialises"),
                    serde_json::Value::from(label),
                    "{variant:?}"
                );
            }
        }
        use strum::VariantArray;
        check(SocureOutcome::VARIANTS);
        check(ResolutionOutcome::VARIANTS);
        check(IdWithheld::VARIANTS);
        for (i, &outcome) in SocureOutcome::VARIANTS.iter().enumerate() {
            assert_eq!(outcome as usize, i);
            assert_eq!(outcome.label().parse(), Ok(outcome));
        }
        for (i, &agreement) in Agreement::VARIANTS.iter().enumerate() {
            assert_eq!(agreement as usize, i);
            assert_eq!(agreement.label().parse(), Ok(agreement));
        }
        for &outcome in ResolutionOutcome::VARIANTS {
            assert_eq!(<&str>::from(outcome).parse(), Ok(outcome));
        }
        for &attribute in crate::verdict::Attribute::VARIANTS {
            assert_eq!(attribute.label().parse(), Ok(attribute));
        }
        assert_eq!(
            crate::verdict::Attribute::StateIdNumber.label(),
            "state_id_number"
        );
        // The labels themselves are the contract's: a few, spelled out.
        assert_eq!(SocureOutcome::TimedOut.label(), "timed_out");
        assert_eq!(SocureOutcome::BudgetExhausted.label(), "budget_exhausted");
        assert_eq!(
            Agreement::OnlyLexisNexisPasses.label(),
            "only_lexisnexis_passes"
        );
        assert_eq!(
            Exchange::ClientGone.outcome(),
            ResolutionOutcome::ClientGone
        );
        assert_eq!(
            <&str>::from(ResolutionOutcome::UpstreamTimeout),
            "upstream_timeout"
        );
    }

    #[test]
    fn timestamp_is_rfc3339_millis_z() {
        let at = time::macros::datetime!(2024-08-22 19:25:45.678912 UTC);
        assert_eq!(timestamp(at), "2024-08-22T19:25:45.678Z");
    }

    #[test]
    fn line_and_paragraph_separators_are_escaped() {
        let line = serde_json::json!({"a": "x\u{2028}y\u{2029}z…’", "b\u{2028}": 1});
        let bytes = encode(&line).expect("encodes");
        let text = std::str::from_utf8(&bytes).expect("utf-8");
        assert_eq!(text, "{\"a\":\"x\\u2028y\\u2029z…’\",\"b\\u2028\":1}\n");
        assert_eq!(text.lines().count(), 1);
        let back: serde_json::Value = serde_json::from_str(text).expect("parses");
        assert_eq!(back, line);
        assert_eq!(encode(&"plain").expect("encodes"), b"\"plain\"\n");
    }

    #[test]
    fn every_control_character_is_escaped_keys_included() {
        let raw = "a\u{7f}b\u{80}c\u{85}d\u{9b}[31me\u{9f}f\u{1b}g\u{0}h\u{a0}£é\u{2027}\u{2028}";
        let line = serde_json::json!({ raw: raw, "k\u{85}": ["\u{85}\u{85}", 1] });
        let bytes = encode(&line).expect("encodes");
        let text = std::str::from_utf8(&bytes).expect("utf-8");
        assert_eq!(
            text,
            "{\"a\\u007fb\\u0080c\\u0085d\\u009b[31me\\u009ff\\u001bg\\u0000h\u{a0}£é\u{2027}\\u2028\":\
             \"a\\u007fb\\u0080c\\u0085d\\u009b[31me\\u009ff\\u001bg\\u0000h\u{a0}£é\u{2027}\\u2028\",\
             \"k\\u0085\":[\"\\u0085\\u0085\",1]}\n"
        );
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() && c != '\n' || matches!(c, '\u{2028}' | '\u{2029}')),
            "{text:?}"
        );
        let back: serde_json::Value = serde_json::from_str(text).expect("parses");
        assert_eq!(back, line);
    }

    #[test]
    fn shed_summaries_are_escaped_too() {
        let at = time::macros::datetime!(2024-08-22 19:25:45.678912 UTC);
        let bytes = encode(&shed(
            "id".into(),
            at,
            at,
            3,
            "over\u{85}limit\u{7f}".into(),
        ))
        .expect("encodes");
        let text = std::str::from_utf8(&bytes).expect("utf-8");
        assert!(
            text.contains(r#""reason":"over\u0085limit\u007f""#),
            "{text}"
        );
    }

    /// A line's context without an applicant.
    fn test_context() -> LineContext<'static> {
        LineContext {
            id: "00000000-0000-4000-8000-000000000000".into(),
            at: time::macros::datetime!(2024-08-22 19:25:45.678912 UTC),
            path: "/p".into(),
            applicant: None,
            workflow: "wf",
        }
    }

    fn line_for(request: &[u8]) -> serde_json::Value {
        let applicant = crate::applicant::parse(request).expect("applicant");
        let line = pair(
            LineContext {
                id: "00000000-0000-4000-8000-000000000000".into(),
                at: time::macros::datetime!(2024-08-22 19:25:45.678912 UTC),
                path: "/p".into(),
                applicant: Some(&applicant),
                workflow: "wf",
            },
            ResolutionSide {
                exchange: Exchange::ClientGone,
                elapsed: None,
            },
            SocureSide::Called {
                call: Ok(Answer {
                    status: 400,
                    content_type: Some("application/json".into()),
                    body: br#"{"msg":"bad FAKEY MCFAKERSON"}"#.to_vec(),
                }),
                elapsed: Duration::from_millis(1),
            },
        );
        serde_json::to_value(&line).expect("json")
    }

    #[test]
    fn user_id_is_a_uuid_or_null_and_flagged() {
        let uuid = "00000000-0000-4000-8000-000900000004";
        let line = line_for(
            format!(r#"{{"Settings":{{"Reference":"sp:{uuid}"}},"Person":{{"Name":{{"FirstName":"FAKEY","LastName":"MCFAKERSON"}}}}}}"#)
                .as_bytes(),
        );
        assert_eq!(line["properties"]["user_id"], uuid);
        assert!(line["properties"].get("user_id_invalid").is_none());
        assert_eq!(
            line["properties"]["event_properties"]["socure_result"]["exception"],
            "bad [redacted] [redacted] (400)"
        );

        let line = line_for(
            br#"{"Settings":{"Reference":"0987:900123456-MCFAKERSON"},"Person":{"Name":{"FirstName":"FAKEY","LastName":"MCFAKERSON"}}}"#,
        );
        assert_eq!(line["properties"]["user_id"], serde_json::Value::Null);
        assert_eq!(line["properties"]["user_id_invalid"], true);
        let text = line.to_string();
        assert!(
            !text.contains("900123456") && !text.contains("MCFAKERSON"),
            "{text}"
        );

        let line = line_for(br#"{"Person":{"Name":{"FirstName":"FAKEY"}}}"#);
        assert_eq!(line["properties"]["user_id"], serde_json::Value::Null);
        assert!(line["properties"].get("user_id_invalid").is_none());
    }

    #[test]
    fn envelope_keys_come_in_the_events_log_order() {
        let line = pair(
            test_context(),
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

    /// LexisNexis answered 200 with `body`.
    fn answered(body: &'static [u8]) -> ResolutionSide {
        ResolutionSide {
            exchange: Exchange::Answered {
                status: 200,
                content_type: None,
                body: bytes::Bytes::from_static(body),
                truncated: false,
            },
            elapsed: None,
        }
    }

    #[test]
    fn resolution_result_has_identity_idps_adjudicated_shape() {
        let line = pair(
            test_context(),
            answered(include_bytes!(
                "../../tests/fixtures/lexis_nexis/instant_verify/address_failure_response.json"
            )),
            SocureSide::NotSent {
                reason: "test".into(),
            },
        );
        let line = serde_json::to_value(&line).expect("json");
        let result = &line["properties"]["event_properties"]["resolution_result"];
        let keys = |value: &serde_json::Value| -> Vec<String> {
            value.as_object().expect("object").keys().cloned().collect()
        };
        assert_eq!(
            keys(result),
            ["success", "errors", "exception", "timed_out", "context"]
        );
        assert_eq!(keys(&result["context"]), ["stages"]);
        assert_eq!(keys(&result["context"]["stages"]), ["resolution"]);
        let stage = &result["context"]["stages"]["resolution"];
        assert_eq!(stage["vendor_name"], "lexisnexis:instant_verify");
        assert_eq!(stage["success"], false);
        assert!(
            stage["errors"].as_object().is_some_and(|e| !e.is_empty()),
            "a failure has errors: {stage}"
        );
        for key in ["success", "errors", "exception", "timed_out"] {
            assert_eq!(result[key], stage[key], "{key}");
        }
    }

    #[test]
    fn withheld_ids_are_named_beside_the_results_only_when_there_are_any() {
        let line_with = |socure_body: &[u8]| {
            let line = pair(
                test_context(),
                answered(
                    br#"{"Status":{"TransactionStatus":"passed","ConversationId":{"a":[1]},"Reference":"ok"}}"#,
                ),
                SocureSide::Called {
                    call: Ok(Answer {
                        status: 200,
                        content_type: Some("application/json".into()),
                        body: socure_body.to_vec(),
                    }),
                    elapsed: Duration::from_millis(1),
                },
            );
            serde_json::to_value(&line).expect("json")
        };
        let long = format!(r#"{{"referenceId":"{}","kyc":{{}}}}"#, "9".repeat(200));
        let line = line_with(long.as_bytes());
        let event = &line["properties"]["event_properties"];
        assert_eq!(
            event["ids_withheld"],
            serde_json::json!({
                "resolution.transaction_id": "not_a_string_or_number",
                "socure.transaction_id": "too_long",
            })
        );
        let stage = &event["resolution_result"]["context"]["stages"]["resolution"];
        assert_eq!(stage["transaction_id"], serde_json::Value::Null);
        assert_eq!(stage["reference"], "ok");
        assert_eq!(
            event["socure_result"]["transaction_id"],
            serde_json::Value::Null
        );
        // The results' own keys are CONTRACT.md's, and no more.
        let keys: Vec<&String> = event["socure_result"]
            .as_object()
            .expect("object")
            .keys()
            .collect();
        assert_eq!(keys.len(), 11);
        assert!(!keys.iter().any(|k| k.contains("withheld")));

        let line = line_with(br#"{"referenceId":"ref-1","kyc":{}}"#);
        let event = &line["properties"]["event_properties"];
        assert_eq!(
            event["ids_withheld"],
            serde_json::json!({"resolution.transaction_id": "not_a_string_or_number"})
        );
    }
}
