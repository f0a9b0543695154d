//! `rescue`: one static binary for the worst day of a Debian-family host.
//!
//! The library is everything but the command line: it never prints and never exits. Applets in
//! [`applets`] parse arguments, call into the library, and decide messages and exit codes.

pub mod applets;
pub mod deb;
pub mod doctor;
pub mod dpkg;
pub mod error;
pub mod kit;
pub mod restore;
pub mod sources;
pub mod sys;
pub mod verify;

pub use error::{Error, Result};

/// When a unit test may skip: one policy for unit and integration tests (see the file).
#[cfg(test)]
#[path = "../tests/common/skip.rs"]
mod testing;

#[cfg(test)]
mod tests {
    use crate::testing::ci_says;

    /// The skip policy's one decision: what counts as a CI run.
    #[test]
    fn ci_is_either_variable_set_to_something_true() {
        let with = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            ci_says(move |name| {
                pairs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
        };
        assert!(!with(&[]));
        assert!(with(&[("CI", "true")]));
        assert!(with(&[("RESCUE_CI", "1")]));
        assert!(!with(&[("CI", ""), ("RESCUE_CI", "0")]));
        assert!(!with(&[("CI", "false")]));
        assert!(with(&[("CI", "false"), ("RESCUE_CI", "1")]));
    }
}
