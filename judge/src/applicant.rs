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
    /// `Person.Name.MiddleName`: not sent to Socure, known so that a vendor
    /// text quoting it can be redacted.
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    /// `Person.SSN.Number`, as sent.
    pub ssn: Option<String>,
    pub dob: Option<Dob>,
    /// The address whose `Context` is `primary` (else the first one).
    pub address: Option<Address>,
    /// The request's other addresses: not sent to Socure, known only for
    /// redaction.
    pub other_addresses: Vec<Address>,
    /// `Person.Phones[].Number`, every one: the InstantVerify request carries
    /// none today (PhoneFinder's does); known only for redaction.
    pub phones: Vec<String>,
    /// `Person.Email`, when a request carries one; known only for redaction.
    pub email: Option<String>,
    /// The part of `Settings.Reference` after its last `:`, as sent: Socure's
    /// `customerUserId` and the sample draw. Not checked, so never written
    /// as it is: the line takes [`Applicant::user_id`].
    pub user_uuid: Option<String>,
    /// What the line may say of `Settings.Reference`.
    pub user_id: UserId,
}

/// The line's `user_id`, from `Settings.Reference`.
///
/// The part after the last `:` is copied only when it is a UUID: the
/// Reference is free text from the IdP, and an SP's prefix or a bug there
/// could put anything in it (a name, an SSN, a megabyte). `Debug` shows a
/// UUID, never an invalid value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum UserId {
    /// No `Settings.Reference` (or `null`).
    #[default]
    Absent,
    /// The part after the last `:`, a UUID in its hyphenated form.
    Uuid(String),
    /// A Reference whose part after the last `:` is not a UUID (or that is
    /// not text): the line says `user_id: null, user_id_invalid: true`.
    Invalid,
}

impl UserId {
    /// The `user_id` of `Settings.Reference`, `reference` being its JSON value.
    fn of(reference: Option<&Value>) -> Self {
        match reference {
            None | Some(Value::Null) => UserId::Absent,
            Some(Value::String(reference)) => match reference.rsplit(':').next() {
                Some(uuid) if is_uuid(uuid) => UserId::Uuid(uuid.to_owned()),
                _ => UserId::Invalid,
            },
            Some(_) => UserId::Invalid,
        }
    }

    /// The UUID, when there is one.
    pub fn uuid(&self) -> Option<&str> {
        match self {
            UserId::Uuid(uuid) => Some(uuid),
            UserId::Absent | UserId::Invalid => None,
        }
    }
}

/// A UUID in the hyphenated 8-4-4-4-12 form identity-idp's user uuids take
/// (`SecureRandom.uuid`), hex digits in either case. Written here rather
/// than taken from the `uuid` crate: this crate must not depend on it (see
/// its Cargo.toml; features unify, so its random generator would come along).
pub fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
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
    let reference = root.get("Settings").and_then(|s| s.get("Reference"));
    let applicant = Applicant {
        first_name: text(name.and_then(|n| n.get("FirstName"))),
        middle_name: text(name.and_then(|n| n.get("MiddleName"))),
        last_name: text(name.and_then(|n| n.get("LastName"))),
        ssn: text(person.get("SSN").and_then(|s| s.get("Number"))),
        dob: person.get("DateOfBirth").and_then(dob),
        address: person.get("Addresses").and_then(primary_address),
        other_addresses: person
            .get("Addresses")
            .map(other_addresses)
            .unwrap_or_default(),
        phones: person
            .get("Phones")
            .and_then(Value::as_array)
            .map(|phones| {
                phones
                    .iter()
                    .filter_map(|p| text(p.get("Number")))
                    .collect()
            })
            .unwrap_or_default(),
        email: text(person.get("Email")),
        user_uuid: reference
            .and_then(Value::as_str)
            .and_then(|reference| reference.rsplit(':').next())
            .filter(|uuid| !uuid.is_empty())
            .map(str::to_owned),
        user_id: UserId::of(reference),
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

/// Where the primary address is in `Addresses`: the one whose `Context` is
/// `primary`, else the first.
fn primary_index(addresses: &[Value]) -> Option<usize> {
    addresses
        .iter()
        .position(|a| a.get("Context").and_then(Value::as_str) == Some("primary"))
        .or_else(|| (!addresses.is_empty()).then_some(0))
}

fn primary_address(value: &Value) -> Option<Address> {
    let addresses = value.as_array()?;
    address(addresses.get(primary_index(addresses)?)?)
}

fn other_addresses(value: &Value) -> Vec<Address> {
    let Some(addresses) = value.as_array() else {
        return Vec::new();
    };
    let primary = primary_index(addresses);
    addresses
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != primary)
        .filter_map(|(_, a)| address(a))
        .collect()
}

