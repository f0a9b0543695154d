//! The console case, where every shell is gone (`init=/srv/rescue/bin/sh`): Debian's
//! `bash-static` as `KIT/bin/bash` (and `sh -> bash`), and ROOT's own loader and libc in
//! `KIT/lib/`, so that `KIT/lib/ld-linux-x86-64.so.2 --library-path KIT/lib /usr/bin/X` starts
//! a dynamic tool before anything is restored.
//!
//! `bash-static` is rarely installed, so its archive is trusted only through a Packages
//! index's SHA256 (ROOT's apt lists, or a `--from` mirror's index): the newest version those
//! know. `bin/.bash-static` remembers which archive the shell came from and the apt lists'
//! state then, so a refresh looks again only when the lists changed or the shell did.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::files;
use crate::dpkg::Database;
use crate::sources::{Archives, IndexEntry, Source, Wanted};
use crate::sys::debversion::compare_versions;
use crate::sys::root::{Last, Root};
use crate::{Error, Result};

/// The package and the file in it.
const BASH_STATIC: &str = "bash-static";
const BASH_STATIC_FILES: &[&str] = &["/bin/bash-static", "/usr/bin/bash-static"];
/// Beside `bin/bash`: what the last look depended on, then `VERSION SHA256 TRUST-OR-WHY`.
const MARKER: &str = ".bash-static";

/// ROOT's dpkg architecture: the `dpkg` package's, else `libc6`'s.
pub fn architecture(db: &Database) -> Option<String> {
    ["dpkg", "libc6"].iter().find_map(|name| {
        db.packages
            .iter()
            .find(|p| p.name == *name && p.architecture != "all")
            .map(|p| p.architecture.clone())
    })
}

/// The multiarch triplet and the loader's name of a dpkg architecture.
pub fn loader_of(architecture: &str) -> Option<(&'static str, &'static str)> {
    Some(match architecture {
        "amd64" => ("x86_64-linux-gnu", "ld-linux-x86-64.so.2"),
        "arm64" => ("aarch64-linux-gnu", "ld-linux-aarch64.so.1"),
        "i386" => ("i386-linux-gnu", "ld-linux.so.2"),
        "armhf" => ("arm-linux-gnueabihf", "ld-linux-armhf.so.3"),
        "ppc64el" => ("powerpc64le-linux-gnu", "ld64.so.2"),
        "s390x" => ("s390x-linux-gnu", "ld64.so.1"),
        "riscv64" => ("riscv64-linux-gnu", "ld-linux-riscv64-lp64d.so.1"),
        _ => return None,
    })
}

/// Copies ROOT's loader and `libc.so.6` into `lib` (a host path in the kit). Returns each name
/// with whether it was written (else unchanged).
pub fn copy_libs(root: &Root, lib: &Path, architecture: &str) -> Result<Vec<(String, bool)>> {
    let Some((triplet, loader)) = loader_of(architecture) else {
        return Err(Error::refused(
            lib,
            format!("no known loader for architecture {architecture}"),
        ));
    };
    files::ensure_dir(lib)?;
    let mut out = Vec::new();
    for name in [loader, "libc.so.6"] {
        let candidates = [
            format!("/usr/lib/{triplet}/{name}"),
            format!("/lib/{triplet}/{name}"),
        ];
        let mut last = None;
        let found = candidates.iter().find_map(|inside| {
            let inside = Path::new(inside);
            match root.open_regular(inside) {
                Ok(file) => Some((root.host_lexical(inside), file)),
                Err(err) => {
                    last = Some(Error::io("open", root.host_lexical(inside), err));
                    None
                }
            }
        });
        let Some((shown, file)) = found else {
            return Err(last.unwrap_or_else(|| Error::refused(lib, "no loader")));
        };
        let bytes = crate::sys::input::read_at_most(file, 64 << 20)
            .map_err(|err| Error::io("read", &shown, err))?;
        out.push((
            name.to_string(),
            files::write_atomic(&lib.join(name), &bytes, 0o755)?,
        ));
    }
    Ok(out)
}

/// Where `bin/bash` came from.
#[derive(Debug)]
pub enum Shell {
    /// Written now from this archive (version, trust).
    Written { version: String, trust: String },
    /// Already there from this version.
    Kept { version: String },
    /// Not available, and why.
    Unavailable(String),
}

