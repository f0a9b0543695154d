//! `rescue seed`: makes or refreshes the kit in `ROOT/DIR` (default `/srv/rescue`). Each part
//! is written only when it changed, so a refresh where nothing did reads a few small files
//! and the dpkg status, and hashes only the binary:
//!
//! - `rescue`: a copy of the running binary, checked against it by SHA256;
//! - `RESCUE.md`, `bin/APPLET -> ../rescue` for every applet;
//! - `debs/` ([`super::store`]), `baseline` ([`super::baseline`]), `state/` ([`super::state`]);
//! - `bin/bash`, `bin/sh`, `lib/` ([`super::console`]);
//! - `SHA256SUMS` of the files above it wrote (`sha256sum -c` from the kit directory).
//!
//! The kit directory is resolved inside ROOT, and refused when it is itself a symlink: a
//! planted `srv/rescue -> /` must not make seed write, or prune, anywhere but a kit.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use super::baseline::Baseline;
use super::console::{self, Shell};
use super::select::{self, Set};
use super::state::{self, Saved};
use super::store::{self, Refreshed};
use super::{files, hook, Kit};
use crate::dpkg::Database;
use crate::sources::header_cache::HeaderCache;
use crate::sources::{self, Source};
use crate::sys::root::{Last, Root};
use crate::{Error, Result};

/// The guide the kit carries.
const GUIDE: &str = include_str!("../../RESCUE.md");

pub struct Options {
    /// The kit directory inside ROOT (`--dir`).
    pub dir: PathBuf,
    pub set: Set,
    /// `--from` sources, searched after ROOT's apt cache.
    pub from: Vec<Source>,
    /// With `--hook`: the options the hook's own runs repeat (`--dir`, `--packages`, `--from`).
    pub hook: Option<Vec<OsString>>,
    /// The running binary (`/proc/self/exe`, or argv[0]).
    pub binary: PathBuf,
    /// Every applet's name, for `bin/`.
    pub applets: Vec<&'static str>,
    /// Seconds since the epoch, for `state/`'s version names.
    pub now: i64,
}

/// What a seed run did, part by part.
#[derive(Debug)]
pub struct Seeded {
    /// The kit as the host sees it.
    pub kit: PathBuf,
    /// Whether `rescue` was written (else it was already this binary).
    pub binary_written: bool,
    /// Files written among RESCUE.md, SHA256SUMS and the `bin/` links.
    pub small_files_written: usize,
    pub store: Refreshed,
    /// Archives of the store whose header index was made into ROOT's cache this run.
    pub indexed: usize,
    /// Names of `--packages` that match nothing installed.
    pub unknown: Vec<String>,
    pub state: Saved,
    pub shell: Shell,
    /// The loader and libc in `lib/`, each with whether it was written; or why not.
    pub libs: std::result::Result<Vec<(String, bool)>, String>,
    pub baseline: (PathBuf, usize),
    /// The hook snippets, each with whether it was written.
    pub hooks: Vec<(PathBuf, bool)>,
    /// Bytes in the kit's files (hard links to the apt cache counted: it is what the kit
    /// keeps alive once the cache is cleaned).
    pub size: u64,
}

/// The kit directory for `dir` inside ROOT, made when missing; refused when it is a symlink
/// or not a directory.
pub fn kit_dir(root: &Root, dir: &Path) -> Result<Kit> {
    let host = root
        .resolve(dir, Last::NoFollow)
        .map_err(|err| Error::io("resolve", root.host_lexical(dir), err))?;
    match fs::symlink_metadata(&host) {
        Ok(meta) if meta.file_type().is_symlink() => Err(Error::refused(
            &host,
            "the kit directory is a symlink; seed writes only into a real directory",
        )),
        Ok(meta) if !meta.is_dir() => Err(Error::refused(&host, "not a directory")),
        Ok(_) => Ok(Kit::at(&host)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(&host).map_err(|err| Error::io("create directory", &host, err))?;
            Ok(Kit::at(&host))
        }
        Err(err) => Err(Error::io("inspect", &host, err)),
    }
}

