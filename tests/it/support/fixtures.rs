//! The fixtures in `tests/fixtures/`, as bytes or as JSON.

use std::path::PathBuf;

use serde_json::Value;

/// A fixture from `tests/fixtures/`.
pub fn fixture(relative: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative);
    std::fs::read(&path).unwrap_or_else(|err| panic!("fixture {}: {err}", path.display()))
}

pub fn fixture_json(relative: &str) -> Value {
    serde_json::from_slice(&fixture(relative)).expect("fixture is JSON")
}
