//! `cargo xtask bench restore`: the story of this project in one table. A minbase Debian root
//! with its `usr/lib/x86_64-linux-gnu` deleted, put back by the static binary from inside the
//! chroot; against the floor any tool reading the same archives has (`dpkg-deb --fsys-tarfile`
//! of the affected ones) and against what `apt-get install --reinstall` costs while the host
//! still works (`dpkg --unpack` of the same archives in an intact copy).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bench::{ours, race, reference, scratch_dir, sh, Contender};
use crate::shell;

/// The directory the disaster deletes, and the two spellings a package list may use for it
/// (bookworm's packages still ship some files under the unmerged `/lib`).
const LIBDIR: &str = "usr/lib/x86_64-linux-gnu";
const LIBDIR_PREFIXES: [&str; 2] = ["/usr/lib/x86_64-linux-gnu/", "/lib/x86_64-linux-gnu/"];
const ARCHIVES: &str = "var/cache/apt/archives";

pub fn run(binary: &Path) -> crate::Result {
    if !shell::is_root() {
        println!("\n== restore: needs root (chroot, owners), skipped");
        return Ok(());
    }
    let tarball = minbase_tarball()?;
    let scratch = scratch_dir("restore")?;
    let root = scratch.join("root");
    let intact = intact_root_command(&tarball, &root, binary);
    sh(&intact)?;
    let (affected, installed) = affected_archives(&root)?;
    // The decompression row reads its own copy: the root is re-extracted between runs.
    let debs = scratch.join("debs");
    copy_archives(&root, &affected, &debs)?;
    let broken = format!("{intact} && rm -rf {}/{LIBDIR} && sync", root.display());
    let saved_cache = save_rescue_cache(&broken, &root, &scratch)?;
    let mut contenders = peers(&root, &intact, &debs, &affected);
    contenders.extend(restores(&root, &broken, &saved_cache));
    race(
        &format!(
            "restore a minbase root with {LIBDIR} deleted ({} of {installed} packages affected)",
            affected.len()
        ),
        &contenders,
    )?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

// `|| exit 2` in the commands below: sh() lets exit 1 pass for verify's findings, but an
// unpack or restore that did not finish its work would time less than the job.

/// The floor (decompressing the affected archives, a copy of them in DEBS) and what the same
/// archives cost dpkg in a root that still works.
fn peers(root: &Path, intact: &str, debs: &Path, affected: &[String]) -> Vec<Contender> {
    let in_root: Vec<String> = affected
        .iter()
        .map(|deb| format!("/{ARCHIVES}/{deb}"))
        .collect();
    vec![
        reference(
            "decompress",
            "dpkg-deb --fsys-tarfile, affected archives",
            format!(
                "for f in {}/*.deb; do dpkg-deb --fsys-tarfile \"$f\" >/dev/null || exit 2; done",
                debs.display()
            ),
        ),
        reference(
            "dpkg --unpack",
            "dpkg --unpack of them, intact root",
            format!(
                "chroot {} dpkg --unpack {} >/dev/null 2>&1 || exit 2",
                root.display(),
                in_root.join(" ")
            ),
        )
        .with_setup(format!("{intact} && sync")),
    ]
}

/// rescue from inside the broken root: with no cache of its own, and with the one an earlier
/// restore of the same root left (SAVED_CACHE).
fn restores(root: &Path, broken: &str, saved_cache: &Path) -> Vec<Contender> {
    let restore = format!(
        "chroot {} /srv/rescue/rescue restore --yes >/dev/null 2>&1 || exit 2",
        root.display()
    );
    vec![
        ours("rescue restore --yes, first run", restore.clone()).with_setup(broken.to_string()),
        ours("rescue restore --yes, warm cache", restore).with_setup(format!(
            "{broken} && rm -rf {cache} && cp -a {} {cache} && sync",
            saved_cache.display(),
            cache = root.join("var/cache/rescue").display()
        )),
    ]
}

/// A shell command making ROOT a fresh, intact minbase root with the binary in its kit
/// directory, where an operator would have put it.
fn intact_root_command(tarball: &Path, root: &Path, binary: &Path) -> String {
    format!(
        "rm -rf {root} && mkdir -p {root} && tar --numeric-owner -xpf {tarball} -C {root} \
         && mkdir -p {root}/srv/rescue && cp {binary} {root}/srv/rescue/rescue",
        root = root.display(),
        tarball = tarball.display(),
        binary = binary.display()
    )
}

/// The archive file names (in ROOT's apt cache) of the packages owning a path under the
/// deleted directory, and how many packages are installed.
fn affected_archives(root: &Path) -> crate::Result<(Vec<String>, usize)> {
    let owners = libdir_owners(&root.join("var/lib/dpkg/info"))?;
    let installed = installed_packages(&root.join("var/lib/dpkg/status"))?;
    let mut archives = Vec::new();
    for name in &owners {
        let (version, arch) = installed
            .get(name)
            .ok_or_else(|| format!("{name} owns files but is not installed"))?;
        // apt's (and debootstrap's) file naming: an epoch's ':' is URL-escaped.
        let deb = format!("{name}_{}_{arch}.deb", version.replace(':', "%3a"));
        check_archive(&root.join(ARCHIVES).join(&deb), name, version)?;
        archives.push(deb);
    }
    Ok((archives, installed.len()))
}

/// Packages whose `.list` names a path below the deleted directory (the directory alone is
/// not enough: owning it loses nothing that only its own archive can put back).
fn libdir_owners(info: &Path) -> crate::Result<BTreeSet<String>> {
    let entries =
        std::fs::read_dir(info).map_err(|err| format!("cannot read {}: {err}", info.display()))?;
    let mut owners = BTreeSet::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(package) = file_name.strip_suffix(".list") else {
            continue;
        };
        let list = std::fs::read_to_string(entry.path())
            .map_err(|err| format!("cannot read {}: {err}", entry.path().display()))?;
        if list.lines().any(|path| {
            LIBDIR_PREFIXES
                .iter()
                .any(|prefix| path.starts_with(prefix))
        }) {
            // A multi-arch list is `name:arch.list`; the archive's name has no arch qualifier.
            let name = package.split(':').next().unwrap_or(package);
            owners.insert(name.to_string());
        }
    }
    Ok(owners)
}

