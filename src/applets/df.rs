//! usage: rescue df [-ahHiklPT] [-B SIZE] [-t TYPE]... [-x TYPE]... [--total]
//!                  [--output[=FIELD_LIST]] [FILE]...
//!
//!   -a, --all             include dummy, duplicate and inaccessible file systems
//!   -B, --block-size SIZE sizes in units of SIZE (`1K`, `1M`, `1MB`, `512`)
//!   -h, --human-readable  sizes in powers of 1024 (`1.5G`)
//!   -H, --si              sizes in powers of 1000 (`1.7G`)
//!   -i, --inodes          inode counts instead of blocks
//!   -k                    1K blocks (the default)
//!   -l, --local           local file systems only
//!   -P, --portability     POSIX output (`1024-blocks`, `Capacity`)
//!   -T, --print-type      add the Type column
//!   -t, --type TYPE       only file systems of TYPE
//!   -x, --exclude-type TYPE  not file systems of TYPE
//!       --total           add a `total` line
//!       --output[=FIELD_LIST]  these columns: source fstype itotal iused iavail ipcent size
//!                         used avail pcent file target (all of them without a list)
//!
//! GNU coreutils 9.1 `df`: the same columns, widths, rounding (always up), `Use%` (used over
//! used plus available, rounded up) and the same choice of file systems. Without `-a` it hides
//! dummy file systems (proc, sysfs, devpts, cgroup...: those with no blocks) and all but one
//! mount of each device (the one nearest the root; a device mounted over another on the
//! same directory wins). A FILE stands for the mount it is on; a device FILE for where it is
//! mounted. `-h`, `-H`, `-B` and `-k` act in the order given, the last one wins.
//!
//! Unlike GNU's, no `statfs` can hang it: each runs in a worker given up after one second, so
//! a dead NFS server prints `df: DIR: statfs did not answer within 1 s (stale NFS?)` and the
//! other lines still come. Exit status 0, or 1 when a FILE or file system could not be read
//! or none was shown. Not done: `--sync`, `--no-sync`, and the `DF_BLOCK_SIZE`/`BLOCK_SIZE`
//! variables (sizes are 1K blocks unless an option says otherwise).

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use clap::{FromArgMatches, Parser};

use super::{complain, quote, strerror, Exit};
use crate::sys::fs_status::FsStatus;
use crate::sys::mountinfo::{MountTable, TableSource};
use crate::sys::procfs::STUCK_AFTER;
use crate::sys::statfs::{probe_all, Probe};

#[derive(Parser)]
#[command(
    about = "Report file system space usage",
    disable_help_flag = true,
    args_override_self = true
)]
pub(super) struct Args {
    /// include pseudo, duplicate, inaccessible file systems
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// scale sizes by SIZE
    #[arg(short = 'B', long = "block-size", value_name = "SIZE")]
    block_size: Option<String>,
    /// print sizes in powers of 1024
    #[arg(short = 'h', long = "human-readable")]
    human: bool,
    /// print sizes in powers of 1000
    #[arg(short = 'H', long = "si")]
    si: bool,
    /// list inode information instead of block usage
    #[arg(short = 'i', long = "inodes")]
    inodes: bool,
    /// like --block-size=1K
    #[arg(short = 'k')]
    kilo: bool,
    /// limit listing to local file systems
    #[arg(short = 'l', long = "local")]
    local: bool,
    /// use the POSIX output format
    #[arg(short = 'P', long = "portability")]
    posix: bool,
    /// print file system type
    #[arg(short = 'T', long = "print-type")]
    print_type: bool,
    /// limit listing to file systems of type TYPE
    #[arg(short = 't', long = "type", value_name = "TYPE", action = clap::ArgAction::Append)]
    types: Vec<String>,
    /// limit listing to file systems not of type TYPE
    #[arg(short = 'x', long = "exclude-type", value_name = "TYPE", action = clap::ArgAction::Append)]
    exclude: Vec<String>,
    /// produce a grand total
    #[arg(long = "total")]
    total: bool,
    /// use the output format defined by FIELD_LIST
    #[arg(
        long = "output",
        value_name = "FIELD_LIST",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "",
        action = clap::ArgAction::Append
    )]
    output: Vec<String>,
    /// display this help and exit
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[arg(value_name = "FILE")]
    files: Vec<OsString>,
}

/// A column, in `--output`'s words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Source,
    FsType,
    ITotal,
    IUsed,
    IAvail,
    IPcent,
    Size,
    Used,
    Avail,
    Pcent,
    File,
    Target,
}

