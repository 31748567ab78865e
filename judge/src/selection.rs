//! Pure: the sticky sample draw for a user, and the keyed fingerprint of an applicant's identity.
//!
//! Socure bills per call, so the proxy sends only a share of applicants
//! (`shadow.sample_percent`) and never the same one twice within a window
//! (`shadow.dedup_window_seconds`). This is what those decisions compute
//! from; the state they keep (the day's count, the window) and the random
//! draws they need are the proxy's.

use ring::{digest, hmac};

use crate::applicant::Applicant;

/// Basis points in 100%.
pub const ALL: u32 = 10_000;

/// The sample draw for the user with this uuid: a plain SHA-256, so every
/// replica puts the same person on the same side. The uuid is in the line
/// already, so the draw reveals nothing new.
pub fn draw(user_uuid: &str) -> u64 {
    let hash = digest::digest(
        &digest::SHA256,
        user_uuid.trim().to_ascii_lowercase().as_bytes(),
    );
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_ref()[..8]);
    u64::from_be_bytes(first)
}

/// Whether `draw` falls in a sample of `basis_points` (0 to 10,000).
pub fn sampled_in(draw: u64, basis_points: u32) -> bool {
    if basis_points >= ALL {
        return true;
    }
    draw % u64::from(ALL) < u64::from(basis_points)
}

/// The keyed hash of the fields that identify a person, normalized so case,
/// spacing and SSN dashes do not make a new person. Under a key that is
/// never written anywhere, nothing kept can be turned back into a person.
pub fn fingerprint(applicant: &Applicant, key: &hmac::Key) -> [u8; 32] {
    let norm = |value: Option<&str>| {
        value
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let address = applicant.address.as_ref();
    let fields = [
        norm(applicant.first_name.as_deref()),
        norm(applicant.last_name.as_deref()),
        applicant
            .ssn
            .as_deref()
            .unwrap_or("")
            .chars()
            .filter(char::is_ascii_digit)
            .collect(),
        applicant.dob.map(|d| d.iso()).unwrap_or_default(),
        norm(address.and_then(|a| a.street1.as_deref())),
        norm(address.and_then(|a| a.city.as_deref())),
        norm(address.and_then(|a| a.state.as_deref())),
        norm(address.and_then(|a| a.zip5.as_deref())),
    ];
    let mut context = hmac::Context::with_key(key);
    for field in &fields {
        // Length-prefixed, so fields cannot run into each other.
        context.update(&(field.len() as u64).to_be_bytes());
        context.update(field.as_bytes());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.sign().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applicant;

    #[test]
    fn the_sample_is_sticky_and_near_its_share() {
        let draws: Vec<u64> = (0..10_000)
            .map(|i| draw(&format!("00000000-0000-4000-8000-{i:012}")))
            .collect();
        let share = |bp| draws.iter().filter(|d| sampled_in(**d, bp)).count();
        assert_eq!(share(0), 0);
        assert_eq!(share(ALL), draws.len());
        let thirty = share(3_000);
        // Binomial(10000, 0.3): sd about 46; 5 sd either side.
        assert!((2_770..=3_230).contains(&thirty), "{thirty}");
        // The same user, however the uuid is cased or padded, draws the same.
        assert_eq!(
            draw(" 00000000-0000-4000-8000-00000000000A "),
            draw("00000000-0000-4000-8000-00000000000a")
        );
    }

    #[test]
    fn a_fingerprint_ignores_case_spacing_and_dashes_but_not_the_person() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"fake-test-key");
        let person = |first: &str, ssn: &str| {
            let body = format!(
                r#"{{"Person":{{"Name":{{"FirstName":"{first}","LastName":"MCFAKERSON"}},"SSN":{{"Number":"{ssn}"}}}}}}"#
            );
            applicant::parse(body.as_bytes()).expect("applicant")
        };
        let base = fingerprint(&person("FAKEY", "900-00-0001"), &key);
        assert_eq!(base, fingerprint(&person(" fakey ", "900000001"), &key));
        assert_ne!(base, fingerprint(&person("FAKEY", "900000002"), &key));
        let other_key = hmac::Key::new(hmac::HMAC_SHA256, b"another-fake-key");
        assert_ne!(base, fingerprint(&person("FAKEY", "900000001"), &other_key));
    }
}
