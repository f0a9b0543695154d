//! The commands verify, restore and rm print for the operator to paste (`next: rescue restore
//! --root DIR PKG`, `to reverse this run: rescue undo --root DIR RUN`, `chroot DIR
//! dpkg-reconfigure PKG`, the `--from` suggestion) must name exactly the bytes they mean when
//! bash reads them, whatever DIR holds: every byte from 1 to 255, spaces, quotes, `$(...)`.
//! Each printed line is evaluated by bash with `rescue`, `chroot` and `rm` defined as
//! functions that print their arguments NUL-separated; the arguments must be the paths'
//! bytes. Then the printed undo command is run for real.
//!
//! Also: a file name holding `\e[2J` or a newline reaches the terminal escaped in error
//! messages, never raw.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::debroot::{self, DebRoot};
use common::show;

/// Two path components that between them hold every byte but NUL and `/`, each within the
/// 255-byte limit of a name.
fn hostile_components() -> [Vec<u8>; 2] {
    let low: Vec<u8> = (1..=127u8).filter(|&b| b != b'/').collect();
    let high: Vec<u8> = (128..=255u8).collect();
    [low, high]
}

/// A directory under `base` whose path holds every byte from 1 to 255 (but `/` only as the
/// separator), spaces, both quotes and `$(...)`; created, with `leaf` as its last component.
fn hostile_dir(base: &Path, leaf: &str) -> PathBuf {
    let mut dir = base.to_path_buf();
    for component in hostile_components() {
        dir.push(OsStr::from_bytes(&component));
    }
    dir.push("it's a \"root\" $(touch pwned) `id` ;x");
    fs::create_dir_all(&dir).expect("mkdir hostile dir");
    dir.join(leaf)
}

fn bytes(path: &Path) -> Vec<u8> {
    path.as_os_str().as_bytes().to_vec()
}

/// The arguments bash passes when it evaluates `line`, with `rescue`, `chroot` and `rm`
/// standing for functions that print their name and arguments NUL-separated. Evaluated under
/// `LC_ALL=C` and `C.UTF-8`, which must agree.
fn argv_of(line: &[u8]) -> Vec<Vec<u8>> {
    // No PATH: a word that escaped its quotes finds no program to run.
    const SCRIPT: &str = r#"
PATH=/nonexistent
rescue() { printf '%s\0' rescue "$@"; }
chroot() { printf '%s\0' chroot "$@"; }
rm() { printf '%s\0' rm "$@"; }
eval "$1"
"#;
    let mut seen = Vec::new();
    for locale in ["C", "C.UTF-8"] {
        let scratch = tempfile::tempdir().expect("tempdir");
        let output = Command::new("bash")
            .arg("-c")
            .arg(SCRIPT)
            .arg("bash")
            .arg(OsStr::from_bytes(line))
            .env("LC_ALL", locale)
            .current_dir(scratch.path())
            .output()
            .expect("run bash");
        let shown = String::from_utf8_lossy(line);
        assert!(output.status.success(), "bash on {shown:?}: {output:?}");
        assert!(output.stderr.is_empty(), "bash on {shown:?}: {output:?}");
        // A word that escaped its quotes would have run `touch pwned`.
        assert!(
            fs::read_dir(scratch.path()).expect("ls").next().is_none(),
            "{shown:?} ran a command"
        );
        let mut argv: Vec<Vec<u8>> = output
            .stdout
            .split(|&b| b == 0)
            .map(<[u8]>::to_vec)
            .collect();
        assert_eq!(argv.pop(), Some(Vec::new()), "{shown:?}: {argv:?}");
        seen.push(argv);
    }
    assert_eq!(seen[0], seen[1], "LC_ALL=C and C.UTF-8 read it differently");
    seen.swap_remove(0)
}

fn words(argv: &[&[u8]]) -> Vec<Vec<u8>> {
    argv.iter().map(|a| a.to_vec()).collect()
}

/// `line` read by bash must be exactly `expected`; said with `\ooo` escapes when not.
fn assert_argv(line: &[u8], expected: Vec<Vec<u8>>) {
    let escaped = |argv: &[Vec<u8>]| -> Vec<String> {
        argv.iter()
            .map(|a| rescue::sys::quoting::escape(OsStr::from_bytes(a)))
            .collect()
    };
    let argv = argv_of(line);
    assert!(
        argv == expected,
        "{:?}\nreads as  {:?}\nexpected  {:?}",
        String::from_utf8_lossy(line),
        escaped(&argv),
        escaped(&expected)
    );
}

/// The lines of `text` that start with `prefix`, without it.
fn after<'a>(text: &'a [u8], prefix: &str) -> Vec<&'a [u8]> {
    text.split(|&b| b == b'\n')
        .filter_map(|line| line.strip_prefix(prefix.as_bytes()))
        .collect()
}

