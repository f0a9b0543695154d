//! usage: rescue ls [-1aACcdFhHiLlnopqrRsStUug] [-w COLS] [--color[=WHEN]] [--full-time]
//!                 [FILE]...
//!
//! List directory contents, the way GNU `ls` does under `LC_ALL=C`:
//!   -a, --all             do not ignore entries starting with .
//!   -A, --almost-all      like -a, without . and ..
//!   -d, --directory       list directories themselves, not their contents
//!   -F, --classify        append one of */=@| to entries
//!   -p                    append / to directories
//!   -h, --human-readable  sizes like 1.1K 234M 2.0G (powers of 1024, rounded up)
//!   -i, --inode           print each file's inode number
//!   -s, --size            print each file's allocated size in 1K blocks (-h: human sizes)
//!   -l                    long listing; -n numeric ids; -g without owner; -o without group
//!   -R, --recursive       list subdirectories recursively (never through symlinks)
//!   -r, --reverse         reverse the sort order
//!   -t / -S / -U          sort by modification time / by size / not at all
//!   -u / -c               access time / status change time instead of modification time:
//!                         shown with -l, sorted by with -t, or without -l
//!   -1 / -C               one name per line / columns (columns are the default on a terminal)
//!   -L, --dereference     show the files symlinks point to; -H only for operands
//!   -q, --hide-control-chars   `?` for bytes a terminal would interpret (always on a terminal)
//!   -w, --width=COLS      lay columns out for COLS (default: the terminal's, `COLUMNS`, 80)
//!   --color[=WHEN]        never, always or auto (auto: only when stdout is a terminal)
//!   --full-time           long listing with full ISO times
//!
//! Owner and group names come from `/etc/passwd` and `/etc/group` read directly (no NSS: the
//! binary is static); ids without an entry print as numbers. Times are in the local zone (`TZ`,
//! `/etc/localtime`); recent files (the last six months) show `Mon DD HH:MM`, others
//! `Mon DD  YYYY`. Names sort by bytes, as GNU does with `LC_ALL=C`.
//!
//! Exit status: 0 fine, 1 minor trouble (an unreadable subdirectory), 2 serious trouble (an
//! operand that cannot be accessed). Deliberate differences: on a terminal, non-printable bytes
//! in names show as `?` (GNU's `-q`) rather than GNU's `$'\377'` shell quoting; piped output is
//! raw bytes, as GNU. `LS_COLORS` is not read: the colours are GNU's built-in defaults.

use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::Exit;

use super::{complain, quote, strerror};
use crate::sys::accounts::Accounts;
use crate::sys::human::{blocks_in_units, human_size};
use crate::sys::localtime::LocalTime;
use crate::sys::mode::{mode_string, FileType};

#[derive(Parser)]
#[command(about = "List directory contents", disable_help_flag = true)]
pub(super) struct Args {
    /// do not ignore entries starting with .
    // (verbatim: clap would drop the trailing `.` as the end of a sentence)
    #[arg(
        short = 'a',
        long = "all",
        overrides_with = "almost_all",
        verbatim_doc_comment
    )]
    all: bool,
    /// do not list implied . and ..
    #[arg(short = 'A', long = "almost-all")]
    almost_all: bool,
    /// list directories themselves, not their contents
    #[arg(short = 'd', long = "directory")]
    directory: bool,
    /// append indicator (one of */=@|) to entries
    #[arg(short = 'F', long = "classify")]
    classify: bool,
    /// append / indicator to directories
    #[arg(short = 'p')]
    slash: bool,
    /// print sizes like 1K 234M 2G
    #[arg(short = 'h', long = "human-readable")]
    human: bool,
    /// print the index number of each file
    #[arg(short = 'i', long = "inode")]
    inode: bool,
    /// use a long listing format
    #[arg(short = 'l', overrides_with_all = ["one", "columns"])]
    long: bool,
    /// like -l, but list numeric user and group IDs
    #[arg(short = 'n', long = "numeric-uid-gid", overrides_with_all = ["one", "columns"])]
    numeric: bool,
    /// like -l, but do not list owner
    #[arg(short = 'g', overrides_with_all = ["one", "columns"])]
    no_owner: bool,
    /// like -l, but do not list group information
    #[arg(short = 'o', overrides_with_all = ["one", "columns"])]
    no_group: bool,
    /// list one file per line
    #[arg(short = '1', overrides_with_all = ["long", "numeric", "no_owner", "no_group", "columns"])]
    one: bool,
    /// list entries by columns
    #[arg(short = 'C', overrides_with_all = ["long", "numeric", "no_owner", "no_group"])]
    columns: bool,
    /// list subdirectories recursively
    #[arg(short = 'R', long = "recursive")]
    recursive: bool,
    /// reverse order while sorting
    #[arg(short = 'r', long = "reverse")]
    reverse: bool,
    /// sort by modification time, newest first
    #[arg(short = 't', overrides_with_all = ["by_size", "unsorted"])]
    by_time: bool,
    /// sort by file size, largest first
    #[arg(short = 'S', overrides_with_all = ["by_time", "unsorted"])]
    by_size: bool,
    /// with -lt: sort by, and show, access time; with -l: show access time; otherwise: sort by
    /// access time, newest first
    #[arg(short = 'u', overrides_with = "ctime")]
    atime: bool,
    /// with -lt: sort by, and show, ctime (last change of status); with -l: show ctime;
    /// otherwise: sort by ctime, newest first
    #[arg(short = 'c', overrides_with = "atime")]
    ctime: bool,
    /// print the allocated size of each file, in blocks (1K, or human-readable with -h)
    #[arg(short = 's', long = "size")]
    blocks: bool,
    /// do not sort; list entries in directory order
    #[arg(short = 'U', overrides_with_all = ["by_time", "by_size"])]
    unsorted: bool,
    /// show information for the file a symbolic link references
    #[arg(short = 'L', long = "dereference")]
    dereference: bool,
    /// follow symbolic links listed on the command line
    #[arg(short = 'H', long = "dereference-command-line")]
    dereference_operands: bool,
    /// print ? instead of nongraphic characters
    #[arg(short = 'q', long = "hide-control-chars")]
    hide_control: bool,
    /// colorize the output: never, always or auto
    #[arg(long = "color", value_name = "WHEN", num_args = 0..=1, require_equals = true,
          default_missing_value = "always")]
    color: Option<String>,
    /// like -l --time-style=full-iso
    #[arg(long = "full-time")]
    full_time: bool,
    /// set output width to COLS
    #[arg(short = 'w', long = "width", value_name = "COLS")]
    width: Option<usize>,
    /// display this help and exit
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    files: Vec<OsString>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Long,
    OnePerLine,
    Columns,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    Name,
    Time,
    Size,
    None,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Indicator {
    None,
    Slash,
    Classify,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dereference {
    Never,
    Operands,
    OperandSymlinkToDir,
    Always,
}

/// Which timestamp `-l` shows and `-t` sorts by.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TimeField {
    Modify,
    Access,
    Change,
}

