//! A physical tree walk (GNU's `fts` with `FTS_PHYSICAL`): symlinks inside the tree are reported
//! as entries and never followed, a directory is visited before its children (so `chmod -R`
//! can make a directory readable before it is read), children in the order the file system
//! returns them. It does not print: errors reach the caller's visitor in walk order.
//!
//! Paths are re-resolved for every entry rather than walked through directory descriptors; a
//! tree being renamed under us can race with it, which the rescue use (one operator, one
//! broken root) accepts.

use std::fs::Metadata;
use std::path::Path;

use crate::Error;

/// What the walk hands its visitor, in walk order.
pub enum Visit<'a> {
    /// An entry and its `lstat` metadata (the operand's metadata as the caller gave it).
    Entry(&'a Path, &'a Metadata),
    /// A directory could not be read or an entry could not be `lstat`ed; the walk goes on.
    Failed(Error),
}

/// Walks `path` (whose metadata the caller already has, followed or not as its tool decides),
/// then, if it is a directory, everything below it without following symlinks.
pub fn walk_physical(path: &Path, meta: &Metadata, visit: &mut dyn FnMut(Visit<'_>)) {
    visit(Visit::Entry(path, meta));
    if !meta.is_dir() {
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(err) => {
            visit(Visit::Failed(Error::io("read directory", path, err)));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                visit(Visit::Failed(Error::io("read directory", path, err)));
                return;
            }
        };
        let child = entry.path();
        match std::fs::symlink_metadata(&child) {
            Ok(child_meta) => walk_physical(&child, &child_meta, visit),
            Err(err) => visit(Visit::Failed(Error::io("access", &child, err))),
        }
    }
}
