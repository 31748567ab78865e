//! Pure: the bytes of a LexisNexis InstantVerify request become an [`Applicant`]. No I/O.
//!
//! Real traffic may carry extra fields, another order, `null`s, unicode or a
//! missing part (CONTRACT.md section 1). The forward path never looks at this;
//! the mirror does what it can with what is there and never invents a value.
//! Nothing here quotes the body: errors say where parsing stopped, not what
//! was there, because the body is PII.

use std::fmt;

use serde_json::Value;

/// The identity fields of one applicant, as the IdP sent them.
///
/// `Debug` shows which fields are present, never their values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Applicant {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `Person.SSN.Number`, as sent.
    pub ssn: Option<String>,
    pub dob: Option<Dob>,
    /// The address whose `Context` is `primary` (else the first one).
    pub address: Option<Address>,
    /// The part of `Settings.Reference` after its last `:`.
    pub user_uuid: Option<String>,
}

/// A date of birth as three numbers, checked to be a real calendar date.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Dob {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Dob {
    /// `YYYY-MM-DD`, zero-padded, as Socure wants it.
    pub fn iso(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub street1: Option<String>,
    pub street2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip5: Option<String>,
    pub zip4: Option<String>,
}

impl Address {
    /// `Zip5`, or `Zip5-Zip4` when `Zip4` is present and not empty; no
    /// `Zip5`, no zip.
    pub fn zip(&self) -> Option<String> {
        let zip5 = self.zip5.as_deref()?;
        match self.zip4.as_deref() {
            Some(zip4) if !zip4.is_empty() => Some(format!("{zip5}-{zip4}")),
            _ => Some(zip5.to_owned()),
        }
    }
}

/// Why a request body yields no applicant. The messages never quote the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplicantError {
    #[error("request body is not JSON (stopped at line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    #[error("request body is not an InstantVerify applicant: {0}")]
    NotAnApplicant(&'static str),
}

/// Reads the applicant out of an InstantVerify request body.
pub fn parse(body: &[u8]) -> Result<Applicant, ApplicantError> {
    let root: Value = serde_json::from_slice(body).map_err(|err| ApplicantError::NotJson {
        line: err.line(),
        column: err.column(),
    })?;
    let root = root.as_object().ok_or(ApplicantError::NotAnApplicant(
        "the body is not a JSON object",
    ))?;
    let person = root
        .get("Person")
        .and_then(Value::as_object)
        .ok_or(ApplicantError::NotAnApplicant("no Person object"))?;

    let name = person.get("Name");
    let applicant = Applicant {
        first_name: text(name.and_then(|n| n.get("FirstName"))),
        last_name: text(name.and_then(|n| n.get("LastName"))),
        ssn: text(person.get("SSN").and_then(|s| s.get("Number"))),
        dob: person.get("DateOfBirth").and_then(dob),
        address: person.get("Addresses").and_then(primary_address),
        user_uuid: root
            .get("Settings")
            .and_then(|s| s.get("Reference"))
            .and_then(Value::as_str)
            .and_then(|reference| reference.rsplit(':').next())
            .filter(|uuid| !uuid.is_empty())
            .map(str::to_owned),
    };
    let has_identity = applicant.first_name.is_some()
        || applicant.last_name.is_some()
        || applicant.ssn.is_some()
        || applicant.dob.is_some()
        || applicant.address.is_some();
    if has_identity {
        Ok(applicant)
    } else {
        // Sending an empty applicant would bill a Socure call for nothing.
        Err(ApplicantError::NotAnApplicant(
            "no identity fields in Person",
        ))
    }
}

/// A string as sent; a number is carried as its JSON text (a Zip5 sent as
/// 70802 is still that zip). Anything else is absent.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(value: Option<&Value>) -> Option<i64> {
    text(value)?.trim().parse().ok()
}

fn dob(value: &Value) -> Option<Dob> {
    let year = i32::try_from(number(value.get("Year"))?).ok()?;
    let month = u8::try_from(number(value.get("Month"))?).ok()?;
    let day = u8::try_from(number(value.get("Day"))?).ok()?;
    // Only a real date is sent; "1980-02-31" would be an invented value.
    let month_enum = time::Month::try_from(month).ok()?;
    time::Date::from_calendar_date(year, month_enum, day).ok()?;
    if !(1..=9999).contains(&year) {
        return None;
    }
    Some(Dob { year, month, day })
}

fn primary_address(value: &Value) -> Option<Address> {
    let addresses = value.as_array()?;
    let chosen = addresses
        .iter()
        .find(|a| a.get("Context").and_then(Value::as_str) == Some("primary"))
        .or_else(|| addresses.first())?;
    chosen.as_object()?;
    let address = Address {
        street1: text(chosen.get("StreetAddress1")),
        street2: text(chosen.get("StreetAddress2")),
        city: text(chosen.get("City")),
        state: text(chosen.get("State")),
        zip5: text(chosen.get("Zip5")),
        zip4: text(chosen.get("Zip4")),
    };
    (address != Address::default()).then_some(address)
}

