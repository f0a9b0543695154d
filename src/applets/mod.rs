//! The commands a person types. Each applet is one file: a doc comment that is its help text
//! (`--help` ends with it; see build.rs), a clap definition, and a `run` that calls the library
//! and decides messages and exit statuses. This file holds the applet table, the multi-call
//! dispatch, and how arguments are parsed; `messages` holds how applets speak and stop.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};

mod accounts;
mod cat;
mod changes;
mod chmod;
mod chown;
mod chroot;
mod cp;
mod df;
mod dmesg;
mod doctor;
mod free;
mod fuser;
mod holders;
mod install;
mod ip;
mod kill;
mod ldd;
mod ln;
mod log;
mod ls;
mod md5sum;
mod messages;
mod mkdir;
mod mount;
mod mountpoint;
mod mounts;
mod mv;
mod ps;
mod readlink;
mod restore;
mod rm;
mod rmdir;
mod salvage;
mod seed;
mod ss;
mod stat;
mod sync;
mod top;
mod touch;
mod umount;
mod undo;
mod uptime;
mod verify;

/// Names in applets' messages are quoted the way GNU quotes them (`quoteaf`); the other styles
/// are in [`crate::sys::quoting`].
pub use crate::sys::quoting::quote;
pub use messages::{ask, ask_until_end, complain, describe_io, program, strerror, Exit, Yes};

