//! usage: rescue md5sum    [-b|-t] [--tag] [-z] [FILE|-]...
//!        rescue md5sum    -c [--ignore-missing] [--quiet] [--status] [--strict] [-w] [LIST|-]...
//!        rescue sha256sum (the same options)
//!
//! Print or check MD5 / SHA256 digests, as GNU md5sum and sha256sum (coreutils 9.1). One file
//! serves both applets: the name it is called by picks the digest.
//!
//! Output is `DIGEST  NAME` (`DIGEST *NAME` with `-b`; `--tag` gives BSD's
//! `MD5 (NAME) = DIGEST`). A name with a backslash, newline or carriage return is printed
//! escaped (`\\`, `\n`, `\r`) and the line starts with `\`, so every line stays one line.
//! `-z` (`--zero`) ends lines with NUL instead and escapes nothing.
//!
//! `-c` reads lists in either format and prints `NAME: OK`, `NAME: FAILED` or
//! `NAME: FAILED open or read`, then on stderr GNU's summary (`WARNING: 1 computed checksum did
//! NOT match`, `... listed file could not be read`, `... line is improperly formatted`).
//! `--quiet` drops the OK lines, `--status` all output but errors, `--strict` fails on
//! improperly formatted lines, `-w` names them, `--ignore-missing` skips missing files.
//!
//! Exit 0 when every file was read (and, with -c, matched), else 1.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use clap::Parser;
use sha2::Digest;

use super::{complain, strerror, Exit};
use crate::sys::quoting::shell_word;

#[derive(Parser)]
#[command(about = "Print or check message digests")]
pub(super) struct Args {
    /// read in binary mode
    #[arg(short = 'b', long = "binary")]
    binary: bool,
    /// read checksums from the FILEs and check them
    #[arg(short = 'c', long = "check")]
    check: bool,
    /// create a BSD-style checksum
    #[arg(long = "tag")]
    tag: bool,
    /// read in text mode (default)
    #[arg(short = 't', long = "text")]
    text: bool,
    /// don't fail or report status for missing files
    #[arg(long = "ignore-missing")]
    ignore_missing: bool,
    /// don't print OK for each successfully verified file
    #[arg(long = "quiet")]
    quiet: bool,
    /// don't output anything, status code shows success
    #[arg(long = "status")]
    status: bool,
    /// exit non-zero for improperly formatted checksum lines
    #[arg(long = "strict")]
    strict: bool,
    /// warn about improperly formatted checksum lines
    #[arg(short = 'w', long = "warn")]
    warn: bool,
    /// end each output line with NUL, not newline, and disable file name escaping
    #[arg(short = 'z', long = "zero")]
    zero: bool,
    /// `-t` came after the last `-b`/`--tag` (see `text_mode_last`).
    #[arg(skip)]
    text_last: bool,
    files: Vec<OsString>,
}

#[derive(Clone, Copy)]
enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    fn tag(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA256",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 => 64,
        }
    }

    /// The lowercase hex digest of everything `input` yields.
    fn digest(self, input: &mut dyn Read) -> io::Result<String> {
        match self {
            Algorithm::Md5 => digest_with(md5::Md5::new(), input),
            Algorithm::Sha256 => digest_with(sha2::Sha256::new(), input),
        }
    }
}

fn digest_with<D: Digest>(mut hasher: D, input: &mut dyn Read) -> io::Result<String> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    let mut hex = String::new();
    for byte in hasher.finalize() {
        hex.push_str(&format!("{byte:02x}"));
    }
    Ok(hex)
}

/// Whether the last of `--text`, `--binary` and `--tag` given was `--text`: GNU keeps one
/// mode that each of them sets in turn (`--tag` means binary), and `--tag` refuses text mode.
fn text_mode_last(args: &[OsString]) -> bool {
    let mut text = false;
    for arg in args {
        let arg = arg.as_bytes();
        if arg == b"--" {
            break;
        }
        if let Some(long) = arg.strip_prefix(b"--") {
            if long.len() >= 2 && b"text".starts_with(long) {
                text = true;
            } else if long.len() >= 2 && (b"tag".starts_with(long) || b"binary".starts_with(long)) {
                text = false;
            }
        } else if let Some(short) = arg.strip_prefix(b"-") {
            for &flag in short {
                match flag {
                    b't' => text = true,
                    b'b' => text = false,
                    _ => {}
                }
            }
        }
    }
    text
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let text_last = text_mode_last(&args);
    let mut args: Args = super::parse(name, args)?;
    args.text_last = text_last;
    if args.tag && text_last {
        return Err(Exit::usage("--tag does not support --text mode"));
    }
    let algorithm = if name == "sha256sum" {
        Algorithm::Sha256
    } else {
        Algorithm::Md5
    };
    let files = if args.files.is_empty() {
        vec![OsString::from("-")]
    } else {
        args.files.clone()
    };
    if args.check {
        check(name, algorithm, &args, &files)
    } else {
        print_digests(name, algorithm, &args, &files)
    }
}