struct Options {
    format: Format,
    sort: Sort,
    time: TimeField,
    blocks: bool,
    reverse: bool,
    all: bool,
    almost_all: bool,
    directory: bool,
    recursive: bool,
    indicator: Indicator,
    human: bool,
    inode: bool,
    show_owner: bool,
    show_group: bool,
    numeric: bool,
    color: bool,
    full_time: bool,
    hide_control: bool,
    dereference: Dereference,
    width: usize,
}

impl Options {
    /// Whether entries need more than the directory's own type information: GNU's `ls -R`
    /// does not stat what it only names, and neither do we.
    fn needs_stat(&self) -> bool {
        self.format == Format::Long
            || matches!(self.sort, Sort::Time | Sort::Size)
            || self.indicator == Indicator::Classify
            || self.color
            || self.inode
            || self.blocks
            || self.dereference == Dereference::Always
    }
}

/// One line of a listing, with everything the chosen format shows.
struct Entry {
    /// The name as shown: the operand as typed, or the directory entry's name.
    name: OsString,
    /// Where to find it, for system calls.
    path: PathBuf,
    meta: Option<Metadata>,
    kind: FileType,
    /// The target of a symlink, read for long listings.
    target: Option<OsString>,
    /// The mode of what a symlink points at, when an indicator needs it.
    target_mode: Option<u32>,
    has_acl: bool,
}

impl Entry {
    fn time(&self, field: TimeField) -> (i64, i64) {
        self.meta
            .as_ref()
            .map(|m| match field {
                TimeField::Modify => (m.mtime(), m.mtime_nsec()),
                TimeField::Access => (m.atime(), m.atime_nsec()),
                TimeField::Change => (m.ctime(), m.ctime_nsec()),
            })
            .unwrap_or((0, 0))
    }

    fn size(&self) -> u64 {
        self.meta.as_ref().map(|m| m.size()).unwrap_or(0)
    }

    fn is_dir(&self) -> bool {
        self.kind == FileType::Directory
    }
}

struct Lister {
    options: Options,
    accounts: Accounts,
    now: (i64, i64),
    status: i32,
    name: &'static str,
    /// Whether something colourful was printed yet: GNU resets attributes once before it.
    used_color: bool,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let stdout_is_tty = unsafe { libc::isatty(libc::STDOUT_FILENO) } == 1;
    let options = Options::new(&args, stdout_is_tty)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_secs() as i64, i64::from(d.subsec_nanos())))
        .unwrap_or((0, 0));
    let mut lister = Lister {
        options,
        accounts: Accounts::load(&crate::sys::root::Root::new("/")),
        now,
        status: 0,
        name,
        used_color: false,
    };
    let operands = if args.files.is_empty() {
        vec![OsString::from(".")]
    } else {
        args.files
    };
    lister
        .run(&operands, operands.len())
        .map_err(|err| Exit::write_error(2, &err))?;
    Ok(lister.status)
}