const FIELDS: [(&str, Field); 12] = [
    ("source", Field::Source),
    ("fstype", Field::FsType),
    ("itotal", Field::ITotal),
    ("iused", Field::IUsed),
    ("iavail", Field::IAvail),
    ("ipcent", Field::IPcent),
    ("size", Field::Size),
    ("used", Field::Used),
    ("avail", Field::Avail),
    ("pcent", Field::Pcent),
    ("file", Field::File),
    ("target", Field::Target),
];

impl Field {
    fn is_inode(self) -> bool {
        matches!(
            self,
            Field::ITotal | Field::IUsed | Field::IAvail | Field::IPcent
        )
    }

    fn left_aligned(self) -> bool {
        matches!(
            self,
            Field::Source | Field::FsType | Field::File | Field::Target
        )
    }

    /// GNU's minimum widths.
    fn minimum_width(self) -> usize {
        match self {
            Field::Source => 14,
            Field::FsType | Field::Pcent => 4,
            Field::File | Field::Target => 0,
            _ => 5,
        }
    }
}

/// GNU's header modes: which captions the columns get.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Default,
    Human,
    Inodes,
    Posix,
    Output,
}

/// One mount as GNU's mount list holds it.
struct Entry {
    device: String,
    mount_point: PathBuf,
    fs_type: String,
    /// The subtree mounted (`/` for a whole file system); None from mtab.
    root: Option<PathBuf>,
    dev: u64,
    dummy: bool,
    remote: bool,
}

fn entries(table: &MountTable) -> Vec<Entry> {
    table
        .mounts
        .iter()
        .map(|mount| {
            let device = mount.source.to_string_lossy().into_owned();
            let fs_type = mount.fs_type.clone();
            Entry {
                dummy: is_dummy(&fs_type),
                remote: is_remote(&device, &fs_type),
                device,
                mount_point: mount.mount_point.clone(),
                root: (table.source == TableSource::Mountinfo).then(|| mount.root.clone()),
                dev: libc::makedev(mount.device.0, mount.device.1),
                fs_type,
            }
        })
        .collect()
}

/// gnulib's ME_DUMMY: file systems with nothing on a disk.
fn is_dummy(fs_type: &str) -> bool {
    const DUMMY: &[&str] = &[
        "autofs",
        "proc",
        "subfs",
        "debugfs",
        "devpts",
        "fusectl",
        "fuse.portal",
        "mqueue",
        "rpc_pipefs",
        "sysfs",
        "devfs",
        "kernfs",
        "ignore",
        "none",
    ];
    DUMMY.contains(&fs_type)
}

/// gnulib's ME_REMOTE: `host:/path`, `//host/share` over smb, `-hosts`.
fn is_remote(device: &str, fs_type: &str) -> bool {
    device.contains(':')
        || (device.starts_with("//") && matches!(fs_type, "smbfs" | "smb3" | "cifs"))
        || device == "-hosts"
}

/// How numbers are written: in blocks of a size (rounded up), or scaled with a suffix in
/// powers of a base (1024 or 1000).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scale {
    Blocks(u64),
    Human(u64),
}

struct Options<'a> {
    args: &'a Args,
    scale: Scale,
    mode: Mode,
    fields: Vec<Field>,
    listed: bool,
    /// With `-a`: each device's standing mount (see [`shown_entries`]), name and remoteness.
    winners: HashMap<u64, (String, bool)>,
}

impl Options<'_> {
    fn wanted_type(&self, fs_type: &str) -> bool {
        (self.args.types.is_empty() || self.args.types.iter().any(|t| t == fs_type))
            && !self.args.exclude.iter().any(|t| t == fs_type)
    }

    /// get_dev's first tests: whether a mount is shown at all.
    fn shows(&self, entry: &Entry) -> bool {
        let hidden_remote = entry.remote && self.args.local;
        let hidden_dummy = entry.dummy && !self.args.all && !self.listed;
        !hidden_remote
            && !hidden_dummy
            && self.wanted_type(&entry.fs_type)
            && entry.mount_point.is_absolute()
    }
}

/// The numbers of one row, GNU's `field_values_t` for blocks and inodes.
#[derive(Clone, Copy, Default)]
struct Values {
    total: Option<u64>,
    /// Free for root (blocks), or free (inodes).
    free: Option<u64>,
    available: Option<u64>,
    unit: u64,
}