/// `-c`: every list checked; 1 if anything failed.
fn check(
    name: &'static str,
    algorithm: Algorithm,
    args: &Args,
    lists: &[OsString],
) -> Result<i32, Exit> {
    if args.binary || args.text {
        return Err(Exit::usage(
            "the --binary and --text options are meaningless when verifying checksums",
        ));
    }
    if args.zero {
        return Err(Exit::usage(
            "the --zero option is not supported when verifying checksums",
        ));
    }
    if args.tag {
        return Err(Exit::usage(
            "the --tag option is meaningless when verifying checksums",
        ));
    }
    let mut checker = Checker {
        name,
        algorithm,
        args,
        out: io::stdout().lock(),
        reversed: None,
    };
    let mut ok = true;
    for list in lists {
        ok &= checker.check_list(Path::new(list));
    }
    let _ = checker.out.flush();
    Ok(i32::from(!ok))
}

/// Without `-c`: one line per file; 1 if any could not be read.
fn print_digests(
    name: &'static str,
    algorithm: Algorithm,
    args: &Args,
    files: &[OsString],
) -> Result<i32, Exit> {
    for (set, option) in [
        (args.ignore_missing, "--ignore-missing"),
        (args.quiet, "--quiet"),
        (args.status, "--status"),
        (args.strict, "--strict"),
        (args.warn, "--warn"),
    ] {
        if set {
            return Err(Exit::usage(format!(
                "the {option} option is meaningful only when verifying checksums"
            )));
        }
    }
    let mut out = io::stdout().lock();
    let mut status = 0;
    for file in files {
        let path = Path::new(file);
        match digest_file(algorithm, path) {
            Ok(hex) => {
                let line = digest_line(algorithm, args, &hex, file.as_bytes());
                if out.write_all(&line).is_err() {
                    return Ok(1);
                }
            }
            Err(err) => {
                let _ = out.flush();
                complain(name, format!("{}: {}", display_name(path), strerror(&err)));
                status = 1;
            }
        }
    }
    if out.flush().is_err() {
        return Ok(1);
    }
    Ok(status)
}

/// `DIGEST  NAME`, `DIGEST *NAME` (`-b`) or `TAG (NAME) = DIGEST` (`--tag`), with a newline;
/// behind a `\` when the name had to be escaped.
/// With `--zero`, a NUL ends it and the name is never escaped.
fn digest_line(algorithm: Algorithm, args: &Args, hex: &str, raw: &[u8]) -> Vec<u8> {
    let escaped = !args.zero && needs_escape(raw);
    let mut line = Vec::with_capacity(hex.len() + raw.len() + 4);
    if escaped {
        line.push(b'\\');
    }
    if args.tag {
        line.extend_from_slice(algorithm.tag().as_bytes());
        line.extend_from_slice(b" (");
        push_name(&mut line, raw, escaped);
        line.extend_from_slice(b") = ");
        line.extend_from_slice(hex.as_bytes());
    } else {
        line.extend_from_slice(hex.as_bytes());
        let binary = args.binary && !args.text_last;
        line.extend_from_slice(if binary { b" *" } else { b"  " });
        push_name(&mut line, raw, escaped);
    }
    line.push(if args.zero { 0 } else { b'\n' });
    line
}

/// `-` is standard input, as in GNU.
fn digest_file(algorithm: Algorithm, path: &Path) -> io::Result<String> {
    if path.as_os_str() == "-" {
        algorithm.digest(&mut io::stdin().lock())
    } else {
        algorithm.digest(&mut File::open(path)?)
    }
}

/// GNU's name for standard input in messages.
fn display_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "'standard input'".into()
    } else {
        shell_word(path)
    }
}

fn needs_escape(name: &[u8]) -> bool {
    name.iter().any(|b| matches!(b, b'\\' | b'\n' | b'\r'))
}

fn push_name(line: &mut Vec<u8>, name: &[u8], escape: bool) {
    if !escape {
        line.extend_from_slice(name);
        return;
    }
    for &b in name {
        match b {
            b'\\' => line.extend_from_slice(b"\\\\"),
            b'\n' => line.extend_from_slice(b"\\n"),
            b'\r' => line.extend_from_slice(b"\\r"),
            _ => line.push(b),
        }
    }
}

