//! The baseline: the metadata of every package-owned path as it was on the healthy host
//! (type, mode, owner, group, size, md5, link target, `security.capability`, and the package
//! and version that own it), so that verify and restore can return a path to the host's own
//! state, not only to the archive's.
//!
//! Recorded by the walk `verify` makes ([`crate::verify::survey`]): the same dpkg lists,
//! diversions (a diverted file is recorded at its diverted path) and merged-/usr resolution,
//! the same parallel hashing and digest cache, so a refresh where nothing changed reads no
//! file twice.
//!
//! The file is text, one line per path, sorted by path, between a version header and an
//! `end COUNT` line (a file cut at a line boundary is told from a whole one):
//!
//! ```text
//! rescue-baseline 1
//! # type mode uid user gid group size md5 capability package version path [link-target]
//! f 2755 0 root 102 _ssh 309688 4f1c…e2 - openssh-client 1:9.2p1-2 /usr/bin/ssh-agent
//! f 0755 0 root 0 root 90568 9d3b…41 cap_net_raw=ep iputils-ping 3:20221126-1 /usr/bin/ping
//! l 0777 0 root 0 root 7 - - base-files 12.4 /bin usr/bin
//! end 3
//! ```
//!
//! Fields are separated by one space. Every text field is escaped so any byte string
//! round-trips: bytes outside `!`..`~` and `\` are written `\xHH`; `-` alone means "none"
//! (a name `-` is `\x2d`). Types: `f` file, `d` directory, `l` symlink, `c`/`b` devices,
//! `p` fifo, `s` socket. A capability is `getcap`'s text when that text gives the same
//! attribute back, else `0x` and the attribute's bytes in hex.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::dpkg::status::parse_md5;
use crate::dpkg::Database;
use crate::sys::accounts::Accounts;
use crate::sys::capability::FileCaps;
use crate::sys::input::{Line, LineReader};
use crate::sys::root::{Last, Root};
use crate::verify::survey::{survey, Stat};
use crate::verify::{FileKind, Note};
use crate::{Error, Result};

/// The first line; the number is the format's version.
pub const HEADER: &str = "rescue-baseline 1";
const COLUMNS: &str =
    "# type mode uid user gid group size md5 capability package version path [link-target]";
/// Two escaped paths of PATH_MAX bytes (four bytes per escaped byte) and the short fields.
const MAX_LINE: usize = 2 * 4 * crate::sys::input::PATH_MAX + 4096;
/// Far more paths than any Debian system has; a file claiming more is not a baseline.
const MAX_ENTRIES: usize = 8 << 20;

/// One path's recorded metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: FileKind,
    /// Permission bits, `07777`, setuid, setgid and sticky included.
    pub mode: u32,
    pub uid: u32,
    /// The name ROOT's `/etc/passwd` gave `uid` when it was recorded.
    pub user: Option<String>,
    pub gid: u32,
    pub group: Option<String>,
    /// `lstat`'s size (a symlink's is its target's length).
    pub size: u64,
    /// Regular files that could be read.
    pub md5: Option<[u8; 16]>,
    /// Regular files: the raw `security.capability` attribute.
    pub capability: Option<Vec<u8>>,
    /// The owning package (`name`, or `name:arch` for `Multi-Arch: same`) and its version;
    /// for a path several packages list, the first in dpkg's status order.
    pub package: String,
    pub version: String,
    pub link_target: Option<PathBuf>,
}

impl Entry {
    /// The capability as the comparisons take it; `None` when there is none or it does not
    /// decode.
    pub fn file_caps(&self) -> Option<FileCaps> {
        self.capability
            .as_deref()
            .and_then(|raw| FileCaps::from_xattr(raw).ok())
    }
}

/// Every package-owned path's recorded metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Baseline {
    /// Keyed by the path's bytes: sorted the way `LC_ALL=C sort` sorts, and cheap to compare.
    entries: BTreeMap<OsString, Entry>,
}

impl Baseline {
    /// Records the metadata of every path the packages in `db` own under `root`.
    pub fn record(root: &Root, db: &Database) -> Result<Baseline> {
        Baseline::record_noting(root, db).map(|(baseline, _)| baseline)
    }

