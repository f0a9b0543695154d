//! File capabilities: the `security.capability` attribute as the kernel stores it
//! (`VFS_CAP_REVISION_1`, `_2` and `_3` of linux/capability.h), the text `setcap` takes
//! (libcap's `cap_from_text`) and the text `getcap` prints (`cap_to_text`), both as in libcap
//! 2.66, Debian bookworm's.
//!
//! A file has a permitted and an inheritable set and one effective *bit*: libcap's effective
//! set is either empty or every capability of the other two, and `setcap` refuses anything
//! between, so we do too.
//!
//! libcap asks the running kernel how many capabilities it knows; we assume all 41 up to
//! `cap_checkpoint_restore` (Linux 5.9), so `all` and the names mean the same on an older
//! rescue kernel as on the host that ran the package's `setcap`.

use std::fmt;
use std::io;
use std::path::Path;

use super::xattr;

pub const XATTR_NAME: &str = "security.capability";

const REVISION_MASK: u32 = 0xff00_0000;
const REVISION_1: u32 = 0x0100_0000;
const REVISION_2: u32 = 0x0200_0000;
const REVISION_3: u32 = 0x0300_0000;
const FLAG_EFFECTIVE: u32 = 0x0000_0001;

/// Names by number; libcap names only these, and prints a higher bit as its number.
const NAMES: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

/// `all`: every named capability, not all 64 bits.
const ALL: u64 = (1 << NAMES.len()) - 1;

/// libcap's per-capability state bits (`LIBCAP_EFF`, `_PER`, `_INH`); their order decides the
/// order of `getcap`'s clauses.
const EFF: u8 = 1;
const PER: u8 = 2;
const INH: u8 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileCaps {
    pub permitted: u64,
    pub inheritable: u64,
    /// Whether the permitted and inheritable capabilities are raised in the effective set at
    /// exec (the `e` of `cap_net_raw=ep`).
    pub effective: bool,
    /// The root of the user namespace the capabilities belong to (revision 3); `None` is the
    /// initial namespace, as `setcap` without `-n` writes.
    pub rootid: Option<u32>,
}

/// What is wrong with an attribute value or a capability text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CapsError {
    /// Fewer than the 4 bytes that name the revision.
    Short {
        len: usize,
    },
    /// A known revision with the wrong size.
    Length {
        revision: u32,
        len: usize,
        expected: usize,
    },
    Revision {
        magic: u32,
    },
    /// `cap_from_text` refuses the text; `at` is a byte offset in it.
    Text {
        text: String,
        at: usize,
        what: &'static str,
    },
    /// Some capabilities effective and others not: the file has one effective bit.
    Effective {
        text: String,
    },
}

impl fmt::Display for CapsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapsError::Short { len } => {
                write!(f, "{len} bytes are too few for file capabilities")
            }
            CapsError::Length {
                revision,
                len,
                expected,
            } => write!(
                f,
                "revision {revision} file capabilities take {expected} bytes, not {len}"
            ),
            CapsError::Revision { magic } => {
                write!(f, "unknown file capability revision (magic 0x{magic:08x})")
            }
            CapsError::Text { text, at, what } => {
                write!(f, "{what} at byte {at} of capability text {text:?}")
            }
            CapsError::Effective { text } => write!(
                f,
                "capability text {text:?}: the effective set must be empty or hold every \
                 permitted and inheritable capability"
            ),
        }
    }
}

impl std::error::Error for CapsError {}

