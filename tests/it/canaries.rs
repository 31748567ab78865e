//! PII and secret canaries: distinctive fake values go through every mode of
//! the real binary (at `RUST_LOG=trace`), then every byte it wrote (shadow
//! log, stdout, stderr) is searched for them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::*;
use nix::sys::signal::Signal;
use serde_json::json;

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
    // The upstream answers by the query string; Socure rotates through its fault modes.
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
    sent += 2;
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

    proxy.signal(Signal::SIGTERM);
    let status = tokio::task::block_in_place(|| proxy.wait_exit(TEST_BOUND)).expect("exited");
    assert!(status.success());

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
