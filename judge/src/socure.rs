//! Socure ID+ KYC, pure: the request built from the applicant, and the answer judged into `socure_result`.
//!
//! CONTRACT.md section 2 fixes the request, section 3 the judging; both follow
//! identity-idp's `Proofing::Socure::IdPlus` at the seed's commit. The call
//! itself (one per applicant, never retried) is the proxy's `SocureClient`;
//! what it brings back, an [`Answer`] or a [`SocureError`], is judged here.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::applicant::Applicant;
use crate::redact::{IdWithheld, Redactor};
use crate::verdict::{Attribute, IdsWithheld, Verdict, elements};

pub const VENDOR_NAME: &str = "socure_kyc";
/// Joined to the base URL's authority, as identity-idp's `URI.join` does.
pub const ENDPOINT_PATH: &str = "/api/3.0/EmailAuthScore";
/// A larger answer is not a KYC answer (they are a few KiB); reading it
/// whole would let Socure grow our memory, once per admitted request.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// identity-idp sent a consent time five minutes in the past.
pub const CONSENT_AGE: time::Duration = time::Duration::minutes(5);

/// The ID+ request body, fields in identity-idp's order.
#[derive(Serialize)]
struct IdPlusRequest<'a> {
    modules: [&'static str; 1],
    #[serde(rename = "firstName")]
    first_name: Option<&'a str>,
    #[serde(rename = "surName")]
    sur_name: Option<&'a str>,
    country: &'static str,
    #[serde(rename = "physicalAddress")]
    physical_address: Option<&'a str>,
    #[serde(rename = "physicalAddress2")]
    physical_address2: Option<&'a str>,
    city: Option<&'a str>,
    state: Option<&'a str>,
    zip: Option<String>,
    #[serde(rename = "nationalId")]
    national_id: Option<&'a str>,
    dob: Option<String>,
    #[serde(rename = "userConsent")]
    user_consent: bool,
    #[serde(rename = "consentTimestamp")]
    consent_timestamp: String,
    #[serde(rename = "countryOfOrigin")]
    country_of_origin: &'static str,
    #[serde(rename = "customerUserId", skip_serializing_if = "Option::is_none")]
    customer_user_id: Option<&'a str>,
}

/// The exact bytes sent to Socure for `applicant`, consent given at `consent`.
pub fn request_body(applicant: &Applicant, consent: OffsetDateTime) -> Vec<u8> {
    let address = applicant.address.as_ref();
    let request = IdPlusRequest {
        modules: ["kyc"],
        first_name: applicant.first_name.as_deref(),
        sur_name: applicant.last_name.as_deref(),
        country: "US",
        physical_address: address.and_then(|a| a.street1.as_deref()),
        physical_address2: address.and_then(|a| a.street2.as_deref()),
        city: address.and_then(|a| a.city.as_deref()),
        state: address.and_then(|a| a.state.as_deref()),
        zip: address.and_then(|a| a.zip()),
        national_id: applicant.ssn.as_deref(),
        dob: applicant.dob.map(|d| d.iso()),
        user_consent: true,
        consent_timestamp: consent_timestamp(consent),
        country_of_origin: "US",
        customer_user_id: applicant.user_uuid.as_deref(),
    };
    // Serializing plain strings and options cannot fail; an empty body would
    // only make Socure answer 400, which the line would show.
    serde_json::to_vec(&request).unwrap_or_default()
}

/// ISO 8601 to the second in UTC, as identity-idp's `5.minutes.ago.iso8601`
/// prints it in its UTC-zoned app: `2024-08-22T19:20:45Z`.
fn consent_timestamp(at: OffsetDateTime) -> String {
    crate::line_text::utc_text(at, false)
}

