//! usage: rescue ls [-1aAbBcCdDfFgGhHiIklLmnNopqQrRsStTuUvwxXZ] [--color[=WHEN]]
//!                 [--classify[=WHEN]] [--file-type] [--indicator-style=WORD] [--format=WORD]
//!                 [--sort=WORD] [--time=WORD] [--time-style=STYLE] [--full-time]
//!                 [--quoting-style=WORD] [--show-control-chars] [--block-size=SIZE] [--si]
//!                 [--group-directories-first] [--hide=PATTERN] [--author] [--zero]
//!                 [--hyperlink[=WHEN]] [--dereference-command-line-symlink-to-dir]
//!                 [FILE]...
//!
//! List directory contents, the way GNU `ls` does under `LC_ALL=C`:
//!   -a / -A               all entries / all but . and ..; -B hides *~; -I, --ignore=PATTERN
//!                         and --hide=PATTERN (undone by -a/-A) hide matching names
//!   -d, --directory       list directories themselves, not their contents
//!   -R, --recursive       list subdirectories recursively; with -L a directory already being
//!                         listed (a symlink loop) is reported, not listed again
//!   -l / -n / -g / -o / -G   long listing; numeric ids; without owner; without group
//!   -1 / -C / -x / -m     one per line / columns / across / comma separated
//!                         (--format=long|single-column|vertical|across|commas)
//!   -t / -S / -U / -X / -v / -f   sort by time / size / not at all / extension / version;
//!                         -f is -aU without -l, -s or colour; --sort=WORD also takes width
//!   -u / -c / --time=WORD access / change / birth time instead of modification time
//!   -r, --reverse         reverse the sort order; --group-directories-first
//!   -F, --classify[=WHEN] append one of */=@|; -p only /; --file-type all but *
//!   -i / -s / -h / --si / -k / --block-size=SIZE   inode, allocated size, size units
//!                         (BLOCK_SIZE, LS_BLOCK_SIZE, BLOCKSIZE and POSIXLY_CORRECT as GNU)
//!   -q / --show-control-chars / -b / -N / -Q / --quoting-style=WORD   how names are shown
//!                         (QUOTING_STYLE as GNU; on a terminal: shell-escape and -q)
//!   --time-style=STYLE    full-iso, long-iso, iso, locale or +FORMAT (TIME_STYLE as GNU)
//!   -w COLS / -T COLS     line width (default: the terminal's, COLUMNS, 80) / tab size
//!   --color[=WHEN]        never, always or auto; LS_COLORS as GNU (no colour for an unknown
//!                         TERM when LS_COLORS is unset); -Z shows a `?` context
//!   -D, --dired / --zero / --hyperlink   Emacs dired positions / NUL ends / file:// links
//!
//! Owner and group names come from `/etc/passwd` and `/etc/group` read directly (no NSS: the
//! binary is static); ids without an entry print as numbers. Times are in the local zone (`TZ`,
//! `/etc/localtime`). Names sort by bytes. They are quoted as GNU quotes them under
//! `LC_ALL=C`; when `LC_ALL`, `LC_CTYPE` or `LANG` names a UTF-8 locale, printable UTF-8
//! characters stay readable, as in GNU's UTF-8 locales (even one that is not installed,
//! where GNU would fall back to C).
//!
//! Exit status: 0 fine, 1 minor trouble (an unreadable subdirectory), 2 serious trouble (an
//! operand that cannot be accessed, a symlink loop under -RL).

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use clap::{ArgAction, Parser};

use super::{complain, quote, strerror, Exit};
use crate::sys::accounts::Accounts;
use crate::sys::dirstream::{DirStream, DirentType};
use crate::sys::ls_colors::{known_term, Colors, ColorsError, Indicator as Color};
use crate::sys::mode::mode_chars;
use crate::sys::quoting::{quote_style, quote_style_in, QuotingStyle};
use crate::sys::strftime::strftime;

#[derive(Parser)]
#[command(about = "List directory contents", disable_help_flag = true)]
pub(super) struct Args {
    /// do not ignore entries starting with .
    #[arg(
        short = 'a',
        long = "all",
        overrides_with = "all",
        verbatim_doc_comment
    )]
    all: bool,
    /// do not list implied . and ..
    #[arg(short = 'A', long = "almost-all", overrides_with = "almost_all")]
    almost_all: bool,
    /// with -l, print the author of each file
    #[arg(long = "author", overrides_with = "author")]
    author: bool,
    /// print C-style escapes for nongraphic characters
    #[arg(short = 'b', long = "escape", overrides_with = "escape")]
    escape: bool,
    /// scale sizes by SIZE when printing them
    #[arg(long = "block-size", value_name = "SIZE", action = ArgAction::Append)]
    block_size: Vec<String>,
    /// do not list implied entries ending with ~
    #[arg(
        short = 'B',
        long = "ignore-backups",
        overrides_with = "ignore_backups"
    )]
    ignore_backups: bool,
    /// use ctime
    #[arg(short = 'c', overrides_with = "ctime")]
    ctime: bool,
    /// list entries by columns
    #[arg(short = 'C', overrides_with = "columns")]
    columns: bool,
    /// colorize the output: never, always or auto
    #[arg(long = "color", visible_alias = "colour", value_name = "WHEN", num_args = 0..=1,
          require_equals = true, default_missing_value = "always", action = ArgAction::Append)]
    color: Vec<String>,
    /// list directories themselves, not their contents
    #[arg(short = 'd', long = "directory", overrides_with = "directory")]
    directory: bool,
    /// generate output designed for Emacs' dired mode
    #[arg(short = 'D', long = "dired", overrides_with = "dired")]
    dired: bool,
    /// list all entries in directory order
    #[arg(short = 'f', overrides_with = "unsorted_all")]
    unsorted_all: bool,
    /// append indicator (one of */=>@|) to entries
    #[arg(short = 'F', overrides_with = "classify_short")]
    classify_short: bool,
    /// append indicator (one of */=>@|) to entries WHEN
    #[arg(long = "classify", value_name = "WHEN", num_args = 0..=1, require_equals = true,
          default_missing_value = "always", action = ArgAction::Append)]
    classify: Vec<String>,
    /// likewise, except do not append '*'
    #[arg(long = "file-type", overrides_with = "file_type")]
    file_type: bool,
    /// across -x, commas -m, horizontal -x, long -l, single-column -1, verbose -l, vertical -C
    #[arg(long = "format", value_name = "WORD", action = ArgAction::Append)]
    format: Vec<String>,
    /// like -l --time-style=full-iso
    #[arg(long = "full-time", overrides_with = "full_time")]
    full_time: bool,
    /// like -l, but do not list owner
    #[arg(short = 'g', overrides_with = "no_owner")]
    no_owner: bool,
    /// group directories before files
    #[arg(long = "group-directories-first", overrides_with = "group_dirs_first")]
    group_dirs_first: bool,
    /// in a long listing, don't print group names
    #[arg(short = 'G', long = "no-group", overrides_with = "no_group_long")]
    no_group_long: bool,
    /// print sizes like 1K 234M 2G
    #[arg(short = 'h', long = "human-readable", overrides_with = "human")]
    human: bool,
    /// likewise, but use powers of 1000 not 1024
    #[arg(long = "si", overrides_with = "si")]
    si: bool,
    /// follow symbolic links listed on the command line
    #[arg(
        short = 'H',
        long = "dereference-command-line",
        overrides_with = "deref_args"
    )]
    deref_args: bool,
    /// follow each command line symbolic link that points to a directory
    #[arg(
        long = "dereference-command-line-symlink-to-dir",
        overrides_with = "deref_args_dirs"
    )]
    deref_args_dirs: bool,
    /// do not list implied entries matching shell PATTERN (overridden by -a or -A)
    #[arg(long = "hide", value_name = "PATTERN", action = ArgAction::Append)]
    hide: Vec<String>,
    /// hyperlink file names WHEN
    #[arg(long = "hyperlink", value_name = "WHEN", num_args = 0..=1, require_equals = true,
          default_missing_value = "always", action = ArgAction::Append)]
    hyperlink: Vec<String>,
    /// append indicator with style WORD to entry names: none, slash, file-type, classify
    #[arg(long = "indicator-style", value_name = "WORD", action = ArgAction::Append)]
    indicator_style: Vec<String>,
    /// print the index number of each file
    #[arg(short = 'i', long = "inode", overrides_with = "inode")]
    inode: bool,
    /// do not list implied entries matching shell PATTERN
    #[arg(short = 'I', long = "ignore", value_name = "PATTERN", action = ArgAction::Append)]
    ignore: Vec<String>,
    /// default to 1024-byte blocks for file system usage
    #[arg(short = 'k', long = "kibibytes", overrides_with = "kibibytes")]
    kibibytes: bool,
    /// use a long listing format
    #[arg(short = 'l', overrides_with = "long")]
    long: bool,
    /// show information for the file a symbolic link references
    #[arg(short = 'L', long = "dereference", overrides_with = "dereference")]
    dereference: bool,
    /// fill width with a comma separated list of entries
    #[arg(short = 'm', overrides_with = "commas")]
    commas: bool,
    /// like -l, but list numeric user and group IDs
    #[arg(short = 'n', long = "numeric-uid-gid", overrides_with = "numeric")]
    numeric: bool,
    /// print entry names without quoting
    #[arg(short = 'N', long = "literal", overrides_with = "literal")]
    literal: bool,
    /// like -l, but do not list group information
    #[arg(short = 'o', overrides_with = "no_group")]
    no_group: bool,
    /// append / indicator to directories
    #[arg(short = 'p', overrides_with = "slash")]
    slash: bool,
    /// print ? instead of nongraphic characters
    #[arg(
        short = 'q',
        long = "hide-control-chars",
        overrides_with = "hide_control"
    )]
    hide_control: bool,
    /// show nongraphic characters as-is
    #[arg(long = "show-control-chars", overrides_with = "show_control")]
    show_control: bool,
    /// enclose entry names in double quotes
    #[arg(short = 'Q', long = "quote-name", overrides_with = "quote_name")]
    quote_name: bool,
    /// use quoting style WORD for entry names
    #[arg(long = "quoting-style", value_name = "WORD", action = ArgAction::Append)]
    quoting_style: Vec<String>,
    /// reverse order while sorting
    #[arg(short = 'r', long = "reverse", overrides_with = "reverse")]
    reverse: bool,
    /// list subdirectories recursively
    #[arg(short = 'R', long = "recursive", overrides_with = "recursive")]
    recursive: bool,
    /// print the allocated size of each file, in blocks
    #[arg(short = 's', long = "size", overrides_with = "blocks")]
    blocks: bool,
    /// sort by file size, largest first
    #[arg(short = 'S', overrides_with = "by_size")]
    by_size: bool,
    /// sort by WORD instead of name: none, size, time, version, extension, width
    #[arg(long = "sort", value_name = "WORD", action = ArgAction::Append)]
    sort: Vec<String>,
    /// select which timestamp to show or sort by: atime, ctime, birth
    #[arg(long = "time", value_name = "WORD", action = ArgAction::Append)]
    time: Vec<String>,
    /// time/date format with -l
    #[arg(long = "time-style", value_name = "TIME_STYLE", action = ArgAction::Append)]
    time_style: Vec<String>,
    /// sort by time, newest first
    #[arg(short = 't', overrides_with = "by_time")]
    by_time: bool,
    /// assume tab stops at each COLS instead of 8
    #[arg(short = 'T', long = "tabsize", value_name = "COLS", action = ArgAction::Append)]
    tabsize: Vec<String>,
    /// use access time
    #[arg(short = 'u', overrides_with = "atime")]
    atime: bool,
    /// do not sort; list entries in directory order
    #[arg(short = 'U', overrides_with = "unsorted")]
    unsorted: bool,
    /// natural sort of (version) numbers within text
    #[arg(short = 'v', overrides_with = "version_sort")]
    version_sort: bool,
    /// set output width to COLS; 0 means no limit
    #[arg(short = 'w', long = "width", value_name = "COLS", action = ArgAction::Append,
          allow_hyphen_values = true)]
    width: Vec<String>,
    /// list entries by lines instead of by columns
    #[arg(short = 'x', overrides_with = "across")]
    across: bool,
    /// sort alphabetically by entry extension
    #[arg(short = 'X', overrides_with = "by_extension")]
    by_extension: bool,
    /// print any security context of each file
    #[arg(short = 'Z', long = "context", overrides_with = "context")]
    context: bool,
    /// end each output line with NUL, not newline
    #[arg(long = "zero", overrides_with = "zero")]
    zero: bool,
    /// list one file per line
    #[arg(short = '1', overrides_with = "one")]
    one: bool,
    /// display this help and exit
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    files: Vec<OsString>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    Long,
    OnePerLine,
    Columns,
    Across,
    Commas,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sort {
    Name,
    None,
    Time,
    Size,
    Extension,
    Version,
    Width,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum IndicatorStyle {
    None,
    Slash,
    FileType,
    Classify,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Deref {
    Undefined,
    Never,
    Args,
    ArgDirs,
    Always,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TimeField {
    Modify,
    Access,
    Change,
    Birth,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum IgnoreMode {
    Default,
    DotAndDotDot,
    Minimal,
}

/// How a number of bytes or blocks is shown: GNU's `human_options` result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Units {
    /// Pick a unit per number (`-h`, `--si`): with this base.
    autoscale: Option<u64>,
    /// Else the fixed unit in bytes.
    block: u64,
    /// Print the unit's suffix (`--block-size=K`): its base and whether `iB`/`B` follows.
    suffix: Option<(u64, &'static str)>,
    /// `'` before the size: thousands separators (none in the C locale).
    group: bool,
}

impl Units {
    const BYTES: Units = Units {
        autoscale: None,
        block: 1,
        suffix: None,
        group: false,
    };
}

/// Everything the options decided, as GNU's `decode_switches` leaves it.
struct Config {
    format: Format,
    sort: Sort,
    reverse: bool,
    time: TimeField,
    ignore_mode: IgnoreMode,
    ignore: Vec<Vec<u8>>,
    hide: Vec<Vec<u8>>,
    immediate_dirs: bool,
    recursive: bool,
    dereference: Deref,
    indicator: IndicatorStyle,
    inode: bool,
    blocks: bool,
    owner: bool,
    group: bool,
    author: bool,
    numeric: bool,
    scontext: bool,
    block_units: Units,
    size_units: Units,
    colors: Option<Colors>,
    hyperlink: bool,
    /// Time formats for old and recent files.
    time_formats: [Vec<u8>; 2],
    quoting: QuotingStyle,
    qmark: bool,
    align_quotes: bool,
    name_extra: Vec<u8>,
    line_length: usize,
    /// Names are shown as in a UTF-8 locale (`LC_ALL`, `LC_CTYPE` or `LANG` says UTF-8).
    utf8: bool,
    tabsize: usize,
    eol: u8,
    dired: bool,
    dirs_first: bool,
    check_symlink_mode: bool,
    needs_stat: bool,
    needs_type: bool,
}

/// GNU's file types, with `ArgDirectory` for a directory named on the command line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Unknown,
    Fifo,
    Char,
    Dir,
    Block,
    Normal,
    Symlink,
    Sock,
    ArgDir,
}

impl Kind {
    fn of_mode(mode: u32) -> Kind {
        match mode & libc::S_IFMT {
            libc::S_IFIFO => Kind::Fifo,
            libc::S_IFCHR => Kind::Char,
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFBLK => Kind::Block,
            libc::S_IFLNK => Kind::Symlink,
            libc::S_IFSOCK => Kind::Sock,
            libc::S_IFREG => Kind::Normal,
            _ => Kind::Unknown,
        }
    }

    fn of_dirent(kind: DirentType) -> Kind {
        match kind {
            DirentType::Unknown => Kind::Unknown,
            DirentType::Fifo => Kind::Fifo,
            DirentType::Char => Kind::Char,
            DirentType::Dir => Kind::Dir,
            DirentType::Block => Kind::Block,
            DirentType::Regular => Kind::Normal,
            DirentType::Symlink => Kind::Symlink,
            DirentType::Socket => Kind::Sock,
        }
    }

    fn letter(self) -> char {
        match self {
            Kind::Unknown => '?',
            Kind::Fifo => 'p',
            Kind::Char => 'c',
            Kind::Dir | Kind::ArgDir => 'd',
            Kind::Block => 'b',
            Kind::Normal => '-',
            Kind::Symlink => 'l',
            Kind::Sock => 's',
        }
    }
}

/// One file of a listing.
struct File {
    /// The name as shown: the operand as typed, or the directory entry's name.
    name: Vec<u8>,
    /// Where to find it, for system calls.
    path: PathBuf,
    kind: Kind,
    stat: Option<Metadata>,
    /// The inode number readdir reported, shown by -i without a stat.
    dirent_ino: Option<u64>,
    link_name: Option<Vec<u8>>,
    link_mode: Option<u32>,
    has_acl: bool,
    has_cap: bool,
    absolute: Option<Vec<u8>>,
    /// The birth time, read once when `--time=birth` asks for it.
    birth: Option<(i64, i64)>,
}

impl File {
    fn mode(&self) -> Option<u32> {
        self.stat.as_ref().map(MetadataExt::mode)
    }

    fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir | Kind::ArgDir)
    }

    fn is_linked_dir(&self) -> bool {
        self.is_dir()
            || (self.kind == Kind::Symlink
                && self
                    .link_mode
                    .is_some_and(|m| m & libc::S_IFMT == libc::S_IFDIR))
    }

    fn time(&self, field: TimeField) -> (i64, i64) {
        let Some(m) = &self.stat else {
            return (0, 0);
        };
        match field {
            TimeField::Modify => (m.mtime(), m.mtime_nsec()),
            TimeField::Access => (m.atime(), m.atime_nsec()),
            TimeField::Change => (m.ctime(), m.ctime_nsec()),
            TimeField::Birth => self.birth.unwrap_or((0, 0)),
        }
    }
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let matches = super::parse_matches::<Args>(name, args)?;
    let stdout_is_tty = unsafe { libc::isatty(libc::STDOUT_FILENO) } == 1;
    let operands: Vec<OsString> = matches
        .get_many::<OsString>("files")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let config = match decode(&matches, stdout_is_tty) {
        Ok(config) => config,
        Err(Stop(status)) => return Ok(status),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_secs() as i64, i64::from(d.subsec_nanos())))
        .unwrap_or((0, 0));
    let mut lister = Lister {
        config,
        accounts: Accounts::load(&crate::sys::root::Root::new("/")),
        now,
        status: 0,
        name,
        out: Output::new(),
        dired: Vec::new(),
        subdired: Vec::new(),
        active: HashSet::new(),
        first: true,
        print_dir_name: true,
        some_quoted: false,
        time_width: 0,
        plain: [false; 256],
        locale_times: false,
        last_time: None,
        line: Vec::new(),
        last_owner: Default::default(),
        sort_order: Default::default(),
        spare_files: Vec::new(),
        dir_buffer: Vec::new(),
    };
    lister.time_width = lister.expected_time_width();
    lister.plain = plain_bytes(&lister.config);
    lister.locale_times = lister.config.time_formats[0] == LOCALE_TIME_FORMATS[0]
        && lister.config.time_formats[1] == LOCALE_TIME_FORMATS[1];
    lister
        .main(&operands)
        .map_err(|err| Exit::write_error(2, &err))?;
    Ok(lister.status)
}