/// What follows the first `marker` on the line.
fn rest_after<'a>(line: &'a [u8], marker: &str) -> Option<&'a [u8]> {
    let at = line
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())?;
    Some(&line[at + marker.len()..])
}

/// Between `open` and the next `close` on the line.
fn between<'a>(line: &'a [u8], open: &str, close: &str) -> Option<&'a [u8]> {
    let rest = rest_after(line, open)?;
    let end = rest
        .windows(close.len())
        .position(|w| w == close.as_bytes())?;
    Some(&rest[..end])
}

/// Runs `rescue APPLET --root ROOT ARGS` and checks that nothing of ROOT's name reached the
/// output raw: UTF-8 throughout, and no control character but the newlines between lines.
fn rescue_in(root: &Path, applet: &str, args: &[&str]) -> Output {
    let output = common::rescue_in(root, applet, args);
    for stream in [&output.stdout, &output.stderr] {
        let text = std::str::from_utf8(stream).unwrap_or_else(|_| panic!("{}", show(&output)));
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "a raw control character: {}",
            show(&output)
        );
    }
    output
}

/// The fixture moved to a hostile root, with a postinst whose `chgrp` no reading can
/// evaluate (so restore names `chroot ROOT dpkg-reconfigure demo-data`) and an apt source
/// whose URI holds shell syntax (so restore names it in its `--from` suggestion).
fn hostile_fixture() -> DebRoot {
    let mut fixture = DebRoot::new();
    let hostile = hostile_dir(fixture.base(), "root");
    fs::rename(&fixture.root, &hostile).expect("move the root");
    fixture.root = hostile;
    fs::write(
        fixture.path("var/lib/dpkg/info/demo-data.postinst"),
        "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n    \
         chgrp \"$(stat -c %g /usr/local)\" /usr/share/demo-data/words.txt\nfi\n",
    )
    .expect("write postinst");
    std::os::unix::fs::lchown(
        fixture.path("usr/share/demo-data/words.txt"),
        None,
        Some(50),
    )
    .expect("chgrp");
    let mut sources = fs::read(fixture.path("etc/apt/sources.list")).expect("sources.list");
    sources
        .extend_from_slice(b"deb http://mirror.example/x;y'$(touch\"pwned\")`id` bookworm main\n");
    fs::write(fixture.path("etc/apt/sources.list"), sources).expect("sources.list");
    fixture
}

#[test]
fn every_command_printed_for_pasting_names_the_same_bytes() {
    if !debroot::available() {
        return;
    }
    let fixture = hostile_fixture();
    let root = bytes(&fixture.root);
    let with_root = |argv: &[&[u8]]| {
        let mut out = words(&argv[..2]);
        out.push(b"--root".to_vec());
        out.push(root.clone());
        out.extend(words(&argv[2..]));
        out
    };

    // The damage: the /lib alias gone, a file of demo-data deleted.
    fs::remove_file(fixture.path("lib")).expect("rm lib");
    fs::remove_file(fixture.path("usr/share/demo-data/words.txt")).expect("rm words.txt");

    let verify = rescue_in(&fixture.root, "verify", &[]);
    assert_eq!(verify.status.code(), Some(1), "{}", show(&verify));
    let next = after(&verify.stdout, "next: ");
    assert_eq!(next.len(), 2, "{}", show(&verify));
    let mut lib = root.clone();
    lib.extend_from_slice(b"/lib");
    assert_argv(next[0], words(&[b"rescue", b"ln", b"-s", b"usr/lib", &lib]));
    assert_argv(
        next[1],
        with_root(&[b"rescue", b"restore", b"demo", b"demo-data"]),
    );

    // Without the archives, restore names ROOT's mirrors; the source with shell syntax in it
    // stays one argument.
    let cache = fixture.path("var/cache/apt/archives");
    let aside = fixture.base().join("aside");
    fs::rename(&cache, &aside).expect("move the cache");
    fs::create_dir(&cache).expect("mkdir cache");
    let dry = rescue_in(&fixture.root, "restore", &["--dry-run"]);
    let tries = after(&dry.stdout, "to find the missing archives, try: ");
    assert_eq!(tries.len(), 1, "{}", show(&dry));
    assert_argv(
        tries[0],
        with_root(&[
            b"rescue",
            b"restore",
            b"--from",
            b"http://deb.example.org/debian",
            b"--from",
            b"http://mirror.example/x;y'$(touch\"pwned\")`id`",
        ]),
    );
    fs::remove_dir(&cache).expect("rmdir cache");
    fs::rename(&aside, &cache).expect("put the cache back");

    let restored = rescue_in(&fixture.root, "restore", &["--yes"]);
    assert_eq!(restored.status.code(), Some(0), "{}", show(&restored));
    let reconfigure: Vec<&[u8]> = restored
        .stdout
        .split(|&b| b == b'\n')
        .filter_map(|line| between(line, "(`", "` re-applies it)"))
        .collect();
    assert!(!reconfigure.is_empty(), "{}", show(&restored));
    for command in reconfigure {
        assert_argv(
            command,
            words(&[b"chroot", &root, b"dpkg-reconfigure", b"demo-data"]),
        );
    }
    let undo = after(&restored.stdout, "to reverse this run: ");
    assert_eq!(undo.len(), 1, "{}", show(&restored));
    let runs = fixture.runs();
    assert_eq!(runs.len(), 1);
    let run = bytes(Path::new(runs[0].file_name().expect("run id")));
    assert_argv(undo[0], with_root(&[b"rescue", b"undo", &run]));

    // What it says is what works: the printed line, pasted into bash, undoes the run.
    let pasted = Command::new("bash")
        .arg("-c")
        .arg("rescue() { \"$RESCUE\" \"$@\"; }; eval \"$1\"")
        .arg("bash")
        .arg(OsStr::from_bytes(undo[0]))
        .env("RESCUE", env!("CARGO_BIN_EXE_rescue"))
        .output()
        .expect("run bash");
    assert!(pasted.status.success(), "{}", show(&pasted));
    assert!(fs::symlink_metadata(fixture.path("lib")).is_err(), "undone");
    assert!(!fixture.path("usr/share/demo-data/words.txt").exists());
}

