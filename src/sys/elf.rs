//! Just enough of ELF to answer "will this start": the identification bytes (class, byte
//! order, OS ABI), `e_machine`, `PT_INTERP`, and the dynamic section's `DT_NEEDED`,
//! `DT_RPATH`, `DT_RUNPATH`, `DT_SONAME` and `DF_1_NODEFLIB`, its strings found through the
//! `PT_LOAD` segment that maps `DT_STRTAB`, as the loader finds them. Section headers are not
//! read (the loader never reads them either) except for the `PN_XNUM` program header count.
//!
//! Hand-written rather than the `object` crate: this is a few hundred lines, reads only the
//! bytes it needs with `pread` (never a whole 100 MB library), and every offset, size and
//! count is checked against the file's length, so a truncated or hostile file is an
//! [`ElfError`], never a panic or a huge allocation.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::FileExt;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;
const DT_FLAGS_1: u64 = 0x6fff_fffb;
const DF_1_NODEFLIB: u64 = 0x800;
const PN_XNUM: u16 = 0xffff;

/// The most program headers, dynamic entries and string bytes read from one file: far above
/// any real binary, low enough that a hostile header cannot make us allocate much.
const MAX_PHDRS: usize = 65_536;
const MAX_DYNAMIC_BYTES: u64 = 4 << 20;
const MAX_STRING: usize = 4096;
/// Real programs need a few hundred libraries at most; each name costs a read.
const MAX_NEEDED: usize = 4096;

/// Why a file is not an ELF object we can read.
#[derive(Debug)]
pub enum ElfError {
    Io(io::Error),
    /// No `\x7fELF` magic.
    NotElf,
    /// The file ends before something its headers point at.
    Truncated(&'static str),
    /// A header says something impossible.
    Malformed(String),
}

impl std::fmt::Display for ElfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ElfError::Io(err) => write!(f, "{}", crate::sys::errno::describe(err)),
            ElfError::NotElf => write!(f, "not an ELF file"),
            ElfError::Truncated(what) => write!(f, "truncated ELF file: {what} past its end"),
            ElfError::Malformed(what) => write!(f, "malformed ELF file: {what}"),
        }
    }
}

impl From<io::Error> for ElfError {
    fn from(err: io::Error) -> Self {
        ElfError::Io(err)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    Elf32,
    Elf64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endian {
    Little,
    Big,
}

/// What the loader compares before it accepts a library for a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Arch {
    pub class: Class,
    pub endian: Endian,
    pub machine: u16,
    pub osabi: u8,
    /// `e_flags`, for ARM's hard-float ABI.
    pub flags: u32,
}

/// One ELF file's loading facts.
#[derive(Clone, Debug, Default)]
pub struct Elf {
    pub arch: Option<Arch>,
    pub e_type: u16,
    /// `PT_INTERP`, without its NUL.
    pub interp: Option<OsString>,
    /// Whether it has a `PT_DYNAMIC` segment at all.
    pub dynamic: bool,
    pub needed: Vec<OsString>,
    pub soname: Option<OsString>,
    pub rpath: Option<OsString>,
    pub runpath: Option<OsString>,
    /// `DF_1_NODEFLIB`: its dependencies are not looked for in the cache and default dirs.
    pub nodeflib: bool,
}

/// Bytes read at an offset: a file (`pread`) or, for tests, a slice.
pub trait Source {
    fn size(&self) -> io::Result<u64>;
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl Source for std::fs::File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }
}