/// Puts `bash-static`'s binary at `bin/bash` and `bin/sh -> bash` when a trusted archive of it
/// can be found in `sources`. The answer, found or not, is remembered in `bin/.bash-static`
/// with what it depended on (the apt lists' mtime, the sources): the next refresh looks again
/// only when one of those changed, or `bin/bash` did.
pub fn bash_static(root: &Root, db: &Database, bin: &Path, sources: Vec<Source>) -> Result<Shell> {
    let lists_mtime = root
        .resolve(Path::new("/var/lib/apt/lists"), Last::Follow)
        .and_then(fs::metadata)
        .map(|meta| meta.mtime())
        .unwrap_or(0);
    // Named as seen inside ROOT: a seed from the host (`--root`) and the hook's own run in
    // ROOT looked at the same sources.
    let looked_with: Vec<String> = sources
        .iter()
        .map(|source| match source {
            Source::Directory(dir) if !root.is_host_root() => dir
                .strip_prefix(root.dir())
                .map(|inside| Path::new("/").join(inside).display().to_string())
                .unwrap_or_else(|_| source.to_string()),
            _ => source.to_string(),
        })
        .collect();
    let looked_with = format!("{lists_mtime} {}", looked_with.join(" "));
    if let Some(shell) = remembered(bin, &looked_with) {
        return Ok(shell);
    }
    let shell = look_for_bash_static(root, db, bin, sources)?;
    let (version, sha256, detail) = match &shell {
        Shell::Written { version, trust } => (
            version.as_str(),
            files::sha256_file(&bin.join("bash"))?,
            trust.as_str(),
        ),
        Shell::Unavailable(why) => ("-", "-".to_string(), why.as_str()),
        Shell::Kept { .. } => return Ok(shell),
    };
    let marker = format!("{looked_with}\n{version}\t{sha256}\t{detail}\n");
    files::write_atomic(&bin.join(MARKER), marker.as_bytes(), 0o644)?;
    Ok(shell)
}

fn look_for_bash_static(
    root: &Root,
    db: &Database,
    bin: &Path,
    sources: Vec<Source>,
) -> Result<Shell> {
    let Some(architecture) = architecture(db) else {
        return Ok(Shell::Unavailable(
            "ROOT's architecture is not known".into(),
        ));
    };
    let installed = db
        .packages
        .iter()
        .find(|p| p.name == BASH_STATIC && p.state.has_files());
    let wanted_names: HashSet<String> = [BASH_STATIC.to_string()].into();
    let mut archives = Archives::new(
        root,
        sources,
        &wanted_names,
        std::slice::from_ref(&architecture),
    )?;
    let files = installed.map(|p| db.files(p)).transpose()?;
    let (version, package_arch) = match installed {
        Some(p) => (p.version.clone(), p.architecture.clone()),
        None => match newest(archives.known_versions(BASH_STATIC, &architecture)) {
            Some(entry) => (entry.version, entry.architecture),
            None => {
                return Ok(Shell::Unavailable(
                    "no Packages index (ROOT's apt lists, a --from mirror) knows bash-static"
                        .into(),
                ))
            }
        },
    };
    let wanted = Wanted {
        package: BASH_STATIC,
        version: &version,
        architecture: &package_arch,
        recorded_md5sums: files.as_ref().and_then(|f| f.md5sums.as_ref()),
        may_download: true,
    };
    let found = match archives.find(&wanted) {
        Ok(found) => found,
        Err(why) => {
            return Ok(Shell::Unavailable(format!(
                "{BASH_STATIC} {version}: {why}"
            )))
        }
    };
    let bash = bin.join("bash");
    let mut written = false;
    found.deb.for_each_entry(|entry, content| {
        if !written && BASH_STATIC_FILES.iter().any(|f| entry.path == Path::new(f)) {
            files::copy_atomic(&bash, content, 0o755)?;
            written = true;
        }
        Ok(())
    })?;
    if !written {
        return Ok(Shell::Unavailable(format!(
            "{BASH_STATIC} {version}: its archive holds no /bin/bash-static"
        )));
    }
    files::symlink_atomic(Path::new("bash"), &bin.join("sh"))?;
    Ok(Shell::Written {
        version,
        trust: found.trust.to_string(),
    })
}

/// The last answer, when it was found `looked_with` the same lists and sources and `bin/bash`
/// is still what it wrote.
fn remembered(bin: &Path, looked_with: &str) -> Option<Shell> {
    let marker = fs::read_to_string(bin.join(MARKER)).ok()?;
    let (first, rest) = marker.split_once('\n')?;
    if first != looked_with {
        return None;
    }
    let mut fields = rest.trim_end().splitn(3, '\t');
    let (version, sha256, detail) = (fields.next()?, fields.next()?, fields.next()?);
    if version == "-" {
        return Some(Shell::Unavailable(format!(
            "{detail} (as the last look found; the apt lists and sources have not changed)"
        )));
    }
    (files::sha256_file(&bin.join("bash")).ok()? == sha256
        && fs::read_link(bin.join("sh")).is_ok_and(|t| t == Path::new("bash")))
    .then(|| Shell::Kept {
        version: version.to_string(),
    })
}

/// The newest of the versions an index knows (dpkg's ordering).
fn newest(entries: Vec<IndexEntry>) -> Option<IndexEntry> {
    entries
        .into_iter()
        .max_by(|a, b| compare_versions(&a.version, &b.version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loaders_by_architecture() {
        assert_eq!(loader_of("amd64").unwrap().1, "ld-linux-x86-64.so.2");
        assert_eq!(loader_of("arm64").unwrap().1, "ld-linux-aarch64.so.1");
        assert!(loader_of("hurd-i386").is_none());
    }
}
