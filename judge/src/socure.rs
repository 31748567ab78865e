//! Socure ID+ KYC, pure: the request built from the applicant, and the answer judged into `socure_result`.
//!
//! CONTRACT.md section 2 fixes the request, section 3 the judging; both follow
//! identity-idp's `Proofing::Socure::IdPlus` at the seed's commit. The call
//! itself (one per applicant, never retried) is the proxy's `SocureClient`;
//! what it brings back, an [`Answer`] or a [`SocureError`], is judged here.

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
    const FORMAT: &[time::format_description::FormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
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

/// The attributes whose every field Socure scored as verified, in
/// identity-idp's order.
fn verified_attributes(kyc: &Map<String, Value>) -> Vec<Attribute> {
    let verified = |field: &str| {
        kyc.get("fieldValidations")
            .and_then(|v| v.get(field))
            .and_then(Value::as_f64)
            // Ruby's `score.round == 1`: half away from zero, as f64::round.
            .is_some_and(|score| score.round() == 1.0)
    };
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
    .filter(|(_, fields)| fields.iter().all(|f| verified(f)))
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
pub fn judge(status: u16, content_type: Option<&str>, body: &[u8], redactor: &Redactor) -> Verdict {
    let parsed = match is_json_media_type(content_type).then(|| serde_json::from_slice(body)) {
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
        return failure(
            format!("Response body is not a JSON object ({status})"),
            (Value::Null, None),
            false,
        );
    };
    let reference_id = reference_id(Some(&root), redactor);
    let Some(kyc) = root.get("kyc").and_then(Value::as_object) else {
        return failure("No kyc section on response".into(), reference_id, false);
    };

    let attributes = verified_attributes(kyc);
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

    let mut reason_codes: Vec<String> = elements(kyc.get("reasonCodes"))
        .iter()
        .filter_map(Value::as_str)
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
        errors,
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
            v.errors.get("reason_codes"),
            Some(&serde_json::json!(["I919", "R [redacted]"]))
        );
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
