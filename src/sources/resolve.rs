//! Which archive serves which installed package: the one walk over a run's packages that
//! verify's archive pass and restore's plan share. Everything that reaches outside ROOT's
//! files happens here, before any check: reading the database's lists and md5sums, finding
//! and trusting each archive, downloading it when the caller allows. What comes back is
//! opened and trusted, so the checks that follow only compare.

use std::fmt;

use super::{Archives, Found, Source, Unavailable, Wanted};
use crate::dpkg::{Database, Package, PackageFiles};
use crate::sys::root::Root;
use crate::{Error, Result};

/// An installed package and the trusted archive of its version.
#[derive(Debug)]
pub struct PackageArchive<'p> {
    pub package: &'p Package,
    /// The database's `.list` and `.md5sums`, read once: the md5sums decided the trust, the
    /// list says what the package owns now.
    pub files: PackageFiles,
    pub archive: Found,
}

/// Why a package has no archive.
#[derive(Debug)]
pub enum NoArchive {
    /// Its `.list` or `.md5sums` could not be read: what it owns, and what its archive must
    /// hold, are not known.
    Database(Error),
    /// No trusted archive of the installed version in the sources.
    Unavailable(Unavailable),
}

impl fmt::Display for NoArchive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoArchive::Database(err) => write!(f, "{err}"),
            NoArchive::Unavailable(unavailable) => write!(f, "{unavailable}"),
        }
    }
}

/// The archives of one run's packages.
#[derive(Debug)]
pub struct Resolved<'p> {
    /// The packages with an archive, in the order given.
    pub found: Vec<PackageArchive<'p>>,
    /// The packages without one, in the order given, each with its reason.
    pub missing: Vec<(&'p Package, NoArchive)>,
    /// The sources searched: the ones given, or ROOT's apt cache when none was.
    pub sources: Vec<Source>,
    /// Inputs that could not be read at all (an apt list or an archive that is a FIFO, an
    /// EIO): not a verdict on any one package, for the caller to report once.
    pub problems: Vec<Error>,
}