/// Option decoding stopped with this exit status; the message is already out.
struct Stop(i32);

/// The options in the order given, for the settings where the last one wins.
fn occurrences(matches: &clap::ArgMatches) -> Vec<(usize, String, Option<String>)> {
    let mut out = Vec::new();
    for id in matches.ids() {
        let id = id.as_str();
        if id == "files" || id == "help" {
            continue;
        }
        if matches.value_source(id) != Some(clap::parser::ValueSource::CommandLine) {
            continue;
        }
        let Some(indices) = matches.indices_of(id) else {
            continue;
        };
        let indices: Vec<usize> = indices.collect();
        let values: Vec<String> = matches
            .get_raw(id)
            .map(|raw| raw.map(|v| v.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let is_flag = matches.try_get_one::<bool>(id).is_ok_and(|v| v.is_some());
        if is_flag {
            for index in indices {
                out.push((index, id.to_string(), None));
            }
        } else {
            for (index, value) in indices.into_iter().zip(values) {
                out.push((index, id.to_string(), Some(value)));
            }
        }
    }
    out.sort_by_key(|(index, _, _)| *index);
    out
}

/// GNU's `argmatch`: the word, or an unambiguous abbreviation of it.
fn argmatch<T: Copy + PartialEq>(value: &str, table: &[(&str, T)]) -> Result<T, bool> {
    if let Some((_, v)) = table.iter().find(|(name, _)| *name == value) {
        return Ok(*v);
    }
    let mut found: Option<T> = None;
    for (name, v) in table {
        if name.starts_with(value) {
            match found {
                Some(prev) if prev != *v => return Err(true),
                _ => found = Some(*v),
            }
        }
    }
    found.ok_or(false)
}

/// An argument that is not one of the words an option takes: GNU's message, the words, and
/// its usage status 1 (ls's `argmatch_die`).
fn bad_word<T: Copy + PartialEq>(option: &str, value: &str, table: &[(&str, T)], ambiguous: bool) {
    let what = if ambiguous { "ambiguous" } else { "invalid" };
    complain(
        "ls",
        format!("{what} argument {} for {}", quote(value), quote(option)),
    );
    let mut text = String::from("Valid arguments are:");
    let mut last: Option<T> = None;
    for (name, v) in table {
        if last == Some(*v) {
            text.push_str(&format!(", {}", quote(name)));
        } else {
            text.push_str(&format!("\n  - {}", quote(name)));
        }
        last = Some(*v);
    }
    let _ = writeln!(std::io::stderr(), "{text}");
    try_help();
}

fn try_help() {
    let _ = writeln!(
        std::io::stderr(),
        "Try '{} --help' for more information.",
        super::program()
    );
}

fn word<T: Copy + PartialEq>(option: &str, value: &str, table: &[(&str, T)]) -> Result<T, Stop> {
    argmatch(value, table).map_err(|ambiguous| {
        bad_word(option, value, table, ambiguous);
        Stop(1)
    })
}

const WHEN: [(&str, u8); 9] = [
    ("always", 0),
    ("yes", 0),
    ("force", 0),
    ("never", 1),
    ("no", 1),
    ("none", 1),
    ("auto", 2),
    ("tty", 2),
    ("if-tty", 2),
];

const FORMATS: [(&str, Format); 7] = [
    ("verbose", Format::Long),
    ("long", Format::Long),
    ("commas", Format::Commas),
    ("horizontal", Format::Across),
    ("across", Format::Across),
    ("vertical", Format::Columns),
    ("single-column", Format::OnePerLine),
];

const SORTS: [(&str, Sort); 6] = [
    ("none", Sort::None),
    ("time", Sort::Time),
    ("size", Sort::Size),
    ("extension", Sort::Extension),
    ("version", Sort::Version),
    ("width", Sort::Width),
];

const TIMES: [(&str, TimeField); 7] = [
    ("atime", TimeField::Access),
    ("access", TimeField::Access),
    ("use", TimeField::Access),
    ("ctime", TimeField::Change),
    ("status", TimeField::Change),
    ("birth", TimeField::Birth),
    ("creation", TimeField::Birth),
];

const INDICATORS: [(&str, IndicatorStyle); 4] = [
    ("none", IndicatorStyle::None),
    ("slash", IndicatorStyle::Slash),
    ("file-type", IndicatorStyle::FileType),
    ("classify", IndicatorStyle::Classify),
];

fn quoting_table() -> Vec<(&'static str, QuotingStyle)> {
    QuotingStyle::NAMES
        .iter()
        .map(|name| (*name, QuotingStyle::from_name(name).expect("known name")))
        .collect()
}

/// The settings `decode_switches` keeps while it reads the options.
struct Switches {
    format: Option<Format>,
    sort: Option<Sort>,
    quoting: Option<QuotingStyle>,
    qmark: Option<bool>,
    width: Option<usize>,
    tabsize: Option<usize>,
    time_style: Option<String>,
    kibibytes: bool,
    block_set: Option<Units>,
    color: bool,
    zero: bool,
    dired: bool,
}

fn decode(matches: &clap::ArgMatches, tty: bool) -> Result<Config, Stop> {
    let mut c = Config {
        format: Format::OnePerLine,
        sort: Sort::Name,
        reverse: false,
        time: TimeField::Modify,
        ignore_mode: IgnoreMode::Default,
        ignore: Vec::new(),
        hide: Vec::new(),
        immediate_dirs: false,
        recursive: false,
        dereference: Deref::Undefined,
        indicator: IndicatorStyle::None,
        inode: false,
        blocks: false,
        owner: true,
        group: true,
        author: false,
        numeric: false,
        scontext: false,
        block_units: Units::BYTES,
        size_units: Units::BYTES,
        colors: None,
        hyperlink: false,
        time_formats: [b"%b %e  %Y".to_vec(), b"%b %e %H:%M".to_vec()],
        quoting: QuotingStyle::Literal,
        qmark: false,
        align_quotes: false,
        name_extra: Vec::new(),
        line_length: 80,
        utf8: utf8_locale(),
        tabsize: 8,
        eol: b'\n',
        dired: false,
        dirs_first: false,
        check_symlink_mode: false,
        needs_stat: false,
        needs_type: false,
    };
    let mut s = Switches {
        format: None,
        sort: None,
        quoting: None,
        qmark: None,
        width: None,
        tabsize: None,
        time_style: None,
        kibibytes: false,
        block_set: None,
        color: false,
        zero: false,
        dired: false,
    };
    for (_, id, value) in occurrences(matches) {
        apply_switch(&mut c, &mut s, &id, value.as_deref().unwrap_or(""), tty)?;
    }
    settle(&mut c, s, tty)?;
    Ok(c)
}

/// One option, as GNU's `decode_switches` switch handles it.
fn apply_switch(
    c: &mut Config,
    s: &mut Switches,
    id: &str,
    value: &str,
    tty: bool,
) -> Result<(), Stop> {
    match id {
        "all" => c.ignore_mode = IgnoreMode::Minimal,
        "almost_all" => c.ignore_mode = IgnoreMode::DotAndDotDot,
        "author" => c.author = true,
        "escape" => s.quoting = Some(QuotingStyle::Escape),
        "ctime" => c.time = TimeField::Change,
        "atime" => c.time = TimeField::Access,
        "directory" => c.immediate_dirs = true,
        "unsorted_all" => {
            c.ignore_mode = IgnoreMode::Minimal;
            s.sort = Some(Sort::None);
            if s.format == Some(Format::Long) {
                s.format = None;
            }
            s.color = false;
            c.hyperlink = false;
            c.blocks = false;
        }
        "file_type" => c.indicator = IndicatorStyle::FileType,
        "no_owner" => {
            s.format = Some(Format::Long);
            c.owner = false;
        }
        "no_group" => {
            s.format = Some(Format::Long);
            c.group = false;
        }
        "no_group_long" => c.group = false,
        "human" | "si" => {
            let base = if id == "si" { 1000 } else { 1024 };
            let units = Units {
                autoscale: Some(base),
                ..Units::BYTES
            };
            c.block_units = units;
            c.size_units = units;
            s.block_set = Some(units);
        }
        "inode" => c.inode = true,
        "kibibytes" => s.kibibytes = true,
        "long" => s.format = Some(Format::Long),
        "commas" => s.format = Some(Format::Commas),
        "numeric" => {
            c.numeric = true;
            s.format = Some(Format::Long);
        }
        "slash" => c.indicator = IndicatorStyle::Slash,
        "hide_control" => s.qmark = Some(true),
        "show_control" => s.qmark = Some(false),
        "reverse" => c.reverse = true,
        "blocks" => c.blocks = true,
        "by_time" => s.sort = Some(Sort::Time),
        "by_size" => s.sort = Some(Sort::Size),
        "unsorted" => s.sort = Some(Sort::None),
        "by_extension" => s.sort = Some(Sort::Extension),
        "version_sort" => s.sort = Some(Sort::Version),
        "across" => s.format = Some(Format::Across),
        "columns" => s.format = Some(Format::Columns),
        "one" => {
            if s.format != Some(Format::Long) {
                s.format = Some(Format::OnePerLine);
            }
        }
        "ignore_backups" => {
            c.ignore.push(b"*~".to_vec());
            c.ignore.push(b".*~".to_vec());
        }
        "dired" => s.dired = true,
        "classify_short" => c.indicator = IndicatorStyle::Classify,
        "classify" => {
            let when = word("--classify", value, &WHEN)?;
            if when == 0 || (when == 2 && tty) {
                c.indicator = IndicatorStyle::Classify;
            }
        }
        "deref_args" => c.dereference = Deref::Args,
        "deref_args_dirs" => c.dereference = Deref::ArgDirs,
        "dereference" => c.dereference = Deref::Always,
        "ignore" => c.ignore.push(value.as_bytes().to_vec()),
        "hide" => c.hide.push(value.as_bytes().to_vec()),
        "literal" => s.quoting = Some(QuotingStyle::Literal),
        "quote_name" => s.quoting = Some(QuotingStyle::C),
        "recursive" => c.recursive = true,
        "group_dirs_first" => c.dirs_first = true,
        "context" => c.scontext = true,
        _ => apply_valued(c, s, id, value, tty)?,
    }
    Ok(())
}

/// The options with a value that are not simple words of a table.
fn apply_valued(
    c: &mut Config,
    s: &mut Switches,
    id: &str,
    value: &str,
    tty: bool,
) -> Result<(), Stop> {
    match id {
        "sort" => s.sort = Some(word("--sort", value, &SORTS)?),
        "time" => c.time = word("--time", value, &TIMES)?,
        "format" => s.format = Some(word("--format", value, &FORMATS)?),
        "indicator_style" => c.indicator = word("--indicator-style", value, &INDICATORS)?,
        "quoting_style" => s.quoting = Some(word("--quoting-style", value, &quoting_table())?),
        "full_time" => {
            s.format = Some(Format::Long);
            s.time_style = Some("full-iso".into());
        }
        "time_style" => s.time_style = Some(value.to_string()),
        "color" => {
            let when = word("--color", value, &WHEN)?;
            s.color = when == 0 || (when == 2 && tty);
        }
        "hyperlink" => {
            let when = word("--hyperlink", value, &WHEN)?;
            c.hyperlink = when == 0 || (when == 2 && tty);
        }
        "width" => match decode_line_length(value) {
            Some(width) => s.width = Some(width),
            None => {
                complain("ls", format!("invalid line width: {}", quote(value)));
                return Err(Stop(2));
            }
        },
        "tabsize" => match parse_number(value) {
            Some(Some(size)) => s.tabsize = Some(size as usize),
            _ => {
                complain("ls", format!("invalid tab size: {}", quote(value)));
                return Err(Stop(2));
            }
        },
        "block_size" => match parse_block_size(value) {
            Ok(units) => {
                c.block_units = units;
                c.size_units = units;
                s.block_set = Some(units);
            }
            Err(why) => {
                let value = quote(value);
                complain(
                    "ls",
                    match why {
                        BadBlockSize::Invalid => format!("invalid --block-size argument {value}"),
                        BadBlockSize::Suffix => {
                            format!("invalid suffix in --block-size argument {value}")
                        }
                        BadBlockSize::TooLarge => {
                            format!("--block-size argument {value} too large")
                        }
                    },
                );
                return Err(Stop(2));
            }
        },
        "zero" => {
            s.zero = true;
            s.qmark = Some(false);
            if s.format != Some(Format::Long) {
                s.format = Some(Format::OnePerLine);
            }
            s.color = false;
            s.quoting = Some(QuotingStyle::Literal);
        }
        _ => {}
    }
    Ok(())
}

/// A number as `xstrtoumax` with base 0 reads it: `0x` hex, a leading `0` octal, else
/// decimal. `Some(None)` when it overflows.
fn parse_number(text: &str) -> Option<Option<u64>> {
    let (digits, radix) =
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            (hex, 16)
        } else if text.len() > 1 && text.starts_with('0') {
            (&text[1..], 8)
        } else {
            (text, 10)
        };
    if digits.is_empty() || !digits.chars().all(|ch| ch.is_digit(radix)) {
        return None;
    }
    Some(u64::from_str_radix(digits, radix).ok())
}

/// GNU's `decode_line_length`: a number, 0 on overflow (no limit); `None` when invalid.
fn decode_line_length(text: &str) -> Option<usize> {
    match parse_number(text)? {
        Some(n) => Some(usize::try_from(n).unwrap_or(0)),
        None => Some(0),
    }
}

/// Why a block size was refused, in GNU's words.
#[derive(Debug, PartialEq, Eq)]
enum BadBlockSize {
    Invalid,
    Suffix,
    TooLarge,
}

/// `--block-size`, `BLOCK_SIZE` and friends, as gnulib's `human_options` reads them.
fn parse_block_size(spec: &str) -> Result<Units, BadBlockSize> {
    let (group, spec) = match spec.strip_prefix('\'') {
        Some(rest) => (true, rest),
        None => (false, spec),
    };
    let autoscale = match spec {
        "human-readable" => Some(1024),
        "si" => Some(1000),
        _ => None,
    };
    if autoscale.is_some() {
        return Ok(Units {
            autoscale,
            group,
            ..Units::BYTES
        });
    }
    let digits_end = spec
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(spec.len());
    let (number, suffix) = spec.split_at(digits_end);
    const LETTERS: &str = "KMGTPEZY";
    let first = suffix.chars().next();
    let power = first.and_then(|c| LETTERS.find(c).or((c == 'k').then_some(0)));
    if number.is_empty() && power.is_none() {
        return Err(BadBlockSize::Invalid);
    }
    let mut count: u64 = if number.is_empty() {
        1
    } else {
        number.parse().map_err(|_| BadBlockSize::TooLarge)?
    };
    let mut shown = None;
    if let Some(power) = power {
        let (base, tail) = match &suffix[1..] {
            "" => (1024u64, ""),
            "B" => (1000, "B"),
            "iB" => (1024, "iB"),
            _ => return Err(BadBlockSize::Suffix),
        };
        let unit = base
            .checked_pow(power as u32 + 1)
            .ok_or(BadBlockSize::TooLarge)?;
        count = count.checked_mul(unit).ok_or(BadBlockSize::TooLarge)?;
        if number.is_empty() {
            shown = Some((base, tail));
        }
    } else if !suffix.is_empty() {
        return Err(BadBlockSize::Suffix);
    }
    if count == 0 {
        return Err(BadBlockSize::Invalid);
    }
    Ok(Units {
        autoscale: None,
        block: count,
        suffix: shown,
        group,
    })
}

/// What GNU settles after reading every option: defaults from the terminal and the
/// environment, and the settings that depend on others.
fn settle(c: &mut Config, s: Switches, tty: bool) -> Result<(), Stop> {
    if s.block_set.is_none() {
        let env_spec = std::env::var("LS_BLOCK_SIZE").ok();
        let (units, from_env) = block_units_from_env(env_spec.as_deref());
        c.block_units = units;
        if from_env {
            c.size_units = units;
        }
        if s.kibibytes {
            c.block_units = Units {
                block: 1024,
                ..Units::BYTES
            };
        }
    }
    c.format = s.format.unwrap_or(if tty {
        Format::Columns
    } else {
        Format::OnePerLine
    });
    let wants_width = matches!(c.format, Format::Columns | Format::Across | Format::Commas);
    c.line_length = match s.width {
        Some(width) => width,
        None if wants_width || s.color => terminal_width(tty),
        None => 80,
    };
    if wants_width {
        c.tabsize = match s.tabsize {
            Some(size) => size,
            None => env_tabsize(),
        };
    }
    c.qmark = s.qmark.unwrap_or(tty);
    let quoting = s.quoting.or_else(env_quoting_style).unwrap_or(if tty {
        QuotingStyle::ShellEscape
    } else {
        QuotingStyle::Literal
    });
    c.quoting = quoting;
    c.align_quotes = (c.format == Format::Long
        || (matches!(c.format, Format::Columns | Format::Across) && c.line_length > 0))
        && matches!(
            quoting,
            QuotingStyle::Shell | QuotingStyle::ShellEscape | QuotingStyle::CMaybe
        );
    if quoting == QuotingStyle::Escape {
        c.name_extra.push(b' ');
    }
    let indicators: &[u8] = match c.indicator {
        IndicatorStyle::FileType => b"=>@|",
        IndicatorStyle::Classify => b"*=>@|",
        _ => b"",
    };
    c.name_extra.extend_from_slice(indicators);
    c.dired = s.dired && c.format == Format::Long && !c.hyperlink;
    if s.zero && c.dired {
        complain("ls", "--dired and --zero are incompatible");
        return Err(Stop(2));
    }
    if s.zero {
        c.eol = 0;
    }
    c.sort = s
        .sort
        .unwrap_or(if c.format != Format::Long && c.time != TimeField::Modify {
            Sort::Time
        } else {
            Sort::Name
        });
    if c.format == Format::Long {
        c.time_formats = time_formats(s.time_style)?;
    }
    settle_colors(c, s.color);
    settle_derived(c);
    Ok(())
}

/// The block size from `LS_BLOCK_SIZE`, `BLOCK_SIZE`, `BLOCKSIZE` or `POSIXLY_CORRECT`, and
/// whether it applies to file sizes too (only the first two do).
fn block_units_from_env(ls_spec: Option<&str>) -> (Units, bool) {
    let block_size = std::env::var("BLOCK_SIZE").ok();
    let spec = ls_spec
        .map(str::to_string)
        .or_else(|| block_size.clone())
        .or_else(|| std::env::var("BLOCKSIZE").ok());
    let default = Units {
        block: if std::env::var_os("POSIXLY_CORRECT").is_some() {
            512
        } else {
            1024
        },
        ..Units::BYTES
    };
    let units = spec
        .as_deref()
        .and_then(|spec| parse_block_size(spec).ok())
        .unwrap_or(default);
    (units, ls_spec.is_some() || block_size.is_some())
}

fn env_tabsize() -> usize {
    match std::env::var("TABSIZE") {
        Ok(text) => match parse_number(&text) {
            Some(Some(size)) => size as usize,
            _ => {
                complain(
                    "ls",
                    format!(
                        "ignoring invalid tab size in environment variable TABSIZE: {}",
                        quote(&text)
                    ),
                );
                8
            }
        },
        Err(_) => 8,
    }
}

fn env_quoting_style() -> Option<QuotingStyle> {
    let text = std::env::var("QUOTING_STYLE").ok()?;
    let style = argmatch(&text, &quoting_table()).ok();
    if style.is_none() {
        complain(
            "ls",
            format!(
                "ignoring invalid value of environment variable QUOTING_STYLE: {}",
                quote(&text)
            ),
        );
    }
    style
}

/// The terminal's width, else `COLUMNS`, else 80.
fn terminal_width(tty: bool) -> usize {
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize into `size`, which lives for the call.
    let ok = tty && unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        return usize::from(size.ws_col);
    }
    match std::env::var("COLUMNS") {
        Ok(text) if !text.is_empty() => decode_line_length(&text).unwrap_or_else(|| {
            complain(
                "ls",
                format!(
                    "ignoring invalid width in environment variable COLUMNS: {}",
                    quote(&text)
                ),
            );
            80
        }),
        _ => 80,
    }
}

