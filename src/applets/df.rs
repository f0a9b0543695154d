//! usage: rescue df [-ahHiklPT] [-t TYPE]... [-x TYPE]... [--total] [FILE]...
//!
//!   -a, --all             include dummy, duplicate and inaccessible file systems
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
//!
//! GNU coreutils 9.1 `df`: the same columns, widths, rounding (always up), `Use%` (used over
//! used plus available, rounded up) and the same choice of file systems. Without `-a` it hides
//! dummy file systems (proc, sysfs, devpts, cgroup...: those with no blocks) and all but one
//! mount of each device (the one nearest the root; a device mounted over another on the
//! same directory wins). A FILE stands for the mount it is on.
//!
//! Unlike GNU's, no `statfs` can hang it: each runs in a worker given up after one second, so
//! a dead NFS server prints `df: DIR: statfs did not answer within 1 s (stale NFS?)` and the
//! other lines still come. Exit status 0, or 1 when a FILE or file system could not be read.
//! Not done: `--output`, `-B`, `--sync`, and the `DF_BLOCK_SIZE`/`BLOCK_SIZE` variables.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{complain, strerror, Exit};
use crate::sys::fs_status::FsStatus;
use crate::sys::mountinfo::{MountTable, TableSource};
use crate::sys::procfs::STUCK_AFTER;
use crate::sys::statfs::{probe_all, Probe};

#[derive(Parser)]
#[command(about = "Report file system space usage", disable_help_flag = true)]
pub(super) struct Args {
    /// include pseudo, duplicate, inaccessible file systems
    #[arg(short = 'a', long = "all")]
    all: bool,
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
    #[arg(short = 't', long = "type", value_name = "TYPE")]
    types: Vec<String>,
    /// limit listing to file systems not of type TYPE
    #[arg(short = 'x', long = "exclude-type", value_name = "TYPE")]
    exclude: Vec<String>,
    /// produce a grand total
    #[arg(long = "total")]
    total: bool,
    /// display this help and exit
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[arg(value_name = "FILE")]
    files: Vec<OsString>,
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

/// How numbers are written: GNU's `human_output_opts` and output block size.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scale {
    Blocks(u64),
    Human(u64),
}

struct Options<'a> {
    args: &'a Args,
    scale: Scale,
    listed: bool,
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

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let scale = if args.human {
        Scale::Human(1024)
    } else if args.si {
        Scale::Human(1000)
    } else {
        Scale::Blocks(1024)
    };
    let _ = args.kilo;
    let options = Options {
        args: &args,
        scale,
        listed: !args.files.is_empty(),
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
        let shown: Vec<&Entry> = shown_entries(&list, &options)
            .into_iter()
            .map(|index| &list[index])
            .filter(|entry| options.shows(entry))
            .collect();
        let paths: Vec<PathBuf> = shown.iter().map(|e| e.mount_point.clone()).collect();
        for (entry, probe) in shown.into_iter().zip(probe_all(&paths, STUCK_AFTER)) {
            let place = (entry.mount_point.as_path(), probe);
            status |= row_for(&options, entry, place, true, &mut rows, &mut totals);
        }
    } else {
        for (file, probe) in args.files.iter().zip(probes) {
            let file = Path::new(file);
            let device = match &probe {
                Probe::Answered { device, .. } => *device,
                Probe::StatFailed(err) => {
                    complain(name, format!("{}: {}", shown(file), strerror(err)));
                    status = 1;
                    continue;
                }
                Probe::Stuck => {
                    complain(name, stuck(file));
                    status = 1;
                    continue;
                }
            };
            match mount_of(&list, file, device) {
                Some(entry) => {
                    status |= row_for(
                        &options,
                        entry,
                        (file, probe),
                        false,
                        &mut rows,
                        &mut totals,
                    )
                }
                None => {
                    complain(name, format!("{}: no mount found", shown(file)));
                    status = 1;
                }
            }
        }
    }
    if rows.len() == 1 && args.files.is_empty() {
        complain(name, "no file systems processed");
        return Ok(1);
    }
    if args.total {
        rows.push(total_row(&options, &totals));
    }
    print_table(&rows).map_err(|err| Exit::write_error(1, &err))?;
    Ok(status)
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