impl Values {
    fn used(&self) -> Option<i128> {
        Some(i128::from(self.total?) - i128::from(self.free?))
    }
}

struct Row {
    cells: Vec<String>,
}

/// What a row is made of, before it is written in the chosen columns.
struct RowData<'a> {
    device: &'a str,
    fs_type: &'a str,
    blocks: Values,
    inodes: Values,
    file: &'a str,
    mount_point: &'a str,
}

/// The options as GNU reads them: the scale from the last of `-h -H -B -k`, the columns from
/// the mode or `--output`.
fn decode(
    name: &'static str,
    args: Vec<OsString>,
) -> Result<(Args, Scale, Mode, Vec<Field>), Exit> {
    let matches = super::parse_matches::<Args>(name, args)?;
    let parsed = Args::from_arg_matches(&matches).map_err(Exit::from)?;
    let last = |id: &str| {
        (matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
            .then(|| matches.indices_of(id).and_then(Iterator::max))
            .flatten()
    };
    let mut scale = Scale::Blocks(1024);
    let mut chosen = None;
    for (id, candidate) in [
        ("human", Some(Scale::Human(1024))),
        ("si", Some(Scale::Human(1000))),
        ("kilo", Some(Scale::Blocks(1024))),
        ("block_size", None),
    ] {
        let Some(at) = last(id) else { continue };
        if chosen.is_some_and(|before| before > at) {
            continue;
        }
        chosen = Some(at);
        scale = match candidate {
            Some(scale) => scale,
            None => block_size(parsed.block_size.as_deref().unwrap_or(""))?,
        };
    }
    let output_given = !parsed.output.is_empty();
    if output_given {
        for (given, option) in [
            (parsed.inodes, "-i"),
            (parsed.posix, "-P"),
            (parsed.print_type, "-T"),
        ] {
            if given {
                return Err(Exit::usage(format!(
                    "options {option} and --output are mutually exclusive"
                )));
            }
        }
    }
    let mode = if output_given {
        Mode::Output
    } else if parsed.inodes {
        Mode::Inodes
    } else if matches!(scale, Scale::Human(_)) {
        Mode::Human
    } else if parsed.posix {
        Mode::Posix
    } else {
        Mode::Default
    };
    let fields = if output_given {
        output_fields(&parsed.output)?
    } else {
        let numbers = if parsed.inodes {
            [Field::ITotal, Field::IUsed, Field::IAvail, Field::IPcent]
        } else {
            [Field::Size, Field::Used, Field::Avail, Field::Pcent]
        };
        let mut fields = vec![Field::Source];
        if parsed.print_type {
            fields.push(Field::FsType);
        }
        fields.extend(numbers);
        fields.push(Field::Target);
        fields
    };
    Ok((parsed, scale, mode, fields))
}

/// `--output` lists, in order; each field once.
fn output_fields(lists: &[String]) -> Result<Vec<Field>, Exit> {
    let mut fields = Vec::new();
    for list in lists {
        let names: Vec<&str> = if list.is_empty() {
            FIELDS.iter().map(|(name, _)| *name).collect()
        } else {
            list.split(',').collect()
        };
        for name in names {
            let Some(&(_, field)) = FIELDS.iter().find(|(known, _)| *known == name) else {
                return Err(Exit::usage(format!(
                    "option --output: field {} unknown",
                    quote(Path::new(name))
                )));
            };
            if fields.contains(&field) {
                return Err(Exit::usage(format!(
                    "option --output: field {} used more than once",
                    quote(Path::new(name))
                )));
            }
            fields.push(field);
        }
    }
    Ok(fields)
}

/// `-B SIZE`: a number, a unit (`K M G T P E Z Y` in powers of 1024, with `B` in powers of
/// 1000, with `iB` of 1024) or both.
fn block_size(text: &str) -> Result<Scale, Exit> {
    let invalid = || Exit::failed(1, format!("invalid -B argument {}", quote(Path::new(text))));
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = text.split_at(digits);
    let number: u64 = if number.is_empty() {
        1
    } else {
        number.parse().map_err(|_| invalid())?
    };
    let (letter, rest) = match unit.chars().next() {
        Some(letter) => (Some(letter), &unit[letter.len_utf8()..]),
        None => (None, ""),
    };
    let power = match letter {
        None => 0,
        Some('k' | 'K') => 1,
        Some('M') => 2,
        Some('G') => 3,
        Some('T') => 4,
        Some('P') => 5,
        Some('E') => 6,
        Some('Z') => 7,
        Some('Y') => 8,
        Some(_) => return Err(invalid()),
    };
    let base: u64 = match rest {
        "" | "iB" => 1024,
        "B" => 1000,
        _ => return Err(invalid()),
    };
    let size = (0..power)
        .try_fold(number, |size, _| size.checked_mul(base))
        .filter(|&size| size > 0)
        .ok_or_else(invalid)?;
    Ok(Scale::Blocks(size))
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let (args, scale, mode, fields) = decode(name, args)?;
    let mut options = Options {
        args: &args,
        scale,
        mode,
        fields,
        listed: !args.files.is_empty(),
        winners: HashMap::new(),
    };
    let mut status = 0;
    // GNU stats the operands first; one that is missing is said and left out.
    let probes = probe_all(
        &args.files.iter().map(PathBuf::from).collect::<Vec<_>>(),
        STUCK_AFTER,
    );
    let table = MountTable::read().map_err(|err| Exit::failed(2, err))?;
    let list = entries(&table);
    let mut rows = vec![header(&options)];
    let mut totals = (Values::default(), Values::default());
    if args.files.is_empty() {
        let (shown, winners, mut probed) = shown_entries(&list, &options);
        options.winners = winners
            .into_iter()
            .map(|(dev, index)| (dev, (list[index].device.clone(), list[index].remote)))
            .collect();
        let shown: Vec<usize> = shown
            .into_iter()
            .filter(|&index| options.shows(&list[index]))
            .collect();
        // What the filter asked is not asked again: a dead server costs one wait, not two.
        let unasked: Vec<PathBuf> = shown
            .iter()
            .filter(|&&index| probed[index].is_none())
            .map(|&index| list[index].mount_point.clone())
            .collect();
        let mut fresh = probe_all(&unasked, STUCK_AFTER).into_iter();
        for index in shown {
            let entry = &list[index];
            let probe = probed[index]
                .take()
                .or_else(|| fresh.next())
                .unwrap_or(Probe::Stuck);
            let place = (entry.mount_point.as_path(), None, probe);
            status |= row_for(&options, entry, place, true, &mut rows, &mut totals);
        }
    } else {
        for (file, probe) in args.files.iter().zip(probes) {
            status |= operand(
                &options,
                &list,
                Path::new(file),
                probe,
                &mut rows,
                &mut totals,
            );
        }
    }
    if rows.len() == 1 {
        if status == 0 {
            complain(name, "no file systems processed");
        }
        return Ok(1);
    }
    if args.total {
        rows.push(total_row(&options, &totals));
    }
    print_table(&options.fields, &rows).map_err(|err| Exit::write_error(1, &err))?;
    Ok(status)
}

/// One FILE operand: its row, or what went wrong with it. Returns the exit status.
fn operand(
    options: &Options,
    list: &[Entry],
    file: &Path,
    probe: Probe,
    rows: &mut Vec<Row>,
    totals: &mut (Values, Values),
) -> i32 {
    let device = match &probe {
        Probe::Answered { device, .. } => *device,
        Probe::StatFailed(err) => {
            complain("df", format!("{}: {}", shown(file), strerror(err)));
            return 1;
        }
        Probe::Stuck => {
            complain("df", stuck(file));
            return 1;
        }
    };
    let is_device = std::fs::metadata(file)
        .is_ok_and(|meta| meta.file_type().is_block_device() || meta.file_type().is_char_device());
    if is_device {
        match mount_of_device(list, file) {
            DeviceMount::At(entry) => {
                let probe = crate::sys::statfs::probe(entry.mount_point.clone(), STUCK_AFTER);
                let place = (entry.mount_point.as_path(), Some(file), probe);
                return row_for(options, entry, place, false, rows, totals);
            }
            DeviceMount::Eclipsed => {
                complain(
                    "df",
                    format!(
                        "cannot access {}: over-mounted by another device",
                        quote(file)
                    ),
                );
                return 1;
            }
            DeviceMount::NotMounted => {}
        }
    }
    match mount_of(list, file, device) {
        Some(entry) => row_for(
            options,
            entry,
            (file, Some(file), probe),
            false,
            rows,
            totals,
        ),
        None => {
            complain("df", format!("{}: no mount found", shown(file)));
            1
        }
    }
}

enum DeviceMount<'a> {
    At(&'a Entry),
    /// Mounted, but every mount of it is hidden under another device's.
    Eclipsed,
    NotMounted,
}

/// GNU's get_device: where a device operand is mounted, the shortest visible mount point.
fn mount_of_device<'a>(list: &'a [Entry], file: &Path) -> DeviceMount<'a> {
    let canonical = |name: &str| {
        std::fs::canonicalize(name)
            .ok()
            .filter(|path| path.is_absolute())
            .map(|path| path.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.to_string())
    };
    let device = canonical(&file.to_string_lossy());
    let mut best: Option<&Entry> = None;
    let mut eclipsed = false;
    for entry in list {
        let name = canonical(&entry.device);
        if name != device {
            continue;
        }
        let last_here = list
            .iter()
            .rev()
            .find(|other| other.mount_point == entry.mount_point)
            .map(|other| canonical(&other.device));
        eclipsed = last_here.is_some_and(|last| last != name);
        let len = entry.mount_point.as_os_str().len();
        if !eclipsed && best.is_none_or(|b| len < b.mount_point.as_os_str().len()) {
            best = Some(entry);
            if len == 1 {
                break;
            }
        }
    }
    match best {
        Some(entry) => DeviceMount::At(entry),
        None if eclipsed => DeviceMount::Eclipsed,
        None => DeviceMount::NotMounted,
    }
}