impl Source for [u8] {
    fn size(&self) -> io::Result<u64> {
        Ok(<[u8]>::len(self) as u64)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

/// A bounds-checked reader over a [`Source`] of known length.
struct Reader<'s, S: Source + ?Sized> {
    source: &'s S,
    len: u64,
    arch: Arch,
}

impl<S: Source + ?Sized> Reader<'_, S> {
    /// Exactly `size` bytes at `offset`, or `Truncated(what)` when the file is shorter.
    fn bytes(&self, offset: u64, size: u64, what: &'static str) -> Result<Vec<u8>, ElfError> {
        let end = offset
            .checked_add(size)
            .ok_or_else(|| ElfError::Malformed(format!("{what} at an impossible offset")))?;
        if end > self.len {
            return Err(ElfError::Truncated(what));
        }
        let size = usize::try_from(size).map_err(|_| ElfError::Truncated(what))?;
        let mut buf = vec![0; size];
        let mut done = 0;
        while done < size {
            match self.source.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => return Err(ElfError::Truncated(what)),
                Ok(n) => done += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(ElfError::Io(err)),
            }
        }
        Ok(buf)
    }

    fn u16(&self, b: &[u8], at: usize) -> u16 {
        let v = [b[at], b[at + 1]];
        match self.arch.endian {
            Endian::Little => u16::from_le_bytes(v),
            Endian::Big => u16::from_be_bytes(v),
        }
    }

    fn u32(&self, b: &[u8], at: usize) -> u32 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        match self.arch.endian {
            Endian::Little => u32::from_le_bytes(v),
            Endian::Big => u32::from_be_bytes(v),
        }
    }

    /// A word: 4 bytes in ELF32, 8 in ELF64.
    fn word(&self, b: &[u8], at: usize) -> u64 {
        match self.arch.class {
            Class::Elf32 => u64::from(self.u32(b, at)),
            Class::Elf64 => {
                let mut v = [0; 8];
                v.copy_from_slice(&b[at..at + 8]);
                match self.arch.endian {
                    Endian::Little => u64::from_le_bytes(v),
                    Endian::Big => u64::from_be_bytes(v),
                }
            }
        }
    }

    /// A NUL-terminated string at `offset`, at most [`MAX_STRING`] bytes and not past `limit`.
    fn string(&self, offset: u64, limit: u64, what: &'static str) -> Result<OsString, ElfError> {
        let room = limit.min(self.len).saturating_sub(offset);
        if room == 0 {
            return Err(ElfError::Truncated(what));
        }
        let want = room.min(MAX_STRING as u64);
        let bytes = self.bytes(offset, want, what)?;
        match bytes.iter().position(|&b| b == 0) {
            Some(end) => Ok(OsString::from_vec(bytes[..end].to_vec())),
            None if want < room => Err(ElfError::Malformed(format!("{what} is too long"))),
            None => Err(ElfError::Truncated(what)),
        }
    }
}

/// One program header.
#[derive(Clone, Copy, Debug)]
struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// The class, byte order, machine and OS ABI from the first 64 bytes of a file.
pub fn identify(head: &[u8]) -> Result<(Arch, u16), ElfError> {
    if head.len() < 4 || &head[..4] != b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    if head.len() < 20 {
        return Err(ElfError::Truncated("the ELF header"));
    }
    let class = match head[4] {
        1 => Class::Elf32,
        2 => Class::Elf64,
        other => return Err(ElfError::Malformed(format!("ELF class {other}"))),
    };
    let endian = match head[5] {
        1 => Endian::Little,
        2 => Endian::Big,
        other => return Err(ElfError::Malformed(format!("ELF data encoding {other}"))),
    };
    let mut arch = Arch {
        class,
        endian,
        machine: 0,
        osabi: head[7],
        flags: 0,
    };
    let order = |at: usize| match endian {
        Endian::Little => u16::from_le_bytes([head[at], head[at + 1]]),
        Endian::Big => u16::from_be_bytes([head[at], head[at + 1]]),
    };
    arch.machine = order(18);
    Ok((arch, order(16)))
}

