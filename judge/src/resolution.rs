//! Pure: what the LexisNexis exchange produced becomes the `resolution_result`, judged as identity-idp does.
//!
//! CONTRACT.md section 3 is the spec: identity-idp at the seed's merge commit
//! (`a52223a`). Where it is silent, identity-idp's `InstantVerify::Proofer`,
//! `Response` and `VerificationErrorParser` at that commit decide, down to
//! which shapes of answer make them raise (an exception result, here too).
//! `tests/identity_idp_specs.rs` holds identity-idp's own spec examples.
//! No message here quotes a response body.

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::redact::Redactor;
use crate::verdict::{Attribute, ErrorValue, Errors, IdsWithheld, Verdict};

mod ruby;
mod streamed;

pub const VENDOR_NAME: &str = "lexisnexis:instant_verify";

/// What the proxy saw of the upstream exchange for one shadowed request.
/// Its variants, without their data, are the line's `resolution_outcome`
/// ([`ResolutionOutcome`], derived here so the two cannot differ).
#[derive(Debug, Clone, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(ResolutionOutcome),
    doc = "How the LexisNexis side ended: the line's `resolution_outcome`, one per [`Exchange`] variant. The label is spelled once, by strum; serde writes the same (a test holds the two together).",
    derive(
        Serialize,
        strum::IntoStaticStr,
        strum::EnumString,
        strum::VariantArray
    ),
    serde(rename_all = "snake_case"),
    strum(serialize_all = "snake_case")
)]
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
    pub fn outcome(&self) -> ResolutionOutcome {
        self.into()
    }

    /// Whether LexisNexis was actually asked (an elapsed time means something).
    pub fn reached_upstream(&self) -> bool {
        !matches!(
            self,
            Exchange::RequestUnreadable | Exchange::RequestRefused | Exchange::InternalError
        )
    }
}