    /// [`Baseline::record`], with the notes the database and the digest cache gave (a
    /// package without a file list, an unusable cache).
    pub fn record_noting(root: &Root, db: &Database) -> Result<(Baseline, Vec<Note>)> {
        let (packages, _) = db.select(&[]);
        let accounts = Accounts::read(root)?;
        let (surveyed, notes) = survey(root, db, &packages, true, 0)?;
        let names: Vec<(String, String)> = packages
            .iter()
            .map(|p| (p.display_name(), p.version.clone()))
            .collect();
        let mut entries = BTreeMap::new();
        for one in surveyed {
            let Some(stat) = one.stat else { continue };
            entries.entry(one.path.into_os_string()).or_insert_with(|| {
                entry(
                    stat,
                    &accounts,
                    one.md5,
                    one.capability,
                    one.link_target,
                    names[one.package].clone(),
                )
            });
        }
        Ok((Baseline { entries }, notes))
    }

    /// Reads a baseline file written by [`Baseline::write`]. Every defect is an error naming
    /// the file and the line; nothing in it is trusted further than its syntax. Only a regular
    /// file is read: a symlink there (into the rescue system's own files, say) is refused.
    pub fn read(path: &Path) -> Result<Baseline> {
        let file = crate::sys::input::open_regular(path, Last::NoFollow)
            .map_err(|err| Error::io("read", path, err))?;
        let mut lines = LineReader::new(file, MAX_LINE);
        let mut entries = BTreeMap::new();
        let mut ended = None;
        let bad = |line: usize, what: String| Error::parse(path, Some(line), what);
        while let Some((number, line)) = lines
            .next_line()
            .map_err(|err| Error::io("read", path, err))?
        {
            let text = match line {
                Line::Text(text) => text,
                Line::TooLong { length, .. } => {
                    return Err(bad(number, format!("line of {length} bytes: too long")))
                }
            };
            if number == 1 {
                check_header(text).map_err(|what| bad(number, what))?;
                continue;
            }
            if ended.is_some() {
                return Err(bad(number, "text after the end line".into()));
            }
            if text.starts_with(b"#") {
                continue;
            }
            if let Some(count) = text.strip_prefix(b"end ") {
                let count = number_field::<usize>(count).map_err(|what| bad(number, what))?;
                if count != entries.len() {
                    let what = format!(
                        "end line counts {count} paths, the file has {}",
                        entries.len()
                    );
                    return Err(bad(number, what));
                }
                ended = Some(count);
                continue;
            }
            let (path, entry) = parse_line(text).map_err(|what| bad(number, what))?;
            if entries.len() >= MAX_ENTRIES {
                return Err(bad(number, format!("more than {MAX_ENTRIES} paths")));
            }
            match entries.entry(path.into_os_string()) {
                std::collections::btree_map::Entry::Occupied(seen) => {
                    let what =
                        format!("{} recorded twice", crate::sys::quoting::escape(seen.key()));
                    return Err(bad(number, what));
                }
                std::collections::btree_map::Entry::Vacant(place) => {
                    place.insert(entry);
                }
            }
        }
        if ended.is_none() {
            return Err(Error::parse(
                path,
                None,
                "cut short: no end line (the file is incomplete)",
            ));
        }
        Ok(Baseline { entries })
    }

    /// [`Baseline::write`], unless `path` already holds exactly this baseline: a refresh where
    /// nothing changed leaves the file, its inode and its ctime alone. Whether it wrote.
    pub fn write_if_changed(&self, path: &Path) -> Result<bool> {
        let mut encoded = Vec::new();
        self.encode(&mut encoded)
            .map_err(|err| Error::io("encode", path, err))?;
        let current = crate::sys::input::open_regular(path, crate::sys::root::Last::NoFollow)
            .and_then(|file| crate::sys::input::read_at_most(file, encoded.len() as u64));
        if current.is_ok_and(|bytes| bytes == encoded) {
            return Ok(false);
        }
        self.write(path)?;
        Ok(true)
    }

    /// Writes the baseline to `path` atomically (a temp file beside it, fsync'ed, then a
    /// rename; the directory fsync'ed too), mode 0644.
    pub fn write(&self, path: &Path) -> Result<()> {
        let name = path.file_name().unwrap_or_default().as_bytes();
        let mut temp_name = b".".to_vec();
        temp_name.extend_from_slice(name);
        temp_name.extend_from_slice(format!(".tmp.{}", std::process::id()).as_bytes());
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let temp = dir.join(OsString::from_vec(temp_name));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temp)
            .map_err(|err| Error::io("create", &temp, err))?;
        let mut out = std::io::BufWriter::with_capacity(256 << 10, file);
        let written = self
            .encode(&mut out)
            .and_then(|()| out.into_inner().map_err(|err| err.into_error()))
            .and_then(|file| file.sync_all());
        let renamed = written
            .map_err(|err| Error::io("write", &temp, err))
            .and_then(|()| std::fs::rename(&temp, path).map_err(|e| Error::io("rename", path, e)));
        if let Err(err) = renamed {
            let _ = std::fs::remove_file(&temp);
            return Err(err);
        }
        // The rename is durable once the directory is.
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    fn encode(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "{HEADER}")?;
        writeln!(out, "{COLUMNS}")?;
        let mut line = Vec::with_capacity(512);
        for (path, entry) in &self.entries {
            line.clear();
            format_line(&mut line, Path::new(path), entry);
            out.write_all(&line)?;
        }
        writeln!(out, "end {}", self.entries.len())
    }

    /// How many paths it records.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, path: &Path) -> Option<&Entry> {
        self.entries.get(path.as_os_str())
    }

    /// Every path and its entry, sorted by path.
    pub fn entries(&self) -> impl Iterator<Item = (&Path, &Entry)> {
        self.entries.iter().map(|(p, e)| (Path::new(p), e))
    }

    /// Keeps the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&Path, &Entry) -> bool) {
        self.entries
            .retain(|path, entry| keep(Path::new(path), entry));
    }
}

