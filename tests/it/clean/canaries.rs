//! PII and secret canaries: distinctive fake values go through every mode of
//! the real binary (at `RUST_LOG=trace`), then every byte it wrote (shadow
//! log, stdout, stderr) is searched for them. Then vendors that quote the
//! applicant back (a Socure 400's `msg`, LexisNexis `Information` and items,
//! an echoed Reference, in other spellings than the request's) and
//! References that are not UUIDs, through the proxy in-process: none of it
//! reaches the line as it was. Ids that are not ids, and control
//! characters, neither.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::*;
use nix::sys::signal::Signal;
use serde_json::{Value, json};

const API_KEY_CANARY: &str = "CANARY-SOCURE-KEY-7f3a9";
const AUTH_CANARY: &str = "Basic Q0FOQVJZLUFVVEgtOWQyYg==";
/// The canary applicant's user uuid, as the IdP puts it after its SP prefix.
const CANARY_USER: &str = "00000000-0000-4000-8000-00000000c0de";

/// Each value an applicant could leak, as it may appear anywhere.
const PII_CANARIES: &[&str] = &[
    "QXFIRSTCANARY",
    "QXLASTCANARY",
    "900557733",
    "900-55-7733",
    "1911-11-23",
    "QXSTREETCANARY",
    "QXCITYCANARY",
    "qx.canary@example.invalid",
    "5550107788",
];

fn canary_body() -> Vec<u8> {
    json!({
        "Settings": {"AccountNumber": "test_account", "Reference": format!("0987:{CANARY_USER}")},
        "Person": {
            "Name": {"FirstName": "QXFIRSTCANARY", "LastName": "QXLASTCANARY"},
            "SSN": {"Number": "900557733", "Type": "ssn9"},
            "DateOfBirth": {"Year": "1911", "Month": "11", "Day": "23"},
            "Addresses": [{"StreetAddress1": "1 QXSTREETCANARY Rd", "StreetAddress2": "", "City": "QXCITYCANARY",
                           "State": "ZZ", "Zip5": "00000", "Country": "US", "Context": "primary"}],
            "Email": "qx.canary@example.invalid",
            "Phones": [{"Number": "5550107788"}],
            "Dashed": "900-55-7733"
        }
    })
    .to_string()
    .into_bytes()
}