impl Options {
    /// What the flags ask for, settled as GNU settles them (the last of `-l`/`-1`/`-C` wins,
    /// `-u`/`-c` sort unless a long listing only shows them, ...).
    fn new(args: &Args, stdout_is_tty: bool) -> Result<Options, Exit> {
        let color = match args.color.as_deref() {
            None | Some("never" | "no" | "none") => false,
            Some("always" | "yes" | "force") => true,
            Some("auto" | "tty" | "if-tty") => stdout_is_tty,
            Some(other) => {
                return Err(Exit::failed(
                    2,
                    format!(
                        "invalid argument '{other}' for '--color'\n\
                         Valid arguments are: 'always', 'never', 'auto'"
                    ),
                ));
            }
        };
        let format = Format::new(args, stdout_is_tty);
        let time = if args.atime {
            TimeField::Access
        } else if args.ctime {
            TimeField::Change
        } else {
            TimeField::Modify
        };
        let indicator = if args.classify {
            Indicator::Classify
        } else if args.slash {
            Indicator::Slash
        } else {
            Indicator::None
        };
        Ok(Options {
            time,
            blocks: args.blocks,
            format,
            sort: Sort::new(args, format, time),
            reverse: args.reverse,
            all: args.all,
            almost_all: args.almost_all,
            directory: args.directory,
            recursive: args.recursive,
            indicator,
            human: args.human,
            inode: args.inode,
            show_owner: !args.no_owner,
            show_group: !args.no_group,
            numeric: args.numeric,
            color,
            full_time: args.full_time,
            hide_control: args.hide_control || stdout_is_tty,
            dereference: Dereference::new(args, format, indicator),
            width: args.width.unwrap_or_else(line_width),
        })
    }
}

impl Format {
    fn new(args: &Args, stdout_is_tty: bool) -> Format {
        let long = args.long || args.numeric || args.no_owner || args.no_group || args.full_time;
        if long && !args.one && !args.columns {
            Format::Long
        } else if args.one {
            Format::OnePerLine
        } else if args.columns || stdout_is_tty {
            Format::Columns
        } else {
            Format::OnePerLine
        }
    }
}

impl Sort {
    fn new(args: &Args, format: Format, time: TimeField) -> Sort {
        // GNU: -u and -c sort by their time unless a long listing only shows it.
        if args.unsorted {
            Sort::None
        } else if args.by_size {
            Sort::Size
        } else if args.by_time || (time != TimeField::Modify && format != Format::Long) {
            Sort::Time
        } else {
            Sort::Name
        }
    }
}

impl Dereference {
    fn new(args: &Args, format: Format, indicator: Indicator) -> Dereference {
        if args.dereference {
            Dereference::Always
        } else if args.dereference_operands {
            Dereference::Operands
        } else if args.directory || indicator == Indicator::Classify || format == Format::Long {
            Dereference::Never
        } else {
            Dereference::OperandSymlinkToDir
        }
    }
}

/// The terminal's width, else `COLUMNS`, else 80.
fn line_width() -> usize {
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize into `size`, which lives for the call.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        return usize::from(size.ws_col);
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|value| value.parse::<usize>().ok())
        .filter(|&width| width > 0)
        .unwrap_or(80)
}

/// Where a directory entry is, for system calls and messages: GNU names the entries of `.`
/// without a `./` prefix.
fn child_path(dir: &Path, name: &OsStr) -> PathBuf {
    if dir.as_os_str() == "." {
        PathBuf::from(name)
    } else {
        dir.join(name)
    }
}

/// `dir/name`, without doubling a slash the directory name already ends with.
fn child_name(dir: &OsStr, name: &OsStr) -> OsString {
    let mut out = dir.as_bytes().to_vec();
    if !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(name.as_bytes());
    OsString::from_vec(out)
}

impl Lister {
    fn run(&mut self, operands: &[OsString], count: usize) -> std::io::Result<()> {
        // Rust's stdout writes at every newline; a listing is written in 64 KiB pieces instead
        // (on a terminal, each directory still appears as soon as it is listed).
        let terminal = std::io::stdout().is_terminal();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        let mut entries = Vec::new();
        for operand in operands {
            let path = PathBuf::from(operand);
            match self.stat_operand(&path) {
                Ok(meta) => entries.push(self.entry(operand.clone(), path, Some(meta), None)),
                Err(err) => {
                    self.fail(
                        2,
                        format!("cannot access {}: {}", quote(&path), strerror(&err)),
                    );
                }
            }
        }
        self.sort(&mut entries);
        let (dirs, files): (Vec<Entry>, Vec<Entry>) = if self.options.directory {
            (Vec::new(), entries)
        } else {
            entries.into_iter().partition(Entry::is_dir)
        };
        let mut print_names = true;
        if !files.is_empty() {
            let mut buf = Vec::new();
            // GNU sizes the operand columns over every operand, directories included.
            let basis: Vec<&Entry> = files.iter().chain(&dirs).collect();
            self.print_group(&mut buf, &files, &basis);
            if !dirs.is_empty() {
                buf.push(b'\n');
            }
            out.write_all(&buf)?;
        } else if count <= 1 && dirs.len() == 1 {
            print_names = false;
        }
        let mut first = true;
        // Depth first, in sorted order: a stack with the first directory on top.
        let mut pending: Vec<(OsString, PathBuf, bool)> = dirs
            .into_iter()
            .rev()
            .map(|entry| (entry.name, entry.path, true))
            .collect();
        let mut buf = Vec::new();
        while let Some((name, path, operand)) = pending.pop() {
            buf.clear();
            let subdirs = self.print_dir(
                &mut buf,
                &name,
                &path,
                operand,
                print_names || self.options.recursive,
                &mut first,
            );
            out.write_all(&buf)?;
            if terminal {
                out.flush()?;
            }
            pending.extend(subdirs.into_iter().rev());
        }
        out.flush()
    }

