//! Whether replacing a destination with a source would destroy the source's data: GNU's
//! `same_file_ok` rules (copy.c) for `mv`, and its `ln` check, as one decision.
//!
//! The danger is subtle because the names differ: `mv s f` where `s -> f` would leave `f -> f`
//! (a symlink to itself, the data gone); `ln -sf t t` would do the same. Two hard links to one
//! inode are fine to collapse in `mv` only when the destination is not the very directory entry
//! the source resolves to.

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// How the caller is about to replace the destination.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mode {
    /// `mv`: the destination goes by rename (or unlink, across file systems).
    pub move_mode: bool,
    /// A backup of the destination will be made first.
    pub backups: bool,
}

/// The verdict on one (source, destination) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on.
    Ok,
    /// Nothing to do and nothing wrong (two names of one symlink inode, under `cp`).
    Nothing,
    /// "SOURCE and DEST are the same file".
    Same,
}

fn same_inode(a: &Metadata, b: &Metadata) -> bool {
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

/// Whether `a` and `b` are the same directory entry: the same last component in the same
/// directory (GNU's `same_nameat`).
pub fn same_name(a: &Path, b: &Path) -> bool {
    let (a_base, b_base) = (super::copy::base_name(a), super::copy::base_name(b));
    if a_base != b_base {
        return false;
    }
    let dir = |p: &Path| std::fs::metadata(super::copy::parent_dir(p));
    matches!((dir(a), dir(b)), (Ok(x), Ok(y)) if same_inode(&x, &y))
}

/// The decision for a move (`mv`) of `src` onto the existing `dest`; both metadata are
/// `lstat`'s, symlinks are not followed (GNU's move mode).
pub fn check_move(src: &Path, src_st: &Metadata, dest: &Path, dest_st: &Metadata) -> Verdict {
    check_move_mode(
        src,
        src_st,
        dest,
        dest_st,
        Mode {
            move_mode: true,
            backups: false,
        },
    )
}

/// [`check_move`] with backups (or not): a backup keeps a copy, so less is dangerous.
pub fn check_move_mode(
    src: &Path,
    src_st: &Metadata,
    dest: &Path,
    dest_st: &Metadata,
    mode: Mode,
) -> Verdict {
    let same = same_inode(src_st, dest_st);
    let (src_link, dest_link) = (
        src_st.file_type().is_symlink(),
        dest_st.file_type().is_symlink(),
    );
    if src_link && dest_link {
        let entry = same_name(src, dest);
        if !entry {
            if mode.backups {
                return Verdict::Ok;
            }
            // Two hard links to one symlink: rename(2) would do nothing and say it did.
            if same {
                return if mode.move_mode {
                    Verdict::Same
                } else {
                    Verdict::Nothing
                };
            }
            return Verdict::Ok;
        }
        return Verdict::Same;
    }
    if mode.backups {
        if !same {
            return Verdict::Ok;
        }
        return if same_name(src, dest) {
            Verdict::Same
        } else {
            Verdict::Ok
        };
    }
    if mode.move_mode {
        // The destination symlink is replaced, never followed.
        if dest_link {
            return Verdict::Ok;
        }
        if same && dest_st.nlink() > 1 && !same_name(src, dest) {
            return Verdict::Same;
        }
    }
    if !src_link && !dest_link && !same {
        return Verdict::Ok;
    }
    // A symlink onto a hard link of its target: one link is lost, the data stays reachable
    // unless the destination is the very entry the symlink resolves to.
    if mode.move_mode && src_link && dest_st.nlink() > 1 {
        if let Ok(resolved) = std::fs::canonicalize(src) {
            return if same_name(&resolved, dest) {
                Verdict::Same
            } else {
                Verdict::Ok
            };
        }
    }
    let followed = |p: &Path, st: &Metadata, link: bool| -> io::Result<Metadata> {
        if link {
            std::fs::metadata(p)
        } else {
            Ok(st.clone())
        }
    };
    match (
        followed(src, src_st, src_link),
        followed(dest, dest_st, dest_link),
    ) {
        (Ok(s), Ok(d)) if same_inode(&s, &d) => Verdict::Same,
        _ => Verdict::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn lstat(p: &Path) -> Metadata {
        fs::symlink_metadata(p).expect("lstat")
    }

    #[test]
    fn moving_a_symlink_onto_its_target_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = tmp.path();
        fs::write(d.join("f"), b"data").expect("write");
        std::os::unix::fs::symlink("f", d.join("s")).expect("symlink");
        let (s, f) = (d.join("s"), d.join("f"));
        assert_eq!(check_move(&s, &lstat(&s), &f, &lstat(&f)), Verdict::Same);
        // Onto another hard link of the target: the data stays reachable.
        fs::hard_link(&f, d.join("l")).expect("link");
        let l = d.join("l");
        assert_eq!(check_move(&s, &lstat(&s), &l, &lstat(&l)), Verdict::Ok);
        assert_eq!(check_move(&s, &lstat(&s), &f, &lstat(&f)), Verdict::Same);
    }

    #[test]
    fn distinct_files_and_hard_links() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = tmp.path();
        let (a, b, c) = (d.join("a"), d.join("b"), d.join("c"));
        fs::write(&a, b"a").expect("write");
        fs::write(&b, b"b").expect("write");
        assert_eq!(check_move(&a, &lstat(&a), &b, &lstat(&b)), Verdict::Ok);
        fs::hard_link(&a, &c).expect("link");
        assert_eq!(check_move(&a, &lstat(&a), &c, &lstat(&c)), Verdict::Same);
    }
}