/// The same values, in a body that is not JSON.
fn broken_body() -> Vec<u8> {
    format!("{{not json {}", PII_CANARIES.join(" ")).into_bytes()
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for canary in PII_CANARIES
        .iter()
        .chain(&[API_KEY_CANARY, AUTH_CANARY, "Q0FOQVJZLUFVVEgt"])
    {
        assert!(!text.contains(canary), "{canary} leaked into {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_canary_in_any_byte_the_proxy_writes() {
    let (upstream, socure) = vendors_in_every_mode().await;
    let options = Options {
        socure_timeout_seconds: 0.5,
        upstream_timeout_seconds: 0.5,
        shutdown_grace_seconds: 2.0,
        ..Options::default()
    };
    let proxy = ProxyProcess::start(
        upstream.addr,
        socure.addr,
        &options,
        &[
            ("RUST_LOG", "trace"),
            ("SOCURE_IDPLUS_API_KEY", API_KEY_CANARY),
        ],
    );
    let sent = send_canaries(&proxy).await;
    assert_credentials_still_reach_the_vendors(&upstream, &socure, sent);

    proxy.signal(Signal::SIGTERM);
    let status = tokio::task::block_in_place(|| proxy.wait_exit(TEST_BOUND)).expect("exited");
    assert!(status.success());
    assert_nothing_written_holds_a_canary(&proxy);
}

/// A LexisNexis that answers by the query string (`mode=500`, `mode=hang`,
/// else the fixture) and a Socure that rotates through its fault modes.
async fn vendors_in_every_mode() -> (FakeVendor, FakeVendor) {
    let upstream = FakeVendor::start(|request| {
        let ok = fixture("lexis_nexis/instant_verify/successful_response.json");
        if request.start_line.contains("mode=500") {
            Reply::Now(response("500 Internal Server Error", &[], b"down"))
        } else if request.start_line.contains("mode=hang") {
            Reply::Hang
        } else {
            Reply::Now(json_ok(&ok))
        }
    })
    .await;
    let turn = Arc::new(AtomicUsize::new(0));
    let socure = FakeVendor::start(move |_| match turn.fetch_add(1, Ordering::SeqCst) % 5 {
        0 => Reply::Now(json_ok(&fixture("socure/kyc_all_verified.json"))),
        1 => Reply::Now(response(
            "400 Bad Request",
            &[],
            &fixture("socure/error_400.json"),
        )),
        2 => Reply::Now(response("500 Internal Server Error", &[], b"It works!")),
        3 => Reply::Reset,
        _ => Reply::Hang,
    })
    .await;
    (upstream, socure)
}

/// Sends the canary applicant down every path (eight of them InstantVerify
/// or PhoneFinder, a broken body, a GET with an SSN in its query); returns
/// how many requests were sent.
async fn send_canaries(proxy: &ProxyProcess) -> usize {
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", AUTH_CANARY),
    ];
    let body = canary_body();
    let mut sent = 0;
    for target in [
        IV_PATH.to_owned(),
        IV_PATH.to_owned(),
        IV_PATH.to_owned(),
        IV_PATH.to_owned(),
        IV_PATH.to_owned(),
        format!("{IV_PATH}?mode=500"),
        format!("{IV_PATH}?mode=hang"),
        PF_PATH.to_owned(),
    ] {
        send(proxy.addr, &request("POST", &target, &headers, &body)).await;
        sent += 1;
    }
    send(
        proxy.addr,
        &request("POST", IV_PATH, &headers, &broken_body()),
    )
    .await;
    send(
        proxy.addr,
        &request("GET", &format!("/x?ssn={}", PII_CANARIES[2]), &headers, b""),
    )
    .await;
    sent + 2
}

/// Everything was forwarded, the IdP's credentials with it, and Socure got
/// its key: the canaries were in the traffic.
fn assert_credentials_still_reach_the_vendors(
    upstream: &FakeVendor,
    socure: &FakeVendor,
    sent: usize,
) {
    assert_eq!(upstream.requests().len(), sent, "everything was forwarded");
    assert!(
        upstream
            .requests()
            .iter()
            .all(|r| r.header_str("authorization") == Some(AUTH_CANARY)),
        "the IdP's credentials still reach the vendor"
    );
    assert!(
        socure
            .requests()
            .iter()
            .all(|r| r.header_str("authorization")
                == Some(&format!("SocureApiKey {API_KEY_CANARY}"))),
        "the key still reaches Socure"
    );
}

/// No canary in the shadow log, stderr or stdout of the exited process,
/// and the lines still say what they should.
fn assert_nothing_written_holds_a_canary(proxy: &ProxyProcess) {
    let lines = proxy.log_lines();
    assert_eq!(lines.len(), 8, "every InstantVerify request left one line");
    let log = std::fs::read(&proxy.log).expect("log");
    let stderr = proxy.stderr();
    assert!(stderr.len() > 1000, "trace level wrote plenty to search");
    if std::env::var_os("SHOW_STDERR").is_some() {
        eprintln!("{}", String::from_utf8_lossy(&stderr));
    }
    assert_clean("the shadow log", &log);
    assert_clean("stderr", &stderr);
    assert_clean("stdout", &proxy.stdout());
    // The lines still carry what they should: this was not a run that logged nothing.
    assert!(
        lines
            .iter()
            .any(|l| event(l)["socure_result"]["success"] == true)
    );
    assert!(
        lines
            .iter()
            .all(|l| l["properties"]["user_id"] == CANARY_USER
                || event(l)["socure_outcome"] == "not_sent")
    );
}

/// The canary applicant's values as a vendor might quote them back, in
/// other spellings than the request's.
const QUOTED: &[&str] = &[
    "qxfirstcanary",
    "QxLastCanary",
    "900-55-7733",
    "900 55 7733",
    "11/23/1911",
    "19111123",
    "1 qxstreetcanary rd",
    "QXCITYCANARY",
    "(555) 010-7788",
    "QX.CANARY@EXAMPLE.INVALID",
];

/// The canary request with `reference` as its `Settings.Reference`.
fn canary_body_with_reference(reference: &str) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&canary_body()).expect("canary body");
    body["Settings"]["Reference"] = json!(reference);
    body.to_string().into_bytes()
}