/// Makes or refreshes the kit.
pub fn seed(root: &Root, db: &Database, options: &Options) -> Result<Seeded> {
    let kit = kit_dir(root, &options.dir)?;
    let dir = kit.dir().to_path_buf();
    let (binary_sha, binary_written) = copy_binary(&options.binary, &dir.join("rescue"))?;
    let mut small = usize::from(files::write_atomic(
        &dir.join("RESCUE.md"),
        GUIDE.as_bytes(),
        0o644,
    )?);
    let bin = dir.join("bin");
    files::ensure_dir(&bin)?;
    for name in &options.applets {
        small += usize::from(files::symlink_atomic(
            Path::new("../rescue"),
            &bin.join(name),
        )?);
    }
    let mut all_sources = vec![Source::Directory(sources::apt_cache_dir(root))];
    all_sources.extend(options.from.iter().cloned());
    let (packages, unknown) = select::select(root, db, &options.set)?;
    let store = store::refresh(root, db, &kit.debs(), &packages, all_sources.clone())?;
    let indexed = index_archives(root, &kit.debs(), &store);
    let state = state::refresh(root, &kit.state(), options.now)?;
    let shell = console::bash_static(root, db, &bin, all_sources)?;
    let libs = match console::architecture(db) {
        Some(arch) => console::copy_libs(root, &dir.join("lib"), &arch).map_err(|e| e.to_string()),
        None => Err("ROOT's dpkg architecture is not known".to_string()),
    };
    let baseline = Baseline::record(root, db)?;
    baseline.write_if_changed(&kit.baseline())?;
    let hooks = match &options.hook {
        Some(args) => hook::install(root, &hook::command(&options.dir, args)?)?,
        None => Vec::new(),
    };
    small += usize::from(write_sums(&dir, &binary_sha, &store, &libs)?);
    Ok(Seeded {
        size: size_of(&dir),
        kit: dir,
        binary_written,
        small_files_written: small,
        store,
        indexed,
        unknown,
        state,
        shell,
        libs,
        baseline: (kit.baseline(), baseline.len()),
        hooks,
    })
}

/// Makes the header index of every archive in the store that ROOT's cache lacks, on every
/// core, so that on the bad day restore and verify compare without decompressing them (see
/// [`crate::sources::header_cache`]). Best effort: an archive that cannot be read is the
/// store's to report. Returns how many were made.
fn index_archives(root: &Root, debs: &Path, store: &Refreshed) -> usize {
    let cache = HeaderCache::open(root);
    let todo: Vec<&store::Entry> = store.entries().filter(|e| !cache.has(&e.sha256)).collect();
    let made = crate::sys::parallel::map(todo, 0, |entry| {
        let Ok(deb) = crate::deb::Deb::open(&debs.join(&entry.file)) else {
            return false;
        };
        let Ok(index) = deb.index() else {
            return false;
        };
        cache.put(&entry.sha256, &index);
        true
    });
    made.into_iter().filter(|made| *made).count()
}

/// Copies the running binary to `target` unless it is already there; either way checks that
/// `target` has the source's SHA256. Returns it, and whether it wrote.
fn copy_binary(source: &Path, target: &Path) -> Result<(String, bool)> {
    let source_sha = {
        let file = crate::sys::input::open_regular(source, Last::Follow)
            .map_err(|err| Error::io("open", source, err))?;
        sources::sha256_of(source, file)?
    };
    if files::sha256_file(target).is_ok_and(|sha| sha == source_sha) {
        return Ok((source_sha, false));
    }
    let file = crate::sys::input::open_regular(source, Last::Follow)
        .map_err(|err| Error::io("open", source, err))?;
    let (written, _) = files::copy_atomic(target, file, 0o755)?;
    let check = files::sha256_file(target)?;
    if written != source_sha || check != source_sha {
        let _ = fs::remove_file(target);
        return Err(Error::refused(
            target,
            format!("the copy's SHA256 {check} is not the running binary's {source_sha}"),
        ));
    }
    Ok((source_sha, true))
}

/// `SHA256SUMS` of the binary, RESCUE.md, `bin/bash`, `lib/*` and the store's archives (their
/// hashes from the store's index: nothing is hashed again).
fn write_sums(
    dir: &Path,
    binary_sha: &str,
    store: &Refreshed,
    libs: &std::result::Result<Vec<(String, bool)>, String>,
) -> Result<bool> {
    let guide_sha = crate::sources::sha256_of(Path::new("RESCUE.md"), GUIDE.as_bytes())?;
    let mut lines = vec![
        format!("{binary_sha}  rescue"),
        format!("{guide_sha}  RESCUE.md"),
    ];
    let mut extra: Vec<String> = Vec::new();
    if fs::symlink_metadata(dir.join("bin/bash")).is_ok_and(|m| m.is_file()) {
        extra.push("bin/bash".into());
    }
    for (name, _) in libs.iter().flatten() {
        extra.push(format!("lib/{name}"));
    }
    for name in extra {
        lines.push(format!("{}  {name}", files::sha256_file(&dir.join(&name))?));
    }
    let mut archives: Vec<&store::Entry> = store.entries().collect();
    archives.sort_by(|a, b| a.file.cmp(&b.file));
    lines.extend(
        archives
            .iter()
            .map(|e| format!("{}  debs/{}", e.sha256, e.file)),
    );
    let text = lines.join("\n") + "\n";
    files::write_atomic(&dir.join("SHA256SUMS"), text.as_bytes(), 0o644)
}

/// The bytes of every regular file under `dir`.
fn size_of(dir: &Path) -> u64 {
    let mut total = 0;
    files::walk(dir, |meta| {
        if meta.is_file() {
            total += meta.len();
        }
    });
    total
}
