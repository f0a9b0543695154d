//! A read-only reader of systemd journal files (`*.journal`, `*.journal~`), written from
//! systemd's documented format (JOURNAL_FILE_FORMAT, `journal-def.h`) without libsystemd.
//! It owns the file layout: the header, the entry-array chain that lists entries in the order
//! they were written, ENTRY objects and their DATA objects (`FIELD=value`, compressed with XZ,
//! LZ4 or ZSTD, in regular and COMPACT files). It does not use the hash tables (nothing is
//! looked up by value: every entry is read and filtered by the caller), does not verify
//! hashes or seals, and never writes.
//!
//! A journal left by a crashed journald, a file still being written, or a truncated copy is
//! normal on the day this tool is used: every offset and size is checked against the file's
//! length before it is read, whatever is valid is returned, and what is not is reported as a
//! problem beside the entries. No size read from the file is allocated beyond the file's own
//! length, and decompression stops at [`MAX_FIELD`].

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

const SIGNATURE: &[u8; 8] = b"LPKSHHRH";
const INCOMPATIBLE_XZ: u32 = 1;
const INCOMPATIBLE_LZ4: u32 = 2;
const INCOMPATIBLE_KEYED_HASH: u32 = 4;
const INCOMPATIBLE_ZSTD: u32 = 8;
const INCOMPATIBLE_COMPACT: u32 = 16;
const INCOMPATIBLE_KNOWN: u32 = INCOMPATIBLE_XZ
    | INCOMPATIBLE_LZ4
    | INCOMPATIBLE_KEYED_HASH
    | INCOMPATIBLE_ZSTD
    | INCOMPATIBLE_COMPACT;

const OBJECT_DATA: u8 = 1;
const OBJECT_ENTRY: u8 = 3;
const OBJECT_ENTRY_ARRAY: u8 = 6;
const OBJECT_COMPRESSED_XZ: u8 = 1;
const OBJECT_COMPRESSED_LZ4: u8 = 2;
const OBJECT_COMPRESSED_ZSTD: u8 = 4;

/// The smallest header any systemd version wrote (v187's is 224 bytes; this reader needs the
/// fields up to `tail_entry_monotonic`).
const MIN_HEADER: u64 = 208;
const OBJECT_HEADER: u64 = 16;
/// Offsets of the DATA payload: after hash, next_hash, next_field, entry, entry_array,
/// n_entries, and in COMPACT files tail_entry_array_offset and its count (two le32).
const DATA_PAYLOAD: u64 = 64;
const DATA_PAYLOAD_COMPACT: u64 = 72;
/// ENTRY items start after seqnum, realtime, monotonic, boot_id and xor_hash.
const ENTRY_ITEMS: u64 = 64;
/// ENTRY_ARRAY items start after next_entry_array_offset.
const ARRAY_ITEMS: u64 = 24;
/// The largest field value decompressed; journald itself refuses fields over 64 MiB by default
/// (`DATA_SIZE_MAX` is larger, but no sane message is), and a hostile file must not make the
/// reader allocate without bound.
pub const MAX_FIELD: usize = 64 << 20;
/// DATA objects decoded and kept for the next entries (most entries share `_HOSTNAME`,
/// `_BOOT_ID`, `_SYSTEMD_UNIT` ... with their neighbours).
const CACHE_LIMIT: usize = 4096;
/// How much is read at once.
const WINDOW: usize = 256 << 10;
/// Only short values are shared that way; a long message is read again when needed.
const CACHED_SIZE: usize = 4096;

/// One entry: where it is in the file, its header fields, and its `FIELD=value` payloads.
#[derive(Debug, Clone)]
pub struct Entry {
    pub offset: u64,
    pub seqnum: u64,
    /// Microseconds since the epoch, as journald stamped the entry.
    pub realtime: u64,
    pub monotonic: u64,
    pub boot_id: [u8; 16],
    pub fields: Vec<Vec<u8>>,
}