impl FileCaps {
    /// Decodes an attribute value as the kernel and libcap do: the size must be its
    /// revision's, flag bits other than effective are ignored.
    pub fn from_xattr(bytes: &[u8]) -> Result<FileCaps, CapsError> {
        let word = |i: usize| {
            let at = 4 * i;
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        if bytes.len() < 4 {
            return Err(CapsError::Short { len: bytes.len() });
        }
        let magic = word(0);
        let (revision, expected) = match magic & REVISION_MASK {
            REVISION_1 => (1, 12),
            REVISION_2 => (2, 20),
            REVISION_3 => (3, 24),
            _ => return Err(CapsError::Revision { magic }),
        };
        if bytes.len() != expected {
            return Err(CapsError::Length {
                revision,
                len: bytes.len(),
                expected,
            });
        }
        let high = |i: usize| {
            if revision == 1 {
                0
            } else {
                u64::from(word(i)) << 32
            }
        };
        Ok(FileCaps {
            permitted: u64::from(word(1)) | high(3),
            inheritable: u64::from(word(2)) | high(4),
            effective: magic & FLAG_EFFECTIVE != 0,
            rootid: (revision == 3).then(|| word(5)),
        })
    }

    /// Revision 2 without a rootid (what `setcap` writes), revision 3 with one.
    pub fn to_xattr(&self) -> Vec<u8> {
        let revision = if self.rootid.is_some() {
            REVISION_3
        } else {
            REVISION_2
        };
        let magic = revision | if self.effective { FLAG_EFFECTIVE } else { 0 };
        let words = [
            magic,
            self.permitted as u32,
            self.inheritable as u32,
            (self.permitted >> 32) as u32,
            (self.inheritable >> 32) as u32,
        ];
        let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        if let Some(rootid) = self.rootid {
            bytes.extend_from_slice(&rootid.to_le_bytes());
        }
        bytes
    }

    /// Parses the text `setcap` takes, and refuses what `setcap` refuses.
    pub fn parse_text(text: &str) -> Result<FileCaps, CapsError> {
        let sets = TextParser::new(text).parse()?;
        if sets.effective != 0 && (sets.permitted | sets.inheritable) & !sets.effective != 0 {
            return Err(CapsError::Effective {
                text: text.to_string(),
            });
        }
        Ok(FileCaps {
            permitted: sets.permitted,
            inheritable: sets.inheritable,
            effective: sets.effective != 0,
            rootid: None,
        })
    }

    /// No capability is granted. The effective bit alone grants nothing.
    pub fn is_empty(&self) -> bool {
        self.permitted == 0 && self.inheritable == 0
    }

    /// libcap's flags for capability `n`.
    fn state(&self, n: usize) -> u8 {
        let bit = |set: u64| set >> n & 1 == 1;
        let mut state = 0;
        if self.effective && bit(self.permitted | self.inheritable) {
            state |= EFF;
        }
        if bit(self.permitted) {
            state |= PER;
        }
        if bit(self.inheritable) {
            state |= INH;
        }
        state
    }
}

/// `getcap`'s text (without `-n`'s ` [rootid=N]`): `=` and the flags most named capabilities
/// share, then one clause per other combination, in libcap's order; a text that would start
/// `= x+f` is shortened to `x=f`. Unnamed bits come last, as numbers.
impl fmt::Display for FileCaps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named = NAMES.len();
        let mut histogram = [0usize; 8];
        for n in 0..named {
            histogram[usize::from(self.state(n))] += 1;
        }
        // The most common state; ties go to the fewer flags, as libcap's `>=` does.
        let mut common = 7;
        for t in (0..7).rev() {
            if histogram[t] >= histogram[common] {
                common = t;
            }
        }
        let common = common as u8;
        let mut out = format!("={}", flags(common));
        let mut shortened = false;
        for t in (0..8u8).rev() {
            if t == common || histogram[usize::from(t)] == 0 {
                continue;
            }
            out.push(' ');
            out.push_str(&names_in_state(self, t, 0..named));
            let raised = t & !common;
            if raised != 0 {
                let mut op = '+';
                if !shortened && out.starts_with("= ") {
                    shortened = true;
                    op = '=';
                }
                out.push(op);
                out.push_str(flags(raised));
            }
            let lowered = !t & common;
            if lowered != 0 {
                out.push('-');
                out.push_str(flags(lowered));
            }
        }
        for t in (1..8u8).rev() {
            if (named..64).any(|n| self.state(n) == t) {
                out.push(' ');
                out.push_str(&names_in_state(self, t, named..64));
                out.push('+');
                out.push_str(flags(t));
            }
        }
        f.write_str(if shortened { &out[2..] } else { &out })
    }
}