/// Reads the loading facts of the ELF file in `source`.
pub fn read<S: Source + ?Sized>(source: &S) -> Result<Elf, ElfError> {
    let len = source.size()?;
    let mut head = vec![0; 64.min(len as usize)];
    let mut probe = Reader {
        source,
        len,
        arch: Arch {
            class: Class::Elf64,
            endian: Endian::Little,
            machine: 0,
            osabi: 0,
            flags: 0,
        },
    };
    if !head.is_empty() {
        head = probe.bytes(0, head.len() as u64, "the ELF header")?;
    }
    let (arch, e_type) = identify(&head)?;
    probe.arch = arch;
    let header_size = match arch.class {
        Class::Elf32 => 52,
        Class::Elf64 => 64,
    };
    let header = probe.bytes(0, header_size, "the ELF header")?;
    let (phoff, flags_at, phentsize_at) = match arch.class {
        Class::Elf32 => (probe.word(&header, 28), 36, 42),
        Class::Elf64 => (probe.word(&header, 32), 48, 54),
    };
    probe.arch.flags = probe.u32(&header, flags_at);
    let reader = probe;
    let phentsize = reader.u16(&header, phentsize_at);
    let mut phnum = usize::from(reader.u16(&header, phentsize_at + 2));
    if phnum == usize::from(PN_XNUM) {
        phnum = extended_phnum(&reader, &header)?;
    }
    let segments = program_headers(&reader, phoff, phentsize, phnum)?;
    let mut elf = Elf {
        arch: Some(reader.arch),
        e_type,
        ..Elf::default()
    };
    if let Some(interp) = segments.iter().find(|s| s.kind == PT_INTERP) {
        let end = interp.offset.saturating_add(interp.filesz);
        let path = reader.string(interp.offset, end, "the interpreter (PT_INTERP)")?;
        if path.is_empty() {
            return Err(ElfError::Malformed("an empty PT_INTERP".into()));
        }
        elf.interp = Some(path);
    }
    if let Some(dynamic) = segments.iter().find(|s| s.kind == PT_DYNAMIC) {
        elf.dynamic = true;
        read_dynamic(&reader, dynamic, &segments, &mut elf)?;
    }
    Ok(elf)
}

/// `e_phnum` was `PN_XNUM`: the real count is section header 0's `sh_info`.
fn extended_phnum<S: Source + ?Sized>(
    reader: &Reader<S>,
    header: &[u8],
) -> Result<usize, ElfError> {
    let (shoff, info_at, size) = match reader.arch.class {
        Class::Elf32 => (reader.word(header, 32), 28, 40),
        Class::Elf64 => (reader.word(header, 40), 44, 64),
    };
    let section = reader.bytes(shoff, size, "the first section header")?;
    Ok(reader.u32(&section, info_at) as usize)
}

fn program_headers<S: Source + ?Sized>(
    reader: &Reader<S>,
    phoff: u64,
    phentsize: u16,
    phnum: usize,
) -> Result<Vec<Segment>, ElfError> {
    let (min, class) = match reader.arch.class {
        Class::Elf32 => (32, Class::Elf32),
        Class::Elf64 => (56, Class::Elf64),
    };
    if phnum == 0 {
        return Ok(Vec::new());
    }
    if usize::from(phentsize) < min || phnum > MAX_PHDRS {
        return Err(ElfError::Malformed(format!(
            "{phnum} program headers of {phentsize} bytes"
        )));
    }
    let size = u64::from(phentsize) * phnum as u64;
    let table = reader.bytes(phoff, size, "the program headers")?;
    let mut out = Vec::with_capacity(phnum);
    for entry in table.chunks_exact(usize::from(phentsize)) {
        let segment = match class {
            Class::Elf32 => Segment {
                kind: reader.u32(entry, 0),
                offset: reader.word(entry, 4),
                vaddr: reader.word(entry, 8),
                filesz: reader.word(entry, 16),
            },
            Class::Elf64 => Segment {
                kind: reader.u32(entry, 0),
                offset: reader.word(entry, 8),
                vaddr: reader.word(entry, 16),
                filesz: reader.word(entry, 32),
            },
        };
        out.push(segment);
    }
    Ok(out)
}

/// The file offset of a virtual address, through the `PT_LOAD` segment that maps it.
fn file_offset(segments: &[Segment], vaddr: u64) -> Option<(u64, u64)> {
    segments
        .iter()
        .filter(|s| s.kind == PT_LOAD)
        .find(|s| vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz)
        .map(|s| {
            let into = vaddr - s.vaddr;
            (s.offset.saturating_add(into), s.filesz - into)
        })
}

