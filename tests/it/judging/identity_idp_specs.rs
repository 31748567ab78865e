//! identity-idp's own spec examples at the reference commit (`a52223a`), each written as a test of this project's judges.
//!
//! One module per spec file, named after it; each test says in a comment
//! which example (`describe`/`context` › `it`) it follows. The facts and the
//! expected values come from those examples, not from the code under test.
//! identity-idp's examples often stub a parsed response; here the same facts
//! are given as the bytes that parse to them, because the proxy judges bytes.
//! Where the proxy deliberately differs, the test asserts the proxy's
//! behaviour and says so; docs/judging.md's table lists every example and why.

use crate::support::{RESULT_KEYS, SOCURE_REQUEST_KEYS, WORKFLOW, fixture_json, keys};
use serde_json::{Value, json};
use socure_shadow_proxy::judge::pair::SocureOutcome;
use socure_shadow_proxy::judge::redact::Redactor;
use socure_shadow_proxy::judge::resolution::{self, Exchange};
use socure_shadow_proxy::judge::socure;

/// The LexisNexis verdict of a 200 answer with `body`, as the line carries it.
fn judge_lexis_nexis(body: &Value) -> Value {
    let verdict = resolution::judge(
        200,
        Some("application/json"),
        body.to_string().as_bytes(),
        WORKFLOW,
        &Redactor::default(),
    );
    serde_json::to_value(verdict).expect("verdict serialises")
}

/// A LexisNexis fixture, parsed, so an example can change it first.
fn instant_verify(fixture_name: &str) -> Value {
    fixture_json(&format!("lexis_nexis/instant_verify/{fixture_name}"))
}

/// The Socure verdict of an answer, as the line carries it.
fn judge_socure(status: u16, content_type: &str, body: &[u8]) -> Value {
    let verdict = socure::judge(status, Some(content_type), body, &Redactor::default());
    serde_json::to_value(verdict).expect("verdict serialises")
}

/// Spec: `spec/services/proofing/lexis_nexis/verification_error_parser_spec.rb`,
/// over `identity_not_found_response.json`. The parser's hash is what the
/// proofer logs as `errors`, each value wrapped in a one-element array.
mod verification_error_parser_spec {
    use super::*;

    /// The parser's subject, with the first product changed as an example does.
    fn not_found_with(change: impl FnOnce(&mut Value)) -> Value {
        let mut body = instant_verify("identity_not_found_response.json");
        change(&mut body["Products"][0]);
        body
    }

    fn drop_item_reasons(product: &mut Value) {
        for item in product["Items"].as_array_mut().expect("items") {
            item.as_object_mut().expect("item").remove("ItemReason");
        }
    }

    fn pretend_other_product(product: &mut Value) {
        product["ExecutedStepName"] = json!("Executed Fake Product");
        product["ProductType"] = json!("Fake Product");
        product["ProductStatus"] = json!("pass");
    }

    // #parsed_errors › should return an array of errors from the response
    #[test]
    fn parsed_errors_return_base_and_the_product() {
        let body = instant_verify("identity_not_found_response.json");
        let errors = &judge_lexis_nexis(&body)["errors"];
        let base = errors["base"][0].as_str().expect("base message");
        assert!(base.starts_with("Verification failed with code:"), "{base}");
        assert_eq!(
            errors["Execute Instant Verify"],
            json!([body["Products"][0].clone()])
        );
    }

    // #parsed_errors › should not log a passing response containing no important information
    #[test]
    fn passing_product_without_reasons_is_not_logged() {
        let body = not_found_with(|product| {
            pretend_other_product(product);
            drop_item_reasons(product);
        });
        let errors = &judge_lexis_nexis(&body)["errors"];
        assert!(errors.get("Executed Fake Product").is_none(), "{errors}");
        // The rest of the answer is still judged: `base` is there.
        assert!(errors.get("base").is_some(), "{errors}");
    }

    // #parsed_errors › should log any Instant Verify response, including a pass
    #[test]
    fn instant_verify_product_is_logged_even_when_it_passes() {
        let body = not_found_with(|product| {
            product["ProductStatus"] = json!("pass");
            drop_item_reasons(product);
        });
        let errors = &judge_lexis_nexis(&body)["errors"];
        assert!(errors["Execute Instant Verify"][0].is_object(), "{errors}");
    }

    // #parsed_errors › should log any response with an ItemReason, including a pass
    #[test]
    fn passing_product_with_an_item_reason_is_logged() {
        let body = not_found_with(pretend_other_product);
        let errors = &judge_lexis_nexis(&body)["errors"];
        assert!(errors["Executed Fake Product"][0].is_object(), "{errors}");
    }
}

/// Spec: `spec/services/proofing/lexis_nexis/response_spec.rb`. The proxy
/// has no `Response` object: each accessor is read off the verdict it feeds.
mod lexis_nexis_response_spec {
    use super::*;

