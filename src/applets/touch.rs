//! usage: rescue touch [-acfhm] [-d DATE | -r RFILE | -t STAMP] [--time=WORD] FILE...
//!
//! Set access and modification times to now (or to the given time), creating missing files
//! with mode 0666 less the umask, as GNU touch. `-` is standard output.
//!
//!   -a  access time only        -m  modification time only
//!   -c  do not create files     -h  change a symlink itself (never creates)
//!   -d DATE   GNU's date forms: `YYYY-MM-DD[ T]HH:MM[:SS[.frac]]`, `@EPOCH`, `now`,
//!             `yesterday`, `-1 hour`, `2 days ago`, `next friday`, zones `UTC`/`+hh:mm`
//!   -r RFILE  RFILE's times; with -d, DATE's relative items move from them
//!   -t STAMP  `[[CC]YY]MMDDhhmm[.ss]` (`.60`, a leap second, is the next minute)
//!   --time=atime|access|use|mtime|modify   as -a or -m
//!
//! `touch MMDDhhmm[YY] FILE...` takes its first operand as the time when `_POSIX2_VERSION`
//! is older than 200112, as GNU. Local times use `$TZ` or `/etc/localtime` (TZif), else UTC;
//! see `sys::date_spec`.
//! Exit 0 when every file was touched, 1 otherwise.

use std::ffi::{CString, OsString};
use std::fs::OpenOptions;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use clap::Parser;

use super::Exit;

use super::{complain, quote, strerror};
use crate::sys::date_spec::{parse_date, parse_obsolete_stamp, parse_stamp, Instant};

#[derive(Parser)]
#[command(about = "Change file timestamps", disable_help_flag = true)]
pub(super) struct Args {
    /// change only the access time
    #[arg(short = 'a')]
    access: bool,
    /// do not create any files
    #[arg(short = 'c', long = "no-create")]
    no_create: bool,
    /// parse STRING and use it instead of current time
    #[arg(
        short = 'd',
        long = "date",
        value_name = "STRING",
        allow_hyphen_values = true
    )]
    date: Option<String>,
    /// (ignored)
    #[arg(short = 'f')]
    force: bool,
    /// affect each symbolic link instead of any referenced file
    #[arg(short = 'h', long = "no-dereference")]
    no_dereference: bool,
    /// change only the modification time
    #[arg(short = 'm')]
    modify: bool,
    /// use this file's times instead of current time
    #[arg(short = 'r', long = "reference", value_name = "FILE")]
    reference: Option<PathBuf>,
    /// use [[CC]YY]MMDDhhmm[.ss] instead of current time
    #[arg(short = 't', value_name = "STAMP")]
    stamp: Option<String>,
    /// change the specified time: access, atime, use, modify, mtime
    #[arg(long = "time", value_name = "WORD")]
    time: Option<String>,
    /// print help
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// A `timespec` for utimensat: a time, or one of the kernel's markers.
fn timespec(time: Option<Instant>) -> libc::timespec {
    match time {
        Some(t) => libc::timespec {
            tv_sec: t.secs as _,
            tv_nsec: i64::from(t.nanos) as _,
        },
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
    }
}

const OMIT: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: libc::UTIME_OMIT,
};

fn now() -> Instant {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Instant {
        secs: since.as_secs() as i64,
        nanos: since.subsec_nanos(),
    }
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let mut args: Args = super::parse(name, args)?;
    if args.files.is_empty() {
        return Err(Exit::usage("missing file operand"));
    }
    let _ = args.force;
    if args.stamp.is_some() && (args.date.is_some() || args.reference.is_some()) {
        return Err(Exit::usage(
            "cannot specify times from more than one source",
        ));
    }
    let (access, modify) = which_times(&args)?;
    let (atime, mtime) = match obsolete_stamp(name, &mut args) {
        Some(time) => (Some(time), Some(time)),
        None => given_times(&args)?,
    };
    let times = [
        if access { timespec(atime) } else { OMIT },
        if modify { timespec(mtime) } else { OMIT },
    ];
    let mut status = 0;
    for file in &args.files {
        if let Err(message) = touch(file, &times, &args) {
            complain(name, message);
            status = 1;
        }
    }
    Ok(status)
}

