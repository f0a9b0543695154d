//! Where archives come from and why each one is trusted.
//!
//! A source is a directory of `.deb`s (ROOT's `var/cache/apt/archives` by default; file names
//! are only a hint, the control data decides), a mirror tree (`dists/` + `pool/`), or an
//! `http://` mirror. An archive is used only when it is the installed version (package,
//! version with epoch, architecture) and one of these holds:
//!
//! - [`ArchiveTrust::PackagesIndexSha256`]: its SHA256 equals a Packages index entry: ROOT's
//!   `var/lib/apt/lists` (apt checked them against the signed Release files) first, else the
//!   mirror's own index;
//! - [`ArchiveTrust::ControlMd5sumsMatchDatabase`]: no index knows it, but the md5sums in its
//!   own `control.tar` equal the md5sums ROOT's dpkg database recorded at install time.
//!
//! An archive an index knows whose SHA256 differs is refused outright (no fallback): it is not
//! what was published. The restorer adds a last check per file: each file's md5 must equal
//! ROOT's recorded md5 for that path, whatever the archive's trust.
//!
//! [`resolve()`] pairs a run's packages with their archives once, for verify and restore alike.

pub mod apt_sources;
pub mod header_cache;
pub mod http;
pub mod index;
pub mod resolve;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::deb::Deb;
use crate::dpkg::digest_hex;
use crate::sys::quoting::escape;
use crate::sys::root::{Last, Root};
use crate::{Error, Result};
pub use index::{Index, IndexEntry};
pub use resolve::{resolve, NoArchive, PackageArchive, Resolved};

/// One `--from` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Directory(PathBuf),
    Mirror(PathBuf),
    Http(String),
}

impl Source {
    /// `http://...` is a mirror over HTTP; a directory with `dists/` is a mirror tree; any other
    /// directory holds `.deb`s.
    pub fn parse(arg: &str) -> Result<Source> {
        if arg.starts_with("http://") {
            return Ok(Source::Http(arg.trim_end_matches('/').to_string()));
        }
        if arg.starts_with("https://") {
            return Err(Error::refused(
                arg,
                "https is not supported (no TLS in a static rescue binary); use the http:// URL: archives are checked by SHA256, not by transport",
            ));
        }
        let path = PathBuf::from(arg);
        if path.join("dists").is_dir() {
            return Ok(Source::Mirror(path));
        }
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => Ok(Source::Directory(path)),
            Ok(_) => Err(Error::refused(
                &path,
                "not a directory, a mirror tree or an http:// URL",
            )),
            Err(err) => Err(Error::io("read", &path, err)),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Directory(path) => write!(f, "{}", escape(path)),
            Source::Mirror(path) => write!(f, "mirror {}", escape(path)),
            Source::Http(url) => write!(f, "{url}"),
        }
    }
}

/// Why an archive was accepted; the plan prints it beside each package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArchiveTrust {
    PackagesIndexSha256 { index: String },
    ControlMd5sumsMatchDatabase,
}

impl fmt::Display for ArchiveTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArchiveTrust::PackagesIndexSha256 { index } => write!(f, "SHA256 matches {index}"),
            ArchiveTrust::ControlMd5sumsMatchDatabase => {
                write!(f, "its md5sums equal the ones dpkg recorded at install")
            }
        }
    }
}

/// The installed package an archive must match.
#[derive(Clone, Copy, Debug)]
pub struct Wanted<'a> {
    pub package: &'a str,
    pub version: &'a str,
    pub architecture: &'a str,
    /// ROOT's recorded md5sums (absolute paths), when the database has them.
    pub recorded_md5sums: Option<&'a HashMap<PathBuf, [u8; 16]>>,
    /// Whether an HTTP source may download the archive. Restore sets it only for packages it
    /// knows are broken: checking the metadata of every intact package is not worth fetching
    /// the whole distribution. An archive already downloaded is used either way.
    pub may_download: bool,
}

/// A trusted archive of the installed version.
#[derive(Debug)]
pub struct Found {
    pub deb: Deb,
    pub trust: ArchiveTrust,
    /// The archive's SHA256 when trusting it needed one (the key of its header index).
    pub sha256: Option<String>,
}

