//! `rescue APPLET --help`: clap's option list, then the `//!` block the applet's file starts
//! with, so the source and the help never say different things.

mod common;

use std::path::Path;

/// The `//!` block a source file starts with, as build.rs extracts it.
fn doc_block(source: &str) -> String {
    let mut doc = String::new();
    for line in source.lines() {
        let Some(text) = line.strip_prefix("//!") else {
            break;
        };
        doc.push_str(text.strip_prefix(' ').unwrap_or(text));
        doc.push('\n');
    }
    doc
}

/// The doc block that documents `applet`: `src/applets/APPLET.rs`'s, or (`sha256sum`, which
/// shares md5sum's file) the one whose usage lines name it.
fn doc_of(applet: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/applets");
    if let Ok(source) = std::fs::read_to_string(dir.join(format!("{applet}.rs"))) {
        return doc_block(&source);
    }
    let usage = format!("rescue {applet} ");
    std::fs::read_dir(&dir)
        .expect("read src/applets")
        .map(|entry| std::fs::read_to_string(entry.expect("entry").path()).expect("read"))
        .map(|source| doc_block(&source))
        .find(|doc| doc.starts_with("usage:") && doc.contains(&usage))
        .unwrap_or_else(|| panic!("no doc block names {applet}"))
}

fn help(applet: &str) -> String {
    let output = common::run(&[applet, "--help"]);
    assert!(output.status.success(), "{applet} --help: {output:?}");
    common::stdout(&output)
}

#[test]
fn every_applet_help_ends_with_its_doc_block() {
    let list = common::run(&["--list"]);
    let applets = common::stdout(&list);
    assert!(applets.lines().count() > 10, "--list: {applets}");
    for applet in applets.lines() {
        let doc = doc_of(applet);
        assert!(doc.starts_with("usage: "), "{applet}: {doc}");
        let help = help(applet);
        assert!(
            help.trim_end().ends_with(doc.trim_end()),
            "{applet} --help does not end with its doc block:\n{help}"
        );
        assert!(help.contains("Usage: rescue "), "{applet} --help:\n{help}");
    }
}

/// `-h` is short help where it is the help flag: the option list without the doc block.
#[test]
fn short_help_leaves_the_doc_block_out() {
    let output = common::run(&["verify", "-h"]);
    assert!(output.status.success(), "{output:?}");
    let short = common::stdout(&output);
    assert!(short.contains("--format"), "{short}");
    assert!(!short.contains("usage: rescue verify"), "{short}");
}

/// clap drops a trailing `.` from a one-sentence doc comment, which cut `ls -a`'s help short.
#[test]
fn ls_all_keeps_its_period() {
    let help = help("ls");
    let options = help
        .split("usage: rescue ls")
        .next()
        .expect("text before the doc block");
    assert!(
        options.contains("do not ignore entries starting with .\n"),
        "{options}"
    );
}