/// Whether to set the access time and the modification time (`-a`, `-m`, `--time`; both when
/// none says).
fn which_times(args: &Args) -> Result<(bool, bool), Exit> {
    let (mut access, mut modify) = (args.access, args.modify);
    match args.time.as_deref() {
        None => {}
        Some("atime" | "access" | "use") => access = true,
        Some("mtime" | "modify") => modify = true,
        Some(word) => {
            let word = quote(Path::new(word));
            return Err(Exit::usage(format!(
                "invalid argument {word} for '--time'\nValid arguments are:\n  \
                 - 'atime', 'access', 'use'\n  - 'mtime', 'modify'"
            )));
        }
    }
    if !access && !modify {
        return Ok((true, true));
    }
    Ok((access, modify))
}

/// The access and modification times to set, `None` meaning "now" (UTIME_NOW, which also
/// works on files we may only write, not own): `-r`'s, moved by `-d` (whose relative items
/// start from each of them), or `-d`'s or `-t`'s.
fn given_times(args: &Args) -> Result<(Option<Instant>, Option<Instant>), Exit> {
    let invalid =
        |text: &str| Exit::failed(1, format!("invalid date format {}", quote(Path::new(text))));
    if let Some(reference) = &args.reference {
        let meta = super::reference_metadata(reference, !args.no_dereference)?;
        let mut atime = Instant {
            secs: meta.atime(),
            nanos: meta.atime_nsec() as u32,
        };
        let mut mtime = Instant {
            secs: meta.mtime(),
            nanos: meta.mtime_nsec() as u32,
        };
        if let Some(date) = &args.date {
            atime = parse_date(date, atime).map_err(|_| invalid(date))?;
            mtime = parse_date(date, mtime).map_err(|_| invalid(date))?;
        }
        return Ok((Some(atime), Some(mtime)));
    }
    let parsed = if let Some(date) = &args.date {
        let now = now();
        let parsed = parse_date(date, now).map_err(|_| invalid(date))?;
        if means_now(date, parsed, now, args) {
            return Ok((None, None));
        }
        parsed
    } else if let Some(stamp) = &args.stamp {
        parse_stamp(stamp, now()).map_err(|_| invalid(stamp))?
    } else {
        return Ok((None, None));
    };
    Ok((Some(parsed), Some(parsed)))
}

/// Whether `-d DATE` said "now" (`-d now`, `-d today`) rather than a time that happens to be
/// this instant: parsed from another base, it moves with the base. GNU then sets the times
/// as UTIME_NOW, which a user who may write the file but does not own it is allowed to do.
/// Only when both times change, as GNU.
fn means_now(date: &str, parsed: Instant, now: Instant, args: &Args) -> bool {
    if args.access || args.modify || args.time.is_some() || parsed != now {
        return false;
    }
    let other = Instant {
        secs: now.secs ^ 1,
        nanos: now.nanos,
    };
    parse_date(date, other).is_ok_and(|moved| moved == other)
}

/// POSIX 1992's `touch MMDDhhmm[YY] FILE...`: taken from the operands when no time was
/// given, there are two operands or more, and `_POSIX2_VERSION` asks for a standard older
/// than POSIX 2001 (GNU's rule). GNU warns unless POSIXLY_CORRECT is set.
fn obsolete_stamp(name: &str, args: &mut Args) -> Option<Instant> {
    let old_posix = std::env::var("_POSIX2_VERSION")
        .ok()
        .and_then(|version| version.parse::<i64>().ok())
        .is_some_and(|version| version < 200_112);
    let given = args.date.is_some() || args.stamp.is_some() || args.reference.is_some();
    if given || !old_posix || args.files.len() < 2 {
        return None;
    }
    let text = args.files[0].to_str()?;
    let time = parse_obsolete_stamp(text, now()).ok()?;
    if std::env::var_os("POSIXLY_CORRECT").is_none() {
        let local = parse_stamp_back(text);
        complain(
            name,
            format!("warning: 'touch {text}' is obsolete; use 'touch -t {local}'"),
        );
    }
    args.files.remove(0);
    Some(time)
}