    fn fail(&mut self, status: i32, message: String) {
        complain(self.name, message);
        self.status = self.status.max(status);
    }

    fn stat_operand(&self, path: &Path) -> std::io::Result<Metadata> {
        match self.options.dereference {
            Dereference::Always | Dereference::Operands => std::fs::metadata(path),
            Dereference::Never => std::fs::symlink_metadata(path),
            Dereference::OperandSymlinkToDir => match std::fs::metadata(path) {
                Ok(meta) if meta.is_dir() => Ok(meta),
                Ok(_) => std::fs::symlink_metadata(path),
                Err(err) if matches!(err.raw_os_error(), Some(libc::ENOENT | libc::ELOOP)) => {
                    std::fs::symlink_metadata(path)
                }
                Err(err) => Err(err),
            },
        }
    }

    /// Fills in what the format needs beyond the metadata: link target, target mode, ACL.
    fn entry(
        &mut self,
        name: OsString,
        path: PathBuf,
        meta: Option<Metadata>,
        kind: Option<FileType>,
    ) -> Entry {
        let kind = meta
            .as_ref()
            .map(|m| FileType::of(m.mode()))
            .or(kind)
            .unwrap_or(FileType::Unknown);
        let mut entry = Entry {
            name,
            path,
            meta,
            kind,
            target: None,
            target_mode: None,
            has_acl: false,
        };
        if self.options.format == Format::Long {
            if kind == FileType::Symlink && entry.meta.is_some() {
                match std::fs::read_link(&entry.path) {
                    Ok(target) => entry.target = Some(target.into_os_string()),
                    Err(err) => self.fail(
                        1,
                        format!(
                            "cannot read symbolic link {}: {}",
                            quote(&entry.path),
                            strerror(&err)
                        ),
                    ),
                }
                if self.options.indicator == Indicator::Classify {
                    entry.target_mode = std::fs::metadata(&entry.path).ok().map(|m| m.mode());
                }
            }
            entry.has_acl =
                kind != FileType::Symlink && has_acl(&entry.path, kind == FileType::Directory);
        }
        entry
    }

    fn sort(&self, entries: &mut [Entry]) {
        let by_name = |a: &Entry, b: &Entry| a.name.as_bytes().cmp(b.name.as_bytes());
        match self.options.sort {
            Sort::None => return,
            Sort::Name => entries.sort_by(by_name),
            Sort::Time => {
                let field = self.options.time;
                entries.sort_by(|a, b| {
                    b.time(field)
                        .cmp(&a.time(field))
                        .then_with(|| by_name(a, b))
                })
            }
            Sort::Size => {
                entries.sort_by(|a, b| b.size().cmp(&a.size()).then_with(|| by_name(a, b)))
            }
        }
        if self.options.reverse {
            entries.reverse();
        }
    }

    /// Lists one directory; returns the subdirectories to list next when recursing.
    fn print_dir(
        &mut self,
        buf: &mut Vec<u8>,
        name: &OsStr,
        path: &Path,
        operand: bool,
        print_name: bool,
        first: &mut bool,
    ) -> Vec<(OsString, PathBuf, bool)> {
        let serious = if operand { 2 } else { 1 };
        let reader = match std::fs::read_dir(path) {
            Ok(reader) => reader,
            Err(err) => {
                self.fail(
                    serious,
                    format!("cannot open directory {}: {}", quote(path), strerror(&err)),
                );
                return Vec::new();
            }
        };
        if print_name {
            if !*first {
                buf.push(b'\n');
            }
            *first = false;
            buf.extend_from_slice(&self.display_name(name.as_bytes()));
            buf.extend_from_slice(b":\n");
        }
        let mut entries = self.read_entries(path, reader, serious);
        self.sort(&mut entries);
        if self.options.format == Format::Long || self.options.blocks {
            let blocks: u64 = entries
                .iter()
                .filter_map(|e| e.meta.as_ref())
                .map(|m| m.blocks())
                .sum();
            let total = if self.options.human {
                human_size(blocks.saturating_mul(512))
            } else {
                blocks_in_units(blocks, 1024).to_string()
            };
            buf.extend_from_slice(format!("total {total}\n").as_bytes());
        }
        let basis: Vec<&Entry> = entries.iter().collect();
        self.print_group(buf, &entries, &basis);
        if !self.options.recursive {
            return Vec::new();
        }
        entries
            .into_iter()
            .filter(|e| e.is_dir() && e.name != "." && e.name != "..")
            .map(|e| (child_name(name, &e.name), e.path, false))
            .collect()
    }

