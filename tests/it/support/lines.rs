//! Reading shadow lines: the result keys in the contract's order, a JSON object's keys, a line's event properties.

use serde_json::Value;

/// The keys of both vendors' results, in the order CONTRACT.md section 3
/// fixes (identity-idp's `Resolution::Result#to_h`).
pub const RESULT_KEYS: [&str; 11] = [
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
];

/// The keys of a JSON object, in order.
pub fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// The `event_properties` of a line.
pub fn event(line: &Value) -> &Value {
    &line["properties"]["event_properties"]
}

/// An event's InstantVerify verdict, where identity-idp's event has it:
/// `resolution_result.context.stages.resolution`. Checks on the way that
/// the adjudicated result's four own fields are that stage's.
pub fn resolution(event: &Value) -> &Value {
    let result = &event["resolution_result"];
    let stage = &result["context"]["stages"]["resolution"];
    assert!(stage.is_object(), "no resolution stage in {result}");
    for key in ["success", "errors", "exception", "timed_out"] {
        assert_eq!(result[key], stage[key], "resolution_result.{key}");
    }
    stage
}
