//! ROOT's four account files as text with line numbers, for checking and for rewriting
//! without touching what is there: `passwd`, `group`, `shadow`, `gshadow`, their backups
//! (`/etc/passwd-` as shadow's tools leave them, `/var/backups/passwd.bak` from older Debian
//! releases' daily job, the seeded kit's `/srv/rescue/state/` copies), and what differs
//! between them by entry name.
//!
//! Unlike [`super::accounts`], which only maps names to ids for `ls` and `chown`, every line is
//! kept as the bytes it was (a comment, a NIS `+` line, a line we cannot parse): a rewrite
//! appends to the original bytes and so changes nothing it did not mean to. Password hashes
//! are read but never put into any message: a changed one is only said to have changed.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::root::Root;
use crate::{Error, Result};

/// The largest account file read: real ones are KiBs; a larger one is refused, not guessed at.
const MAX_FILE: u64 = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Passwd,
    Group,
    Shadow,
    Gshadow,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Passwd, Kind::Shadow, Kind::Group, Kind::Gshadow];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Passwd => "passwd",
            Kind::Group => "group",
            Kind::Shadow => "shadow",
            Kind::Gshadow => "gshadow",
        }
    }

    /// The number of `:`-separated fields a line must have.
    pub fn fields(self) -> usize {
        match self {
            Kind::Passwd => 7,
            Kind::Shadow => 9,
            Kind::Group | Kind::Gshadow => 4,
        }
    }

    /// The file holding the other half of the same accounts.
    pub fn partner(self) -> Kind {
        match self {
            Kind::Passwd => Kind::Shadow,
            Kind::Shadow => Kind::Passwd,
            Kind::Group => Kind::Gshadow,
            Kind::Gshadow => Kind::Group,
        }
    }

    /// Whether its second field is a password hash that must never be shown.
    pub fn is_secret(self) -> bool {
        matches!(self, Kind::Shadow | Kind::Gshadow)
    }

    /// `user` or `group`.
    pub fn account(self) -> &'static str {
        match self {
            Kind::Passwd | Kind::Shadow => "user",
            Kind::Group | Kind::Gshadow => "group",
        }
    }

    pub fn path(self) -> PathBuf {
        PathBuf::from(format!("/etc/{}", self.name()))
    }

    /// The mode and group the file has on Debian (`shadow` is read by the `shadow` group's
    /// tools such as `unix_chkpwd`).
    pub fn debian_mode(self) -> u32 {
        if self.is_secret() {
            0o640
        } else {
            0o644
        }
    }
}

/// Where backups of the account files are looked for, by family: a user's `passwd` line and
/// its `shadow` line are taken from the same family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// `/etc/passwd-`: written by shadow's tools before each change.
    Dash,
    /// `/var/backups/passwd.bak`: the daily cron job of Debian releases before bookworm.
    VarBackups,
    /// `/srv/rescue/state/latest/etc/passwd`: the seeded kit's newest copy.
    Seeded,
}

impl Family {
    pub const ALL: [Family; 3] = [Family::Dash, Family::VarBackups, Family::Seeded];

    pub fn path(self, kind: Kind) -> PathBuf {
        self.paths(kind).swap_remove(0)
    }

    /// Where to look, first found wins.
    pub fn paths(self, kind: Kind) -> Vec<PathBuf> {
        let name = kind.name();
        let paths = match self {
            Family::Dash => vec![format!("/etc/{name}-")],
            Family::VarBackups => vec![format!("/var/backups/{name}.bak")],
            Family::Seeded => vec![format!(
                "{}/state/{}/etc/{name}",
                crate::kit::DEFAULT_DIR,
                crate::kit::state::LATEST
            )],
        };
        paths.into_iter().map(PathBuf::from).collect()
    }
}

/// One line, without its newline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// 1-based.
    pub number: usize,
    pub text: Vec<u8>,
}

impl Line {
    pub fn fields(&self) -> Vec<&[u8]> {
        self.text.split(|b| *b == b':').collect()
    }

    /// The entry's name: the first field, when the line is an entry (not blank, a comment or
    /// a NIS `+`/`-` line) and the name is UTF-8.
    pub fn name(&self) -> Option<&str> {
        if self.text.is_empty() || self.text.starts_with(b"#") || self.is_nis() {
            return None;
        }
        let name = self.text.split(|b| *b == b':').next()?;
        std::str::from_utf8(name).ok().filter(|n| !n.is_empty())
    }

