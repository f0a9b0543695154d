//! usage: rescue stat [-L] [-f] [-t] [-c FORMAT | --printf FORMAT] FILE...
//!
//! Display file status, as GNU `stat`; `-` is standard input itself (fstat):
//!   -L, --dereference   follow symlinks
//!   -f, --file-system   the status of the file system holding FILE (statfs) instead
//!   -c, --format=FMT    print FMT (and a newline) for each FILE instead of the default report
//!       --printf=FMT    like -c, but interpret backslash escapes and print no newline
//!   -t, --terse         the information in terse form (`stat -t`'s line)
//!
//! FORMAT sequences (with printf-style flags, width and precision, e.g. `%-10s`, `%04a`):
//!   %a octal mode   %A mode string   %b blocks   %B block size of %b   %d device   %D device hex
//!   %f raw mode hex %F file type     %g gid      %G group name         %h links   %i inode
//!   %m mount point  %n name          %N quoted name (with `-> target` for symlinks)
//!   %o I/O block    %s size          %t major    %T minor (of a device file, hex)
//!   %u uid          %U user name     %Hd %Ld major/minor of the device  %Hr %Lr of a device file
//!   %r %R device number of a device file (decimal, hex)   %C SELinux context
//!   %w %x %y %z birth/access/modify/change time; %W %X %Y %Z as seconds since the epoch
//! With -f:
//!   %a free blocks for users  %b total blocks  %c total inodes  %d free inodes  %f free
//!   blocks  %i file system id (hex)  %l longest name  %n name  %s block size  %S fundamental
//!   block size  %t type (hex)  %T type name
//! `%N` quotes as `QUOTING_STYLE` says (shell-escape-always by default; also literal, shell,
//! shell-always, c, escape, locale, clocale, as in the C locale).
//!
//! Names come from `/etc/passwd` and `/etc/group` read directly (no NSS); an id without an entry
//! shows as `UNKNOWN`, as GNU does. Birth times come from `statx(2)` and print as `-` where the
//! file system has none. `%C` is the SELinux context (`security.selinux`); without one it is
//! `?`, said on stderr, and the exit status is 1, as GNU.

use std::cell::Cell;
use std::ffi::OsString;
use std::fs::Metadata;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::Exit;

use super::{complain, strerror};
use crate::sys::accounts::Accounts;
use crate::sys::birth::birth_time;
use crate::sys::fs_status::{fs_status, type_name};
use crate::sys::localtime::LocalTime;
use crate::sys::mode::{mode_string, FileType};
use crate::sys::quoting::{quote_c_locale, quote_style, QuotingStyle};

#[derive(Parser)]
#[command(about = "Display file status")]
pub(super) struct Args {
    /// follow links
    #[arg(short = 'L', long = "dereference")]
    dereference: bool,
    /// use the specified FORMAT instead of the default; output a newline after each use
    #[arg(short = 'c', long = "format", value_name = "FORMAT")]
    format: Option<OsString>,
    /// like --format, but interpret backslash escapes, and do not output a trailing newline
    #[arg(long = "printf", value_name = "FORMAT")]
    printf: Option<OsString>,
    /// print the information in terse form
    #[arg(short = 't', long = "terse")]
    terse: bool,
    /// display file system status instead of file status
    #[arg(short = 'f', long = "file-system")]
    file_system: bool,
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

const TERSE: &str = "%n %s %b %f %u %g %D %i %h %t %T %X %Y %Z %W %o\n";

fn default_format(device: bool) -> String {
    let mut format = String::from("  File: %N\n  Size: %-10s\tBlocks: %-10b IO Block: %-6o %F\n");
    if device {
        format.push_str("Device: %Hd,%Ld\tInode: %-11i Links: %-5h Device type: %Hr,%Lr\n");
    } else {
        format.push_str("Device: %Hd,%Ld\tInode: %-11i Links: %h\n");
    }
    format.push_str("Access: (%04a/%10.10A)  Uid: (%5u/%8U)   Gid: (%5g/%8G)\n");
    format.push_str("Access: %x\nModify: %y\nChange: %z\n Birth: %w\n");
    format
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    if args.files.is_empty() {
        return Err(Exit::usage("missing operand"));
    }
    let accounts = Accounts::load(&crate::sys::root::Root::new("/"));
    let style = quoting_style(name);
    let mut out = std::io::stdout().lock();
    let mut status = 0;
    let failed = Cell::new(false);
    for path in &args.files {
        let text = if args.file_system {
            fs_report(name, &args, path)
        } else {
            let setting = Setting {
                name,
                accounts: &accounts,
                style,
                failed: &failed,
            };
            file_report(&args, path, &setting)
        };
        match text {
            Some(text) => out
                .write_all(&text)
                .map_err(|err| Exit::write_error(1, &err))?,
            None => status = 1,
        }
    }
    out.flush().map_err(|err| Exit::write_error(1, &err))?;
    if failed.get() {
        status = 1;
    }
    Ok(status)
}

/// What every file's report shares.
struct Setting<'a> {
    name: &'static str,
    accounts: &'a Accounts,
    style: QuotingStyle,
    /// A directive could not be expanded (`%C` without SELinux): the exit status is 1.
    failed: &'a Cell<bool>,
}

