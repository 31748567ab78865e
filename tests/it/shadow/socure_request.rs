//! What reaches Socure: CONTRACT.md section 2's mapping of the fixture request, and the API key header.

use crate::support::*;
use serde_json::{Value, json};

/// Sends `body` as an InstantVerify request and returns what the fake Socure received.
async fn socure_receives(body: &[u8]) -> Message {
    let Stack { socure, proxy, .. } = Stack::passing().await;
    let answer = send(proxy.addr, &iv_post(body)).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(proxy.finish().await.len(), 1);
    let mut received = socure.requests();
    assert_eq!(received.len(), 1, "one Socure call per applicant");
    received.remove(0)
}

#[tokio::test]
async fn fixture_request_maps_field_by_field_with_the_key() {
    let received = socure_receives(&fixture("lexis_nexis/instant_verify/request.json")).await;

    assert_eq!(received.start_line, "POST /api/3.0/EmailAuthScore HTTP/1.1");
    assert_eq!(
        received.header_str("authorization"),
        Some(format!("SocureApiKey {API_KEY}").as_str())
    );
    assert_eq!(
        received.header_str("content-type"),
        Some("application/json")
    );

    let mut body = received.json();
    assert_eq!(
        keys(&body),
        SOCURE_REQUEST_KEYS,
        "identity-idp's field order"
    );
    take_consent_timestamp(&mut body);
    assert_eq!(
        body,
        json!({
            "modules": ["kyc"],
            "firstName": "Testy",
            "surName": "McTesterson",
            "country": "US",
            "physicalAddress": "123 Main St",
            "physicalAddress2": "Ste 3",
            "city": "Baton Rouge",
            "state": "LA",
            "zip": "70802",
            "nationalId": "123456789",
            "dob": "1980-01-01",
            "userConsent": true,
            "countryOfOrigin": "US",
            "customerUserId": "1234-abcd"
        })
    );
}

#[tokio::test]
async fn zip4_is_joined_and_missing_fields_are_not_invented() {
    let body = json!({
        "Settings": {"Reference": "fake-user-uuid"},
        "Person": {
            "Name": {"FirstName": "FAKEY", "LastName": null},
            "SSN": {"Number": "900001234", "Type": "ssn9"},
            "Addresses": [
                {"StreetAddress1": "1 Mailing Rd", "Context": "mailing"},
                {"StreetAddress1": "9 Fake Ln", "StreetAddress2": "", "City": "Faketown", "State": "ZZ",
                 "Zip5": "00000", "Zip4": "0001", "Country": "US", "Context": "primary"}
            ],
            "Extra": {"Ignored": true}
        }
    });
    let received = socure_receives(body.to_string().as_bytes()).await;
    let mut sent = received.json();
    take_consent_timestamp(&mut sent);
    assert_eq!(
        sent,
        json!({
            "modules": ["kyc"],
            "firstName": "FAKEY",
            "surName": null,
            "country": "US",
            "physicalAddress": "9 Fake Ln",
            "physicalAddress2": "",
            "city": "Faketown",
            "state": "ZZ",
            "zip": "00000-0001",
            "nationalId": "900001234",
            "dob": null,
            "userConsent": true,
            "countryOfOrigin": "US",
            "customerUserId": "fake-user-uuid"
        })
    );
}

#[tokio::test]
async fn body_that_is_not_an_applicant_is_not_sent_and_not_logged() {
    let Stack { socure, proxy, .. } = Stack::passing().await;
    for body in [
        &b"FAKEY MCFAKERSON 900-00-0001 not json"[..],
        br#"{"Nobody":"FAKEY MCFAKERSON"}"#,
    ] {
        let answer = send(proxy.addr, &iv_post(body)).await;
        assert_eq!(answer.status(), 200, "still forwarded");
    }
    let lines = proxy.finish().await;
    assert!(
        socure.requests().is_empty(),
        "no Socure call without an applicant"
    );
    assert_eq!(lines.len(), 2, "still one line each");
    for line in &lines {
        let e = event(line);
        assert_eq!(e["socure_outcome"], "not_sent");
        assert_eq!(e["socure_result"], Value::Null);
        let text = line.to_string();
        assert!(
            !text.contains("FAKEY") && !text.contains("900-00-0001"),
            "{text}"
        );
    }
}