    // .new › with an HTTP status error code › raises an error that includes the status code and the body
    // Deliberately different: the body is never quoted (bodies can carry PII).
    #[test]
    fn http_error_status_names_the_status_but_not_the_body() {
        let verdict = resolution::judge(
            500,
            None,
            b"something went horribly wrong",
            WORKFLOW,
            &Redactor::default(),
        );
        assert_eq!(
            verdict.exception.as_deref(),
            Some("Unexpected status code '500'")
        );
        assert!(!verdict.success);
        let line = serde_json::to_string(&verdict).expect("json");
        assert!(!line.contains("horribly"), "{line}");
    }

    // #verification_errors › with a failed verification › returns a hash of errors
    #[test]
    fn failed_verification_has_base_and_product_errors() {
        let errors =
            &judge_lexis_nexis(&instant_verify("identity_not_found_response.json"))["errors"];
        assert!(errors.is_object());
        assert!(errors.get("base").is_some(), "{errors}");
        assert!(errors.get("Execute Instant Verify").is_some(), "{errors}");
    }

    // #verification_errors › with a passed verification › returns a hash of error
    #[test]
    fn passed_verification_still_logs_the_instant_verify_product() {
        let verdict = judge_lexis_nexis(&instant_verify("successful_response.json"));
        assert_eq!(verdict["success"], true);
        assert!(
            verdict["errors"].get("Execute Instant Verify").is_some(),
            "{verdict}"
        );
    }

    // #verification_status › passed
    #[test]
    fn passed_status_is_a_success() {
        let verdict = judge_lexis_nexis(&instant_verify("successful_response.json"));
        assert_eq!(verdict["success"], true);
        assert_eq!(verdict["exception"], Value::Null);
    }

    // #verification_status › failed
    #[test]
    fn failed_status_is_not_a_success() {
        let verdict = judge_lexis_nexis(&instant_verify("identity_not_found_response.json"));
        assert_eq!(verdict["success"], false);
        assert_eq!(verdict["exception"], Value::Null);
    }

    // #verification_status › failed › with a transaction error › returns a hash of errors
    #[test]
    fn transaction_error_has_only_a_base_error() {
        let errors = &judge_lexis_nexis(&instant_verify("error_response.json"))["errors"];
        assert_eq!(keys(errors), ["base"]);
        let base = errors["base"][0].as_str().expect("base message");
        assert!(base.starts_with("Response error with code"), "{base}");
    }

    // #verification_status › failed › with an invalid transaction status › returns a hash of errors
    #[test]
    fn invalid_status_is_named_in_base() {
        let mut body = instant_verify("successful_response.json");
        body["Status"]["TransactionStatus"] = json!("fake_status");
        let errors = &judge_lexis_nexis(&body)["errors"];
        assert_eq!(
            errors["base"],
            json!(["Invalid status in response body: 'fake_status'"])
        );
        assert!(errors.get("Execute Instant Verify").is_some(), "{errors}");
    }

    // #product_list › for a response with a product list › returns the product list
    // Read through the one product it finds: the InstantVerify product's items
    // give the attributes (a DriversLicense item fails in this fixture).
    #[test]
    fn the_one_instant_verify_product_is_found() {
        let verdict = judge_lexis_nexis(&instant_verify("drivers_license_failure_response.json"));
        assert_eq!(
            verdict["attributes_requiring_additional_verification"],
            json!(["state_id_number"])
        );
    }

    // #product_list › for a response without a product list › returns an empty array
    #[test]
    fn no_product_list_means_no_product() {
        let verdict = judge_lexis_nexis(&instant_verify("error_response.json"));
        assert_eq!(
            verdict["attributes_requiring_additional_verification"],
            json!([])
        );
        assert_eq!(verdict["can_pass_with_additional_verification"], false);
        assert_eq!(verdict["errors"].as_object().map(|e| e.len()), Some(1));
    }

    // #transaction_reason_code › for a response with a transaction reason code › returns the reason code
    #[test]
    fn reason_code_is_read() {
        let verdict = judge_lexis_nexis(&instant_verify("identity_not_found_response.json"));
        assert_eq!(
            verdict["errors"]["base"],
            json!(["Verification failed with code: 'total.scoring.model.verification.fail'"])
        );
    }

    // #transaction_reason_code › for a response without a transaciton reason code › returns nil
    #[test]
    fn no_reason_code_means_no_base() {
        let verdict = judge_lexis_nexis(&instant_verify("successful_response.json"));
        assert!(verdict["errors"].get("base").is_none(), "{verdict}");
    }

