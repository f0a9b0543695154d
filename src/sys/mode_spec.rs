//! chmod mode specifications, parsed and applied exactly as GNU's `modechange.c` does: octal
//! (`755`, `2750`), symbolic clauses (`u+s,g-w,o=rx,a+X,+t`), copies (`g=u`), and the umask
//! applied when a clause names no `ugoa`. Owns parsing and the arithmetic on mode bits; it does
//! not touch files (chmod, install and mkdir -m call `adjust` on modes they stat'ed).
//!
//! GNU 8.32+'s directory rule is kept: an octal mode of fewer than five digits leaves a
//! directory's setuid and setgid bits alone unless it sets them (`chmod 755 dir` keeps `g+s`,
//! `chmod 00755 dir` clears it), and so does a symbolic clause that does not mention them.

const SUID: u32 = 0o4000;
const SGID: u32 = 0o2000;
const SVTX: u32 = 0o1000;
const USR: u32 = 0o700;
const GRP: u32 = 0o070;
const OTH: u32 = 0o007;
const READ: u32 = 0o444;
const WRITE: u32 = 0o222;
const EXEC: u32 = 0o111;
/// Every bit chmod can change.
pub const MODE_BITS: u32 = 0o7777;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Set,
    Add,
    Remove,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flag {
    /// `value` is used as it is.
    Ordinary,
    /// `value` selects permission bits of the file to copy (`g=u`).
    CopyExisting,
    /// `X`: execute bits only for directories or files that already have one.
    ExecIfAnyExec,
}

#[derive(Clone, Copy, Debug)]
struct Change {
    op: Op,
    flag: Flag,
    /// Bits named by `ugoa`; 0 means none were named and the umask limits the change.
    affected: u32,
    value: u32,
    /// Bits the clause names explicitly; the directory rule spares the others.
    mentioned: u32,
}

/// A compiled mode specification: one or more comma-separated clauses.
#[derive(Clone, Debug)]
pub struct ModeSpec {
    changes: Vec<Change>,
}

/// The specification was not a valid mode (GNU: `invalid mode: 'SPEC'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidMode;

impl ModeSpec {
    /// Parses an octal or symbolic mode as GNU chmod does.
    pub fn parse(spec: &str) -> Result<ModeSpec, InvalidMode> {
        let s = spec.as_bytes();
        if s.first().is_some_and(|b| (b'0'..b'8').contains(b)) {
            return parse_octal(s);
        }
        let mut changes = Vec::new();
        let mut i = 0;
        loop {
            let mut affected = parse_who(s, &mut i)?;
            while let Some(&op_byte) = s.get(i).filter(|b| matches!(b, b'=' | b'+' | b'-')) {
                i += 1;
                let op = match op_byte {
                    b'=' => Op::Set,
                    b'+' => Op::Add,
                    _ => Op::Remove,
                };
                let (flag, value, mentioned) = parse_perms(s, &mut i, &mut affected)?;
                let mentioned = if mentioned != 0 {
                    mentioned
                } else if affected != 0 {
                    affected & value
                } else {
                    value
                };
                changes.push(Change {
                    op,
                    flag,
                    affected,
                    value,
                    mentioned,
                });
            }
            match s.get(i) {
                Some(b',') => i += 1,
                None => return Ok(ModeSpec { changes }),
                Some(_) => return Err(InvalidMode),
            }
        }
    }

    /// `=MODE` for every bit: what `--reference` and octal modes compile to.
    pub fn equals(mode: u32, mentioned: u32) -> ModeSpec {
        ModeSpec {
            changes: vec![Change {
                op: Op::Set,
                flag: Flag::Ordinary,
                affected: MODE_BITS,
                value: mode & MODE_BITS,
                mentioned,
            }],
        }
    }

    /// The mode a file with `old` mode gets (GNU `mode_adjust`); only the low 12 bits of the
    /// answer are meaningful. `umask` limits clauses that name no `ugoa`.
    pub fn adjust(&self, old: u32, is_dir: bool, umask: u32) -> u32 {
        self.adjust_with_bits(old, is_dir, umask).0
    }

    /// [`adjust`](Self::adjust), and the mask of the bits the clauses set or cleared (GNU's
    /// `pmode_bits`): `mkdir -m` leaves the others as `mkdir(2)` made them.
    pub fn adjust_with_bits(&self, old: u32, is_dir: bool, umask: u32) -> (u32, u32) {
        let mut mode = old & MODE_BITS;
        let mut changed = 0;
        for change in &self.changes {
            let omit = if is_dir { SUID | SGID } else { 0 } & !change.mentioned;
            let mut value = change.value;
            match change.flag {
                Flag::Ordinary => {}
                Flag::CopyExisting => {
                    value &= mode;
                    value |= (if value & READ != 0 { READ } else { 0 })
                        | (if value & WRITE != 0 { WRITE } else { 0 })
                        | (if value & EXEC != 0 { EXEC } else { 0 });
                }
                Flag::ExecIfAnyExec => {
                    if mode & EXEC != 0 || is_dir {
                        value |= EXEC;
                    }
                }
            }
            let limit = if change.affected != 0 {
                change.affected
            } else {
                !umask
            };
            value &= limit & !omit;
            match change.op {
                Op::Set => {
                    let preserved = if change.affected != 0 {
                        !change.affected
                    } else {
                        0
                    } | omit;
                    changed |= !preserved;
                    mode = (mode & preserved) | value;
                }
                Op::Add => {
                    changed |= value;
                    mode |= value;
                }
                Op::Remove => {
                    changed |= value;
                    mode &= !value;
                }
            }
        }
        (mode & MODE_BITS, changed & MODE_BITS)
    }
}

