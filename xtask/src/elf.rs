//! The proof that a binary is static, read from the ELF file itself rather than trusted to
//! `file` or `ldd` (ldd runs the loader we are trying not to need): no `PT_INTERP` program
//! header, and no `DT_NEEDED` entry in the dynamic section. A static-pie binary has a
//! `PT_DYNAMIC` for its own relocations but needs nothing, and passes.

use std::path::Path;

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;

pub fn check_static(path: &Path) -> crate::Result {
    let data =
        std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let problems =
        dynamic_dependencies(&data).map_err(|why| format!("{}: {why}", path.display()))?;
    if problems.is_empty() {
        eprintln!("{}: static (no PT_INTERP, no DT_NEEDED)", path.display());
        Ok(())
    } else {
        Err(format!(
            "{} is not static: {}",
            path.display(),
            problems.join(", ")
        ))
    }
}

/// That the binary was built for `expected` (an `EM_*`): a cross build that quietly produced
/// a host binary would pass every other check.
pub fn check_machine(path: &Path, expected: u16) -> crate::Result {
    let data =
        std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let found = machine(&data).map_err(|why| format!("{}: {why}", path.display()))?;
    if found == expected {
        eprintln!("{}: {}", path.display(), machine_name(found));
        Ok(())
    } else {
        Err(format!(
            "{} is for {}, not {}",
            path.display(),
            machine_name(found),
            machine_name(expected)
        ))
    }
}

/// The ELF header's e_machine.
pub fn machine(data: &[u8]) -> Result<u16, String> {
    if data.len() < 64 || &data[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if data[5] != 1 {
        return Err("not a little-endian ELF file".into());
    }
    read_u16(data, 0x12)
}

fn machine_name(machine: u16) -> String {
    match machine {
        EM_X86_64 => "x86_64".into(),
        EM_AARCH64 => "aarch64".into(),
        other => format!("ELF machine {other}"),
    }
}

/// What makes the binary depend on a loader: an interpreter and each DT_NEEDED entry.
pub fn dynamic_dependencies(data: &[u8]) -> Result<Vec<String>, String> {
    if data.len() < 64 || &data[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if data[4] != 2 || data[5] != 1 {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let phoff = read_u64(data, 0x20)? as usize;
    let phentsize = read_u16(data, 0x36)? as usize;
    let phnum = read_u16(data, 0x38)? as usize;
    let mut problems = Vec::new();
    for index in 0..phnum {
        let header = phoff + index * phentsize;
        let kind = read_u32(data, header)?;
        let offset = read_u64(data, header + 8)? as usize;
        let size = read_u64(data, header + 32)? as usize;
        match kind {
            PT_INTERP => {
                let interp = data
                    .get(offset..offset + size)
                    .ok_or("PT_INTERP out of bounds")?;
                let interp = String::from_utf8_lossy(interp)
                    .trim_end_matches('\0')
                    .to_string();
                problems.push(format!("PT_INTERP {interp}"));
            }
            PT_DYNAMIC => {
                for entry in (offset..offset + size).step_by(16) {
                    match read_u64(data, entry)? {
                        DT_NULL => break,
                        DT_NEEDED => problems.push(format!(
                            "DT_NEEDED (string offset {})",
                            read_u64(data, entry + 8)?
                        )),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(problems)
}

fn read_u16(data: &[u8], at: usize) -> Result<u16, String> {
    Ok(u16::from_le_bytes(field(data, at)?))
}

fn read_u32(data: &[u8], at: usize) -> Result<u32, String> {
    Ok(u32::from_le_bytes(field(data, at)?))
}

fn read_u64(data: &[u8], at: usize) -> Result<u64, String> {
    Ok(u64::from_le_bytes(field(data, at)?))
}

fn field<const N: usize>(data: &[u8], at: usize) -> Result<[u8; N], String> {
    data.get(at..at + N)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| format!("truncated ELF header at offset {at}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_system_binary_is_rejected() {
        // /bin/ls on any Debian host is dynamic: the check must say so.
        let data = std::fs::read("/bin/ls").expect("/bin/ls exists on Debian");
        let problems = dynamic_dependencies(&data).unwrap();
        assert!(
            problems.iter().any(|p| p.starts_with("PT_INTERP")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("DT_NEEDED")),
            "{problems:?}"
        );
        assert!(check_static(Path::new("/bin/ls")).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_pass() {
        assert!(dynamic_dependencies(b"#!/bin/sh\necho hi\n").is_err());
        let mut truncated = std::fs::read("/bin/ls").unwrap();
        truncated.truncate(80);
        assert!(dynamic_dependencies(&truncated).is_err());
    }

    #[test]
    fn the_machine_is_read_from_the_header() {
        let data = std::fs::read("/bin/ls").unwrap();
        let host = if cfg!(target_arch = "aarch64") {
            EM_AARCH64
        } else {
            EM_X86_64
        };
        assert_eq!(machine(&data), Ok(host));
        assert!(check_machine(Path::new("/bin/ls"), host).is_ok());
        let other = if host == EM_AARCH64 {
            EM_X86_64
        } else {
            EM_AARCH64
        };
        let err = check_machine(Path::new("/bin/ls"), other).unwrap_err();
        assert!(err.contains(" is for "), "{err}");
        assert!(machine(b"#!/bin/sh\n").is_err());
    }
}
