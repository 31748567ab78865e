//! Pure: what the LexisNexis exchange produced becomes the `resolution_result`, judged as identity-idp does.
//!
//! CONTRACT.md section 3 is the spec; where it is silent, identity-idp's
//! `Proofing::LexisNexis::Response` and `VerificationErrorParser` decide
//! (a `passed` answer has `errors: {}`, as identity-idp's own specs expect).
//! No message here quotes a response body.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::verdict::{Verdict, elements};

pub const VENDOR_NAME: &str = "lexisnexis:instant_verify";

/// What the proxy saw of the upstream exchange for one shadowed request.
#[derive(Debug, Clone)]
pub enum Exchange {
    /// A whole answer, whatever its status. `truncated` when the body was
    /// larger than the tap keeps.
    Answered {
        status: u16,
        content_type: Option<String>,
        body: Bytes,
        truncated: bool,
    },
    UpstreamTimeout,
    UpstreamUnreachable,
    /// The connection failed after the request was sent, or the answer was cut.
    UpstreamFailed,
    /// The client went away before the answer was complete.
    ClientGone,
    /// The client's request body could not be read to its end.
    RequestUnreadable,
    /// The proxy refused the request (over the size limit).
    RequestRefused,
    /// The pairing gave up waiting for the answer.
    Abandoned,
    /// The proxy shut down before the answer was complete.
    Shutdown,
    /// The mirror task failed inside; the line stands in for its result.
    InternalError,
}

impl Exchange {
    /// The `resolution_outcome` field of the line.
    pub fn outcome(&self) -> &'static str {
        match self {
            Exchange::Answered { .. } => "answered",
            Exchange::UpstreamTimeout => "upstream_timeout",
            Exchange::UpstreamUnreachable => "upstream_unreachable",
            Exchange::UpstreamFailed => "upstream_failed",
            Exchange::ClientGone => "client_gone",
            Exchange::RequestUnreadable => "request_unreadable",
            Exchange::RequestRefused => "request_refused",
            Exchange::Abandoned => "abandoned",
            Exchange::Shutdown => "shutdown",
            Exchange::InternalError => "internal_error",
        }
    }

    /// Whether LexisNexis was actually asked (an elapsed time means something).
    pub fn reached_upstream(&self) -> bool {
        !matches!(
            self,
            Exchange::RequestUnreadable | Exchange::RequestRefused | Exchange::InternalError
        )
    }
}

/// Judges one exchange. `workflow` is the InstantVerify workflow of the path.
pub fn judge_exchange(exchange: &Exchange, workflow: &str) -> Verdict {
    let failed = |message: &str, timed_out: bool| {
        Verdict::exception(VENDOR_NAME, Some(workflow.to_owned()), message, timed_out)
    };
    match exchange {
        Exchange::Answered {
            status,
            content_type,
            body,
            truncated: false,
        } => judge(*status, content_type.as_deref(), body, workflow),
        Exchange::Answered {
            truncated: true, ..
        } => failed("Response body too large to judge", false),
        // identity-idp's own wording for a Net::HTTP timeout.
        Exchange::UpstreamTimeout => failed(
            "LexisNexis timed out waiting for verification response",
            true,
        ),
        Exchange::UpstreamUnreachable => failed(
            "LexisNexis request failed: could not connect to the upstream",
            false,
        ),
        Exchange::UpstreamFailed => failed(
            "LexisNexis request failed: connection closed before the answer was complete",
            false,
        ),
        Exchange::ClientGone => failed(
            "Client closed the connection before the LexisNexis answer was complete",
            false,
        ),
        Exchange::RequestUnreadable => failed(
            "Request body could not be read from the client; nothing was sent to LexisNexis",
            false,
        ),
        Exchange::RequestRefused => failed(
            "Request refused by the proxy: body over the size limit; LexisNexis did not answer it",
            false,
        ),
        Exchange::Abandoned => failed("Gave up waiting for the LexisNexis answer", false),
        Exchange::Shutdown => failed(
            "Proxy shut down before the LexisNexis answer was complete",
            false,
        ),
        Exchange::InternalError => failed("Internal error in the mirror; no result", false),
    }
}