fn shown(path: &Path) -> String {
    crate::sys::quoting::shell_word(path).to_string()
}

fn stuck(path: &Path) -> String {
    format!(
        "{}: statfs did not answer within {} s (stale NFS?)",
        shown(path),
        STUCK_AFTER.as_secs()
    )
}

/// GNU's filter_mount_list: which mounts a listing without operands shows, in mount order
/// (with `-a` all of them, else one per device), and for each device the mount that stands
/// for it (the list index), which `-a` uses to blank the numbers of an overmounted entry; and
/// what each directory it asked said (by list index).
fn shown_entries(
    list: &[Entry],
    options: &Options,
) -> (Vec<usize>, HashMap<u64, usize>, Vec<Option<Probe>>) {
    let wanted: Vec<bool> = list
        .iter()
        .map(|entry| {
            let hidden_remote = entry.remote && options.args.local;
            let hidden_dummy = entry.dummy && !options.args.all;
            !hidden_remote && !hidden_dummy && options.wanted_type(&entry.fs_type)
        })
        .collect();
    let paths: Vec<PathBuf> = list
        .iter()
        .zip(&wanted)
        .filter(|(_, wanted)| **wanted)
        .map(|(entry, _)| entry.mount_point.clone())
        .collect();
    let mut probes = probe_all(&paths, STUCK_AFTER).into_iter();
    let mut probed: Vec<Option<Probe>> = list.iter().map(|_| None).collect();
    let mut kept: Vec<usize> = Vec::new();
    // Each device's slot in `kept`: the last added with that number, as GNU's seen_last.
    let mut by_dev: HashMap<u64, usize> = HashMap::new();
    for (index, entry) in list.iter().enumerate() {
        if wanted[index] {
            probed[index] = probes.next();
        }
        let stat_dev = match &probed[index] {
            Some(Probe::Answered { device, .. }) => Some(*device),
            _ => None,
        };
        let Some(dev) = stat_dev else {
            by_dev.insert(entry.dev, kept.len());
            kept.push(index);
            continue;
        };
        let Some(&slot) = by_dev.get(&dev) else {
            by_dev.insert(dev, kept.len());
            kept.push(index);
            continue;
        };
        if replaces(&list[kept[slot]], entry, options) {
            kept[slot] = index;
        }
    }
    let winners = by_dev
        .into_iter()
        .map(|(dev, slot)| (dev, kept[slot]))
        .collect();
    if options.args.all {
        return ((0..list.len()).collect(), winners, probed);
    }
    (kept, winners, probed)
}

