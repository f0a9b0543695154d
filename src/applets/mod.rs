//! The commands a person types. Each applet is one file: a doc comment that reads like its help
//! text, a clap definition, and a `main` that calls the library and decides messages and exit
//! codes. This file holds the applet table, the multi-call dispatch, and the few conventions
//! every applet shares (how arguments are parsed, how errors are printed).

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};

mod cat;
mod chmod;
mod chown;
mod cp;
mod install;
mod ln;
mod ls;
mod md5sum;
mod mkdir;
mod mv;
mod readlink;
mod restore;
mod rm;
mod rmdir;
mod stat;
mod sync;
mod touch;
mod undo;
mod verify;

/// Names in applets' messages are quoted the way GNU quotes them (`quoteaf`); the other styles
/// are in [`crate::sys::quoting`].
pub use crate::sys::quoting::quote;

/// One command of the multi-call binary.
pub struct Applet {
    pub name: &'static str,
    pub summary: &'static str,
    /// Runs the applet with its arguments (without the applet name); returns the exit code.
    pub main: fn(&'static str, Vec<OsString>) -> i32,
}

/// Every applet, in the order `--list` prints them.
pub const APPLETS: &[Applet] = &[
    Applet {
        name: "cat",
        summary: "concatenate files to standard output",
        main: cat::main,
    },
    Applet {
        name: "chmod",
        summary: "change file mode bits",
        main: chmod::main,
    },
    Applet {
        name: "chown",
        summary: "change owner and group (names from ROOT's files)",
        main: chown::main,
    },
    Applet {
        name: "cp",
        summary: "copy files and trees",
        main: cp::main,
    },
    Applet {
        name: "ln",
        summary: "make links",
        main: ln::main,
    },
    Applet {
        name: "ls",
        summary: "list directory contents",
        main: ls::main,
    },
    Applet {
        name: "md5sum",
        summary: "compute or check MD5 digests",
        main: md5sum::main,
    },
    Applet {
        name: "mkdir",
        summary: "make directories",
        main: mkdir::main,
    },
    Applet {
        name: "mv",
        summary: "move or rename files",
        main: mv::main,
    },
    Applet {
        name: "restore",
        summary: "put back broken package files from .deb archives",
        main: restore::main,
    },
    Applet {
        name: "readlink",
        summary: "print symlink targets or canonical paths",
        main: readlink::main,
    },
    Applet {
        name: "rm",
        summary: "remove files; never follows a symlink",
        main: rm::main,
    },
    Applet {
        name: "rmdir",
        summary: "remove empty directories",
        main: rmdir::main,
    },
    Applet {
        name: "sha256sum",
        summary: "compute or check SHA256 digests",
        main: md5sum::main,
    },
    Applet {
        name: "stat",
        summary: "display file status",
        main: stat::main,
    },
    Applet {
        name: "sync",
        summary: "flush file system buffers",
        main: sync::main,
    },
    Applet {
        name: "touch",
        summary: "change file timestamps",
        main: touch::main,
    },
    Applet {
        name: "undo",
        summary: "reverse a restore run from its journal",
        main: undo::main,
    },
    Applet {
        name: "verify",
        summary: "check package-owned files against the dpkg database",
        main: verify::main,
    },
];

pub fn find(name: &str) -> Option<&'static Applet> {
    APPLETS.iter().find(|applet| applet.name == name)
}