/// A Socure answer: HTTP status, `Content-Type` and body bytes.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Why no answer came. `Display` is the `exception` of the line: short,
/// never quoting a body, never naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocureError {
    /// identity-idp's wording, so the two logs can be compared.
    #[error("Timed out waiting for verification response")]
    Timeout,
    #[error("Connection failed: {0}")]
    Connection(&'static str),
    /// rustls's own reason (an unknown issuer, an expired certificate, a
    /// name mismatch): it names a certificate problem, never a secret or a
    /// person.
    #[error("Connection failed: TLS: {0}")]
    Tls(String),
    #[error("Response body larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    /// The proxy's own bound: the mirror already held
    /// `shadow.max_buffered_bytes`, so the answer was not read whole.
    #[error(
        "Response body not read: the mirror's byte budget (shadow.max_buffered_bytes) was held"
    )]
    OverBudget,
    #[error("Socure client could not be built: {0}")]
    Setup(String),
}

/// Judges what one call produced; `redactor` takes the applicant out of
/// whatever Socure's answer says.
pub fn judge_call(call: &Result<Answer, SocureError>, redactor: &Redactor) -> Verdict {
    match call {
        Ok(answer) => judge(
            answer.status,
            answer.content_type.as_deref(),
            &answer.body,
            redactor,
        ),
        Err(err) => failure(
            err.to_string(),
            (Value::Null, None),
            *err == SocureError::Timeout,
        ),
    }
}

/// The verdict of a call cut short by shutdown: no answer, not a timeout.
pub fn interrupted() -> Verdict {
    failure(
        "Proxy shut down before Socure answered".into(),
        (Value::Null, None),
        false,
    )
}

/// The `fieldValidations` identity-idp reads, in [`Kyc::scores`]' order.
const FIELDS: [&str; 9] = [
    "firstName",
    "surName",
    "streetAddress",
    "city",
    "state",
    "zip",
    "mobileNumber",
    "dob",
    "ssn",
];

/// What is judged of an answer's `kyc` section, however it was read.
#[derive(Default)]
struct Kyc<'a> {
    /// `fieldValidations`' numbers, by [`FIELDS`]; `None` when absent or
    /// not a number.
    scores: [Option<f64>; FIELDS.len()],
    /// `reasonCodes`' strings, in order (other items are not codes).
    reason_codes: Vec<Cow<'a, str>>,
}

impl<'a> Kyc<'a> {
    /// The section of an answer parsed as a `Value`.
    fn of(kyc: &'a Map<String, Value>) -> Self {
        let validations = kyc.get("fieldValidations");
        Self {
            scores: FIELDS.map(|field| {
                validations
                    .and_then(|v| v.get(field))
                    .and_then(Value::as_f64)
            }),
            reason_codes: elements(kyc.get("reasonCodes"))
                .iter()
                .filter_map(Value::as_str)
                .map(Cow::Borrowed)
                .collect(),
        }
    }

    fn verified(&self, field: &str) -> bool {
        FIELDS
            .iter()
            .position(|f| *f == field)
            .and_then(|i| self.scores[i])
            // Ruby's `score.round == 1`: half away from zero, as f64::round.
            .is_some_and(|score| score.round() == 1.0)
    }
}

/// The attributes whose every field Socure scored as verified, in
/// identity-idp's order.
fn verified_attributes(kyc: &Kyc<'_>) -> Vec<Attribute> {
    [
        (
            Attribute::Address,
            &["streetAddress", "city", "state", "zip"][..],
        ),
        (Attribute::FirstName, &["firstName"][..]),
        (Attribute::LastName, &["surName"][..]),
        (Attribute::Phone, &["mobileNumber"][..]),
        (Attribute::Ssn, &["ssn"][..]),
        (Attribute::Dob, &["dob"][..]),
    ]
    .iter()
    .filter(|(_, fields)| fields.iter().all(|f| kyc.verified(f)))
    .map(|&(attribute, _)| attribute)
    .collect()
}