    pub fn is_nis(&self) -> bool {
        self.text.starts_with(b"+") || self.text.starts_with(b"-")
    }

    /// Field `index` as text, when present and UTF-8.
    pub fn field(&self, index: usize) -> Option<&str> {
        let field = self.text.split(|b| *b == b':').nth(index)?;
        std::str::from_utf8(field).ok()
    }

    /// The uid (passwd) or gid (group) field, when numeric.
    pub fn id(&self) -> Option<u32> {
        self.field(2)?.parse().ok()
    }
}

/// Owner, group and mode of a file as found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
}

/// One account file as read.
#[derive(Clone, Debug)]
pub struct AccountFile {
    pub kind: Kind,
    /// The path inside ROOT it was read from.
    pub inside: PathBuf,
    pub bytes: Vec<u8>,
    pub lines: Vec<Line>,
    pub stat: Option<Stat>,
}

impl AccountFile {
    pub fn parse(kind: Kind, inside: &Path, bytes: Vec<u8>) -> AccountFile {
        let mut lines = Vec::new();
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        if !bytes.is_empty() {
            for (index, text) in body.split(|b| *b == b'\n').enumerate() {
                lines.push(Line {
                    number: index + 1,
                    text: text.to_vec(),
                });
            }
        }
        AccountFile {
            kind,
            inside: inside.to_path_buf(),
            bytes,
            lines,
            stat: None,
        }
    }

    /// Reads `inside` (resolved in ROOT, a regular file only); `None` when it does not exist.
    pub fn read(root: &Root, kind: Kind, inside: &Path) -> Result<Option<AccountFile>> {
        let shown = root.host_lexical(inside);
        let file = match root.open_regular(inside) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(Error::io("read", shown, err)),
        };
        let meta = file
            .metadata()
            .map_err(|err| Error::io("inspect", &shown, err))?;
        if meta.len() > MAX_FILE {
            return Err(Error::refused(shown, "larger than any account file"));
        }
        let bytes = super::input::read_at_most(file, MAX_FILE)
            .map_err(|err| Error::io("read", &shown, err))?;
        let mut parsed = AccountFile::parse(kind, inside, bytes);
        parsed.stat = Some(Stat {
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            mtime: meta.mtime(),
        });
        Ok(Some(parsed))
    }

    /// The first entry named `name`, as the C library's lookups find it.
    pub fn entry(&self, name: &str) -> Option<&Line> {
        self.lines.iter().find(|line| line.name() == Some(name))
    }

    pub fn entries(&self) -> impl Iterator<Item = (&str, &Line)> {
        self.lines
            .iter()
            .filter_map(|line| line.name().map(|name| (name, line)))
    }

    pub fn names(&self) -> HashSet<&str> {
        self.entries().map(|(name, _)| name).collect()
    }

    /// The first entry with uid or gid `id` (passwd, group).
    pub fn by_id(&self, id: u32) -> Option<&str> {
        self.entries()
            .find(|(_, line)| line.id() == Some(id))
            .map(|(name, _)| name)
    }

    /// The file's bytes with `lines` appended: what was there stays byte for byte (a last line
    /// without its newline gets one first).
    pub fn with_appended(&self, lines: &[Vec<u8>]) -> Vec<u8> {
        let mut out = self.bytes.clone();
        if !out.is_empty() && !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        for line in lines {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out
    }
}

/// A problem with one line, as `pwck -r`/`grpck -r` would name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxIssue {
    pub line: usize,
    pub what: String,
}

/// The checks pwck and grpck make that need nothing but the file: field count, numeric ids and
/// aging fields, empty and duplicate names, a second uid 0, empty home or shell.
pub fn check_syntax(file: &AccountFile) -> Vec<SyntaxIssue> {
    let mut issues = Vec::new();
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    for line in &file.lines {
        if line.text.starts_with(b"#") || line.is_nis() {
            continue;
        }
        let mut issue = |what: String| {
            issues.push(SyntaxIssue {
                line: line.number,
                what,
            })
        };
        let fields = line.fields();
        if fields.len() != file.kind.fields() {
            let entry = match file.kind {
                Kind::Passwd => "password file",
                Kind::Shadow => "shadow password file",
                Kind::Group => "group file",
                Kind::Gshadow => "shadow group file",
            };
            issue(format!(
                "invalid {entry} entry: {} fields, {} expected",
                fields.len(),
                file.kind.fields()
            ));
            continue;
        }
        let name = fields[0];
        if name.is_empty() {
            issue("empty name".into());
            continue;
        }
        let shown = String::from_utf8_lossy(name).into_owned();
        if let Some(first) = seen.get(name) {
            issue(format!("duplicate entry {shown} (first at line {first})"));
        } else {
            seen.insert(name, line.number);
        }
        field_checks(file.kind, &shown, &fields, &mut issue);
    }
    issues
}