/// The C locale's formats for old and recent files (GNU's default `--time-style=locale`).
const LOCALE_TIME_FORMATS: [&[u8]; 2] = [b"%b %e  %Y", b"%b %e %H:%M"];

/// The two time formats (old files, recent files) a `--time-style` or `TIME_STYLE` names.
fn time_formats(option: Option<String>) -> Result<[Vec<u8>; 2], Stop> {
    let mut style = option
        .or_else(|| std::env::var("TIME_STYLE").ok())
        .unwrap_or_else(|| "locale".into());
    let locale = LOCALE_TIME_FORMATS.map(<[u8]>::to_vec);
    if style.starts_with("posix-") {
        // The C locale is not a "hard" locale: GNU keeps its default formats.
        return Ok(locale);
    }
    if let Some(format) = style.strip_prefix('+') {
        return match format.split_once('\n') {
            None => Ok([format.as_bytes().to_vec(), format.as_bytes().to_vec()]),
            Some((_, recent)) if recent.contains('\n') => {
                let shown = quote_style(format.as_bytes(), QuotingStyle::Locale, b"");
                let shown = String::from_utf8_lossy(&shown);
                complain("ls", format!("invalid time style format {shown}"));
                Err(Stop(2))
            }
            Some((old, recent)) => Ok([old.as_bytes().to_vec(), recent.as_bytes().to_vec()]),
        };
    }
    let table = [("full-iso", 0), ("long-iso", 1), ("iso", 2), ("locale", 3)];
    match argmatch(&style, &table) {
        Ok(0) => Ok([
            b"%Y-%m-%d %H:%M:%S.%N %z".to_vec(),
            b"%Y-%m-%d %H:%M:%S.%N %z".to_vec(),
        ]),
        Ok(1) => Ok([b"%Y-%m-%d %H:%M".to_vec(), b"%Y-%m-%d %H:%M".to_vec()]),
        Ok(2) => Ok([b"%Y-%m-%d ".to_vec(), b"%m-%d %H:%M".to_vec()]),
        Ok(_) => Ok(locale),
        Err(ambiguous) => {
            style = quote(&style);
            let what = if ambiguous { "ambiguous" } else { "invalid" };
            complain("ls", format!("{what} argument {style} for 'time style'"));
            let _ = write!(
                std::io::stderr(),
                "Valid arguments are:\n  - [posix-]full-iso\n  - [posix-]long-iso\n  \
                 - [posix-]iso\n  - [posix-]locale\n  \
                 - +FORMAT (e.g., +%H:%M) for a 'date'-style format\n"
            );
            try_help();
            Err(Stop(2))
        }
    }
}