/// Whether `entry` replaces `seen`, an earlier mount of the same device (GNU's rules).
fn replaces(seen: &Entry, entry: &Entry, options: &Options) -> bool {
    let len = |path: &Path| path.as_os_str().len();
    let target_nearer_root = len(&seen.mount_point) > len(&entry.mount_point);
    let source_below_root = match (&seen.root, &entry.root) {
        (Some(seen_root), Some(root)) => len(seen_root) < len(root),
        _ => false,
    };
    if !options.args.total && entry.remote && seen.remote && seen.device != entry.device {
        return false;
    }
    (entry.device.contains('/') && !seen.device.contains('/'))
        || (target_nearer_root && !source_below_root)
        || (seen.device != entry.device && seen.mount_point == entry.mount_point)
}

/// GNU's get_point: the mount a FILE is on, by its canonical name, checked by device.
fn mount_of<'a>(list: &'a [Entry], file: &Path, device: u64) -> Option<&'a Entry> {
    let resolved = std::fs::canonicalize(file).ok();
    let mut best: Option<&Entry> = None;
    if let Some(resolved) = &resolved {
        for entry in list {
            if entry.fs_type == "lofs" || best.is_some_and(|b| !b.dummy && entry.dummy) {
                continue;
            }
            let len = entry.mount_point.as_os_str().len();
            let best_len = best.map_or(0, |b| b.mount_point.as_os_str().len());
            if best_len <= len && resolved.starts_with(&entry.mount_point) {
                best = Some(entry);
            }
        }
    }
    let same_device = |entry: &Entry| {
        matches!(
            crate::sys::statfs::probe(entry.mount_point.clone(), STUCK_AFTER),
            Probe::Answered { device: found, .. } if found == device
        )
    };
    if best.is_some_and(|b| !same_device(b)) {
        best = None;
    }
    if best.is_none() {
        // An mtab entry has no device number (0): its directory is asked instead.
        for entry in list {
            if (entry.dev == device || entry.dev == 0)
                && entry.fs_type != "lofs"
                && best.is_none_or(|b| b.dummy || !entry.dummy)
                && same_device(entry)
            {
                best = Some(entry);
            }
        }
    }
    best
}