fn field_checks(kind: Kind, name: &str, fields: &[&[u8]], issue: &mut impl FnMut(String)) {
    let numeric = |field: &[u8]| std::str::from_utf8(field).ok()?.parse::<u32>().ok();
    match kind {
        Kind::Passwd => {
            if numeric(fields[2]).is_none() {
                issue(format!("user {name}: invalid user ID"));
            } else if numeric(fields[2]) == Some(0) && name != "root" {
                issue(format!("user {name}: uid 0 other than root"));
            }
            if numeric(fields[3]).is_none() {
                issue(format!("user {name}: invalid group ID"));
            }
            if fields[5].is_empty() {
                issue(format!("user {name}: no home directory"));
            }
        }
        Kind::Group => {
            if numeric(fields[2]).is_none() {
                issue(format!("group {name}: invalid group ID"));
            }
        }
        Kind::Shadow => {
            let aging = [
                "last change",
                "minimum",
                "maximum",
                "warning",
                "inactive",
                "expiry",
            ];
            for (field, what) in fields[2..8].iter().zip(aging) {
                if !field.is_empty() && numeric(field).is_none() {
                    issue(format!("user {name}: invalid {what} field"));
                }
            }
        }
        Kind::Gshadow => {}
    }
}

/// What differs for one name between a backup and the current file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// In the current file, not in the backup.
    Added(String),
    /// In the backup, not in the current file.
    Removed(String),
    /// In both, with other fields: the words say which, never a hash.
    Changed(String, String),
}

/// Every name added, removed or changed from `backup` to `current`, in file order.
pub fn diff(backup: &AccountFile, current: &AccountFile) -> Vec<Change> {
    let mut changes = Vec::new();
    let now = current.names();
    for (name, line) in backup.entries() {
        match current.entry(name) {
            None => changes.push(Change::Removed(name.to_string())),
            Some(other) if other.text != line.text => {
                changes.push(Change::Changed(
                    name.to_string(),
                    describe_change(current.kind, line, other),
                ));
            }
            Some(_) => {}
        }
    }
    let before = backup.names();
    let mut reported = HashSet::new();
    for (name, _) in current.entries() {
        if !before.contains(name) && now.contains(name) && reported.insert(name) {
            changes.push(Change::Added(name.to_string()));
        }
    }
    changes
}

/// Which fields differ; old and new values only for the ones that are not secret.
fn describe_change(kind: Kind, old: &Line, new: &Line) -> String {
    let names: &[&str] = match kind {
        Kind::Passwd => &[
            "name",
            "password field",
            "uid",
            "gid",
            "comment",
            "home",
            "shell",
        ],
        Kind::Group => &["name", "password field", "gid", "members"],
        Kind::Shadow => &[
            "name",
            "password hash",
            "last change",
            "minimum age",
            "maximum age",
            "warning period",
            "inactivity period",
            "expiry",
            "reserved field",
        ],
        Kind::Gshadow => &["name", "password hash", "administrators", "members"],
    };
    let (a, b) = (old.fields(), new.fields());
    let mut said = Vec::new();
    for index in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(index), b.get(index));
        if x == y {
            continue;
        }
        let what = names.get(index).copied().unwrap_or("extra field");
        if kind.is_secret() && index == 1 {
            said.push("password hash changed".to_string());
        } else if kind.is_secret() || matches!(what, "password field") {
            said.push(format!("{what} changed"));
        } else {
            let show = |f: Option<&&[u8]>| {
                f.map_or("(none)".into(), |f| String::from_utf8_lossy(f).into_owned())
            };
            said.push(format!("{what} {} -> {}", show(x), show(y)));
        }
    }
    said.join(", ")
}

/// Whether an id belongs to a system account: below Debian's first user id, or `nobody`'s.
pub fn is_system_id(id: u32) -> bool {
    id < 1000 || id == 65534
}

/// Whether a shadow password field is locked or empty-of-hash (`*`, `!`, `!*`, `!!`...): what
/// a restored system entry may carry over from a backup.
pub fn is_locked(password: &str) -> bool {
    password.starts_with('*') || password.starts_with('!')
}