fn entry(
    stat: Stat,
    accounts: &Accounts,
    md5: Option<[u8; 16]>,
    capability: Option<Vec<u8>>,
    link_target: Option<PathBuf>,
    (package, version): (String, String),
) -> Entry {
    let name = |name: Option<&str>| name.filter(|n| !n.is_empty()).map(str::to_string);
    Entry {
        kind: stat.kind,
        mode: stat.mode,
        uid: stat.uid,
        user: name(accounts.user_name(stat.uid)),
        gid: stat.gid,
        group: name(accounts.group_name(stat.gid)),
        size: stat.size,
        md5,
        capability,
        package,
        version,
        link_target,
    }
}

fn check_header(text: &[u8]) -> std::result::Result<(), String> {
    if text == HEADER.as_bytes() {
        return Ok(());
    }
    match text.strip_prefix(b"rescue-baseline ") {
        Some(version) => Err(format!(
            "baseline format {} is not one this rescue reads (it reads 1)",
            String::from_utf8_lossy(version)
        )),
        None => Err(format!("not a baseline: the first line is not '{HEADER}'")),
    }
}

const KINDS: [(FileKind, u8); 7] = [
    (FileKind::Regular, b'f'),
    (FileKind::Directory, b'd'),
    (FileKind::Symlink, b'l'),
    (FileKind::CharDevice, b'c'),
    (FileKind::BlockDevice, b'b'),
    (FileKind::Fifo, b'p'),
    (FileKind::Socket, b's'),
];

fn format_line(out: &mut Vec<u8>, path: &Path, e: &Entry) {
    let letter = KINDS
        .iter()
        .find(|(k, _)| *k == e.kind)
        .map_or(b'f', |k| k.1);
    out.push(letter);
    let _ = write!(out, " {:04o} {} ", e.mode, e.uid);
    optional(out, e.user.as_deref().map(str::as_bytes));
    let _ = write!(out, " {} ", e.gid);
    optional(out, e.group.as_deref().map(str::as_bytes));
    let _ = write!(out, " {} ", e.size);
    match &e.md5 {
        Some(md5) => out.extend_from_slice(crate::dpkg::digest_hex(md5).as_bytes()),
        None => out.push(b'-'),
    }
    out.push(b' ');
    match &e.capability {
        Some(raw) => capability_field(out, raw),
        None => out.push(b'-'),
    }
    for text in [e.package.as_bytes(), e.version.as_bytes()] {
        out.push(b' ');
        optional(out, Some(text).filter(|t| !t.is_empty()));
    }
    out.push(b' ');
    escape_into(out, path.as_os_str().as_bytes());
    if let Some(target) = &e.link_target {
        out.push(b' ');
        escape_into(out, target.as_os_str().as_bytes());
    }
    out.push(b'\n');
}

fn optional(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(bytes) => escape_into(out, bytes),
        None => out.push(b'-'),
    }
}

/// `getcap`'s text when it parses back to the same attribute, else the bytes in hex.
fn capability_field(out: &mut Vec<u8>, raw: &[u8]) {
    if let Ok(caps) = FileCaps::from_xattr(raw) {
        let text = caps.to_string();
        if FileCaps::parse_text(&text).is_ok_and(|back| back.to_xattr() == raw) {
            escape_into(out, text.as_bytes());
            return;
        }
    }
    out.extend_from_slice(b"0x");
    for byte in raw {
        let _ = write!(out, "{byte:02x}");
    }
}