/// GNU's get_dev: one row, unless the mount is not to be shown. `place` is the path statfs
/// was asked about, the FILE operand (None when listing all) and the answer. Returns the exit
/// status.
fn row_for(
    options: &Options,
    entry: &Entry,
    (stat_file, file, probe): (&Path, Option<&Path>, Probe),
    process_all: bool,
    rows: &mut Vec<Row>,
    totals: &mut (Values, Values),
) -> i32 {
    if !options.shows(entry) {
        return 0;
    }
    let mut fs_type = entry.fs_type.as_str();
    let status: Option<FsStatus> = match probe {
        Probe::Stuck => {
            complain("df", stuck(stat_file));
            return 1;
        }
        Probe::Answered {
            status: Ok(s),
            device,
        } => {
            if process_all && options.args.all && overmounted(options, entry, device) {
                fs_type = "-";
                None
            } else {
                Some(s)
            }
        }
        Probe::Answered {
            status: Err(err), ..
        }
        | Probe::StatFailed(err) => {
            let absent = matches!(err.raw_os_error(), Some(libc::EACCES) | Some(libc::ENOENT));
            if !(process_all && absent) {
                complain("df", format!("{}: {}", shown(stat_file), strerror(&err)));
                return 1;
            }
            if !options.args.all {
                return 0;
            }
            fs_type = "-";
            None
        }
    };
    if status.is_some_and(|s| s.blocks == 0) && !options.args.all && !options.listed {
        return 0;
    }
    let (blocks, inodes) = match status {
        Some(s) => (
            Values {
                total: Some(s.blocks),
                free: Some(s.blocks_free),
                available: Some(s.blocks_available),
                unit: s.fragment_size,
            },
            Values {
                total: Some(s.files),
                free: Some(s.files_free),
                available: Some(s.files_free),
                unit: 1,
            },
        ),
        None => (Values::default(), Values::default()),
    };
    add_to_totals(totals, &blocks, &inodes);
    let file = file.map_or_else(|| "-".into(), |file| file.to_string_lossy());
    let mount_point = entry.mount_point.to_string_lossy();
    let data = RowData {
        device: &entry.device,
        fs_type,
        blocks,
        inodes,
        file: &file,
        mount_point: &mount_point,
    };
    rows.push(make_row(options, &data));
    0
}

/// `-a`: the directory shows another device than the entry's (it is mounted over), so
/// its numbers are not the entry's. Two remote names may be aliases of one export.
fn overmounted(options: &Options, entry: &Entry, device: u64) -> bool {
    options
        .winners
        .get(&device)
        .is_some_and(|(name, remote)| *name != entry.device && !(*remote && entry.remote))
}