    // #response_body › the result includes invalid JSON › raises a JSON parse error with a generic error message
    #[test]
    fn invalid_json_gets_the_generic_message() {
        let verdict = resolution::judge(200, None, br#"$":^&"#, WORKFLOW, &Redactor::default());
        assert_eq!(
            verdict.exception.as_deref(),
            Some("An error occured parsing the response body JSON, status=200 content_type=")
        );
    }
}

/// Spec: `spec/services/proofing/lexis_nexis/instant_verify/proofing_spec.rb`,
/// with the shared examples it includes (`a lexisnexis rdp proofer`, in
/// `spec/support/shared_examples/lexis_nexis.rb`).
mod instant_verify_proofing_spec {
    use super::*;

    // it_behaves_like 'a lexisnexis rdp proofer' › #proof › when proofing succeeds › results in a successful result
    // The stub: passed, conversation id `foo`, no errors, no products.
    #[test]
    fn shared_proofing_succeeds() {
        let reference = "00000000-0000-4000-8000-000000000009";
        let verdict = judge_lexis_nexis(&json!({
            "Status": {"TransactionStatus": "passed", "ConversationId": "foo", "Reference": reference}
        }));
        assert_eq!(verdict["success"], true);
        assert_eq!(verdict["errors"], json!({}));
        assert_eq!(verdict["transaction_id"], "foo");
        assert_eq!(verdict["reference"], reference);
    }

    // it_behaves_like 'a lexisnexis rdp proofer' › #proof › when proofing fails › results in an unsuccessful result
    // The stub's errors are `{base:, Discovery:}` with reason code `123abc`;
    // from bytes, `base` is the code's message and `Discovery` a product.
    // Each value is wrapped in a one-element array, `base` first.
    #[test]
    fn shared_proofing_fails() {
        let reference = "00000000-0000-4000-8000-000000000009";
        let discovery = json!({"ExecutedStepName": "Discovery", "ProductType": "Discovery", "ProductStatus": "fail"});
        let verdict = judge_lexis_nexis(&json!({
            "Status": {
                "TransactionStatus": "failed",
                "TransactionReasonCode": {"Code": "123abc"},
                "ConversationId": "foo",
                "Reference": reference
            },
            "Products": [discovery.clone()]
        }));
        assert_eq!(verdict["success"], false);
        assert_eq!(
            verdict["errors"],
            json!({"base": ["Verification failed with code: '123abc'"], "Discovery": [discovery]})
        );
        assert_eq!(keys(&verdict["errors"]), ["base", "Discovery"]);
        assert_eq!(verdict["transaction_id"], "foo");
        assert_eq!(verdict["reference"], reference);
    }

    // #proof › when the response is a full match › is a successful result
    #[test]
    fn full_match_is_a_success() {
        let verdict = judge_lexis_nexis(&instant_verify("successful_response.json"));
        assert_eq!(verdict["success"], true);
        assert!(
            verdict["errors"]["Execute Instant Verify"][0].is_object(),
            "{verdict}"
        );
        assert_eq!(verdict["vendor_workflow"], WORKFLOW);
    }

    // #proof › when the response is a not a full match › is a failure result
    #[test]
    fn partial_match_is_a_failure() {
        let verdict = judge_lexis_nexis(&instant_verify("date_of_birth_failure_response.json"));
        assert_eq!(verdict["success"], false);
        assert!(verdict["errors"]["base"][0].is_string(), "{verdict}");
        assert!(
            verdict["errors"]["Execute Instant Verify"][0].is_object(),
            "{verdict}"
        );
        assert_eq!(verdict["transaction_id"], "123456");
        assert_eq!(verdict["reference"], "0987:1234-abcd");
        assert_eq!(verdict["vendor_workflow"], WORKFLOW);
    }

    // #proof › when the request times out › retuns a timeout result
    #[test]
    fn timeout_is_a_timeout_result() {
        let verdict =
            resolution::judge_exchange(&Exchange::UpstreamTimeout, WORKFLOW, &Redactor::default());
        assert!(!verdict.success);
        assert!(verdict.errors.is_empty());
        // identity-idp's Proofing::TimeoutError message, word for word.
        assert_eq!(
            verdict.exception.as_deref(),
            Some("LexisNexis timed out waiting for verification response")
        );
        assert!(verdict.timed_out);
        assert_eq!(verdict.vendor_workflow.as_deref(), Some(WORKFLOW));
    }

    // #proof › when an error is raised › returns a result with an exception
    // Deliberately different wording: the stub raises `fancy test error`; on
    // the wire the proxy sees a connection fail and says so in its own words.
    #[test]
    fn raised_error_is_an_exception_result() {
        for exchange in [Exchange::UpstreamUnreachable, Exchange::UpstreamFailed] {
            let verdict = resolution::judge_exchange(&exchange, WORKFLOW, &Redactor::default());
            assert!(!verdict.success);
            assert!(verdict.errors.is_empty());
            let exception = verdict.exception.as_deref().expect("exception");
            assert!(
                exception.starts_with("LexisNexis request failed"),
                "{exception}"
            );
            assert!(!verdict.timed_out);
            assert_eq!(verdict.vendor_workflow.as_deref(), Some(WORKFLOW));
        }
    }