/// Judges a LexisNexis answer: HTTP status, `Content-Type` and body bytes.
pub fn judge(status: u16, content_type: Option<&str>, body: &[u8], workflow: &str) -> Verdict {
    let failed = |message: String| {
        Verdict::exception(VENDOR_NAME, Some(workflow.to_owned()), message, false)
    };
    if !(200..300).contains(&status) {
        // identity-idp appends the body here; bodies can carry PII, so we don't.
        return failed(format!("Unexpected status code '{status}'"));
    }
    let Ok(Value::Object(root)) = serde_json::from_slice::<Value>(body) else {
        // identity-idp's scrubbed JSON error, typo and all, so queries match.
        let content_type: String = content_type.unwrap_or("").chars().take(100).collect();
        return failed(format!(
            "An error occured parsing the response body JSON, status={status} content_type={content_type}"
        ));
    };

    let status_obj = root.get("Status");
    let transaction_status = status_obj.and_then(|s| s.get("TransactionStatus"));
    let verification_status = ruby_string(transaction_status);
    let reason_code = status_obj
        .and_then(|s| s.get("TransactionReasonCode"))
        .and_then(|c| c.get("Code"))
        .filter(|c| !c.is_null());
    let products = elements(root.get("Products"));

    let passed = transaction_status.and_then(Value::as_str) == Some("passed");
    let mut errors = Map::new();
    let mut instant_verify: Option<&Map<String, Value>> = None;
    let mut logged_products = 0usize;
    if !passed {
        if let Some(base) = base_message(&root, &verification_status, reason_code) {
            errors.insert("base".into(), Value::Array(vec![Value::String(base)]));
        }
        for product in products {
            let Some(product) = product.as_object() else {
                continue;
            };
            if !should_log(product) {
                continue;
            }
            let Some(step) = product
                .get("ExecutedStepName")
                .map(|s| ruby_string(Some(s)))
            else {
                // identity-idp's `fetch` raises here and the whole call becomes an exception.
                return failed("Malformed response body: a product has no ExecutedStepName".into());
            };
            logged_products += 1;
            if product.get("ProductType").and_then(Value::as_str) == Some("InstantVerify") {
                instant_verify.get_or_insert(product);
            }
            let mut logged = product.clone();
            if logged.get("ProductType").and_then(Value::as_str) == Some("PhoneFinder") {
                // PhoneFinder reflects the applicant's PII here.
                logged.remove("ParameterDetails");
            }
            errors.insert(step, Value::Array(vec![Value::Object(logged)]));
        }
        // identity-idp's pii_like_keypaths: `errors.ssn` is never logged.
        errors.shift_remove("ssn");
    }

    let attributes = instant_verify.map(failed_attributes).unwrap_or_default();
    let can_pass = verification_status == "failed"
        && reason_code.and_then(Value::as_str).is_some_and(|code| {
            code.contains("total.scoring.model.verification.fail")
                || code.contains("priority.scoring.model.verification.fail")
        })
        && logged_products == 1
        && instant_verify
            .is_some_and(|p| p.get("ProductStatus").and_then(Value::as_str) == Some("fail"))
        && !attributes.is_empty();

    Verdict {
        success: passed,
        errors,
        exception: None,
        timed_out: false,
        transaction_id: status_obj
            .and_then(|s| s.get("ConversationId"))
            .cloned()
            .unwrap_or(Value::Null),
        reference: status_obj
            .and_then(|s| s.get("Reference"))
            .cloned()
            .unwrap_or(Value::Null),
        can_pass_with_additional_verification: can_pass,
        attributes_requiring_additional_verification: attributes,
        vendor_name: VENDOR_NAME,
        vendor_workflow: Some(workflow.to_owned()),
        verified_attributes: None,
    }
}

/// The `errors.base` message, CONTRACT.md section 3.
fn base_message(
    root: &Map<String, Value>,
    status: &str,
    reason_code: Option<&Value>,
) -> Option<String> {
    match status {
        "passed" | "failed" => {}
        "error" => {
            let information = root
                .get("Information")
                .map_or_else(|| "{}".to_owned(), Value::to_string);
            let code = ruby_string(reason_code);
            return Some(format!("Response error with code '{code}': {information}"));
        }
        other => return Some(format!("Invalid status in response body: '{other}'")),
    }
    reason_code.map(|code| {
        format!(
            "Verification failed with code: '{}'",
            ruby_string(Some(code))
        )
    })
}

