//! GNU's backups of a destination about to be replaced (`cp`, `mv` and `ln` with `-b`,
//! `--backup[=CONTROL]`, `-S SUFFIX`): which kind, and the name the backup takes.
//!
//! The kinds and their names are GNU's (gnulib `backupfile.c`): `simple` appends the suffix
//! (`~`, or `SIMPLE_BACKUP_SUFFIX`), `numbered` appends `.~N~` one past the highest number in
//! the directory, `existing` is numbered when numbered backups exist and simple otherwise, and
//! `none` makes none. CONTROL comes from the option, else `VERSION_CONTROL`, else `existing`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackupKind {
    None,
    Simple,
    Numbered,
    Existing,
}

/// CONTROL's spellings, in GNU's order (its "Valid arguments are" list pairs them this way).
const CONTROLS: &[(&str, BackupKind)] = &[
    ("none", BackupKind::None),
    ("off", BackupKind::None),
    ("simple", BackupKind::Simple),
    ("never", BackupKind::Simple),
    ("existing", BackupKind::Existing),
    ("nil", BackupKind::Existing),
    ("numbered", BackupKind::Numbered),
    ("t", BackupKind::Numbered),
];

/// A CONTROL that names no kind, or abbreviates more than one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadControl {
    pub value: String,
    pub ambiguous: bool,
    /// Where the value came from: `backup type` for the option, `$VERSION_CONTROL` for the
    /// environment (GNU's words).
    pub context: &'static str,
}

impl std::fmt::Display for BadControl {
    /// GNU's argmatch message: the complaint, then the valid spellings.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.ambiguous {
            "ambiguous"
        } else {
            "invalid"
        };
        let value = crate::sys::quoting::quote(Path::new(&self.value));
        write!(
            f,
            "{what} argument {value} for '{}'\nValid arguments are:",
            self.context
        )?;
        for pair in CONTROLS.chunks(2) {
            write!(f, "\n  - '{}', '{}'", pair[0].0, pair[1].0)?;
        }
        Ok(())
    }
}

impl std::error::Error for BadControl {}

impl BackupKind {
    /// The kind `--backup[=CONTROL]` asks for. Without CONTROL, `VERSION_CONTROL` decides, and
    /// `existing` when that is unset or empty. A CONTROL may be abbreviated when the
    /// abbreviation names one kind (`--backup=nu`).
    pub fn from_control(control: Option<&str>) -> Result<BackupKind, BadControl> {
        match control {
            Some(value) => Self::parse(value, "backup type"),
            None => match std::env::var("VERSION_CONTROL") {
                Ok(value) if !value.is_empty() => Self::parse(&value, "$VERSION_CONTROL"),
                _ => Ok(BackupKind::Existing),
            },
        }
    }

    fn parse(value: &str, context: &'static str) -> Result<BackupKind, BadControl> {
        if let Some((_, kind)) = CONTROLS.iter().find(|(name, _)| *name == value) {
            return Ok(*kind);
        }
        let mut matches = CONTROLS
            .iter()
            .filter(|(name, _)| !value.is_empty() && name.starts_with(value))
            .map(|(_, kind)| *kind);
        let bad = |ambiguous| BadControl {
            value: value.to_string(),
            ambiguous,
            context,
        };
        let first = matches.next().ok_or_else(|| bad(false))?;
        if matches.all(|kind| kind == first) {
            Ok(first)
        } else {
            Err(bad(true))
        }
    }
}

/// How backups are made in one run: the kind and the simple suffix.
#[derive(Clone, Debug)]
pub struct Backup {
    pub kind: BackupKind,
    suffix: OsString,
}