    // #proof › proofing failures that allow additional verification › and attribute requires additional verification › returns a result that identifies attribute as needing verification
    #[test]
    fn dob_failure_can_pass_with_additional_verification() {
        let verdict = judge_lexis_nexis(&instant_verify("date_of_birth_failure_response.json"));
        assert_eq!(verdict["can_pass_with_additional_verification"], true);
        assert_eq!(
            verdict["attributes_requiring_additional_verification"],
            json!(["dob"])
        );
        assert_eq!(verdict["vendor_workflow"], WORKFLOW);
    }

    // #proof › proofing failures that allow additional verification › the result fails for a reason other than a failure to match attributes › returns a result that cannot pass with additional verification
    #[test]
    fn transaction_error_cannot_pass_with_additional_verification() {
        let verdict = judge_lexis_nexis(&instant_verify("error_response.json"));
        assert_eq!(verdict["can_pass_with_additional_verification"], false);
        assert_eq!(
            verdict["attributes_requiring_additional_verification"],
            json!([])
        );
        assert_eq!(verdict["vendor_workflow"], WORKFLOW);
    }
}

/// Spec: `spec/services/proofing/lexis_nexis/instant_verify/check_to_attribute_mapper_spec.rb`.
/// The mapper is private here; it is reached through a passed answer whose
/// only product is InstantVerify with the example's checks (attributes are
/// mapped whatever the status).
mod check_to_attribute_mapper_spec {
    use super::*;

    /// The attributes of an InstantVerify product holding `items` (none: no `Items` key).
    fn attributes_for(items: Option<Value>) -> Value {
        let mut product = json!({
            "ProductType": "InstantVerify",
            "ExecutedStepName": "Execute Instant Verify",
            "ProductStatus": "pass"
        });
        if let Some(items) = items {
            product["Items"] = items;
        }
        let verdict = judge_lexis_nexis(&json!({
            "Status": {"TransactionStatus": "passed", "ConversationId": "1", "Reference": "r"},
            "Products": [product]
        }));
        assert_eq!(verdict["exception"], Value::Null, "{verdict}");
        verdict["attributes_requiring_additional_verification"].clone()
    }

    /// The example group's checks: one passing address check, then `failing`.
    fn checks(failing: &[&str]) -> Option<Value> {
        let mut items = vec![json!({"ItemName": "Addr1Zip_StateMatch", "ItemStatus": "pass"})];
        items.extend(
            failing
                .iter()
                .map(|name| json!({"ItemName": name, "ItemStatus": "fail"})),
        );
        Some(Value::Array(items))
    }

    // #map_failed_checks_to_attributes › when all of the checks pass › returns an empty array
    #[test]
    fn all_checks_pass() {
        assert_eq!(attributes_for(checks(&[])), json!([]));
    }

    // › when date of birth checks fail › returns an array that includes the dob attribute
    #[test]
    fn dob_check_fails() {
        assert_eq!(attributes_for(checks(&["DOBFullVerified"])), json!(["dob"]));
    }

    // › when SSN checks fail › returns an array that includes the ssn attribute
    #[test]
    fn ssn_check_fails() {
        assert_eq!(
            attributes_for(checks(&["SsnFullNameMatch"])),
            json!(["ssn"])
        );
    }

    // › when address checks fail › returns an array that includes the ssn attribute (sic: address)
    #[test]
    fn address_check_fails() {
        assert_eq!(
            attributes_for(checks(&["IdentityOccupancyVerified"])),
            json!(["address"])
        );
    }

    // › when checks for multiple attributes fail › returns an array that includes the failed attribute
    #[test]
    fn checks_for_several_attributes_fail() {
        assert_eq!(
            attributes_for(checks(&["DOBFullVerified", "IdentityOccupancyVerified"])),
            json!(["address", "dob"])
        );
    }

    // › when a check that is unknown fails › returns an array that includes the unknown attribute
    #[test]
    fn unknown_check_fails() {
        assert_eq!(
            attributes_for(checks(&["MadeUpCheckThatDoesNotExist"])),
            json!(["unknown"])
        );
    }

    // › when multiple checks for the same attribute fail › returns an array that includes the attribute once
    #[test]
    fn two_checks_of_one_attribute_fail() {
        assert_eq!(
            attributes_for(checks(&["DOBFullVerified", "DOBYearVerified"])),
            json!(["dob"])
        );
    }

    // › when the checks does not include any items › returns an empty array
    #[test]
    fn no_items() {
        assert_eq!(attributes_for(None), json!([]));
    }
}

/// Spec: `spec/services/proofing/socure/id_plus/proofer_spec.rb`. Its
/// answers come with `Content-Type: application/json`, and as `text/html`
/// when the body is a string.
mod socure_proofer_spec {
    use super::*;