fn read_dynamic<S: Source + ?Sized>(
    reader: &Reader<S>,
    dynamic: &Segment,
    segments: &[Segment],
    elf: &mut Elf,
) -> Result<(), ElfError> {
    let entry = match reader.arch.class {
        Class::Elf32 => 8,
        Class::Elf64 => 16,
    };
    let size = dynamic.filesz.min(MAX_DYNAMIC_BYTES) / entry * entry;
    let table = reader.bytes(dynamic.offset, size, "the dynamic section")?;
    let half = entry as usize / 2;
    let (mut needed, mut soname, mut rpath, mut runpath) = (Vec::new(), None, None, None);
    let (mut strtab, mut strsz) = (None, None);
    for pair in table.chunks_exact(entry as usize) {
        let (tag, value) = (reader.word(pair, 0), reader.word(pair, half));
        match tag {
            DT_NULL => break,
            DT_NEEDED if needed.len() == MAX_NEEDED => {
                return Err(ElfError::Malformed(format!(
                    "more than {MAX_NEEDED} DT_NEEDED entries"
                )))
            }
            DT_NEEDED => needed.push(value),
            DT_SONAME => soname = Some(value),
            DT_RPATH => rpath = Some(value),
            DT_RUNPATH => runpath = Some(value),
            DT_STRTAB => strtab = Some(value),
            DT_STRSZ => strsz = Some(value),
            DT_FLAGS_1 => elf.nodeflib = value & DF_1_NODEFLIB != 0,
            _ => {}
        }
    }
    let wanted = needed.len() + usize::from(soname.is_some()) + usize::from(rpath.is_some());
    if wanted + usize::from(runpath.is_some()) == 0 {
        return Ok(());
    }
    let strtab = strtab.ok_or_else(|| ElfError::Malformed("strings without DT_STRTAB".into()))?;
    let (offset, mapped) = file_offset(segments, strtab).ok_or_else(|| {
        ElfError::Malformed(format!("DT_STRTAB {strtab:#x} is in no loaded segment"))
    })?;
    let size = strsz.unwrap_or(mapped).min(mapped);
    let string = |index: u64| -> Result<OsString, ElfError> {
        if index >= size {
            return Err(ElfError::Malformed(format!(
                "string {index} is past the string table's {size} bytes"
            )));
        }
        reader.string(offset + index, offset + size, "the dynamic string table")
    };
    elf.needed = needed.into_iter().map(string).collect::<Result<_, _>>()?;
    elf.soname = soname.map(string).transpose()?;
    elf.rpath = rpath.map(string).transpose()?;
    elf.runpath = runpath.map(string).transpose()?;
    Ok(())
}

/// The multiarch triplet Debian uses for libraries of this architecture.
pub fn triplet(arch: &Arch) -> Option<&'static str> {
    let little = arch.endian == Endian::Little;
    Some(match (arch.machine, arch.class) {
        (62, Class::Elf64) => "x86_64-linux-gnu",
        (62, Class::Elf32) => "x86_64-linux-gnux32",
        (3, _) => "i386-linux-gnu",
        (183, _) => "aarch64-linux-gnu",
        (40, _) if arch.flags & 0x400 != 0 => "arm-linux-gnueabihf",
        (40, _) => "arm-linux-gnueabi",
        (21, _) if little => "powerpc64le-linux-gnu",
        (21, _) => "powerpc64-linux-gnu",
        (20, _) => "powerpc-linux-gnu",
        (22, _) => "s390x-linux-gnu",
        (243, Class::Elf64) => "riscv64-linux-gnu",
        (258, _) => "loongarch64-linux-gnu",
        (8, Class::Elf64) if little => "mips64el-linux-gnuabi64",
        (8, _) if little => "mipsel-linux-gnu",
        (8, _) => "mips-linux-gnu",
        _ => return None,
    })
}