/// The inverse of `push_name`; `None` for an escape GNU does not write.
fn unescape(name: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len());
    let mut bytes = name.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'\\') => out.push(b'\\'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            _ => return None,
        }
    }
    Some(out)
}

/// One line of a checksum list: the expected digest and the file it names.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    hex: String,
    file: Vec<u8>,
}

/// Parses `DIGEST  NAME`, `DIGEST *NAME` or `TAG (NAME) = DIGEST`, each optionally behind a `\`
/// that says NAME is escaped (GNU `split_3`). `DIGEST NAME` with one space is BSD's reversed
/// form; `reversed` remembers which of the two forms the first such line used, since GNU
/// refuses to mix them (a name could start with a space or `*`).
fn parse_line(line: &[u8], algorithm: Algorithm, reversed: &mut Option<bool>) -> Option<Entry> {
    let mut i = line
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(line.len());
    let escaped = line.get(i) == Some(&b'\\');
    if escaped {
        i += 1;
    }
    let rest = &line[i..];
    let tag = algorithm.tag().as_bytes();
    let (hex, name) = if let Some(after_tag) = rest.strip_prefix(tag) {
        let after_tag = after_tag.strip_prefix(b" ").unwrap_or(after_tag);
        let inner = after_tag.strip_prefix(b"(")?;
        let close = inner.windows(4).rposition(|w| w == b") = ")?;
        (&inner[close + 4..], &inner[..close])
    } else {
        let len = algorithm.hex_len();
        if rest.len() < len + 2 || !matches!(rest[len], b' ' | b'\t') {
            return None;
        }
        let hex = &rest[..len];
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let after = &rest[len + 1..];
        let name = match after.first() {
            Some(b' ' | b'*') if after.len() > 1 => {
                if *reversed == Some(true) {
                    after
                } else {
                    *reversed = Some(false);
                    &after[1..]
                }
            }
            _ => {
                if *reversed == Some(false) {
                    return None;
                }
                *reversed = Some(true);
                after
            }
        };
        (hex, name)
    };
    if hex.len() != algorithm.hex_len() || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let file = if escaped {
        unescape(name)?
    } else {
        name.to_vec()
    };
    if file.is_empty() {
        return None;
    }
    Some(Entry {
        hex: String::from_utf8_lossy(hex).to_ascii_lowercase(),
        file,
    })
}

struct Checker<'a> {
    name: &'static str,
    algorithm: Algorithm,
    args: &'a Args,
    out: io::StdoutLock<'static>,
    /// Whether lines without a mode character are BSD's reversed form, once known; kept
    /// across lists, as GNU does.
    reversed: Option<bool>,
}

/// What the lines of one list came to, counted as GNU counts them.
#[derive(Default)]
struct Tally {
    formatted: u64,
    misformatted: u64,
    unreadable: u64,
    mismatched: u64,
    matched: u64,
}