    /// The example group's 200 answer, with `overrides` of its field scores.
    fn answer(overrides: Value) -> Value {
        let mut body = json!({
            "referenceId": "a-really-unique-id",
            "kyc": {
                "reasonCodes": ["I919", "I914", "I905"],
                "fieldValidations": {
                    "firstName": 0.99, "surName": 0.99, "streetAddress": 0.99, "city": 0.99,
                    "state": 0.99, "zip": 0.99, "mobileNumber": 0.99, "dob": 0.99, "ssn": 0.99
                }
            }
        });
        for (field, score) in overrides.as_object().expect("overrides") {
            body["kyc"]["fieldValidations"][field] = score.clone();
        }
        body
    }

    fn judged(overrides: Value) -> Value {
        judge_socure(
            200,
            "application/json",
            answer(overrides).to_string().as_bytes(),
        )
    }

    // reports reason codes as errors
    #[test]
    fn reason_codes_are_the_errors() {
        assert_eq!(
            judged(json!({}))["errors"],
            json!({"reason_codes": ["I905", "I914", "I919"]})
        );
    }

    // when user is 100% matched › returns a resolution result
    // › the result › is successful / has a vendor name / has a transaction id / has verified attributes
    // The set is logged as a list in identity-idp's VERIFIED_ATTRIBUTE_MAP order.
    #[test]
    fn full_match() {
        let verdict = judged(json!({}));
        assert_eq!(
            keys(&verdict),
            RESULT_KEYS,
            "a resolution result, key for key"
        );
        assert_eq!(verdict["success"], true);
        assert_eq!(verdict["vendor_name"], "socure_kyc");
        assert_eq!(verdict["transaction_id"], "a-really-unique-id");
        assert_eq!(
            verdict["verified_attributes"],
            json!(["address", "first_name", "last_name", "phone", "ssn", "dob"])
        );
    }

    // when parts of address do not match › (streetAddress) / (city) / (state) / (zip)
    // › is not successful / address is not verified
    #[test]
    fn any_address_part_unmatched() {
        for part in ["streetAddress", "city", "state", "zip"] {
            let verdict = judged(json!({ part: 0.01 }));
            assert_eq!(verdict["success"], false, "{part}");
            let verified = verdict["verified_attributes"].as_array().expect("list");
            assert!(
                !verified.contains(&json!("address")),
                "{part}: {verified:?}"
            );
        }
    }

    // when dob does not match › is not successful / address is not verified (sic: dob)
    #[test]
    fn dob_unmatched() {
        let verdict = judged(json!({"dob": 0.01}));
        assert_eq!(verdict["success"], false);
        let verified = verdict["verified_attributes"].as_array().expect("list");
        assert!(!verified.contains(&json!("dob")), "{verified:?}");
    }

    // when ssn does not match › is not successful / address is not verified (sic: ssn)
    #[test]
    fn ssn_unmatched() {
        let verdict = judged(json!({"ssn": 0.01}));
        assert_eq!(verdict["success"], false);
        let verified = verdict["verified_attributes"].as_array().expect("list");
        assert!(!verified.contains(&json!("ssn")), "{verified:?}");
    }

    // when request times out › the result › is not successful / has a vendor name
    // / does not have transaction id / includes exception details
    #[test]
    fn timeout() {
        let verdict = socure::judge_call(&Err(socure::SocureError::Timeout), &Redactor::default());
        assert!(!verdict.success);
        assert_eq!(verdict.vendor_name, "socure_kyc");
        assert_eq!(verdict.transaction_id, Value::Null);
        // Proofing::TimeoutError, with identity-idp's message.
        assert!(verdict.timed_out);
        assert_eq!(
            verdict.exception.as_deref(),
            Some("Timed out waiting for verification response")
        );
    }

    // when request returns HTTP 400 / HTTP 401 › the result › is not successful
    // / has a vendor name / has a transaction id / includes exception details
    #[test]
    fn http_400_and_401() {
        let with_data = json!({
            "status": "Error",
            "referenceId": "a-big-unique-reference-id",
            "data": {"parameters": ["firstName"]},
            "msg": "Request-specific error message goes here"
        });
        let without_data = json!({
            "status": "Error",
            "referenceId": "a-big-unique-reference-id",
            "msg": "Request-specific error message goes here"
        });
        for (status, body) in [(400, with_data), (401, without_data)] {
            let verdict = judge_socure(status, "application/json", body.to_string().as_bytes());
            assert_eq!(verdict["success"], false, "{status}");
            assert_eq!(verdict["vendor_name"], "socure_kyc", "{status}");
            assert_eq!(
                verdict["transaction_id"], "a-big-unique-reference-id",
                "{status}"
            );
            // A RequestError: the body's `msg` and the status.
            assert_eq!(
                verdict["exception"],
                format!("Request-specific error message goes here ({status})")
            );
        }
    }