fn add_to_totals(totals: &mut (Values, Values), blocks: &Values, inodes: &Values) {
    let add = |sum: &mut Option<u64>, value: Option<u64>, unit: u64| {
        if let Some(value) = value {
            *sum = Some(sum.unwrap_or(0).saturating_add(value.saturating_mul(unit)));
        }
    };
    let (total_blocks, total_inodes) = totals;
    add(&mut total_blocks.total, blocks.total, blocks.unit);
    add(&mut total_blocks.free, blocks.free, blocks.unit);
    add(&mut total_blocks.available, blocks.available, blocks.unit);
    add(&mut total_inodes.total, inodes.total, 1);
    add(&mut total_inodes.free, inodes.free, 1);
    add(&mut total_inodes.available, inodes.available, 1);
}

/// The `total` line: sums in bytes; `-` where the Mounted on column is, unless no Filesystem
/// column says `total` already.
fn total_row(options: &Options, totals: &(Values, Values)) -> Row {
    let (mut blocks, mut inodes) = *totals;
    for values in [&mut blocks, &mut inodes] {
        values.unit = 1;
        values.total.get_or_insert(0);
        values.free.get_or_insert(0);
        values.available.get_or_insert(0);
    }
    let has_source = options.fields.contains(&Field::Source);
    let data = RowData {
        device: "total",
        fs_type: "-",
        blocks,
        inodes,
        file: "-",
        mount_point: if has_source { "-" } else { "total" },
    };
    make_row(options, &data)
}

fn make_row(options: &Options, data: &RowData) -> Row {
    let cells = options
        .fields
        .iter()
        .map(|&field| {
            let values = if field.is_inode() {
                &data.inodes
            } else {
                &data.blocks
            };
            let (scale, output_unit) = match (options.scale, field.is_inode()) {
                (Scale::Human(base), _) => (Scale::Human(base), 1),
                (Scale::Blocks(_), true) => (Scale::Blocks(1), 1),
                (Scale::Blocks(size), false) => (Scale::Blocks(size), size),
            };
            let number = |value: Option<i128>| match value {
                None => "-".to_string(),
                Some(n) if n < 0 => format!(
                    "-{}",
                    readable(n.unsigned_abs(), values.unit, output_unit, scale)
                ),
                Some(n) => readable(n as u128, values.unit, output_unit, scale),
            };
            let cell = match field {
                Field::Source => data.device.to_string(),
                Field::FsType => data.fs_type.to_string(),
                Field::Size | Field::ITotal => number(values.total.map(i128::from)),
                Field::Used | Field::IUsed => number(values.used()),
                Field::Avail | Field::IAvail => number(values.available.map(i128::from)),
                Field::Pcent | Field::IPcent => percent(values),
                Field::File => data.file.to_string(),
                Field::Target => data.mount_point.to_string(),
            };
            sanitize(&cell)
        })
        .collect();
    Row { cells }
}

/// Use%: used over used plus available, rounded up; `-` when both are zero or unknown.
fn percent(values: &Values) -> String {
    let (Some(used), Some(available)) = (values.used(), values.available) else {
        return "-".to_string();
    };
    let whole = used + i128::from(available);
    if whole == 0 {
        return "-".to_string();
    }
    if used >= 0 {
        let hundred = used * 100;
        return format!("{}%", hundred / whole + i128::from(hundred % whole != 0));
    }
    let pct = used as f64 * 100.0 / whole as f64;
    format!("{}%", pct.ceil())
}

/// gnulib's human_readable with ceiling rounding: `n` units of `input` bytes in units of
/// `output`, or scaled with a suffix.
fn readable(n: u128, input: u64, output: u64, scale: Scale) -> String {
    let bytes = n * u128::from(input.max(1));
    match scale {
        Scale::Blocks(_) => bytes.div_ceil(u128::from(output.max(1))).to_string(),
        Scale::Human(base) => human(bytes / u128::from(output.max(1)), u128::from(base)),
    }
}

fn human(amount: u128, base: u128) -> String {
    const LETTERS: &[u8] = b"KMGTPEZYRQ";
    if amount < base {
        return amount.to_string();
    }
    let mut exponent = 0;
    let mut unit = 1u128;
    while amount / unit >= base && exponent < LETTERS.len() {
        unit *= base;
        exponent += 1;
    }
    let letter = |exponent: usize| {
        if base == 1000 && exponent == 1 {
            'k'
        } else {
            LETTERS[exponent - 1] as char
        }
    };
    let mut whole = amount / unit;
    let rest = amount % unit;
    if whole < 10 {
        let tenths = (rest * 10).div_ceil(unit);
        let (whole, tenths) = if tenths == 10 {
            (whole + 1, 0)
        } else {
            (whole, tenths)
        };
        if whole < 10 {
            return format!("{whole}.{tenths}{}", letter(exponent));
        }
        return format!("{whole}{}", letter(exponent));
    }
    if rest > 0 {
        whole += 1;
        if whole == base && exponent < LETTERS.len() {
            return format!("1.0{}", letter(exponent + 1));
        }
    }
    format!("{whole}{}", letter(exponent))
}