impl Entry {
    /// The value of the first `NAME=` field.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields.iter().find_map(|field| {
            field
                .strip_prefix(name.as_bytes())
                .and_then(|rest| rest.strip_prefix(b"="))
        })
    }

    /// Every value of `NAME=` (a field may repeat in one entry).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields.iter().filter_map(move |field| {
            field
                .strip_prefix(name.as_bytes())
                .and_then(|rest| rest.strip_prefix(b"="))
        })
    }
}

/// An open journal file: its length when opened and the header fields this reader uses.
pub struct JournalFile {
    file: File,
    path: PathBuf,
    len: u64,
    header_size: u64,
    compact: bool,
    entry_array_offset: u64,
    n_entries: u64,
    /// Whether the file says it is still being written (state ONLINE).
    pub online: bool,
    /// The file's id, which stays when journald renames it on rotation.
    pub file_id: [u8; 16],
    cache: HashMap<u64, Vec<u8>>,
    /// The bytes last read from the file and where they start.
    window: std::cell::RefCell<(u64, Vec<u8>)>,
}

impl JournalFile {
    pub fn open(path: &Path) -> Result<JournalFile> {
        // Only a regular file: a FIFO planted at the name must not hang the reader.
        let file = crate::sys::input::open_regular(path, crate::sys::root::Last::Follow)
            .map_err(|err| Error::io("open", path, err))?;
        let meta = file
            .metadata()
            .map_err(|err| Error::io("stat", path, err))?;
        let mut header = [0u8; MIN_HEADER as usize];
        let got =
            read_at_most(&file, &mut header, 0).map_err(|err| Error::io("read", path, err))?;
        if got < 8 || &header[..8] != SIGNATURE {
            return Err(Error::parse(
                path,
                None,
                "not a journal file (no LPKSHHRH signature)",
            ));
        }
        if got < header.len() {
            return Err(Error::parse(path, None, "journal header cut short"));
        }
        let incompatible = le32(&header, 12);
        if incompatible & !INCOMPATIBLE_KNOWN != 0 {
            return Err(Error::parse(
                path,
                None,
                format!("unsupported incompatible flags {incompatible:#x}"),
            ));
        }
        let header_size = le64(&header, 88);
        if header_size < MIN_HEADER || header_size > meta.len() {
            return Err(Error::parse(
                path,
                None,
                format!("bad header size {header_size}"),
            ));
        }
        Ok(JournalFile {
            file,
            path: path.to_path_buf(),
            len: meta.len(),
            header_size,
            compact: incompatible & INCOMPATIBLE_COMPACT != 0,
            entry_array_offset: le64(&header, 176),
            n_entries: le64(&header, 152),
            online: header[16] == 1,
            file_id: header[24..40].try_into().unwrap_or([0; 16]),
            cache: HashMap::new(),
            window: std::cell::RefCell::new((0, Vec::new())),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn corrupt(&self, what: String) -> Error {
        Error::parse(&self.path, None, what)
    }

    /// Reads the object at `offset`, which must have type `kind` and at least `min` bytes;
    /// returns its flags and its bytes (header included).
    fn object(&self, offset: u64, kind: u8, min: u64) -> Result<(u8, Vec<u8>)> {
        if !offset.is_multiple_of(8)
            || offset < self.header_size
            || offset.saturating_add(16) > self.len
        {
            return Err(self.corrupt(format!("object offset {offset} out of the file")));
        }
        let mut head = [0u8; OBJECT_HEADER as usize];
        self.read_exact(&mut head, offset)?;
        let size = le64(&head, 8);
        if head[0] != kind {
            let found = head[0];
            return Err(self.corrupt(format!(
                "object at {offset} has type {found}, expected {kind}"
            )));
        }
        if size < min || size > self.len - offset {
            return Err(self.corrupt(format!("object at {offset} has bad size {size}")));
        }
        let mut bytes = vec![0u8; size as usize];
        self.read_exact(&mut bytes, offset)?;
        Ok((head[1], bytes))
    }

    fn read_exact(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        // Objects are small and read in file order: one read of a window serves many.
        if buf.len() <= WINDOW / 4 {
            let mut window = self.window.borrow_mut();
            let (start, bytes) = &mut *window;
            let inside = |start: u64, len: usize| {
                offset >= start && offset + buf.len() as u64 <= start + len as u64
            };
            if !inside(*start, bytes.len()) {
                let left = self.len.saturating_sub(offset);
                bytes.resize(WINDOW.min(usize::try_from(left).unwrap_or(WINDOW)), 0);
                let got = read_at_most(&self.file, bytes, offset)
                    .map_err(|err| Error::io("read", &self.path, err))?;
                bytes.truncate(got);
                *start = offset;
            }
            if inside(*start, bytes.len()) {
                let at = (offset - *start) as usize;
                buf.copy_from_slice(&bytes[at..at + buf.len()]);
                return Ok(());
            }
            return Err(self.corrupt(format!("object at {offset} cut short")));
        }
        match read_at_most(&self.file, buf, offset) {
            Ok(got) if got == buf.len() => Ok(()),
            Ok(_) => Err(self.corrupt(format!("object at {offset} cut short"))),
            Err(err) => Err(Error::io("read", &self.path, err)),
        }
    }

    /// The offsets of every entry, in the order they were written: from the entry-array
    /// chain, and when the chain is broken (a file cut short: the arrays are often written
    /// after the entries they list) also from walking the objects one after the other, as
    /// far as their headers make sense. Any problem is returned beside the offsets.
    pub fn entry_offsets(&self) -> (Vec<u64>, Option<Error>) {
        let (mut offsets, problem) = self.chained_offsets();
        // Fewer than the header counts: a crash between writing entries and linking them.
        if problem.is_some() || (offsets.len() as u64) < self.n_entries {
            offsets.extend(self.walked_offsets());
            offsets.sort_unstable();
            offsets.dedup();
        }
        (offsets, problem)
    }

    /// ENTRY objects found by stepping from object to object from the end of the header.
    fn walked_offsets(&self) -> Vec<u64> {
        let mut offsets = Vec::new();
        let mut at = self.header_size.next_multiple_of(8);
        let mut head = [0u8; OBJECT_HEADER as usize];
        while at.saturating_add(OBJECT_HEADER) <= self.len {
            if self.read_exact(&mut head, at).is_err() {
                break;
            }
            let size = le64(&head, 8);
            if head[0] == 0 || head[0] > 7 || size < OBJECT_HEADER || size > self.len - at {
                break;
            }
            if head[0] == OBJECT_ENTRY {
                offsets.push(at);
            }
            at = match (at + size).checked_next_multiple_of(8) {
                Some(next) => next,
                None => break,
            };
        }
        offsets
    }

    fn chained_offsets(&self) -> (Vec<u64>, Option<Error>) {
        let mut offsets = Vec::new();
        let mut array = self.entry_array_offset;
        let item = if self.compact { 4 } else { 8 };
        while array != 0 {
            let (_, bytes) = match self.object(array, OBJECT_ENTRY_ARRAY, ARRAY_ITEMS) {
                Ok(object) => object,
                Err(err) => return (offsets, Some(err)),
            };
            let next = le64(&bytes, 16);
            for chunk in bytes[ARRAY_ITEMS as usize..].chunks_exact(item) {
                let offset = if self.compact {
                    u64::from(le32(chunk, 0))
                } else {
                    le64(chunk, 0)
                };
                // Arrays are allocated larger than needed and filled in order.
                if offset == 0 {
                    return (offsets, None);
                }
                // Entries are appended, so their offsets grow: one that does not is damage
                // (and a file listing one entry a million times must not cost a million reads).
                if offsets.last().is_some_and(|&last| offset <= last) {
                    let what = format!("entry array at {array} lists {offset} out of order");
                    return (offsets, Some(self.corrupt(what)));
                }
                offsets.push(offset);
            }
            // Arrays are only ever appended, so a link backwards is a loop in a damaged file.
            if next != 0 && next <= array {
                let what = format!("entry array at {array} links back to {next}");
                return (offsets, Some(self.corrupt(what)));
            }
            array = next;
        }
        (offsets, None)
    }

    /// The entry at `offset` with every field that could be read; a field that could not is
    /// left out and the first such problem returned beside the entry.
    pub fn entry(&mut self, offset: u64) -> Result<(Entry, Option<Error>)> {
        let (_, bytes) = self.object(offset, OBJECT_ENTRY, ENTRY_ITEMS)?;
        let mut boot_id = [0u8; 16];
        boot_id.copy_from_slice(&bytes[40..56]);
        let mut entry = Entry {
            offset,
            seqnum: le64(&bytes, 16),
            realtime: le64(&bytes, 24),
            monotonic: le64(&bytes, 32),
            boot_id,
            fields: Vec::new(),
        };
        let item = if self.compact { 4 } else { 16 };
        let mut problem = None;
        let mut total = 0usize;
        for chunk in bytes[ENTRY_ITEMS as usize..].chunks_exact(item) {
            // Many items naming one highly compressed object must not add up without bound.
            if total > MAX_FIELD {
                let what = format!("entry at {offset} holds more than {MAX_FIELD} bytes");
                problem.get_or_insert(self.corrupt(what));
                break;
            }
            let data = if self.compact {
                u64::from(le32(chunk, 0))
            } else {
                le64(chunk, 0)
            };
            match self.data(data) {
                Ok(payload) => {
                    total += payload.len();
                    entry.fields.push(payload);
                }
                Err(err) => {
                    problem.get_or_insert(err);
                }
            }
        }
        Ok((entry, problem))
    }

    /// The payload of the DATA object at `offset`, decompressed.
    fn data(&mut self, offset: u64) -> Result<Vec<u8>> {
        if let Some(payload) = self.cache.get(&offset) {
            return Ok(payload.clone());
        }
        let start = if self.compact {
            DATA_PAYLOAD_COMPACT
        } else {
            DATA_PAYLOAD
        };
        let (flags, bytes) = self.object(offset, OBJECT_DATA, start)?;
        let stored = &bytes[start as usize..];
        let payload = match flags & 7 {
            0 => Ok(stored.to_vec()),
            OBJECT_COMPRESSED_XZ => decompress_xz(stored),
            OBJECT_COMPRESSED_LZ4 => decompress_lz4(stored),
            OBJECT_COMPRESSED_ZSTD => decompress_zstd(stored),
            _ => Err(format!("unknown compression flags {flags:#x}")),
        }
        .map_err(|what| self.corrupt(format!("data object at {offset}: {what}")))?;
        if payload.len() <= CACHED_SIZE {
            if self.cache.len() >= CACHE_LIMIT {
                self.cache.clear();
            }
            self.cache.insert(offset, payload.clone());
        }
        Ok(payload)
    }
}

/// `pread` until `buf` is full or the file ends; the number of bytes read.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(got)
}

fn le64(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
}

/// Reads a decoder to its end, refusing more than [`MAX_FIELD`] bytes.
fn read_bounded(mut reader: impl Read) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    (&mut reader)
        .take(MAX_FIELD as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|err| format!("cannot decompress: {err}"))?;
    if out.len() > MAX_FIELD {
        return Err(format!("decompresses to more than {MAX_FIELD} bytes"));
    }
    Ok(out)
}

fn decompress_xz(stored: &[u8]) -> std::result::Result<Vec<u8>, String> {
    read_bounded(xz2::read::XzDecoder::new(stored))
}

fn decompress_zstd(stored: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let decoder = zstd::stream::read::Decoder::new(stored)
        .map_err(|err| format!("cannot decompress: {err}"))?;
    read_bounded(decoder)
}

/// systemd's LZ4 payload: the uncompressed size as le64, then one LZ4 block.
fn decompress_lz4(stored: &[u8]) -> std::result::Result<Vec<u8>, String> {
    if stored.len() < 8 {
        return Err("LZ4 payload cut short".into());
    }
    let size = le64(stored, 0);
    // An LZ4 block expands at most 255 times.
    if size > MAX_FIELD as u64 || size > (stored.len() as u64 - 8).saturating_mul(255) {
        return Err(format!("LZ4 payload claims {size} bytes"));
    }
    let mut out = vec![0u8; size as usize];
    let got = lz4_flex::block::decompress_into(&stored[8..], &mut out)
        .map_err(|err| format!("cannot decompress: {err}"))?;
    if got != out.len() {
        return Err(format!("LZ4 payload gave {got} bytes, not {size}"));
    }
    Ok(out)
}

/// The journal files in `dirs` (ROOT/var/log/journal, and /run/log/journal for the running
/// system) and their machine-id subdirectories: `*.journal` and `*.journal~`, sorted by name.
/// Directories that cannot be read are returned as errors beside the files.
pub fn journal_files(dirs: &[PathBuf]) -> (Vec<PathBuf>, Vec<Error>) {
    let dirs = dirs.to_vec();
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for dir in dirs {
        let machines = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                errors.push(Error::io("read directory", &dir, err));
                continue;
            }
        };
        let mut subdirs: Vec<PathBuf> = machines.flatten().map(|e| e.path()).collect();
        subdirs.push(dir.clone());
        for sub in subdirs.into_iter().filter(|d| d.is_dir()) {
            match std::fs::read_dir(&sub) {
                Ok(entries) => files.extend(
                    entries
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| is_journal_name(p)),
                ),
                Err(err) => errors.push(Error::io("read directory", &sub, err)),
            }
        }
    }
    files.sort();
    (files, errors)
}

