//! How a test says it cannot run here, for the integration tests (`tests/common`) and the
//! library's unit tests alike (`src/lib.rs` includes this file as `crate::testing`).
//!
//! On a developer's machine a test that lacks root, a tool or a fixture prints `skipped: WHY`
//! and passes, so `cargo test` works anywhere. In CI it panics instead: CI runs as root and
//! `cargo xtask ci` installs every package the tests use, so a skip there is a test that stopped
//! testing without anyone noticing. CI is `RESCUE_CI` (set by `cargo xtask ci`) or `CI` (set by
//! .ci/run's caller and most CI services), either non-empty and not `0` or `false`.
//!
//! The only skips allowed in CI are facts about the kernel or the file system the tests run
//! on, which no package install changes. Each is a variant of [`Unsupported`], reported with
//! [`unsupported`]:
//! - [`Unsupported::UserXattrs`]: the temp directory's file system keeps no `user.*`
//!   extended attributes (tmpfs before Linux 6.6, some overlay and sandbox file systems);
//! - [`Unsupported::FileCapabilities`]: it keeps no `security.capability` attribute;
//! - [`Unsupported::Ipv6Loopback`]: there is no `::1` to listen on (IPv6 disabled in the kernel
//!   or the network namespace);
//! - [`Unsupported::AccessTimes`]: the file system records no reads (mounted `noatime`, or a
//!   sandbox's file system): "nothing was read" is then checked by its outcome only.
#![allow(dead_code)]

use std::process::Command;

/// Whether this is a CI run, where [`skip`] fails the test.
pub fn in_ci() -> bool {
    ci_says(|name| std::env::var(name).ok())
}

/// [`in_ci`] for any environment: `RESCUE_CI` or `CI`, non-empty and not `0` or `false`.
pub fn ci_says(var: impl Fn(&str) -> Option<String>) -> bool {
    ["RESCUE_CI", "CI"]
        .iter()
        .any(|name| var(name).is_some_and(|value| !matches!(value.as_str(), "" | "0" | "false")))
}

/// Says why this test (or the rest of it) does not run here; the caller then returns. Panics
/// in CI, where every reason a test can give should have been provided.
#[track_caller]
pub fn skip(reason: &str) {
    if in_ci() {
        panic!("this test would skip in CI ({reason}): install or set up what it needs, see tests/common/skip.rs");
    }
    eprintln!("skipped: {reason}");
}

/// What the kernel or file system under the tests may lack, the only skips CI allows.
#[derive(Debug, Clone, Copy)]
pub enum Unsupported {
    UserXattrs,
    FileCapabilities,
    Ipv6Loopback,
    AccessTimes,
}

/// Says that this test does not run here because of `what`, even in CI.
pub fn unsupported(what: Unsupported, detail: &str) {
    eprintln!("skipped: {detail} ({what:?} is not supported here)");
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether we run as root; when not, the test is skipped with `why` (see [`skip`]).
#[track_caller]
pub fn root_or_skip(why: &str) -> bool {
    let root = is_root();
    if !root {
        skip(&format!("not root: {why}"));
    }
    root
}

/// Whether a program is on PATH (GNU peers, dpkg).
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null"))
        .status()
        .map(|status| status.success())
        .unwrap_or(false)
}

/// Whether a program is on PATH; when not, the test is skipped naming it (see [`skip`]).
#[track_caller]
pub fn have_or_skip(program: &str) -> bool {
    let found = have(program);
    if !found {
        skip(&format!("{program} is not installed"));
    }
    found
}