/// Every installed package's version and architecture, from the status file.
fn installed_packages(status: &Path) -> crate::Result<HashMap<String, (String, String)>> {
    let text = std::fs::read_to_string(status)
        .map_err(|err| format!("cannot read {}: {err}", status.display()))?;
    let mut installed = HashMap::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
        };
        if field("Status") != Some("install ok installed") {
            continue;
        }
        if let (Some(package), Some(version), Some(arch)) =
            (field("Package"), field("Version"), field("Architecture"))
        {
            installed.insert(package.to_string(), (version.to_string(), arch.to_string()));
        }
    }
    Ok(installed)
}

/// The file is the archive of that package and version (its name could lie).
fn check_archive(deb: &Path, name: &str, version: &str) -> crate::Result {
    let fields = shell::output(
        Command::new("dpkg-deb")
            .arg("-f")
            .arg(deb)
            .args(["Package", "Version"]),
    )?;
    let expected = format!("Package: {name}\nVersion: {version}\n");
    if fields != expected {
        return Err(format!(
            "{} is not {name} {version}: {fields}",
            deb.display()
        ));
    }
    Ok(())
}

fn copy_archives(root: &Path, archives: &[String], dest: &Path) -> crate::Result {
    std::fs::create_dir_all(dest)
        .map_err(|err| format!("cannot create {}: {err}", dest.display()))?;
    for deb in archives {
        let from = root.join(ARCHIVES).join(deb);
        std::fs::copy(&from, dest.join(deb))
            .map_err(|err| format!("cannot copy {}: {err}", from.display()))?;
    }
    Ok(())
}

/// Restores a broken root once, untimed, checks that it is whole again, and keeps the rescue
/// cache that run left in ROOT/var/cache/rescue: the warm-cache row starts from a copy of it,
/// as a second disaster on the same host would.
fn save_rescue_cache(broken: &str, root: &Path, scratch: &Path) -> crate::Result<PathBuf> {
    sh(broken)?;
    let rescue = format!("chroot {} /srv/rescue/rescue", root.display());
    shell::run(
        Command::new("sh")
            .arg("-c")
            .arg(format!("{rescue} restore --yes >/dev/null")),
    )?;
    // A restore that left something missing would make every figure below meaningless. Its
    // summary goes to stderr: stdout is the tables, pasted as they are.
    shell::run(
        Command::new("sh")
            .arg("-c")
            .arg(format!("{rescue} verify --db-only --missing-only 1>&2")),
    )?;
    let cache = root.join("var/cache/rescue");
    if !cache.is_dir() {
        return Err(format!("restore left no cache in {}", cache.display()));
    }
    let saved = scratch.join("rescue-cache");
    shell::run(Command::new("cp").arg("-a").arg(&cache).arg(&saved))?;
    Ok(saved)
}

/// The cached minbase tarball the debootstrap test also uses; made once with debootstrap.
fn minbase_tarball() -> crate::Result<PathBuf> {
    let cache = Path::new("/var/cache/rescue-tests");
    let tarball = cache.join("bookworm-minbase.tar");
    if tarball.is_file() {
        return Ok(tarball);
    }
    shell::ensure_debian_packages(&["debootstrap"])?;
    // debootstrap refuses a --cache-dir that does not exist yet.
    let debs = cache.join("debs");
    std::fs::create_dir_all(&debs)
        .map_err(|err| format!("cannot create {}: {err}", debs.display()))?;
    let build = scratch_dir("debootstrap")?.join("root");
    shell::run(Command::new("debootstrap").args([
        "--variant=minbase",
        &format!("--cache-dir={}", debs.display()),
        "bookworm",
        &build.display().to_string(),
        "http://deb.debian.org/debian",
    ]))?;
    let partial = cache.join("bookworm-minbase.tar.partial");
    shell::run(
        Command::new("tar")
            .args(["--numeric-owner", "-cpf"])
            .arg(&partial)
            .arg("-C")
            .arg(&build)
            .arg("."),
    )?;
    std::fs::rename(&partial, &tarball)
        .map_err(|err| format!("cannot rename {}: {err}", partial.display()))?;
    let _ = std::fs::remove_dir_all(&build);
    Ok(tarball)
}