/// `*.journal` or `*.journal~` (the name journald gives a file it found dirty at startup).
pub fn is_journal_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.ends_with(".journal") || name.ends_with(".journal~")
}

/// The header fields that change with every object appended (`tail_object_offset`,
/// `n_objects`, `n_entries`): equal, nothing was added. journald writes through a shared
/// mapping, which does not always move the file's mtime.
pub fn change_stamp(path: &Path) -> Option<[u8; 24]> {
    let file = crate::sys::input::open_regular(path, crate::sys::root::Last::Follow).ok()?;
    let mut stamp = [0u8; 24];
    (read_at_most(&file, &mut stamp, 136).ok()? == 24).then_some(stamp)
}

/// Whether the file starts with the journal signature.
pub fn has_signature(path: &Path) -> bool {
    let mut head = [0u8; 8];
    crate::sys::input::open_regular(path, crate::sys::root::Last::Follow)
        .and_then(|mut file| file.read_exact(&mut head))
        .is_ok_and(|()| &head == SIGNATURE)
}

/// Which entries `journalctl -u`, `-p` and `-b` would show.
#[derive(Debug, Default, Clone)]
pub struct EntryFilter {
    /// Unit names, already completed (`ssh` is `ssh.service`, as journalctl mangles it).
    pub units: Vec<String>,
    /// Priorities shown: `PRIORITY` from the first to the second, inclusive.
    pub priorities: Option<(u8, u8)>,
    /// `_BOOT_ID` as 32 hex digits.
    pub boot_id: Option<String>,
}

