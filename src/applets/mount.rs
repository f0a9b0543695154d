//! usage: rescue mount [-l] [-t TYPE]
//!        rescue mount [-rwnv] [-t TYPE] [-o OPTIONS] [-B|-R|-M] SOURCE DIR
//!        rescue mount [-rwnv] [-T FSTAB] [-o OPTIONS] DIR|SOURCE
//!        rescue mount -a [-v] [-t TYPE] [-T FSTAB]
//!
//!   -t, --types TYPE       the file system type; when listing, only these (`ext4,tmpfs`,
//!                          `noproc`)
//!   -o, --options OPTIONS  comma-separated mount options (may be repeated)
//!   -r, --read-only        mount read-only (`-o ro`)
//!   -w, --rw               mount read-write (`-o rw`)
//!   -B, --bind             bind a directory or file elsewhere (`-o bind`)
//!   -R, --rbind            bind a tree with the mounts inside it (`-o rbind`)
//!   -M, --move             move a mount (`-o move`)
//!   -l, --show-labels      when listing, add `[LABEL]` read from the superblock
//!   -a, --all              mount every fstab line without `noauto` not mounted yet
//!   -T, --fstab PATH       the fstab to read (default /etc/fstab)
//!   -n, --no-mtab          accepted; /etc/mtab is never written (below)
//!   -v, --verbose          say what was mounted
//!
//! util-linux 2.38 `mount` without libmount: no arguments lists the kernel's mount table as
//! `SOURCE on DIR type TYPE (OPTIONS)` (the per-mount options merged with the file system's,
//! as util-linux merges them). Options become MS_* flags (`ro rw nosuid suid nodev dev noexec
//! exec sync async dirsync remount bind rbind move atime noatime diratime nodiratime relatime
//! norelatime strictatime lazytime mand silent nosymfollow`), propagation changes (`private
//! shared slave unbindable`, `r` for the whole tree) are a call of their own after the mount,
//! fstab's own words (`defaults noauto nofail user _netdev x-*`...) are dropped, and the rest
//! is the file system's data. `--bind -o ro` binds, then remounts the bind read-only
//! (MS_REMOUNT|MS_BIND), as util-linux does; `-o remount,ro DIR` keeps DIR's other options
//! (they are read from the mount table and put first, as util-linux does).
//!
//! SOURCE may be `LABEL=x`, `UUID=x` or `PARTUUID=x`: udev's /dev/disk/by-* links first, and
//! when udev is dead, every block device in /proc/partitions read for its ext2/3/4 or xfs
//! superblock. Without `-t`, the type is that superblock's (ext4 when it has a feature ext3
//! lacks, ext3 when it has a journal, else ext2), else each type /proc/filesystems lists for
//! devices is tried in turn. `mount DIR` alone takes the rest from /etc/fstab (its options,
//! then the command line's). A regular file
//! as SOURCE (an image) is attached to a free loop device that goes away when it is
//! unmounted, as util-linux does; the listing shows the image. /etc/mtab is never written:
//! Debian's is a link to /proc/self/mounts, and util-linux 2.38 does not write a regular one.
//!
//! Messages are util-linux's (`mount: /x: mount point does not exist.`). Exit status: 0
//! mounted, 1 incorrect invocation or nothing found (`can't find LABEL=x.`), 32 the mount
//! failed, 64 with `-a` some mounts failed and some did not, 2 the mount table cannot be
//! read.

