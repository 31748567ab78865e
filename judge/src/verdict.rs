//! The judged answer of one vendor: identity-idp's `Proofing::Resolution::Result#to_h`, key for key.
//!
//! Both vendors' answers end up in this one shape so that a query written for
//! the IdP's own `events.log` reads our lines unchanged. Field order is the
//! serialisation order, and it is the order CONTRACT.md section 3 fixes.

use serde::Serialize;
use serde_json::{Map, Value};

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
    /// Carried as the vendor sent it (string, number or absent), never retyped.
    pub transaction_id: Value,
    pub reference: Value,
    pub can_pass_with_additional_verification: bool,
    pub attributes_requiring_additional_verification: Vec<String>,
    pub vendor_name: &'static str,
    pub vendor_workflow: Option<String>,
    pub verified_attributes: Option<Vec<String>>,
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