fn names_in_state(caps: &FileCaps, state: u8, range: std::ops::Range<usize>) -> String {
    let names: Vec<String> = range
        .filter(|&n| caps.state(n) == state)
        .map(|n| {
            NAMES
                .get(n)
                .map_or_else(|| n.to_string(), |s| s.to_string())
        })
        .collect();
    names.join(",")
}

/// libcap writes the letters in this order whatever order they were given in.
fn flags(state: u8) -> &'static str {
    const TEXT: [&str; 8] = ["", "e", "p", "ep", "i", "ei", "ip", "eip"];
    TEXT[usize::from(state)]
}

/// The three sets a text describes, before they are squeezed into a file's one bit.
#[derive(Default)]
struct Sets {
    effective: u64,
    permitted: u64,
    inheritable: u64,
}

impl Sets {
    fn raise(&mut self, list: u64, flags: u8) {
        for (flag, set) in self.by_flag() {
            if flags & flag != 0 {
                *set |= list;
            }
        }
    }

    fn lower(&mut self, list: u64, flags: u8) {
        for (flag, set) in self.by_flag() {
            if flags & flag != 0 {
                *set &= !list;
            }
        }
    }

    fn by_flag(&mut self) -> [(u8, &mut u64); 3] {
        [
            (EFF, &mut self.effective),
            (PER, &mut self.permitted),
            (INH, &mut self.inheritable),
        ]
    }
}

/// A port of `cap_from_text`, byte for byte in what it accepts: clauses separated by
/// white space, each a capability list (or nothing, meaning all) and one or more
/// operator-flags groups such as `+ep-i`.
struct TextParser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

/// The operator of a group: `=+` and `=-` first clear every flag of the listed capabilities.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Assign,
    Raise,
    Lower,
    AssignRaise,
    AssignLower,
}

impl<'a> TextParser<'a> {
    fn new(text: &'a str) -> Self {
        TextParser {
            text,
            bytes: text.as_bytes(),
            at: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn error(&self, what: &'static str) -> CapsError {
        CapsError::Text {
            text: self.text.to_string(),
            at: self.at,
            what,
        }
    }

    fn parse(mut self) -> Result<Sets, CapsError> {
        let mut sets = Sets::default();
        loop {
            while self.peek().is_some_and(is_c_space) {
                self.at += 1;
            }
            if self.peek().is_none() {
                return Ok(sets);
            }
            self.clause(&mut sets)?;
        }
    }

    fn clause(&mut self, sets: &mut Sets) -> Result<(), CapsError> {
        let (list, listed) = match self.peek() {
            Some(c) if c.is_ascii_alphanumeric() || c == b'_' => (self.list()?, true),
            Some(b'+' | b'-') => return Err(self.error("'+' and '-' need a list of capabilities")),
            _ => (ALL, false),
        };
        let mut op = match self.peek() {
            Some(b'=') => {
                self.at += 1;
                match self.peek() {
                    Some(c @ (b'+' | b'-')) if listed => {
                        self.at += 1;
                        if c == b'+' {
                            Op::AssignRaise
                        } else {
                            Op::AssignLower
                        }
                    }
                    Some(b'+' | b'-') => {
                        return Err(self.error("'=+' and '=-' need a list of capabilities"))
                    }
                    _ => Op::Assign,
                }
            }
            Some(b'+') => {
                self.at += 1;
                Op::Raise
            }
            Some(b'-') => {
                self.at += 1;
                Op::Lower
            }
            _ => return Err(self.error("'=', '+' or '-' expected")),
        };
        let mut flags = 0;
        loop {
            match self.peek() {
                Some(c) if !is_c_space(c) => {
                    flags |= match c {
                        b'e' => EFF,
                        b'i' => INH,
                        b'p' => PER,
                        _ => return Err(self.error("a flag other than e, i or p")),
                    };
                    self.at += 1;
                }
                _ if op != Op::Assign => return Err(self.error("an operator without flags")),
                _ => {}
            }
            match op {
                Op::Assign | Op::AssignRaise => {
                    sets.lower(list, EFF | PER | INH);
                    sets.raise(list, flags);
                }
                Op::AssignLower => sets.lower(list, EFF | PER | INH),
                Op::Raise => sets.raise(list, flags),
                Op::Lower => sets.lower(list, flags),
            }
            if let Some(c @ (b'+' | b'-')) = self.peek() {
                if !listed {
                    return Err(self.error("'+' and '-' need a list of capabilities"));
                }
                flags = 0;
                op = if c == b'+' { Op::Raise } else { Op::Lower };
                self.at += 1;
                if !self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                    return Err(self.error("an operator without flags"));
                }
            }
            if self.peek().is_none_or(is_c_space) {
                return Ok(());
            }
        }
    }

    /// `name,name,...`: names in any case, numbers as C's `strtoul(.., 0)` reads them, `all`.
    fn list(&mut self) -> Result<u64, CapsError> {
        let mut list = 0;
        loop {
            list |= if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                1 << self.number()?
            } else {
                self.name()?
            };
            if self.peek() != Some(b',') {
                return Ok(list);
            }
            self.at += 1;
            if !self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
            {
                return Err(self.error("a capability expected after ','"));
            }
        }
    }

