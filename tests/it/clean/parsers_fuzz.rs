//! The three parsers that read vendor and client bytes are fed arbitrary
//! input: they never panic, and no error string they build quotes the input.
//! The redaction of vendor text never panics and never keeps a value it knows.
//! (A `cargo fuzz` target over the same functions is in `fuzz/`.)

use proptest::prelude::*;
use serde_json::{Map, Value};
use socure_shadow_proxy::judge::redact::Redactor;
use socure_shadow_proxy::judge::{applicant, resolution, socure};

/// A value that must never come back in an error string.
const CANARY: &str = "QXCANARY-900-55-7733";

/// Keys the parsers look for, so generated documents reach deep code paths.
const KEYS: &[&str] = &[
    "Status",
    "TransactionStatus",
    "TransactionReasonCode",
    "Code",
    "ConversationId",
    "Reference",
    "Products",
    "ProductType",
    "ExecutedStepName",
    "ProductStatus",
    "Items",
    "ItemName",
    "ItemStatus",
    "ItemReason",
    "ParameterDetails",
    "Information",
    "kyc",
    "fieldValidations",
    "reasonCodes",
    "referenceId",
    "firstName",
    "surName",
    "streetAddress",
    "city",
    "state",
    "zip",
    "dob",
    "ssn",
    "mobileNumber",
    "Person",
    "Name",
    "FirstName",
    "LastName",
    "SSN",
    "Number",
    "DateOfBirth",
    "Year",
    "Month",
    "Day",
    "Addresses",
    "StreetAddress1",
    "StreetAddress2",
    "City",
    "State",
    "Zip5",
    "Zip4",
    "Context",
    "Settings",
];

/// Strings the parsers branch on, plus the canary and some noise.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "passed",
            "failed",
            "error",
            "pass",
            "fail",
            "InstantVerify",
            "PhoneFinder",
            "primary",
            "total.scoring.model.verification.fail",
            "Execute Instant Verify",
            "1980",
            "1",
            "31",
            "",
        ])
        .prop_map(str::to_owned),
        Just(CANARY.to_owned()),
        "[ -~]{0,12}",
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-2.0f64..2.0).prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
                        "[a-z]{1,4}"
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Bytes: either arbitrary, or a generated JSON document, or one cut short.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json().prop_map(|v| v.to_string().into_bytes()),
        (json(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let mut bytes = v.to_string().into_bytes();
            bytes.truncate(cut.index(bytes.len() + 1));
            bytes
        }),
    ]
}

/// A fake applicant, and every value of it a vendor text might quote.
const KNOWN_APPLICANT: &str = r#"{"Settings":{"Reference":"sp:QXREFCANARY"},"Person":{
    "Name":{"FirstName":"Qxfirstcanary","MiddleName":"Qxmiddle","LastName":"Qxlast-Canary"},
    "SSN":{"Number":"900557733"},"DateOfBirth":{"Year":"1911","Month":"11","Day":"3"},
    "Addresses":[{"StreetAddress1":"1 Qxstreetcanary Rd","StreetAddress2":"Unit 9","City":"Qxcitycanary","Zip5":"00501","Zip4":"0001"}],
    "Phones":[{"Number":"5550107788"}],"Email":"qx.canary@example.invalid"}}"#;