    // when request returns a weird non-JSON HTTP 500 › the result › is not
    // successful / has a vendor name / does not have a transaction id / includes exception details
    #[test]
    fn weird_non_json_500() {
        let verdict = judge_socure(500, "text/html", b"It works!");
        assert_eq!(verdict["success"], false);
        assert_eq!(verdict["vendor_name"], "socure_kyc");
        assert_eq!(verdict["transaction_id"], Value::Null);
        // A RequestError wrapping Faraday::ServerError, whose words these are.
        assert_eq!(
            verdict["exception"],
            "the server responded with status 500 (500)"
        );
    }
}

/// Spec: `spec/services/proofing/socure/id_plus/response_spec.rb`. The
/// proxy has no `Response` object: each accessor is read off the verdict.
mod socure_response_spec {
    use super::*;

    fn answer() -> Value {
        json!({
            "referenceId": "a1234b56-e789-0123-4fga-56b7c890d123",
            "kyc": {
                "reasonCodes": ["I919", "I914", "I905"],
                "fieldValidations": {
                    "firstName": 0.99, "surName": 0.99, "streetAddress": 0.99, "city": 0.01,
                    "state": 0.01, "zip": 0.01, "mobileNumber": 0.99, "dob": 0.99, "ssn": 0.99
                }
            }
        })
    }

    fn judged(body: &Value) -> Value {
        judge_socure(200, "application/json", body.to_string().as_bytes())
    }

    // #reference_id › returns referenceId
    #[test]
    fn reference_id_is_the_transaction_id() {
        assert_eq!(
            judged(&answer())["transaction_id"],
            "a1234b56-e789-0123-4fga-56b7c890d123"
        );
    }

    // #kyc_reason_codes › returns the correct reason codes
    #[test]
    fn reason_codes() {
        assert_eq!(
            judged(&answer())["errors"]["reason_codes"],
            json!(["I905", "I914", "I919"])
        );
    }

    // #kyc_field_validations › returns an object with actual booleans
    // Read through the attributes they verify: city, state and zip fail, so
    // the address is not verified; every other field is.
    #[test]
    fn field_validations_become_verified_attributes() {
        assert_eq!(
            judged(&answer())["verified_attributes"],
            json!(["first_name", "last_name", "phone", "ssn", "dob"])
        );
    }

    // #kyc_reason_codes › no kyc section on response › raises an error
    // #kyc_field_validations › no kyc section on response › raises an error
    // Deliberately different: identity-idp's proofer does not rescue this
    // RuntimeError, so its job fails and logs nothing; the proxy writes the
    // line, with the error's message as the exception.
    #[test]
    fn no_kyc_section() {
        let verdict = judged(&json!({}));
        assert_eq!(verdict["success"], false);
        assert_eq!(verdict["exception"], "No kyc section on response");
    }
}

/// Spec: `spec/services/proofing/socure/id_plus/request_spec.rb`, through
/// the proxy's real Socure client against a fake Socure on 127.0.0.1. The
/// applicant is identity-idp's `MOCK_IDV_APPLICANT_WITH_PHONE`, as the
/// InstantVerify request identity-idp builds from it carries it: that
/// request is all the proxy sees.
mod socure_request_spec {
    use std::time::Duration;

    use crate::support::{
        API_KEY, FakeVendor, Message, Reply, json_ok, response, take_consent_timestamp,
    };
    use socure_shadow_proxy::SocureClient;
    use socure_shadow_proxy::config::{DailyLimit, Secret, SocureConfig};
    use socure_shadow_proxy::judge::applicant::{self, Applicant};
    use socure_shadow_proxy::judge::socure::{Answer, SocureError};
    use socure_shadow_proxy::tls;
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    use super::*;

    pub const USER_UUID: &str = "00000000-0000-4000-8000-000000000966";

    /// identity-idp's `InstantVerify::VerificationRequest#build_request_body`
    /// for `MOCK_IDV_APPLICANT_WITH_PHONE`: SSN digits only, `Zip5` only,
    /// `StreetAddress2` `''` for `nil`, the date split unpadded.
    pub fn mock_applicant_request() -> Value {
        json!({
            "Settings": {
                "AccountNumber": "test_account",
                "Mode": "testing",
                "Reference": USER_UUID,
                "Locale": "en_US",
                "Venue": "online"
            },
            "Person": {
                "Name": {"FirstName": "FAKEY", "LastName": "MCFAKERSON"},
                "SSN": {"Number": "900661234", "Type": "ssn9"},
                "DateOfBirth": {"Year": "1938", "Month": "10", "Day": "6"},
                "Addresses": [{
                    "StreetAddress1": "1 FAKE RD",
                    "StreetAddress2": "",
                    "City": "GREAT FALLS",
                    "State": "MT",
                    "Zip5": "59010",
                    "Country": "US",
                    "Context": "primary"
                }]
            }
        })
    }