/// `MMDDhhmm[YY]` rewritten as `-t`'s `CCYYMMDDhhmm.ss`.
fn parse_stamp_back(text: &str) -> String {
    let (fields, year) = text.split_at(8);
    let year = if year.is_empty() {
        crate::sys::civil::Civil::from_secs(now().secs)
            .year
            .to_string()
    } else {
        format!("19{year}")
    };
    format!("{year}{fields}.00")
}

fn touch(file: &Path, times: &[libc::timespec; 2], args: &Args) -> Result<(), String> {
    if file.as_os_str() == "-" {
        let rc = if stdout_was_closed() {
            Err(io::Error::from_raw_os_error(libc::EBADF))
        } else {
            // SAFETY: fd 1 is ours to use; times points at two timespecs.
            match unsafe { libc::futimens(1, times.as_ptr()) } {
                0 => Ok(()),
                _ => Err(io::Error::last_os_error()),
            }
        };
        return match rc {
            Ok(()) => Ok(()),
            Err(err) if args.no_create && err.raw_os_error() == Some(libc::EBADF) => Ok(()),
            Err(err) => Err(format!(
                "setting times of 'standard output': {}",
                strerror(&err)
            )),
        };
    }
    // Created (or opened, to learn why not) first; a directory fails here and is still touched.
    let mut open_error = None;
    if !(args.no_create || args.no_dereference) {
        let opened = OpenOptions::new()
            .write(true)
            .create(true)
            .mode(0o666)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(file);
        if let Err(err) = opened {
            open_error = Some(err);
        }
    }
    let Ok(c_path) = CString::new(file.as_os_str().as_bytes()) else {
        return Err(format!("cannot touch {}: Invalid argument", quote(file)));
    };
    let flags = if args.no_dereference {
        libc::AT_SYMLINK_NOFOLLOW
    } else {
        0
    };
    // SAFETY: c_path is a valid C string, times points at two timespecs.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c_path.as_ptr(), times.as_ptr(), flags) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    // A directory cannot be opened for writing (EISDIR): say why its times were not set.
    let open_error = open_error.filter(|e| e.raw_os_error() != Some(libc::EISDIR));
    if let Some(open_error) = open_error {
        return Err(format!(
            "cannot touch {}: {}",
            quote(file),
            strerror(&open_error)
        ));
    }
    if args.no_create && err.kind() == io::ErrorKind::NotFound {
        return Ok(());
    }
    Err(format!(
        "setting times of {}: {}",
        quote(file),
        strerror(&err)
    ))
}

/// Whether the process started with standard output closed. Rust's runtime then puts
/// /dev/null there, opened read-write; a shell's `>/dev/null` opens it write-only. GNU touch
/// says EBADF for `touch - >&-`, and so must we rather than touch /dev/null.
fn stdout_was_closed() -> bool {
    // SAFETY: F_GETFL on a descriptor number has no side effect.
    let flags = unsafe { libc::fcntl(1, libc::F_GETFL) };
    if flags < 0 {
        return true;
    }
    let Ok(meta) = std::fs::metadata("/proc/self/fd/1") else {
        return false;
    };
    let dev_null = libc::makedev(1, 3);
    use std::os::unix::fs::FileTypeExt;
    flags & libc::O_ACCMODE == libc::O_RDWR
        && meta.file_type().is_char_device()
        && meta.rdev() == dev_null
}