    /// A directory's entries as the options ask (`.` and `..` with `-a`, dot files with `-a`
    /// or `-A`), stat'ed only when the format needs more than the name and type.
    fn read_entries(&mut self, path: &Path, reader: std::fs::ReadDir, serious: i32) -> Vec<Entry> {
        let mut entries = Vec::new();
        if self.options.all {
            for dot in [".", ".."] {
                let child = child_path(path, OsStr::new(dot));
                let meta = self.stat_child(&child);
                entries.push(self.entry(OsString::from(dot), child, meta, None));
            }
        }
        for item in reader {
            let item = match item {
                Ok(item) => item,
                Err(err) => {
                    self.fail(
                        serious,
                        format!("reading directory {}: {}", quote(path), strerror(&err)),
                    );
                    break;
                }
            };
            let file_name = item.file_name();
            if file_name.as_bytes().starts_with(b".")
                && !self.options.all
                && !self.options.almost_all
            {
                continue;
            }
            let child = child_path(path, &file_name);
            let meta = if self.options.needs_stat() {
                self.stat_child(&child)
            } else {
                None
            };
            let kind = item.file_type().ok().map(|t| {
                if t.is_dir() {
                    FileType::Directory
                } else if t.is_symlink() {
                    FileType::Symlink
                } else {
                    FileType::Regular
                }
            });
            entries.push(self.entry(file_name, child, meta, kind));
        }
        entries
    }

    fn stat_child(&mut self, path: &Path) -> Option<Metadata> {
        // With -L a dangling or looping link is an error, listed with `?` fields, as GNU does.
        let result = if self.options.dereference == Dereference::Always {
            std::fs::metadata(path)
        } else {
            std::fs::symlink_metadata(path)
        };
        match result {
            Ok(meta) => Some(meta),
            Err(err) => {
                self.fail(
                    1,
                    format!("cannot access {}: {}", quote(path), strerror(&err)),
                );
                None
            }
        }
    }

    /// Prints `entries` with column widths measured over `basis` (a superset).
    fn print_group(&mut self, buf: &mut Vec<u8>, entries: &[Entry], basis: &[&Entry]) {
        match self.options.format {
            Format::Long => self.print_long(buf, entries, basis),
            Format::OnePerLine => {
                let widths = self.prefix_widths(basis);
                for entry in entries {
                    self.print_name_and_frills(buf, entry, widths);
                    buf.push(b'\n');
                }
            }
            Format::Columns => self.print_columns(buf, entries, basis),
        }
    }

    /// An entry's allocated size as `-s` shows it: 1K blocks, or `-h` sizes.
    fn blocks_text(&self, entry: &Entry) -> String {
        match &entry.meta {
            None => "?".into(),
            Some(meta) if self.options.human => human_size(meta.blocks().saturating_mul(512)),
            Some(meta) => blocks_in_units(meta.blocks(), 1024).to_string(),
        }
    }

    /// Widths of the `-i` and `-s` prefixes over `entries`.
    fn prefix_widths(&self, entries: &[&Entry]) -> (usize, usize) {
        let blocks = if self.options.blocks {
            entries
                .iter()
                .map(|e| self.blocks_text(e).len())
                .max()
                .unwrap_or(0)
        } else {
            0
        };
        (self.inode_width(entries), blocks)
    }

    fn inode_width(&self, entries: &[&Entry]) -> usize {
        if !self.options.inode {
            return 0;
        }
        entries
            .iter()
            .map(|e| e.meta.as_ref().map_or(1, |m| m.ino().to_string().len()))
            .max()
            .unwrap_or(0)
    }

    /// `[inode ][blocks ]name[indicator]`, the unit of the short formats.
    fn print_name_and_frills(&mut self, buf: &mut Vec<u8>, entry: &Entry, widths: (usize, usize)) {
        let (inode_width, blocks_width) = widths;
        if self.options.inode {
            let inode = entry
                .meta
                .as_ref()
                .map_or_else(|| "?".to_string(), |m| m.ino().to_string());
            buf.extend_from_slice(format!("{inode:>inode_width$} ").as_bytes());
        }
        if self.options.blocks {
            let blocks = self.blocks_text(entry);
            buf.extend_from_slice(format!("{blocks:>blocks_width$} ").as_bytes());
        }
        self.print_colored_name(buf, entry.name.as_bytes(), self.color_of(entry));
        if let Some(ch) = self.indicator(entry.meta.as_ref().map(|m| m.mode()), entry.kind) {
            buf.push(ch);
        }
    }

