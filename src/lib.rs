//! `rescue`: one static binary for the worst day of a Debian-family host.
//!
//! The library is everything but the command line: it never prints and never exits. Applets in
//! [`applets`] parse arguments, call into the library, and decide messages and exit codes.

pub mod applets;
pub mod deb;
pub mod dpkg;
pub mod error;
pub mod restore;
pub mod sources;
pub mod sys;
pub mod verify;

pub use error::{Error, Result};

/// When a unit test may skip: one policy for unit and integration tests (see the file).
#[cfg(test)]
#[path = "../tests/common/skip.rs"]
mod testing;