/// Judges a Socure answer, CONTRACT.md section 3.
///
/// The body is read as JSON only when `content_type` says JSON, as
/// identity-idp's Faraday client does: a 400 whose JSON body comes as
/// `text/plain` has no `msg` and no `referenceId` to take. Socure's own
/// text that reaches the line (`msg`, reason codes, `referenceId`) goes
/// through `redactor`: a 400 may quote the fields it refused.
///
/// A 2xx JSON answer is read by `typed::read` into the few fields judged;
/// only a body that reader refuses (which then is no JSON for a `Value`
/// either) and every other status go through a parsed `Value`.
pub fn judge(status: u16, content_type: Option<&str>, body: &[u8], redactor: &Redactor) -> Verdict {
    let json = is_json_media_type(content_type);
    if json && (200..300).contains(&status) {
        match typed::read(body) {
            Ok(Some(answer)) => {
                let reference_id = typed::reference_id(answer.reference_id, redactor);
                return judge_answered(reference_id, answer.kyc, redactor);
            }
            Ok(None) => return not_an_object(status),
            Err(_) => {}
        }
    }
    let parsed = match json.then(|| serde_json::from_slice(body)) {
        Some(Ok(Value::Object(map))) => Some(map),
        _ => None,
    };
    if !(200..300).contains(&status) {
        // identity-idp's RequestError: the body's `msg` (Ruby's `||=` passes
        // over `nil` and `false`), else Faraday's words, then the status.
        let message = parsed
            .as_ref()
            .and_then(|b| b.get("msg"))
            .filter(|m| !matches!(m, Value::Null | Value::Bool(false)))
            .map(|m| match m.as_str() {
                Some(text) => redactor.text(text),
                None => redactor.text(&m.to_string()),
            })
            .unwrap_or_else(|| format!("the server responded with status {status}"));
        let reference_id = reference_id(parsed.as_ref(), redactor);
        return failure(format!("{message} ({status})"), reference_id, false);
    }
    let Some(root) = parsed else {
        return not_an_object(status);
    };
    let reference_id = reference_id(Some(&root), redactor);
    let kyc = root.get("kyc").and_then(Value::as_object).map(Kyc::of);
    judge_answered(reference_id, kyc, redactor)
}

fn not_an_object(status: u16) -> Verdict {
    failure(
        format!("Response body is not a JSON object ({status})"),
        (Value::Null, None),
        false,
    )
}

/// Judges a 2xx answer's `kyc` section (`None`: absent or not an object).
fn judge_answered(
    reference_id: (Value, Option<IdWithheld>),
    kyc: Option<Kyc<'_>>,
    redactor: &Redactor,
) -> Verdict {
    let Some(kyc) = kyc else {
        return failure("No kyc section on response".into(), reference_id, false);
    };

    let attributes = verified_attributes(&kyc);
    let success = [
        Attribute::FirstName,
        Attribute::LastName,
        Attribute::Address,
        Attribute::Dob,
        Attribute::Ssn,
    ]
    .iter()
    .all(|required| attributes.contains(required));
    let attributes: Vec<String> = attributes.iter().map(|a| a.label().to_owned()).collect();

    let mut reason_codes: Vec<String> = kyc
        .reason_codes
        .iter()
        .map(|code| redactor.text(code))
        .collect();
    reason_codes.sort();
    reason_codes.dedup();
    let mut errors = Map::new();
    errors.insert(
        "reason_codes".into(),
        Value::Array(reason_codes.into_iter().map(Value::String).collect()),
    );

    let (transaction_id, withheld) = reference_id;
    Verdict {
        success,
        errors: errors.into(),
        exception: None,
        timed_out: false,
        transaction_id,
        reference: Value::String(String::new()),
        can_pass_with_additional_verification: false,
        attributes_requiring_additional_verification: Vec::new(),
        vendor_name: VENDOR_NAME,
        vendor_workflow: None,
        verified_attributes: Some(attributes),
        ids_withheld: IdsWithheld {
            transaction_id: withheld,
            reference: None,
        },
    }
}

/// The typed reading of a 2xx answer: `referenceId` and `kyc`'s
/// `fieldValidations` and `reasonCodes`, every other key skipped unbuilt,
/// with what a `Value` lookup would find (the last of a duplicated key, a
/// value of another type read as absent).
mod typed {
    use std::borrow::Cow;
    use std::marker::PhantomData;

    use serde::de::{MapAccess, SeqAccess};
    use serde_json::Value;

    use super::{FIELDS, Kyc};
    use crate::lenient::{Any, Key, Nested, Opaque, Shape, Skip, from_body};
    use crate::redact::{IdWithheld, Redactor};