/// The format asked for: `--printf` unescaped, `-c`'s (see [`with_newline`]), else `terse` or
/// `long`.
fn chosen_format(args: &Args, terse: &str, long: &str) -> (Vec<u8>, bool) {
    if let Some(format) = &args.printf {
        (unescape(format.as_bytes()), true)
    } else if let Some(format) = &args.format {
        (format.as_bytes().to_vec(), true)
    } else if args.terse {
        (terse.as_bytes().to_vec(), true)
    } else {
        (long.as_bytes().to_vec(), false)
    }
}

/// One file's report, or None after saying why there is none.
fn file_report(args: &Args, path: &Path, setting: &Setting) -> Option<Vec<u8>> {
    let meta = if path.as_os_str() == "-" {
        // GNU stats standard input itself for `-`.
        let stdin = std::mem::ManuallyDrop::new(unsafe {
            // SAFETY: descriptor 0 is borrowed, never closed (ManuallyDrop).
            <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(0)
        });
        stdin.metadata()
    } else if args.dereference {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    };
    let meta = match meta {
        Ok(meta) => meta,
        Err(err) => {
            let what = if path.as_os_str() == "-" {
                "cannot stat"
            } else {
                "cannot statx"
            };
            let shown = quote_c_locale(path);
            complain(setting.name, format!("{what} {shown}: {}", strerror(&err)));
            return None;
        }
    };
    let file = File {
        path,
        meta: &meta,
        follow: args.dereference,
        setting,
    };
    let device = FileType::of(meta.mode()).is_device();
    let (format, quote_names) = chosen_format(args, TERSE, &default_format(device));
    let mut directive =
        |conversion, selector, spec: &Spec| file.directive(conversion, selector, spec, quote_names);
    Some(with_newline(args, render(&format, true, &mut directive)))
}

/// `-c` ends each report with a newline, printed after the format (a trailing `%` stays).
fn with_newline(args: &Args, mut text: Vec<u8>) -> Vec<u8> {
    if args.printf.is_none() && args.format.is_some() {
        text.push(b'\n');
    }
    text
}

const TERSE_FS: &str = "%n %i %l %t %s %S %b %f %a %c %d\n";
const DEFAULT_FS: &str = "  File: \"%n\"\n    ID: %-8i Namelen: %-7l Type: %T\n\
Block size: %-10s Fundamental block size: %S\n\
Blocks: Total: %-10b Free: %-10f Available: %a\n\
Inodes: Total: %-10c Free: %d\n";