impl Backup {
    /// `suffix` is `-S`'s value; without it `SIMPLE_BACKUP_SUFFIX`, else `~`. A suffix that is
    /// empty or holds a `/` would name another file, so GNU falls back to `~`, and so do we.
    pub fn new(kind: BackupKind, suffix: Option<&OsStr>) -> Backup {
        let from_env = std::env::var_os("SIMPLE_BACKUP_SUFFIX");
        let chosen = suffix.or(from_env.as_deref());
        let suffix = match chosen {
            Some(s) if !s.is_empty() && !s.as_bytes().contains(&b'/') => s.to_os_string(),
            _ => OsString::from("~"),
        };
        Backup { kind, suffix }
    }

    /// The name `path`'s backup takes now, or None for `none`. Numbered names look at the
    /// directory's entries, so the answer is for this moment.
    pub fn name_for(&self, path: &Path) -> Option<PathBuf> {
        match self.kind {
            BackupKind::None => None,
            BackupKind::Simple => Some(self.simple(path)),
            BackupKind::Numbered => Some(numbered(path, highest_number(path).unwrap_or(0) + 1)),
            BackupKind::Existing => Some(match highest_number(path) {
                Some(n) => numbered(path, n + 1),
                None => self.simple(path),
            }),
        }
    }

    fn simple(&self, path: &Path) -> PathBuf {
        let mut name = path.as_os_str().to_os_string();
        name.push(&self.suffix);
        PathBuf::from(name)
    }
}

fn numbered(path: &Path, n: u64) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".~{n}~"));
    PathBuf::from(name)
}

/// The highest N of the `NAME.~N~` entries beside `path`, if any.
fn highest_number(path: &Path) -> Option<u64> {
    let base = path.file_name()?.as_bytes();
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut prefix = base.to_vec();
    prefix.extend_from_slice(b".~");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_vec();
            let digits = name.strip_prefix(prefix.as_slice())?.strip_suffix(b"~")?;
            let first_ok = matches!(digits.first(), Some(b'1'..=b'9'));
            (first_ok && digits.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(digits).ok()?.parse::<u64>().ok())
                .flatten()
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_their_abbreviations() {
        assert_eq!(
            BackupKind::parse("numbered", "backup type"),
            Ok(BackupKind::Numbered)
        );
        assert_eq!(BackupKind::parse("t", "x"), Ok(BackupKind::Numbered));
        assert_eq!(BackupKind::parse("nu", "x"), Ok(BackupKind::Numbered));
        assert_eq!(BackupKind::parse("ne", "x"), Ok(BackupKind::Simple));
        assert_eq!(BackupKind::parse("o", "x"), Ok(BackupKind::None));
        let ambiguous = BackupKind::parse("n", "backup type").unwrap_err();
        assert!(ambiguous.ambiguous);
        let invalid = BackupKind::parse("foo", "backup type").unwrap_err();
        assert!(!invalid.ambiguous);
        assert!(invalid.to_string().starts_with(
            "invalid argument 'foo' for 'backup type'\nValid arguments are:\n  - 'none', 'off'"
        ));
    }

    #[test]
    fn names_follow_gnu() {
        let dir = std::env::temp_dir().join(format!("rescue-backup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f");
        let simple = Backup::new(BackupKind::Simple, None);
        assert_eq!(simple.name_for(&file), Some(dir.join("f~")));
        let odd = Backup::new(BackupKind::Simple, Some(OsStr::new("a/b")));
        assert_eq!(odd.name_for(&file), Some(dir.join("f~")));
        let existing = Backup::new(BackupKind::Existing, Some(OsStr::new(".bak")));
        assert_eq!(existing.name_for(&file), Some(dir.join("f.bak")));
        std::fs::write(dir.join("f.~9~"), b"").unwrap();
        std::fs::write(dir.join("f.~10~"), b"").unwrap();
        std::fs::write(dir.join("f.~02~"), b"").unwrap();
        assert_eq!(existing.name_for(&file), Some(dir.join("f.~11~")));
        let numbered = Backup::new(BackupKind::Numbered, None);
        assert_eq!(numbered.name_for(&dir.join("g")), Some(dir.join("g.~1~")));
        assert_eq!(Backup::new(BackupKind::None, None).name_for(&file), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