/// `body` as a 200 LexisNexis answer, its `Status.Reference` the request's
/// own `Settings.Reference`, as the real vendor echoes it.
fn echoing_lexis_nexis(answer: Value) -> impl Fn(&Message) -> Reply + Send + Sync + 'static {
    move |request| {
        let mut answer = answer.clone();
        answer["Status"]["Reference"] = request.json()["Settings"]["Reference"].clone();
        Reply::Now(json_ok(answer.to_string().as_bytes()))
    }
}

/// One shadowed request with `body`, the fakes answering as given; the
/// shadow log exactly as written (one line), and that line parsed.
async fn one_line(
    upstream: FakeVendor,
    socure: FakeVendor,
    options: Options,
    body: &[u8],
) -> (String, Value) {
    let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;
    send(proxy.addr, &iv_post(body)).await;
    let text = proxy.finish_text().await;
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    let line = serde_json::from_str(text.trim_end()).expect("the line is JSON");
    (text, line)
}

/// Neither the request's canaries nor their quoted spellings are in `text`,
/// whatever the case.
fn assert_quoted_values_gone(text: &str) {
    let lower = text.to_lowercase();
    for value in PII_CANARIES.iter().chain(QUOTED) {
        assert!(
            !lower.contains(&value.to_lowercase()),
            "{value} in the line: {text}"
        );
    }
}

fn socure_json_400(body: &Value) -> Vec<u8> {
    response(
        "400 Bad Request",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

#[tokio::test]
async fn socure_400_msg_quoting_the_applicant_is_redacted_in_the_line() {
    let upstream = FakeVendor::always(json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    )))
    .await;
    let msg = format!(
        "Invalid: {} {} ({}), ssn 900557733 / {}, dob 1911-11-23 = {} = {}, {}, {}, phone {}, email {}",
        QUOTED[0],
        QUOTED[1],
        PII_CANARIES[1],
        QUOTED[2],
        QUOTED[4],
        QUOTED[5],
        QUOTED[6],
        QUOTED[7],
        QUOTED[8],
        QUOTED[9],
    );
    let socure = FakeVendor::always(socure_json_400(&json!({
        "status": "Error",
        "referenceId": "a-big-unique-reference-id",
        "msg": msg,
    })))
    .await;
    let (text, line) = one_line(upstream, socure, Options::default(), &canary_body()).await;

    assert_quoted_values_gone(&text);
    let socure_result = &event(&line)["socure_result"];
    let exception = socure_result["exception"].as_str().expect("exception");
    assert!(exception.starts_with("Invalid: [redacted]"), "{exception}");
    assert!(exception.ends_with(" (400)"), "{exception}");
    assert_eq!(socure_result["transaction_id"], "a-big-unique-reference-id");
    assert_eq!(line["properties"]["user_id"], CANARY_USER);
}

#[tokio::test]
async fn lexis_nexis_information_and_items_quoting_the_applicant_are_redacted() {
    let mut answer = fixture_json("lexis_nexis/instant_verify/error_response.json");
    answer["Status"]["TransactionReasonCode"]["Code"] = json!(format!("bad.person.{}", QUOTED[9]));
    answer["Information"][0]["DetailDescription"][0]["Text"] =
        json!(format!("Invalid person: {}", QUOTED.join(" & ")));
    answer["Information"][0]["Person"] = json!({
        "Name": {"FirstName": "QXFIRSTCANARY", "LastName": "QXLASTCANARY"},
        "SSN": 900557733,
        "DateOfBirth": {"Year": "1911", "Month": 11, "Day": "23"},
        "Address": "1 QXSTREETCANARY Rd, QXCITYCANARY 00000",
        "QXLASTCANARY": true
    });
    answer["Products"] = json!([{
        "ProductType": "InstantVerify", "ExecutedStepName": "Execute Instant Verify",
        "ProductStatus": "fail",
        "Items": [{"ItemName": "SsnFullNameMatch", "ItemStatus": "fail",
                   "ItemReason": {"Code": "x", "Description": format!("no match: {}", QUOTED.join("; "))},
                   "ItemInfo": {"SSN": 900557733, "DOB": {"Year": 1911, "Month": 11, "Day": 23}}}]
    }]);
    let upstream = FakeVendor::start(echoing_lexis_nexis(answer)).await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let (text, line) = one_line(upstream, socure, Options::default(), &canary_body()).await;

    assert_quoted_values_gone(&text);
    let result = &resolution(event(&line));
    let base = result["errors"]["base"][0].as_str().expect("base");
    // The code quoted the e-mail address: the whole token goes.
    assert!(
        base.starts_with("Response error with code '[redacted]': [{"),
        "{base}"
    );
    assert!(base.contains("Invalid person: [redacted]"), "{base}");
    // The date of birth in its three keys is gone too (no `1911` anywhere).
    let result_text = result.to_string();
    assert!(!result_text.contains("1911"), "{result_text}");
    // The judging is unchanged: the failed item still maps to its attribute.
    assert_eq!(
        result["attributes_requiring_additional_verification"],
        json!(["ssn"])
    );
    assert_eq!(
        result["errors"]["Execute Instant Verify"][0]["ProductStatus"],
        "fail"
    );
    // The echoed Reference is a UUID: kept.
    assert_eq!(result["reference"], format!("0987:{CANARY_USER}"));
}

