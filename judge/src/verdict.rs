//! The judged answer of one vendor: identity-idp's `Proofing::Resolution::Result#to_h`, key for key.
//!
//! Both vendors' answers end up in this one shape so that a query written for
//! the IdP's own `events.log` reads our lines unchanged. Field order is the
//! serialisation order, and it is the order CONTRACT.md section 3 fixes.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::redact::IdWithheld;

/// One vendor's verdict on one applicant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub success: bool,
    /// identity-idp's `errors` hash; insertion order is kept (serde_json
    /// `preserve_order`) because the IdP logs `base` first.
    pub errors: Map<String, Value>,
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
            errors: Map::new(),
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

/// The elements of a JSON array, or none when `value` is absent or not an
/// array: vendors' optional lists are judged the same whether missing or empty.
pub fn elements(value: Option<&Value>) -> &[Value] {
    value
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}