use std::ffi::{CString, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use clap::Parser;
use libc::c_ulong;

use super::Exit;
use crate::sys::mountinfo::{has_option, Mount, MountTable};
use crate::sys::superblock::{self, Tag};

#[derive(Parser)]
#[command(about = "Mount a file system", args_override_self = true)]
pub(super) struct Args {
    /// file system type(s)
    #[arg(short = 't', long = "types", value_name = "TYPE")]
    types: Option<String>,
    /// mount options
    #[arg(short = 'o', long = "options", value_name = "OPTIONS")]
    options: Vec<String>,
    /// mount read-only
    #[arg(short = 'r', long = "read-only")]
    read_only: bool,
    /// mount read-write
    #[arg(short = 'w', long = "rw", visible_alias = "read-write")]
    read_write: bool,
    /// bind a subtree elsewhere
    #[arg(short = 'B', long = "bind")]
    bind: bool,
    /// bind a subtree and its mounts
    #[arg(short = 'R', long = "rbind")]
    rbind: bool,
    /// move a subtree
    #[arg(short = 'M', long = "move")]
    move_mount: bool,
    /// show labels when listing
    #[arg(short = 'l', long = "show-labels")]
    labels: bool,
    /// mount everything the fstab lists
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// the fstab to read
    #[arg(short = 'T', long = "fstab", value_name = "PATH")]
    fstab: Option<PathBuf>,
    /// do not write /etc/mtab (never written anyway)
    #[arg(short = 'n', long = "no-mtab")]
    no_mtab: bool,
    /// say what is done
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    #[arg(value_name = "SOURCE|DIR")]
    operands: Vec<OsString>,
}

/// MS_NOSYMFOLLOW (Linux 5.10), not in every libc.
const MS_NOSYMFOLLOW: c_ulong = 256;

/// Options that are flags: (name, flag, whether the name sets it or clears it).
const FLAGS: &[(&str, c_ulong, bool)] = &[
    ("ro", libc::MS_RDONLY, true),
    ("rw", libc::MS_RDONLY, false),
    ("nosuid", libc::MS_NOSUID, true),
    ("suid", libc::MS_NOSUID, false),
    ("nodev", libc::MS_NODEV, true),
    ("dev", libc::MS_NODEV, false),
    ("noexec", libc::MS_NOEXEC, true),
    ("exec", libc::MS_NOEXEC, false),
    ("sync", libc::MS_SYNCHRONOUS, true),
    ("async", libc::MS_SYNCHRONOUS, false),
    ("dirsync", libc::MS_DIRSYNC, true),
    ("remount", libc::MS_REMOUNT, true),
    ("bind", libc::MS_BIND, true),
    ("rbind", libc::MS_BIND | libc::MS_REC, true),
    ("move", libc::MS_MOVE, true),
    ("noatime", libc::MS_NOATIME, true),
    ("atime", libc::MS_NOATIME, false),
    ("nodiratime", libc::MS_NODIRATIME, true),
    ("diratime", libc::MS_NODIRATIME, false),
    ("relatime", libc::MS_RELATIME, true),
    ("norelatime", libc::MS_RELATIME, false),
    ("strictatime", libc::MS_STRICTATIME, true),
    ("nostrictatime", libc::MS_STRICTATIME, false),
    ("lazytime", libc::MS_LAZYTIME, true),
    ("nolazytime", libc::MS_LAZYTIME, false),
    ("mand", libc::MS_MANDLOCK, true),
    ("nomand", libc::MS_MANDLOCK, false),
    ("silent", libc::MS_SILENT, true),
    ("loud", libc::MS_SILENT, false),
    ("nosymfollow", MS_NOSYMFOLLOW, true),
    ("symfollow", MS_NOSYMFOLLOW, false),
];

const PROPAGATION: &[(&str, c_ulong)] = &[
    ("private", libc::MS_PRIVATE),
    ("shared", libc::MS_SHARED),
    ("slave", libc::MS_SLAVE),
    ("unbindable", libc::MS_UNBINDABLE),
];

/// fstab's and mount(8)'s own words, never given to the kernel.
const USERSPACE: &[&str] = &[
    "defaults", "auto", "noauto", "user", "nouser", "users", "owner", "group", "nofail", "_netdev",
    "loop", "noswap",
];
const USERSPACE_PREFIXES: &[&str] = &["x-", "X-", "comment=", "loop=", "offset=", "sizelimit="];

/// The flags that `MS_REMOUNT|MS_BIND` changes on one mount.
const PER_MOUNT: c_ulong = libc::MS_RDONLY
    | libc::MS_NOSUID
    | libc::MS_NODEV
    | libc::MS_NOEXEC
    | libc::MS_NOATIME
    | libc::MS_NODIRATIME
    | libc::MS_RELATIME
    | libc::MS_STRICTATIME
    | MS_NOSYMFOLLOW;

/// Mount options as the kernel takes them.
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    flags: c_ulong,
    /// MS_PRIVATE... with MS_REC for the `r` forms; a call of its own.
    propagation: c_ulong,
    data: Vec<String>,
}