/// Judges one exchange. `workflow` is the InstantVerify workflow of the
/// path; `redactor` takes the applicant out of the answer's text.
pub fn judge_exchange(exchange: &Exchange, workflow: &str, redactor: &Redactor) -> Verdict {
    let failed = |message: &str, timed_out: bool| {
        Verdict::exception(VENDOR_NAME, Some(workflow.to_owned()), message, timed_out)
    };
    match exchange {
        Exchange::Answered {
            status,
            content_type,
            body,
            truncated: false,
        } => judge(*status, content_type.as_deref(), body, workflow, redactor),
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
///
/// What the answer says in its own words and reaches the line (`errors`:
/// `base` with its code and `Information`, the logged products;
/// `transaction_id`, `reference`; a `Content-Type`) goes through `redactor`:
/// LexisNexis echoes the request it was sent.
pub fn judge(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    workflow: &str,
    redactor: &Redactor,
) -> Verdict {
    if !(200..300).contains(&status) {
        // identity-idp appends the body here; bodies can carry PII, so we don't.
        return failed(workflow, format!("Unexpected status code '{status}'"));
    }
    // The usual answer is judged as it is read; any other, the `Value` way.
    if let Some((judged, logged)) = streamed::judge(body, redactor) {
        return verdict(judged, logged, workflow, redactor);
    }
    judge_value(status, content_type, body, workflow, redactor)
}

/// The exception result of an answer not judged (not timed out).
fn failed(workflow: &str, message: String) -> Verdict {
    Verdict::exception(VENDOR_NAME, Some(workflow.to_owned()), message, false)
}

/// [`judge`] of a 2xx answer through a `Value`: every answer the streamed
/// reader leaves, and the yardstick its tests hold it to.
fn judge_value(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    workflow: &str,
    redactor: &Redactor,
) -> Verdict {
    let failed = |message: String| failed(workflow, message);
    let Ok(root) = serde_json::from_slice::<Value>(body) else {
        // identity-idp's scrubbed JSON error, typo and all, so queries match.
        // Redacted before the cut, so the cut never keeps half of a value.
        let content_type: String = redactor
            .text(content_type.unwrap_or(""))
            .chars()
            .take(100)
            .collect();
        return failed(format!(
            "An error occured parsing the response body JSON, status={status} content_type={content_type}"
        ));
    };
    let judged = match judge_body(&root, redactor) {
        Ok(judged) => judged,
        // identity-idp's proofer rescues whatever its parsing raises into an
        // exception result (`errors: {}`, `transaction_id` and `reference`
        // `""`); so do we, in words of our own.
        Err(raised) => return failed(raised.to_string()),
    };
    // The logged products are moved out of the parsed answer, not copied.
    let logged = take_logged(root, &judged.logged, redactor);
    verdict(judged, logged, workflow, redactor)
}

/// The verdict on a judged answer, its logged products in hand.
fn verdict(judged: Judged, logged: Errors, workflow: &str, redactor: &Redactor) -> Verdict {
    let (mut transaction_id, mut reference) = (judged.transaction_id, judged.reference);
    let ids_withheld = IdsWithheld {
        transaction_id: redactor.id(&mut transaction_id),
        reference: redactor.id(&mut reference),
    };
    Verdict {
        success: judged.passed,
        errors: errors(judged.base.map(|base| redactor.text(&base)), logged),
        exception: None,
        timed_out: false,
        transaction_id,
        reference,
        can_pass_with_additional_verification: judged.can_pass,
        attributes_requiring_additional_verification: judged.attributes,
        vendor_name: VENDOR_NAME,
        vendor_workflow: Some(workflow.to_owned()),
        verified_attributes: None,
        ids_withheld,
    }
}

/// The products `judge_body` chose to log, by step name and in its order,
/// taken out of `root` (whose `Products` it has already checked is a list),
/// each redacted whole: an item may quote what it checked.
fn take_logged(root: Value, chosen: &[Logged], redactor: &Redactor) -> Errors {
    let mut products = match root {
        Value::Object(mut root) => match root.shift_remove("Products") {
            Some(Value::Array(products)) => products,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let mut logged = Errors::default();
    for chosen in chosen {
        let Some(Value::Object(mut product)) = products.get_mut(chosen.index).map(std::mem::take)
        else {
            continue;
        };
        if chosen.phone_finder {
            // PhoneFinder reflects the applicant's PII here.
            product.shift_remove("ParameterDetails");
        }
        let mut product = Value::Object(product);
        redactor.json(&mut product);
        logged.insert(redactor.text(&chosen.step), ErrorValue::Built(product));
    }
    logged
}

/// Where identity-idp's proofer raises on a parsed answer, and so records an
/// exception result instead of judging it. The messages are the proxy's own
/// (Ruby's would name its internals) and never quote the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Raised {
    /// `can_pass` calls `match?` on the missing code (CONTRACT.md section 3).
    #[error("LexisNexis answered 'failed' without a TransactionReasonCode")]
    FailedWithoutReasonCode,
    /// A shape Ruby cannot read the way identity-idp does: `dig` into a
    /// string, `fetch` on a list, `length` of `nil`.
    #[error("Malformed response body: {0}")]
    Malformed(&'static str),
}

/// A judged answer, before the fixed keys are added.
struct Judged {
    passed: bool,
    /// The `base` error, if any.
    base: Option<String>,
    /// The products to log, in order (taken out of the answer afterwards).
    logged: Vec<Logged>,
    transaction_id: Value,
    reference: Value,
    can_pass: bool,
    attributes: Vec<String>,
}

/// A product chosen for `errors`: where it is in `Products`, and its step.
struct Logged {
    index: usize,
    step: String,
    phone_finder: bool,
}

/// identity-idp's `InstantVerify::Proofer#build_result_from_response`, in its
/// order, so that an answer it raises on is an exception here too (the first
/// raise names the message) and any other answer gets the same values. Each
/// step below is called in the order the Ruby reaches it.
fn judge_body(root: &Value, redactor: &Redactor) -> Result<Judged, Raised> {
    let root = root
        .as_object()
        .ok_or(Raised::Malformed("the body is not a JSON object"))?;
    // `find_instant_verify_product` runs first, and reads `Products`.
    let products = products(root)?;
    let status_obj = object(root.get("Status"), "Status is not an object")?;
    let transaction_status = status_obj.and_then(|s| s.get("TransactionStatus"));
    // Only a string can be a valid status; any other value is an invalid one.
    let status = transaction_status.and_then(Value::as_str);

    // `VerificationErrorParser`: the products worth logging, then `base`.
    let logged = logged_products(products)?;
    let base = base_error(root, status_obj, transaction_status, redactor)?;

    // `failed_result_can_pass_with_additional_verification?` matches the code
    // before anything else, then the mapper reads the InstantVerify product.
    let failed_code = match status {
        Some("failed") => match reason_code(status_obj)? {
            Some(Value::String(code)) => Some(code.as_str()),
            None => return Err(Raised::FailedWithoutReasonCode),
            Some(_) => {
                return Err(Raised::Malformed("TransactionReasonCode.Code is not text"));
            }
        },
        _ => None,
    };
    let instant_verify = match products {
        [only] if only.get("ProductType").and_then(Value::as_str) == Some("InstantVerify") => {
            only.as_object()
        }
        // More than one product, of any kind, and identity-idp finds none.
        _ => None,
    };
    let attributes = instant_verify
        .map(failed_attributes)
        .transpose()?
        .unwrap_or_default();
    let can_pass = can_pass(
        failed_code,
        instant_verify
            .is_some_and(|p| p.get("ProductStatus").and_then(Value::as_str) == Some("fail")),
        &attributes,
    );

    Ok(Judged {
        passed: status == Some("passed"),
        base,
        logged,
        transaction_id: status_obj
            .and_then(|s| s.get("ConversationId"))
            .cloned()
            .unwrap_or(Value::Null),
        reference: status_obj
            .and_then(|s| s.get("Reference"))
            .cloned()
            .unwrap_or(Value::Null),
        can_pass,
        attributes,
    })
}

/// identity-idp's `failed_result_can_pass_with_additional_verification?`:
/// a `failed` answer's reason code says the scoring model failed, its
/// InstantVerify product failed, and some of its checks did not pass.
fn can_pass(failed_code: Option<&str>, instant_verify_failed: bool, attributes: &[String]) -> bool {
    failed_code.is_some_and(|code| {
        code.contains("total.scoring.model.verification.fail")
            || code.contains("priority.scoring.model.verification.fail")
    }) && instant_verify_failed
        && !attributes.is_empty()
}

/// `Status.TransactionReasonCode.Code`, `nil` as absent; read where the Ruby
/// reads it (each time), so that its raise comes in the same place.
fn reason_code(status_obj: Option<&Map<String, Value>>) -> Result<Option<&Value>, Raised> {
    let reason = status_obj.and_then(|s| s.get("TransactionReasonCode"));
    let reason = object(reason, "TransactionReasonCode is not an object")?;
    Ok(reason.and_then(|r| r.get("Code")).filter(|c| !c.is_null()))
}

/// `VerificationErrorParser`'s products worth logging, in order, each
/// with its step name (a product without one raises).
fn logged_products(products: &[Value]) -> Result<Vec<Logged>, Raised> {
    let mut logged = Vec::new();
    for (index, product) in products.iter().enumerate() {
        let product = product
            .as_object()
            .ok_or(Raised::Malformed("a product is not an object"))?;
        if !should_log(product)? {
            continue;
        }
        let step = match product.get("ExecutedStepName") {
            Some(Value::String(step)) => step.clone(),
            None => return Err(Raised::Malformed("a product has no ExecutedStepName")),
            Some(_) => {
                return Err(Raised::Malformed(
                    "a product's ExecutedStepName is not text",
                ));
            }
        };
        logged.push(Logged {
            index,
            step,
            phone_finder: product.get("ProductType").and_then(Value::as_str) == Some("PhoneFinder"),
        });
    }
    Ok(logged)
}

/// `VerificationErrorParser`'s `base` error: the one the status gives, if
/// any.
fn base_error(
    root: &Map<String, Value>,
    status_obj: Option<&Map<String, Value>>,
    transaction_status: Option<&Value>,
    redactor: &Redactor,
) -> Result<Option<String>, Raised> {
    Ok(match transaction_status.and_then(Value::as_str) {
        Some("error") => {
            let code = ruby::interpolate(reason_code(status_obj)?);
            // Its strings are redacted before printing (which escapes some
            // characters a value may hold); the whole `base`, numbers and
            // keys included, is redacted again as text.
            let information = root.get("Information").map_or_else(
                || "{}".to_owned(),
                |information| {
                    let mut information = information.clone();
                    redactor.json_strings(&mut information);
                    ruby::to_json(&information)
                },
            );
            Some(format!("Response error with code '{code}': {information}"))
        }
        // `passed` included: identity-idp words any present code this way.
        Some("passed" | "failed") => reason_code(status_obj)?
            .filter(|code| ruby::present(code))
            .map(|code| {
                format!(
                    "Verification failed with code: '{}'",
                    ruby::interpolate(Some(code))
                )
            }),
        _ => Some(format!(
            "Invalid status in response body: '{}'",
            ruby::interpolate(transaction_status)
        )),
    })
}

/// `Products` as identity-idp reads it twice: `fetch('Products', [])` takes
/// its `length`, and the error parser its `each_with_object`. Absent is no
/// products; `null` or anything but a list makes one of them raise (an empty
/// object happens to pass both, as no products).
fn products(root: &Map<String, Value>) -> Result<&[Value], Raised> {
    match root.get("Products") {
        None => Ok(&[]),
        Some(Value::Array(products)) => Ok(products),
        Some(Value::Object(empty)) if empty.is_empty() => Ok(&[]),
        Some(_) => Err(Raised::Malformed("Products is not a list")),
    }
}

/// One step of Ruby's `Hash#dig`: `nil` stops it, a hash goes on, anything
/// else raises.
fn object<'a>(
    value: Option<&'a Value>,
    malformed: &'static str,
) -> Result<Option<&'a Map<String, Value>>, Raised> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(Raised::Malformed(malformed)),
    }
}

/// identity-idp's `{ base: ... }.merge(products).compact`, each value then
/// wrapped in a one-element array: `base` leads, a product whose step is
/// named `base` takes its value, and an absent `base` is dropped.
fn errors(base: Option<String>, logged: Errors) -> Errors {
    let mut merged = Errors::default();
    let base = base.map_or(Value::Null, Value::String);
    merged.insert("base".into(), ErrorValue::Built(base));
    // An existing key keeps its place and takes the new value, as in Ruby.
    for (key, value) in logged {
        merged.insert(key, value);
    }
    if matches!(merged.get("base"), Some(ErrorValue::Built(Value::Null))) {
        merged.shift_remove("base");
    }
    // The proxy's own rule (identity-idp only allow-lists this key path in
    // its tests): a step named `ssn` is never logged.
    merged.shift_remove("ssn");
    merged
        .into_iter()
        .map(|(key, value)| match value {
            ErrorValue::Built(value) => (key, ErrorValue::Built(Value::Array(vec![value]))),
            // `streamed` writes a product in its array.
            written @ ErrorValue::Written(_) => (key, written),
        })
        .collect()
}

/// identity-idp's `should_log?`. A product that passed, is not InstantVerify,
/// and has `Items` is logged when an item has an `ItemReason` key; Ruby
/// reads the keys of every item first, so one that is not an object raises.
fn should_log(product: &Map<String, Value>) -> Result<bool, Raised> {
    if product.get("ProductStatus").and_then(Value::as_str) != Some("pass")
        || product.get("ProductType").and_then(Value::as_str) == Some("InstantVerify")
    {
        return Ok(true);
    }
    match product.get("Items") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Object(empty)) if empty.is_empty() => Ok(false),
        Some(Value::Array(items)) => {
            let mut has_reason = false;
            for item in items {
                let item = item
                    .as_object()
                    .ok_or(Raised::Malformed("an item is not an object"))?;
                has_reason |= item.contains_key("ItemReason");
            }
            Ok(has_reason)
        }
        Some(_) => Err(Raised::Malformed("Items is not a list")),
    }
}