/// `stat -f`: the report on the file system holding `path`.
fn fs_report(name: &str, args: &Args, path: &Path) -> Option<Vec<u8>> {
    if path.as_os_str() == "-" {
        complain(
            name,
            format!(
                "using {} to denote standard input does not work in file system mode",
                quote_c_locale(path)
            ),
        );
        return None;
    }
    let fs = match fs_status(path) {
        Ok(fs) => fs,
        Err(err) => {
            let shown = quote_c_locale(path);
            let message = format!(
                "cannot read file system information for {shown}: {}",
                strerror(&err)
            );
            complain(name, message);
            return None;
        }
    };
    let (format, _) = chosen_format(args, TERSE_FS, DEFAULT_FS);
    let mut directive = |conversion, _, spec: &Spec| {
        Some(match conversion {
            b'n' => spec.string(path.as_os_str().as_bytes()),
            b'i' => spec.unsigned(fs.id, 16),
            b'l' => spec.unsigned(fs.name_max, 10),
            b't' => spec.unsigned(fs.kind, 16),
            b'T' => spec.string(type_name(fs.kind).as_bytes()),
            b's' => spec.unsigned(fs.block_size, 10),
            b'S' => spec.unsigned(fs.fragment_size, 10),
            b'b' => spec.unsigned(fs.blocks, 10),
            b'f' => spec.unsigned(fs.blocks_free, 10),
            b'a' => spec.unsigned(fs.blocks_available, 10),
            b'c' => spec.unsigned(fs.files, 10),
            b'd' => spec.unsigned(fs.files_free, 10),
            _ => return None,
        })
    };
    Some(with_newline(args, render(&format, false, &mut directive)))
}

/// The style `%N` quotes names in: `QUOTING_STYLE`, else GNU stat's shell-escape-always.
fn quoting_style(name: &str) -> QuotingStyle {
    let Some(value) = std::env::var_os("QUOTING_STYLE") else {
        return QuotingStyle::ShellEscapeAlways;
    };
    match value.to_str().and_then(QuotingStyle::from_name) {
        Some(style) => style,
        None => {
            complain(
                name,
                format!(
                    "ignoring invalid value of environment variable QUOTING_STYLE: {}",
                    quote_c_locale(&value)
                ),
            );
            QuotingStyle::ShellEscapeAlways
        }
    }
}