impl Options {
    fn add(&mut self, list: &str) {
        for option in list.split(',').filter(|option| !option.is_empty()) {
            if let Some(&(_, flag, set)) = FLAGS.iter().find(|(name, ..)| *name == option) {
                if set {
                    self.flags |= flag;
                } else {
                    self.flags &= !flag;
                }
            } else if let Some(flag) = propagation(option) {
                self.propagation = flag;
            } else if USERSPACE.contains(&option)
                || USERSPACE_PREFIXES.iter().any(|p| option.starts_with(p))
            {
            } else {
                self.data.push(option.to_string());
            }
        }
    }

    fn has(&self, flag: c_ulong) -> bool {
        self.flags & flag != 0
    }
}

fn propagation(option: &str) -> Option<c_ulong> {
    let (recursive, name) = match option.strip_prefix('r') {
        Some(name) if PROPAGATION.iter().any(|(n, _)| *n == name) => (libc::MS_REC, name),
        _ => (0, option),
    };
    let (_, flag) = PROPAGATION.iter().find(|(n, _)| *n == name)?;
    Some(flag | recursive)
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let _ = args.no_mtab;
    let mut raw = args.options.clone();
    for (given, list) in [
        (args.read_only, "ro"),
        (args.read_write, "rw"),
        (args.bind, "bind"),
        (args.rbind, "rbind"),
        (args.move_mount, "move"),
    ] {
        if given {
            raw.push(list.to_string());
        }
    }
    let mut options = Options::default();
    for list in &raw {
        options.add(list);
    }
    if args.all {
        return mount_all(&args, &raw);
    }
    match args.operands.as_slice() {
        [] if args.options.is_empty() && !args.bind && !args.rbind && !args.move_mount => {
            list(&args)
        }
        [] => Err(Exit::usage("bad usage")),
        [one] => mount_one(&args, &raw, options, Path::new(one)),
        [source, target] => {
            let request = Request {
                source: source.clone(),
                target: absolute(Path::new(target)),
                fs_type: args.types.clone(),
                options,
            };
            perform(&request, args.verbose)
        }
        _ => Err(Exit::usage("bad usage")),
    }
}

/// What one mount asks of the kernel.
struct Request {
    source: OsString,
    target: PathBuf,
    fs_type: Option<String>,
    options: Options,
}

/// `mount DIR` or `mount SOURCE`: a remount or propagation change of a mounted DIR, or the
/// rest of the line from /etc/fstab.
fn mount_one(
    args: &Args,
    raw: &[String],
    mut options: Options,
    operand: &Path,
) -> Result<i32, Exit> {
    let target = absolute(operand);
    if options.has(libc::MS_REMOUNT) || (options.propagation != 0 && options.flags == 0) {
        if options.has(libc::MS_REMOUNT) && !options.has(libc::MS_BIND) {
            options = merged_with_current(&target, raw);
        }
        let request = Request {
            source: OsString::from("none"),
            target,
            fs_type: None,
            options,
        };
        return perform(&request, args.verbose);
    }
    let entries = fstab_entries(args);
    let found = entries
        .iter()
        .find(|entry| entry.mount_point == target || entry.source == operand);
    let Some(entry) = found else {
        return Err(Exit::failed(
            1,
            format!(
                "{}: can't find in {}.",
                operand.display(),
                fstab_path(args).display()
            ),
        ));
    };
    perform(
        &fstab_request(entry, args.types.as_deref(), raw),
        args.verbose,
    )
}

/// `-a`: every fstab line not marked `noauto` (nor swap) whose directory has nothing
/// mounted yet, in the file's order. Exit status as util-linux: 0 all mounted, 32 none
/// could be, 64 some could.
fn mount_all(args: &Args, raw: &[String]) -> Result<i32, Exit> {
    let table = MountTable::read().ok();
    let (mut mounted, mut failed) = (0, 0);
    for entry in fstab_entries(args) {
        let fs_type = entry.fs_type.as_str();
        let skipped = has_option(&entry.options, "noauto")
            || fs_type == "swap"
            || !entry.mount_point.is_absolute()
            || args
                .types
                .as_deref()
                .is_some_and(|t| !type_matches(t, fs_type))
            || table
                .as_ref()
                .is_some_and(|table| table.at(&entry.mount_point).next().is_some());
        if skipped {
            continue;
        }
        match perform(&fstab_request(&entry, None, raw), args.verbose) {
            Ok(_) => mounted += 1,
            Err(exit) => {
                exit.finish("mount", 1);
                failed += 1;
            }
        }
    }
    Ok(match (mounted, failed) {
        (_, 0) => 0,
        (0, _) => 32,
        _ => 64,
    })
}