/// Why no archive could be used: nothing found, or what was found was refused (and why).
#[derive(Debug, Default)]
pub struct Unavailable {
    pub refused: Vec<(PathBuf, String)>,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.refused.is_empty() {
            return write!(f, "no archive of this version in the sources");
        }
        let reasons: Vec<String> = self
            .refused
            .iter()
            .map(|(path, why)| format!("{} refused: {why}", escape(path)))
            .collect();
        write!(f, "{}", reasons.join("; "))
    }
}

/// The sources of one run, with their indexes loaded once.
pub struct Archives {
    root: Root,
    sources: Vec<(Source, Index)>,
    /// ROOT's apt lists: the most trusted hashes. Read on first need: a verify of a host
    /// whose apt cache is empty never pays for parsing them.
    root_index: Option<Index>,
    wanted: HashSet<String>,
    /// Directory listings and, after a full scan, the control identity of each file in them.
    scanned: HashMap<PathBuf, Vec<(PathBuf, Option<index::Key>)>>,
    apt_cache: AptCache,
    /// Inputs that could not be read at all (a FIFO where an apt list or an archive should
    /// be, EIO): not a verdict on any one package, so reported once by the caller.
    problems: Vec<Error>,
}

/// Where ROOT's apt lists are, inside ROOT.
const APT_LISTS: &str = "/var/lib/apt/lists";

/// ROOT's apt cache (`var/cache/apt/archives`): the default source, and where HTTP downloads
/// land, as apt's would. Its archives are opened inside ROOT: an absolute symlink among them
/// leads to ROOT's file of that name, never the host's.
struct AptCache {
    /// The directory resolved inside ROOT, as the host sees it.
    host: PathBuf,
    inside: PathBuf,
}

impl AptCache {
    fn of(root: &Root) -> AptCache {
        let inside = Path::new("/var/cache/apt/archives");
        let resolved = root
            .resolve_inside(inside, Last::Follow)
            .unwrap_or_else(|_| inside.to_path_buf());
        AptCache {
            host: root.host_lexical(&resolved),
            inside: resolved,
        }
    }

    /// The archive at `path`: inside ROOT when `path` is in the apt cache or anywhere else
    /// under ROOT (the seeded kit's store), else a host path (`--from`), whose symlinks the
    /// kernel follows. Only a regular file is read either way.
    fn open(&self, root: &Root, path: &Path) -> Result<Deb> {
        let inside = match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) if dir == self.host => Some(self.inside.join(name)),
            _ if !root.is_host_root() => path
                .strip_prefix(root.dir())
                .ok()
                .map(|relative| Path::new("/").join(relative)),
            _ => None,
        };
        match inside {
            Some(inside) => {
                let file = root
                    .open_regular(&inside)
                    .map_err(|err| Error::io("open", path, err))?;
                Deb::from_file(path, file)
            }
            None => Deb::open(path),
        }
    }
}

/// ROOT's apt cache as the host sees it (resolved inside ROOT): the default source.
pub fn apt_cache_dir(root: &Root) -> PathBuf {
    AptCache::of(root).host
}

impl Archives {
    /// Loads each mirror's indexes for the packages in `wanted` (ROOT's apt lists are read
    /// on first need). Archives fetched over HTTP land in ROOT's apt cache.
    pub fn new(
        root: &Root,
        sources: Vec<Source>,
        wanted: &HashSet<String>,
        architectures: &[String],
    ) -> Result<Archives> {
        let want = |name: &str| wanted.contains(name);
        let mut loaded = Vec::new();
        for source in sources {
            let mut index = Index::default();
            match &source {
                Source::Directory(_) => {}
                Source::Mirror(dir) => load_mirror_indexes(dir, &mut index, &want)?,
                Source::Http(url) => {
                    load_http_indexes(root, url, architectures, &mut index, &want)?
                }
            }
            loaded.push((source, index));
        }
        Ok(Archives {
            root: root.clone(),
            sources: loaded,
            root_index: None,
            wanted: wanted.clone(),
            scanned: HashMap::new(),
            apt_cache: AptCache::of(root),
            problems: Vec::new(),
        })
    }

