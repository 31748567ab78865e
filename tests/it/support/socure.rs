//! The fake Socure's side: the API key the proxy sends, the request body's keys, and a fake answering one thing to everything.

use serde_json::Value;

use super::FakeVendor;

pub const API_KEY: &str = "fake-socure-api-key-0000";

/// The keys of the Socure request body, in identity-idp's order, without
/// `email` and `mobileNumber` (never sent) and with the contract's
/// `customerUserId` last.
pub const SOCURE_REQUEST_KEYS: [&str; 15] = [
    "modules",
    "firstName",
    "surName",
    "country",
    "physicalAddress",
    "physicalAddress2",
    "city",
    "state",
    "zip",
    "nationalId",
    "dob",
    "userConsent",
    "consentTimestamp",
    "countryOfOrigin",
    "customerUserId",
];

/// Checks the Socure request's consent time (five minutes ago, to the
/// second, in UTC with `Z`, as identity-idp's `5.minutes.ago.iso8601`
/// prints it) and removes it, so the rest can be compared exactly.
pub fn take_consent_timestamp(body: &mut Value) {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    let text = body["consentTimestamp"]
        .as_str()
        .expect("consentTimestamp is a string")
        .to_owned();
    assert_eq!(
        text.len(),
        "2024-08-22T19:20:45Z".len(),
        "to the second: {text}"
    );
    assert!(
        text.ends_with('Z'),
        "UTC, as identity-idp prints it: {text}"
    );
    let at = OffsetDateTime::parse(&text, &Rfc3339).expect("ISO 8601");
    let age = OffsetDateTime::now_utc() - at;
    assert!(
        age >= time::Duration::minutes(4) && age <= time::Duration::minutes(6),
        "about five minutes ago, was {age}"
    );
    body.as_object_mut()
        .expect("object")
        .shift_remove("consentTimestamp");
}

/// A Socure fake answering `bytes` to everything.
pub async fn socure_answering(bytes: Vec<u8>) -> FakeVendor {
    FakeVendor::always(bytes).await
}