#[test]
fn rm_names_the_link_to_remove_as_a_shell_word() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    fs::create_dir(dir.join("target")).expect("mkdir");
    let mut names = hostile_components().to_vec();
    names.push(b"it's \"a link\" $(touch pwned)".to_vec());
    for name in names {
        let link = OsStr::from_bytes(&name);
        symlink("target", dir.join(link)).expect("symlink");
        let mut operand = name.clone();
        operand.push(b'/');
        let out = common::rescue()
            .arg("rm")
            .arg("-r")
            .arg(OsStr::from_bytes(&operand))
            .current_dir(dir)
            .output()
            .expect("run rm");
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert!(
            !out.stderr[..out.stderr.len() - 1].contains(&b'\n'),
            "{}",
            show(&out)
        );
        let line = out.stderr.strip_suffix(b"\n").expect("one line");
        let command = rest_after(line, "To remove the link itself: ").expect("the suggestion");
        assert_argv(command, words(&[b"rm", &name]));
    }
}

/// Runs `rescue args...` and returns its stderr, checked to hold no escape character and no
/// newline but the last.
fn stderr_of(args: &[&OsStr]) -> String {
    let out = common::rescue().args(args).output().expect("run rescue");
    let err = &out.stderr;
    assert!(!err.is_empty(), "{}", show(&out));
    assert!(!err.contains(&0x1b), "raw ESC in {}", show(&out));
    assert_eq!(
        err.iter().filter(|&&b| b == b'\n').count(),
        1,
        "{}",
        show(&out)
    );
    String::from_utf8(out.stderr).expect("UTF-8")
}

#[test]
fn errors_about_names_holding_terminal_escapes_print_them_escaped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hostile = tmp.path().join("clear\x1b[2Jscreen\nand newline");
    let escaped = "/clear'$'\\033''[2Jscreen'$'\\n''and newline/";

    // An empty directory as the root: the error names the status file it cannot read.
    fs::create_dir(&hostile).expect("mkdir");
    let err = stderr_of(&["verify".as_ref(), "--root".as_ref(), hostile.as_os_str()]);
    assert!(err.contains(escaped), "{err}");
    assert!(err.contains("/var/lib/dpkg/status"), "{err}");

    // A status file that is not deb822: a parse error naming the file and the line.
    fs::create_dir_all(hostile.join("var/lib/dpkg")).expect("mkdir");
    fs::write(
        hostile.join("var/lib/dpkg/status"),
        b"Package: x\nno colon \x1b[2J here\n",
    )
    .expect("write status");
    let err = stderr_of(&["verify".as_ref(), "--root".as_ref(), hostile.as_os_str()]);
    assert!(err.contains(escaped), "{err}");
    assert!(err.contains("/var/lib/dpkg/status':2: "), "{err}");
    assert!(err.contains("'no colon '$'\\033''[2J here'"), "{err}");

    // A root that is not a directory.
    let file = tmp.path().join("file\x1b[2J\n");
    fs::write(&file, b"").expect("write");
    let err = stderr_of(&["verify".as_ref(), "--root".as_ref(), file.as_os_str()]);
    assert!(
        err.contains("/file'$'\\033''[2J'$'\\n': not a directory"),
        "{err}"
    );

    // cat names a missing file the way GNU does (quotef).
    let err = stderr_of(&["cat".as_ref(), OsStr::new("gone\x1b[2J\n")]);
    assert_eq!(
        err,
        "rescue cat: 'gone'$'\\033''[2J'$'\\n': No such file or directory\n"
    );
}