fn fstab_path(args: &Args) -> PathBuf {
    args.fstab
        .clone()
        .unwrap_or_else(|| PathBuf::from("/etc/fstab"))
}

/// The fstab's lines; one that cannot be read is said and skipped, as util-linux does.
fn fstab_entries(args: &Args) -> Vec<Mount> {
    let path = fstab_path(args);
    let data = std::fs::read(&path).unwrap_or_default();
    let mut entries = Vec::new();
    for (index, line) in data.split(|&byte| byte == b'\n').enumerate() {
        // The dump and pass fields, when there, are numbers (util-linux refuses the line).
        let numbers_after = String::from_utf8_lossy(line)
            .split_whitespace()
            .skip(4)
            .all(|field| field.parse::<u32>().is_ok());
        match crate::sys::mountinfo::parse_fstab(line, &path) {
            Ok(parsed) if numbers_after || parsed.is_empty() => entries.extend(parsed),
            _ => super::complain(
                "mount",
                format!(
                    "{}: parse error at line {} -- ignored",
                    path.display(),
                    index + 1
                ),
            ),
        }
    }
    entries
}

/// What an fstab line asks, with the command line's options after its own.
fn fstab_request(entry: &Mount, types: Option<&str>, raw: &[String]) -> Request {
    let mut options = Options::default();
    options.add(&entry.options);
    for list in raw {
        options.add(list);
    }
    Request {
        source: entry.source.clone().into_os_string(),
        target: entry.mount_point.clone(),
        fs_type: types
            .map(str::to_string)
            .or_else(|| Some(entry.fs_type.clone()).filter(|t| t != "auto")),
        options,
    }
}

/// A remount keeps what DIR has now and changes what the command line names: util-linux
/// reads the mount table and puts DIR's options first.
fn merged_with_current(target: &Path, raw: &[String]) -> Options {
    let mut merged = Options::default();
    if let Ok(table) = MountTable::read() {
        if let Some(current) = table.at(target).last() {
            merged.add(&merge_options(&current.options, &current.super_options));
        }
    }
    for list in raw {
        merged.add(list);
    }
    merged
}

/// The mount and what goes with it: the read-only remount of a fresh bind, the propagation
/// change.
fn perform(request: &Request, verbose: bool) -> Result<i32, Exit> {
    let options = &request.options;
    let flags = options.flags;
    let main_call = flags != 0 || options.propagation == 0;
    if main_call {
        let (source, fs_type) = resolve_source(request)?;
        let (source, _held) = loop_for(source, fs_type.as_deref(), request)?;
        let target = request.target.as_path();
        if !flags_only(flags) && !target.exists() {
            return Err(mount_failed(target, "mount point does not exist."));
        }
        let data = options.data.join(",");
        attempt(&source, target, fs_type.as_deref(), flags, &data)?;
        let bind_only = libc::MS_BIND | libc::MS_REC;
        if flags & libc::MS_BIND != 0 && flags & libc::MS_REMOUNT == 0 && flags & !bind_only != 0 {
            let remount = libc::MS_REMOUNT | libc::MS_BIND | (flags & PER_MOUNT);
            attempt(&source, target, None, remount, "")?;
        }
        if verbose {
            println!(
                "mount: {} mounted on {}.",
                source.to_string_lossy(),
                target.display()
            );
        }
    }
    if options.propagation != 0 {
        let none = OsString::from("none");
        attempt(&none, &request.target, None, options.propagation, "")?;
    }
    Ok(0)
}

/// Whether a call changes an existing mount rather than making one on a directory.
fn flags_only(flags: c_ulong) -> bool {
    flags & (libc::MS_REMOUNT | libc::MS_MOVE) != 0
}