const KNOWN_VALUES: &[&str] = &[
    "Qxfirstcanary",
    "Qxmiddle",
    "Qxlast-Canary",
    "Canary",
    "900557733",
    "900-55-7733",
    "1911-11-03",
    "19111103",
    "11/03/1911",
    "11/3/1911",
    "11031911",
    "1 Qxstreetcanary Rd",
    "Unit 9",
    "Qxcitycanary",
    "00501",
    "00501-0001",
    "005010001",
    "5550107788",
    "(555) 010-7788",
    "555-010-7788",
    "qx.canary@example.invalid",
    "QXREFCANARY",
];

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![Just(200u16), Just(400), Just(401), Just(500), 100u16..600]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn applicant_parser_never_panics_or_quotes(bytes in body()) {
        if let Err(err) = applicant::parse(&bytes) {
            prop_assert!(!err.to_string().contains(CANARY), "{err}");
        }
        // Debug of whatever came out shows no value either.
        if let Ok(parsed) = applicant::parse(&bytes) {
            let shown = format!("{parsed:?}");
            prop_assert!(!shown.contains(CANARY));
        }
    }

    #[test]
    fn lexis_nexis_judge_never_panics_or_quotes(status in status(), bytes in body(), ct in text()) {
        let verdict = resolution::judge(status, Some(&ct), &bytes, "fake.wf", &Redactor::default());
        if let Some(exception) = &verdict.exception {
            prop_assert!(!exception.contains(CANARY) || ct.contains(CANARY), "{exception}");
        }
        prop_assert!(serde_json::to_string(&verdict).is_ok());
    }

    #[test]
    fn judges_redacting_the_bodys_own_applicant_never_panic(status in status(), bytes in body()) {
        // The same bytes as the request and as the answer: every value the
        // applicant has is then in the answer, wherever the parsers look.
        let parsed = applicant::parse(&bytes).ok();
        let redactor = Redactor::new(parsed.as_ref());
        let verdict = resolution::judge(status, Some("application/json"), &bytes, "fake.wf", &redactor);
        prop_assert!(serde_json::to_string(&verdict).is_ok());
        let verdict = socure::judge(status, Some("application/json"), &bytes, &redactor);
        prop_assert!(serde_json::to_string(&verdict).is_ok());
    }

    #[test]
    fn a_known_value_never_survives_redaction(
        prefix in any::<String>(),
        suffix in any::<String>(),
        which in any::<prop::sample::Index>(),
        upper in any::<bool>(),
    ) {
        let applicant = applicant::parse(KNOWN_APPLICANT.as_bytes()).expect("applicant");
        let redactor = Redactor::new(Some(&applicant));
        let value = which.get(KNOWN_VALUES);
        let value = if upper { value.to_uppercase() } else { value.to_lowercase() };
        // A run of digits inside a longer number is another number (then
        // the digit rule decides, from nine digits).
        if value.bytes().all(|b| b.is_ascii_digit()) {
            prop_assume!(!prefix.ends_with(|c: char| c.is_ascii_digit()));
            prop_assume!(!suffix.starts_with(|c: char| c.is_ascii_digit()));
        }
        let text = format!("{prefix}{value}{suffix}");
        for out in [redactor.text(&text), {
            let mut json = Value::String(text.clone());
            redactor.json(&mut json);
            json.as_str().unwrap_or_default().to_owned()
        }] {
            prop_assert!(!out.to_lowercase().contains(&value.to_lowercase()), "{out}");
            prop_assert!(out.chars().count() <= 512);
        }
    }

    #[test]
    fn socure_judge_never_panics_or_quotes(status in status(), bytes in body(), json_typed in any::<bool>()) {
        let content_type = if json_typed { "application/json" } else { "text/plain" };
        let verdict = socure::judge(status, Some(content_type), &bytes, &Redactor::default());
        let msg_is_canary = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("msg").map(|m| m.to_string().contains(CANARY)))
            .unwrap_or(false);
        if let Some(exception) = &verdict.exception {
            // The contract has Socure's own `msg` in the exception; nothing else.
            prop_assert!(!exception.contains(CANARY) || msg_is_canary, "{exception}");
        }
        prop_assert!(serde_json::to_string(&verdict).is_ok());
    }
}

#[test]
fn phone_finder_parameter_details_never_reach_errors_whatever_else_is_there() {
    // A deterministic check of the PII rule the generated cases may not hit.
    let body = serde_json::json!({
        "Status": {"TransactionStatus": "failed", "TransactionReasonCode": {"Code": "fake.code"}},
        "Products": [{"ProductType": "PhoneFinder", "ExecutedStepName": "PF", "ProductStatus": "fail",
                      "ParameterDetails": [{"Name": "Consumer_Full_Names", "Values": [{"Value": CANARY}]}]}]
    });
    let verdict = resolution::judge(
        200,
        None,
        body.to_string().as_bytes(),
        "fake.wf",
        &Redactor::default(),
    );
    assert!(verdict.errors.contains_key("PF"));
    assert!(
        !serde_json::to_string(&verdict)
            .expect("json")
            .contains(CANARY)
    );
}