/// identity-idp's `should_log?`.
fn should_log(product: &Map<String, Value>) -> bool {
    product.get("ProductStatus").and_then(Value::as_str) != Some("pass")
        || product.get("ProductType").and_then(Value::as_str) == Some("InstantVerify")
        || product
            .get("Items")
            .and_then(Value::as_array)
            .is_some_and(|items| items.iter().any(|item| item.get("ItemReason").is_some()))
}

/// identity-idp's `CheckToAttributeMapper`: every item not `pass`, by name,
/// de-duplicated and sorted.
fn failed_attributes(product: &Map<String, Value>) -> Vec<String> {
    let mut attributes: Vec<String> = elements(product.get("Items"))
        .iter()
        .filter(|item| item.get("ItemStatus").and_then(Value::as_str) != Some("pass"))
        .map(|item| {
            attribute_for(item.get("ItemName").and_then(Value::as_str).unwrap_or("")).to_owned()
        })
        .collect();
    attributes.sort();
    attributes.dedup();
    attributes
}

fn attribute_for(check: &str) -> &'static str {
    match check {
        "Addr1Zip_StateMatch"
        | "IdentityOccupancyVerified"
        | "AddrDeliverable"
        | "AddrNotHighRisk" => "address",
        "SsnFullNameMatch" | "SSNSSAValid" => "ssn",
        "SsnDeathMatchVerification" | "LexIDDeathMatch" => "dead",
        "DOBFullVerified" | "DOBYearVerified" => "dob",
        "DriversLicense" | "DriversLicenseVerification" => "state_id_number",
        _ => "unknown",
    }
}

/// A JSON value as Ruby's string interpolation shows it: `nil` is empty, a
/// string is itself, anything else its JSON text.
fn ruby_string(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WF: &str = "fake.wf";

    #[test]
    fn non_2xx_never_quotes_the_body() {
        let v = judge(500, Some("text/plain"), b"FAKEY MCFAKERSON 900-00-0000", WF);
        assert_eq!(v.exception.as_deref(), Some("Unexpected status code '500'"));
        assert!(!v.success);
        assert_eq!(v.errors, Map::new());
    }

    #[test]
    fn non_json_body_names_status_and_type_only() {
        let v = judge(200, Some("text/html"), b"<html>FAKEY</html>", WF);
        assert_eq!(
            v.exception.as_deref(),
            Some(
                "An error occured parsing the response body JSON, status=200 content_type=text/html"
            )
        );
    }

    #[test]
    fn invalid_status_goes_to_base() {
        let v = judge(
            200,
            None,
            br#"{"Status":{"TransactionStatus":"weird"}}"#,
            WF,
        );
        assert_eq!(
            v.errors.get("base"),
            Some(&serde_json::json!([
                "Invalid status in response body: 'weird'"
            ]))
        );
        assert!(!v.success);
        assert_eq!(v.exception, None);
    }

    #[test]
    fn failed_without_code_has_no_base() {
        let v = judge(
            200,
            None,
            br#"{"Status":{"TransactionStatus":"failed"}}"#,
            WF,
        );
        assert_eq!(v.errors, Map::new());
    }

    #[test]
    fn phone_finder_parameter_details_are_dropped() {
        let body = br#"{"Status":{"TransactionStatus":"failed"},"Products":[
            {"ProductType":"PhoneFinder","ExecutedStepName":"Execute_PhoneFinder","ProductStatus":"fail",
             "ParameterDetails":[{"Name":"Consumer_Full_Names","Values":[{"Value":"FAKEY MCFAKERSON"}]}]}]}"#;
        let v = judge(200, None, body, WF);
        let logged = serde_json::to_string(&v.errors).expect("json");
        assert!(logged.contains("Execute_PhoneFinder"));
        assert!(!logged.contains("FAKEY"));
        assert!(!logged.contains("ParameterDetails"));
    }

    #[test]
    fn product_without_step_name_is_an_exception() {
        let body =
            br#"{"Status":{"TransactionStatus":"failed"},"Products":[{"ProductStatus":"fail"}]}"#;
        let v = judge(200, None, body, WF);
        assert!(v.exception.is_some());
    }
}