/// Finds the trusted archive of each of `packages` (each once) in `sources`, or ROOT's apt
/// cache when none is given. An HTTP source downloads (into ROOT's apt cache, as apt would)
/// only the archives of the packages `may_download` accepts; one downloaded before is used
/// either way. An error is a source that cannot be used at all (a mirror index that cannot be
/// read or fetched).
pub fn resolve<'p>(
    root: &Root,
    db: &Database,
    sources: Vec<Source>,
    packages: &[&'p Package],
    may_download: impl Fn(&Package) -> bool,
) -> Result<Resolved<'p>> {
    let mut archives = Archives::for_installed(root, sources, packages)?;
    let mut found = Vec::new();
    let mut missing = Vec::new();
    // The lists (on a full host some 900 pairs of files, 130,000 paths) are read, on every
    // core, only for the packages a source may hold an archive of; of the others it is only
    // checked that they can be read.
    let mut holders = Vec::new();
    for &package in packages {
        let probe = Wanted {
            package: &package.name,
            version: &package.version,
            architecture: &package.architecture,
            recorded_md5sums: None,
            may_download: false,
        };
        if archives.may_hold(&probe) {
            holders.push(package);
            continue;
        }
        let why = match db.files_readable(package) {
            Ok(()) => NoArchive::Unavailable(Unavailable::default()),
            Err(err) => NoArchive::Database(err),
        };
        missing.push((package, why));
    }
    let all_files = crate::sys::parallel::map(holders.clone(), 0, |package| db.files(package));
    for (package, files) in holders.into_iter().zip(all_files) {
        let files = match files {
            Ok(files) => files,
            Err(err) => {
                missing.push((package, NoArchive::Database(err)));
                continue;
            }
        };
        let wanted = Wanted {
            package: &package.name,
            version: &package.version,
            architecture: &package.architecture,
            recorded_md5sums: files.md5sums.as_ref(),
            may_download: may_download(package),
        };
        match archives.find(&wanted) {
            Ok(archive) => found.push(PackageArchive {
                package,
                files,
                archive,
            }),
            Err(unavailable) => missing.push((package, NoArchive::Unavailable(unavailable))),
        }
    }
    // In the order given, as the holders' failures came after the others.
    let order: std::collections::HashMap<*const Package, usize> = packages
        .iter()
        .enumerate()
        .map(|(at, &package)| (package as *const Package, at))
        .collect();
    missing.sort_by_key(|(package, _)| order.get(&(*package as *const Package)).copied());
    Ok(Resolved {
        found,
        missing,
        sources: archives.sources().cloned().collect(),
        problems: archives.take_problems(),
    })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    use md5::{Digest, Md5};

    use super::*;
    use crate::sources::ArchiveTrust;
    use crate::sys::quoting::escape;

    fn md5_hex(content: &[u8]) -> String {
        crate::dpkg::digest_hex(&Md5::digest(content))
    }

    fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, content) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, *content).unwrap();
        }
        tar.into_inner().unwrap()
    }

    /// A `.deb` (uncompressed members) of PACKAGE VERSION ARCH shipping `/usr/share/PACKAGE/f`
    /// with `content`; its md5sums say `listed` is that file's md5.
    fn deb(path: &Path, id: (&str, &str, &str), content: &[u8], listed: &[u8]) {
        let (package, version, architecture) = id;
        let control = format!(
            "Package: {package}\nVersion: {version}\nArchitecture: {architecture}\n\
             Maintainer: nobody\nDescription: test\n"
        );
        let md5sums = format!("{}  usr/share/{package}/f\n", md5_hex(listed));
        let control = tar(&[
            ("./control", control.as_bytes()),
            ("./md5sums", md5sums.as_bytes()),
        ]);
        let data = tar(&[(&format!("./usr/share/{package}/f"), content)]);
        let mut ar = ar::Builder::new(fs::File::create(path).unwrap());
        for (name, member) in [
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar", control),
            ("data.tar", data),
        ] {
            let header = ar::Header::new(name.as_bytes().to_vec(), member.len() as u64);
            ar.append(&header, member.as_slice()).unwrap();
        }
    }

    /// Installs PACKAGE VERSION ARCH in ROOT's database with `/usr/share/PACKAGE/f`, whose
    /// recorded md5 is that of `content`.
    fn install(root: &Path, status: &mut String, id: (&str, &str, &str), content: &[u8]) {
        let (package, version, architecture) = id;
        status.push_str(&format!(
            "Package: {package}\nStatus: install ok installed\nVersion: {version}\n\
             Architecture: {architecture}\n\n"
        ));
        let info = root.join("var/lib/dpkg/info");
        let file = format!("/usr/share/{package}/f");
        fs::write(
            info.join(format!("{package}.list")),
            format!("/usr\n/usr/share\n/usr/share/{package}\n{file}\n"),
        )
        .unwrap();
        let md5sums = format!("{}  {}\n", md5_hex(content), &file[1..]);
        fs::write(info.join(format!("{package}.md5sums")), md5sums).unwrap();
    }

    /// ROOT under `dir/root`, with its database, and `dir/debs` with these archives:
    /// - alpha: its own, and a second copy under another name;
    /// - renamed: its own under a name that does not say so;
    /// - older: only an older version;
    /// - tampered: the installed version, whose md5sums are not what dpkg recorded;
    /// - absent: none;
    /// - unreadable: none needed, its `.md5sums` cannot be read.
    fn fixture(dir: &Path) -> (PathBuf, PathBuf) {
        let root = dir.join("root");
        let debs = dir.join("debs");
        fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
        fs::create_dir_all(&debs).unwrap();
        let mut status = String::new();
        for (id, content) in [
            (("alpha", "1.0-1", "amd64"), "alpha"),
            (("renamed", "2:3.0", "all"), "renamed"),
            (("older", "2.0", "amd64"), "older"),
            (("tampered", "1.0", "amd64"), "tampered"),
            (("absent", "1.0", "amd64"), "absent"),
            (("unreadable", "1.0", "amd64"), "unreadable"),
        ] {
            install(&root, &mut status, id, content.as_bytes());
        }
        fs::write(root.join("var/lib/dpkg/status"), status).unwrap();
        let md5sums = root.join("var/lib/dpkg/info/unreadable.md5sums");
        fs::remove_file(&md5sums).unwrap();
        fs::create_dir(&md5sums).unwrap();
        // (file name, identity, content shipped, content its md5sums name)
        let archives = [
            (
                "alpha_1.0-1_amd64.deb",
                ("alpha", "1.0-1", "amd64"),
                "alpha",
                "alpha",
            ),
            (
                "zz-alpha-again.deb",
                ("alpha", "1.0-1", "amd64"),
                "alpha",
                "alpha",
            ),
            (
                "download.deb",
                ("renamed", "2:3.0", "all"),
                "renamed",
                "renamed",
            ),
            (
                "older_1.0_amd64.deb",
                ("older", "1.0", "amd64"),
                "old",
                "old",
            ),
            (
                "tampered_1.0_amd64.deb",
                ("tampered", "1.0", "amd64"),
                "evil",
                "evil",
            ),
        ];
        for (name, id, content, listed) in archives {
            deb(&debs.join(name), id, content.as_bytes(), listed.as_bytes());
        }
        (root, debs)
    }

    /// Each package comes back once, in order: with its archive when one is there and
    /// trusted (under any file name, the first of two copies), else with the reason.
    #[test]
    fn each_package_once_with_its_archive_or_the_reason_there_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let (root_dir, debs) = fixture(dir.path());
        let root = Root::new(&root_dir);
        let db = Database::open_in(&root).unwrap();
        let packages: Vec<&Package> = db.packages.iter().collect();
        let sources = vec![Source::Directory(debs.clone())];
        let resolved = resolve(&root, &db, sources.clone(), &packages, |_| true).unwrap();

        let found: Vec<(&str, &Path, &ArchiveTrust)> = resolved
            .found
            .iter()
            .map(|f| {
                let deb = f.archive.deb.path().strip_prefix(&debs).unwrap();
                (f.package.name.as_str(), deb, &f.archive.trust)
            })
            .collect();
        let by_md5sums = &ArchiveTrust::ControlMd5sumsMatchDatabase;
        assert_eq!(
            found,
            [
                ("alpha", Path::new("alpha_1.0-1_amd64.deb"), by_md5sums),
                ("renamed", Path::new("download.deb"), by_md5sums),
            ]
        );
        let alpha = &resolved.found[0].files;
        assert!(alpha.list.is_some() && alpha.md5sums.is_some());

        let refused = |name: &str, why: &str| format!("{} refused: {why}", escape(debs.join(name)));
        let older = "it is version 1.0 (amd64), the installed one is 2.0 (amd64)";
        let tampered = "no Packages index knows it, and its md5sums differ from the ones \
                        dpkg recorded";
        let missing: Vec<(&str, String)> = resolved
            .missing
            .iter()
            .map(|(package, why)| (package.name.as_str(), why.to_string()))
            .collect();
        let names: Vec<&str> = missing.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["older", "tampered", "absent", "unreadable"]);
        assert_eq!(missing[0].1, refused("older_1.0_amd64.deb", older));
        assert_eq!(missing[1].1, refused("tampered_1.0_amd64.deb", tampered));
        let nothing = "no archive of this version in the sources";
        assert_eq!(missing[2].1, nothing);
        assert!(matches!(resolved.missing[3].1, NoArchive::Database(_)));
        assert!(
            missing[3].1.contains("unreadable.md5sums"),
            "{}",
            missing[3].1
        );
        assert_eq!(resolved.sources, sources);
        assert!(resolved.problems.is_empty(), "{:?}", resolved.problems);
    }
}