    fn name_and_frills_width(&self, entry: &Entry, widths: (usize, usize)) -> usize {
        let (inode_width, blocks_width) = widths;
        let mut width = self.display_width(entry.name.as_bytes());
        if self.options.inode {
            width += inode_width + 1;
        }
        if self.options.blocks {
            width += blocks_width + 1;
        }
        if self
            .indicator(entry.meta.as_ref().map(|m| m.mode()), entry.kind)
            .is_some()
        {
            width += 1;
        }
        width
    }

    fn print_colored_name(&mut self, buf: &mut Vec<u8>, name: &[u8], color: Option<&str>) {
        match color {
            Some(code) => {
                if !self.used_color {
                    buf.extend_from_slice(b"\x1b[0m");
                    self.used_color = true;
                }
                buf.extend_from_slice(format!("\x1b[{code}m").as_bytes());
                buf.extend_from_slice(&self.display_name(name));
                buf.extend_from_slice(b"\x1b[0m");
            }
            None => buf.extend_from_slice(&self.display_name(name)),
        }
    }

    /// GNU's built-in colours (its defaults when `LS_COLORS` is unset).
    fn color_of(&self, entry: &Entry) -> Option<&'static str> {
        if !self.options.color {
            return None;
        }
        let mode = entry.meta.as_ref().map(|m| m.mode()).unwrap_or(0);
        color_for_mode(entry.kind, mode)
    }

    /// The `-F`/`-p` character for a file of this mode (`None` for plain files).
    fn indicator(&self, mode: Option<u32>, kind: FileType) -> Option<u8> {
        if self.options.indicator == Indicator::None {
            return None;
        }
        let kind = mode.map(FileType::of).unwrap_or(kind);
        match kind {
            FileType::Directory => Some(b'/'),
            _ if self.options.indicator == Indicator::Slash => None,
            FileType::Regular => (mode.unwrap_or(0) & 0o111 != 0 && mode.is_some()).then_some(b'*'),
            FileType::Symlink => Some(b'@'),
            FileType::Fifo => Some(b'|'),
            FileType::Socket => Some(b'='),
            _ => None,
        }
    }

    /// A name as it goes to the output: raw bytes when piped (as GNU), with `?` for bytes a
    /// terminal would interpret when `-q` or a terminal asks for it.
    fn display_name(&self, name: &[u8]) -> Vec<u8> {
        if !self.options.hide_control {
            return name.to_vec();
        }
        crate::sys::quoting::hide_control(OsStr::from_bytes(name))
    }

    fn display_width(&self, name: &[u8]) -> usize {
        if !self.options.hide_control {
            // What GNU counts under LC_ALL=C: printable ASCII; other raw bytes take no width.
            return name.iter().filter(|&&b| (0x20..0x7f).contains(&b)).count();
        }
        name.utf8_chunks()
            .map(|chunk| chunk.valid().chars().count() + chunk.invalid().len())
            .sum()
    }

    /// GNU's column layout: the most columns whose widths (longest name in each, plus two
    /// spaces between columns) fit the line, filled top to bottom.
    fn print_columns(&mut self, buf: &mut Vec<u8>, entries: &[Entry], basis: &[&Entry]) {
        const MIN_COLUMN_WIDTH: usize = 3;
        if entries.is_empty() {
            return;
        }
        let prefix = self.prefix_widths(basis);
        let widths: Vec<usize> = entries
            .iter()
            .map(|e| self.name_and_frills_width(e, prefix))
            .collect();
        let n = entries.len();
        let max_cols = (self.options.width / MIN_COLUMN_WIDTH).clamp(1, n);
        let mut best: (usize, Vec<usize>) = (1, vec![0]);
        for cols in (1..=max_cols).rev() {
            let rows = n.div_ceil(cols);
            let mut col_widths = vec![MIN_COLUMN_WIDTH; cols];
            let mut line = cols * MIN_COLUMN_WIDTH;
            let mut fits = true;
            for (index, &width) in widths.iter().enumerate() {
                let column = index / rows;
                let real = width + if column == cols - 1 { 0 } else { 2 };
                if col_widths[column] < real {
                    line += real - col_widths[column];
                    col_widths[column] = real;
                    if line >= self.options.width {
                        fits = false;
                        break;
                    }
                }
            }
            if fits || cols == 1 {
                best = (cols, col_widths);
                break;
            }
        }
        let (cols, col_widths) = best;
        let rows = n.div_ceil(cols);
        for row in 0..rows {
            let mut index = row;
            let mut column = 0;
            let mut position = 0;
            loop {
                self.print_name_and_frills(buf, &entries[index], prefix);
                let printed = widths[index];
                index += rows;
                if index >= n {
                    break;
                }
                let column_width = col_widths.get(column).copied().unwrap_or(printed + 2);
                // GNU pads with spaces only once colour codes are in the line.
                let tabs = !self.options.color;
                indent(buf, position + printed, position + column_width, tabs);
                position += column_width;
                column += 1;
            }
            buf.push(b'\n');
        }
    }

    fn owner_text(&self, id: u32, user: bool) -> (String, bool) {
        if self.options.numeric {
            return (id.to_string(), false);
        }
        let name = if user {
            self.accounts.user_name(id)
        } else {
            self.accounts.group_name(id)
        };
        match name {
            Some(name) => (name.to_string(), true),
            None => (id.to_string(), false),
        }
    }

    fn time_text(&self, entry: &Entry) -> String {
        if entry.meta.is_none() {
            return "?".to_string();
        }
        let (seconds, nanos) = entry.time(self.options.time);
        let Some(local) = LocalTime::of(seconds) else {
            return seconds.to_string();
        };
        if self.options.full_time {
            return local.full(u32::try_from(nanos).unwrap_or(0));
        }
        // GNU: recent means within the past six months (half a mean Gregorian year) and not in
        // the future.
        let six_months_ago = (self.now.0 - 31_556_952 / 2, self.now.1);
        let when = (seconds, nanos);
        let recent = six_months_ago < when && when < self.now;
        if recent {
            format!(
                "{} {:>2} {:02}:{:02}",
                local.month_name(),
                local.day,
                local.hour,
                local.minute
            )
        } else {
            format!("{} {:>2}  {}", local.month_name(), local.day, local.year)
        }
    }

    /// `-l`: one line per entry, the columns measured over `basis` (a superset of `entries`).
    fn print_long(&mut self, buf: &mut Vec<u8>, entries: &[Entry], basis: &[&Entry]) {
        let any_acl = basis.iter().any(|e| e.has_acl);
        let rows: Vec<LongRow> = basis
            .iter()
            .map(|&entry| self.long_row(entry, any_acl))
            .collect();
        let widths = LongWidths::of(&rows, self.options.full_time);
        // `entries` is the head of `basis`: the rows past it only widened the columns.
        for (entry, row) in entries.iter().zip(&rows) {
            buf.extend_from_slice(self.long_fields(row, &widths).as_bytes());
            self.print_long_name(buf, entry);
            buf.push(b'\n');
        }
    }

    /// An entry's long-listing fields as text; `?` for each when it could not be stat'ed.
    fn long_row(&self, entry: &Entry, any_acl: bool) -> LongRow {
        let Some(meta) = &entry.meta else {
            let mut mode = String::new();
            mode.push(entry.kind.letter() as char);
            mode.push_str(if any_acl { "??????????" } else { "?????????" });
            return LongRow {
                inode: "?".into(),
                blocks: "?".into(),
                mode,
                links: "?".into(),
                owner: ("?".into(), true),
                group: ("?".into(), true),
                size: Some("?".into()),
                device: None,
                time: "?".into(),
            };
        };
        let mut mode = mode_string(meta.mode());
        if any_acl {
            mode.push(if entry.has_acl { '+' } else { ' ' });
        }
        let kind = FileType::of(meta.mode());
        let (size, device) = if kind.is_device() {
            let rdev = meta.rdev();
            let numbers = (libc::major(rdev).to_string(), libc::minor(rdev).to_string());
            (None, Some(numbers))
        } else if self.options.human {
            (Some(human_size(meta.size())), None)
        } else {
            (Some(meta.size().to_string()), None)
        };
        LongRow {
            inode: meta.ino().to_string(),
            blocks: self.blocks_text(entry),
            mode,
            links: meta.nlink().to_string(),
            owner: self.owner_text(meta.uid(), true),
            group: self.owner_text(meta.gid(), false),
            size,
            device,
            time: self.time_text(entry),
        }
    }

    /// A row's fields up to the name, aligned: numbers to the right, names to the left.
    fn long_fields(&self, row: &LongRow, widths: &LongWidths) -> String {
        let mut line = String::new();
        if self.options.inode {
            line.push_str(&format!("{:>1$} ", row.inode, widths.inode));
        }
        if self.options.blocks {
            line.push_str(&format!("{:>1$} ", row.blocks, widths.blocks));
        }
        line.push_str(&format!("{} {:>2$} ", row.mode, row.links, widths.links));
        for (show, (text, is_name), width) in [
            (self.options.show_owner, &row.owner, widths.owner),
            (self.options.show_group, &row.group, widths.group),
        ] {
            if !show {
                continue;
            }
            if *is_name {
                line.push_str(&format!("{text:<width$} "));
            } else {
                line.push_str(&format!("{text:>width$} "));
            }
        }
        let LongWidths {
            major, minor, size, ..
        } = *widths;
        match (&row.size, &row.device) {
            (_, Some((major_text, minor_text))) => {
                let blanks = size - (major + 2 + minor);
                let major_field = major + blanks;
                line.push_str(&format!(
                    "{major_text:>major_field$}, {minor_text:>minor$} "
                ));
            }
            (Some(text), None) => line.push_str(&format!("{text:>size$} ")),
            (None, None) => line.push_str(&format!("{:>size$} ", "?")),
        }
        line.push_str(&format!("{:>1$} ", row.time, widths.time));
        line
    }

    /// The name, and for a symlink ` -> TARGET`, coloured, with its `-F` indicator.
    fn print_long_name(&mut self, buf: &mut Vec<u8>, entry: &Entry) {
        let color = self.color_of(entry);
        self.print_colored_name(buf, entry.name.as_bytes(), color);
        if entry.kind != FileType::Symlink {
            if let Some(ch) = self.indicator(entry.meta.as_ref().map(|m| m.mode()), entry.kind) {
                buf.push(ch);
            }
            return;
        }
        let Some(target) = &entry.target else {
            return;
        };
        buf.extend_from_slice(b" -> ");
        let target_color = match (self.options.color, entry.target_mode) {
            (true, Some(mode)) => color_for_mode(FileType::of(mode), mode),
            _ => None,
        };
        self.print_colored_name(buf, target.as_bytes(), target_color);
        if let Some(mode) = entry.target_mode {
            if let Some(ch) = self.indicator(Some(mode), FileType::of(mode)) {
                buf.push(ch);
            }
        }
    }
}