    pub fn mock_applicant() -> Applicant {
        applicant::parse(mock_applicant_request().to_string().as_bytes()).expect("applicant")
    }

    /// One call of the proxy's client to a fake Socure replying `reply`.
    async fn call(reply: Reply, timeout: Duration) -> (Result<Answer, SocureError>, Vec<Message>) {
        let socure = FakeVendor::start(move |_| reply.clone()).await;
        let config = SocureConfig {
            base_url: format!("http://{}/", socure.addr).parse().expect("url"),
            timeout,
            api_key: Some(Secret::new(API_KEY)),
            ca_file: None,
            max_calls_per_day: DailyLimit::Unlimited,
        };
        let tls = tls::client_config(None, None).expect("tls");
        let client = SocureClient::new(&config, tls, 4).expect("client");
        let result = client.call(&mock_applicant(), timeout, &mut |_| true).await;
        (result, socure.requests())
    }

    /// The request spec's 200 answer.
    fn kyc_answer() -> Reply {
        Reply::Now(json_ok(
            json!({
                "referenceId": "a-big-unique-reference-id",
                "kyc": {
                    "reasonCodes": ["I100", "R200"],
                    "fieldValidations": {
                        "firstName": 0.99, "surName": 0.99, "streetAddress": 0.99, "city": 0.99,
                        "state": 0.99, "zip": 0.99, "mobileNumber": 0.99, "dob": 0.99, "ssn": 0.99
                    }
                }
            })
            .to_string()
            .as_bytes(),
        ))
    }

    const BOUND: Duration = Duration::from_secs(5);

    async fn sent_to_socure() -> Message {
        let (result, mut received) = call(kyc_answer(), BOUND).await;
        assert!(result.is_ok());
        assert_eq!(received.len(), 1, "one call, no retry");
        received.remove(0)
    }

    // #body › contains all expected values
    // Deliberately different, because the proxy sees only the InstantVerify
    // request: `nationalId` is its digits (identity-idp: `900-66-1234`),
    // `zip` its `Zip5` (identity-idp: `59010-1234`), `physicalAddress2` its
    // `""` (identity-idp: `nil`), no `email` or `mobileNumber` (it has
    // neither); and `customerUserId` is the contract's addition.
    #[tokio::test]
    async fn body_holds_every_expected_value() {
        let sent = sent_to_socure().await;
        let mut body = sent.json();
        assert_eq!(keys(&body), SOCURE_REQUEST_KEYS);
        // `5.minutes.ago.iso8601` in identity-idp's UTC zone: seconds, `Z`.
        take_consent_timestamp(&mut body);
        assert_eq!(
            body,
            json!({
                "modules": ["kyc"],
                "firstName": "FAKEY",
                "surName": "MCFAKERSON",
                "country": "US",
                "physicalAddress": "1 FAKE RD",
                "physicalAddress2": "",
                "city": "GREAT FALLS",
                "state": "MT",
                "zip": "59010",
                "nationalId": "900661234",
                "dob": "1938-10-06",
                "userConsent": true,
                "countryOfOrigin": "US",
                "customerUserId": USER_UUID
            })
        );
    }

    // #headers › includes appropriate Content-Type header
    // #headers › includes appropriate Authorization header
    // #send_request › includes API key
    #[tokio::test]
    async fn headers_and_api_key() {
        let sent = sent_to_socure().await;
        assert_eq!(sent.start_line, "POST /api/3.0/EmailAuthScore HTTP/1.1");
        assert_eq!(sent.header_str("content-type"), Some("application/json"));
        assert_eq!(
            sent.header_str("authorization"),
            Some(format!("SocureApiKey {API_KEY}").as_str())
        );
    }

    // #send_request › includes JSON serialized body
    // The bytes that arrive are exactly the body built for the applicant at
    // the consent time they carry.
    #[tokio::test]
    async fn body_is_sent_as_built() {
        let sent = sent_to_socure().await;
        let consent = sent.json()["consentTimestamp"]
            .as_str()
            .map(|t| OffsetDateTime::parse(t, &Rfc3339).expect("time"))
            .expect("consent");
        assert_eq!(sent.body, socure::request_body(&mock_applicant(), consent));
    }

    // #send_request › when service returns HTTP 200 response › method returns a Proofing::Socure::IdPlus::Response
    // #send_request › when service returns HTTP 200 response › response has kyc data
    #[tokio::test]
    async fn http_200_has_kyc_data() {
        let (result, _) = call(kyc_answer(), BOUND).await;
        let verdict = socure::judge_call(&result, &Redactor::default());
        assert_eq!(SocureOutcome::of(&result).label(), "answered");
        assert_eq!(verdict.exception, None);
        assert_eq!(
            verdict.errors.to_map().get("reason_codes"),
            Some(&json!(["I100", "R200"]))
        );
        assert_eq!(
            verdict.verified_attributes.as_deref().map(<[String]>::len),
            Some(6)
        );
    }

