//! usage: rescue touch [-acfhm] [-d DATE | -r RFILE | -t STAMP] [--time=WORD] FILE...
//!
//! Set access and modification times to now (or to the given time), creating missing files
//! with mode 0666 less the umask, as GNU touch. `-` is standard output.
//!
//!   -a  access time only        -m  modification time only
//!   -c  do not create files     -h  change a symlink itself (never creates)
//!   -d DATE   `YYYY-MM-DD[ T]HH:MM[:SS[.frac]]`, `@EPOCH`, `now`, with `Z`/`UTC`/`+hh:mm`
//!   -r RFILE  RFILE's times (with -d, an absolute DATE wins)
//!   -t STAMP  `[[CC]YY]MMDDhhmm[.ss]`
//!   --time=atime|access|use|mtime|modify   as -a or -m
//!
//! Local times use `$TZ` or `/etc/localtime` (TZif), else UTC; see `sys::date_spec`. GNU's
//! relative dates (`yesterday`, `-1 day`) are not understood: they are an invalid date.
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
use crate::sys::date_spec::{parse_date, parse_stamp, Instant};

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
    #[arg(short = 'd', long = "date", value_name = "STRING")]
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
    #[arg(short = 't', value_name = "STAMP", conflicts_with_all = ["date", "reference"])]
    stamp: Option<String>,
    /// change the specified time: access, atime, use, modify, mtime
    #[arg(long = "time", value_name = "WORD")]
    time: Option<String>,
    /// print help
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[arg(required = true, value_name = "FILE")]
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
    let args: Args = super::parse(name, args)?;
    let _ = args.force;
    let (access, modify) = which_times(&args)?;
    let (atime, mtime) = given_times(&args)?;
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
            return Err(Exit::failed(
                1,
                format!("invalid argument {word} for '--time'"),
            ));
        }
    }
    if !access && !modify {
        return Ok((true, true));
    }
    Ok((access, modify))
}

/// The access and modification times to set, `None` meaning "now" (UTIME_NOW, which also
/// works on files we may only write, not own): `-r`'s, then `-d`'s or `-t`'s.
fn given_times(args: &Args) -> Result<(Option<Instant>, Option<Instant>), Exit> {
    let (mut atime, mut mtime) = (None, None);
    if let Some(reference) = &args.reference {
        let meta = super::reference_metadata(reference, !args.no_dereference)?;
        atime = Some(Instant {
            secs: meta.atime(),
            nanos: meta.atime_nsec() as u32,
        });
        mtime = Some(Instant {
            secs: meta.mtime(),
            nanos: meta.mtime_nsec() as u32,
        });
    }
    let parsed = if let Some(date) = &args.date {
        Some(parse_date(date, now()).map_err(|_| date))
    } else {
        args.stamp
            .as_ref()
            .map(|stamp| parse_stamp(stamp, now()).map_err(|_| stamp))
    };
    match parsed {
        None => Ok((atime, mtime)),
        Some(Ok(time)) => Ok((Some(time), Some(time))),
        Some(Err(text)) => Err(Exit::failed(
            1,
            format!("invalid date format {}", quote(Path::new(text))),
        )),
    }
}

fn touch(file: &Path, times: &[libc::timespec; 2], args: &Args) -> Result<(), String> {
    if file.as_os_str() == "-" {
        // SAFETY: fd 1 is ours to use; times points at two timespecs.
        let rc = unsafe { libc::futimens(1, times.as_ptr()) };
        return if rc == 0 {
            Ok(())
        } else {
            let err = io::Error::last_os_error();
            Err(format!(
                "setting times of 'standard output': {}",
                strerror(&err)
            ))
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