/// Printable ASCII but `\` as it is, every other byte `\xHH`; `-` alone is `\x2d` (a lone
/// `-` means "none").
fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes == b"-" {
        out.extend_from_slice(b"\\x2d");
        return;
    }
    for &byte in bytes {
        if (b'!'..=b'~').contains(&byte) && byte != b'\\' {
            out.push(byte);
        } else {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
}

fn unescape(field: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(field.len());
    let mut at = 0;
    while at < field.len() {
        if field[at] != b'\\' {
            out.push(field[at]);
            at += 1;
            continue;
        }
        let hex = field
            .get(at + 1..at + 4)
            .filter(|h| h[0] == b'x')
            .and_then(|h| std::str::from_utf8(&h[1..]).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) => out.push(byte),
            None => return Err("a '\\' that is not a \\xHH escape".into()),
        }
        at += 4;
    }
    Ok(out)
}

fn text_field(field: &[u8], what: &str) -> std::result::Result<Option<String>, String> {
    if field == b"-" {
        return Ok(None);
    }
    String::from_utf8(unescape(field)?)
        .map(Some)
        .map_err(|_| format!("{what} is not UTF-8"))
}

fn number_field<T: std::str::FromStr>(field: &[u8]) -> std::result::Result<T, String> {
    let shown = || String::from_utf8_lossy(&field[..field.len().min(40)]).into_owned();
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return Err(format!("'{}' is not a number", shown()));
    }
    std::str::from_utf8(field)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| format!("'{}' is out of range", shown()))
}

fn capability_parse(field: &[u8]) -> std::result::Result<Option<Vec<u8>>, String> {
    if field == b"-" {
        return Ok(None);
    }
    if let Some(hex) = field.strip_prefix(b"0x") {
        if hex.len() % 2 != 0 || hex.len() > 2 * 64 || hex.is_empty() {
            return Err("capability: bad hex length".into());
        }
        let bytes: Option<Vec<u8>> = hex
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        return bytes.map(Some).ok_or_else(|| "capability: bad hex".into());
    }
    let text = text_field(field, "capability")?.unwrap_or_default();
    FileCaps::parse_text(&text)
        .map(|caps| Some(caps.to_xattr()))
        .map_err(|err| format!("capability: {err}"))
}

