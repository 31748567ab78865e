//! Pure: the bytes of a LexisNexis InstantVerify request become an [`Applicant`]. No I/O.
//!
//! Real traffic may carry extra fields, another order, `null`s, unicode or a
//! missing part (CONTRACT.md section 1). The forward path never looks at this;
//! the mirror does what it can with what is there and never invents a value.
//! Nothing here quotes the body: errors say where parsing stopped, not what
//! was there, because the body is PII.

use std::fmt;

use serde_json::Value;

use crate::lenient::{Opaque, Shape};

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
    fn of(reference: Option<&Shape<'_, Option<Opaque>>>) -> Self {
        match reference {
            None | Some(Shape::Null) => UserId::Absent,
            Some(Shape::Text(reference)) => match reference.rsplit(':').next() {
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
///
/// The body is read straight into the fields below (`fields::read`:
/// borrowed text, everything else skipped unbuilt); only a body that
/// reader refuses, which a `Value` refuses too, is parsed again as a
/// `Value`, for the place where it stopped.
pub fn parse(body: &[u8]) -> Result<Applicant, ApplicantError> {
    match fields::read(body) {
        Ok(Some(fields)) => build(fields),
        Ok(None) => Err(ApplicantError::NotAnApplicant(
            "the body is not a JSON object",
        )),
        Err(_) => {
            let root: Value =
                serde_json::from_slice(body).map_err(|err| ApplicantError::NotJson {
                    line: err.line(),
                    column: err.column(),
                })?;
            match root.as_object() {
                Some(root) => build(fields::of(root)),
                None => Err(ApplicantError::NotAnApplicant(
                    "the body is not a JSON object",
                )),
            }
        }
    }
}

/// The applicant from the request's fields, as identity-idp sent them.
fn build(fields: Fields<'_>) -> Result<Applicant, ApplicantError> {
    let person = fields
        .person
        .ok_or(ApplicantError::NotAnApplicant("no Person object"))?;
    let addresses = person.addresses.as_deref();
    let reference = fields.reference.as_ref();
    let applicant = Applicant {
        first_name: text(&person.name[0]),
        middle_name: text(&person.name[1]),
        last_name: text(&person.name[2]),
        ssn: text(&person.ssn),
        dob: dob(&person.dob),
        address: addresses.and_then(primary_address),
        other_addresses: addresses.map(other_addresses).unwrap_or_default(),
        phones: person.phones.iter().filter_map(text).collect(),
        email: text(&person.email),
        user_uuid: match reference {
            Some(Shape::Text(reference)) => reference
                .rsplit(':')
                .next()
                .filter(|uuid| !uuid.is_empty())
                .map(str::to_owned),
            _ => None,
        },
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

/// A field's value as read: `None` when absent.
type Leaf<'a> = Option<Shape<'a, Option<Opaque>>>;

/// What an applicant is built from: the values a `Value` lookup finds at
/// each path (the last of a duplicated key; nothing under a value that is
/// not an object).
struct Fields<'a> {
    /// `Settings.Reference`.
    reference: Leaf<'a>,
    /// `Person`, when it is an object.
    person: Option<Person<'a>>,
}

#[derive(Default)]
struct Person<'a> {
    /// `Name.FirstName`, `Name.MiddleName`, `Name.LastName`.
    name: [Leaf<'a>; 3],
    /// `SSN.Number`.
    ssn: Leaf<'a>,
    /// `DateOfBirth.Year`, `.Month`, `.Day`.
    dob: [Leaf<'a>; 3],
    /// `Addresses`, when it is a list: each item's fields, `None` for an
    /// item that is not an object (it still has its place).
    addresses: Option<Vec<Option<AddressFields<'a>>>>,
    /// `Phones[].Number`, when `Phones` is a list.
    phones: Vec<Leaf<'a>>,
    email: Leaf<'a>,
}

/// One address's fields, in [`ADDRESS_KEYS`]' order.
type AddressFields<'a> = [Leaf<'a>; 7];

const NAME_KEYS: [&str; 3] = ["FirstName", "MiddleName", "LastName"];
const DOB_KEYS: [&str; 3] = ["Year", "Month", "Day"];
const ADDRESS_KEYS: [&str; 7] = [
    "StreetAddress1",
    "StreetAddress2",
    "City",
    "State",
    "Zip5",
    "Zip4",
    "Context",
];

/// A string as sent; a number is carried as its JSON text (a Zip5 sent as
/// 70802 is still that zip). Anything else is absent.
fn text(value: &Leaf<'_>) -> Option<String> {
    match value.as_ref()? {
        Shape::Text(s) => Some(s.clone().into_owned()),
        Shape::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(value: &Leaf<'_>) -> Option<i64> {
    text(value)?.trim().parse().ok()
}

fn dob([year, month, day]: &[Leaf<'_>; 3]) -> Option<Dob> {
    let year = i32::try_from(number(year)?).ok()?;
    let month = u8::try_from(number(month)?).ok()?;
    let day = u8::try_from(number(day)?).ok()?;
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
fn primary_index(addresses: &[Option<AddressFields<'_>>]) -> Option<usize> {
    addresses
        .iter()
        .position(|a| {
            matches!(a.as_ref().and_then(|a| a[6].as_ref()), Some(Shape::Text(context)) if context == "primary")
        })
        .or_else(|| (!addresses.is_empty()).then_some(0))
}

fn primary_address(addresses: &[Option<AddressFields<'_>>]) -> Option<Address> {
    address(addresses.get(primary_index(addresses)?)?.as_ref()?)
}

fn other_addresses(addresses: &[Option<AddressFields<'_>>]) -> Vec<Address> {
    let primary = primary_index(addresses);
    addresses
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != primary)
        .filter_map(|(_, a)| address(a.as_ref()?))
        .collect()
}

fn address(chosen: &AddressFields<'_>) -> Option<Address> {
    let address = Address {
        street1: text(&chosen[0]),
        street2: text(&chosen[1]),
        city: text(&chosen[2]),
        state: text(&chosen[3]),
        zip5: text(&chosen[4]),
        zip4: text(&chosen[5]),
    };
    (address != Address::default()).then_some(address)
}

/// The request's fields read two ways: straight from the bytes (`read`)
/// or from a parsed `Value` (`of`), to the same [`Fields`].
mod fields {
    use std::borrow::Cow;
    use std::marker::PhantomData;

    use serde::de::{MapAccess, SeqAccess};
    use serde_json::{Map, Value};

    use super::{ADDRESS_KEYS, DOB_KEYS, Fields, Leaf, NAME_KEYS, Person};
    use crate::lenient::{Any, Key, Nested, Opaque, Shape, Skip, from_body};

    /// The fields, `None` when the body is JSON but not an object; an error
    /// when it is not JSON (for a `Value` neither).
    pub(super) fn read(body: &[u8]) -> serde_json::Result<Option<Fields<'_>>> {
        Ok(
            match from_body(body, PhantomData::<Any<'_, Fields<'_>>>)?.0 {
                Shape::Nested(fields) => fields,
                _ => None,
            },
        )
    }

    /// The fields of a parsed body.
    pub(super) fn of(root: &Map<String, Value>) -> Fields<'_> {
        let person = root
            .get("Person")
            .and_then(Value::as_object)
            .map(|person| Person {
                name: picked(person.get("Name"), &NAME_KEYS),
                ssn: leaf(person.get("SSN").and_then(|s| s.get("Number"))),
                dob: picked(person.get("DateOfBirth"), &DOB_KEYS),
                addresses: person
                    .get("Addresses")
                    .and_then(Value::as_array)
                    .map(|items| {
                        items
                            .iter()
                            .map(|item| item.as_object().map(|_| picked(Some(item), &ADDRESS_KEYS)))
                            .collect()
                    }),
                phones: person
                    .get("Phones")
                    .and_then(Value::as_array)
                    .map(|phones| phones.iter().map(|p| leaf(p.get("Number"))).collect())
                    .unwrap_or_default(),
                email: leaf(person.get("Email")),
            });
        Fields {
            reference: leaf(root.get("Settings").and_then(|s| s.get("Reference"))),
            person,
        }
    }

    fn leaf(value: Option<&Value>) -> Leaf<'_> {
        value.map(shape)
    }

    /// The values at `keys` of `value` (nothing when it is not an object).
    fn picked<'a, const N: usize>(value: Option<&'a Value>, keys: &[&str; N]) -> [Leaf<'a>; N] {
        keys.map(|key| leaf(value.and_then(|v| v.get(key))))
    }

    /// A `Value` as the shape the typed reader gives it.
    fn shape(value: &Value) -> Shape<'_, Option<Opaque>> {
        match value {
            Value::Null => Shape::Null,
            Value::Bool(_) => Shape::Bool,
            Value::Number(n) => Shape::Number(n.clone()),
            Value::String(s) => Shape::Text(Cow::Borrowed(s)),
            Value::Array(_) | Value::Object(_) => Shape::Nested(Some(Opaque)),
        }
    }

    /// The keys a [`Picked`] keeps (at most [`MAX_KEYS`]).
    trait Keys {
        const KEYS: &'static [&'static str];
    }

    const MAX_KEYS: usize = 7;

    struct NameKeys;
    impl Keys for NameKeys {
        const KEYS: &'static [&'static str] = &NAME_KEYS;
    }
    struct DobKeys;
    impl Keys for DobKeys {
        const KEYS: &'static [&'static str] = &DOB_KEYS;
    }
    struct AddressKeys;
    impl Keys for AddressKeys {
        const KEYS: &'static [&'static str] = &ADDRESS_KEYS;
    }
    /// `SSN.Number`, `Phones[].Number`.
    struct NumberKey;
    impl Keys for NumberKey {
        const KEYS: &'static [&'static str] = &["Number"];
    }
    struct SettingsKeys;
    impl Keys for SettingsKeys {
        const KEYS: &'static [&'static str] = &["Reference"];
    }

    /// An object's values at `K`'s keys, in their order (the last of a
    /// duplicated key; anything else skipped).
    struct Picked<'a, K>([Leaf<'a>; MAX_KEYS], PhantomData<K>);

    impl<'de, K: Keys> Nested<'de> for Picked<'de, K> {
        fn object<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
            let mut leaves = [(); MAX_KEYS].map(|()| None);
            while let Some(Key(key)) = map.next_key()? {
                match K::KEYS.iter().position(|k| *k == key) {
                    Some(i) if i < MAX_KEYS => {
                        leaves[i] = Some(map.next_value::<Any<'de, Opaque>>()?.0);
                    }
                    _ => {
                        map.next_value::<Skip>()?;
                    }
                }
            }
            Ok(Some(Picked(leaves, PhantomData)))
        }
    }

    /// The first `N` leaves of a value read as [`Picked`]: none when it is
    /// not an object.
    fn leaves<'a, K, const N: usize>(value: Any<'a, Picked<'a, K>>) -> [Leaf<'a>; N] {
        match value.0 {
            Shape::Nested(Some(Picked(leaves, _))) => {
                let mut leaves = leaves.into_iter();
                [(); N].map(|()| leaves.next().flatten())
            }
            _ => [(); N].map(|()| None),
        }
    }

    /// A list's items, each read by `T` (`None`: not an object); not a
    /// list, none.
    struct Items<T>(Vec<Option<T>>);

    impl<'de, T: Nested<'de>> Nested<'de> for Items<T> {
        fn list<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<Any<'de, T>>()? {
                items.push(match item.0 {
                    Shape::Nested(item) => item,
                    _ => None,
                });
            }
            Ok(Some(Items(items)))
        }
    }

    impl<'de> Nested<'de> for Person<'de> {
        fn object<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
            let mut person = Person::default();
            while let Some(Key(key)) = map.next_key()? {
                match &*key {
                    "Name" => person.name = leaves::<NameKeys, 3>(map.next_value()?),
                    "SSN" => [person.ssn] = leaves::<NumberKey, 1>(map.next_value()?),
                    "DateOfBirth" => person.dob = leaves::<DobKeys, 3>(map.next_value()?),
                    "Addresses" => {
                        person.addresses = match map
                            .next_value::<Any<'de, Items<Picked<'de, AddressKeys>>>>()?
                            .0
                        {
                            Shape::Nested(Some(Items(items))) => Some(
                                items
                                    .into_iter()
                                    .map(|item| {
                                        item.map(|Picked(leaves, _)| {
                                            let mut leaves = leaves.into_iter();
                                            [(); 7].map(|()| leaves.next().flatten())
                                        })
                                    })
                                    .collect(),
                            ),
                            _ => None,
                        }
                    }
                    "Phones" => {
                        person.phones = match map
                            .next_value::<Any<'de, Items<Picked<'de, NumberKey>>>>()?
                            .0
                        {
                            Shape::Nested(Some(Items(items))) => items
                                .into_iter()
                                .map(|item| item.and_then(|Picked([number, ..], _)| number))
                                .collect(),
                            _ => Vec::new(),
                        }
                    }
                    "Email" => person.email = Some(map.next_value::<Any<'de, Opaque>>()?.0),
                    _ => {
                        map.next_value::<Skip>()?;
                    }
                }
            }
            Ok(Some(person))
        }
    }

    impl<'de> Nested<'de> for Fields<'de> {
        fn object<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
            let mut fields = Fields {
                reference: None,
                person: None,
            };
            while let Some(Key(key)) = map.next_key()? {
                match &*key {
                    "Settings" => {
                        [fields.reference] = leaves::<SettingsKeys, 1>(map.next_value()?);
                    }
                    "Person" => {
                        fields.person = match map.next_value::<Any<'de, Person<'de>>>()?.0 {
                            Shape::Nested(person) => person,
                            _ => None,
                        }
                    }
                    _ => {
                        map.next_value::<Skip>()?;
                    }
                }
            }
            Ok(Some(fields))
        }
    }
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

    /// The typed reading takes what a `Value` lookup took: what serde_json
    /// refuses as a `Value` (a number out of range, nesting deeper than
    /// 128, a lone surrogate) is not JSON here either, even under a key no
    /// field is read from, and says where it stopped; the last of a
    /// duplicated key counts; an escaped key is its text; a value of
    /// another type is absent; an address that is not an object keeps its
    /// place.
    #[test]
    fn typed_reading_takes_what_a_value_lookup_took() {
        let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
        for refused in [
            r#"{"Person":{"Name":{"FirstName":"FAKEY"}},"x":1e400}"#.to_owned(),
            format!(r#"{{"Person":{{"Name":{{"FirstName":"FAKEY"}}}},"x":{deep}}}"#),
            r#"{"Person":{"Name":{"FirstName":"FAKEY"}},"x":"\ud800"}"#.to_owned(),
        ] {
            assert!(
                matches!(
                    parse(refused.as_bytes()),
                    Err(ApplicantError::NotJson { line: 1, .. })
                ),
                "{refused}"
            );
        }
        let a = parse(
            br#"{"Person":{"Name":{"FirstName":"NOBODY"}},"P\u0065rson":{"Name":[1],"Name":{
                "FirstName":"NOBODY","LastName":["MCFAKERSON"],"FirstName":"FAKEY"},
                "SSN":{"Number":900123456},"Addresses":[1,{"Zip5":59010,"Context":"mailing"},
                {"StreetAddress1":"1 FAKE RD","Context":"primary"}],"Phones":[{"Number":true},
                {"Number":"5551231234"},"x"],"Email":{"a":1}},"Settings":{"Reference":"sp:x"}}"#,
        )
        .expect("applicant");
        assert_eq!(a.first_name.as_deref(), Some("FAKEY"));
        assert_eq!(a.last_name, None);
        assert_eq!(a.ssn.as_deref(), Some("900123456"));
        let primary = a.address.expect("address");
        assert_eq!(primary.street1.as_deref(), Some("1 FAKE RD"));
        assert_eq!(a.other_addresses.len(), 1);
        assert_eq!(a.other_addresses[0].zip5.as_deref(), Some("59010"));
        assert_eq!(a.phones, ["5551231234"]);
        assert_eq!(a.email, None);
        assert_eq!(a.user_uuid.as_deref(), Some("x"));
        assert_eq!(a.user_id, UserId::Invalid);
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