/// The source as the kernel takes it (tags resolved to devices) and the type (from the
/// superblock when `-t` is missing).
fn resolve_source(request: &Request) -> Result<(OsString, Option<String>), Exit> {
    let flags = request.options.flags;
    let target = &request.target;
    if flags & (libc::MS_BIND | libc::MS_MOVE | libc::MS_REMOUNT) != 0 {
        let source = Path::new(&request.source);
        let source = if flags & libc::MS_REMOUNT != 0 {
            request.source.clone()
        } else {
            absolute(source).into_os_string()
        };
        return Ok((source, None));
    }
    let text = request.source.to_string_lossy();
    let source = match Tag::split(&text) {
        Some((tag, value)) => superblock::find_device(tag, value)
            .ok_or_else(|| Exit::failed(1, format!("{}: can't find {text}.", target.display())))?
            .into_os_string(),
        None => request.source.clone(),
    };
    if let Some(fs_type) = &request.fs_type {
        return Ok((source, Some(fs_type.clone())));
    }
    let meta = std::fs::metadata(&source).map_err(|_| {
        mount_failed(
            target,
            &format!(
                "special device {} does not exist.",
                source.to_string_lossy()
            ),
        )
    })?;
    let fs_type = if meta.file_type().is_block_device() || meta.is_file() {
        superblock::read_identity(Path::new(&source))
            .ok()
            .flatten()
            .map(|identity| identity.fs_type.to_string())
    } else {
        None
    };
    Ok((source, fs_type))
}

/// A regular file given as the source of a disk file system is mounted through a loop
/// device, as util-linux does; the device's descriptor is held until the mount is made.
fn loop_for(
    source: OsString,
    fs_type: Option<&str>,
    request: &Request,
) -> Result<(OsString, Option<std::fs::File>), Exit> {
    let flags = request.options.flags;
    let is_file = std::fs::metadata(&source).is_ok_and(|meta| meta.is_file());
    if !is_file
        || flags & (libc::MS_BIND | libc::MS_MOVE | libc::MS_REMOUNT) != 0
        || fs_type.is_some_and(is_pseudo)
    {
        return Ok((source, None));
    }
    let read_only = flags & libc::MS_RDONLY != 0;
    let (device, held) = superblock::attach_loop(Path::new(&source), read_only).map_err(|_| {
        Exit::failed(
            32,
            format!(
                "{}: failed to setup loop device for {}.",
                request.target.display(),
                source.to_string_lossy()
            ),
        )
    })?;
    Ok((device.into_os_string(), Some(held)))
}

/// One mount(2) call; without a type, every device file system the kernel knows is tried in
/// turn (util-linux's last resort), until one takes the source.
fn attempt(
    source: &OsString,
    target: &Path,
    fs_type: Option<&str>,
    flags: c_ulong,
    data: &str,
) -> Result<(), Exit> {
    let needs_type = flags & (libc::MS_BIND | libc::MS_MOVE | libc::MS_REMOUNT) == 0
        && flags & (libc::MS_PRIVATE | libc::MS_SHARED | libc::MS_SLAVE | libc::MS_UNBINDABLE) == 0;
    let candidates: Vec<String> = match fs_type {
        Some(fs_type) => fs_type.split(',').map(str::to_string).collect(),
        None if needs_type => device_file_systems(),
        None => vec![String::new()],
    };
    let mut last = std::io::Error::from_raw_os_error(libc::EINVAL);
    for candidate in &candidates {
        match mount_call(source, target, candidate, flags, data) {
            Ok(()) => return Ok(()),
            Err(err) => last = err,
        }
    }
    Err(explain(&last, source, target, fs_type, flags))
}

fn mount_call(
    source: &OsString,
    target: &Path,
    fs_type: &str,
    flags: c_ulong,
    data: &str,
) -> std::io::Result<()> {
    let invalid = |_| std::io::Error::from_raw_os_error(libc::EINVAL);
    let source = CString::new(source.as_bytes()).map_err(invalid)?;
    let target = CString::new(target.as_os_str().as_bytes()).map_err(invalid)?;
    let fs_type = CString::new(fs_type).map_err(invalid)?;
    let data = CString::new(data).map_err(invalid)?;
    let type_ptr = if fs_type.as_bytes().is_empty() {
        std::ptr::null()
    } else {
        fs_type.as_ptr()
    };
    let data_ptr = if data.as_bytes().is_empty() {
        std::ptr::null()
    } else {
        data.as_ptr().cast()
    };
    // SAFETY: NUL-terminated strings that outlive the call, or null where the kernel allows.
    let rc = unsafe { libc::mount(source.as_ptr(), target.as_ptr(), type_ptr, flags, data_ptr) };
    crate::sys::check(rc)
}