impl Checker<'_> {
    /// Checks every line of one list; false if anything failed (GNU `digest_check`).
    fn check_list(&mut self, list: &Path) -> bool {
        let Some(reader) = self.open_list(list) else {
            return false;
        };
        let mut tally = Tally::default();
        for (number, line) in reader.split(b'\n').enumerate() {
            match line {
                Ok(line) => self.check_line(list, number + 1, line, &mut tally),
                Err(err) => {
                    self.cannot_read(list, &err);
                    return false;
                }
            }
        }
        let _ = self.out.flush();
        if tally.formatted == 0 {
            complain(
                self.name,
                format!(
                    "{}: no properly formatted checksum lines found",
                    display_name(list)
                ),
            );
            return false;
        }
        if !self.args.status {
            self.warn(list, &tally);
        }
        tally.mismatched == 0
            && tally.unreadable == 0
            && (!self.args.strict || tally.misformatted == 0)
            && (!self.args.ignore_missing || tally.matched > 0)
    }

    fn open_list(&self, list: &Path) -> Option<Box<dyn BufRead>> {
        if list.as_os_str() == "-" {
            return Some(Box::new(BufReader::new(io::stdin())));
        }
        match File::open(list) {
            Ok(file) => Some(Box::new(BufReader::new(file))),
            Err(err) => {
                self.cannot_read(list, &err);
                None
            }
        }
    }

    fn cannot_read(&self, path: &Path, err: &io::Error) {
        complain(
            self.name,
            format!("{}: {}", display_name(path), strerror(err)),
        );
    }

    /// One line of a list: skipped (a comment), counted as misformatted, or its file checked
    /// and the verdict printed.
    fn check_line(&mut self, list: &Path, number: usize, mut line: Vec<u8>, tally: &mut Tally) {
        if line.first() == Some(&b'#') {
            return;
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let Some(entry) = parse_line(&line, self.algorithm, &mut self.reversed) else {
            tally.misformatted += 1;
            if self.args.warn {
                complain(
                    self.name,
                    format!(
                        "{}: {number}: improperly formatted {} checksum line",
                        display_name(list),
                        self.algorithm.tag()
                    ),
                );
            }
            return;
        };
        tally.formatted += 1;
        let path = PathBuf::from(OsString::from_vec(entry.file.clone()));
        let matched = match digest_file(self.algorithm, &path) {
            Ok(hex) => Some(hex == entry.hex),
            Err(err) if self.args.ignore_missing && err.kind() == io::ErrorKind::NotFound => {
                return;
            }
            Err(err) => {
                let _ = self.out.flush();
                self.cannot_read(&path, &err);
                None
            }
        };
        let verdict: &[u8] = match matched {
            Some(true) => {
                tally.matched += 1;
                b"OK"
            }
            Some(false) => {
                tally.mismatched += 1;
                b"FAILED"
            }
            None => {
                tally.unreadable += 1;
                b"FAILED open or read"
            }
        };
        let quiet_ok = matched == Some(true) && self.args.quiet;
        if !self.args.status && !quiet_ok {
            self.print_verdict(&entry.file, verdict);
        }
    }

    /// `NAME: VERDICT`; coreutils 9.1 escapes names in check output only for a newline.
    fn print_verdict(&mut self, file: &[u8], verdict: &[u8]) {
        let escape = file.contains(&b'\n');
        let mut text = Vec::new();
        if escape {
            text.push(b'\\');
        }
        push_name(&mut text, file, escape);
        text.extend_from_slice(b": ");
        text.extend_from_slice(verdict);
        text.push(b'\n');
        let _ = self.out.write_all(&text);
    }

    /// GNU's summary warnings on stderr after a list.
    fn warn(&self, list: &Path, tally: &Tally) {
        let plural =
            |n: u64, one: &'static str, many: &'static str| if n == 1 { one } else { many };
        if tally.misformatted > 0 {
            let what = plural(tally.misformatted, "line is", "lines are");
            complain(
                self.name,
                format!(
                    "WARNING: {} {what} improperly formatted",
                    tally.misformatted
                ),
            );
        }
        if tally.unreadable > 0 {
            let what = plural(tally.unreadable, "listed file", "listed files");
            complain(
                self.name,
                format!("WARNING: {} {what} could not be read", tally.unreadable),
            );
        }
        if tally.mismatched > 0 {
            let what = plural(tally.mismatched, "computed checksum", "computed checksums");
            complain(
                self.name,
                format!("WARNING: {} {what} did NOT match", tally.mismatched),
            );
        }
        if self.args.ignore_missing && tally.matched == 0 {
            complain(
                self.name,
                format!("{}: no file was verified", display_name(list)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_formats_and_escapes() {
        let hex = "d41d8cd98f00b204e9800998ecf8427e";
        let entry = |file: &[u8]| {
            Some(Entry {
                hex: hex.into(),
                file: file.to_vec(),
            })
        };
        let md5 = Algorithm::Md5;
        assert_eq!(
            parse_line(format!("{hex}  a b").as_bytes(), md5, &mut None),
            entry(b"a b")
        );
        assert_eq!(
            parse_line(format!("{hex} *bin").as_bytes(), md5, &mut None),
            entry(b"bin")
        );
        assert_eq!(
            parse_line(format!("\\{hex}  a\\nb").as_bytes(), md5, &mut None),
            entry(b"a\nb")
        );
        assert_eq!(
            parse_line(format!("MD5 (x) = {hex}").as_bytes(), md5, &mut None),
            entry(b"x")
        );
        assert_eq!(parse_line(b"garbage", md5, &mut None), None);
        // Once a list used BSD's one-space form, a second space belongs to the name.
        let mut reversed = None;
        assert_eq!(
            parse_line(format!("{hex} a").as_bytes(), md5, &mut reversed),
            entry(b"a")
        );
        assert_eq!(
            parse_line(format!("{hex}  b").as_bytes(), md5, &mut reversed),
            entry(b" b")
        );
        let mut reversed = None;
        assert_eq!(
            parse_line(format!("{hex}  b").as_bytes(), md5, &mut reversed),
            entry(b"b")
        );
        assert_eq!(
            parse_line(format!("{hex} a").as_bytes(), md5, &mut reversed),
            None
        );
        assert_eq!(
            parse_line(format!("\\{hex}  a\\qb").as_bytes(), md5, &mut None),
            None
        );
    }
}