/// Multi-call dispatch on `argv[0]`'s file name, else on the first argument.
pub fn dispatch(mut args: Vec<OsString>) -> i32 {
    let argv0 = if args.is_empty() {
        OsString::from("rescue")
    } else {
        args.remove(0)
    };
    let invoked_as = Path::new(&argv0)
        .file_name()
        .unwrap_or(OsStr::new("rescue"));
    if let Some(applet) = invoked_as.to_str().and_then(find) {
        return (applet.main)(applet.name, args);
    }
    let Some(first) = args.first().cloned() else {
        print_usage();
        return 2;
    };
    match first.to_str() {
        Some("--help" | "-h" | "help") => {
            print_usage();
            0
        }
        Some("--version") => {
            println!("rescue {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("--list") => {
            let mut out = std::io::stdout().lock();
            for applet in APPLETS {
                let _ = writeln!(out, "{}", applet.name);
            }
            0
        }
        Some("--install") => install::main(&argv0, &args[1..]),
        Some(name) if find(name).is_some() => {
            let applet = find(name).expect("checked above");
            args.remove(0);
            (applet.main)(applet.name, args)
        }
        _ => {
            eprintln!(
                "rescue: unknown applet '{}'; 'rescue --list' names them",
                first.to_string_lossy()
            );
            2
        }
    }
}

fn print_usage() {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "rescue {}: one static binary for a broken Debian-family root\n\n\
         usage: rescue APPLET [ARGS]   (or a link named APPLET pointing at rescue)\n\
         \x20      rescue --list          applet names\n\
         \x20      rescue --install DIR   a symlink for every applet in DIR\n\n\
         applets:",
        env!("CARGO_PKG_VERSION")
    );
    for applet in APPLETS {
        let _ = writeln!(out, "  {:<10} {}", applet.name, applet.summary);
    }
}

/// Parses an applet's arguments with clap; on `--help` or a usage error prints what clap says
/// and returns the exit code to leave with (0 for help, 2 for a usage error, as GNU does for
/// most tools; applets whose GNU peer uses 1 pass `usage_exit`).
pub fn parse<T: clap::Parser>(name: &'static str, args: Vec<OsString>) -> Result<T, i32> {
    parse_with_exit::<T>(name, args, 2)
}

pub fn parse_with_exit<T: clap::Parser>(
    name: &'static str,
    args: Vec<OsString>,
    usage_exit: i32,
) -> Result<T, i32> {
    let command = T::command().name(name).bin_name(format!("rescue {name}"));
    let argv = std::iter::once(OsString::from(name)).chain(args);
    let parsed = command
        .try_get_matches_from(argv)
        .and_then(|mut matches| T::from_arg_matches_mut(&mut matches));
    parsed.map_err(|err| {
        let _ = err.print();
        if err.use_stderr() {
            usage_exit
        } else {
            0
        }
    })
}

/// Prints `rescue APPLET: MESSAGE` on stderr, the shape GNU tools use.
pub fn complain(applet: &str, message: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr().lock(), "rescue {applet}: {message}");
}

/// The error text of an I/O error, without Rust's "(os error N)" suffix.
pub fn strerror(err: &std::io::Error) -> String {
    crate::sys::errno::describe(err)
}

/// Turns an OsString argument into a path.
pub fn path_of(arg: &OsStr) -> PathBuf {
    PathBuf::from(arg)
}

/// The metadata of a `--reference=FILE`, or GNU's message and exit code 1 (chmod, chown,
/// touch).
pub fn reference_metadata(
    applet: &str,
    reference: &Path,
    follow: bool,
) -> Result<std::fs::Metadata, i32> {
    let meta = if follow {
        std::fs::metadata(reference)
    } else {
        std::fs::symlink_metadata(reference)
    };
    meta.map_err(|err| {
        complain(
            applet,
            format!(
                "failed to get attributes of {}: {}",
                quote(reference),
                strerror(&err)
            ),
        );
        1
    })
}

/// ROOT (which must be a directory) and its dpkg database (`--admindir` or
/// ROOT/var/lib/dpkg), or the message and exit code 2 (verify, restore).
pub fn open_root_database(
    applet: &str,
    root_dir: &Path,
    admindir: Option<&Path>,
) -> Result<(crate::sys::root::Root, crate::dpkg::Database), i32> {
    if !root_dir.is_dir() {
        complain(
            applet,
            format!("cannot use root {}: not a directory", quote(root_dir)),
        );
        return Err(2);
    }
    let root = crate::sys::root::Root::new(root_dir);
    // ROOT's database is read inside ROOT; `--admindir` is a host path by contract.
    let opened = match admindir {
        Some(admindir) => crate::dpkg::Database::open(admindir),
        None => crate::dpkg::Database::open_in(&root),
    };
    match opened {
        Ok(db) => Ok((root, db)),
        Err(err) => {
            complain(applet, format!("cannot read the dpkg database: {err}"));
            Err(2)
        }
    }
}