/// The types /proc/filesystems lists without `nodev`: those that mount a device.
fn device_file_systems() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    text.lines()
        .filter(|line| !line.starts_with("nodev"))
        .map(|line| line.trim().to_string())
        .filter(|name| !name.is_empty())
        .collect()
}

/// util-linux's words for a failed mount(2).
fn explain(
    err: &std::io::Error,
    source: &OsString,
    target: &Path,
    fs_type: Option<&str>,
    flags: c_ulong,
) -> Exit {
    let source = source.to_string_lossy();
    let remount = flags & libc::MS_REMOUNT != 0;
    let why = match err.raw_os_error().unwrap_or(0) {
        libc::EPERM if !nix::unistd::geteuid().is_root() => {
            "must be superuser to use mount.".to_string()
        }
        libc::EPERM | libc::EACCES => "permission denied.".to_string(),
        libc::EBUSY if remount => "mount point is busy.".to_string(),
        libc::EBUSY => format!("{source} already mounted or mount point busy."),
        libc::ENOENT if !target.exists() => "mount point does not exist.".to_string(),
        libc::ENOENT => format!("special device {source} does not exist."),
        libc::ENOTDIR => "mount point is not a directory.".to_string(),
        libc::EINVAL if remount => "mount point not mounted or bad option.".to_string(),
        libc::EINVAL => format!(
            "wrong fs type, bad option, bad superblock on {source}, missing codepage or \
             helper program, or other error."
        ),
        libc::ENODEV => format!("unknown filesystem type '{}'.", fs_type.unwrap_or("")),
        libc::ENOTBLK => format!("{source} is not a block device."),
        libc::ENXIO => format!("{source} is not a valid block device."),
        libc::EIO | libc::EBADMSG => format!("can't read superblock on {source}."),
        libc::EROFS => format!("cannot mount {source} read-only."),
        _ => format!(
            "mount(2) system call failed: {}.",
            crate::sys::errno::describe(err)
        ),
    };
    mount_failed(target, &why)
}

fn mount_failed(target: &Path, why: &str) -> Exit {
    Exit::failed(
        32,
        format!(
            "{}: {why}\n       dmesg(1) may have more information after failed mount system call.",
            target.display()
        ),
    )
}

/// `path` made absolute against the current directory (symlinks resolved when it exists, as
/// util-linux canonicalizes).
fn absolute(path: &Path) -> PathBuf {
    if let Ok(canonical) = std::fs::canonicalize(path) {
        return canonical;
    }
    match std::env::current_dir() {
        Ok(cwd) if path.is_relative() => cwd.join(path),
        _ => path.to_path_buf(),
    }
}

/// The listing: the kernel's table (or /etc/mtab without /proc) in util-linux's format.
fn list(args: &Args) -> Result<i32, Exit> {
    let table = MountTable::read().map_err(|err| Exit::failed(2, err))?;
    let mut out = std::io::stdout().lock();
    for mount in &table.mounts {
        if let Some(types) = &args.types {
            if !type_matches(types, &mount.fs_type) {
                continue;
            }
        }
        let mut line = format!(
            "{} on {} type {} ({})",
            pretty_source(mount),
            mount.mount_point.display(),
            mount.fs_type,
            merge_options(&mount.options, &mount.super_options)
        );
        if args.labels {
            if let Ok(Some(identity)) = superblock::read_identity(&mount.source) {
                if !identity.label.is_empty() {
                    line.push_str(&format!(" [{}]", identity.label));
                }
            }
        }
        writeln!(out, "{line}").map_err(|err| Exit::write_error(32, &err))?;
    }
    Ok(0)
}

/// util-linux's type pattern: a comma list, all negated by a leading `no` on the first.
pub(super) fn type_matches(pattern: &str, fs_type: &str) -> bool {
    let negated = pattern.starts_with("no");
    let listed = pattern
        .split(',')
        .map(|one| one.strip_prefix("no").filter(|_| negated).unwrap_or(one))
        .any(|one| one == fs_type);
    listed != negated
}

