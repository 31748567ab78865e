//! The judged answer of one vendor: identity-idp's `Proofing::Resolution::Result#to_h`, key for key.
//!
//! Both vendors' answers end up in this one shape so that a query written for
//! the IdP's own `events.log` reads our lines unchanged. Field order is the
//! serialisation order, and it is the order CONTRACT.md section 3 fixes.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::redact::IdWithheld;

/// One vendor's verdict on one applicant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub success: bool,
    /// identity-idp's `errors` hash; insertion order is kept because the
    /// IdP logs `base` first.
    pub errors: Errors,
    /// A short message, never a vendor body: bodies can carry PII.
    pub exception: Option<String>,
    pub timed_out: bool,
    /// The vendor's id: a string or number as the vendor sent it, redacted
    /// ([`crate::redact::Redactor::id`]); `null` when absent, or when it was
    /// something else ([`Verdict::ids_withheld`] says why).
    pub transaction_id: Value,
    pub reference: Value,
    pub can_pass_with_additional_verification: bool,
    pub attributes_requiring_additional_verification: Vec<String>,
    pub vendor_name: &'static str,
    pub vendor_workflow: Option<String>,
    pub verified_attributes: Option<Vec<String>>,
    /// Which ids the vendor filled with something that is not an id. Not one
    /// of the result's keys (CONTRACT.md section 3 fixes them, for both
    /// vendors alike): the line says it beside the results, as
    /// `ids_withheld`.
    #[serde(skip)]
    pub ids_withheld: IdsWithheld,
}

/// An attribute of the applicant as the results name it, in
/// `attributes_requiring_additional_verification` (LexisNexis's failed
/// checks) and `verified_attributes` (Socure's): identity-idp's names,
/// spelled once here for both vendors and the report.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum Attribute {
    Address,
    FirstName,
    LastName,
    Phone,
    Ssn,
    Dob,
    /// A death-record check failed (LexisNexis only).
    Dead,
    StateIdNumber,
    /// A LexisNexis check identity-idp does not map.
    Unknown,
}

impl Attribute {
    /// The name the results carry.
    pub fn label(self) -> &'static str {
        self.into()
    }
}

/// Why `transaction_id` or `reference` is `null` when the vendor sent one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdsWithheld {
    pub transaction_id: Option<IdWithheld>,
    pub reference: Option<IdWithheld>,
}

impl Verdict {
    /// A failed verdict that carries only an exception message, the shape
    /// identity-idp builds when a vendor call raises. identity-idp's
    /// `Result` defaults `transaction_id` and `reference` to `""`.
    pub fn exception(
        vendor_name: &'static str,
        vendor_workflow: Option<String>,
        message: impl Into<String>,
        timed_out: bool,
    ) -> Self {
        Self {
            success: false,
            errors: Errors::default(),
            exception: Some(message.into()),
            timed_out,
            transaction_id: Value::String(String::new()),
            reference: Value::String(String::new()),
            can_pass_with_additional_verification: false,
            attributes_requiring_additional_verification: Vec::new(),
            vendor_name,
            vendor_workflow,
            verified_attributes: None,
            ids_withheld: IdsWithheld::default(),
        }
    }
}

/// identity-idp's `errors` hash: keys in the order Ruby's hash keeps them
/// (an existing key keeps its place when given a new value), each value
/// either built by a judge or written as it was read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Errors(IndexMap<String, ErrorValue>);

/// One value of [`Errors`].
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ErrorValue {
    Built(Value),
    /// JSON the judge wrote while reading the answer (a LexisNexis product,
    /// redacted, escaped as the line escapes), copied into the line as it
    /// is: building it as a `Value` and writing that again cost more than
    /// the rest of the judging.
    Written(Box<RawValue>),
}

impl Errors {
    /// Sets `key`; an existing key keeps its place, as in Ruby.
    pub fn insert(&mut self, key: String, value: ErrorValue) {
        self.0.insert(key, value);
    }

    /// Removes `key`, keeping the others in order.
    pub fn shift_remove(&mut self, key: &str) -> Option<ErrorValue> {
        self.0.shift_remove(key)
    }

    pub fn get(&self, key: &str) -> Option<&ErrorValue> {
        self.0.get(key)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The hash as built JSON: for readers that look into it (tests, tools).
    pub fn to_map(&self) -> Map<String, Value> {
        self.0
            .iter()
            .map(|(key, value)| (key.clone(), value.to_value()))
            .collect()
    }
}

impl IntoIterator for Errors {
    type Item = (String, ErrorValue);
    type IntoIter = indexmap::map::IntoIter<String, ErrorValue>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<(String, ErrorValue)> for Errors {
    fn from_iter<I: IntoIterator<Item = (String, ErrorValue)>>(entries: I) -> Self {
        Self(entries.into_iter().collect())
    }
}

impl From<Map<String, Value>> for Errors {
    fn from(map: Map<String, Value>) -> Self {
        Self(
            map.into_iter()
                .map(|(key, value)| (key, ErrorValue::Built(value)))
                .collect(),
        )
    }
}

impl ErrorValue {
    /// The value as built JSON (a written one parsed back).
    pub fn to_value(&self) -> Value {
        match self {
            Self::Built(value) => value.clone(),
            Self::Written(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
        }
    }
}

/// Equal when they are the same JSON, however each was made.
impl PartialEq for ErrorValue {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Built(a), Self::Built(b)) => a == b,
            (Self::Written(a), Self::Written(b)) => a.get() == b.get(),
            _ => self.to_value() == other.to_value(),
        }
    }
}

/// The elements of a JSON array, or none when `value` is absent or not an
/// array: vendors' optional lists are judged the same whether missing or empty.
pub fn elements(value: Option<&Value>) -> &[Value] {
    value
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}
