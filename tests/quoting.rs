//! File names in messages are quoted the way GNU quotes them (`quoteaf`, shell-escape-always
//! in a UTF-8 locale): `'café'` as it is, `"it's"`, and bytes that are not UTF-8 or are control
//! characters as `$'\377'` pieces, so a hostile name can neither rewrite the terminal nor be
//! misread when pasted. Compared with GNU coreutils on the same names, applet by applet.
//! Every style that is also a shell word is read back by bash as the very same bytes.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

const NAMES: &[&[u8]] = &[
    b"bad\xff\xfename",
    "café".as_bytes(),
    b"it's",
    b"tab\there",
    b"plain",
];

fn name(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

/// Runs `program args` in `dir` under a UTF-8 locale; stdout and stderr with the program's
/// own name replaced by `PROG`, so GNU's `rm:` and ours compare.
fn run_in(dir: &Path, program: &mut Command, label: &str) -> String {
    let output = program
        .current_dir(dir)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("run");
    let text = format!(
        "{}{}[{}]",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        output.status.code().unwrap_or(-1)
    );
    // Ours says `rescue rm:` where GNU says `rm:`.
    text.replace(&format!("rescue {label}: "), "PROG: ")
        .replace(&format!("{label}: "), "PROG: ")
}

/// Sets up two identical directories with `setup`, runs GNU's `applet` in one and ours in
/// the other with the same arguments, and compares what they print.
fn compare(applet: &str, setup: impl Fn(&Path), args: impl Fn() -> Vec<std::ffi::OsString>) {
    let gnu_dir = tempfile::tempdir().unwrap();
    let our_dir = tempfile::tempdir().unwrap();
    setup(gnu_dir.path());
    setup(our_dir.path());
    let gnu = run_in(gnu_dir.path(), Command::new(applet).args(args()), applet);
    let ours = run_in(
        our_dir.path(),
        common::rescue().arg(applet).args(args()),
        applet,
    );
    assert_eq!(ours, gnu, "{applet} {:?}", args());
}

fn files(dir: &Path) {
    for n in NAMES {
        fs::write(dir.join(name(n)), b"x").unwrap();
    }
}

fn dirs(dir: &Path) {
    for n in NAMES {
        fs::create_dir(dir.join(name(n))).unwrap();
    }
}

fn each(prefix: &[&str], suffix: &[u8]) -> Vec<std::ffi::OsString> {
    let mut out: Vec<std::ffi::OsString> = prefix.iter().map(|a| a.into()).collect();
    for n in NAMES {
        let mut bytes = n.to_vec();
        bytes.extend_from_slice(suffix);
        out.push(name(&bytes).to_os_string());
    }
    out
}

#[test]
fn verbose_and_error_messages_quote_names_like_gnu() {
    compare("rm", files, || each(&["-v"], b""));
    compare("rm", |_| {}, || each(&[], b""));
    compare("rmdir", dirs, || each(&["-v"], b""));
    compare("mkdir", |_| {}, || each(&["-v"], b""));
    compare("cat", |_| {}, || each(&[], b""));
    compare("cp", files, || {
        let mut args = each(&["-v"], b"");
        args.push("plain2".into());
        args.truncate(2);
        args.push("copy".into());
        args
    });
    for n in NAMES {
        let target = |d: &Path| fs::write(d.join(name(n)), b"x").unwrap();
        compare("cp", target, || {
            vec!["-v".into(), name(n).to_os_string(), "copy".into()]
        });
        compare("mv", target, || {
            vec!["-v".into(), name(n).to_os_string(), "moved".into()]
        });
        compare("ln", target, || {
            vec!["-sv".into(), name(n).to_os_string(), "link".into()]
        });
    }
    if common::root_or_skip("chown needs root") {
        compare("chown", files, || each(&["-v", "0:0"], b""));
    }
}

/// What bash makes of `words` (a line of shell words): each argument `printf` receives, in
/// order, under `locale`.
fn bash_reads(words: &[String], locale: &str) -> Vec<Vec<u8>> {
    let script = format!("printf '%s\\0' {}", words.join(" "));
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("LC_ALL", locale)
        .output()
        .expect("run bash");
    assert!(output.status.success(), "bash -c {script:?}: {output:?}");
    let mut args: Vec<Vec<u8>> = output
        .stdout
        .split(|&b| b == 0)
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(args.pop().as_deref(), Some(&b""[..]), "ends with NUL");
    args
}

/// Every single byte, then pseudo-random strings of any bytes but NUL (xorshift, fixed seed).
fn hostile_names() -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = (1..=255u8).map(|b| vec![b]).collect();
    names.push(Vec::new());
    names.push(b"it's \"quoted\" $HOME `id` \\ !x".to_vec());
    names.push("café \u{85} \u{202e}".as_bytes().to_vec());
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..500 {
        let len = (next() % 24) as usize;
        let name = (0..len)
            .map(|_| match next() % 4 {
                // Mostly plain ASCII, so the runs between escapes get exercised too.
                0 | 1 => b' ' + (next() % 95) as u8,
                _ => (next() % 255) as u8 + 1,
            })
            .collect();
        names.push(name);
    }
    names
}

#[test]
fn bash_reads_every_shell_word_back_as_the_same_bytes() {
    use rescue::sys::quoting::{quote, quote_c_locale, shell_word};
    let names = hostile_names();
    for (style, show) in [
        ("shell_word", (|n| shell_word(n)) as fn(&OsStr) -> String),
        ("quote", |n| quote(n)),
        ("quote_c_locale", |n| quote_c_locale(n)),
    ] {
        let words: Vec<String> = names.iter().map(|n| show(name(n))).collect();
        for word in &words {
            // Nothing a terminal would act on; under LC_ALL=C nothing but ASCII.
            assert!(
                !word.chars().any(char::is_control),
                "{style}: {word:?} holds a control character"
            );
            assert!(style != "quote_c_locale" || word.is_ascii(), "{word:?}");
        }
        for locale in ["C", "C.UTF-8"] {
            assert_eq!(bash_reads(&words, locale), names, "{style} under {locale}");
        }
    }
}