/// util-linux's merge of the per-mount and the file system's options: `rw`/`ro` once, first.
pub(super) fn merge_options(vfs: &str, fs: &str) -> String {
    if fs.is_empty() || vfs == fs {
        return vfs.to_string();
    }
    let mut all: Vec<&str> = vfs.split(',').chain(fs.split(',')).collect();
    let remove = |all: &mut Vec<&str>, word: &str| match all.iter().position(|o| *o == word) {
        Some(at) => {
            all.remove(at);
            1
        }
        None => 0,
    };
    let rw = remove(&mut all, "rw") + remove(&mut all, "rw");
    let mut ro = 0;
    if rw != 2 {
        ro += remove(&mut all, "ro");
        if ro + rw < 2 {
            ro += remove(&mut all, "ro");
        }
    }
    let first = if ro > 0 { "ro" } else { "rw" };
    all.retain(|o| !o.is_empty());
    std::iter::once(first)
        .chain(all)
        .collect::<Vec<_>>()
        .join(",")
}

/// The source as util-linux shows it: a device path canonical (`/dev/mapper/NAME` for a
/// device-mapper node), an auto-clearing loop device as its backing file; pseudo and network
/// sources as they are.
fn pretty_source(mount: &Mount) -> String {
    let source = &mount.source;
    if !source.starts_with("/") || is_pseudo(&mount.fs_type) {
        return source.to_string_lossy().into_owned();
    }
    let Ok(canonical) = std::fs::canonicalize(source) else {
        return source.to_string_lossy().into_owned();
    };
    let name = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sys = Path::new("/sys/block").join(&name);
    if name.starts_with("dm-") {
        if let Ok(dm) = std::fs::read_to_string(sys.join("dm/name")) {
            return format!("/dev/mapper/{}", dm.trim());
        }
    }
    if name.starts_with("loop") {
        let autoclear = std::fs::read_to_string(sys.join("loop/autoclear"));
        if autoclear.is_ok_and(|text| text.trim() == "1") {
            if let Ok(file) = std::fs::read_to_string(sys.join("loop/backing_file")) {
                return file.trim_end_matches('\n').to_string();
            }
        }
    }
    canonical.to_string_lossy().into_owned()
}

/// libmount's pseudo file systems, whose source is not a path to resolve.
pub(super) fn is_pseudo(fs_type: &str) -> bool {
    const PSEUDO: &[&str] = &[
        "anon_inodefs",
        "apparmorfs",
        "autofs",
        "bdev",
        "binder",
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "cpuset",
        "debugfs",
        "devfs",
        "devpts",
        "devtmpfs",
        "dlmfs",
        "efivarfs",
        "fusectl",
        "hugetlbfs",
        "mqueue",
        "nfsd",
        "none",
        "nsfs",
        "overlay",
        "pipefs",
        "proc",
        "pstore",
        "ramfs",
        "resctrl",
        "rootfs",
        "rpc_pipefs",
        "securityfs",
        "selinuxfs",
        "smackfs",
        "sockfs",
        "sysfs",
        "tmpfs",
        "tracefs",
        "xenfs",
    ];
    PSEUDO.contains(&fs_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_flags_propagation_and_data() {
        let mut options = Options::default();
        options.add("ro,nosuid,size=64m,defaults,x-systemd.automount,rprivate,noatime");
        assert_eq!(
            options.flags,
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NOATIME
        );
        assert_eq!(options.propagation, libc::MS_PRIVATE | libc::MS_REC);
        assert_eq!(options.data, ["size=64m"]);
        options.add("rw,rbind");
        assert_eq!(
            options.flags,
            libc::MS_NOSUID | libc::MS_NOATIME | libc::MS_BIND | libc::MS_REC
        );
    }

    #[test]
    fn options_merge_as_util_linux_does() {
        assert_eq!(merge_options("rw,relatime", "rw"), "rw,relatime");
        assert_eq!(
            merge_options("ro,nosuid,relatime", "ro,size=4k"),
            "ro,nosuid,relatime,size=4k"
        );
        assert_eq!(
            merge_options("rw,relatime", "ro,errors=remount-ro"),
            "ro,relatime,errors=remount-ro"
        );
    }

    #[test]
    fn type_patterns() {
        assert!(type_matches("ext4,tmpfs", "tmpfs"));
        assert!(!type_matches("ext4", "tmpfs"));
        assert!(type_matches("noproc,sysfs", "tmpfs"));
        assert!(!type_matches("noproc,sysfs", "sysfs"));
    }
}