/// One row of a long listing as text, before the columns are aligned.
struct LongRow {
    inode: String,
    blocks: String,
    mode: String,
    links: String,
    /// The text and whether it is a name (left-aligned) rather than a number.
    owner: (String, bool),
    group: (String, bool),
    size: Option<String>,
    /// Major and minor numbers of a device, shown where the size goes.
    device: Option<(String, String)>,
    time: String,
}

/// The width of each column of a long listing: its widest row.
#[derive(Clone, Copy)]
struct LongWidths {
    inode: usize,
    blocks: usize,
    links: usize,
    owner: usize,
    group: usize,
    major: usize,
    minor: usize,
    /// Wide enough for a size or for `MAJOR, MINOR`.
    size: usize,
    time: usize,
}

impl LongWidths {
    fn of(rows: &[LongRow], full_time: bool) -> LongWidths {
        let max = |f: &dyn Fn(&LongRow) -> usize| rows.iter().map(f).max().unwrap_or(0);
        let major = max(&|r| r.device.as_ref().map_or(0, |d| d.0.len()));
        let minor = max(&|r| r.device.as_ref().map_or(0, |d| d.1.len()));
        let device = if rows.iter().any(|r| r.device.is_some()) {
            major + 2 + minor
        } else {
            0
        };
        LongWidths {
            inode: max(&|r| r.inode.len()),
            blocks: max(&|r| r.blocks.len()),
            links: max(&|r| r.links.len()),
            owner: max(&|r| r.owner.0.chars().count()),
            group: max(&|r| r.group.0.chars().count()),
            major,
            minor,
            size: max(&|r| r.size.as_ref().map_or(0, String::len)).max(device),
            // GNU reserves the width of a formatted time even when every row shows `?`.
            time: max(&|r| r.time.len()).max(if full_time { 35 } else { 12 }),
        }
    }
}