    pub(super) struct Answer<'a> {
        /// `None`: no such key.
        pub(super) reference_id: Option<Shape<'a, Option<Opaque>>>,
        /// `None`: absent or not an object.
        pub(super) kyc: Option<Kyc<'a>>,
    }

    /// The answer, `None` when the body is JSON but not an object; an error
    /// when it is not JSON (for a `Value` neither).
    pub(super) fn read(body: &[u8]) -> serde_json::Result<Option<Answer<'_>>> {
        Ok(
            match from_body(body, PhantomData::<Any<'_, Answer<'_>>>)?.0 {
                Shape::Nested(answer) => answer,
                _ => None,
            },
        )
    }

    /// As `super::reference_id` makes it of a `Value`.
    pub(super) fn reference_id(
        id: Option<Shape<'_, Option<Opaque>>>,
        redactor: &Redactor,
    ) -> (Value, Option<IdWithheld>) {
        let mut id = match id {
            None | Some(Shape::Null) => Value::Null,
            Some(Shape::Text(text)) => Value::String(text.into_owned()),
            Some(Shape::Number(n)) => Value::Number(n),
            // Its content does not matter: it is withheld as not an id.
            Some(Shape::Bool | Shape::Nested(_)) => Value::Bool(true),
        };
        let withheld = redactor.id(&mut id);
        (id, withheld)
    }

    impl<'de> Nested<'de> for Answer<'de> {
        fn object<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
            let mut answer = Answer {
                reference_id: None,
                kyc: None,
            };
            while let Some(Key(key)) = map.next_key()? {
                match &*key {
                    "referenceId" => answer.reference_id = Some(map.next_value::<Any<_>>()?.0),
                    "kyc" => {
                        answer.kyc = match map.next_value::<Any<'de, Kyc<'de>>>()?.0 {
                            Shape::Nested(kyc) => kyc,
                            _ => None,
                        }
                    }
                    _ => {
                        map.next_value::<Skip>()?;
                    }
                }
            }
            Ok(Some(answer))
        }
    }

    impl<'de> Nested<'de> for Kyc<'de> {
        fn object<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
            let mut kyc = Kyc::default();
            while let Some(Key(key)) = map.next_key()? {
                match &*key {
                    "fieldValidations" => {
                        kyc.scores = match map.next_value::<Any<'de, Scores>>()?.0 {
                            Shape::Nested(Some(Scores(scores))) => scores,
                            _ => Default::default(),
                        }
                    }
                    "reasonCodes" => {
                        kyc.reason_codes = match map.next_value::<Any<'de, Codes<'de>>>()?.0 {
                            Shape::Nested(Some(Codes(codes))) => codes,
                            _ => Vec::new(),
                        }
                    }
                    _ => {
                        map.next_value::<Skip>()?;
                    }
                }
            }
            Ok(Some(kyc))
        }
    }

    /// `fieldValidations` as an object (anything else has no scores).
    struct Scores([Option<f64>; FIELDS.len()]);

    impl<'de> Nested<'de> for Scores {
        fn object<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
            let mut scores = [None; FIELDS.len()];
            while let Some(Key(key)) = map.next_key()? {
                match FIELDS.iter().position(|field| *field == key) {
                    Some(i) => {
                        scores[i] = match map.next_value::<Any<'de, Opaque>>()?.0 {
                            Shape::Number(n) => n.as_f64(),
                            _ => None,
                        }
                    }
                    None => {
                        map.next_value::<Skip>()?;
                    }
                }
            }
            Ok(Some(Scores(scores)))
        }
    }

    /// `reasonCodes` as a list: its strings (anything else has none).
    struct Codes<'a>(Vec<Cow<'a, str>>);

    impl<'de> Nested<'de> for Codes<'de> {
        fn list<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
            let mut codes = Vec::new();
            while let Some(item) = seq.next_element::<Any<'de, Opaque>>()? {
                if let Shape::Text(code) = item.0 {
                    codes.push(code);
                }
            }
            Ok(Some(Codes(codes)))
        }
    }
}

