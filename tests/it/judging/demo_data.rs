//! The demo's built-in answers (`src/bin/socure-shadow-proxy/demo/data/`) are identity-idp's fixtures, byte for byte.
//!
//! The binary carries its own copies, so that it needs nothing from
//! `tests/`; this keeps the copies from drifting from the fixtures.

use std::path::Path;

#[test]
fn every_demo_answer_is_its_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("src/bin/socure-shadow-proxy/demo/data");
    let mut compared = 0;
    for entry in std::fs::read_dir(&data).expect("demo data") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        // The copy's name says where the fixture is: `ln_`, `pf_`, `socure_`.
        let fixture = if let Some(rest) = name.strip_prefix("ln_") {
            format!("lexis_nexis/instant_verify/{rest}")
        } else if let Some(rest) = name.strip_prefix("pf_") {
            format!("lexis_nexis/phone_finder/{rest}")
        } else if let Some(rest) = name.strip_prefix("socure_") {
            format!("socure/{rest}")
        } else {
            panic!("{name}: not named after a fixture");
        };
        let copy = std::fs::read(&path).expect("copy");
        let original = std::fs::read(root.join("tests/fixtures").join(&fixture)).expect(&fixture);
        assert_eq!(
            copy, original,
            "{name} differs from tests/fixtures/{fixture}"
        );
        compared += 1;
    }
    assert_eq!(compared, 11, "the demo answers with eleven fixtures");
}