impl EntryFilter {
    pub fn accepts(&self, entry: &Entry) -> bool {
        if let Some((low, high)) = self.priorities {
            let level = entry
                .get("PRIORITY")
                .filter(|p| p.len() == 1 && p[0].is_ascii_digit())
                .map(|p| p[0] - b'0');
            if !level.is_some_and(|level| (low..=high).contains(&level)) {
                return false;
            }
        }
        if let Some(boot) = &self.boot_id {
            let field = entry.get("_BOOT_ID").map(<[u8]>::to_vec);
            let header = hex(&entry.boot_id).into_bytes();
            if field.unwrap_or(header) != boot.as_bytes() {
                return false;
            }
        }
        self.units.is_empty() || self.units.iter().any(|unit| about_unit(entry, unit))
    }
}

/// journalctl's `-u UNIT` (`add_matches_for_unit`): the unit's own messages, its core dumps,
/// PID 1's messages about it, and root daemons' messages about it.
fn about_unit(entry: &Entry, unit: &str) -> bool {
    let is = |name: &str, value: &str| entry.all(name).any(|v| v == value.as_bytes());
    is("_SYSTEMD_UNIT", unit)
        || (is("MESSAGE_ID", "fc2e22bc6ee647b6b90729ab34a250b1")
            && is("_UID", "0")
            && is("COREDUMP_UNIT", unit))
        || (is("_PID", "1") && is("UNIT", unit))
        || (is("_UID", "0") && is("OBJECT_SYSTEMD_UNIT", unit))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// journalctl's default output (`-o short`) of an entry, without the final newline:
/// `Dec 03 13:16:02 HOST IDENT[PID]: MESSAGE`, in local time, later lines of a message
/// indented under the first, a value that is not printable text shown as `[SIZE blob data]`.
pub fn short_line(entry: &Entry) -> Vec<u8> {
    let source = entry
        .get("_SOURCE_REALTIME_TIMESTAMP")
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0 && *t < (1 << 63))
        .unwrap_or(entry.realtime);
    let secs = (source / 1_000_000) as i64;
    let mut line = crate::sys::strftime::strftime(b"%b %d %H:%M:%S", secs, 0)
        .unwrap_or_else(|| format!("@{secs}").into_bytes());
    if let Some(host) = entry.get("_HOSTNAME").filter(|h| printable_short(h)) {
        line.push(b' ');
        line.extend_from_slice(host);
    }
    let ident = [entry.get("SYSLOG_IDENTIFIER"), entry.get("_COMM")]
        .into_iter()
        .flatten()
        .find(|i| printable_short(i));
    line.push(b' ');
    line.extend_from_slice(ident.unwrap_or(b"unknown"));
    let pid = [entry.get("_PID"), entry.get("SYSLOG_PID")]
        .into_iter()
        .flatten()
        .find(|p| printable_short(p));
    if let Some(pid) = pid {
        line.push(b'[');
        line.extend_from_slice(pid);
        line.push(b']');
    }
    line.extend_from_slice(b": ");
    let message = strip_tab_ansi(entry.get("MESSAGE").unwrap_or(b""));
    if !printable(&message) {
        line.extend_from_slice(format!("[{} blob data]", format_bytes(message.len())).as_bytes());
        return line;
    }
    let indent = line.len();
    let message = message.strip_suffix(b"\n").unwrap_or(&message);
    for (i, piece) in message.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            line.push(b'\n');
            line.resize(line.len() + indent, b' ');
        }
        line.extend_from_slice(piece);
    }
    line
}