/// A backup of one account file, with its family (to pair `passwd` with `shadow`).
#[derive(Clone, Debug)]
pub struct Backup {
    pub family: Family,
    pub file: AccountFile,
}

impl Backup {
    pub fn mtime(&self) -> i64 {
        self.file.stat.map_or(0, |s| s.mtime)
    }
}

/// Everything read from ROOT: the four files (an absent one is empty, `stat` `None`), every
/// backup found (newest first per kind), and base-passwd's master files.
#[derive(Clone, Debug)]
pub struct State {
    pub current: HashMap<Kind, AccountFile>,
    pub backups: HashMap<Kind, Vec<Backup>>,
    /// `usr/share/base-passwd/{passwd,group}.master`, when present.
    pub masters: HashMap<Kind, AccountFile>,
}

pub const MASTERS: [(Kind, &str); 2] = [
    (Kind::Passwd, "/usr/share/base-passwd/passwd.master"),
    (Kind::Group, "/usr/share/base-passwd/group.master"),
];

impl State {
    pub fn read(root: &Root) -> Result<State> {
        let mut state = State {
            current: HashMap::new(),
            backups: HashMap::new(),
            masters: HashMap::new(),
        };
        for kind in Kind::ALL {
            let path = kind.path();
            let file = AccountFile::read(root, kind, &path)?
                .unwrap_or_else(|| AccountFile::parse(kind, &path, Vec::new()));
            state.current.insert(kind, file);
            let mut found = Vec::new();
            for family in Family::ALL {
                for path in family.paths(kind) {
                    if let Some(file) = AccountFile::read(root, kind, &path)? {
                        found.push(Backup { family, file });
                        break;
                    }
                }
            }
            found.sort_by_key(|b| std::cmp::Reverse(b.mtime()));
            state.backups.insert(kind, found);
        }
        for (kind, path) in MASTERS {
            if let Some(file) = AccountFile::read(root, kind, Path::new(path))? {
                state.masters.insert(kind, file);
            }
        }
        Ok(state)
    }

    pub fn file(&self, kind: Kind) -> &AccountFile {
        &self.current[&kind]
    }

    pub fn backups(&self, kind: Kind) -> &[Backup] {
        self.backups.get(&kind).map_or(&[], Vec::as_slice)
    }

    /// The backup of `kind` in `family`.
    pub fn backup(&self, kind: Kind, family: Family) -> Option<&Backup> {
        self.backups(kind).iter().find(|b| b.family == family)
    }
}

/// Where a missing entry can come back from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Backup(Family),
    Master,
}

/// One entry to add back: its `passwd`/`group` line and its `shadow`/`gshadow` line (`None`
/// when that file has the name already).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addition {
    /// `Passwd` or `Group`.
    pub kind: Kind,
    pub name: String,
    pub id: u32,
    pub source: Source,
    pub line: Vec<u8>,
    pub secret: Option<Vec<u8>>,
    /// Said about the secret line (`password locked: the backup has a hash`).
    pub note: Option<String>,
}

/// The repair: what to add, what is left and why.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub additions: Vec<Addition>,
    /// (kind, name, why) of missing entries not added back.
    pub skipped: Vec<(Kind, String, String)>,
    /// Existing entries whose backup differs: left as they are, said.
    pub kept: Vec<String>,
}

impl Plan {
    /// The new bytes of each file that changes.
    pub fn contents(&self, state: &State) -> Vec<(Kind, Vec<u8>)> {
        let mut out = Vec::new();
        for kind in Kind::ALL {
            let lines: Vec<Vec<u8>> = self
                .additions
                .iter()
                .filter_map(|a| match (a.kind == kind, a.kind.partner() == kind) {
                    (true, _) => Some(a.line.clone()),
                    (_, true) => a.secret.clone(),
                    _ => None,
                })
                .collect();
            if !lines.is_empty() {
                out.push((kind, state.file(kind).with_appended(&lines)));
            }
        }
        out
    }
}