#[tokio::test]
async fn a_reference_that_is_not_a_uuid_never_reaches_the_line() {
    let upstream = FakeVendor::start(echoing_lexis_nexis(fixture_json(
        "lexis_nexis/instant_verify/successful_response.json",
    )))
    .await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let body = canary_body_with_reference("0987:123456789-McTesterson");
    let (text, line) = one_line(upstream, socure, Options::default(), &body).await;

    assert_eq!(line["properties"]["user_id"], Value::Null);
    assert_eq!(line["properties"]["user_id_invalid"], true);
    let lower = text.to_lowercase();
    assert!(!lower.contains("123456789"), "{text}");
    assert!(!lower.contains("mctesterson"), "{text}");
    // LexisNexis echoed it; the echo is redacted, its prefix kept.
    assert_eq!(resolution(event(&line))["reference"], "0987:[redacted]");
    // The mirror still did its work.
    assert_eq!(event(&line)["socure_outcome"], "answered");
    assert_eq!(event(&line)["socure_result"]["success"], true);
}

#[tokio::test]
async fn a_100_kib_reference_still_gives_a_short_line() {
    let upstream = FakeVendor::start(echoing_lexis_nexis(fixture_json(
        "lexis_nexis/instant_verify/successful_response.json",
    )))
    .await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let huge = format!(
        "0987:{}",
        "FAKEY MCFAKERSON 900-00-0000 ".repeat(100 * 1024 / 29)
    );
    assert!(huge.len() >= 100 * 1024);
    let body = canary_body_with_reference(&huge);
    let options = Options {
        // Room for the whole request in the mirror, so the Reference is read.
        max_shadow_body_bytes: Some(256 * 1024),
        ..Options::default()
    };
    let (text, line) = one_line(upstream, socure, options, &body).await;

    assert!(text.len() < 8 * 1024, "a line of {} bytes", text.len());
    assert_eq!(line["properties"]["user_id"], Value::Null);
    assert_eq!(line["properties"]["user_id_invalid"], true);
    assert!(!text.contains("MCFAKERSON"), "{text}");
    assert_eq!(event(&line)["socure_outcome"], "answered");
}

#[tokio::test]
async fn a_line_separator_in_vendor_text_is_escaped_in_the_line() {
    let upstream = FakeVendor::always(json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    )))
    .await;
    let msg = "first\u{2028}second\u{2029}third";
    let socure = FakeVendor::always(socure_json_400(&json!({"msg": msg}))).await;
    let (text, line) = one_line(upstream, socure, Options::default(), &canary_body()).await;

    assert!(
        !text.contains('\u{2028}') && !text.contains('\u{2029}'),
        "{text:?}"
    );
    assert!(text.contains(r"first\u2028second\u2029third"), "{text}");
    // JavaScript and Python's splitlines() would see one line too.
    let splits = text
        .trim_end_matches('\n')
        .split(['\n', '\r', '\u{2028}', '\u{2029}', '\u{85}'])
        .count();
    assert_eq!(splits, 1);
    assert_eq!(
        event(&line)["socure_result"]["exception"],
        format!("{msg} (400)")
    );
}