/// systemd's `strip_tab_ansi`: a tab becomes eight spaces, colour sequences (`ESC [ ... m`)
/// are dropped.
fn strip_tab_ansi(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    let mut i = 0;
    while i < message.len() {
        match message[i] {
            b'\t' => out.extend_from_slice(b"        "),
            0x1b if message.get(i + 1) == Some(&b'[') => {
                let params = message[i + 2..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit() || matches!(b, b';' | b':'))
                    .count();
                if message.get(i + 2 + params) == Some(&b'm') {
                    i += params + 3;
                    continue;
                }
                out.push(0x1b);
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    out
}

/// systemd's `utf8_is_printable_newline`: valid UTF-8 without control characters but tab and
/// newline.
fn printable(value: &[u8]) -> bool {
    std::str::from_utf8(value).is_ok_and(|text| {
        !text
            .chars()
            .any(|c| (c < ' ' && c != '\t' && c != '\n') || ('\u{7f}'..='\u{9f}').contains(&c))
    })
}

/// journalctl's `shall_print` for the fields before the message: short and printable.
fn printable_short(value: &[u8]) -> bool {
    value.len() < 128 && printable(value)
}

/// systemd's `format_bytes`: `512B`, `1.5K`, `3.0M`.
fn format_bytes(size: usize) -> String {
    let size = size as u64;
    for (shift, suffix) in [(30, 'G'), (20, 'M'), (10, 'K')] {
        let factor = 1u64 << shift;
        if size >= factor {
            return format!("{}.{}{suffix}", size / factor, size * 10 / factor % 10);
        }
    }
    format!("{size}B")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const NONE: u8 = 0;

    fn put64(file: &mut [u8], at: usize, value: u64) {
        file[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }

    fn compress(kind: u8, data: &[u8]) -> Vec<u8> {
        match kind {
            OBJECT_COMPRESSED_XZ => {
                let mut out = Vec::new();
                xz2::read::XzEncoder::new(data, 6)
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }
            OBJECT_COMPRESSED_LZ4 => {
                let mut out = (data.len() as u64).to_le_bytes().to_vec();
                out.extend(lz4_flex::block::compress(data));
                out
            }
            OBJECT_COMPRESSED_ZSTD => zstd::stream::encode_all(data, 3).unwrap(),
            _ => data.to_vec(),
        }
    }

    /// Appends an object (8-aligned) and returns its offset.
    fn object(file: &mut Vec<u8>, kind: u8, flags: u8, body: &[u8]) -> u64 {
        let offset = file.len() as u64;
        let size = 16 + body.len() as u64;
        file.extend([kind, flags, 0, 0, 0, 0, 0, 0]);
        file.extend(size.to_le_bytes());
        file.extend(body);
        file.resize(file.len().next_multiple_of(8), 0);
        offset
    }

    /// A journal as journald lays it out, without hash tables (this reader does not use them).
    fn build(compact: bool, compression: u8, entries: &[(u64, &[&[u8]])]) -> Vec<u8> {
        let mut file = vec![0u8; 272];
        file[..8].copy_from_slice(SIGNATURE);
        let flag = match compression {
            OBJECT_COMPRESSED_XZ => INCOMPATIBLE_XZ,
            OBJECT_COMPRESSED_LZ4 => INCOMPATIBLE_LZ4,
            OBJECT_COMPRESSED_ZSTD => INCOMPATIBLE_ZSTD,
            _ => 0,
        };
        let compact_flag = if compact { INCOMPATIBLE_COMPACT } else { 0 };
        file[12..16].copy_from_slice(&(flag | compact_flag).to_le_bytes());
        put64(&mut file, 88, 272);
        let mut entry_offsets = Vec::new();
        for (seq, (realtime, fields)) in entries.iter().enumerate() {
            let mut items = Vec::new();
            for field in *fields {
                let mut body = vec![0u8; if compact { 56 } else { 48 }];
                body.extend(compress(compression, field));
                let data = object(&mut file, OBJECT_DATA, compression, &body);
                if compact {
                    items.extend((data as u32).to_le_bytes());
                } else {
                    items.extend(data.to_le_bytes());
                    items.extend([0u8; 8]);
                }
            }
            let mut body = (seq as u64 + 1).to_le_bytes().to_vec();
            body.extend(realtime.to_le_bytes());
            body.extend(7u64.to_le_bytes());
            body.extend([0xabu8; 16]);
            body.extend(0u64.to_le_bytes());
            body.extend(items);
            entry_offsets.push(object(&mut file, OBJECT_ENTRY, 0, &body));
        }
        let mut body = 0u64.to_le_bytes().to_vec();
        for offset in entry_offsets.iter().chain([0u64, 0].iter()) {
            if compact {
                body.extend((*offset as u32).to_le_bytes());
            } else {
                body.extend(offset.to_le_bytes());
            }
        }
        let array = object(&mut file, OBJECT_ENTRY_ARRAY, 0, &body);
        put64(&mut file, 176, array);
        put64(&mut file, 152, entries.len() as u64);
        file
    }

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    /// Every entry that can be read, and whether anything was reported; never panics.
    fn read_all(path: &Path) -> (Vec<Entry>, bool) {
        let Ok(mut journal) = JournalFile::open(path) else {
            return (Vec::new(), true);
        };
        let (offsets, problem) = journal.entry_offsets();
        let mut reported = problem.is_some();
        let mut entries = Vec::new();
        for offset in offsets {
            match journal.entry(offset) {
                Ok((entry, problem)) => {
                    reported |= problem.is_some();
                    entries.push(entry);
                }
                Err(_) => reported = true,
            }
        }
        (entries, reported)
    }

    fn sample() -> Vec<u8> {
        format!("MESSAGE={}", "long message ".repeat(400)).into_bytes()
    }

    #[test]
    fn regular_and_compact_files_with_each_compression() {
        let long = sample();
        for compact in [false, true] {
            for kind in [
                NONE,
                OBJECT_COMPRESSED_XZ,
                OBJECT_COMPRESSED_LZ4,
                OBJECT_COMPRESSED_ZSTD,
            ] {
                let entries: [(u64, &[&[u8]]); 2] = [
                    (1_000_000, &[b"MESSAGE=hello", b"PRIORITY=3", b"_PID=42"]),
                    (2_000_000, &[long.as_slice(), b"_HOSTNAME=h"]),
                ];
                let file = write(&build(compact, kind, &entries));
                let (read, reported) = read_all(file.path());
                let case = format!("compact {compact}, compression {kind}");
                assert!(!reported, "{case}");
                assert_eq!(read.len(), 2, "{case}");
                assert_eq!(read[0].get("MESSAGE"), Some(&b"hello"[..]), "{case}");
                assert_eq!(read[0].get("_PID"), Some(&b"42"[..]), "{case}");
                assert_eq!(read[0].seqnum, 1, "{case}");
                assert_eq!(read[1].realtime, 2_000_000, "{case}");
                assert_eq!(read[1].fields[0], long, "{case}");
            }
        }
    }

    #[test]
    fn damaged_files_are_read_as_far_as_they_are_valid() {
        let entries: [(u64, &[&[u8]]); 2] =
            [(1, &[b"MESSAGE=a", b"X=1"]), (2, &[b"MESSAGE=b", b"Y=2"])];
        let good = build(false, OBJECT_COMPRESSED_LZ4, &entries);
        // Cut anywhere: no panic, and never more entries than were written.
        for len in 0..good.len() {
            let file = write(&good[..len]);
            let (read, _) = read_all(file.path());
            assert!(read.len() <= 2);
        }
        // An object whose size is 2^63: refused, not allocated.
        let first_data = 272;
        let mut huge = good.clone();
        put64(&mut huge, first_data + 8, 1 << 63);
        let file = write(&huge);
        let (read, reported) = read_all(file.path());
        assert!(reported);
        assert_eq!(read[1].get("MESSAGE"), Some(&b"b"[..]));
        // An entry array that points at itself: the loop is reported.
        let mut looped = good.clone();
        let array = le64(&good, 176) as usize;
        put64(&mut looped, array + 16, array as u64);
        // Without its spare zero slots, so that the link is followed.
        put64(&mut looped, array + 8, 16 + 8 + 2 * 8);
        let (read, reported) = read_all(write(&looped).path());
        assert!(reported && read.len() == 2);
        // An array listing the first entry again: reported, each entry read once.
        let mut again = good.clone();
        let first_entry = le64(&good, array + 24);
        put64(&mut again, array + 32, first_entry);
        let (read, reported) = read_all(write(&again).path());
        assert!(reported && read.len() == 2, "{}", read.len());
        // Garbage offsets in the header.
        let mut garbage = good.clone();
        put64(&mut garbage, 176, u64::MAX - 3);
        assert!(read_all(write(&garbage).path()).1);
        // An LZ4 payload claiming a huge size.
        let mut claim = good;
        put64(&mut claim, first_data + 64, u64::MAX);
        assert!(read_all(write(&claim).path()).1);
    }

    /// Random corruptions of a valid file: whatever is read, nothing panics or hangs.
    #[test]
    fn random_corruptions_never_panic() {
        let long = sample();
        let entries: [(u64, &[&[u8]]); 3] = [
            (1, &[b"MESSAGE=a", b"X=1"]),
            (2, &[long.as_slice()]),
            (3, &[b"MESSAGE=c"]),
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for compact in [false, true] {
            for kind in [
                OBJECT_COMPRESSED_XZ,
                OBJECT_COMPRESSED_LZ4,
                OBJECT_COMPRESSED_ZSTD,
            ] {
                let good = build(compact, kind, &entries);
                for _ in 0..300 {
                    let mut bad = good.clone();
                    for _ in 0..1 + next() % 4 {
                        let at = (next() % bad.len() as u64) as usize;
                        bad[at] = next() as u8;
                    }
                    let (read, _) = read_all(write(&bad).path());
                    assert!(read.len() <= 3);
                }
            }
        }
    }
}