/// `LS_COLORS` (or the built-in colours, when `TERM` is one GNU colours), once colour is on.
fn settle_colors(c: &mut Config, color: bool) {
    if !color {
        return;
    }
    let spec = std::env::var_os("LS_COLORS").unwrap_or_default();
    if spec.is_empty() {
        let colorterm = std::env::var_os("COLORTERM").unwrap_or_default();
        let term = std::env::var_os("TERM").unwrap_or_default();
        if colorterm.is_empty() && !known_term(term.as_bytes()) {
            return;
        }
        c.colors = Some(Colors::builtin());
        return;
    }
    let (colors, errors) = Colors::parse(spec.as_bytes());
    for error in &errors {
        match error {
            ColorsError::UnknownPrefix(label) => {
                complain("ls", format!("unrecognized prefix: {}", quote(label)))
            }
            ColorsError::Unparsable => {
                complain("ls", "unparsable value for LS_COLORS environment variable")
            }
        }
    }
    if errors.is_empty() {
        c.colors = Some(colors);
    }
}

/// The settings GNU's `main` derives before listing.
fn settle_derived(c: &mut Config) {
    if c.colors.is_some() {
        // GNU: no tabs among colour codes.
        c.tabsize = 0;
    }
    if c.dirs_first {
        c.check_symlink_mode = true;
    } else if let Some(colors) = &c.colors {
        c.check_symlink_mode = colors.is_colored(Color::Orphan)
            || (colors.is_colored(Color::Exec) && colors.link_as_target)
            || (colors.is_colored(Color::Missing) && c.format == Format::Long);
    }
    if c.dereference == Deref::Undefined {
        c.dereference = if c.immediate_dirs
            || c.indicator == IndicatorStyle::Classify
            || c.format == Format::Long
        {
            Deref::Never
        } else {
            Deref::ArgDirs
        };
    }
    c.needs_stat = matches!(c.sort, Sort::Time | Sort::Size)
        || c.format == Format::Long
        || c.blocks
        || c.hyperlink
        || c.scontext;
    c.needs_type = !c.needs_stat
        && (c.recursive
            || c.colors.is_some()
            || c.scontext
            || c.dirs_first
            || c.indicator != IndicatorStyle::None);
}

/// Standard output, buffered, with the count of bytes written (for `--dired`).
struct Output {
    buf: Vec<u8>,
    flushed: usize,
    used_color: bool,
    terminal: bool,
}

impl Output {
    fn new() -> Output {
        Output {
            buf: Vec::with_capacity(1 << 16),
            flushed: 0,
            used_color: false,
            terminal: std::io::IsTerminal::is_terminal(&std::io::stdout()),
        }
    }

    fn pos(&self) -> usize {
        self.flushed + self.buf.len()
    }

    fn put(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn byte(&mut self, byte: u8) {
        self.buf.push(byte);
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&self.buf)?;
        stdout.flush()?;
        self.flushed += self.buf.len();
        self.buf.clear();
        Ok(())
    }

    /// Writes out at 64 KiB, or after each directory on a terminal, where a person waits.
    fn maybe_flush(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= 1 << 16 || (self.terminal && !self.buf.is_empty()) {
            self.flush()?;
        }
        Ok(())
    }
}

struct Lister {
    config: Config,
    accounts: Accounts,
    now: (i64, i64),
    status: i32,
    name: &'static str,
    out: Output,
    dired: Vec<usize>,
    subdired: Vec<usize>,
    /// Directories being listed (device, inode), for the loop check under -R.
    active: HashSet<(u64, u64)>,
    first: bool,
    print_dir_name: bool,
    /// Whether some name of the current group needs quotes (the others get a space).
    some_quoted: bool,
    time_width: usize,
    /// Bytes that every quoting pass leaves as they are, in any position: a name made only
    /// of them is shown as it is, one column each, and needs no quoting pass.
    plain: [bool; 256],
    /// Whether the time formats are the C locale's defaults, which are formatted here.
    locale_times: bool,
    /// The last time shown with the locale formats: files of one package share their times.
    last_time: Option<(i64, bool, [u8; 12], usize)>,
    /// The long line being built, kept to spare an allocation per file.
    line: Vec<u8>,
    /// The last owner and group looked up, and their names: most files share them.
    last_owner: std::cell::RefCell<[Option<KnownOwner>; 2]>,
    /// Room for the sort's permutation and a directory's files, kept between directories.
    sort_order: std::cell::RefCell<Vec<u32>>,
    spare_files: Vec<File>,
    dir_buffer: Vec<u8>,
}

/// An owner or group id and the name shown for it (`None`: the number is shown).
type KnownOwner = (u32, Option<String>);

/// A directory waiting to be listed, or the marker that its subdirectories are done.
enum Pending {
    Dir {
        name: Vec<u8>,
        real: Option<Vec<u8>>,
        path: PathBuf,
        command_line: bool,
    },
    Done(u64, u64),
}

impl Lister {
    fn main(&mut self, operands: &[OsString]) -> std::io::Result<()> {
        let mut pending: Vec<Pending> = Vec::new();
        let mut files = Vec::new();
        self.some_quoted = false;
        if operands.is_empty() {
            if self.config.immediate_dirs {
                self.gobble(&mut files, b".".to_vec(), Kind::Dir, None, true, None);
            } else {
                pending.push(Pending::Dir {
                    name: b".".to_vec(),
                    real: None,
                    path: PathBuf::from("."),
                    command_line: true,
                });
            }
        }
        for operand in operands {
            self.gobble(
                &mut files,
                operand.as_bytes().to_vec(),
                Kind::Unknown,
                None,
                true,
                None,
            );
        }
        let mut listed = false;
        if !files.is_empty() {
            self.sort(&mut files);
            // GNU sizes the operand columns over every operand, directories included.
            let widths = self.widths(&files);
            if !self.config.immediate_dirs {
                self.extract_dirs(&mut files, None, &mut pending);
            }
            if !files.is_empty() {
                self.print_with_widths(&files, &widths);
                listed = true;
                if !pending.is_empty() {
                    self.out.byte(b'\n');
                }
            }
        }
        if !listed && operands.len() <= 1 && pending.len() == 1 {
            self.print_dir_name = false;
        }
        while let Some(next) = pending.pop() {
            match next {
                Pending::Done(dev, ino) => {
                    self.active.remove(&(dev, ino));
                }
                Pending::Dir {
                    name,
                    real,
                    path,
                    command_line,
                } => self.print_dir(&name, real.as_deref(), &path, command_line, &mut pending)?,
            }
            self.out.maybe_flush()?;
        }
        if self.config.dired {
            self.dump_dired();
        }
        if let (Some(colors), true) = (&self.config.colors, self.out.used_color) {
            let plain = colors.get(Color::Left) == Some(b"\x1b[".as_slice())
                && colors.get(Color::Right) == Some(b"m".as_slice());
            if !plain {
                self.put_indicator(Color::Left);
                self.put_indicator(Color::Right);
            }
        }
        self.out.flush()
    }

    fn dump_dired(&mut self) {
        for (label, positions) in [
            ("//DIRED//", std::mem::take(&mut self.dired)),
            ("//SUBDIRED//", std::mem::take(&mut self.subdired)),
        ] {
            if positions.is_empty() {
                continue;
            }
            let mut line = label.to_string();
            for pos in positions {
                line.push_str(&format!(" {pos}"));
            }
            line.push('\n');
            self.out.put(line.as_bytes());
        }
        let style = QuotingStyle::NAMES
            .iter()
            .find(|n| QuotingStyle::from_name(n) == Some(self.config.quoting))
            .copied()
            .unwrap_or("literal");
        self.out
            .put(format!("//DIRED-OPTIONS// --quoting-style={style}\n").as_bytes());
    }

    fn fail(&mut self, serious: bool, message: String) {
        // GNU's `error` flushes standard output first: the message lands where it happened.
        let _ = self.out.flush();
        complain(self.name, message);
        if serious {
            self.status = 2;
        } else if self.status == 0 {
            self.status = 1;
        }
    }

    /// Moves the directories of `files` to the pending stack (the first on top); on the
    /// command line they leave the list, in a recursive listing they stay in it.
    fn extract_dirs(
        &mut self,
        files: &mut Vec<File>,
        dirname: Option<&[u8]>,
        pending: &mut Vec<Pending>,
    ) {
        let mut dirs = Vec::new();
        for f in files.iter() {
            if !f.is_dir() {
                continue;
            }
            if dirname.is_some() && (f.name == b"." || f.name == b"..") {
                continue;
            }
            let name = match dirname {
                Some(dir) if !f.name.starts_with(b"/") => join_name(dir, &f.name),
                _ => f.name.clone(),
            };
            dirs.push(Pending::Dir {
                name,
                real: f.link_name.clone().filter(|_| dirname.is_none()),
                path: f.path.clone(),
                command_line: dirname.is_none(),
            });
        }
        pending.extend(dirs.into_iter().rev());
        if dirname.is_none() {
            files.retain(|f| !f.is_dir());
        }
    }