/// An octal mode (`755`, `02750`): fewer than five digits spare a directory's setuid and
/// setgid bits unless they are set.
fn parse_octal(s: &[u8]) -> Result<ModeSpec, InvalidMode> {
    let mut octal: u32 = 0;
    for &b in s {
        if !(b'0'..b'8').contains(&b) {
            return Err(InvalidMode);
        }
        octal = octal * 8 + u32::from(b - b'0');
        if octal > MODE_BITS {
            return Err(InvalidMode);
        }
    }
    let mentioned = if s.len() < 5 {
        (octal & (SUID | SGID)) | SVTX | USR | GRP | OTH
    } else {
        MODE_BITS
    };
    Ok(ModeSpec::equals(octal, mentioned))
}

/// A clause's `ugoa` letters, up to its first operator: the bits they name (0 for none).
fn parse_who(s: &[u8], i: &mut usize) -> Result<u32, InvalidMode> {
    let mut affected = 0;
    loop {
        match s.get(*i) {
            Some(b'u') => affected |= SUID | USR,
            Some(b'g') => affected |= SGID | GRP,
            Some(b'o') => affected |= SVTX | OTH,
            Some(b'a') => affected |= MODE_BITS,
            Some(b'=' | b'+' | b'-') => return Ok(affected),
            _ => return Err(InvalidMode),
        }
        *i += 1;
    }
}

/// What follows an operator: octal digits (which must end the clause and name no `ugoa`),
/// a permission to copy (`u`, `g`, `o`), or `rwxXst` letters. The flag, the value, and the
/// bits the octal form mentions (0 for the others).
fn parse_perms(
    s: &[u8],
    i: &mut usize,
    affected: &mut u32,
) -> Result<(Flag, u32, u32), InvalidMode> {
    match s.get(*i) {
        Some(b) if (b'0'..b'8').contains(b) => {
            let mut octal: u32 = 0;
            while let Some(&d) = s.get(*i).filter(|b| (b'0'..b'8').contains(*b)) {
                octal = octal * 8 + u32::from(d - b'0');
                if octal > MODE_BITS {
                    return Err(InvalidMode);
                }
                *i += 1;
            }
            if *affected != 0 || s.get(*i).is_some_and(|&b| b != b',') {
                return Err(InvalidMode);
            }
            *affected = MODE_BITS;
            Ok((Flag::Ordinary, octal, MODE_BITS))
        }
        Some(&who @ (b'u' | b'g' | b'o')) => {
            *i += 1;
            let value = match who {
                b'u' => USR,
                b'g' => GRP,
                _ => OTH,
            };
            Ok((Flag::CopyExisting, value, 0))
        }
        _ => {
            let mut bits = 0;
            let mut flag = Flag::Ordinary;
            loop {
                match s.get(*i) {
                    Some(b'r') => bits |= READ,
                    Some(b'w') => bits |= WRITE,
                    Some(b'x') => bits |= EXEC,
                    Some(b'X') => flag = Flag::ExecIfAnyExec,
                    Some(b's') => bits |= SUID | SGID,
                    Some(b't') => bits |= SVTX,
                    _ => break,
                }
                *i += 1;
            }
            Ok((flag, bits, 0))
        }
    }
}

/// `rwxr-sr-t`: the nine permission characters `ls -l` shows, with s/S/t/T.
pub fn permission_string(mode: u32) -> String {
    let triple = |r: u32, w: u32, x: u32, special: u32, set: char, unset: char| {
        let mut out = String::with_capacity(3);
        out.push(if mode & r != 0 { 'r' } else { '-' });
        out.push(if mode & w != 0 { 'w' } else { '-' });
        out.push(match (mode & x != 0, mode & special != 0) {
            (true, true) => set,
            (false, true) => unset,
            (true, false) => 'x',
            (false, false) => '-',
        });
        out
    };
    let mut out = triple(0o400, 0o200, 0o100, SUID, 's', 'S');
    out += &triple(0o040, 0o020, 0o010, SGID, 's', 'S');
    out += &triple(0o004, 0o002, 0o001, SVTX, 't', 'T');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(spec: &str, old: u32, dir: bool, umask: u32) -> u32 {
        ModeSpec::parse(spec).unwrap().adjust(old, dir, umask)
    }

    #[test]
    fn octal_and_symbolic() {
        assert_eq!(apply("755", 0o600, false, 0o022), 0o755);
        assert_eq!(apply("u+x,g-w,o=r", 0o666, false, 0), 0o744);
        assert_eq!(apply("+w", 0o444, false, 0o022), 0o644);
        assert_eq!(apply("g=u", 0o640, false, 0), 0o660);
        assert_eq!(apply("a+X", 0o644, true, 0), 0o755);
        assert_eq!(apply("a+X", 0o644, false, 0), 0o644);
        assert_eq!(apply("a+X", 0o744, false, 0), 0o755);
        assert_eq!(apply("+t", 0o755, true, 0o022), 0o1755);
        assert_eq!(apply("u+s,g+s", 0o755, false, 0), 0o6755);
    }

    #[test]
    fn directory_keeps_setgid_for_short_octal() {
        assert_eq!(apply("755", 0o2775, true, 0), 0o2755);
        assert_eq!(apply("00755", 0o2775, true, 0), 0o755);
        assert_eq!(apply("755", 0o2775, false, 0), 0o755);
        assert_eq!(apply("=rx", 0o2775, true, 0), 0o2555);
    }

    #[test]
    fn invalid_specs() {
        for bad in ["", "8", "u", "u+q", "77777", "u+5", "a=r,", "x"] {
            assert!(ModeSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn permission_strings() {
        assert_eq!(permission_string(0o4755), "rwsr-xr-x");
        assert_eq!(permission_string(0o1644), "rw-r--r-T");
    }
}