    /// The archives for `packages` of ROOT: from `sources`, or ROOT's apt cache when none is
    /// given; HTTP downloads land in ROOT's apt cache, as apt's would. Callers go through
    /// [`resolve()`], which walks the packages once.
    fn for_installed(
        root: &crate::sys::root::Root,
        sources: Vec<Source>,
        packages: &[&crate::dpkg::Package],
    ) -> Result<Archives> {
        let sources = if sources.is_empty() {
            vec![Source::Directory(AptCache::of(root).host)]
        } else {
            sources
        };
        let names: HashSet<String> = packages.iter().map(|p| p.name.clone()).collect();
        let mut architectures: Vec<String> = packages
            .iter()
            .map(|p| p.architecture.clone())
            .filter(|a| a != "all" && !a.is_empty())
            .collect();
        architectures.sort();
        architectures.dedup();
        Archives::new(root, sources, &names, &architectures)
    }

    pub fn sources(&self) -> impl Iterator<Item = &Source> {
        self.sources.iter().map(|(source, _)| source)
    }

    /// The inputs that could not be read so far (see [`Archives`]'s `problems`), handed over
    /// once.
    pub fn take_problems(&mut self) -> Vec<Error> {
        std::mem::take(&mut self.problems)
    }

    /// Whether any source may hold `wanted`'s archive: a file of a directory named or
    /// identified as it, an entry of a mirror's index. Nothing is hashed, trusted or
    /// downloaded: a `false` spares [`Archives::find`] and reading the package's lists.
    pub fn may_hold(&mut self, wanted: &Wanted) -> bool {
        for position in 0..self.sources.len() {
            let (source, index) = &self.sources[position];
            let held = match source {
                Source::Directory(dir) => {
                    let dir = dir.clone();
                    !self.directory_candidates(&dir, wanted).is_empty()
                }
                Source::Mirror(_) | Source::Http(_) => index
                    .get(wanted.package, wanted.version, wanted.architecture)
                    .is_some(),
            };
            if held {
                return true;
            }
        }
        false
    }

    /// The trusted archive of exactly the installed version, or why there is none.
    pub fn find(&mut self, wanted: &Wanted) -> std::result::Result<Found, Unavailable> {
        let mut unavailable = Unavailable::default();
        for position in 0..self.sources.len() {
            let candidates = self.candidates(position, wanted, &mut unavailable);
            for (path, mirror_hash) in candidates {
                let known = self
                    .root_index()
                    .get(wanted.package, wanted.version, wanted.architecture)
                    .map(|(entry, origin)| (entry.sha256.clone(), origin.to_string()));
                let expected = known.or(mirror_hash);
                let deb = match self.apt_cache.open(&self.root, &path) {
                    Ok(deb) => deb,
                    Err(err) => {
                        unavailable.refused.push((path, err.to_string()));
                        if matches!(err, Error::Io { .. }) {
                            self.problems.push(err);
                        }
                        continue;
                    }
                };
                match accept(deb, wanted, expected.as_ref()) {
                    Ok(found) => return Ok(found),
                    Err(Rejection::NotThisVersion) => {}
                    Err(Rejection::Refused(why)) => unavailable.refused.push((path, why)),
                }
            }
        }
        Err(unavailable)
    }

    /// Every version of a package not installed (`bash-static` for the kit) that ROOT's apt
    /// lists or the mirrors' indexes know, for `architecture` or `all`.
    pub fn known_versions(&mut self, package: &str, architecture: &str) -> Vec<IndexEntry> {
        let mut out: Vec<IndexEntry> = self
            .root_index()
            .versions_of(package, architecture)
            .into_iter()
            .cloned()
            .collect();
        for (_, index) in &self.sources {
            out.extend(
                index
                    .versions_of(package, architecture)
                    .into_iter()
                    .cloned(),
            );
        }
        out
    }