/// Pads from column `from` to column `to` as GNU does: tabs where a tab stop (every 8) fits.
fn indent(buf: &mut Vec<u8>, mut from: usize, to: usize, tabs: bool) {
    const TAB_SIZE: usize = 8;
    while from < to {
        if tabs && to / TAB_SIZE > (from + 1) / TAB_SIZE {
            buf.push(b'\t');
            from += TAB_SIZE - from % TAB_SIZE;
        } else {
            buf.push(b' ');
            from += 1;
        }
    }
}

/// GNU's default colour for a file of this type and mode, `None` for plain files.
fn color_for_mode(kind: FileType, mode: u32) -> Option<&'static str> {
    match kind {
        FileType::Directory => Some(match (mode & 0o1000 != 0, mode & 0o002 != 0) {
            (true, true) => "30;42",
            (false, true) => "34;42",
            (true, false) => "37;44",
            (false, false) => "01;34",
        }),
        FileType::Symlink => Some("01;36"),
        FileType::Fifo => Some("33"),
        FileType::Socket => Some("01;35"),
        FileType::CharDevice | FileType::BlockDevice => Some("01;33"),
        FileType::Regular if mode & 0o4000 != 0 => Some("37;41"),
        FileType::Regular if mode & 0o2000 != 0 => Some("30;43"),
        FileType::Regular if mode & 0o111 != 0 => Some("01;32"),
        _ => None,
    }
}

/// Whether a file carries a POSIX ACL beyond its mode bits (GNU marks those with `+`). Only
/// directories can have a default ACL: files are asked one question, not two.
fn has_acl(path: &Path, is_dir: bool) -> bool {
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let names: &[&std::ffi::CStr] = if is_dir {
        &[c"system.posix_acl_access", c"system.posix_acl_default"]
    } else {
        &[c"system.posix_acl_access"]
    };
    names.iter().any(|attr| {
        // SAFETY: both strings are NUL-terminated and live for the call; a null buffer of
        // size 0 asks only for the attribute's length.
        let len =
            unsafe { libc::lgetxattr(c_path.as_ptr(), attr.as_ptr(), std::ptr::null_mut(), 0) };
        len > 0
    })
}
