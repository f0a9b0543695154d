//! Inputs that crashed a fuzz target (`cargo xtask fuzz`, fuzz/fuzz_targets/), each reduced to
//! the smallest one that still does. The reader must refuse such an input with an error, or
//! accept it, and never crash, hang or exhaust memory.
//!
//! A crash found but not fixed yet is marked `#[ignore]`: a stack overflow cannot be caught
//! and would abort the whole test process, so such a test runs only when asked (`cargo test
//! --test fuzz_regressions -- --ignored`). Whoever fixes the crash removes the mark. None is
//! marked today.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rescue::dpkg::maintscript::{eval, parse, World};

/// The stack each of verify's workers has (`std::thread::spawn`'s default), on which
/// maintainer scripts are parsed and walked.
const WORKER_STACK: usize = 2 << 20;

/// Far more than any script needs: a walk slower than this on a small input is a hang.
const TIME_LIMIT: Duration = Duration::from_secs(5);

struct Nothing;

impl World for Nothing {
    fn has_statoverride(&self, _: &Path) -> bool {
        false
    }
    fn truename(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
    fn command_exists(&self, _: &str) -> Option<bool> {
        None
    }
    fn debconf(&self, _: &str) -> Option<String> {
        None
    }
    fn file_test(&self, _: &str, _: &Path) -> Option<bool> {
        None
    }
}

/// Parses and walks `script` as verify does, on a worker's stack; a parse error is a clean
/// outcome. Returns how long it took.
fn parse_and_walk(script: String) -> Duration {
    std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(move || {
            let start = Instant::now();
            if let Ok(list) = parse::parse(&script) {
                eval::evaluate(&list, &[Some("configure"), None], &[], &Nothing);
            }
            start.elapsed()
        })
        .unwrap()
        .join()
        .unwrap()
}

fn nested(open: &str, middle: &str, close: &str, depth: usize) -> String {
    format!("{}{middle}{}\n", open.repeat(depth), close.repeat(depth))
}

#[test]
fn nesting_real_scripts_use_parses_and_walks() {
    for script in [
        nested("(", "chmod 4755 /usr/bin/x", ")", 100),
        nested("if true; then ", "chmod 4755 /usr/bin/x; ", "fi; ", 100),
        nested("$(", "echo x", ")", 100),
        nested("${a:-", "x", "}", 100),
        nested("{ ", "true; ", "}; ", 100),
    ] {
        assert!(parse_and_walk(script) < TIME_LIMIT);
    }
}

// Found with the maintscript target's harness: a 6,405-byte postinst of nested subshells
// overflows a worker's stack in `parse::Parser::list` -> `command` -> `list` (one frame set per
// level, no depth limit), and `rescue verify` dies of SIGSEGV/SIGABRT.
#[test]

fn nested_subshells_do_not_overflow_the_stack() {
    assert!(parse_and_walk(nested("(", "true", ")", 3200)) < TIME_LIMIT);
}

// Parses (1,600 levels fit), but the walk overflows: `eval::Interp` recurses per `if`, with no
// depth limit (its MAX_DEPTH bounds function calls only). 18,007 bytes.
#[test]

fn nested_ifs_do_not_overflow_the_stack() {
    assert!(parse_and_walk(nested("if true; then ", "true; ", "fi; ", 1000)) < TIME_LIMIT);
}

// `${a:-${a:-...}}`: `Lexer::dollar` -> `parse_braced` -> a new `Lexer::word_in_braces` per level,
// copying the rest of the text each time (quadratic: 1,000 levels take 27 ms, 3,000 overflow).
// 18,001 bytes.
#[test]

fn nested_parameter_defaults_do_not_overflow_the_stack() {
    assert!(parse_and_walk(nested("${a:-", "x", "}", 3000)) < TIME_LIMIT);
}

// `$($(...))`: the walker parses each substitution's text again when it reaches it, so time is
// quadratic (3,000 levels: 0.1 s) and the recursion `substitute` -> `parse` -> `list` has no
// limit: 10,000 levels (30,001 bytes) overflow.
#[test]

fn nested_command_substitutions_do_not_overflow_the_stack() {
    assert!(parse_and_walk(nested("$(", "", ")", 10_000)) < TIME_LIMIT);
}

// Found with the maintscript target's harness (a 3,766-byte mangled libgcrypt postinst): the
// walk's limits multiply. A loop of 64 known words in a function called from a loop, a few
// calls deep, is 64^N commands; the walk ran for minutes. A budget of commands over the whole
// walk (eval's MAX_STEPS) ends it, truncated; a cap on the effects one way records
// (MAX_EFFECTS) keeps each step cheap.
#[test]
fn loops_inside_calls_inside_loops_end_in_time() {
    let words = (0..64).map(|n| n.to_string()).collect::<Vec<_>>().join(" ");
    let mut script = String::from("f0() { true; }\n");
    for level in 1..6 {
        script.push_str(&format!(
            "f{level}() {{ for w in {words}; do f{}; done; }}\n",
            level - 1
        ));
    }
    script.push_str("f5\n");
    assert!(parse_and_walk(script) < TIME_LIMIT);
}

// Found with the maintscript target's harness: `install -m` options are taken from the flag
// cluster by byte index, and a non-ASCII letter in it (`-i\u{fffd}`) sliced inside a
// character: a panic, and verify's worker died.
#[test]
fn install_flags_holding_a_non_ascii_letter_are_read() {
    assert!(parse_and_walk("install -ic\u{fffd}m 755 /usr/bin/x\n".to_string()) < TIME_LIMIT);
}