    fn root_index(&mut self) -> &Index {
        let (root, wanted, problems) = (&self.root, &self.wanted, &mut self.problems);
        self.root_index.get_or_insert_with(|| {
            let mut index = Index::default();
            let lists = Path::new(APT_LISTS);
            let mut names: Vec<std::ffi::OsString> = root
                .resolve(lists, Last::Follow)
                .and_then(std::fs::read_dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name())
                .filter(|n| n.to_string_lossy().contains("_Packages"))
                .collect();
            names.sort();
            for name in names {
                let inside = lists.join(&name);
                let shown = root.host_lexical(&inside);
                // A damaged list only loses us its hashes (the md5sums path still works);
                // one that cannot be read at all is reported too.
                match root.open_regular(&inside) {
                    Ok(file) => {
                        let _ = index.add_opened(&shown, file, &|name| wanted.contains(name));
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => problems.push(Error::io("read", shown, err)),
                }
            }
            index
        })
    }

    /// Files in source `position` that may hold the wanted version, each with the hash the
    /// source's own index gives it (mirrors only).
    fn candidates(
        &mut self,
        position: usize,
        wanted: &Wanted,
        unavailable: &mut Unavailable,
    ) -> Vec<(PathBuf, Option<(String, String)>)> {
        let (source, index) = &self.sources[position];
        match source {
            Source::Directory(dir) => {
                let dir = dir.clone();
                self.directory_candidates(&dir, wanted)
                    .into_iter()
                    .map(|path| (path, None))
                    .collect()
            }
            Source::Mirror(dir) => index
                .get(wanted.package, wanted.version, wanted.architecture)
                .map(|(entry, origin)| {
                    vec![(
                        dir.join(&entry.filename),
                        Some((entry.sha256.clone(), origin.to_string())),
                    )]
                })
                .unwrap_or_default(),
            Source::Http(url) => {
                let Some((entry, origin)) =
                    index.get(wanted.package, wanted.version, wanted.architecture)
                else {
                    return Vec::new();
                };
                let (entry, origin) = (entry.clone(), origin.to_string());
                if !wanted.may_download {
                    return already_downloaded(&self.root, &self.apt_cache, &entry)
                        .map(|path| vec![(path, Some((entry.sha256.clone(), origin)))])
                        .unwrap_or_default();
                }
                match download(&self.root, &self.apt_cache, url, &entry) {
                    Ok(path) => vec![(path, Some((entry.sha256, origin)))],
                    Err(why) => {
                        unavailable
                            .refused
                            .push((PathBuf::from(format!("{url}/{}", entry.filename)), why));
                        Vec::new()
                    }
                }
            }
        }
    }

    /// Files named like the package first (`NAME_*.deb`); when none of those is the wanted
    /// version, every other `.deb` in the directory, identified by its control data once.
    fn directory_candidates(&mut self, dir: &Path, wanted: &Wanted) -> Vec<PathBuf> {
        let (root, apt_cache) = (&self.root, &self.apt_cache);
        let listing = self.scanned.entry(dir.to_path_buf()).or_insert_with(|| {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|e| e == "deb"))
                .collect();
            files.sort();
            files.into_iter().map(|path| (path, None)).collect()
        });
        let prefix = format!("{}_", wanted.package);
        let named = |path: &Path| {
            path.file_name()
                .map(|n| n.to_string_lossy().starts_with(&prefix))
                .unwrap_or(false)
        };
        let mut out: Vec<PathBuf> = listing
            .iter()
            .filter(|(p, _)| named(p))
            .map(|(p, _)| p.clone())
            .collect();
        // Identify the others by content, once per directory, and keep the matches.
        for (path, identity) in listing.iter_mut().filter(|(p, _)| !named(p)) {
            if identity.is_none() {
                *identity = apt_cache.open(root, path).ok().map(|deb| {
                    let control = deb.control();
                    (
                        control.package().to_string(),
                        control.version().to_string(),
                        control.architecture().to_string(),
                    )
                });
            }
            if let Some((package, version, architecture)) = identity {
                if package == wanted.package
                    && version == wanted.version
                    && architecture == wanted.architecture
                {
                    out.push(path.clone());
                }
            }
        }
        out
    }
}

enum Rejection {
    /// A different package or version: not an error, just not the one.
    NotThisVersion,
    Refused(String),
}