fn parse_line(text: &[u8]) -> std::result::Result<(PathBuf, Entry), String> {
    let fields: Vec<&[u8]> = text.split(|&b| b == b' ').take(14).collect();
    if fields.len() > 13 {
        return Err("more than 13 fields, 12 or 13 expected".into());
    }
    let [kind, mode, uid, user, gid, group, size, md5, caps, package, version, path, rest @ ..] =
        fields.as_slice()
    else {
        return Err(format!("{} fields, 12 or 13 expected", fields.len()));
    };
    let kind = match kind {
        [letter] => KINDS.iter().find(|k| k.1 == *letter).map(|k| k.0),
        _ => None,
    }
    .ok_or_else(|| "unknown type (f d l c b p s)".to_string())?;
    if mode.is_empty() || mode.len() > 4 || !mode.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return Err("mode must be 1 to 4 octal digits".into());
    }
    let mode = mode.iter().fold(0u32, |m, d| m * 8 + u32::from(d - b'0'));
    let md5 = match *md5 {
        b"-" => None,
        hex => Some(parse_md5(hex).ok_or("md5 must be 32 hex digits")?),
    };
    let path = unescape(path)?;
    if path.first() != Some(&b'/') {
        return Err("the path is not absolute".into());
    }
    let link_target = match (kind, rest) {
        (FileKind::Symlink, [target]) if !target.is_empty() => {
            Some(PathBuf::from(OsString::from_vec(unescape(target)?)))
        }
        (FileKind::Symlink, _) => return Err("a symlink needs its target as field 13".into()),
        (_, []) => None,
        (_, _) => return Err("only a symlink has a 13th field".into()),
    };
    let entry = Entry {
        kind,
        mode,
        uid: number_field(uid).map_err(|e| format!("uid: {e}"))?,
        user: text_field(user, "user")?,
        gid: number_field(gid).map_err(|e| format!("gid: {e}"))?,
        group: text_field(group, "group")?,
        size: number_field(size).map_err(|e| format!("size: {e}"))?,
        md5,
        capability: capability_parse(caps)?,
        package: text_field(package, "package")?.unwrap_or_default(),
        version: text_field(version, "version")?.unwrap_or_default(),
        link_target,
    };
    Ok((PathBuf::from(OsString::from_vec(path)), entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Baseline {
        let file = Entry {
            kind: FileKind::Regular,
            mode: 0o2755,
            uid: 0,
            user: Some("root".into()),
            gid: 102,
            group: Some("_ssh".into()),
            size: 309_688,
            md5: Some([0xab; 16]),
            capability: Some(FileCaps::parse_text("cap_net_raw=ep").unwrap().to_xattr()),
            package: "openssh-client".into(),
            version: "1:9.2p1-2".into(),
            link_target: None,
        };
        let odd = Entry {
            kind: FileKind::Symlink,
            mode: 0o777,
            user: Some("-".into()),
            group: None,
            md5: None,
            capability: None,
            link_target: Some(PathBuf::from(OsString::from_vec(b"a b\\\xff\n".to_vec()))),
            ..file.clone()
        };
        let raw_caps = Entry {
            capability: Some(vec![1, 2, 3]),
            version: String::new(),
            ..file.clone()
        };
        let mut entries = BTreeMap::new();
        entries.insert(OsString::from("/usr/bin/ssh-agent"), file);
        entries.insert(OsString::from_vec(b"/tmp/\xfe \t-\\x41".to_vec()), odd);
        entries.insert(OsString::from("/-"), raw_caps);
        Baseline { entries }
    }

    fn written(baseline: &Baseline) -> Vec<u8> {
        let mut out = Vec::new();
        baseline.encode(&mut out).unwrap();
        out
    }

    fn replaced(line: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = line.windows(from.len()).position(|w| w == from).unwrap();
        [&line[..at], to, &line[at + from.len()..]].concat()
    }

    fn read_text(text: &[u8]) -> Result<Baseline> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline");
        std::fs::write(&path, text).unwrap();
        Baseline::read(&path)
    }

    #[test]
    fn any_bytes_round_trip() {
        let baseline = sample();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline");
        baseline.write(&path).unwrap();
        assert_eq!(Baseline::read(&path).unwrap(), baseline);
        let text = std::fs::read(&path).unwrap();
        assert!(text.starts_with(b"rescue-baseline 1\n"));
        assert!(text.ends_with(b"end 3\n"));
        let shown = String::from_utf8(text).unwrap();
        assert!(shown.contains(" cap_net_raw=ep openssh-client 1:9.2p1-2 /usr/bin/ssh-agent\n"));
        assert!(shown.contains(" 0x010203 openssh-client - /-\n"));
        assert!(shown.contains(" \\x2d 102 - "));
        // Nothing is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn defects_name_their_line() {
        let good = written(&sample());
        let lines: Vec<&[u8]> = good.split(|&b| b == b'\n').collect();
        let agent = lines
            .iter()
            .position(|l| l.ends_with(b"ssh-agent"))
            .unwrap();
        let with = |at: usize, line: &[u8]| {
            let mut out = Vec::new();
            for (i, l) in lines.iter().enumerate().take(lines.len() - 1) {
                out.extend_from_slice(if i == at { line } else { l });
                out.push(b'\n');
            }
            out
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (with(2, &lines[2][..20]), ":3: "),
            (with(2, &[lines[2], b" x x"].concat()), "fields, 12 or 13"),
            (with(0, b"rescue-baseline 2"), "format 2"),
            (with(0, b"\x7fELF"), "not a baseline"),
            (
                with(agent, &replaced(lines[agent], b" 0 ", b" 99999999999 ")),
                "uid",
            ),
            (
                with(agent, &replaced(lines[agent], b"2755", b"9755")),
                "mode",
            ),
            (with(4, b"end 7"), "counts 7"),
            (good[..good.len() - 6].to_vec(), "cut short"),
            (with(2, &vec![b'f'; 200_000]), "too long"),
            (with(2, &replaced(lines[2], b"/-", b"rel")), "not absolute"),
            (
                with(agent, &replaced(lines[agent], b" 309688 ", b" -1 ")),
                "size",
            ),
            (
                with(
                    agent,
                    &replaced(lines[agent], b"cap_net_raw=ep", b"cap_nope=ep"),
                ),
                "capability",
            ),
            (
                with(agent, &replaced(lines[agent], b"root", b"r\\xzz")),
                "escape",
            ),
            (
                with(agent, &replaced(lines[agent], b"root", b"\\xff")),
                "UTF-8",
            ),
        ];
        for (text, want) in cases {
            let err = read_text(&text).expect_err(want).to_string();
            assert!(err.contains("baseline"), "{err}");
            assert!(err.contains(want), "{want}: {err}");
        }
        let twice = [&good[..good.len() - 6], lines[agent], b"\nend 4\n"].concat();
        let err = read_text(&twice).unwrap_err().to_string();
        assert!(err.contains(":6:") && err.contains("twice"), "{err}");
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let good = written(&sample());
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let mut text = good.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed as usize) % text.len();
                text[at] = (seed >> 32) as u8;
            }
            let _ = read_text(&text);
        }
    }
}
