//! Which package owns a path: the info lists read backwards, for the applets that start from a
//! file rather than a package (ldd's missing library, changes, salvage, doctor). A path is
//! looked up as the root names it and in its merged-/usr twin (`/lib/x` and `/usr/lib/x` are
//! one file on a merged root, and dpkg lists either), and a diverted file is owned by the
//! package whose file really lives there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Database, Package};
use crate::Result;

/// The merged-/usr aliases: `/NAME` is `/usr/NAME` on a merged root.
const MERGED: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"];

/// One package's claim on a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The package as dpkg names it (`libc6:amd64` for `Multi-Arch: same`).
    pub package: String,
    /// dpkg's recorded md5 of the file, when the package has md5sums and the path is a file.
    pub md5: Option<[u8; 16]>,
}

/// Path -> the packages that list it (directories are listed by many).
#[derive(Debug, Default)]
pub struct Owners {
    by_path: HashMap<PathBuf, Vec<Owner>>,
    /// Info files that could not be read, by package: their paths are unknown here.
    pub unread: Vec<(String, String)>,
}

impl Owners {
    /// Reads every installed package's list and md5sums. A package whose files cannot be read
    /// is named in `unread`, not fatal: the others still answer.
    pub fn read(db: &Database) -> Result<Owners> {
        let packages: Vec<&Package> = db.packages.iter().collect();
        let read = crate::sys::parallel::map(packages, 0, |package| (package, db.files(package)));
        let mut owners = Owners::default();
        for (package, files) in read {
            let files = match files {
                Ok(files) => files,
                Err(err) => {
                    owners
                        .unread
                        .push((package.display_name(), err.to_string()));
                    continue;
                }
            };
            let name = package.display_name();
            for path in files.list.map(|list| list.paths).unwrap_or_default() {
                let md5 = files
                    .md5sums
                    .as_ref()
                    .and_then(|sums| sums.get(&path))
                    .copied();
                let lives = db
                    .diversions
                    .diverted(&path, &package.name)
                    .map_or(path, |diversion| diversion.to.clone());
                owners.by_path.entry(lives).or_default().push(Owner {
                    package: name.clone(),
                    md5,
                });
            }
        }
        Ok(owners)
    }

    /// The packages owning `path` (absolute, as inside the root), trying its merged-/usr twin
    /// when the path itself is not listed. Empty when no package owns it.
    pub fn of(&self, path: &Path) -> &[Owner] {
        if let Some(found) = self.by_path.get(path) {
            return found;
        }
        merged_twin(path)
            .and_then(|twin| self.by_path.get(&twin))
            .map_or(&[], Vec::as_slice)
    }

    /// Every owned path, for walks that need the whole set.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.by_path.keys().map(PathBuf::as_path)
    }
}

/// `/lib/x` for `/usr/lib/x` and back; `None` for paths outside the aliased directories.
pub fn merged_twin(path: &Path) -> Option<PathBuf> {
    let mut components = path.strip_prefix("/").ok()?.components();
    let first = components.next()?.as_os_str().to_str()?;
    if first == "usr" {
        let second = components.next()?.as_os_str().to_str()?;
        MERGED
            .contains(&second)
            .then(|| under(Path::new("/").join(second), components.as_path()))
    } else {
        MERGED
            .contains(&first)
            .then(|| under(Path::new("/usr").join(first), components.as_path()))
    }
}

/// `base/rest`, or `base` itself when nothing is left (no trailing slash).
fn under(base: PathBuf, rest: &Path) -> PathBuf {
    if rest.as_os_str().is_empty() {
        base
    } else {
        base.join(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_twins_go_both_ways_and_only_for_aliased_directories() {
        let twin = |p: &str| merged_twin(Path::new(p)).map(|t| t.display().to_string());
        assert_eq!(
            twin("/lib/x86_64-linux-gnu/libc.so.6").as_deref(),
            Some("/usr/lib/x86_64-linux-gnu/libc.so.6")
        );
        assert_eq!(twin("/usr/bin/ls").as_deref(), Some("/bin/ls"));
        assert_eq!(twin("/usr/share/doc"), None);
        assert_eq!(twin("/etc/passwd"), None);
        assert_eq!(twin("/lib64").as_deref(), Some("/usr/lib64"));
    }

    #[test]
    fn this_machines_libc_is_owned_by_libc6() {
        let Ok(db) = Database::open(Path::new("/var/lib/dpkg")) else {
            return;
        };
        let owners = Owners::read(&db).unwrap();
        let libc = owners.of(Path::new("/usr/lib/x86_64-linux-gnu/libc.so.6"));
        if cfg!(target_arch = "x86_64") && !libc.is_empty() {
            assert!(libc[0].package.starts_with("libc6"), "{libc:?}");
            assert!(libc[0].md5.is_some());
        }
        assert!(owners.of(Path::new("/no/such/file")).is_empty());
    }
}
