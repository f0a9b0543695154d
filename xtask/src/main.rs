//! Build automation for `rescue`, run as `cargo xtask TASK` (the alias is in .cargo/config.toml):
//!
//!   dist               static musl build, proof that it is static, target/dist/{rescue,SHA256SUMS},
//!                      man pages and shell completions (target/dist/{man,completions})
//!   dist --target aarch64-unknown-linux-musl
//!                      the same for arm64, cross-built with Debian's cross gcc and musl
//!                      (installed when missing): target/dist/aarch64/{rescue,SHA256SUMS}
//!   deb                target/dist/rescue_VERSION_ARCH.deb from dist, checked by lintian if present
//!   ci                 everything CI checks: fmt, clippy, dist (x86_64, then aarch64 run under
//!                      qemu by the tests), the .deb, function length, tests
//!                      (installs what it needs; the tests run with RESCUE_CI=1: no skips)
//!   bench [NAME...]    rescue against its peers on this machine's own files, printed as ratios
//!                      (ls, cp, verify, md5, restore; verify-variants on request)
//!   fuzz [--seconds N] [--jobs N] [TARGET...]
//!                      the libFuzzer targets in fuzz/, N seconds each (60), on stable Rust
//!   check-static FILE  the ELF proof alone: exit 1 if FILE has an interpreter or DT_NEEDED
//!   fn-length          every function in src/ at most 100 lines: prints each one longer
//!   gnu-tests [--check] [UTIL|TEST...]
//!                      GNU coreutils 9.1's own tests against the file applets, as root and
//!                      as nobody; writes tests/gnu/results.txt (--check: fail on a lost pass)

mod bench;
mod bench_restore;
mod ci;
mod cross;
mod deb;
mod dist;
mod docs;
mod elf;
mod fn_length;
mod fuzz;
mod gnu_tests;
mod shell;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dist") => dist_command(&args[1..]),
        Some("deb") => deb::run().map(|_| ()),
        Some("ci") => ci::run(),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("fn-length") => fn_length::run(),
        Some("gnu-tests") => gnu_tests::run(&args[1..]),
        Some("check-static") if args.len() == 2 => {
            elf::check_static(std::path::Path::new(&args[1]))
        }
        _ => Err(
            "usage: cargo xtask dist [--target TRIPLE] | deb | ci | bench [ls|cp|verify|md5|restore|verify-variants]... \
             | fuzz [--seconds N] [--jobs N] [TARGET]... | check-static FILE | fn-length \
             | gnu-tests [--check] [UTIL|TEST]..."
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `dist`, or `dist --target TRIPLE`: the x86_64 triple is the plain build, another a cross one.
fn dist_command(args: &[String]) -> Result {
    let target = match args {
        [] => None,
        [flag, target] if flag == "--target" => Some(target.as_str()),
        [flag] if flag.starts_with("--target=") => Some(&flag["--target=".len()..]),
        _ => return Err("usage: cargo xtask dist [--target TRIPLE]".into()),
    };
    match target {
        None => dist::run().map(|_| ()),
        Some(target) if target == dist::TARGET => dist::run().map(|_| ()),
        Some(target) => cross::dist(cross::find(target)?).map(|_| ()),
    }
}

pub type Result<T = ()> = std::result::Result<T, String>;