/// GNU's filter_mount_list: which mounts a listing without operands shows, in mount order.
/// With `-a` all of them; else one per device.
fn shown_entries(list: &[Entry], options: &Options) -> Vec<usize> {
    if options.args.all {
        return (0..list.len()).collect();
    }
    let wanted: Vec<bool> = list
        .iter()
        .map(|entry| {
            let hidden_remote = entry.remote && options.args.local;
            !hidden_remote && !entry.dummy && options.wanted_type(&entry.fs_type)
        })
        .collect();
    let paths: Vec<PathBuf> = list
        .iter()
        .zip(&wanted)
        .filter(|(_, wanted)| **wanted)
        .map(|(entry, _)| entry.mount_point.clone())
        .collect();
    let mut probes = probe_all(&paths, STUCK_AFTER).into_iter();
    let mut kept: Vec<usize> = Vec::new();
    let mut by_dev: HashMap<u64, usize> = HashMap::new();
    for (index, entry) in list.iter().enumerate() {
        let stat_dev = if wanted[index] {
            match probes.next() {
                Some(Probe::Answered { device, .. }) => Some(device),
                _ => None,
            }
        } else {
            None
        };
        let Some(dev) = stat_dev else {
            by_dev.entry(entry.dev).or_insert(kept.len());
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
    kept
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
        for entry in list {
            if entry.dev == device
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

/// GNU's get_dev: one row, unless the mount is not to be shown. Returns the exit status.
fn row_for(
    options: &Options,
    entry: &Entry,
    (stat_file, probe): (&Path, Probe),
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
        Probe::Answered { status: Ok(s), .. } => Some(s),
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
    rows.push(make_row(
        options,
        &entry.device,
        fs_type,
        &blocks,
        &inodes,
        &entry.mount_point,
    ));
    0
}

fn add_to_totals(totals: &mut (Values, Values), blocks: &Values, inodes: &Values) {
    let add = |sum: &mut Option<u64>, value: Option<u64>, unit: u64| {
        if let Some(value) = value {
            *sum = Some(sum.unwrap_or(0).saturating_add(value.saturating_mul(unit)));
        }
    };
    let (total_blocks, total_inodes) = totals;
    total_blocks.unit = 1;
    total_inodes.unit = 1;
    add(&mut total_blocks.total, blocks.total, blocks.unit);
    add(&mut total_blocks.free, blocks.free, blocks.unit);
    add(&mut total_blocks.available, blocks.available, blocks.unit);
    add(&mut total_inodes.total, inodes.total, 1);
    add(&mut total_inodes.free, inodes.free, 1);
    add(&mut total_inodes.available, inodes.available, 1);
}

fn total_row(options: &Options, totals: &(Values, Values)) -> Row {
    let mut blocks = totals.0;
    let mut inodes = totals.1;
    blocks.unit = 1;
    inodes.unit = 1;
    for values in [&mut blocks, &mut inodes] {
        values.total.get_or_insert(0);
        values.free.get_or_insert(0);
        values.available.get_or_insert(0);
    }
    make_row(options, "total", "-", &blocks, &inodes, Path::new("-"))
}

fn make_row(
    options: &Options,
    device: &str,
    fs_type: &str,
    blocks: &Values,
    inodes: &Values,
    mount_point: &Path,
) -> Row {
    let mut cells = vec![device.to_string()];
    if options.args.print_type {
        cells.push(fs_type.to_string());
    }
    let (values, output_unit) = if options.args.inodes {
        (inodes, 1)
    } else {
        match options.scale {
            Scale::Blocks(size) => (blocks, size),
            Scale::Human(_) => (blocks, 1),
        }
    };
    let number = |value: Option<i128>| match value {
        None => "-".to_string(),
        Some(n) if n < 0 => format!(
            "-{}",
            readable(n.unsigned_abs(), values.unit, output_unit, options.scale)
        ),
        Some(n) => readable(n as u128, values.unit, output_unit, options.scale),
    };
    cells.push(number(values.total.map(i128::from)));
    cells.push(number(values.used()));
    cells.push(number(values.available.map(i128::from)));
    cells.push(percent(values));
    cells.push(mount_point.to_string_lossy().into_owned());
    Row {
        cells: cells.into_iter().map(|cell| sanitize(&cell)).collect(),
    }
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
    let args = options.args;
    let mut cells = vec!["Filesystem".to_string()];
    if args.print_type {
        cells.push("Type".to_string());
    }
    let human = matches!(options.scale, Scale::Human(_));
    let names: [&str; 4] = if args.inodes {
        ["Inodes", "IUsed", "IFree", "IUse%"]
    } else if human {
        ["Size", "Used", "Avail", "Use%"]
    } else if args.posix {
        ["1024-blocks", "Used", "Available", "Capacity"]
    } else {
        ["1K-blocks", "Used", "Available", "Use%"]
    };
    cells.extend(names.iter().map(|name| name.to_string()));
    cells.push("Mounted on".to_string());
    Row { cells }
}

/// GNU's minimum widths: Filesystem 14, Type 4, the numbers 5, Use% 4, the rest 0.
fn minimum_width(header: &str) -> usize {
    match header {
        "Filesystem" => 14,
        "Type" | "Use%" | "Capacity" => 4,
        "Mounted on" => 0,
        _ => 5,
    }
}

fn print_table(rows: &[Row]) -> std::io::Result<()> {
    let columns = rows[0].cells.len();
    let widths: Vec<usize> = (0..columns)
        .map(|col| {
            rows.iter()
                .map(|row| row.cells[col].chars().count())
                .max()
                .unwrap_or(0)
                .max(minimum_width(&rows[0].cells[col]))
        })
        .collect();
    let left = |col: usize| {
        matches!(
            rows[0].cells[col].as_str(),
            "Filesystem" | "Type" | "Mounted on"
        )
    };
    let mut out = std::io::stdout().lock();
    for row in rows {
        let mut line = String::new();
        for (col, cell) in row.cells.iter().enumerate() {
            if col > 0 {
                line.push(' ');
            }
            let pad = widths[col].saturating_sub(cell.chars().count());
            if left(col) {
                line.push_str(cell);
                if col + 1 < columns {
                    line.push_str(&" ".repeat(pad));
                }
            } else {
                line.push_str(&" ".repeat(pad));
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