/// The name of a machine for messages: `x86-64`, `i386`, `aarch64`, or `machine N`.
pub fn machine_name(machine: u16) -> String {
    match machine {
        3 => "i386".into(),
        8 => "mips".into(),
        20 => "powerpc".into(),
        21 => "powerpc64".into(),
        22 => "s390".into(),
        40 => "arm".into(),
        62 => "x86-64".into(),
        183 => "aarch64".into(),
        243 => "riscv".into(),
        258 => "loongarch".into(),
        other => format!("machine {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 LE executable: header, PT_INTERP, PT_LOAD, PT_DYNAMIC, strings.
    pub(crate) fn tiny(class: Class, machine: u16) -> Vec<u8> {
        assert_eq!(class, Class::Elf64);
        let mut f = vec![0u8; 0x200];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&2u16.to_le_bytes());
        f[18..20].copy_from_slice(&machine.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&3u16.to_le_bytes());
        let phdr = |f: &mut Vec<u8>, i: usize, kind: u32, off: u64, vaddr: u64, size: u64| {
            let at = 64 + i * 56;
            f[at..at + 4].copy_from_slice(&kind.to_le_bytes());
            f[at + 8..at + 16].copy_from_slice(&off.to_le_bytes());
            f[at + 16..at + 24].copy_from_slice(&vaddr.to_le_bytes());
            f[at + 32..at + 40].copy_from_slice(&size.to_le_bytes());
        };
        phdr(&mut f, 0, PT_INTERP, 0x100, 0, 11);
        phdr(&mut f, 1, PT_LOAD, 0, 0x1000, 0x200);
        phdr(&mut f, 2, PT_DYNAMIC, 0x140, 0, 64);
        f[0x100..0x10b].copy_from_slice(b"/lib/ld.so\0");
        let strings = b"\0libc.so.6\0$ORIGIN/../lib\0";
        f[0x180..0x180 + strings.len()].copy_from_slice(strings);
        let dyns: [(u64, u64); 4] = [(1, 1), (29, 11), (5, 0x1180), (10, 26)];
        for (i, (tag, val)) in dyns.iter().enumerate() {
            let at = 0x140 + i * 16;
            f[at..at + 8].copy_from_slice(&tag.to_le_bytes());
            f[at + 8..at + 16].copy_from_slice(&val.to_le_bytes());
        }
        f
    }

    #[test]
    fn reads_interp_needed_and_runpath() {
        let file = tiny(Class::Elf64, 62);
        let elf = read(file.as_slice()).unwrap();
        assert_eq!(elf.interp.as_deref(), Some("/lib/ld.so".as_ref()));
        assert_eq!(elf.needed, vec![OsString::from("libc.so.6")]);
        assert_eq!(elf.runpath.as_deref(), Some("$ORIGIN/../lib".as_ref()));
        assert_eq!(elf.arch.unwrap().machine, 62);
        assert_eq!(triplet(&elf.arch.unwrap()), Some("x86_64-linux-gnu"));
    }

    #[test]
    fn every_truncation_is_an_error_never_a_panic() {
        let file = tiny(Class::Elf64, 62);
        for cut in 0..file.len() {
            let result = read(&file[..cut]);
            if cut >= 4 {
                assert!(
                    !matches!(result, Err(ElfError::NotElf)),
                    "cut {cut}: {result:?}"
                );
            }
        }
        assert!(matches!(read(&b"hello"[..]), Err(ElfError::NotElf)));
    }

    #[test]
    fn hostile_offsets_and_counts_are_errors() {
        let mut file = tiny(Class::Elf64, 62);
        // Every byte of the headers and dynamic section flipped in turn: no panic.
        for at in 0..0x1c0 {
            for value in [0u8, 0xff, 0x80] {
                let saved = file[at];
                file[at] = value;
                let _ = read(file.as_slice());
                file[at] = saved;
            }
        }
        file[56..58].copy_from_slice(&0xfffeu16.to_le_bytes());
        assert!(read(file.as_slice()).is_err());
    }
}
