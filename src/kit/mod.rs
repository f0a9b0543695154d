//! The seeded kit: `/srv/rescue` on a healthy host, made by `rescue seed` before the bad day.
//! It holds the binary, an archive store of the installed versions' `.deb`s, a baseline of
//! every package-owned path's metadata, and copies of the host's own account and dpkg state.

pub mod baseline;
pub mod console;
pub mod files;
pub mod hook;
pub mod seed;
pub mod select;
pub mod state;
pub mod store;

use std::io;
use std::path::{Path, PathBuf};

use crate::sys::root::{Last, Root};
use crate::{Error, Result};

/// Where the kit lives inside a root when `--kit` does not say.
pub const DEFAULT_DIR: &str = "/srv/rescue";

/// A kit directory, as the host sees it.
#[derive(Clone, Debug)]
pub struct Kit {
    dir: PathBuf,
}

impl Kit {
    /// The kit to use for `root`: `explicit` (`--kit DIR`, a host path) when given, which must
    /// exist; else `ROOT/srv/rescue` when it is a directory; else none.
    pub fn find(root: &Root, explicit: Option<&Path>) -> Result<Option<Kit>> {
        if let Some(dir) = explicit {
            return match std::fs::metadata(dir) {
                Ok(meta) if meta.is_dir() => Ok(Some(Kit::at(dir))),
                Ok(_) => Err(Error::io(
                    "use kit",
                    dir,
                    io::Error::from_raw_os_error(libc::ENOTDIR),
                )),
                Err(err) => Err(Error::io("use kit", dir, err)),
            };
        }
        let Ok(dir) = root.resolve(Path::new(DEFAULT_DIR), Last::Follow) else {
            return Ok(None);
        };
        Ok(std::fs::metadata(&dir)
            .is_ok_and(|meta| meta.is_dir())
            .then(|| Kit::at(&dir)))
    }

    /// A kit at a host path, whether or not it exists yet (`seed` makes it).
    pub fn at(dir: &Path) -> Kit {
        Kit {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The archive store: the installed versions' `.deb`s.
    pub fn debs(&self) -> PathBuf {
        self.dir.join("debs")
    }

    /// The sources a run searches with this kit: ROOT's apt cache first when `from` is empty
    /// (the default source), then the kit's store, then `from`.
    pub fn with_store(
        &self,
        root: &Root,
        from: Vec<crate::sources::Source>,
    ) -> Vec<crate::sources::Source> {
        use crate::sources::Source;
        let mut sources = Vec::new();
        if from.is_empty() {
            sources.push(Source::Directory(crate::sources::apt_cache_dir(root)));
        }
        sources.push(Source::Directory(self.debs()));
        sources.extend(from);
        sources
    }

    /// Whether `archive` (a path a source gave) is in this kit's store.
    pub fn holds(&self, archive: &Path) -> bool {
        archive.parent() == Some(self.debs().as_path())
    }

    /// The baseline file ([`baseline::Baseline`]).
    pub fn baseline(&self) -> PathBuf {
        self.dir.join("baseline")
    }

    /// Copies of the host's own state: accounts, the dpkg status, diversions, statoverride.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// The newest copy of the host's state ([`state`]'s layout): `state/latest/etc/passwd`,
    /// `state/latest/var/lib/dpkg/status`, ...
    pub fn latest_state(&self) -> PathBuf {
        self.state().join(state::LATEST)
    }
}