    /// GNU's `file_ignored`.
    fn ignored(&self, name: &[u8]) -> bool {
        let c = &self.config;
        let dotted = name.first() == Some(&b'.')
            && match c.ignore_mode {
                IgnoreMode::Minimal => false,
                IgnoreMode::Default => true,
                IgnoreMode::DotAndDotDot => name == b"." || name == b"..",
            };
        dotted
            || (c.ignore_mode == IgnoreMode::Default && c.hide.iter().any(|p| fnmatch(p, name)))
            || c.ignore.iter().any(|p| fnmatch(p, name))
    }

    /// Lists one directory; queues its subdirectories when recursing.
    fn print_dir(
        &mut self,
        name: &[u8],
        real: Option<&[u8]>,
        path: &Path,
        command_line: bool,
        pending: &mut Vec<Pending>,
    ) -> std::io::Result<()> {
        let buffer = std::mem::take(&mut self.dir_buffer);
        let mut stream = match DirStream::open(path, buffer) {
            Ok(stream) => stream,
            Err(err) => {
                let message = format!(
                    "cannot open directory {}: {}",
                    quote(OsStr::from_bytes(name)),
                    strerror(&err)
                );
                self.fail(command_line, message);
                return Ok(());
            }
        };
        if self.config.recursive {
            match stream.dev_ino() {
                Ok(dev_ino) => {
                    if !self.active.insert(dev_ino) {
                        let shown =
                            crate::sys::quoting::shell_word(OsString::from_vec(name.to_vec()));
                        self.fail(
                            true,
                            format!("{shown}: not listing already-listed directory"),
                        );
                        return Ok(());
                    }
                    pending.push(Pending::Done(dev_ino.0, dev_ino.1));
                }
                Err(err) => {
                    let message = format!(
                        "cannot determine device and inode of {}: {}",
                        quote(OsStr::from_bytes(name)),
                        strerror(&err)
                    );
                    self.fail(command_line, message);
                    return Ok(());
                }
            }
        }
        if self.config.recursive || self.print_dir_name {
            self.dir_header(name, real);
        }
        // The list of the last directory, emptied: its room is reused.
        let mut files = std::mem::take(&mut self.spare_files);
        self.some_quoted = false;
        let mut total: u64 = 0;
        loop {
            let entry = match stream.next_entry() {
                None => break,
                Some(Ok(entry)) => entry,
                Some(Err(err)) => {
                    let message = format!(
                        "reading directory {}: {}",
                        quote(OsStr::from_bytes(name)),
                        strerror(&err)
                    );
                    self.fail(command_line, message);
                    break;
                }
            };
            if self.ignored(&entry.name) {
                continue;
            }
            let kind = Kind::of_dirent(entry.kind);
            total += self.gobble(&mut files, entry.name, kind, None, false, Some(path));
        }
        self.dir_buffer = stream.into_buffer();
        self.sort(&mut files);
        if self.config.recursive {
            let dirname = real.unwrap_or(name).to_vec();
            self.extract_dirs(&mut files, Some(&dirname), pending);
        }
        if self.config.format == Format::Long || self.config.blocks {
            self.dired_indent();
            let text = format_units(total, 512, self.config.block_units);
            self.out.put(format!("total {text}").as_bytes());
            self.out.byte(self.config.eol);
        }
        if !files.is_empty() {
            self.print_current(&files);
        }
        files.clear();
        self.spare_files = files;
        Ok(())
    }

    /// `NAME:` before a directory's entries, with a blank line before all but the first.
    fn dir_header(&mut self, name: &[u8], real: Option<&[u8]>) {
        if !self.first {
            self.out.byte(b'\n');
        }
        self.first = false;
        self.dired_indent();
        let shown = real.unwrap_or(name);
        let mut extra = self.config.name_extra.clone();
        extra.push(b':');
        let (text, _, _) = self.quote_name(shown, &extra);
        self.subdired.push(self.out.pos());
        if self.config.hyperlink {
            let absolute = absolute_name(Path::new(std::ffi::OsStr::from_bytes(shown)));
            self.put_hyperlinked(&text, absolute.as_deref());
        } else {
            self.out.put(&text);
        }
        self.subdired.push(self.out.pos());
        self.out.put(b":\n");
    }

    fn dired_indent(&mut self) {
        if self.config.dired {
            self.out.put(b"  ");
        }
    }
}

/// Whether the locale the environment names is a UTF-8 one, as GNU's `setlocale` would find
/// (the first of `LC_ALL`, `LC_CTYPE`, `LANG` that is set and not empty).
fn utf8_locale() -> bool {
    let name = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|value| !value.is_empty())
        .unwrap_or_default()
        .to_ascii_lowercase();
    name.contains("utf-8") || name.contains("utf8")
}

/// A quoted name in a UTF-8 locale: with `qmark`, a `?` for each character that is not
/// printable and each stray byte; its width counts the printable characters.
fn utf8_shown(text: Vec<u8>, qmark: bool, quoted: bool) -> (Vec<u8>, usize, bool) {
    let mut out = Vec::with_capacity(text.len());
    let mut width = 0;
    for chunk in text.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch.is_control() {
                if qmark {
                    out.push(b'?');
                    width += 1;
                } else {
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
            } else {
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                width += 1;
            }
        }
        // A stray byte takes one column either way (gnulib's `mbsnwidth`).
        width += chunk.invalid().len();
        if qmark {
            out.extend(chunk.invalid().iter().map(|_| b'?'));
        } else {
            out.extend_from_slice(chunk.invalid());
        }
    }
    (out, width, quoted)
}

/// `dir/name`, without doubling a slash the directory name already ends with.
fn join_name(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = dir.to_vec();
    if !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

fn fnmatch(pattern: &[u8], name: &[u8]) -> bool {
    let (Ok(p), Ok(n)) = (
        std::ffi::CString::new(pattern.to_vec()),
        std::ffi::CString::new(name.to_vec()),
    ) else {
        return false;
    };
    // SAFETY: both strings are NUL-terminated and live for the call.
    unsafe { libc::fnmatch(p.as_ptr(), n.as_ptr(), libc::FNM_PERIOD) == 0 }
}

/// The absolute, symlink-free name of a file for `--hyperlink` (missing parts kept).
fn absolute_name(path: &Path) -> Option<Vec<u8>> {
    use crate::sys::canonical::{canonicalize, Missing};
    canonicalize(path, Missing::Anything)
        .ok()
        .map(|p| p.into_os_string().into_vec())
}

/// `n` units of `from` bytes, shown in `units`, rounded up as GNU's `human_readable` does.
fn format_units(n: u64, from: u64, units: Units) -> String {
    let bytes = u128::from(n) * u128::from(from);
    if let Some(base) = units.autoscale {
        return autoscale(bytes, base);
    }
    let block = u128::from(units.block);
    let value = bytes.div_ceil(block);
    let mut text = value.to_string();
    if let Some((base, tail)) = units.suffix {
        let mut power = 0;
        let mut unit = 1u128;
        while unit < block {
            unit *= u128::from(base);
            power += 1;
        }
        if power > 0 {
            text.push(if base == 1000 && power == 1 {
                'k'
            } else {
                b"KMGTPEZYRQ"[power - 1] as char
            });
            text.push_str(tail);
        } else {
            text.push('B');
        }
    }
    text
}

/// `-h` and `--si`: one decimal below 10, rounded up, one-letter suffix.
fn autoscale(bytes: u128, base: u64) -> String {
    let base = u128::from(base);
    if bytes < base {
        return bytes.to_string();
    }
    let letters: &[u8] = if base == 1000 {
        b"kMGTPEZYRQ"
    } else {
        b"KMGTPEZYRQ"
    };
    let mut power = 0usize;
    let mut unit = 1u128;
    while bytes / unit >= base && power < letters.len() {
        unit *= base;
        power += 1;
    }
    // Tenths, rounded up.
    let tenths = (bytes * 10).div_ceil(unit);
    if tenths < 100 {
        return format!(
            "{}.{}{}",
            tenths / 10,
            tenths % 10,
            letters[power - 1] as char
        );
    }
    let whole = bytes.div_ceil(unit);
    if whole >= base && power < letters.len() {
        return format!("1.0{}", letters[power] as char);
    }
    format!("{whole}{}", letters[power - 1] as char)
}

impl Lister {
    /// GNU's `gobble_file`: a file for the listing, stat'ed as the options need. Returns
    /// its allocated size in 512-byte blocks, for `total`.
    fn gobble(
        &mut self,
        files: &mut Vec<File>,
        name: Vec<u8>,
        kind: Kind,
        ino: Option<u64>,
        command_line: bool,
        dir: Option<&Path>,
    ) -> u64 {
        let path = match dir {
            Some(dir) if !name.starts_with(b"/") && dir.as_os_str() != "." => {
                // `dir.join(name)` in one allocation instead of a copy and a regrowth.
                let dir = dir.as_os_str().as_bytes();
                let mut joined = Vec::with_capacity(dir.len() + 1 + name.len());
                joined.extend_from_slice(dir);
                if !joined.is_empty() && !joined.ends_with(b"/") {
                    joined.push(b'/');
                }
                joined.extend_from_slice(&name);
                PathBuf::from(OsString::from_vec(joined))
            }
            _ => PathBuf::from(std::ffi::OsStr::from_bytes(&name)),
        };
        let mut f = File {
            name,
            path,
            kind,
            stat: None,
            dirent_ino: ino,
            link_name: None,
            link_mode: None,
            has_acl: false,
            has_cap: false,
            absolute: None,
            birth: None,
        };
        if self.config.align_quotes && !self.some_quoted && !self.is_plain(&f.name) {
            let (_, _, quoted) = self.quote_name(&f.name, &self.config.name_extra);
            if quoted {
                self.some_quoted = true;
            }
        }
        if !self.must_stat(&f, command_line) {
            files.push(f);
            return 0;
        }
        if self.config.hyperlink {
            f.absolute = absolute_name(&f.path);
        }
        let (result, deref) = self.stat_for(&f.path, command_line);
        let meta = match result {
            Ok(meta) => meta,
            Err(err) => {
                let message = format!("cannot access {}: {}", quote(&f.path), strerror(&err));
                self.fail(command_line, message);
                if !command_line {
                    f.dirent_ino = None;
                    files.push(f);
                }
                return 0;
            }
        };
        let mode = meta.mode();
        let blocks = meta.blocks();
        if mode & libc::S_IFMT == libc::S_IFREG
            && self
                .config
                .colors
                .as_ref()
                .is_some_and(|c| c.is_colored(Color::Capability))
        {
            f.has_cap = crate::sys::capability::read(&f.path)
                .ok()
                .flatten()
                .is_some();
        }
        if self.config.format == Format::Long {
            f.has_acl = has_acl(&f.path, mode & libc::S_IFMT == libc::S_IFDIR, deref);
        }
        f.kind = match Kind::of_mode(mode) {
            Kind::Dir if command_line && !self.config.immediate_dirs => Kind::ArgDir,
            Kind::Unknown => Kind::Normal,
            other => other,
        };
        f.stat = Some(meta);
        if self.config.time == TimeField::Birth {
            f.birth = crate::sys::birth::birth_time(&f.path, deref).map(|(s, n)| (s, i64::from(n)));
        }
        if f.kind == Kind::Symlink
            && (self.config.format == Format::Long || self.config.check_symlink_mode)
        {
            self.read_link(&mut f, command_line);
        }
        files.push(f);
        blocks
    }

    /// Whether GNU would stat this file (it avoids it when the type from readdir says enough).
    fn must_stat(&self, f: &File, command_line: bool) -> bool {
        let c = &self.config;
        let colors = c.colors.as_ref();
        let colored = |which| colors.is_some_and(|k: &Colors| k.is_colored(which));
        let kind = f.kind;
        command_line
            || c.hyperlink
            || c.needs_stat
            || (kind == Kind::Dir
                && (colored(Color::OtherWritable)
                    || colored(Color::Sticky)
                    || colored(Color::StickyOtherWritable)))
            || ((c.inode || c.needs_type)
                && matches!(kind, Kind::Symlink | Kind::Unknown)
                && (c.dereference == Deref::Always
                    || colors.is_some_and(|k| k.link_as_target)
                    || c.check_symlink_mode))
            || (c.inode && f.dirent_ino.is_none())
            || (c.needs_type
                && (kind == Kind::Unknown
                    || (kind == Kind::Normal
                        && (c.indicator == IndicatorStyle::Classify
                            || colored(Color::Exec)
                            || colored(Color::Setuid)
                            || colored(Color::Setgid)
                            || colored(Color::Capability)))))
    }

    /// stat or lstat, as `--dereference` and friends ask; and whether it followed.
    fn stat_for(&self, path: &Path, command_line: bool) -> (std::io::Result<Metadata>, bool) {
        match self.config.dereference {
            Deref::Always => (std::fs::metadata(path), true),
            Deref::Args | Deref::ArgDirs if command_line => {
                let result = std::fs::metadata(path);
                if self.config.dereference == Deref::Args {
                    return (result, true);
                }
                let need_lstat = match &result {
                    Err(err) => err.raw_os_error() == Some(libc::ENOENT),
                    Ok(meta) => !meta.is_dir(),
                };
                if need_lstat {
                    (std::fs::symlink_metadata(path), false)
                } else {
                    (result, true)
                }
            }
            _ => (std::fs::symlink_metadata(path), false),
        }
    }

    /// A symlink's target, and the mode of what it points at when an indicator or colour
    /// needs it.
    fn read_link(&mut self, f: &mut File, command_line: bool) {
        match std::fs::read_link(&f.path) {
            Ok(target) => f.link_name = Some(target.into_os_string().into_vec()),
            Err(err) => {
                let message = format!(
                    "cannot read symbolic link {}: {}",
                    quote(&f.path),
                    strerror(&err)
                );
                self.fail(command_line, message);
                return;
            }
        }
        if self.config.indicator >= IndicatorStyle::FileType || self.config.check_symlink_mode {
            if let Ok(meta) = std::fs::metadata(&f.path) {
                f.link_mode = Some(meta.mode());
            }
        }
    }

    fn sort(&self, files: &mut [File]) {
        use std::cmp::Ordering;
        let c = &self.config;
        if c.sort == Sort::None {
            return;
        }
        let by_name = |a: &File, b: &File| a.name.cmp(&b.name);
        let field = c.time;
        let key: Box<Compare> = match c.sort {
            Sort::Time => Box::new(move |a: &File, b: &File| {
                b.time(field)
                    .cmp(&a.time(field))
                    .then_with(|| by_name(a, b))
            }),
            Sort::Size => Box::new(move |a: &File, b: &File| {
                let size = |f: &File| f.stat.as_ref().map_or(0, MetadataExt::size);
                size(b).cmp(&size(a)).then_with(|| by_name(a, b))
            }),
            Sort::Extension => Box::new(move |a: &File, b: &File| {
                extension(&a.name)
                    .cmp(extension(&b.name))
                    .then_with(|| by_name(a, b))
            }),
            Sort::Version => Box::new(|a: &File, b: &File| filevercmp(&a.name, &b.name)),
            Sort::Width => Box::new(|a: &File, b: &File| {
                self.name_width(a)
                    .cmp(&self.name_width(b))
                    .then_with(|| by_name(a, b))
            }),
            _ => Box::new(by_name),
        };
        let reverse = c.reverse;
        let dirs_first = c.dirs_first;
        // Sorting the indices moves 4 bytes where sorting the files would move a whole
        // `File` (a stat buffer and more) at every step; the files then move once.
        let Ok(count) = u32::try_from(files.len()) else {
            return;
        };
        // Kept between directories: a large one would otherwise map and unmap fresh pages.
        let mut order = self.sort_order.take();
        order.clear();
        order.extend(0..count);
        if c.sort == Sort::Name && !dirs_first && !reverse {
            // The common case, without the indirect call per comparison.
            order.sort_by(|&a, &b| files[a as usize].name.cmp(&files[b as usize].name));
        } else {
            order.sort_by(|&a, &b| {
                let (a, b) = (&files[a as usize], &files[b as usize]);
                if dirs_first {
                    let order = b.is_linked_dir().cmp(&a.is_linked_dir());
                    if order != Ordering::Equal {
                        return order;
                    }
                }
                let order = key(a, b);
                if reverse {
                    order.reverse()
                } else {
                    order
                }
            });
        }
        // Position `j` takes the file at `order[j]`: each cycle of the permutation is followed
        // once, with swaps, and its entries marked done.
        const DONE: u32 = u32::MAX;
        for start in 0..order.len() {
            let mut j = start;
            while order[j] != DONE {
                let k = order[j] as usize;
                order[j] = DONE;
                if k == start {
                    break;
                }
                files.swap(j, k);
                j = k;
            }
        }
        self.sort_order.replace(order);
    }
}

type Compare<'a> = dyn Fn(&File, &File) -> std::cmp::Ordering + 'a;

/// The extension `-X` sorts by: from the last `.`, or nothing.
fn extension(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b'.') {
        Some(dot) => &name[dot..],
        None => b"",
    }
}

