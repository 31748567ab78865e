//! The error alias every body and transport uses, and the one walker down an error's causes.
//!
//! At the bottom of the crate: everything may import it, it imports nothing.

use std::error::Error;

/// The error of any body the proxy moves, and of the resolvers under its client.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// `err` and every error under it, outermost first.
pub fn chain<'a>(
    err: &'a (dyn Error + 'static),
) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(err), |&cause| cause.source())
}

/// An I/O error in an operator's words: the system's message without the
/// `(os error N)` that std appends, which tells an operator nothing more.
pub fn io_reason(err: &std::io::Error) -> String {
    let shown = err.to_string();
    match (err.raw_os_error(), shown.rfind(" (os error ")) {
        (Some(_), Some(at)) => shown[..at].to_owned(),
        _ => shown,
    }
}

/// Whether `err` or any error under it is an `E`.
pub fn caused_by<E: Error + 'static>(err: &(dyn Error + 'static)) -> bool {
    chain(err).any(|cause| cause.is::<E>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_goes_down_every_source() {
        let err = Outer(std::io::Error::other("inner"));
        let shown: Vec<String> = chain(&err).map(ToString::to_string).collect();
        assert_eq!(shown, ["outer", "inner"]);
        assert!(caused_by::<std::io::Error>(&err));
        assert!(!caused_by::<std::fmt::Error>(&err));
    }

    #[test]
    fn an_os_error_reads_without_its_number() {
        let err = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(io_reason(&err), "No such file or directory");
        assert_eq!(io_reason(&std::io::Error::other("plain")), "plain");
    }
}