    fn error_reply(status_line: &str, body: Value) -> Reply {
        Reply::Now(response(
            status_line,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        ))
    }

    // #send_request › when service returns an HTTP 400 response › raises RequestError
    // #send_request › when service returns an HTTP 400 response › includes reference_id on RequestError
    #[tokio::test]
    async fn http_400_is_a_request_error_with_its_reference() {
        let body = json!({
            "status": "Error",
            "referenceId": "a-big-unique-reference-id",
            "data": {"parameters": ["firstName"]},
            "msg": "Request-specific error message goes here"
        });
        let (result, _) = call(error_reply("400 Bad Request", body), BOUND).await;
        let verdict = socure::judge_call(&result, &Redactor::default());
        assert_eq!(
            verdict.exception.as_deref(),
            Some("Request-specific error message goes here (400)")
        );
        assert_eq!(verdict.transaction_id, "a-big-unique-reference-id");
    }

    // #send_request › when service returns an HTTP 401 reponse › raises RequestError
    #[tokio::test]
    async fn http_401_is_a_request_error() {
        let body = json!({
            "status": "Error",
            "referenceId": "a-big-unique-reference-id",
            "msg": "Request-specific error message goes here"
        });
        let (result, _) = call(error_reply("401 Unauthorized", body), BOUND).await;
        assert_eq!(
            socure::judge_call(&result, &Redactor::default())
                .exception
                .as_deref(),
            Some("Request-specific error message goes here (401)")
        );
    }

    // #send_request › when service returns weird HTTP 500 response › raises RequestError
    #[tokio::test]
    async fn weird_500_is_a_request_error() {
        let reply = Reply::Now(response("500 Internal Server Error", &[], b"It works!"));
        let (result, _) = call(reply, BOUND).await;
        let verdict = socure::judge_call(&result, &Redactor::default());
        assert_eq!(
            verdict.exception.as_deref(),
            Some("the server responded with status 500 (500)")
        );
        assert_eq!(verdict.transaction_id, Value::Null);
    }

    // #send_request › when request times out › raises a ProofingTimeoutError
    #[tokio::test]
    async fn timeout_is_a_timeout() {
        let (result, _) = call(Reply::Hang, Duration::from_millis(300)).await;
        assert_eq!(result.as_ref().err(), Some(&SocureError::Timeout));
        assert!(socure::judge_call(&result, &Redactor::default()).timed_out);
    }

    // #send_request › when connection is reset › raises a RequestError
    // Deliberately different wording: identity-idp's is Faraday's (the OS
    // error and the host); the proxy's names the failure only.
    #[tokio::test]
    async fn reset_is_a_request_error() {
        let (result, _) = call(Reply::Reset, BOUND).await;
        let verdict = socure::judge_call(&result, &Redactor::default());
        assert_eq!(
            verdict.exception.as_deref(),
            Some("Connection failed: connection reset")
        );
        assert!(!verdict.timed_out);
        assert_eq!(SocureOutcome::of(&result).label(), "failed");
    }
}

/// Spec: `spec/services/proofing/socure/id_plus/input_spec.rb`. The proxy's
/// input is the applicant read from the InstantVerify request.
mod socure_input_spec {
    use super::socure_request_spec::{USER_UUID, mock_applicant};

    // creates an appropriate instance
    // Deliberately different where the InstantVerify request carries less
    // than identity-idp's PII hash: `address2` is `""` (not `nil`), the zip
    // is `Zip5` only, the SSN is digits only, and there is no middle name,
    // phone or email to read.
    #[test]
    fn applicant_from_the_instant_verify_request() {
        let applicant = mock_applicant();
        let address = applicant.address.clone().expect("address");
        assert_eq!(address.street1.as_deref(), Some("1 FAKE RD"));
        assert_eq!(address.street2.as_deref(), Some(""));
        assert_eq!(address.city.as_deref(), Some("GREAT FALLS"));
        assert_eq!(address.state.as_deref(), Some("MT"));
        assert_eq!(address.zip().as_deref(), Some("59010"));
        assert_eq!(applicant.first_name.as_deref(), Some("FAKEY"));
        assert_eq!(applicant.last_name.as_deref(), Some("MCFAKERSON"));
        assert_eq!(
            applicant.dob.map(|d| d.iso()).as_deref(),
            Some("1938-10-06")
        );
        assert_eq!(applicant.ssn.as_deref(), Some("900661234"));
        assert_eq!(applicant.user_uuid.as_deref(), Some(USER_UUID));
    }
}