/// Shows presence only.
fn present<T>(value: &Option<T>) -> &'static str {
    if value.is_some() {
        "[redacted]"
    } else {
        "None"
    }
}

impl fmt::Debug for Applicant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Applicant")
            .field("first_name", &format_args!("{}", present(&self.first_name)))
            .field("last_name", &format_args!("{}", present(&self.last_name)))
            .field("ssn", &format_args!("{}", present(&self.ssn)))
            .field("dob", &format_args!("{}", present(&self.dob)))
            .field("address", &format_args!("{}", present(&self.address)))
            .field("user_uuid", &self.user_uuid)
            .finish()
    }
}

impl fmt::Debug for Dob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dob([redacted])")
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Address([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &[u8] =
        include_bytes!("../../tests/fixtures/lexis_nexis/instant_verify/request.json");

    #[test]
    fn fixture_request_parses_field_by_field() {
        let a = parse(FIXTURE).expect("applicant");
        assert_eq!(a.first_name.as_deref(), Some("Testy"));
        assert_eq!(a.last_name.as_deref(), Some("McTesterson"));
        assert_eq!(a.ssn.as_deref(), Some("123456789"));
        assert_eq!(a.dob.map(|d| d.iso()).as_deref(), Some("1980-01-01"));
        let address = a.address.expect("address");
        assert_eq!(address.street1.as_deref(), Some("123 Main St"));
        assert_eq!(address.street2.as_deref(), Some("Ste 3"));
        assert_eq!(address.city.as_deref(), Some("Baton Rouge"));
        assert_eq!(address.state.as_deref(), Some("LA"));
        assert_eq!(address.zip().as_deref(), Some("70802"));
        assert_eq!(a.user_uuid.as_deref(), Some("1234-abcd"));
    }

    #[test]
    fn primary_address_wins_and_zip4_is_appended() {
        let body = br#"{"Person":{"Addresses":[
            {"StreetAddress1":"1 Other Rd","Context":"mailing"},
            {"StreetAddress1":"9 Fake Ln","StreetAddress2":"","Zip5":"00000","Zip4":"1234","Context":"primary"}]}}"#;
        let address = parse(body).expect("applicant").address.expect("address");
        assert_eq!(address.street1.as_deref(), Some("9 Fake Ln"));
        assert_eq!(address.street2.as_deref(), Some(""));
        assert_eq!(address.zip().as_deref(), Some("00000-1234"));
    }

    #[test]
    fn empty_or_null_zip4_adds_nothing() {
        for zip4 in [r#""""#, "null"] {
            let body =
                format!(r#"{{"Person":{{"Addresses":[{{"Zip5":"00000","Zip4":{zip4}}}]}}}}"#);
            let address = parse(body.as_bytes())
                .expect("applicant")
                .address
                .expect("address");
            assert_eq!(address.zip().as_deref(), Some("00000"), "Zip4 {zip4}");
        }
    }

    #[test]
    fn reference_without_prefix_is_the_uuid() {
        let body =
            br#"{"Settings":{"Reference":"fake-uuid"},"Person":{"Name":{"FirstName":"FAKEY"}}}"#;
        assert_eq!(
            parse(body).expect("applicant").user_uuid.as_deref(),
            Some("fake-uuid")
        );
    }

    #[test]
    fn impossible_dob_is_left_out() {
        let body = br#"{"Person":{"Name":{"FirstName":"FAKEY"},"DateOfBirth":{"Year":"1980","Month":"2","Day":"31"}}}"#;
        assert_eq!(parse(body).expect("applicant").dob, None);
    }

    #[test]
    fn not_json_and_not_applicant_do_not_quote_the_body() {
        let err = parse(b"{\"Person\": FAKEY MCFAKERSON").expect_err("not json");
        assert!(matches!(err, ApplicantError::NotJson { .. }));
        assert!(!err.to_string().contains("FAKEY"));
        assert_eq!(
            parse(br#"{"Nobody":"FAKEY"}"#),
            Err(ApplicantError::NotAnApplicant("no Person object"))
        );
        assert_eq!(
            parse(br#"{"Person":{}}"#),
            Err(ApplicantError::NotAnApplicant(
                "no identity fields in Person"
            ))
        );
        assert_eq!(
            parse(b"[1,2]"),
            Err(ApplicantError::NotAnApplicant(
                "the body is not a JSON object"
            ))
        );
    }

    #[test]
    fn debug_shows_no_pii() {
        let shown = format!("{:?}", parse(FIXTURE).expect("applicant"));
        for pii in [
            "Testy",
            "McTesterson",
            "123456789",
            "1980",
            "Main",
            "Baton",
            "70802",
        ] {
            assert!(!shown.contains(pii), "{pii} in {shown}");
        }
    }
}