/// gnulib's `filevercmp`: `.` then `..` then hidden names then others; names compared as
/// versions without their suffixes, then whole; bytes break ties (ls's `cmp_version`).
fn filevercmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let rank = |s: &[u8]| match s {
        b"" => 0,
        b"." => 1,
        b".." => 2,
        [b'.', ..] => 3,
        _ => 4,
    };
    let order = rank(a).cmp(&rank(b));
    if order != Ordering::Equal || rank(a) < 3 {
        return order.then_with(|| a.cmp(b));
    }
    let a_prefix = file_prefix_len(a);
    let b_prefix = file_prefix_len(b);
    let one_pass = a_prefix == a.len() && b_prefix == b.len();
    let mut result = crate::sys::debversion::verrevcmp(&a[..a_prefix], &b[..b_prefix]);
    if result == Ordering::Equal && !one_pass {
        result = crate::sys::debversion::verrevcmp(a, b);
    }
    result.then_with(|| a.cmp(b))
}

/// The length of a name without its suffix: `(\.[A-Za-z~][A-Za-z0-9~]*)*$`.
fn file_prefix_len(s: &[u8]) -> usize {
    let mut i = 0;
    loop {
        let prefix_len = i;
        while i + 1 < s.len()
            && s[i] == b'.'
            && (s[i + 1].is_ascii_alphabetic() || s[i + 1] == b'~')
        {
            i += 2;
            while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'~') {
                i += 1;
            }
        }
        if i >= s.len() {
            return prefix_len;
        }
        i += 1;
    }
}

/// Whether a file carries a POSIX ACL beyond its mode bits (GNU marks those with `+`).
fn has_acl(path: &Path, is_dir: bool, follow: bool) -> bool {
    // Once per file of a long listing: the NUL-terminated copy goes on the stack when it fits.
    let bytes = path.as_os_str().as_bytes();
    let mut stack = [0u8; 512];
    let heap;
    let c_path: &std::ffi::CStr = if bytes.len() < stack.len() {
        stack[..bytes.len()].copy_from_slice(bytes);
        match std::ffi::CStr::from_bytes_with_nul(&stack[..=bytes.len()]) {
            Ok(c_path) => c_path,
            Err(_) => return false,
        }
    } else {
        heap = match std::ffi::CString::new(bytes) {
            Ok(c_path) => c_path,
            Err(_) => return false,
        };
        &heap
    };
    let names: &[&std::ffi::CStr] = if is_dir {
        &[c"system.posix_acl_access", c"system.posix_acl_default"]
    } else {
        &[c"system.posix_acl_access"]
    };
    names.iter().any(|attr| {
        // SAFETY: both strings are NUL-terminated and live for the call; a null buffer of
        // size 0 asks only for the attribute's length.
        let len = unsafe {
            if follow {
                libc::getxattr(c_path.as_ptr(), attr.as_ptr(), std::ptr::null_mut(), 0)
            } else {
                libc::lgetxattr(c_path.as_ptr(), attr.as_ptr(), std::ptr::null_mut(), 0)
            }
        };
        len > 0
    })
}

/// Column widths of the current group, as GNU accumulates them in `gobble_file`.
#[derive(Default, Clone, Copy)]
struct Widths {
    inode: usize,
    blocks: usize,
    links: usize,
    owner: usize,
    group: usize,
    author: usize,
    major: usize,
    minor: usize,
    size: usize,
    scontext: usize,
    any_acl: bool,
}

impl Lister {
    /// A name quoted as the options ask; its display width; whether quoting changed it.
    fn quote_name(&self, name: &[u8], extra: &[u8]) -> (Vec<u8>, usize, bool) {
        let style = self.config.quoting;
        let mut text = quote_style_in(name, style, extra, self.config.utf8);
        let quoted = text != name;
        let further = self.config.qmark
            && matches!(
                style,
                QuotingStyle::Shell | QuotingStyle::ShellAlways | QuotingStyle::Literal
            );
        if self.config.utf8 {
            return utf8_shown(text, further, quoted);
        }
        let width = if further {
            for byte in text.iter_mut() {
                if !(0x20..0x7f).contains(byte) {
                    *byte = b'?';
                }
            }
            text.len()
        } else {
            text.iter().filter(|b| (0x20..0x7f).contains(*b)).count()
        };
        (text, width, quoted)
    }

    fn name_width(&self, f: &File) -> usize {
        if self.is_plain(&f.name) {
            return f.name.len() + usize::from(self.pad(false));
        }
        let (_, width, quoted) = self.quote_name(&f.name, &self.config.name_extra);
        width + usize::from(self.pad(quoted))
    }

    /// Whether `name` shows as it is with the options' quoting and extra characters.
    fn is_plain(&self, name: &[u8]) -> bool {
        !name.is_empty() && name.iter().all(|&b| self.plain[usize::from(b)])
    }

    fn pad(&self, quoted: bool) -> bool {
        self.config.align_quotes && self.some_quoted && !quoted
    }

    fn inode_text(&self, f: &File) -> String {
        f.stat
            .as_ref()
            .map_or_else(|| "?".to_string(), |meta| meta.ino().to_string())
    }

    fn blocks_text(&self, f: &File) -> String {
        match &f.stat {
            None => "?".into(),
            Some(meta) => format_units(meta.blocks(), 512, self.config.block_units),
        }
    }

    fn widths(&self, files: &[File]) -> Widths {
        let mut w = Widths::default();
        let c = &self.config;
        for f in files {
            if c.inode {
                w.inode = w.inode.max(self.inode_text(f).len());
            }
            if c.blocks {
                w.blocks = w.blocks.max(self.blocks_text(f).len());
            }
            if c.scontext {
                w.scontext = w.scontext.max(1);
            }
            if c.format != Format::Long {
                continue;
            }
            w.any_acl |= f.has_acl;
            let Some(meta) = &f.stat else {
                // GNU leaves the widths alone for a file it could not stat, except the
                // owner and group columns, which at least hold the `?`.
                w.owner = w.owner.max(1);
                w.group = w.group.max(1);
                w.author = w.author.max(1);
                continue;
            };
            w.links = w.links.max(digits(meta.nlink()));
            if c.owner || c.author {
                let owner = self.owner_len(meta.uid(), true);
                w.owner = w.owner.max(owner);
                w.author = w.author.max(owner);
            }
            if c.group {
                w.group = w.group.max(self.owner_len(meta.gid(), false));
            }
            let kind = Kind::of_mode(meta.mode());
            if matches!(kind, Kind::Char | Kind::Block) {
                let rdev = meta.rdev();
                w.major = w.major.max(libc::major(rdev).to_string().len());
                w.minor = w.minor.max(libc::minor(rdev).to_string().len());
                w.size = w.size.max(w.major + 2 + w.minor);
            } else if self.config.size_units == Units::BYTES {
                w.size = w.size.max(digits(meta.size()));
            } else {
                let size = format_units(meta.size(), 1, self.config.size_units);
                w.size = w.size.max(size.len());
            }
        }
        w
    }

    /// The length in bytes of the owner or group column's text.
    fn owner_len(&self, id: u32, user: bool) -> usize {
        self.with_owner_name(id, user, |name| match name {
            Some(name) => name.len(),
            None => digits(u64::from(id)),
        })
    }

    /// `show` called with the account name shown for `id`, `None` when the number is shown
    /// instead.
    fn with_owner_name<R>(&self, id: u32, user: bool, show: impl FnOnce(Option<&str>) -> R) -> R {
        if self.config.numeric {
            return show(None);
        }
        let mut cache = self.last_owner.borrow_mut();
        let slot = &mut cache[usize::from(!user)];
        if slot.as_ref().map(|(cached, _)| *cached) != Some(id) {
            let name = if user {
                self.accounts.user_name(id)
            } else {
                self.accounts.group_name(id)
            };
            *slot = Some((id, name.map(str::to_owned)));
        }
        show(slot.as_ref().and_then(|(_, name)| name.as_deref()))
    }