/// `--printf`'s backslash escapes: `\n \t \\ \"`, `\NNN` octal and `\xHH` hex.
fn unescape(format: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(format.len());
    let mut index = 0;
    while index < format.len() {
        let byte = format[index];
        index += 1;
        if byte != b'\\' || index >= format.len() {
            out.push(byte);
            continue;
        }
        let escape = format[index];
        index += 1;
        match escape {
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'e' => out.push(0x1b),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'\\' | b'"' | b'\'' | b'?' => out.push(escape),
            b'0'..=b'7' => {
                let mut value = u32::from(escape - b'0');
                let mut digits = 1;
                while digits < 3 && index < format.len() && (b'0'..=b'7').contains(&format[index]) {
                    value = value * 8 + u32::from(format[index] - b'0');
                    index += 1;
                    digits += 1;
                }
                out.push(value as u8);
            }
            b'x' if index < format.len() && format[index].is_ascii_hexdigit() => {
                let mut value = 0u32;
                let mut digits = 0;
                while digits < 2 && index < format.len() && format[index].is_ascii_hexdigit() {
                    value = value * 16 + (format[index] as char).to_digit(16).unwrap_or(0);
                    index += 1;
                    digits += 1;
                }
                out.push(value as u8);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    out
}

/// The flags, width and precision of one `%` directive.
#[derive(Default)]
struct Spec {
    left: bool,
    zero: bool,
    alternate: bool,
    width: usize,
    precision: Option<usize>,
}

impl Spec {
    fn pad(&self, body: String, zero_allowed: bool) -> Vec<u8> {
        let len = body.len();
        if len >= self.width {
            return body.into_bytes();
        }
        let fill = self.width - len;
        if self.left {
            let mut text = body;
            text.extend(std::iter::repeat_n(' ', fill));
            text.into_bytes()
        } else if self.zero && zero_allowed {
            // Zeros go after a 0x prefix, as printf puts them.
            let (prefix, digits) = if body.starts_with("0x") {
                body.split_at(2)
            } else {
                body.split_at(0)
            };
            format!("{prefix}{}{digits}", "0".repeat(fill)).into_bytes()
        } else {
            format!("{}{body}", " ".repeat(fill)).into_bytes()
        }
    }

    /// An unsigned number the way C's `%u`, `%o` or `%x` prints it with these flags.
    fn unsigned(&self, value: u64, radix: u32) -> Vec<u8> {
        let mut digits = match radix {
            8 => format!("{value:o}"),
            16 => format!("{value:x}"),
            _ => value.to_string(),
        };
        if let Some(precision) = self.precision {
            if precision == 0 && value == 0 {
                digits.clear();
            }
            if digits.len() < precision {
                digits = format!("{}{digits}", "0".repeat(precision - digits.len()));
            }
        }
        if self.alternate {
            if radix == 8 && !digits.starts_with('0') {
                digits.insert(0, '0');
            } else if radix == 16 && value != 0 {
                digits.insert_str(0, "0x");
            }
        }
        self.pad(digits, self.precision.is_none())
    }

    fn string(&self, text: &[u8]) -> Vec<u8> {
        let text = match self.precision {
            Some(precision) if precision < text.len() => &text[..precision],
            _ => text,
        };
        let mut out = Vec::with_capacity(self.width.max(text.len()));
        let fill = self.width.saturating_sub(text.len());
        if !self.left {
            out.extend(std::iter::repeat_n(b' ', fill));
        }
        out.extend_from_slice(text);
        if self.left {
            out.extend(std::iter::repeat_n(b' ', fill));
        }
        out
    }

    /// Seconds since the epoch; with a precision, that many digits of the fraction.
    fn epoch(&self, seconds: i64, nanoseconds: u32) -> Vec<u8> {
        let mut body = seconds.to_string();
        if let Some(precision) = self.precision {
            if precision > 0 {
                let fraction = format!("{nanoseconds:09}");
                body.push('.');
                body.push_str(&fraction[..precision.min(9)]);
                body.extend(std::iter::repeat_n('0', precision.saturating_sub(9)));
            }
        }
        self.pad(body, true)
    }
}

struct File<'a> {
    path: &'a Path,
    meta: &'a Metadata,
    follow: bool,
    setting: &'a Setting<'a>,
}

/// What one `%` directive (its conversion, `d`/`r` after `%H`/`%L`, its flags) expands to;
/// None for an unknown one, shown as `?`.
type Directive<'d> = dyn FnMut(u8, Option<u8>, &Spec) -> Option<Vec<u8>> + 'd;

/// Expands every `%` directive of `format`; `selectors` says whether `%H` and `%L` take a
/// following `d` or `r` (file mode).
fn render(format: &[u8], selectors: bool, directive: &mut Directive) -> Vec<u8> {
    let mut out = Vec::new();
    let mut index = 0;
    while index < format.len() {
        let byte = format[index];
        index += 1;
        if byte != b'%' {
            out.push(byte);
            continue;
        }
        let start = index - 1;
        let mut spec = Spec::default();
        while index < format.len() {
            match format[index] {
                b'-' => spec.left = true,
                b'0' => spec.zero = true,
                b'#' => spec.alternate = true,
                b'+' | b' ' | b'\'' | b'I' => {}
                _ => break,
            }
            index += 1;
        }
        while index < format.len() && format[index].is_ascii_digit() {
            spec.width = spec
                .width
                .saturating_mul(10)
                .saturating_add(usize::from(format[index] - b'0'));
            index += 1;
        }
        if index < format.len() && format[index] == b'.' {
            index += 1;
            let digits_start = index;
            let mut precision = 0usize;
            while index < format.len() && format[index].is_ascii_digit() {
                precision = precision
                    .saturating_mul(10)
                    .saturating_add(usize::from(format[index] - b'0'));
                index += 1;
            }
            // GNU: a bare `.` on a time means all nine digits of the fraction.
            spec.precision = Some(if index == digits_start { 9 } else { precision });
        }
        let Some(&conversion) = format.get(index) else {
            out.extend_from_slice(&format[start..]);
            break;
        };
        index += 1;
        if conversion == b'%' {
            out.push(b'%');
            continue;
        }
        let mut selector = None;
        if selectors && matches!(conversion, b'H' | b'L') {
            if let Some(&which @ (b'd' | b'r')) = format.get(index) {
                selector = Some(which);
                index += 1;
            }
        }
        match directive(conversion, selector, &spec) {
            Some(text) => out.extend_from_slice(&text),
            None => out.push(b'?'),
        }
    }
    out
}

impl File<'_> {
    fn directive(
        &self,
        conversion: u8,
        selector: Option<u8>,
        spec: &Spec,
        quote_names: bool,
    ) -> Option<Vec<u8>> {
        let meta = self.meta;
        let mode = meta.mode();
        let kind = FileType::of(mode);
        let time = |seconds: i64, nanoseconds: i64| {
            let nanoseconds = u32::try_from(nanoseconds).unwrap_or(0);
            let text = LocalTime::of(seconds)
                .map(|local| local.full(nanoseconds))
                .unwrap_or_else(|| seconds.to_string());
            spec.string(text.as_bytes())
        };
        let text = match conversion {
            b'a' => spec.unsigned(u64::from(mode & 0o7777), 8),
            b'A' => spec.string(mode_string(mode).as_bytes()),
            b'b' => spec.unsigned(meta.blocks(), 10),
            b'B' => spec.unsigned(512, 10),
            b'C' => spec.string(&self.context()),
            b'd' => spec.unsigned(meta.dev(), 10),
            b'D' => spec.unsigned(meta.dev(), 16),
            b'f' => spec.unsigned(u64::from(mode), 16),
            b'F' => spec.string(kind.describe(meta.size()).as_bytes()),
            b'g' => spec.unsigned(u64::from(meta.gid()), 10),
            b'G' => spec.string(
                self.setting
                    .accounts
                    .group_name(meta.gid())
                    .unwrap_or("UNKNOWN")
                    .as_bytes(),
            ),
            b'h' => spec.unsigned(meta.nlink(), 10),
            b'i' => spec.unsigned(meta.ino(), 10),
            b'm' => {
                let mount = mount_point(self.path, self.follow).ok()?;
                spec.string(mount.as_os_str().as_bytes())
            }
            b'n' => spec.string(self.path.as_os_str().as_bytes()),
            b'N' => spec.string(&self.quoted_name(quote_names)),
            b'o' => spec.unsigned(meta.blksize(), 10),
            b's' => spec.unsigned(meta.size(), 10),
            b'r' => spec.unsigned(meta.rdev(), 10),
            b'R' => spec.unsigned(meta.rdev(), 16),
            b't' => spec.unsigned(u64::from(libc::major(meta.rdev())), 16),
            b'T' => spec.unsigned(u64::from(libc::minor(meta.rdev())), 16),
            b'H' | b'L' => {
                let device = match selector? {
                    b'd' => meta.dev(),
                    _ => meta.rdev(),
                };
                let part = if conversion == b'H' {
                    libc::major(device)
                } else {
                    libc::minor(device)
                };
                spec.unsigned(u64::from(part), 10)
            }
            b'u' => spec.unsigned(u64::from(meta.uid()), 10),
            b'U' => spec.string(
                self.setting
                    .accounts
                    .user_name(meta.uid())
                    .unwrap_or("UNKNOWN")
                    .as_bytes(),
            ),
            b'w' => match self.birth() {
                Some((seconds, nanoseconds)) => time(seconds, i64::from(nanoseconds)),
                None => spec.string(b"-"),
            },
            b'W' => match self.birth() {
                Some((seconds, nanoseconds)) => spec.epoch(seconds, nanoseconds),
                None => spec.epoch(0, 0),
            },
            b'x' => time(meta.atime(), meta.atime_nsec()),
            b'y' => time(meta.mtime(), meta.mtime_nsec()),
            b'z' => time(meta.ctime(), meta.ctime_nsec()),
            b'X' => spec.epoch(meta.atime(), nsec(meta.atime_nsec())),
            b'Y' => spec.epoch(meta.mtime(), nsec(meta.mtime_nsec())),
            b'Z' => spec.epoch(meta.ctime(), nsec(meta.ctime_nsec())),
            _ => return None,
        };
        Some(text)
    }

    /// The SELinux context; without one, GNU's complaint and `?`.
    fn context(&self) -> Vec<u8> {
        let found = crate::sys::xattr::get(self.path, "security.selinux");
        if let Ok(Some(mut context)) = found {
            if context.last() == Some(&0) {
                context.pop();
            }
            return context;
        }
        let err = match found {
            Err(err) => err,
            _ => std::io::Error::from_raw_os_error(libc::ENODATA),
        };
        let shown = quote_c_locale(self.path);
        let message = format!(
            "failed to get security context of {shown}: {}",
            strerror(&err)
        );
        complain(self.setting.name, message);
        self.setting.failed.set(true);
        b"?".to_vec()
    }

    /// The birth time, from `statx`; `-` is standard input, reached through /proc.
    fn birth(&self) -> Option<(i64, u32)> {
        if self.path.as_os_str() == "-" {
            birth_time(Path::new("/proc/self/fd/0"), true)
        } else {
            birth_time(self.path, self.follow)
        }
    }

    fn quoted_name(&self, quote: bool) -> Vec<u8> {
        let show = |bytes: &[u8]| {
            if quote {
                quote_style(bytes, self.setting.style, b"")
            } else {
                bytes.to_vec()
            }
        };
        let mut text = show(self.path.as_os_str().as_bytes());
        if FileType::of(self.meta.mode()) == FileType::Symlink {
            if let Ok(target) = std::fs::read_link(self.path) {
                text.extend_from_slice(b" -> ");
                text.extend_from_slice(&show(target.as_os_str().as_bytes()));
            }
        }
        text
    }
}

fn nsec(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

/// The directory a file's file system is mounted on: the highest ancestor on the same device.
fn mount_point(path: &Path, follow: bool) -> std::io::Result<PathBuf> {
    let absolute = if follow {
        std::fs::canonicalize(path)?
    } else {
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        match path.file_name() {
            Some(name) => std::fs::canonicalize(parent)?.join(name),
            None => std::fs::canonicalize(path)?,
        }
    };
    let device = std::fs::symlink_metadata(&absolute)?.dev();
    let mut current = absolute.as_path();
    while let Some(parent) = current.parent() {
        if std::fs::symlink_metadata(parent)?.dev() != device {
            break;
        }
        current = parent;
    }
    Ok(current.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_escapes() {
        assert_eq!(unescape(b"a\\tb\\n\\101\\x41\\\\"), b"a\tb\nAA\\");
        assert_eq!(unescape(b"trailing\\"), b"trailing\\");
    }

    #[test]
    fn numbers_take_printf_flags() {
        let spec = Spec {
            zero: true,
            width: 4,
            ..Spec::default()
        };
        assert_eq!(spec.unsigned(0o644, 8), b"0644");
        let spec = Spec {
            left: true,
            width: 6,
            ..Spec::default()
        };
        assert_eq!(spec.unsigned(4096, 10), b"4096  ");
        let spec = Spec {
            precision: Some(3),
            width: 10,
            ..Spec::default()
        };
        assert_eq!(spec.epoch(1577836800, 5_000_000), b"1577836800.005");
    }
}