/// FAKEY MCFAKERSON, SSN 900-55-1234, born 1971-07-23, at 123 Fake St,
/// Great Falls 59010.
fn fakey_body() -> Vec<u8> {
    json!({
        "Settings": {"AccountNumber": "test_account", "Reference": format!("0987:{CANARY_USER}")},
        "Person": {
            "Name": {"FirstName": "FAKEY", "LastName": "MCFAKERSON"},
            "SSN": {"Number": "900551234", "Type": "ssn9"},
            "DateOfBirth": {"Year": "1971", "Month": "7", "Day": "23"},
            "Addresses": [{"StreetAddress1": "123 Fake St", "City": "Great Falls", "State": "MT",
                           "Zip5": "59010", "Country": "US", "Context": "primary"}]
        }
    })
    .to_string()
    .into_bytes()
}

/// FAKEY's values as a vendor may echo them: other separators, other date
/// forms, the street's suffix the other way, runs of spaces, invisible and
/// full-width characters.
const SPELLINGS: &[&str] = &[
    "900 - 55 - 1234",
    "900_55_1234",
    "July 23, 1971",
    "Jul 23 1971",
    "23 July 1971",
    "1971.07.23",
    "7/23/71",
    "07/23/1971",
    "7-23-1971",
    "123 FAKE STREET",
    "123  Fake   St",
    "Great  Falls",
    "FA\u{AD}KEY",
    "MC\u{200B}FAKERSON",
    "FAK\u{200C}EY",
    "MCFAK\u{200D}ERSON",
    "FA\u{2060}KEY",
    "\u{FEFF}MCFAKERSON",
    "ＦＡＫＥＹ",
    "ＭＣＦＡＫＥＲＳＯＮ",
];

/// None of FAKEY's values, in any case, is left in `text`.
fn assert_no_fakey(what: &str, text: &str) {
    let lower = text.to_lowercase();
    for value in [
        "fakey",
        "mcfakerson",
        "1971",
        "55 - 1234",
        "55_1234",
        "fake st",
        "great falls",
        "july",
    ] {
        assert!(!lower.contains(value), "{value} in {what}: {text}");
    }
}

#[tokio::test]
async fn every_spelling_a_vendor_echoes_back_is_redacted() {
    // A word between them, so no two make one number (`1971 | Jul 23` is
    // year, month and day too).
    let echoed = SPELLINGS.join(" and ");
    let mut answer = fixture_json("lexis_nexis/instant_verify/error_response.json");
    answer["Information"][0]["DetailDescription"][0]["Text"] = json!(echoed);
    let upstream = FakeVendor::always(json_ok(answer.to_string().as_bytes())).await;
    let socure = FakeVendor::always(socure_json_400(&json!({
        "referenceId": "a-big-unique-reference-id",
        "msg": echoed,
    })))
    .await;
    let (_, line) = one_line(upstream, socure, Options::default(), &fakey_body()).await;

    let every_one_redacted = vec!["[redacted]"; SPELLINGS.len()].join(" and ");
    let socure_result = &event(&line)["socure_result"];
    assert_eq!(
        socure_result["exception"],
        format!("{every_one_redacted} (400)")
    );
    assert_eq!(socure_result["transaction_id"], "a-big-unique-reference-id");
    let resolution_result = resolution(event(&line));
    let base = resolution_result["errors"]["base"][0]
        .as_str()
        .expect("base");
    assert!(base.contains(&every_one_redacted), "{base}");
    assert_no_fakey("socure_result", &socure_result.to_string());
    assert_no_fakey(
        "resolution_result",
        &event(&line)["resolution_result"].to_string(),
    );
    assert_eq!(line["properties"]["user_id"], CANARY_USER);
}