    /// GNU's `print_current_files`.
    fn print_current(&mut self, files: &[File]) {
        let widths = self.widths(files);
        self.print_with_widths(files, &widths);
    }

    fn print_with_widths(&mut self, files: &[File], widths: &Widths) {
        let widths = *widths;
        let c = &self.config;
        match c.format {
            Format::OnePerLine => {
                for f in files {
                    self.print_name_and_frills(f, 0, &widths);
                    self.out.byte(self.config.eol);
                }
            }
            Format::Columns if c.line_length > 0 => self.print_columns(files, &widths, true),
            Format::Across if c.line_length > 0 => self.print_columns(files, &widths, false),
            Format::Columns | Format::Across => self.print_with_separator(files, b' ', &widths),
            Format::Commas => self.print_with_separator(files, b',', &widths),
            Format::Long => {
                for f in files {
                    self.set_normal_color();
                    self.print_long(f, &widths);
                    self.out.byte(self.config.eol);
                }
            }
        }
    }

    fn length_of_frills(&self, f: &File, w: &Widths) -> usize {
        let commas = self.config.format == Format::Commas;
        let mut len = 0;
        if self.config.inode {
            len += 1 + if commas {
                self.inode_text(f).len()
            } else {
                w.inode
            };
        }
        if self.config.blocks {
            len += 1 + if commas {
                self.blocks_text(f).len()
            } else {
                w.blocks
            };
        }
        if self.config.scontext {
            len += 1 + if commas { 1 } else { w.scontext };
        }
        len += self.name_width(f);
        if self.type_indicator(f.mode(), f.kind).is_some() {
            len += 1;
        }
        len
    }

    fn print_columns(&mut self, files: &[File], w: &Widths, by_columns: bool) {
        const MIN_COLUMN_WIDTH: usize = 3;
        let n = files.len();
        let line_length = self.config.line_length;
        let lengths: Vec<usize> = files.iter().map(|f| self.length_of_frills(f, w)).collect();
        let mut max_idx = line_length / MIN_COLUMN_WIDTH;
        max_idx += usize::from(!line_length.is_multiple_of(MIN_COLUMN_WIDTH));
        let max_cols = if max_idx > 0 && max_idx < n {
            max_idx
        } else {
            n
        };
        let mut valid = vec![true; max_cols];
        let mut line_len: Vec<usize> = (0..max_cols).map(|i| (i + 1) * MIN_COLUMN_WIDTH).collect();
        let mut col_arr: Vec<Vec<usize>> = (0..max_cols)
            .map(|i| vec![MIN_COLUMN_WIDTH; i + 1])
            .collect();
        for (filesno, &name_length) in lengths.iter().enumerate() {
            for i in 0..max_cols {
                if !valid[i] {
                    continue;
                }
                let idx = if by_columns {
                    filesno / n.div_ceil(i + 1)
                } else {
                    filesno % (i + 1)
                };
                let real = name_length + if idx == i { 0 } else { 2 };
                if col_arr[i][idx] < real {
                    line_len[i] += real - col_arr[i][idx];
                    col_arr[i][idx] = real;
                    valid[i] = line_len[i] < line_length;
                }
            }
        }
        let mut cols = max_cols;
        while cols > 1 && !valid[cols - 1] {
            cols -= 1;
        }
        let fmt = col_arr[cols.max(1) - 1].clone();
        if by_columns {
            self.print_by_columns(files, w, &lengths, &fmt, cols.max(1));
        } else {
            self.print_across(files, w, &lengths, &fmt, cols.max(1));
        }
    }

    fn print_by_columns(
        &mut self,
        files: &[File],
        w: &Widths,
        lengths: &[usize],
        fmt: &[usize],
        cols: usize,
    ) {
        let n = files.len();
        let rows = n.div_ceil(cols);
        for row in 0..rows {
            let mut col = 0;
            let mut filesno = row;
            let mut pos = 0;
            loop {
                let max_len = fmt[col];
                col += 1;
                self.print_name_and_frills(&files[filesno], pos, w);
                let name_length = lengths[filesno];
                filesno += rows;
                if filesno >= n {
                    break;
                }
                self.indent(pos + name_length, pos + max_len);
                pos += max_len;
            }
            self.out.byte(self.config.eol);
        }
    }

    fn print_across(
        &mut self,
        files: &[File],
        w: &Widths,
        lengths: &[usize],
        fmt: &[usize],
        cols: usize,
    ) {
        let mut pos = 0;
        self.print_name_and_frills(&files[0], 0, w);
        let mut name_length = lengths[0];
        let mut max_len = fmt[0];
        for filesno in 1..files.len() {
            let col = filesno % cols;
            if col == 0 {
                self.out.byte(self.config.eol);
                pos = 0;
            } else {
                self.indent(pos + name_length, pos + max_len);
                pos += max_len;
            }
            self.print_name_and_frills(&files[filesno], pos, w);
            name_length = lengths[filesno];
            max_len = fmt[col];
        }
        self.out.byte(self.config.eol);
    }

    fn print_with_separator(&mut self, files: &[File], sep: u8, w: &Widths) {
        let line_length = self.config.line_length;
        let mut pos = 0;
        for (index, f) in files.iter().enumerate() {
            let len = if line_length > 0 {
                self.length_of_frills(f, w)
            } else {
                0
            };
            if index != 0 {
                let separator = if line_length == 0 || pos + len + 2 < line_length {
                    pos += 2;
                    b' '
                } else {
                    pos = 0;
                    self.config.eol
                };
                self.out.byte(sep);
                self.out.byte(separator);
            }
            self.print_name_and_frills(f, pos, w);
            pos += len;
        }
        self.out.byte(self.config.eol);
    }

    /// Pads from column `from` to column `to`: tabs where a tab stop fits, as GNU does.
    fn indent(&mut self, mut from: usize, to: usize) {
        let tabsize = self.config.tabsize;
        while from < to {
            if tabsize != 0 && to / tabsize > (from + 1) / tabsize {
                self.out.byte(b'\t');
                from += tabsize - from % tabsize;
            } else {
                self.out.byte(b' ');
                from += 1;
            }
        }
    }

    /// `[inode ][blocks ][context ]name[indicator]`, the unit of the short formats.
    fn print_name_and_frills(&mut self, f: &File, start_col: usize, w: &Widths) {
        self.set_normal_color();
        let commas = self.config.format == Format::Commas;
        if self.config.inode {
            let text = self.inode_text(f);
            let width = if commas { 0 } else { w.inode };
            self.out.put(format!("{text:>width$} ").as_bytes());
        }
        if self.config.blocks {
            let text = self.blocks_text(f);
            let width = if commas { 0 } else { w.blocks };
            self.out.put(format!("{text:>width$} ").as_bytes());
        }
        if self.config.scontext {
            let width = if commas { 0 } else { w.scontext };
            self.out.put(format!("{:>width$} ", "?").as_bytes());
        }
        self.print_name_with_quoting(f, false, start_col);
        if let Some(ch) = self.type_indicator(f.mode(), f.kind) {
            self.out.byte(ch);
        }
    }

    /// GNU's `get_type_indicator`.
    fn type_indicator(&self, mode: Option<u32>, kind: Kind) -> Option<u8> {
        let style = self.config.indicator;
        if style == IndicatorStyle::None {
            return None;
        }
        let kind = mode.map(Kind::of_mode).unwrap_or(kind);
        let kind = if mode.is_some() && kind == Kind::Unknown {
            Kind::Unknown
        } else {
            kind
        };
        match kind {
            Kind::Normal => (style == IndicatorStyle::Classify
                && mode.is_some_and(|m| m & 0o111 != 0))
            .then_some(b'*'),
            Kind::Dir | Kind::ArgDir => Some(b'/'),
            _ if style == IndicatorStyle::Slash => None,
            Kind::Symlink => Some(b'@'),
            Kind::Fifo => Some(b'|'),
            Kind::Sock => Some(b'='),
            _ => None,
        }
    }
}

impl Lister {
    /// GNU's `print_name_with_quoting`: colour, quotes, hyperlink, dired positions.
    fn print_name_with_quoting(&mut self, f: &File, target: bool, start_col: usize) -> usize {
        let name = if target {
            f.link_name.as_deref().unwrap_or(b"")
        } else {
            &f.name
        };
        let color = self.color_of(f, target);
        let normal_colored = self
            .config
            .colors
            .as_ref()
            .is_some_and(|c| c.is_colored(Color::Normal));
        let used_color = self.config.colors.is_some() && (color.is_some() || normal_colored);
        let (text, quoted) = if self.is_plain(name) {
            (std::borrow::Cow::Borrowed(name), false)
        } else {
            let (text, _, quoted) = self.quote_name(name, &self.config.name_extra);
            (std::borrow::Cow::Owned(text), quoted)
        };
        let pad = !target && self.pad(quoted);
        if pad {
            self.out.byte(b' ');
        }
        if let Some(code) = &color {
            self.print_color_indicator(code);
        }
        let record = self.config.dired && !target;
        if record {
            self.dired.push(self.out.pos());
        }
        if self.config.hyperlink {
            let absolute = f.absolute.clone();
            self.put_hyperlinked(&text, absolute.as_deref());
        } else {
            self.out.put(&text);
        }
        if record {
            self.dired.push(self.out.pos());
        }
        let len = text.len();
        if used_color {
            self.prep_non_filename_text();
            let line = self.config.line_length;
            if line > 0 && len > 0 && start_col / line != (start_col + len - 1) / line {
                self.put_indicator(Color::ClearToEol);
            }
        }
        len + usize::from(pad)
    }

    /// A name inside an OSC 8 hyperlink to `file://HOST/ABSOLUTE`.
    fn put_hyperlinked(&mut self, text: &[u8], absolute: Option<&[u8]>) {
        let Some(absolute) = absolute else {
            self.out.put(text);
            return;
        };
        let mut host = [0u8; 256];
        // SAFETY: the buffer holds 256 bytes, and gethostname writes at most that many.
        unsafe { libc::gethostname(host.as_mut_ptr().cast(), host.len() - 1) };
        let host_len = host.iter().position(|&b| b == 0).unwrap_or(0);
        let outer_quotes = self.config.align_quotes && self.some_quoted && text != absolute;
        let skip = usize::from(outer_quotes && text.len() >= 2 && matches!(text[0], b'\'' | b'"'));
        if skip == 1 {
            self.out.byte(text[0]);
        }
        self.out.put(b"\x1b]8;;file://");
        self.out.put(&file_escape(&host[..host_len], false));
        if !absolute.starts_with(b"/") {
            self.out.byte(b'/');
        }
        self.out.put(&file_escape(absolute, true));
        self.out.byte(0x07);
        self.out.put(&text[skip..text.len() - skip]);
        self.out.put(b"\x1b]8;;\x07");
        if skip == 1 {
            self.out.byte(text[text.len() - 1]);
        }
    }

    fn put_indicator(&mut self, which: Color) {
        let Some(seq) = self
            .config
            .colors
            .as_ref()
            .map(|c| c.get(which).unwrap_or(b"").to_vec())
        else {
            return;
        };
        self.put_seq(&seq);
    }

    /// A colour sequence; the first of the run is preceded by a reset, as GNU does.
    fn put_seq(&mut self, seq: &[u8]) {
        if !self.out.used_color {
            self.out.used_color = true;
            self.prep_non_filename_text();
        }
        self.out.put(seq);
    }

    /// GNU's `print_color_indicator`: reset first if `no` is coloured, then `lc CODE rc`.
    fn print_color_indicator(&mut self, code: &[u8]) {
        let normal = self
            .config
            .colors
            .as_ref()
            .is_some_and(|c| c.is_colored(Color::Normal));
        if normal {
            self.put_indicator(Color::Left);
            self.put_indicator(Color::Right);
        }
        self.put_indicator(Color::Left);
        self.put_seq(code);
        self.put_indicator(Color::Right);
    }

    fn prep_non_filename_text(&mut self) {
        let has_end = self
            .config
            .colors
            .as_ref()
            .is_some_and(|c| c.get(Color::End).is_some());
        if has_end {
            self.put_indicator(Color::End);
        } else {
            self.put_indicator(Color::Left);
            self.put_indicator(Color::Reset);
            self.put_indicator(Color::Right);
        }
    }

    fn set_normal_color(&mut self) {
        let normal = self
            .config
            .colors
            .as_ref()
            .is_some_and(|c| c.is_colored(Color::Normal));
        if normal {
            self.put_indicator(Color::Left);
            self.put_indicator(Color::Normal);
            self.put_indicator(Color::Right);
        }
    }

