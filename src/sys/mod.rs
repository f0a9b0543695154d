//! The thin OS layer: root-confined path resolution, inputs opened only when they are regular
//! files and read with bounded lines, accounts read from ROOT's own files, error text without
//! Rust's "(os error N)" suffix, the copy engine, the descriptor-relative tree walk and the
//! symlink-safe removal the file applets share, extended attributes and file capabilities,
//! mode and date specifications as GNU parses them, the formatting `ls` and `stat` share
//! (mode strings, sizes, local time), and every way a name is quoted or escaped for output
//! (`quoting`).
//! Nothing here knows about dpkg or archives.

pub mod accounts;
pub mod at;
pub mod birth;
pub mod canonical;
pub mod capability;
pub mod civil;
pub mod copy;
pub mod date_spec;
pub mod errno;
pub mod human;
pub mod input;
pub mod localtime;
pub mod login_group;
pub mod mode;
pub mod mode_spec;
pub mod parallel;
pub mod quoting;
pub mod remove;
pub mod root;
pub mod tree;
pub mod xattr;
