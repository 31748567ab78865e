//! Shadow lines built for the report's tests with the judge crate's own types and encoder, so they are the proxy's format by construction.

use serde_json::{Map, Value, json};
use socure_shadow_proxy::judge::pair::{self, EventProperties, Properties, ShadowLine};
use socure_shadow_proxy::judge::verdict::Verdict;

/// A judged verdict.
pub fn verdict(
    vendor_name: &'static str,
    success: bool,
    asked: &[&str],
    verified: Option<&[&str]>,
    codes: &[&str],
) -> Verdict {
    let mut errors = Map::new();
    if !codes.is_empty() {
        errors.insert("reason_codes".into(), json!(codes));
    }
    Verdict {
        success,
        errors: errors.into(),
        exception: None,
        timed_out: false,
        transaction_id: json!("fake-transaction"),
        reference: json!(""),
        can_pass_with_additional_verification: false,
        attributes_requiring_additional_verification: asked
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        vendor_name,
        vendor_workflow: None,
        verified_attributes: verified.map(|v| v.iter().map(|s| (*s).to_owned()).collect()),
        ids_withheld: Default::default(),
    }
}

/// A proofing line at `time` (RFC 3339, as the proxy writes it) carrying
/// `event`, encoded as the proxy encodes it.
pub fn encoded(time: String, event: EventProperties) -> String {
    let shadow = ShadowLine {
        name: pair::EVENT_NAME,
        id: "00000000-0000-4000-8000-000000000000".into(),
        time,
        properties: Properties {
            event_properties: event,
            new_event: true,
            path: "/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation".into(),
            user_id: None,
            user_id_invalid: false,
        },
        log_filename: "events.log",
    };
    String::from_utf8(pair::encode(&shadow).expect("encodes")).expect("utf-8")
}

/// A list of `{name, count}` objects as pairs.
pub fn counts(value: &Value) -> Vec<(String, u64)> {
    value
        .as_array()
        .expect("list")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_owned(),
                c["count"].as_u64().expect("count"),
            )
        })
        .collect()
}