fn accept(
    deb: Deb,
    wanted: &Wanted,
    expected: Option<&(String, String)>,
) -> std::result::Result<Found, Rejection> {
    let control = deb.control();
    if control.package() != wanted.package {
        return Err(Rejection::NotThisVersion);
    }
    if control.version() != wanted.version || control.architecture() != wanted.architecture {
        // Named like ours but another version: say so only if it was the sole hope.
        return Err(Rejection::Refused(format!(
            "it is version {} ({}), the installed one is {} ({})",
            control.version(),
            control.architecture(),
            wanted.version,
            wanted.architecture
        )));
    }
    let mut hashed = None;
    let trust = match expected {
        Some((sha256, origin)) => {
            let actual = sha256_of(deb.path(), deb.reader())
                .map_err(|err| Rejection::Refused(err.to_string()))?;
            if &actual != sha256 {
                return Err(Rejection::Refused(format!(
                    "SHA256 {actual} does not match {sha256} from {origin}"
                )));
            }
            hashed = Some(actual);
            ArchiveTrust::PackagesIndexSha256 {
                index: origin.clone(),
            }
        }
        None => match wanted.recorded_md5sums {
            Some(recorded) if !recorded.is_empty() && same_md5sums(recorded, &control.md5sums) => {
                ArchiveTrust::ControlMd5sumsMatchDatabase
            }
            Some(recorded) if !recorded.is_empty() => return Err(Rejection::Refused(
                "no Packages index knows it, and its md5sums differ from the ones dpkg recorded"
                    .into(),
            )),
            _ => {
                return Err(Rejection::Refused(
                    "no Packages index knows it, and dpkg recorded no md5sums to compare with"
                        .into(),
                ))
            }
        },
    };
    Ok(Found {
        deb,
        trust,
        sha256: hashed,
    })
}

/// The archive's md5sums (hex) against the database's (binary): the same paths, the same sums.
fn same_md5sums(
    recorded: &HashMap<PathBuf, [u8; 16]>,
    archive: &BTreeMap<PathBuf, String>,
) -> bool {
    recorded.len() == archive.len()
        && archive.iter().all(|(path, hash)| {
            recorded
                .get(path)
                .is_some_and(|digest| digest_hex(digest) == *hash)
        })
}

/// The SHA256 of everything `input` yields; `path` names it in errors.
pub fn sha256_of(path: &Path, mut input: impl Read) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 17];
    loop {
        let n = match input.read(&mut buffer) {
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Error::io("read", path, err)),
        };
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(digest_hex(&hasher.finalize()))
}

fn load_mirror_indexes(
    mirror: &Path,
    index: &mut Index,
    want: &dyn Fn(&str) -> bool,
) -> Result<()> {
    let dists = mirror.join("dists");
    for suite in read_dir_sorted(&dists) {
        for component in read_dir_sorted(&suite) {
            for binary in read_dir_sorted(&component) {
                let is_binary = binary
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("binary-"));
                if !is_binary {
                    continue;
                }
                let file = [
                    "Packages.xz",
                    "Packages.gz",
                    "Packages",
                    "Packages.bz2",
                    "Packages.lz4",
                ]
                .iter()
                .map(|name| binary.join(name))
                .find(|path| path.is_file());
                if let Some(file) = file {
                    index.add_file(&file, want)?;
                }
            }
        }
    }
    Ok(())
}

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// Fetches the Packages indexes of an HTTP mirror: the suites and components ROOT's apt
/// sources list for this URL, or else ROOT's release codename (and its `-updates`) with `main`.
fn load_http_indexes(
    root: &Root,
    url: &str,
    architectures: &[String],
    index: &mut Index,
    want: &dyn Fn(&str) -> bool,
) -> Result<()> {
    let mut suites: Vec<(String, Vec<String>)> = apt_sources::read(root)
        .into_iter()
        .filter(|source| source.uri == url)
        .flat_map(|source| {
            let components = source.components.clone();
            source
                .suites
                .into_iter()
                .map(move |suite| (suite, components.clone()))
        })
        .collect();
    if suites.is_empty() {
        let codename = release_codename(root).ok_or_else(|| {
            Error::refused(url, "ROOT's apt sources do not name this mirror and ROOT's os-release names no codename: cannot tell which suite to read")
        })?;
        suites.push((codename.clone(), vec!["main".into()]));
        suites.push((format!("{codename}-updates"), vec!["main".into()]));
    }
    let mut fetched_any = false;
    let mut last_error = String::new();
    for (suite, components) in &suites {
        for component in components {
            for architecture in architectures {
                let base = format!("{url}/dists/{suite}/{component}/binary-{architecture}");
                for name in ["Packages.xz", "Packages.gz"] {
                    match http::get(&format!("{base}/{name}")) {
                        Ok(body) => {
                            let label = PathBuf::from(format!("{base}/{name}"));
                            index.add_reader(&label, index::decoder_for(&label, body)?, want)?;
                            fetched_any = true;
                            break;
                        }
                        Err(err) => last_error = format!("{base}/{name}: {err}"),
                    }
                }
            }
        }
    }
    if !fetched_any {
        return Err(Error::refused(
            url,
            format!("no Packages index could be fetched (last: {last_error})"),
        ));
    }
    Ok(())
}