/// One command of the multi-call binary.
pub struct Applet {
    pub name: &'static str,
    pub summary: &'static str,
    /// The exit status of a usage error: 1 where the GNU peer uses 1, else 2.
    pub usage_status: i32,
    /// The long help `--help` ends with: the `//!` block its file starts with (see build.rs).
    pub help: &'static str,
    /// Its clap definition, as written (`parse` names it after the applet and adds `help`).
    pub command: fn() -> clap::Command,
    /// Runs the applet with its arguments (without the applet name): `Ok` with the exit status
    /// when it ran to the end, an [`Exit`] when it stopped early.
    pub run: fn(&'static str, Vec<OsString>) -> Result<i32, Exit>,
}

/// An [`Applet`] from its module: `applet!("name", module, "summary", usage status)`.
macro_rules! applet {
    ($name:literal, $module:ident, $summary:literal, $usage_status:literal) => {
        Applet {
            name: $name,
            summary: $summary,
            usage_status: $usage_status,
            help: include_str!(concat!(
                env!("OUT_DIR"),
                "/applets/",
                stringify!($module),
                ".txt"
            )),
            command: <$module::Args as clap::CommandFactory>::command,
            run: $module::run,
        }
    };
}

/// Every applet, in the order `--list` prints them.
pub const APPLETS: &[Applet] = &[
    applet!(
        "accounts",
        accounts,
        "check and repair ROOT's passwd, group, shadow and gshadow",
        2
    ),
    applet!("cat", cat, "concatenate files to standard output", 1),
    applet!(
        "changes",
        changes,
        "files changed since a time, and which package owns them",
        2
    ),
    applet!("chmod", chmod, "change file mode bits", 1),
    applet!(
        "chown",
        chown,
        "change owner and group (names from ROOT's files)",
        1
    ),
    applet!(
        "chroot",
        chroot,
        "run a command with another root (users from its files)",
        125
    ),
    applet!("cp", cp, "copy files and trees", 1),
    applet!("df", df, "report file system space usage", 1),
    applet!("dmesg", dmesg, "print the kernel ring buffer", 1),
    applet!(
        "doctor",
        doctor,
        "triage a root: what is wrong, most urgent first, what to run next",
        2
    ),
    applet!("free", free, "display free and used memory", 1),
    applet!(
        "fuser",
        fuser,
        "identify processes using files or file systems",
        1
    ),
    applet!(
        "holders",
        holders,
        "everything that keeps a mount busy, and what to run next",
        2
    ),
    applet!(
        "ip",
        ip,
        "show interfaces, addresses and routes (read-only)",
        2
    ),
    applet!("kill", kill, "send a signal to processes", 1),
    applet!(
        "ldd",
        ldd,
        "why a program will not start: its loader and libraries",
        2
    ),
    applet!("ln", ln, "make links", 1),
    applet!("log", log, "search syslog files and systemd journals", 2),
    applet!("ls", ls, "list directory contents", 2),
    applet!("md5sum", md5sum, "compute or check MD5 digests", 1),
    applet!("mkdir", mkdir, "make directories", 1),
    applet!("mount", mount, "mount a file system, or list mounts", 1),
    applet!(
        "mountpoint",
        mountpoint,
        "see whether a directory is a mount point",
        1
    ),
    applet!(
        "mounts",
        mounts,
        "the mount table, with what is wrong in it",
        2
    ),
    applet!("mv", mv, "move or rename files", 1),
    applet!("ps", ps, "report a snapshot of the processes", 1),
    applet!(
        "readlink",
        readlink,
        "print symlink targets or canonical paths",
        1
    ),
    applet!(
        "restore",
        restore,
        "put back broken package files from .deb archives",
        2
    ),
    applet!("rm", rm, "remove files; never follows a symlink", 1),
    applet!("rmdir", rmdir, "remove empty directories", 1),
    applet!(
        "salvage",
        salvage,
        "recover deleted files that running processes still hold",
        2
    ),
    applet!(
        "seed",
        seed,
        "make or refresh the seeded kit (/srv/rescue)",
        2
    ),
    applet!("sha256sum", md5sum, "compute or check SHA256 digests", 1),
    applet!(
        "ss",
        ss,
        "list TCP, UDP and unix sockets and their processes",
        2
    ),
    applet!("stat", stat, "display file status", 1),
    applet!("sync", sync, "flush file system buffers", 2),
    applet!("top", top, "display processes, refreshed", 1),
    applet!("touch", touch, "change file timestamps", 1),
    applet!("umount", umount, "unmount file systems", 1),
    applet!("undo", undo, "reverse a restore run from its journal", 2),
    applet!("uptime", uptime, "how long the system has been running", 1),
    applet!(
        "verify",
        verify,
        "check package-owned files against the dpkg database",
        2
    ),
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
        messages::set_program(applet.name.to_string());
        return applet.main(args);
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
            messages::set_program(format!("rescue {}", applet.name));
            applet.main(args)
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

impl Applet {
    /// Runs the applet and says what its [`Exit`] left to say; returns the exit status.
    pub fn main(&self, args: Vec<OsString>) -> i32 {
        (self.run)(self.name, args).unwrap_or_else(|exit| exit.finish(self.name, self.usage_status))
    }
}

/// Parses an applet's arguments with clap, under the applet's name as it was called and with
/// its `//!` block as the long help. Long options may be abbreviated as GNU's getopt allows
/// (`--rem` for `--remove-destination`), and every applet answers `--version`. On `--help` or
/// `--version` the `Exit` carries clap's words, on a usage error GNU getopt's.
pub fn parse<T: clap::Parser>(name: &'static str, args: Vec<OsString>) -> Result<T, Exit> {
    let mut matches = parse_matches::<T>(name, args)?;
    Ok(T::from_arg_matches_mut(&mut matches)?)
}

/// As [`parse`], but the matches themselves, for an applet whose options act in the order
/// given (GNU `ls`: the last of `-l`, `-1`, `-C`, `--format` wins, `-f` undoes an earlier `-l`).
pub fn parse_matches<T: clap::CommandFactory>(
    name: &'static str,
    args: Vec<OsString>,
) -> Result<clap::ArgMatches, Exit> {
    let mut command = T::command()
        .name(name)
        .bin_name(program())
        .infer_long_args(true)
        .version(version_line(name))
        .disable_version_flag(true)
        .arg(
            clap::Arg::new("rescue-version")
                .long("version")
                .help("output version information and exit")
                .action(clap::ArgAction::Version),
        );
    if let Some(applet) = find(name) {
        command = command.after_long_help(applet.help);
    }
    // A missing value is named the way its option was typed: `-r` or `--reference`. It can
    // only be missing from the last argument.
    let last_short = args
        .last()
        .and_then(|arg| arg.to_str())
        .filter(|arg| arg.starts_with('-') && !arg.starts_with("--"))
        .and_then(|arg| arg.chars().last());
    let argv = std::iter::once(OsString::from(name)).chain(args);
    command.try_get_matches_from_mut(argv).map_err(|err| {
        let typed_short = |long: &str| {
            command
                .get_arguments()
                .find(|arg| arg.get_long() == Some(long))
                .and_then(clap::Arg::get_short)
                .filter(|short| Some(*short) == last_short)
        };
        messages::usage_error(err, typed_short)
    })
}

/// What `--version` prints after the applet's name. The applets that stand in for GNU
/// coreutils end with the coreutils version they behave like, in GNU's shape (`ls (GNU
/// coreutils) 9.1`), since scripts and GNU's own tests read the last word to check which
/// version they run.
fn version_line(name: &str) -> &'static str {
    const COREUTILS: &[&str] = &[
        "cat",
        "chmod",
        "chown",
        "chroot",
        "cp",
        "df",
        "ln",
        "ls",
        "md5sum",
        "mkdir",
        "mv",
        "readlink",
        "rm",
        "rmdir",
        "sha256sum",
        "stat",
        "sync",
        "touch",
    ];
    if COREUTILS.contains(&name) {
        concat!("(rescue ", env!("CARGO_PKG_VERSION"), ") 9.1")
    } else {
        concat!("(rescue) ", env!("CARGO_PKG_VERSION"))
    }
}

/// Turns an OsString argument into a path.
pub fn path_of(arg: &OsStr) -> PathBuf {
    PathBuf::from(arg)
}

/// `-b`, `--backup[=CONTROL]` and `-S` as GNU reads them (cp, mv, ln): `-S` alone asks for
/// backups too, and `none` makes none.
pub fn backup_from(
    b: bool,
    backup: Option<&str>,
    suffix: Option<&std::ffi::OsStr>,
) -> Result<Option<crate::sys::backup::Backup>, Exit> {
    if !b && backup.is_none() && suffix.is_none() {
        return Ok(None);
    }
    let control = backup.filter(|c| !c.is_empty());
    let kind = crate::sys::backup::BackupKind::from_control(control).map_err(Exit::usage)?;
    if kind == crate::sys::backup::BackupKind::None {
        return Ok(None);
    }
    Ok(Some(crate::sys::backup::Backup::new(kind, suffix)))
}

/// The metadata of a `--reference=FILE`, or GNU's message and exit status 1 (chmod, chown,
/// touch).
pub fn reference_metadata(reference: &Path, follow: bool) -> Result<std::fs::Metadata, Exit> {
    let meta = if follow {
        std::fs::metadata(reference)
    } else {
        std::fs::symlink_metadata(reference)
    };
    meta.map_err(|err| {
        Exit::failed(
            1,
            format!(
                "failed to get attributes of {}: {}",
                quote(reference),
                strerror(&err)
            ),
        )
    })
}

/// ROOT (which must be a directory) and its dpkg database (`--admindir` or
/// ROOT/var/lib/dpkg), or the message and exit status 2 (verify, restore).
pub fn open_root_database(
    root_dir: &Path,
    admindir: Option<&Path>,
) -> Result<(crate::sys::root::Root, crate::dpkg::Database), Exit> {
    if !root_dir.is_dir() {
        return Err(Exit::failed(
            2,
            format!("cannot use root {}: not a directory", quote(root_dir)),
        ));
    }
    let root = crate::sys::root::Root::new(root_dir);
    // ROOT's database is read inside ROOT; `--admindir` is a host path by contract.
    let opened = match admindir {
        Some(admindir) => crate::dpkg::Database::open(admindir),
        None => crate::dpkg::Database::open_in(&root),
    };
    let db =
        opened.map_err(|err| Exit::failed(2, format!("cannot read the dpkg database: {err}")))?;
    Ok((root, db))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `usage:` lines of a doc block: from the line starting `usage:` to the first blank
    /// line.
    fn usage_lines(help: &str) -> String {
        let lines: Vec<&str> = help
            .lines()
            .skip_while(|line| !line.starts_with("usage:"))
            .take_while(|line| !line.trim().is_empty())
            .collect();
        lines.join("\n")
    }

    /// Whether `-X` is in usage text: on its own (`[-X]`, `-X|-Y`, `-X DIR`) or in a cluster
    /// (`[-abX]`).
    fn mentions_short(usage: &str, short: char) -> bool {
        usage
            .split(|c: char| c.is_whitespace() || "[]|()".contains(c))
            .filter_map(|word| word.strip_prefix('-'))
            .filter(|flags| !flags.starts_with('-'))
            .any(|flags| flags.split(['=', ',']).next().unwrap_or("").contains(short))
    }

    /// Whether `--NAME` is in usage text as a whole option name (`--NAME`, `--NAME=X`,
    /// `--NAME[=X]`), not as the start of a longer one.
    fn mentions_long(usage: &str, long: &str) -> bool {
        let option = format!("--{long}");
        usage.match_indices(&option).any(|(at, _)| {
            let next = usage[at + option.len()..].chars().next();
            !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    }

    /// Every option an applet accepts is in the `usage:` lines its doc block starts with, as
    /// toybox writes them: each short option (aliases too), and each option without one by its
    /// long name.
    #[test]
    fn usage_lines_name_every_option() {
        let mut missing = Vec::new();
        for applet in APPLETS {
            let usage = usage_lines(applet.help);
            assert!(!usage.is_empty(), "{}: no `usage:` line", applet.name);
            let command = (applet.command)();
            for arg in command.get_arguments() {
                if arg.is_positional() || arg.get_id() == "help" {
                    continue;
                }
                let shorts = arg.get_all_short_aliases().unwrap_or_default();
                let shorts: Vec<char> = arg.get_short().into_iter().chain(shorts).collect();
                for short in &shorts {
                    if !mentions_short(&usage, *short) {
                        missing.push(format!("{}: -{short}", applet.name));
                    }
                }
                if let (true, Some(long)) = (shorts.is_empty(), arg.get_long()) {
                    if !mentions_long(&usage, long) {
                        missing.push(format!("{}: --{long}", applet.name));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "not in the usage lines: {missing:#?}");
    }
}