fn address(chosen: &Value) -> Option<Address> {
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
            .field(
                "middle_name",
                &format_args!("{}", present(&self.middle_name)),
            )
            .field("last_name", &format_args!("{}", present(&self.last_name)))
            .field("ssn", &format_args!("{}", present(&self.ssn)))
            .field("dob", &format_args!("{}", present(&self.dob)))
            .field("address", &format_args!("{}", present(&self.address)))
            .field(
                "other_addresses",
                &format_args!("{}", self.other_addresses.len()),
            )
            .field("phones", &format_args!("{}", self.phones.len()))
            .field("email", &format_args!("{}", present(&self.email)))
            // The raw Reference part may hold anything; only a UUID is shown.
            .field("user_id", &self.user_id)
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
        // identity-idp's fixture reference is not a UUID: never in the line.
        assert_eq!(a.user_id, UserId::Invalid);
    }

    fn user_id(reference: &str) -> UserId {
        let body = format!(
            r#"{{"Settings":{{"Reference":{reference}}},"Person":{{"Name":{{"FirstName":"FAKEY"}}}}}}"#
        );
        parse(body.as_bytes()).expect("applicant").user_id
    }

    #[test]
    fn user_id_is_taken_only_when_it_is_a_uuid() {
        let uuid = "00000000-0000-4000-8000-000900000004";
        for reference in [
            format!(r#""sp:{uuid}""#),
            format!(r#""a:b:{uuid}""#),
            format!(r#""{uuid}""#),
        ] {
            assert_eq!(
                user_id(&reference),
                UserId::Uuid(uuid.into()),
                "{reference}"
            );
        }
        assert_eq!(
            user_id(r#""sp:ABCDEF01-2345-4789-ABCD-EF0123456789""#).uuid(),
            Some("ABCDEF01-2345-4789-ABCD-EF0123456789")
        );
        for reference in [
            r#""0987:123456789-McTesterson""#,
            r#""0987:""#,
            r#""""#,
            r#""sp:{00000000-0000-4000-8000-000900000004}""#,
            r#""sp:00000000000040008000000900000004""#,
            r#""sp:00000000-0000-4000-8000-00090000000g""#,
            r#""sp:00000000-0000-4000-8000-0009000000045""#,
            r#""sp:é0000000-0000-4000-8000-00090000000""#,
            "900123456",
            r#"["sp:00000000-0000-4000-8000-000900000004"]"#,
        ] {
            assert_eq!(user_id(reference), UserId::Invalid, "{reference}");
        }
        assert_eq!(user_id("null"), UserId::Absent);
        let body = br#"{"Person":{"Name":{"FirstName":"FAKEY"}}}"#;
        assert_eq!(parse(body).expect("applicant").user_id, UserId::Absent);
    }

    #[test]
    fn middle_name_phones_and_email_are_read_for_redaction() {
        let body = br#"{"Person":{"Name":{"FirstName":"FAKEY","MiddleName":"QUINN"},
            "Phones":[{"Number":"5551231234"},{"Number":5550107788},{"Context":"home"}],
            "Email":"fakey@example.invalid"}}"#;
        let a = parse(body).expect("applicant");
        assert_eq!(a.middle_name.as_deref(), Some("QUINN"));
        assert_eq!(a.phones, ["5551231234", "5550107788"]);
        assert_eq!(a.email.as_deref(), Some("fakey@example.invalid"));
    }

    #[test]
    fn primary_address_wins_and_zip4_is_appended() {
        let body = br#"{"Person":{"Addresses":[
            {"StreetAddress1":"1 Other Rd","Context":"mailing"},
            {"StreetAddress1":"9 Fake Ln","StreetAddress2":"","Zip5":"00000","Zip4":"1234","Context":"primary"}]}}"#;
        let applicant = parse(body).expect("applicant");
        assert_eq!(applicant.other_addresses.len(), 1);
        assert_eq!(
            applicant.other_addresses[0].street1.as_deref(),
            Some("1 Other Rd")
        );
        let address = applicant.address.expect("address");
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
            "1234-abcd",
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