#[tokio::test]
async fn ids_holding_another_persons_ssn_and_email_lose_them() {
    let mut answer = fixture_json("lexis_nexis/instant_verify/successful_response.json");
    answer["Status"]["ConversationId"] = json!("900-66-4321 jane.roe@example.invalid");
    let upstream = FakeVendor::start(echoing_lexis_nexis(answer)).await;
    let mut kyc = fixture_json("socure/kyc_all_verified.json");
    kyc["referenceId"] = json!("ref 900 66 4321 / ROE@EXAMPLE.INVALID / (555) 010-9999");
    let socure = socure_answering(json_ok(kyc.to_string().as_bytes())).await;
    let (text, line) = one_line(upstream, socure, Options::default(), &fakey_body()).await;

    let resolution_result = resolution(event(&line));
    assert_eq!(resolution_result["transaction_id"], "[redacted] [redacted]");
    // The echoed Reference is the IdP's own, a UUID: kept.
    assert_eq!(
        resolution_result["reference"],
        format!("0987:{CANARY_USER}")
    );
    assert_eq!(resolution_result["success"], true);
    let socure_result = &event(&line)["socure_result"];
    assert_eq!(
        socure_result["transaction_id"],
        "ref [redacted] / [redacted] / ([redacted]"
    );
    assert_eq!(socure_result["success"], true);
    assert!(event(&line).get("ids_withheld").is_none(), "{text}");
    let lower = text.to_lowercase();
    for value in ["4321", "roe@", "example.invalid", "010-9999"] {
        assert!(!lower.contains(value), "{value} in the line: {text}");
    }
}

#[tokio::test]
async fn a_200_kib_object_id_is_withheld_and_the_line_stays_short() {
    let mut answer = fixture_json("lexis_nexis/instant_verify/successful_response.json");
    let dump = "FAKEY MCFAKERSON 900-55-1234 1 FAKE ST ".repeat(200 * 1024 / 39);
    answer["Status"]["ConversationId"] = json!({"dump": dump, "more": [dump.len()]});
    answer["Status"]["Reference"] = json!(["0987", CANARY_USER]);
    let answer = answer.to_string();
    assert!(answer.len() >= 200 * 1024);
    let upstream = FakeVendor::always(json_ok(answer.as_bytes())).await;
    let mut kyc = fixture_json("socure/kyc_all_verified.json");
    kyc["referenceId"] = json!("r".repeat(129));
    let socure = socure_answering(json_ok(kyc.to_string().as_bytes())).await;
    let (text, line) = one_line(upstream, socure, Options::default(), &fakey_body()).await;

    assert!(text.len() < 8 * 1024, "a line of {} bytes", text.len());
    let resolution_result = resolution(event(&line));
    assert_eq!(resolution_result["transaction_id"], Value::Null);
    assert_eq!(resolution_result["reference"], Value::Null);
    // Judged all the same.
    assert_eq!(resolution_result["success"], true);
    assert_eq!(resolution_result["exception"], Value::Null);
    let socure_result = &event(&line)["socure_result"];
    assert_eq!(socure_result["transaction_id"], Value::Null);
    assert_eq!(socure_result["success"], true);
    assert_eq!(
        event(&line)["ids_withheld"],
        json!({
            "resolution.transaction_id": "not_a_string_or_number",
            "resolution.reference": "not_a_string_or_number",
            "socure.transaction_id": "too_long",
        })
    );
    // The results keep CONTRACT.md's keys, in its order.
    for result in [resolution_result, socure_result] {
        let keys: Vec<&str> = result
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "success",
                "errors",
                "exception",
                "timed_out",
                "transaction_id",
                "reference",
                "can_pass_with_additional_verification",
                "attributes_requiring_additional_verification",
                "vendor_name",
                "vendor_workflow",
                "verified_attributes",
            ]
        );
    }
    assert!(!text.contains("MCFAKERSON"), "{text}");
}

#[tokio::test]
async fn nel_del_and_c1_controls_in_vendor_text_are_escaped_in_the_line() {
    let upstream = FakeVendor::always(json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    )))
    .await;
    let msg = "one\u{85}two\u{7f}three\u{9b}31mfour\u{1b}]0;title\u{7}five\u{80}six\u{2028}seven";
    let socure = FakeVendor::always(socure_json_400(&json!({"msg": msg}))).await;
    let (text, line) = one_line(upstream, socure, Options::default(), &canary_body()).await;

    let bytes = text.as_bytes();
    assert!(!bytes.contains(&0x7F), "{text:?}");
    assert!(!bytes.contains(&0x1B), "{text:?}");
    assert!(
        !bytes
            .windows(2)
            .any(|pair| pair[0] == 0xC2 && (0x80..=0x9F).contains(&pair[1])),
        "a raw C1 control: {text:?}"
    );
    assert!(
        text.contains(
            r"one\u0085two\u007fthree\u009b31mfour\u001b]0;title\u0007five\u0080six\u2028seven"
        ),
        "{text}"
    );
    let splits = text
        .trim_end_matches('\n')
        .split(['\n', '\r', '\u{2028}', '\u{2029}', '\u{85}'])
        .count();
    assert_eq!(splits, 1);
    // Read back, the text is the vendor's.
    assert_eq!(
        event(&line)["socure_result"]["exception"],
        format!("{msg} (400)")
    );
}