    fn name(&mut self) -> Result<u64, CapsError> {
        let rest = &self.bytes[self.at..];
        let len = rest
            .iter()
            .take_while(|c| c.is_ascii_alphabetic() || **c == b'_')
            .count();
        let word = &rest[..len];
        // A name glued to a digit (`cap_chown2`) is no name at all.
        if rest
            .get(len)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            return Err(self.error("unknown capability name"));
        }
        let bits = if word.eq_ignore_ascii_case(b"all") {
            ALL
        } else {
            let n = NAMES
                .iter()
                .position(|name| word.eq_ignore_ascii_case(name.as_bytes()))
                .ok_or_else(|| self.error("unknown capability name"))?;
            1 << n
        };
        self.at += len;
        Ok(bits)
    }

    fn number(&mut self) -> Result<u32, CapsError> {
        let rest = &self.bytes[self.at..];
        let hex = rest.len() > 2
            && rest[0] == b'0'
            && matches!(rest[1], b'x' | b'X')
            && rest[2].is_ascii_hexdigit();
        let (radix, skip) = match rest {
            _ if hex => (16, 2),
            [b'0', ..] => (8, 0),
            _ => (10, 0),
        };
        let digits = rest[skip..]
            .iter()
            .take_while(|c| char::from(**c).is_digit(radix))
            .count();
        let value = std::str::from_utf8(&rest[skip..skip + digits])
            .ok()
            .and_then(|s| u64::from_str_radix(s, radix).ok())
            .filter(|&n| n < 64)
            .ok_or_else(|| self.error("capability number out of range 0-63"))?;
        self.at += skip + digits;
        Ok(value as u32)
    }
}

/// C's `isspace` in the C locale: Rust's ASCII white space leaves out vertical tab.
fn is_c_space(c: u8) -> bool {
    c.is_ascii_whitespace() || c == 0x0b
}

/// The capabilities of `path` itself (a symlink is not followed); `None` when it has none.
pub fn read(path: &Path) -> io::Result<Option<FileCaps>> {
    let Some(bytes) = xattr::get(path, XATTR_NAME)? else {
        return Ok(None);
    };
    decode(&bytes).map(Some)
}

fn decode(bytes: &[u8]) -> io::Result<FileCaps> {
    FileCaps::from_xattr(bytes)
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, format!("{XATTR_NAME}: {err}")))
}