/// `VERSION_CODENAME` from ROOT's os-release, read inside ROOT.
pub fn release_codename(root: &Root) -> Option<String> {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|file| {
            let file = root.open_regular(Path::new(file)).ok()?;
            let bytes = crate::sys::input::read_at_most(file, MAX_OS_RELEASE).ok()?;
            String::from_utf8_lossy(&bytes)
                .lines()
                .find_map(|line| line.strip_prefix("VERSION_CODENAME="))
                .map(|value| value.trim_matches('"').to_string())
                .filter(|value| !value.is_empty())
        })
}

/// os-release is a dozen short lines; more than this is not one.
const MAX_OS_RELEASE: u64 = 64 << 10;

/// `entry`'s archive in the apt cache from an earlier download, if it is there and intact
/// (read inside ROOT).
fn already_downloaded(root: &Root, cache: &AptCache, entry: &IndexEntry) -> Option<PathBuf> {
    let target = cache.host.join(Path::new(&entry.filename).file_name()?);
    let deb = cache.open(root, &target).ok()?;
    (sha256_of(&target, deb.reader()).ok().as_deref() == Some(entry.sha256.as_str()))
        .then_some(target)
}

/// Downloads `entry` into `dir` under its pool file name, checking SHA256 as it streams; the
/// file appears under its final name only when complete and correct.
fn download(
    root: &Root,
    cache: &AptCache,
    url: &str,
    entry: &IndexEntry,
) -> std::result::Result<PathBuf, String> {
    if let Some(target) = already_downloaded(root, cache, entry) {
        return Ok(target);
    }
    let dir = &cache.host;
    let name = Path::new(&entry.filename)
        .file_name()
        .ok_or_else(|| format!("index names no file for {}", entry.package))?;
    let target = dir.join(name);
    std::fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", escape(dir)))?;
    let partial = dir.join(format!(".{}.rescue-partial", name.to_string_lossy()));
    let mut body =
        http::get(&format!("{url}/{}", entry.filename)).map_err(|err| err.to_string())?;
    // A new file only (O_EXCL does not follow a symlink planted at the name); the final
    // rename replaces whatever stands at the target without following it either.
    let _ = std::fs::remove_file(&partial);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .map_err(|err| format!("cannot create {}: {err}", escape(&partial)))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 17];
    let result = (|| -> std::io::Result<()> {
        loop {
            let n = body.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            out.write_all(&buffer[..n])?;
        }
        out.sync_all()
    })();
    let actual = digest_hex(&hasher.finalize());
    if let Err(err) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(format!("download failed: {err}"));
    }
    if actual != entry.sha256 {
        let _ = std::fs::remove_file(&partial);
        return Err(format!(
            "downloaded SHA256 {actual} does not match the index's {}",
            entry.sha256
        ));
    }
    std::fs::rename(&partial, &target)
        .map_err(|err| format!("cannot rename to {}: {err}", escape(&target)))?;
    Ok(target)
}