/// GNU replaces control characters in cells with `?`.
fn sanitize(cell: &str) -> String {
    cell.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn header(options: &Options) -> Row {
    let mode = options.mode;
    let cells = options
        .fields
        .iter()
        .map(|field| match field {
            Field::Source => "Filesystem".to_string(),
            Field::FsType => "Type".to_string(),
            Field::Size => match options.scale {
                Scale::Blocks(size) if mode == Mode::Posix => format!("{size}-blocks"),
                Scale::Blocks(size) => format!("{}-blocks", block_caption(size)),
                Scale::Human(_) => "Size".to_string(),
            },
            Field::Used => "Used".to_string(),
            Field::Avail if matches!(mode, Mode::Human | Mode::Output) => "Avail".to_string(),
            Field::Avail => "Available".to_string(),
            Field::Pcent if mode == Mode::Posix => "Capacity".to_string(),
            Field::Pcent => "Use%".to_string(),
            Field::ITotal => "Inodes".to_string(),
            Field::IUsed => "IUsed".to_string(),
            Field::IAvail => "IFree".to_string(),
            Field::IPcent => "IUse%".to_string(),
            Field::File => "File".to_string(),
            Field::Target => "Mounted on".to_string(),
        })
        .collect();
    Row { cells }
}

/// The block size in the `1K-blocks` header: in the base that says it exactly (`1M`,
/// `1kB`, `512B`), as GNU picks it.
fn block_caption(size: u64) -> String {
    let (mut q1000, mut q1024) = (size, size);
    let (mut by_1000, mut by_1024);
    loop {
        by_1000 = q1000 % 1000 == 0;
        q1000 /= 1000;
        by_1024 = q1024 % 1024 == 0;
        q1024 /= 1024;
        if !(by_1000 && by_1024) {
            break;
        }
    }
    if by_1024 && !by_1000 {
        return human(u128::from(size), 1024).replace(".0", "");
    }
    format!("{}B", human(u128::from(size), 1000).replace(".0", ""))
}

fn print_table(fields: &[Field], rows: &[Row]) -> std::io::Result<()> {
    let widths: Vec<usize> = fields
        .iter()
        .enumerate()
        .map(|(col, field)| {
            rows.iter()
                .map(|row| row.cells[col].chars().count())
                .max()
                .unwrap_or(0)
                .max(field.minimum_width())
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for row in rows {
        let mut line = String::new();
        for (col, (cell, field)) in row.cells.iter().zip(fields).enumerate() {
            if col > 0 {
                line.push(' ');
            }
            let pad = " ".repeat(widths[col].saturating_sub(cell.chars().count()));
            if field.left_aligned() {
                line.push_str(cell);
                if col + 1 < fields.len() {
                    line.push_str(&pad);
                }
            } else {
                line.push_str(&pad);
                line.push_str(cell);
            }
        }
        writeln!(out, "{line}")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_round_up_like_gnulib() {
        assert_eq!(human(0, 1024), "0");
        assert_eq!(human(1023, 1024), "1023");
        assert_eq!(human(1024, 1024), "1.0K");
        assert_eq!(human(1025, 1024), "1.1K");
        assert_eq!(human(64 << 20, 1024), "64M");
        assert_eq!(human((10 << 20) + 1, 1024), "11M");
        assert_eq!(human((1 << 20) - 1, 1024), "1.0M");
        assert_eq!(human(1000, 1000), "1.0k");
        assert_eq!(human(1_500_001, 1000), "1.6M");
    }

    #[test]
    fn use_percent_rounds_up_and_is_a_dash_for_nothing() {
        let values = |total, free, available| Values {
            total: Some(total),
            free: Some(free),
            available: Some(available),
            unit: 1,
        };
        assert_eq!(percent(&values(100, 58, 50)), "46%");
        assert_eq!(percent(&values(0, 0, 0)), "-");
        assert_eq!(percent(&values(3, 3, 3)), "0%");
    }
}
