//! Every fixture through the whole proxy: the line's two results equal what CONTRACT.md section 3 says, key by key.
//!
//! Each LexisNexis fixture is paired with a verified Socure answer, and each
//! Socure fixture (plus a 500 with a text body, a timeout, a reset and a
//! refused connection) with a passing LexisNexis answer. The expected results
//! are written out in full here, from the contract, not computed by the code
//! under test.

use crate::support::*;
use serde_json::{Value, json};

/// The user uuid the IdP puts after its SP prefix in `Settings.Reference`.
/// identity-idp's fixture request has `0987:1234-abcd`, which is not a UUID,
/// so its line would have `user_id: null` (`canaries` tests that case).
const USER_UUID: &str = "00000000-0000-4000-8000-000000001234";

/// identity-idp's fixture request, with a user uuid in its Reference.
fn instant_verify_request_with_uuid() -> Vec<u8> {
    let mut body = fixture_json("lexis_nexis/instant_verify/request.json");
    body["Settings"]["Reference"] = json!(format!("0987:{USER_UUID}"));
    request(
        "POST",
        IV_PATH,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

/// Runs one shadowed request with the two fakes answering as given and
/// returns its single line.
async fn line_for(
    upstream: FakeVendor,
    socure_addr: std::net::SocketAddr,
    socure_timeout: f64,
) -> Value {
    let options = Options {
        socure_timeout_seconds: socure_timeout,
        ..Options::default()
    };
    let proxy = TestProxy::start(upstream.addr, socure_addr, options).await;
    send(proxy.addr, &instant_verify_request_with_uuid()).await;
    let mut lines = proxy.finish().await;
    assert_eq!(lines.len(), 1, "exactly one line");
    lines.remove(0)
}

/// Compares a result key by key, and checks the key order.
fn assert_result(actual: &Value, expected: &Value, case: &str) {
    assert_eq!(keys(actual), RESULT_KEYS, "{case}: key order");
    for key in RESULT_KEYS {
        assert_eq!(actual[key], expected[key], "{case}: {key}");
    }
}

fn assert_envelope(line: &Value) {
    assert_eq!(line["name"], "idv_socure_shadow_mode_proofing_result");
    let id = line["id"].as_str().expect("id");
    let parsed = uuid::Uuid::parse_str(id).expect("uuid");
    assert_eq!(parsed.get_version_num(), 4);
    let time = line["time"].as_str().expect("time");
    assert_eq!(time.len(), "2024-08-22T19:25:45.678Z".len(), "{time}");
    assert!(time.ends_with('Z') && time.as_bytes()[19] == b'.', "{time}");
    assert_eq!(line["properties"]["new_event"], true);
    assert_eq!(line["properties"]["path"], IV_PATH);
    assert_eq!(line["properties"]["user_id"], USER_UUID);
    assert_eq!(line["properties"].get("user_id_invalid"), None);
    assert_eq!(line["log_filename"], "events.log");
}

/// The contract's LexisNexis result with the fixed keys filled in.
fn ln_result(overrides: Value) -> Value {
    let mut result = json!({
        "success": false,
        "errors": {},
        "exception": null,
        "timed_out": false,
        "transaction_id": "123456",
        "reference": "0987:1234-abcd",
        "can_pass_with_additional_verification": false,
        "attributes_requiring_additional_verification": [],
        "vendor_name": "lexisnexis:instant_verify",
        "vendor_workflow": WORKFLOW,
        "verified_attributes": null
    });
    merge(&mut result, overrides);
    result
}

/// The contract's Socure result with the fixed keys filled in.
fn socure_result(overrides: Value) -> Value {
    let mut result = json!({
        "success": false,
        "errors": {},
        "exception": null,
        "timed_out": false,
        "transaction_id": null,
        "reference": "",
        "can_pass_with_additional_verification": false,
        "attributes_requiring_additional_verification": [],
        "vendor_name": "socure_kyc",
        "vendor_workflow": null,
        "verified_attributes": null
    });
    merge(&mut result, overrides);
    result
}

fn merge(into: &mut Value, overrides: Value) {
    for (key, value) in overrides.as_object().expect("overrides object") {
        into[key] = value.clone();
    }
}

/// The InstantVerify product of a fixture, as identity-idp logs it under its step name.
fn logged_product(fixture_name: &str) -> Value {
    let body = fixture_json(&format!("lexis_nexis/instant_verify/{fixture_name}"));
    json!([body["Products"][0].clone()])
}

fn passing_socure_result() -> Value {
    socure_result(json!({
        "success": true,
        "errors": {"reason_codes": ["I905", "I914", "I919"]},
        "transaction_id": "a1234b56-e789-0123-4fga-56b7c890d123",
        "verified_attributes": ["address", "first_name", "last_name", "phone", "ssn", "dob"]
    }))
}

/// The fixtures LexisNexis passes, and what their lines must hold.
fn passed_fixture_cases() -> Vec<(&'static str, Value)> {
    // A passed answer logs its InstantVerify product too (identity-idp since
    // PR #7943), and its failed items still map to attributes.
    let passed = |fixture_name: &str, attributes: Value| {
        ln_result(json!({
            "success": true,
            "reference": "Reference1",
            "errors": {"Execute Instant Verify": logged_product(fixture_name)},
            "attributes_requiring_additional_verification": attributes
        }))
    };
    vec![
        (
            "successful_response.json",
            passed("successful_response.json", json!([])),
        ),
        (
            "drivers_license_info_missing_response.json",
            passed("drivers_license_info_missing_response.json", json!([])),
        ),
        (
            "drivers_license_failure_response.json",
            passed(
                "drivers_license_failure_response.json",
                json!(["state_id_number"]),
            ),
        ),
    ]
}

/// The fixtures LexisNexis fails or errs on, and what their lines must hold.
fn failed_fixture_cases() -> Vec<(&'static str, Value)> {
    let failed_base = |code: &str| json!([format!("Verification failed with code: '{code}'")]);
    vec![
        (
            "address_failure_response.json",
            ln_result(json!({
                "errors": {
                    "base": failed_base("total.scoring.model.verification.fail"),
                    "Execute Instant Verify": logged_product("address_failure_response.json")
                },
                "can_pass_with_additional_verification": true,
                "attributes_requiring_additional_verification": ["address"]
            })),
        ),
        (
            "date_of_birth_failure_response.json",
            ln_result(json!({
                "errors": {
                    "base": failed_base("priority.scoring.model.verification.fail"),
                    "Execute Instant Verify": logged_product("date_of_birth_failure_response.json")
                },
                "can_pass_with_additional_verification": true,
                "attributes_requiring_additional_verification": ["dob"]
            })),
        ),
        (
            "date_of_birth_and_address_failure_response.json",
            ln_result(json!({
                "errors": {
                    "base": failed_base("total.scoring.model.verification.fail"),
                    "Execute Instant Verify": logged_product("date_of_birth_and_address_failure_response.json")
                },
                "can_pass_with_additional_verification": true,
                "attributes_requiring_additional_verification": ["address", "dob"]
            })),
        ),
        (
            "identity_not_found_response.json",
            ln_result(json!({
                "errors": {
                    "base": failed_base("total.scoring.model.verification.fail"),
                    "Execute Instant Verify": logged_product("identity_not_found_response.json")
                },
                "can_pass_with_additional_verification": true,
                "attributes_requiring_additional_verification": ["address", "dead", "dob", "ssn"]
            })),
        ),
        (
            "error_response.json",
            ln_result(json!({
                "errors": {"base": [concat!(
                    "Response error with code 'invalid_transaction_initiate': ",
                    r#"[{"InformationType":"error-details","Code":"invalid_transaction_initiate","#,
                    r#""Description":"Error: Invalid Transaction Initiate","DetailDescription":[{"Text":"Invalid account."}]}]"#
                )]},
                "reference": "1234-abcd"
            })),
        ),
    ]
}

#[tokio::test]
async fn every_lexis_nexis_fixture_is_judged_as_the_contract_says() {
    let mut cases = passed_fixture_cases();
    cases.extend(failed_fixture_cases());
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    for (fixture_name, expected) in cases {
        let upstream = FakeVendor::always(json_ok(&fixture(&format!(
            "lexis_nexis/instant_verify/{fixture_name}"
        ))))
        .await;
        let line = line_for(upstream, socure.addr, 5.0).await;
        assert_envelope(&line);
        let e = event(&line);
        assert_result(resolution(e), &expected, fixture_name);
        assert_result(&e["socure_result"], &passing_socure_result(), fixture_name);
        assert_eq!(e["resolution_outcome"], "answered");
        assert_eq!(e["socure_outcome"], "answered");
        assert!(
            e["resolution_elapsed_ms"].is_u64() && e["socure_elapsed_ms"].is_u64(),
            "{fixture_name}: timings"
        );
    }
}

/// Answers derived from the fixtures for the rules no fixture shows alone
/// (CONTRACT.md section 3), each through the whole proxy.
#[tokio::test]
async fn derived_lexis_nexis_answers_follow_the_contract() {
    // A second product, of any kind, and there is no InstantVerify product:
    // no attributes and no additional verification, whatever its items say.
    let mut two_products =
        fixture_json("lexis_nexis/instant_verify/date_of_birth_failure_response.json");
    let phone_finder = json!({
        "ProductType": "PhoneFinder",
        "ExecutedStepName": "Execute Phone Finder",
        "ProductStatus": "fail",
        "ParameterDetails": [{"Name": "Consumer_Full_Names", "Values": [{"Value": "FAKEY MCFAKERSON"}]}]
    });
    two_products["Products"]
        .as_array_mut()
        .expect("products")
        .push(phone_finder);
    let iv_product = two_products["Products"][0].clone();
    let two_products_result = ln_result(json!({
        "errors": {
            "base": ["Verification failed with code: 'priority.scoring.model.verification.fail'"],
            "Execute Instant Verify": [iv_product],
            // Logged, but never with the PII it reflects.
            "Execute Phone Finder": [{
                "ProductType": "PhoneFinder",
                "ExecutedStepName": "Execute Phone Finder",
                "ProductStatus": "fail"
            }]
        }
    }));

    // `failed` without a reason code: identity-idp's proofer raises.
    let mut no_code = fixture_json("lexis_nexis/instant_verify/identity_not_found_response.json");
    no_code["Status"]
        .as_object_mut()
        .expect("status")
        .remove("TransactionReasonCode");
    let no_code_result = ln_result(json!({
        "exception": "LexisNexis answered 'failed' without a TransactionReasonCode",
        "transaction_id": "",
        "reference": ""
    }));

    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    for (case, body, expected) in [
        (
            "InstantVerify and PhoneFinder",
            two_products,
            two_products_result,
        ),
        ("failed without a reason code", no_code, no_code_result),
    ] {
        let upstream = FakeVendor::always(json_ok(body.to_string().as_bytes())).await;
        let line = line_for(upstream, socure.addr, 5.0).await;
        let e = event(&line);
        assert_result(resolution(e), &expected, case);
        assert_eq!(e["resolution_outcome"], "answered", "{case}");
        assert!(!line.to_string().contains("FAKEY"), "{case}: no PII");
    }
}

/// Each Socure answer (or failure), the result its line must hold, and its outcome.
fn socure_cases() -> Vec<(&'static str, Reply, Value, &'static str)> {
    vec![
        (
            "kyc_all_verified",
            Reply::Now(json_ok(&fixture("socure/kyc_all_verified.json"))),
            passing_socure_result(),
            "answered",
        ),
        (
            "kyc_address_not_verified",
            Reply::Now(json_ok(&fixture("socure/kyc_address_not_verified.json"))),
            socure_result(json!({
                "errors": {"reason_codes": ["I919", "R705"]},
                "transaction_id": "b2345c67-f890-1234-5ghb-67c8d901e234",
                "verified_attributes": ["first_name", "last_name", "ssn", "dob"]
            })),
            "answered",
        ),
        (
            "kyc_missing_section",
            Reply::Now(json_ok(&fixture("socure/kyc_missing_section.json"))),
            socure_result(json!({
                "exception": "No kyc section on response",
                "transaction_id": "c3456d78-0901-2345-6hic-78d9e012f345"
            })),
            "answered",
        ),
        (
            "error_400",
            Reply::Now(response(
                "400 Bad Request",
                &[("Content-Type", "application/json")],
                &fixture("socure/error_400.json"),
            )),
            socure_result(json!({
                "exception": "Request-specific error message goes here (400)",
                "transaction_id": "a-big-unique-reference-id"
            })),
            "answered",
        ),
        (
            "error_401",
            Reply::Now(response(
                "401 Unauthorized",
                &[("Content-Type", "application/json")],
                &fixture("socure/error_401.json"),
            )),
            socure_result(json!({
                "exception": "Request-specific error message goes here (401)",
                "transaction_id": "a-big-unique-reference-id"
            })),
            "answered",
        ),
        (
            "500 with a text body",
            Reply::Now(response(
                "500 Internal Server Error",
                &[("Content-Type", "text/plain")],
                b"It works!",
            )),
            socure_result(json!({"exception": "the server responded with status 500 (500)"})),
            "answered",
        ),
        (
            "timeout",
            Reply::Hang,
            socure_result(
                json!({"exception": "Timed out waiting for verification response", "timed_out": true}),
            ),
            "timed_out",
        ),
        (
            "connection reset",
            Reply::Reset,
            socure_result(json!({"exception": "Connection failed: connection reset"})),
            "failed",
        ),
    ]
}

#[tokio::test]
async fn every_socure_answer_is_judged_as_the_contract_says() {
    let cases = socure_cases();
    let ln_passed = ln_result(json!({
        "success": true,
        "reference": "Reference1",
        "errors": {"Execute Instant Verify": logged_product("successful_response.json")}
    }));
    for (case, reply, expected, outcome) in cases {
        let upstream = FakeVendor::always(json_ok(&fixture(
            "lexis_nexis/instant_verify/successful_response.json",
        )))
        .await;
        let socure = FakeVendor::start(move |_| reply.clone()).await;
        let line = line_for(upstream, socure.addr, 1.0).await;
        assert_envelope(&line);
        let e = event(&line);
        assert_result(&e["socure_result"], &expected, case);
        assert_result(resolution(e), &ln_passed, case);
        assert_eq!(e["socure_outcome"], outcome, "{case}");
        assert_eq!(
            socure.requests().len(),
            1,
            "{case}: called once, never retried"
        );
    }
}

#[tokio::test]
async fn refused_socure_connection_is_a_failed_result() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let upstream = FakeVendor::always(json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    )))
    .await;
    let line = line_for(upstream, closed, 1.0).await;
    let e = event(&line);
    assert_result(
        &e["socure_result"],
        &socure_result(json!({"exception": "Connection failed: connection refused"})),
        "refused",
    );
    assert_eq!(e["socure_outcome"], "failed");
}