/// identity-idp's `CheckToAttributeMapper`: every item not `pass`, by name,
/// de-duplicated and sorted. `Items` that are not `present?` give none.
fn failed_attributes(product: &Map<String, Value>) -> Result<Vec<String>, Raised> {
    let items = match product.get("Items") {
        Some(items) if ruby::present(items) => items
            .as_array()
            .ok_or(Raised::Malformed("Items is not a list"))?,
        _ => return Ok(Vec::new()),
    };
    let mut attributes = Vec::with_capacity(items.len());
    for item in items {
        let (name, status) = match item {
            Value::Object(item) => (item.get("ItemName"), item.get("ItemStatus")),
            // Ruby's `String#[]` finds neither key: a failed check with no name.
            Value::String(_) => (None, None),
            _ => return Err(Raised::Malformed("an item is not an object")),
        };
        if status.and_then(Value::as_str) != Some("pass") {
            let attribute = attribute_for(name.and_then(Value::as_str).unwrap_or(""));
            attributes.push(attribute.label().to_owned());
        }
    }
    attributes.sort();
    attributes.dedup();
    Ok(attributes)
}

fn attribute_for(check: &str) -> Attribute {
    match check {
        "Addr1Zip_StateMatch"
        | "IdentityOccupancyVerified"
        | "AddrDeliverable"
        | "AddrNotHighRisk" => Attribute::Address,
        "SsnFullNameMatch" | "SSNSSAValid" => Attribute::Ssn,
        "SsnDeathMatchVerification" | "LexIDDeathMatch" => Attribute::Dead,
        "DOBFullVerified" | "DOBYearVerified" => Attribute::Dob,
        "DriversLicense" | "DriversLicenseVerification" => Attribute::StateIdNumber,
        _ => Attribute::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WF: &str = "fake.wf";

    #[test]
    fn non_2xx_never_quotes_the_body() {
        let v = judge(
            500,
            Some("text/plain"),
            b"FAKEY MCFAKERSON 900-00-0000",
            WF,
            &Redactor::default(),
        );
        assert_eq!(v.exception.as_deref(), Some("Unexpected status code '500'"));
        assert!(!v.success);
        assert_eq!(v.errors.to_map(), Map::new());
    }

    #[test]
    fn non_json_body_names_status_and_type_only() {
        let v = judge(
            200,
            Some("text/html"),
            b"<html>FAKEY</html>",
            WF,
            &Redactor::default(),
        );
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
            &Redactor::default(),
        );
        assert_eq!(
            v.errors.to_map().get("base"),
            Some(&serde_json::json!([
                "Invalid status in response body: 'weird'"
            ]))
        );
        assert!(!v.success);
        assert_eq!(v.exception, None);
    }

    #[test]
    fn failed_without_code_is_an_exception() {
        let body =
            br#"{"Status":{"TransactionStatus":"failed","ConversationId":"1","Reference":"r"}}"#;
        let v = judge(200, None, body, WF, &Redactor::default());
        assert_eq!(
            v.exception.as_deref(),
            Some("LexisNexis answered 'failed' without a TransactionReasonCode")
        );
        assert_eq!(v.errors.to_map(), Map::new());
        assert_eq!(v.transaction_id, "");
        assert_eq!(v.reference, "");
    }

    #[test]
    fn phone_finder_parameter_details_are_dropped() {
        let body = br#"{"Status":{"TransactionStatus":"failed","TransactionReasonCode":{"Code":"x"}},"Products":[
            {"ProductType":"PhoneFinder","ExecutedStepName":"Execute_PhoneFinder","ProductStatus":"fail",
             "ParameterDetails":[{"Name":"Consumer_Full_Names","Values":[{"Value":"FAKEY MCFAKERSON"}]}]}]}"#;
        let v = judge(200, None, body, WF, &Redactor::default());
        assert_eq!(v.exception, None);
        let logged = serde_json::to_string(&v.errors).expect("json");
        assert!(logged.contains("Execute_PhoneFinder"));
        assert!(!logged.contains("FAKEY"));
        assert!(!logged.contains("ParameterDetails"));
    }

    /// The verdict of a 200 answer given as JSON.
    fn judged(body: serde_json::Value) -> Verdict {
        judge(
            200,
            None,
            body.to_string().as_bytes(),
            WF,
            &Redactor::default(),
        )
    }

    fn iv_product(status: &str, items: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"ProductType": "InstantVerify", "ExecutedStepName": "IV",
                           "ProductStatus": status, "Items": items})
    }

    #[test]
    fn instant_verify_beside_another_product_is_not_found() {
        let body = serde_json::json!({
            "Status": {"TransactionStatus": "failed",
                       "TransactionReasonCode": {"Code": "total.scoring.model.verification.fail"}},
            "Products": [
                iv_product("fail", serde_json::json!([{"ItemName": "DOBFullVerified", "ItemStatus": "fail"}])),
                {"ProductType": "PhoneFinder", "ExecutedStepName": "PF", "ProductStatus": "pass"}
            ]
        });
        let v = judged(body);
        assert_eq!(v.exception, None);
        assert!(v.attributes_requiring_additional_verification.is_empty());
        assert!(!v.can_pass_with_additional_verification);
        // Logged as usual: the passing PhoneFinder product has no reason, so it is not.
        let keys: Vec<&str> = v.errors.keys().collect();
        assert_eq!(keys, ["base", "IV"]);
    }

    #[test]
    fn a_blank_reason_code_adds_no_base_and_a_code_on_passed_does() {
        for code in [
            serde_json::json!(""),
            serde_json::json!("  "),
            serde_json::json!([]),
        ] {
            let v = judged(serde_json::json!({"Status": {"TransactionStatus": "passed",
                "TransactionReasonCode": {"Code": code}}}));
            assert_eq!(v.errors.to_map(), Map::new(), "{code}");
        }
        let v = judged(serde_json::json!({"Status": {"TransactionStatus": "passed",
            "TransactionReasonCode": {"Code": "fake.code"}}}));
        assert_eq!(
            v.errors.to_map().get("base"),
            Some(&serde_json::json!([
                "Verification failed with code: 'fake.code'"
            ]))
        );
    }

    #[test]
    fn a_step_named_base_takes_the_place_of_base() {
        let product = serde_json::json!({"ProductType": "X", "ExecutedStepName": "base", "ProductStatus": "fail"});
        let v = judged(serde_json::json!({
            "Status": {"TransactionStatus": "passed"},
            "Products": [{"ProductType": "Y", "ExecutedStepName": "first", "ProductStatus": "fail"}, product]
        }));
        let keys: Vec<&str> = v.errors.keys().collect();
        assert_eq!(keys, ["base", "first"]);
        assert_eq!(
            v.errors.to_map().get("base"),
            Some(&serde_json::json!([product]))
        );
    }

    #[test]
    fn a_step_named_ssn_is_never_logged() {
        let v = judged(serde_json::json!({
            "Status": {"TransactionStatus": "passed"},
            "Products": [{"ProductType": "X", "ExecutedStepName": "ssn", "ProductStatus": "fail"},
                         {"ProductType": "Y", "ExecutedStepName": "other", "ProductStatus": "fail"}]
        }));
        let keys: Vec<&str> = v.errors.keys().collect();
        assert_eq!(keys, ["other"]);
    }

    #[test]
    fn shapes_identity_idp_raises_on_are_exceptions() {
        let cases = [
            (
                serde_json::json!([1]),
                "Malformed response body: the body is not a JSON object",
            ),
            (
                serde_json::json!({"Products": null}),
                "Malformed response body: Products is not a list",
            ),
            (
                serde_json::json!({"Products": "x"}),
                "Malformed response body: Products is not a list",
            ),
            (
                serde_json::json!({"Status": "passed"}),
                "Malformed response body: Status is not an object",
            ),
            (
                serde_json::json!({"Status": {"TransactionStatus": "failed", "TransactionReasonCode": "x"}}),
                "Malformed response body: TransactionReasonCode is not an object",
            ),
            (
                serde_json::json!({"Status": {"TransactionStatus": "failed", "TransactionReasonCode": {"Code": 7}}}),
                "Malformed response body: TransactionReasonCode.Code is not text",
            ),
            (
                serde_json::json!({"Status": {"TransactionStatus": "passed"}, "Products": ["x"]}),
                "Malformed response body: a product is not an object",
            ),
            (
                serde_json::json!({"Status": {"TransactionStatus": "passed"},
                                   "Products": [{"ExecutedStepName": 5, "ProductStatus": "fail"}]}),
                "Malformed response body: a product's ExecutedStepName is not text",
            ),
            (
                serde_json::json!({"Status": {"TransactionStatus": "passed"},
                                   "Products": [{"ExecutedStepName": "P", "ProductStatus": "pass", "Items": [1]}]}),
                "Malformed response body: an item is not an object",
            ),
            (
                serde_json::json!({"Status": {"TransactionStatus": "passed"},
                                   "Products": [iv_product("pass", serde_json::json!({"a": 1}))]}),
                "Malformed response body: Items is not a list",
            ),
        ];
        for (body, message) in cases {
            let v = judged(body.clone());
            assert_eq!(v.exception.as_deref(), Some(message), "{body}");
            assert_eq!(v.errors.to_map(), Map::new(), "{body}");
            assert_eq!(v.transaction_id, "", "{body}");
        }
    }

    #[test]
    fn shapes_identity_idp_reads_without_raising_are_judged() {
        // An empty object of products is none; the error status is judged as such.
        let v = judged(serde_json::json!({"Status": {"TransactionStatus": "weird",
            "TransactionReasonCode": "not dug for an invalid status"}, "Products": {}}));
        assert_eq!(v.exception, None);
        // A string among the InstantVerify items is a failed check with no name.
        let v = judged(
            serde_json::json!({"Status": {"TransactionStatus": "passed"},
            "Products": [iv_product("pass", serde_json::json!(["x", {"ItemName": "SSNSSAValid", "ItemStatus": "pass"}]))]}),
        );
        assert_eq!(v.exception, None);
        assert_eq!(v.attributes_requiring_additional_verification, ["unknown"]);
        // Blank items are no items, whatever their type.
        for items in [
            serde_json::json!(""),
            serde_json::json!(false),
            serde_json::json!({}),
        ] {
            let v = judged(
                serde_json::json!({"Status": {"TransactionStatus": "passed"},
                "Products": [iv_product("pass", items.clone())]}),
            );
            assert_eq!(v.exception, None, "{items}");
            assert!(v.attributes_requiring_additional_verification.is_empty());
        }
    }

    #[test]
    fn product_without_step_name_is_an_exception() {
        let body =
            br#"{"Status":{"TransactionStatus":"failed"},"Products":[{"ProductStatus":"fail"}]}"#;
        let v = judge(200, None, body, WF, &Redactor::default());
        assert!(v.exception.is_some());
    }

    /// The fixture applicant (`Testy McTesterson`, SSN 123456789, born
    /// 1980-01-01, 123 Main St, Baton Rouge 70802), as a redactor.
    fn fixture_redactor() -> Redactor {
        let request =
            include_bytes!("../../tests/fixtures/lexis_nexis/instant_verify/request.json");
        Redactor::new(Some(&crate::applicant::parse(request).expect("applicant")))
    }

    const FIXTURE_PII: [&str; 9] = [
        "Testy",
        "McTesterson",
        "123456789",
        "123-45-6789",
        "1980",
        "Main St",
        "Baton Rouge",
        "70802",
        "1234-abcd",
    ];

    /// `body` judged (a 200) with the fixture applicant's redactor, checked
    /// to hold none of that applicant's values anywhere.
    fn judged_without_fixture_pii(body: &serde_json::Value) -> Verdict {
        let v = judge(
            200,
            None,
            body.to_string().as_bytes(),
            WF,
            &fixture_redactor(),
        );
        let line = serde_json::to_string(&v).expect("json");
        for pii in FIXTURE_PII {
            assert!(!line.contains(pii), "{pii} in {line}");
        }
        v
    }

    #[test]
    fn information_quoting_the_applicant_is_redacted_in_base() {
        let body = serde_json::json!({
            "Status": {"TransactionStatus": "error", "TransactionReasonCode": {"Code": "bad 123-45-6789"},
                       "ConversationId": "31000264013613", "Reference": "0987:1234-abcd"},
            "Information": [{"Code": "x", "Description": "TESTY MCTESTERSON born 01/01/1980",
                             "DetailDescription": [{"Text": "123 Main St & Baton Rouge 70802"}],
                             "Person": {"SSN": 123456789, "Testy": true,
                                        "DateOfBirth": {"Year": 1980, "Month": "1", "Day": "1"}}}]
        });
        let v = judged_without_fixture_pii(&body);
        let errors = v.errors.to_map();
        let base = errors["base"][0].as_str().expect("base");
        assert!(
            base.starts_with("Response error with code 'bad [redacted]': [{"),
            "{base}"
        );
        assert!(base.contains(r#""Year":"[redacted]""#), "{base}");
        // A transaction id is a long number: kept.
        assert_eq!(v.transaction_id, "31000264013613");
        assert_eq!(v.reference, "0987:[redacted]");
    }

    #[test]
    fn logged_products_quoting_the_applicant_are_redacted() {
        let body = serde_json::json!({
            "Status": {"TransactionStatus": "failed", "TransactionReasonCode": {"Code": "x"}},
            "Products": [iv_product("fail", serde_json::json!([
                {"ItemName": "SsnFullNameMatch", "ItemStatus": "fail",
                 "ItemReason": {"Code": "c", "Description": "no match for testy mctesterson 123456789"}},
                {"ItemName": "Addr1Zip_StateMatch", "ItemStatus": "fail", "ItemInfo": {"Zip": 70802}}
            ]))]
        });
        let v = judged_without_fixture_pii(&body);
        assert_eq!(
            v.attributes_requiring_additional_verification,
            ["address", "ssn"]
        );
        assert_eq!(
            v.errors.to_map()["IV"][0]["Items"][1]["ItemInfo"]["Zip"],
            "[redacted]"
        );
    }

    #[test]
    fn a_content_type_quoting_the_applicant_is_redacted() {
        let v = judge(
            200,
            Some("text/plain; name=McTesterson; ssn=123456789"),
            b"not json",
            WF,
            &fixture_redactor(),
        );
        let exception = v.exception.expect("exception");
        assert!(exception.ends_with("content_type=text/plain; name=[redacted]; ssn=[redacted]"));
    }

    #[test]
    fn ids_that_are_not_short_strings_or_numbers_are_withheld() {
        let huge = serde_json::json!({"dump": "x".repeat(200 * 1024)});
        let v = judged(serde_json::json!({
            "Status": {"TransactionStatus": "passed", "ConversationId": huge,
                       "Reference": "r".repeat(129)}
        }));
        assert_eq!(v.exception, None);
        assert!(v.success);
        assert_eq!(v.transaction_id, Value::Null);
        assert_eq!(v.reference, Value::Null);
        assert_eq!(
            v.ids_withheld,
            IdsWithheld {
                transaction_id: Some(crate::redact::IdWithheld::NotAStringOrNumber),
                reference: Some(crate::redact::IdWithheld::TooLong),
            }
        );
        for id in [serde_json::json!([1]), serde_json::json!(false)] {
            let v = judged(serde_json::json!({
                "Status": {"TransactionStatus": "passed", "ConversationId": id}
            }));
            assert_eq!(v.transaction_id, Value::Null, "{id}");
            assert!(v.ids_withheld.transaction_id.is_some(), "{id}");
        }
    }

    #[test]
    fn ids_holding_another_persons_values_lose_their_shapes() {
        let v = judged(serde_json::json!({
            "Status": {"TransactionStatus": "passed",
                       "ConversationId": "900-66-4321 roe@example.invalid",
                       "Reference": 31000000000000_u64}
        }));
        assert_eq!(v.transaction_id, "[redacted] [redacted]");
        assert_eq!(v.reference, 31000000000000_u64);
        assert_eq!(v.ids_withheld, IdsWithheld::default());
        // Absent stays null; an exception's ids stay "".
        let v = judged(serde_json::json!({"Status": {"TransactionStatus": "passed"}}));
        assert_eq!((v.transaction_id, v.reference), (Value::Null, Value::Null));
        let v = judged(serde_json::json!({"Status": {"TransactionStatus": "failed",
            "ConversationId": {"a": 1}}}));
        assert!(v.exception.is_some());
        assert_eq!(v.transaction_id, "");
        assert_eq!(v.ids_withheld, IdsWithheld::default());
    }
}