/// Sets the capabilities of `path`, or removes them (`None`). Call it after any chown:
/// the kernel drops capabilities when a file's owner changes.
pub fn write(path: &Path, caps: Option<&FileCaps>) -> io::Result<()> {
    match caps {
        Some(caps) => xattr::set(path, XATTR_NAME, &caps.to_xattr()),
        None => xattr::remove(path, XATTR_NAME),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, Unsupported};
    use std::path::PathBuf;
    use std::process::Command;

    const NET_RAW: u64 = 1 << 13;

    fn caps(permitted: u64, inheritable: u64, effective: bool) -> FileCaps {
        FileCaps {
            permitted,
            inheritable,
            effective,
            rootid: None,
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Text given to `setcap`, what `getcap` printed for it and the attribute it wrote,
    /// recorded from libcap 2.66 on Linux 6.1.
    const SEEN: &[(&str, &str, &str)] = &[
        (
            "cap_net_raw+ep",
            "cap_net_raw=ep",
            "0100000200200000000000000000000000000000",
        ),
        (
            "cap_net_bind_service,cap_net_admin+ep",
            "cap_net_bind_service,cap_net_admin=ep",
            "0100000200140000000000000000000000000000",
        ),
        (
            "cap_setuid,cap_setgid=ep",
            "cap_setgid,cap_setuid=ep",
            "01000002c0000000000000000000000000000000",
        ),
        (
            "= cap_net_raw+p",
            "cap_net_raw=p",
            "0000000200200000000000000000000000000000",
        ),
        (
            "cap_sys_admin=eip cap_net_raw-i",
            "cap_sys_admin=eip",
            "0100000200002000000020000000000000000000",
        ),
        (
            "cap_net_raw+ei",
            "cap_net_raw=ei",
            "0100000200000000002000000000000000000000",
        ),
        ("all=ep", "=ep", "01000002ffffffff00000000ff01000000000000"),
        (
            "all+p cap_net_raw-p",
            "=p cap_net_raw-p",
            "00000002ffdfffff00000000ff01000000000000",
        ),
        ("=", "=", "0000000200000000000000000000000000000000"),
        ("all=i", "=i", "0000000200000000ffffffff00000000ff010000"),
        (
            "all=eip cap_chown,cap_kill-eip",
            "=eip cap_chown,cap_kill-eip",
            "01000002deffffffdeffffffff010000ff010000",
        ),
        (
            "cap_chown=p cap_kill=i",
            "cap_kill=i cap_chown+p",
            "0000000201000000200000000000000000000000",
        ),
        (
            "40=ep",
            "cap_checkpoint_restore=ep",
            "0100000200000000000000000001000000000000",
        ),
        (
            "50+ep",
            "= 50+ep",
            "0100000200000000000000000000040000000000",
        ),
        (
            "cap_chown+e",
            "=",
            "0100000200000000000000000000000000000000",
        ),
        (
            "0x0d+ep",
            "cap_net_raw=ep",
            "0100000200200000000000000000000000000000",
        ),
        (
            "015=ep",
            "cap_net_raw=ep",
            "0100000200200000000000000000000000000000",
        ),
        (
            "CAP_NET_RAW+ep",
            "cap_net_raw=ep",
            "0100000200200000000000000000000000000000",
        ),
        (
            "cap_net_raw=-e",
            "=",
            "0000000200000000000000000000000000000000",
        ),
        (
            "all=ep cap_net_raw=-p",
            "=ep cap_net_raw-ep",
            "01000002ffdfffff00000000ff01000000000000",
        ),
        (
            "cap_chown+ep-e",
            "cap_chown=p",
            "0000000201000000000000000000000000000000",
        ),
        (
            "=p cap_chown+i",
            "=p cap_chown+i",
            "00000002ffffffff01000000ff01000000000000",
        ),
        (
            "  cap_net_raw+ep  ",
            "cap_net_raw=ep",
            "0100000200200000000000000000000000000000",
        ),
    ];

    /// Texts `setcap` refuses, for a bad word or for an effective set it cannot store.
    const REFUSED: &[&str] = &[
        "cap_net_raw",
        "+ep",
        "-p",
        "cap_foo+ep",
        "cap_net_raw+x",
        "cap_net_raw+",
        "cap_net_raw+EP",
        "cap_net_raw,+ep",
        "cap_chown2+ep",
        "64=ep",
        "=+ep",
        "cap_net_raw=ep+",
        "cap_net_raw==e",
        "cap_net_raw+ep cap_chown+i",
        "cap_net_raw=ep 45+i",
        "=ep cap_chown-e",
    ];

    #[test]
    fn texts_parse_and_print_as_libcap_does() {
        for &(text, printed, stored) in SEEN {
            let parsed = FileCaps::parse_text(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(parsed.to_string(), printed, "{text}");
            assert_eq!(hex(&parsed.to_xattr()), stored, "{text}");
            assert_eq!(
                FileCaps::from_xattr(&parsed.to_xattr()),
                Ok(parsed),
                "{text}"
            );
            // What getcap prints, setcap reads back to the same file, but for an effective bit
            // over empty sets, which getcap cannot show.
            if !parsed.is_empty() {
                assert_eq!(FileCaps::parse_text(printed), Ok(parsed), "{printed}");
            }
        }
    }

    #[test]
    fn refused_texts_say_why() {
        for text in REFUSED {
            let err = FileCaps::parse_text(text).expect_err(text);
            assert!(err.to_string().contains(&format!("{text:?}")), "{err}");
        }
        assert_eq!(
            FileCaps::parse_text("cap_foo+ep").unwrap_err().to_string(),
            "unknown capability name at byte 0 of capability text \"cap_foo+ep\""
        );
    }

    #[test]
    fn parsed_values() {
        assert_eq!(
            FileCaps::parse_text("cap_net_raw+ep"),
            Ok(caps(NET_RAW, 0, true))
        );
        assert_eq!(
            FileCaps::parse_text("cap_net_raw+p"),
            Ok(caps(NET_RAW, 0, false))
        );
        assert_eq!(FileCaps::parse_text("all=ep"), Ok(caps(ALL, 0, true)));
        assert!(FileCaps::parse_text("").unwrap().is_empty());
        assert!(FileCaps::parse_text("cap_chown+e").unwrap().is_empty());
        assert!(!FileCaps::parse_text("cap_chown+i").unwrap().is_empty());
    }

    #[test]
    fn every_revision_decodes() {
        let v1 = [1, 0, 0, 1, 0x00, 0x20, 0, 0, 0, 0, 0, 0];
        assert_eq!(FileCaps::from_xattr(&v1), Ok(caps(NET_RAW, 0, true)));
        let v3 = FileCaps {
            rootid: Some(1000),
            ..caps(NET_RAW, 0, true)
        };
        assert_eq!(
            hex(&v3.to_xattr()),
            "0100000300200000000000000000000000000000e8030000"
        );
        assert_eq!(FileCaps::from_xattr(&v3.to_xattr()), Ok(v3));
        // Flag bits the kernel does not know are ignored, as the kernel and libcap do.
        let mut odd = caps(NET_RAW, 0, false).to_xattr();
        odd[0] = 0x02;
        assert_eq!(FileCaps::from_xattr(&odd), Ok(caps(NET_RAW, 0, false)));
    }

    #[test]
    fn malformed_values_are_refused() {
        assert_eq!(
            FileCaps::from_xattr(&[1, 0]),
            Err(CapsError::Short { len: 2 })
        );
        let v2 = caps(NET_RAW, 0, true).to_xattr();
        assert_eq!(
            FileCaps::from_xattr(&v2[..12]),
            Err(CapsError::Length {
                revision: 2,
                len: 12,
                expected: 20
            })
        );
        let mut future = v2.clone();
        future[3] = 4;
        assert_eq!(
            FileCaps::from_xattr(&future).unwrap_err().to_string(),
            "unknown file capability revision (magic 0x04000001)"
        );
    }

    fn tool(name: &str) -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    }

    /// `setcap` and `getcap`, when this test may use them (root, both installed, a file
    /// system that keeps `security.capability`).
    fn tools(dir: &Path) -> Option<(PathBuf, PathBuf)> {
        if !testing::root_or_skip("setting file capabilities needs root") {
            return None;
        }
        let (Some(setcap), Some(getcap)) = (tool("setcap"), tool("getcap")) else {
            testing::skip("setcap or getcap is not installed");
            return None;
        };
        let probe = dir.join("probe");
        std::fs::write(&probe, b"").unwrap();
        if let Err(err) = write(&probe, Some(&caps(NET_RAW, 0, true))) {
            let detail = format!("{}: {err}", dir.display());
            testing::unsupported(Unsupported::FileCapabilities, &detail);
            return None;
        }
        Some((setcap, getcap))
    }

    fn getcap(getcap: &Path, file: &Path) -> String {
        let out = Command::new(getcap).arg(file).output().unwrap();
        assert!(out.status.success(), "getcap {}", file.display());
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn agrees_with_setcap_and_getcap() {
        let dir = tempfile::tempdir().unwrap();
        let Some((setcap, getcap_path)) = tools(dir.path()) else {
            return;
        };
        let file = dir.path().join("prog");
        for &(text, _, _) in SEEN {
            std::fs::write(&file, b"\x7fELF").unwrap();
            let status = Command::new(&setcap).arg(text).arg(&file).status().unwrap();
            assert!(status.success(), "setcap {text:?}");
            let parsed = FileCaps::parse_text(text).unwrap();
            let bytes = xattr::get(&file, XATTR_NAME).unwrap().expect(text);
            assert_eq!(hex(&bytes), hex(&parsed.to_xattr()), "{text}");
            assert_eq!(FileCaps::from_xattr(&bytes), Ok(parsed), "{text}");
            assert_eq!(read(&file).unwrap(), Some(parsed), "{text}");
            let printed = getcap(&getcap_path, &file);
            assert_eq!(printed, format!("{} {parsed}\n", file.display()), "{text}");
        }
        for text in REFUSED {
            std::fs::write(&file, b"\x7fELF").unwrap();
            let out = Command::new(&setcap).arg(text).arg(&file).output().unwrap();
            assert!(!out.status.success(), "setcap took {text:?}");
        }
    }

    #[test]
    fn write_is_what_getcap_reads() {
        let dir = tempfile::tempdir().unwrap();
        let Some((setcap, getcap_path)) = tools(dir.path()) else {
            return;
        };
        let file = dir.path().join("prog");
        std::fs::write(&file, b"\x7fELF").unwrap();
        for text in [
            "cap_net_raw=ep",
            "cap_net_bind_service,cap_net_admin=ep",
            "cap_sys_nice=p",
        ] {
            let caps = FileCaps::parse_text(text).unwrap();
            write(&file, Some(&caps)).unwrap();
            assert_eq!(
                getcap(&getcap_path, &file),
                format!("{} {text}\n", file.display())
            );
            assert_eq!(read(&file).unwrap(), Some(caps));
        }
        // A namespaced capability: setcap -n writes the same bytes.
        let namespaced = FileCaps {
            rootid: Some(1000),
            ..FileCaps::parse_text("cap_net_raw+ep").unwrap()
        };
        write(&file, Some(&namespaced)).unwrap();
        assert_eq!(read(&file).unwrap(), Some(namespaced));
        let other = dir.path().join("other");
        std::fs::write(&other, b"\x7fELF").unwrap();
        let status = Command::new(&setcap)
            .args(["-n", "1000", "cap_net_raw+ep"])
            .arg(&other)
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(
            xattr::get(&other, XATTR_NAME).unwrap(),
            Some(namespaced.to_xattr())
        );
        write(&file, None).unwrap();
        write(&file, None).unwrap();
        assert_eq!(read(&file).unwrap(), None);
        assert_eq!(getcap(&getcap_path, &file), "");
    }

    #[test]
    fn unparseable_bytes_are_invalid_data() {
        // The kernel checks a value's size against its revision when it is set, so this is
        // what another kernel's (or a corrupt disk's) value reads as.
        let err = decode(&[2, 0, 0, 2, 0, 0]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            err.to_string(),
            "security.capability: revision 2 file capabilities take 20 bytes, not 6"
        );
    }
}