    /// GNU's `get_color_indicator`: the sequence for a name, or for a symlink's target.
    fn color_of(&self, f: &File, target: bool) -> Option<Vec<u8>> {
        let colors = self.config.colors.as_ref()?;
        // GNU's `linkok`: whether the target was found (only looked for when needed).
        let link_ok = f.link_mode.is_some();
        let (name, mode, link_ok) = if target {
            (
                f.link_name.as_deref().unwrap_or(b""),
                Some(f.link_mode.unwrap_or(0)),
                if link_ok { 0 } else { -1 },
            )
        } else {
            let mode = if colors.link_as_target && link_ok {
                f.link_mode
            } else {
                f.mode()
            };
            let ok = i32::from(f.kind != Kind::Symlink || link_ok);
            (f.name.as_slice(), mode, ok)
        };
        let stat_ok = f.stat.is_some();
        let kind = if link_ok == -1 && colors.is_colored(Color::Missing) {
            Color::Missing
        } else if !stat_ok {
            match f.kind {
                Kind::Unknown => Color::Orphan,
                Kind::Fifo => Color::Fifo,
                Kind::Char => Color::Char,
                Kind::Dir | Kind::ArgDir => Color::Dir,
                Kind::Block => Color::Block,
                Kind::Normal => Color::File,
                Kind::Symlink => Color::Link,
                Kind::Sock => Color::Sock,
            }
        } else {
            self.color_by_mode(f, mode.unwrap_or(0), colors)
        };
        let kind = if kind == Color::Link
            && link_ok == 0
            && (colors.link_as_target || colors.is_colored(Color::Orphan))
        {
            Color::Orphan
        } else {
            kind
        };
        if kind == Color::File {
            if let Some(seq) = colors.extension(name) {
                return Some(seq.to_vec());
            }
        }
        colors.get(kind).map(<[u8]>::to_vec)
    }

    fn color_by_mode(&self, f: &File, mode: u32, colors: &Colors) -> Color {
        let on = |which| colors.is_colored(which);
        match Kind::of_mode(mode) {
            Kind::Normal => {
                if mode & 0o4000 != 0 && on(Color::Setuid) {
                    Color::Setuid
                } else if mode & 0o2000 != 0 && on(Color::Setgid) {
                    Color::Setgid
                } else if on(Color::Capability) && f.has_cap {
                    Color::Capability
                } else if mode & 0o111 != 0 && on(Color::Exec) {
                    Color::Exec
                } else if f.stat.as_ref().is_some_and(|m| m.nlink() > 1) && on(Color::MultiHardlink)
                {
                    Color::MultiHardlink
                } else {
                    Color::File
                }
            }
            Kind::Dir | Kind::ArgDir => {
                let (sticky, other_writable) = (mode & 0o1000 != 0, mode & 0o002 != 0);
                if sticky && other_writable && on(Color::StickyOtherWritable) {
                    Color::StickyOtherWritable
                } else if other_writable && on(Color::OtherWritable) {
                    Color::OtherWritable
                } else if sticky && on(Color::Sticky) {
                    Color::Sticky
                } else {
                    Color::Dir
                }
            }
            Kind::Symlink => Color::Link,
            Kind::Fifo => Color::Fifo,
            Kind::Sock => Color::Sock,
            Kind::Block => Color::Block,
            Kind::Char => Color::Char,
            Kind::Unknown => Color::Orphan,
        }
    }

    /// The width GNU reserves for a time it cannot show: that of the epoch, formatted.
    fn expected_time_width(&self) -> usize {
        strftime(&self.config.time_formats[0], 0, 0).map_or(0, |t| t.len())
    }

    fn time_text(&self, f: &File) -> Option<Vec<u8>> {
        let (seconds, nanos) = f.time(self.config.time);
        if self.config.time == TimeField::Birth && f.birth.is_none() {
            return None;
        }
        // Recent: within the past six months (half a mean Gregorian year), not in the future.
        let six_months_ago = (self.now.0 - 31_556_952 / 2, self.now.1);
        let when = (seconds, nanos);
        let recent = six_months_ago < when && when <= self.now;
        let format = &self.config.time_formats[usize::from(recent)];
        strftime(format, seconds, u32::try_from(nanos).unwrap_or(0))
    }

    /// The time column of `f` into `line`; false when there is none to show (`?` instead).
    fn push_time(&mut self, f: &File, line: &mut Vec<u8>) -> bool {
        if f.stat.is_none() {
            return false;
        }
        if !self.locale_times {
            return match self.time_text(f) {
                Some(text) => {
                    line.extend_from_slice(&text);
                    true
                }
                None => false,
            };
        }
        let (seconds, nanos) = f.time(self.config.time);
        if self.config.time == TimeField::Birth && f.birth.is_none() {
            return false;
        }
        let six_months_ago = (self.now.0 - 31_556_952 / 2, self.now.1);
        let when = (seconds, nanos);
        let recent = six_months_ago < when && when <= self.now;
        if let Some((last, last_recent, text, len)) = &self.last_time {
            if *last == seconds && *last_recent == recent {
                line.extend_from_slice(&text[..*len]);
                return true;
            }
        }
        match locale_time(seconds, recent) {
            Some((text, len)) => {
                line.extend_from_slice(&text[..len]);
                self.last_time = Some((seconds, recent, text, len));
                true
            }
            // Years the short form cannot hold go through the C library, as before.
            None => match self.time_text(f) {
                Some(text) => {
                    line.extend_from_slice(&text);
                    true
                }
                None => false,
            },
        }
    }

    /// One line of `-l`, up to and including the name and link target.
    fn print_long(&mut self, f: &File, w: &Widths) {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let c = &self.config;
        if c.dired {
            line.extend_from_slice(b"  ");
        }
        if c.inode {
            pad_left(&mut line, self.inode_text(f).as_bytes(), w.inode);
            line.push(b' ');
        }
        if c.blocks {
            pad_left(&mut line, self.blocks_text(f).as_bytes(), w.blocks);
            line.push(b' ');
        }
        match &f.stat {
            Some(meta) => line.extend_from_slice(&mode_chars(meta.mode())),
            None => {
                line.push(f.kind.letter() as u8);
                line.extend_from_slice(b"?????????");
            }
        }
        if f.has_acl {
            line.push(b'+');
        } else if w.any_acl {
            line.push(b' ');
        }
        line.push(b' ');
        let mut digits_buf = [0u8; 20];
        match &f.stat {
            Some(meta) => pad_left(&mut line, decimal(meta.nlink(), &mut digits_buf), w.links),
            None => pad_left(&mut line, b"?", w.links),
        }
        line.push(b' ');
        self.long_owners(f, w, &mut line);
        self.long_size(f, w, &mut line);
        if !self.push_time(f, &mut line) {
            pad_left(&mut line, b"?", self.time_width);
        }
        line.push(b' ');
        self.out.put(&line);
        let start = line.len();
        self.line = line;
        self.print_name_with_quoting(f, false, start);
        if f.kind == Kind::Symlink && f.link_name.is_some() {
            self.out.put(b" -> ");
            self.print_name_with_quoting(f, true, start);
            if self.config.indicator != IndicatorStyle::None {
                if let Some(mode) = f.link_mode {
                    if let Some(ch) = self.type_indicator(Some(mode), Kind::of_mode(mode)) {
                        self.out.byte(ch);
                    }
                }
            }
        } else if let Some(ch) = self.type_indicator(f.mode(), f.kind) {
            self.out.byte(ch);
        }
    }

    fn long_owners(&self, f: &File, w: &Widths, line: &mut Vec<u8>) {
        let c = &self.config;
        let fields = [
            (c.owner, true, w.owner),
            (c.group, false, w.group),
            (c.author, true, w.author),
        ];
        for (show, user, width) in fields {
            if !show {
                continue;
            }
            // Names are padded by characters, as `format!` did; numbers on the left.
            match &f.stat {
                None => pad_right(line, "?", width),
                Some(meta) => {
                    let id = if user { meta.uid() } else { meta.gid() };
                    self.with_owner_name(id, user, |name| match name {
                        Some(name) => pad_right(line, name, width),
                        None => {
                            let mut digits_buf = [0u8; 20];
                            pad_left(line, decimal(u64::from(id), &mut digits_buf), width);
                        }
                    });
                }
            }
            line.push(b' ');
        }
        if c.scontext {
            line.extend_from_slice(format!("{:<1$} ", "?", w.scontext).as_bytes());
        }
    }

    fn long_size(&self, f: &File, w: &Widths, line: &mut Vec<u8>) {
        let Some(meta) = &f.stat else {
            line.extend_from_slice(format!("{:>1$} ", "?", w.size).as_bytes());
            return;
        };
        if matches!(Kind::of_mode(meta.mode()), Kind::Char | Kind::Block) {
            let rdev = meta.rdev();
            let major_width = w.size.saturating_sub(w.minor + 2);
            line.extend_from_slice(
                format!(
                    "{:>major_width$}, {:>2$} ",
                    libc::major(rdev),
                    libc::minor(rdev),
                    w.minor
                )
                .as_bytes(),
            );
        } else if self.config.size_units == Units::BYTES {
            let mut digits_buf = [0u8; 20];
            pad_left(line, decimal(meta.size(), &mut digits_buf), w.size);
            line.push(b' ');
        } else {
            let text = format_units(meta.size(), 1, self.config.size_units);
            line.extend_from_slice(format!("{text:>0$} ", w.size).as_bytes());
        }
    }
}

/// Percent-escapes what RFC 3986 does not allow in a `file://` URI (`/` kept in a path).
fn file_escape(text: &[u8], path: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &b in text {
        let keep = b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (path && b == b'/');
        if keep {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02x}").as_bytes());
        }
    }
    out
}

/// `n` in decimal, written into the tail of `buf`.
fn decimal(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = n;
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[start..];
        }
    }
}

/// The number of decimal digits of `n`.
fn digits(n: u64) -> usize {
    let mut n = n;
    let mut count = 1;
    while n >= 10 {
        n /= 10;
        count += 1;
    }
    count
}

/// `text` right-aligned in `width` columns (ASCII: numbers, `?`).
fn pad_left(line: &mut Vec<u8>, text: &[u8], width: usize) {
    line.resize(line.len() + width.saturating_sub(text.len()), b' ');
    line.extend_from_slice(text);
}

/// `text` left-aligned in `width` characters, as `format!("{text:<width$}")` pads.
fn pad_right(line: &mut Vec<u8>, text: &str, width: usize) {
    line.extend_from_slice(text.as_bytes());
    let chars = if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    };
    line.resize(line.len() + width.saturating_sub(chars), b' ');
}

/// A time in the C locale's `%b %e  %Y` (old) or `%b %e %H:%M` (recent) form, as the C
/// library's `strftime` writes it; `None` for years outside 1000..=9999, whose forms differ
/// between C libraries, and for times it cannot convert.
fn locale_time(seconds: i64, recent: bool) -> Option<([u8; 12], usize)> {
    let tm = crate::sys::localtime::broken_down(seconds)?;
    let year = i64::from(tm.tm_year) + 1900;
    let month = crate::sys::localtime::MONTHS.get(usize::try_from(tm.tm_mon).ok()?)?;
    let (day, hour, minute) = (tm.tm_mday, tm.tm_hour, tm.tm_min);
    if !(1000..=9999).contains(&year)
        || !(1..=31).contains(&day)
        || !(0..=23).contains(&hour)
        || !(0..=59).contains(&minute)
    {
        return None;
    }
    let two = |n: i32, pad: u8| {
        [
            if n >= 10 { b'0' + (n / 10) as u8 } else { pad },
            b'0' + (n % 10) as u8,
        ]
    };
    let mut text = [b' '; 12];
    text[..3].copy_from_slice(month.as_bytes());
    text[4..6].copy_from_slice(&two(day, b' '));
    if recent {
        text[7..9].copy_from_slice(&two(hour, b'0'));
        text[9] = b':';
        text[10..12].copy_from_slice(&two(minute, b'0'));
    } else {
        let mut digits_buf = [0u8; 20];
        text[8..12].copy_from_slice(decimal(year as u64, &mut digits_buf));
    }
    Some((text, 12))
}

/// The bytes that `quote_name` leaves as they are wherever they stand in a name, for the
/// options' style and extra characters: printable ASCII that comes out unchanged alone (the
/// first byte and a one-byte name are special to the shell styles) and between two letters.
fn plain_bytes(c: &Config) -> [bool; 256] {
    let mut plain = [false; 256];
    for byte in 0x20u8..0x7f {
        let alone = quote_style_in(&[byte], c.quoting, &c.name_extra, c.utf8) == [byte];
        let inner = [b'a', byte, b'a'];
        let between = quote_style_in(&inner, c.quoting, &c.name_extra, c.utf8) == inner;
        plain[usize::from(byte)] = alone && between;
    }
    plain
}