const REDIS_PASSWORD: &str = "CANARY-REDIS-PASSWORD-31c7";
const DEDUP_KEY: &str = "CANARY-DEDUP-KEY-8e21";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_mode_sends_redis_no_pii_password_or_key() {
    let redis = crate::support::redis_server::RedisServer::start_with_password(REDIS_PASSWORD);
    let seen = monitor(redis.port).await;
    let (upstream, socure) = passing_vendors().await;
    let proxy = fleet_proxy(redis.port, &upstream, &socure).await;
    assert_eq!(
        send(proxy.addr, &iv_post(&canary_body())).await.status(),
        200
    );
    // The first claim precedes its Socure call: the second finds it.
    socure.wait_for_requests(1).await;
    assert_eq!(
        send(proxy.addr, &iv_post(&canary_body())).await.status(),
        200
    );
    let lines = proxy.finish().await;
    assert!(
        lines
            .iter()
            .any(|l| event(l)["socure_outcome"] == "duplicate"),
        "Redis's window was used: {lines:?}"
    );
    let written = serde_json::to_string(&lines).expect("lines");
    assert_clean("the lines", written.as_bytes());
    for secret in [REDIS_PASSWORD, DEDUP_KEY] {
        assert!(!written.contains(secret), "{secret} in a line");
    }

    let captured = everything_monitor_saw(redis.port, seen).await;
    let text = String::from_utf8_lossy(&captured);
    assert!(text.contains("budget") && text.contains("seen"), "{text}");
    assert_clean("what reached Redis", &captured);
    for secret in [REDIS_PASSWORD, DEDUP_KEY] {
        assert!(
            !text.contains(secret),
            "{secret} reached Redis's MONITOR: {text}"
        );
    }
}

/// Everything Redis on `port` is asked from now on, as MONITOR shows it.
async fn monitor(port: u16) -> tokio::sync::mpsc::UnboundedReceiver<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut monitor = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    monitor
        .write_all(format!("AUTH {REDIS_PASSWORD}\r\nMONITOR\r\n").as_bytes())
        .await
        .expect("monitor");
    let (seen_tx, seen) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        let mut buffer = [0u8; 8192];
        while let Ok(n @ 1..) = monitor.read(&mut buffer).await {
            if seen_tx.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    seen
}

/// A proxy in fleet mode against Redis on `redis_port` (password and dedup
/// key the canaries), with a daily budget and a duplicate window.
async fn fleet_proxy(redis_port: u16, upstream: &FakeVendor, socure: &FakeVendor) -> TestProxy {
    TestProxy::from_toml_with_env(
        |log| {
            format!(
                "{}\n[fleet]\nredis_url = \"redis://127.0.0.1:{redis_port}/\"\ntimeout_ms = 2000\n",
                Options {
                    max_calls_per_day: Some(10),
                    dedup_window_seconds: 60.0,
                    ..Options::default()
                }
                .toml(upstream.addr, socure.addr, log),
            )
        },
        &[
            ("SHADOW_PROXY_REDIS_PASSWORD", REDIS_PASSWORD),
            ("SHADOW_PROXY_DEDUP_KEY", DEDUP_KEY),
        ],
    )
    .await
}

/// What MONITOR showed up to now: a marker is sent after the proxy's last
/// command, and once MONITOR shows it, it has shown everything before it.
async fn everything_monitor_saw(
    port: u16,
    mut seen: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
) -> Vec<u8> {
    let client = redis::Client::open(format!("redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/"))
        .expect("client");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let _: String = redis::cmd("ECHO")
        .arg("canary-monitor-end")
        .query_async(&mut connection)
        .await
        .expect("echo");
    let mut captured = Vec::new();
    tokio::time::timeout(TEST_BOUND, async {
        while !String::from_utf8_lossy(&captured).contains("canary-monitor-end") {
            captured.extend(seen.recv().await.expect("monitor stream"));
        }
    })
    .await
    .expect("the marker in time");
    captured
}