/// The body's `referenceId` as the line may carry it, and why not when it
/// may not; `null` when there is none.
fn reference_id(
    body: Option<&Map<String, Value>>,
    redactor: &Redactor,
) -> (Value, Option<IdWithheld>) {
    let mut id = body
        .and_then(|b| b.get("referenceId"))
        .cloned()
        .unwrap_or(Value::Null);
    let withheld = redactor.id(&mut id);
    (id, withheld)
}

/// Faraday's `:json` response middleware parses a body when its media type
/// (the `Content-Type` before any `;`) matches `/\bjson$/`, which is
/// case-sensitive.
fn is_json_media_type(content_type: Option<&str>) -> bool {
    let media = content_type.unwrap_or("");
    let media = media.split(';').next().unwrap_or(media);
    media.strip_suffix("json").is_some_and(|before| {
        !before
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// identity-idp's `build_result_from_error`: `transaction_id` is the body's
/// `referenceId` when there is one, else `nil`.
fn failure(
    message: String,
    (transaction_id, withheld): (Value, Option<IdWithheld>),
    timed_out: bool,
) -> Verdict {
    Verdict {
        transaction_id,
        ids_withheld: IdsWithheld {
            transaction_id: withheld,
            reference: None,
        },
        ..Verdict::exception(VENDOR_NAME, None, message, timed_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_timestamp_is_utc_as_rails_prints_it() {
        let at = time::macros::datetime!(2024-08-22 19:20:45 UTC);
        assert_eq!(consent_timestamp(at), "2024-08-22T19:20:45Z");
    }

    #[test]
    fn score_half_rounds_up_as_ruby_does() {
        let body = br#"{"kyc":{"fieldValidations":{"firstName":0.5,"surName":0.49}}}"#;
        let v = judge(200, Some("application/json"), body, &Redactor::default());
        assert_eq!(v.verified_attributes, Some(vec!["first_name".to_owned()]));
    }

    #[test]
    fn error_without_json_uses_faraday_words() {
        let v = judge(500, Some("text/html"), b"It works!", &Redactor::default());
        assert_eq!(
            v.exception.as_deref(),
            Some("the server responded with status 500 (500)")
        );
        assert_eq!(v.transaction_id, Value::Null);
    }

    #[test]
    fn json_media_type_as_faraday_matches_it() {
        for json in [
            "application/json",
            "application/json; charset=utf-8",
            "application/problem+json",
            "text/x-json",
            "json",
        ] {
            assert!(is_json_media_type(Some(json)), "{json}");
        }
        for other in [
            "text/html",
            "application/geojson",
            "Application/JSON",
            "application/json ; charset=utf-8",
            "application/jsonp",
            "",
        ] {
            assert!(!is_json_media_type(Some(other)), "{other}");
        }
        assert!(!is_json_media_type(None));
    }

    #[test]
    fn a_400_msg_quoting_the_applicant_is_redacted() {
        let request = br#"{"Settings":{"Reference":"0987:1234-abcd"},"Person":{
            "Name":{"FirstName":"FAKEY","LastName":"MCFAKERSON"},"SSN":{"Number":"900661234"},
            "DateOfBirth":{"Year":"1938","Month":"10","Day":"6"},
            "Addresses":[{"StreetAddress1":"1 FAKE RD","City":"GREAT FALLS","Zip5":"59010"}]}}"#;
        let applicant = crate::applicant::parse(request).expect("applicant");
        let redactor = Redactor::new(Some(&applicant));
        let body = br#"{"msg":"Invalid: fakey mcfakerson 900-66-1234 1938-10-06 1 Fake Rd","referenceId":"ref-MCFAKERSON","kyc":{"reasonCodes":["I919","R 900661234"]}}"#;
        let v = judge(400, Some("application/json"), body, &redactor);
        let exception = v.exception.as_deref().unwrap_or_default();
        // The SSN, the date and the street's number make one digit run.
        assert_eq!(exception, "Invalid: [redacted] [redacted] [redacted] (400)");
        assert_eq!(v.transaction_id, "ref-[redacted]");
        let v = judge(200, Some("application/json"), body, &redactor);
        assert_eq!(
            v.errors.to_map().get("reason_codes"),
            Some(&serde_json::json!(["I919", "R [redacted]"]))
        );
    }

    /// The typed reading judges every body as the `Value` one did: what
    /// serde_json refuses as a `Value` (a number out of range, nesting
    /// deeper than 128, a lone surrogate, trailing bytes) is no object here
    /// either, even in a key no judge reads; the last of a duplicated key
    /// counts; an escaped key is its text; a value of another type is absent.
    #[test]
    fn typed_reading_accepts_and_refuses_what_a_value_does() {
        let judged = |body: &str| {
            let v = judge(
                200,
                Some("application/json"),
                body.as_bytes(),
                &Redactor::default(),
            );
            (
                v.exception,
                v.verified_attributes,
                v.errors.to_map(),
                v.transaction_id,
            )
        };
        let valid = r#"{"referenceId":"r1","kyc":{"fieldValidations":{"firstName":0.99},"reasonCodes":["I1"]}}"#;
        let (exception, attributes, errors, id) = judged(valid);
        assert_eq!(exception, None);
        assert_eq!(attributes, Some(vec!["first_name".to_owned()]));
        assert_eq!(errors["reason_codes"], serde_json::json!(["I1"]));
        assert_eq!(id, "r1");
        let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
        for refused in [
            r#"{"kyc":{},"x":1e400}"#.to_owned(),
            format!(r#"{{"kyc":{{}},"x":{deep}}}"#),
            r#"{"kyc":{},"x":"\ud800"}"#.to_owned(),
            r#"{"kyc":{}} x"#.to_owned(),
            r#"[{"kyc":{}}]"#.to_owned(),
        ] {
            assert_eq!(
                judged(&refused).0.as_deref(),
                Some("Response body is not a JSON object (200)"),
                "{refused}"
            );
        }
        let (exception, attributes, errors, id) = judged(
            r#"{"kyc":{"reasonCodes":["A"]},"referenceId":[1],"k\u0079c":{"reasonCodes":["B",7,null],
                "fieldValidations":{"firstName":0.99,"surName":"0.99","firstName":0.2}},"referenceId":5}"#,
        );
        assert_eq!(exception, None);
        assert_eq!(attributes, Some(Vec::new()));
        assert_eq!(errors["reason_codes"], serde_json::json!(["B"]));
        assert_eq!(id, 5);
        let (exception, ..) = judged(r#"{"kyc":{"reasonCodes":["A"]},"kyc":"none"}"#);
        assert_eq!(exception.as_deref(), Some("No kyc section on response"));
    }

    #[test]
    fn timeout_is_flagged() {
        let v = judge_call(&Err(SocureError::Timeout), &Redactor::default());
        assert!(v.timed_out);
        assert_eq!(
            v.exception.as_deref(),
            Some("Timed out waiting for verification response")
        );
    }

    #[test]
    fn a_reference_id_that_is_not_an_id_is_withheld() {
        let long = "r".repeat(200);
        for (status, body, want) in [
            (
                200,
                serde_json::json!({"referenceId": {"ssn": "900664321"}, "kyc": {}}),
                Some(IdWithheld::NotAStringOrNumber),
            ),
            (
                200,
                serde_json::json!({"referenceId": long, "kyc": {}}),
                Some(IdWithheld::TooLong),
            ),
            (
                400,
                serde_json::json!({"referenceId": [long], "msg": "bad"}),
                Some(IdWithheld::NotAStringOrNumber),
            ),
            (
                200,
                serde_json::json!({"referenceId": true}),
                Some(IdWithheld::NotAStringOrNumber),
            ),
        ] {
            let v = judge(
                status,
                Some("application/json"),
                body.to_string().as_bytes(),
                &Redactor::default(),
            );
            assert_eq!(v.transaction_id, Value::Null, "{body}");
            assert_eq!(v.ids_withheld.transaction_id, want, "{body}");
            assert_eq!(v.reference, "", "{body}");
        }
        let v = judge(
            200,
            Some("application/json"),
            br#"{"referenceId": "ref 900-66-4321 roe@example.invalid", "kyc": {}}"#,
            &Redactor::default(),
        );
        assert_eq!(v.transaction_id, "ref [redacted] [redacted]");
        assert_eq!(v.ids_withheld, IdsWithheld::default());
    }
}