/// Plans the return of `missing` (`Passwd` or `Group` names): each from the newest backup
/// holding it, else from base-passwd's master file. System ids only; an id the current file
/// gives another name is a clash and is skipped, never renumbered. `today` is days since
/// 1970 (a new shadow line's last change).
pub fn plan(state: &State, missing: &[(Kind, String)], today: i64) -> Plan {
    let mut plan = Plan::default();
    let mut taken: HashMap<(Kind, u32), String> = HashMap::new();
    for (kind, name) in missing {
        let Some((source, line)) = find_source(state, *kind, name) else {
            plan.skipped
                .push((*kind, name.clone(), "in no backup".into()));
            continue;
        };
        let Some(id) = line.id() else {
            plan.skipped.push((
                *kind,
                name.clone(),
                "its backup line has no numeric id".into(),
            ));
            continue;
        };
        let clash = state
            .file(*kind)
            .by_id(id)
            .map(str::to_string)
            .or_else(|| taken.get(&(*kind, id)).cloned());
        if let Some(other) = clash {
            let why = format!("id {id} is {other}'s in the current file: not renumbered");
            plan.skipped.push((*kind, name.clone(), why));
            continue;
        }
        if !is_system_id(id) {
            let why = format!("id {id} is not a system account's: add it back by hand if wanted");
            plan.skipped.push((*kind, name.clone(), why));
            continue;
        }
        taken.insert((*kind, id), name.clone());
        let mut text = line.text.clone();
        if source == Source::Master {
            text = replace_field(&text, 1, b"x");
        }
        let (secret, note) = secret_line(state, *kind, name, source, today);
        plan.additions.push(Addition {
            kind: *kind,
            name: name.clone(),
            id,
            source,
            line: text,
            secret,
            note,
        });
    }
    plan.kept = kept_differences(state);
    plan
}

fn find_source<'a>(state: &'a State, kind: Kind, name: &str) -> Option<(Source, &'a Line)> {
    for backup in state.backups(kind) {
        if let Some(line) = backup.file.entry(name) {
            if check_syntax_line(kind, line) {
                return Some((Source::Backup(backup.family), line));
            }
        }
    }
    let line = state.masters.get(&kind)?.entry(name)?;
    Some((Source::Master, line))
}

fn check_syntax_line(kind: Kind, line: &Line) -> bool {
    line.fields().len() == kind.fields() && line.id().is_some()
}

/// The `shadow`/`gshadow` line for a restored entry: the same family's line with its locked
/// password field, `*` in place of a hash, or a new locked line.
fn secret_line(
    state: &State,
    kind: Kind,
    name: &str,
    source: Source,
    today: i64,
) -> (Option<Vec<u8>>, Option<String>) {
    let secret_kind = kind.partner();
    if state.file(secret_kind).entry(name).is_some() {
        return (None, None);
    }
    let fresh = match secret_kind {
        Kind::Shadow => format!("{name}:*:{today}:0:99999:7:::"),
        _ => format!("{name}:*::"),
    };
    let Source::Backup(family) = source else {
        return (Some(fresh.into_bytes()), None);
    };
    let Some(line) = state
        .backup(secret_kind, family)
        .and_then(|b| b.file.entry(name))
        .filter(|l| l.fields().len() == secret_kind.fields())
    else {
        let note = format!("no {} backup line: a new locked one", secret_kind.name());
        return (Some(fresh.into_bytes()), Some(note));
    };
    if line.field(1).is_some_and(is_locked) {
        return (Some(line.text.clone()), None);
    }
    let note = "the backup has a password hash for it: restored locked (`*`)".to_string();
    (Some(replace_field(&line.text, 1, b"*")), Some(note))
}

fn replace_field(text: &[u8], index: usize, value: &[u8]) -> Vec<u8> {
    let fields: Vec<&[u8]> = text.split(|b| *b == b':').collect();
    let mut out = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        out.extend_from_slice(if i == index { value } else { field });
    }
    out
}

