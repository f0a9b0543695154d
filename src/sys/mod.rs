//! The thin OS layer: root-confined path resolution, accounts read from ROOT's own files,
//! error text without Rust's "(os error N)" suffix, and the little /proc and ELF reading the
//! debug applets need. Nothing here knows about dpkg or archives.

pub mod accounts;
pub mod birth;
pub mod canonical;
pub mod errno;
pub mod human;
pub mod localtime;
pub mod mode;
pub mod quoting;
pub mod root;