/// Existing secret entries whose password differs from the newest backup's: said, never
/// changed.
fn kept_differences(state: &State) -> Vec<String> {
    let mut kept = Vec::new();
    for kind in [Kind::Shadow, Kind::Gshadow] {
        let Some(backup) = state.backups(kind).first() else {
            continue;
        };
        for change in diff(&backup.file, state.file(kind)) {
            if let Change::Changed(name, what) = change {
                if what.contains("password hash") {
                    kept.push(format!(
                        "{} {name}: password hash differs from {}; left as it is",
                        kind.account(),
                        backup.file.inside.display()
                    ));
                }
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(kind: Kind, text: &str) -> AccountFile {
        AccountFile::parse(kind, &kind.path(), text.as_bytes().to_vec())
    }

    #[test]
    fn lines_and_rewrite_are_byte_exact() {
        let passwd = file(
            Kind::Passwd,
            "root:x:0:0::/root:/bin/sh\n# note\n+nis\nman:x:6",
        );
        assert_eq!(passwd.lines.len(), 4);
        assert_eq!(passwd.entry("man").unwrap().number, 4);
        assert!(passwd.entry("nis").is_none());
        let out = passwd.with_appended(&[b"a:x:1:1::/:/bin/sh".to_vec()]);
        assert_eq!(
            out,
            b"root:x:0:0::/root:/bin/sh\n# note\n+nis\nman:x:6\na:x:1:1::/:/bin/sh\n"
        );
    }

    #[test]
    fn syntax_as_pwck() {
        let passwd = file(
            Kind::Passwd,
            "root:x:0:0::/root:/bin/sh\nshort:x:1:1::/\nbad:x:one:1::/:/bin/sh\n\
             root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\n",
        );
        let issues = check_syntax(&passwd);
        let lines: Vec<usize> = issues.iter().map(|i| i.line).collect();
        assert_eq!(lines, [2, 3, 4, 5], "{issues:?}");
        assert!(issues[0].what.contains("6 fields"));
        assert!(issues[1].what.contains("invalid user ID"));
        assert!(issues[3].what.contains("uid 0 other than root"));
    }

    #[test]
    fn diff_never_shows_a_hash() {
        let old = file(
            Kind::Shadow,
            "root:$y$old:1:0:99999:7:::\ngone:*:1:0:99999:7:::\n",
        );
        let new = file(Kind::Shadow, "root:$y$new:2:0:99999:7:::\napp:!:1::::::\n");
        let changes = diff(&old, &new);
        let text = format!("{changes:?}");
        assert!(!text.contains("$y$"), "{text}");
        assert_eq!(
            changes,
            [
                Change::Changed(
                    "root".into(),
                    "password hash changed, last change changed".into()
                ),
                Change::Removed("gone".into()),
                Change::Added("app".into()),
            ]
        );
    }

    #[test]
    fn plan_restores_locked_keeps_and_never_renumbers() {
        let mut state = State {
            current: HashMap::new(),
            backups: HashMap::new(),
            masters: HashMap::new(),
        };
        state.current.insert(
            Kind::Passwd,
            file(
                Kind::Passwd,
                "root:x:0:0::/root:/bin/sh\napp:x:42:42::/:/bin/sh",
            ),
        );
        state
            .current
            .insert(Kind::Shadow, file(Kind::Shadow, "root:*:1:0:99999:7:::\n"));
        state.current.insert(Kind::Group, file(Kind::Group, ""));
        state.current.insert(Kind::Gshadow, file(Kind::Gshadow, ""));
        let mut backup = |kind, text: &str| {
            let mut f = file(kind, text);
            f.inside = Family::Dash.path(kind);
            state.backups.insert(
                kind,
                vec![Backup {
                    family: Family::Dash,
                    file: f,
                }],
            );
        };
        backup(
            Kind::Passwd,
            "man:x:6:12::/:/bin/sh\n_apt:x:42:65534::/:/bin/sh\nbob:x:1001:1001::/:/bin/sh\n",
        );
        backup(Kind::Shadow, "man:$y$hash:1:0:99999:7:::\n");
        state.masters.insert(
            Kind::Passwd,
            file(Kind::Passwd, "daemon:*:1:1:daemon:/usr/sbin:/bin/sh\n"),
        );
        let missing: Vec<(Kind, String)> = ["man", "_apt", "bob", "daemon", "nobody"]
            .iter()
            .map(|n| (Kind::Passwd, n.to_string()))
            .collect();
        let plan = plan(&state, &missing, 20000);
        let added: Vec<&str> = plan.additions.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(added, ["man", "daemon"]);
        assert_eq!(
            plan.additions[0].secret.as_deref(),
            Some(&b"man:*:1:0:99999:7:::"[..])
        );
        assert_eq!(
            plan.additions[1].line,
            b"daemon:x:1:1:daemon:/usr/sbin:/bin/sh"
        );
        assert_eq!(
            plan.additions[1].secret.as_deref(),
            Some(&b"daemon:*:20000:0:99999:7:::"[..])
        );
        let skipped: Vec<&str> = plan.skipped.iter().map(|s| s.1.as_str()).collect();
        assert_eq!(skipped, ["_apt", "bob", "nobody"]);
        assert!(plan.skipped[0].2.contains("app's"));
        let contents = plan.contents(&state);
        assert_eq!(contents[0].0, Kind::Passwd);
        assert!(contents[0]
            .1
            .starts_with(b"root:x:0:0::/root:/bin/sh\napp:x:42:42::/:/bin/sh\nman:"));
    }
}
