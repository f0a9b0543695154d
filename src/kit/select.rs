//! Which installed packages the archive store holds (`--packages`): `essential`, `all`, or
//! names. `essential` is what gets a shell, dpkg, apt and sshd working again: every installed
//! package of Priority required or important, plus the Depends and Pre-Depends closure of
//! [`ESSENTIAL_ROOTS`]. An alternative (`a | b`) is served by the first of its names that is
//! installed, directly or through an installed package's Provides; versions in relations are
//! not compared (what is installed is what the host runs).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::dpkg::status::{parse_stanzas, Stanza};
use crate::dpkg::{Database, Package, State};
use crate::sys::root::Root;
use crate::{Error, Result};

/// The packages whose closure `essential` adds to the required and important ones.
pub const ESSENTIAL_ROOTS: &[&str] = &[
    "openssh-server",
    "dpkg",
    "apt",
    "bash",
    "coreutils",
    "libc6",
];

/// `--packages`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Set {
    Essential,
    All,
    Named(Vec<String>),
}

impl Set {
    /// `essential`, `all`, or package names (`name` or `name:arch`).
    pub fn parse(words: &[String]) -> Set {
        match words {
            [] => Set::Essential,
            [one] if one == "essential" => Set::Essential,
            [one] if one == "all" => Set::All,
            names => Set::Named(names.to_vec()),
        }
    }
}

/// The fields of ROOT's status the closure needs, by package name (all architectures).
#[derive(Default)]
struct Relations {
    priority: HashMap<String, String>,
    depends: HashMap<String, Vec<String>>,
    /// Virtual name -> the installed packages providing it.
    providers: HashMap<String, Vec<String>>,
}

/// The installed packages of `set`, in the database's order; the names that match nothing
/// installed come back too.
pub fn select<'a>(
    root: &Root,
    db: &'a Database,
    set: &Set,
) -> Result<(Vec<&'a Package>, Vec<String>)> {
    let installed: Vec<&Package> = db.packages.iter().filter(|p| unpacked(p)).collect();
    match set {
        Set::All => Ok((installed, Vec::new())),
        Set::Named(names) => {
            let (chosen, unknown) = db.select(names);
            Ok((
                chosen.into_iter().filter(|p| unpacked(p)).collect(),
                unknown,
            ))
        }
        Set::Essential => {
            let relations = read_relations(root, &installed)?;
            let names = essential_closure(&relations, &installed);
            Ok((
                installed
                    .into_iter()
                    .filter(|p| names.contains(&p.name))
                    .collect(),
                Vec::new(),
            ))
        }
    }
}

/// Whether the package's files are on disk: a removed package's leftover conffiles need no
/// archive.
fn unpacked(package: &Package) -> bool {
    !matches!(package.state, State::NotInstalled | State::ConfigFiles)
}

fn essential_closure(relations: &Relations, installed: &[&Package]) -> BTreeSet<String> {
    let is_installed = |name: &str| installed.iter().any(|p| p.name == name);
    let mut pending: Vec<String> = installed
        .iter()
        .filter(|p| {
            relations
                .priority
                .get(&p.name)
                .is_some_and(|prio| prio == "required" || prio == "important")
        })
        .map(|p| p.name.clone())
        .chain(
            ESSENTIAL_ROOTS
                .iter()
                .filter(|name| is_installed(name))
                .map(|name| name.to_string()),
        )
        .collect();
    let mut chosen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !chosen.insert(name.clone()) {
            continue;
        }
        for relation in relations.depends.get(&name).into_iter().flatten() {
            let served = relation.split('|').find_map(|alternative| {
                let wanted = relation_name(alternative);
                if is_installed(wanted) {
                    return Some(vec![wanted.to_string()]);
                }
                relations.providers.get(wanted).cloned()
            });
            pending.extend(served.into_iter().flatten());
        }
    }
    chosen
}

/// `libc6:amd64 (>= 2.36)` -> `libc6`.
fn relation_name(alternative: &str) -> &str {
    let word = alternative
        .trim()
        .split(|c: char| c.is_whitespace() || c == '(' || c == '[')
        .next()
        .unwrap_or("");
    word.split(':').next().unwrap_or(word)
}

fn read_relations(root: &Root, installed: &[&Package]) -> Result<Relations> {
    let inside = Path::new(crate::dpkg::ADMINDIR).join("status");
    let shown = root.host_lexical(&inside);
    let file = root
        .open_regular(&inside)
        .map_err(|err| Error::io("open", &shown, err))?;
    let bytes = crate::sys::input::read_at_most(file, 1 << 30)
        .map_err(|err| Error::io("read", &shown, err))?;
    let mut relations = Relations::default();
    for stanza in parse_stanzas(&shown, &bytes)? {
        let field = |name: &str| -> Option<String> {
            Stanza::get(&stanza, name).map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let Some(name) = field("Package") else {
            continue;
        };
        if !installed.iter().any(|p| p.name == name) {
            continue;
        }
        if let Some(priority) = field("Priority") {
            relations
                .priority
                .insert(name.clone(), priority.trim().to_string());
        }
        let depends = relations.depends.entry(name.clone()).or_default();
        for key in ["Pre-Depends", "Depends"] {
            depends.extend(
                field(key)
                    .unwrap_or_default()
                    .split(',')
                    .map(|r| r.trim().to_string())
                    .filter(|r| !r.is_empty()),
            );
        }
        for provided in field("Provides").unwrap_or_default().split(',') {
            let provided = relation_name(provided);
            if !provided.is_empty() {
                relations
                    .providers
                    .entry(provided.to_string())
                    .or_default()
                    .push(name.clone());
            }
        }
    }
    Ok(relations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_names_lose_their_version_and_architecture() {
        assert_eq!(relation_name(" libc6:amd64 (>= 2.36)"), "libc6");
        assert_eq!(relation_name("debconf (>= 0.5) "), "debconf");
        assert_eq!(relation_name("awk"), "awk");
        assert_eq!(relation_name("foo [amd64]"), "foo");
    }

    /// Required packages and the roots' closure, alternatives served by what is installed
    /// (directly or through Provides); optional packages nothing needs stay out.
    #[test]
    fn essential_is_required_important_and_the_roots_closure() {
        let dir = tempfile::tempdir().unwrap();
        let admin = dir.path().join("var/lib/dpkg");
        std::fs::create_dir_all(&admin).unwrap();
        let stanza = |name: &str, priority: &str, depends: &str, provides: &str| {
            format!(
                "Package: {name}\nStatus: install ok installed\nPriority: {priority}\n\
                 Version: 1\nArchitecture: amd64\nDepends: {depends}\nProvides: {provides}\n\n"
            )
        };
        let status = [
            stanza("base", "required", "libx (>= 1) | liby", ""),
            stanza("liby", "optional", "", ""),
            stanza("bash", "optional", "awk", ""),
            stanza("mawk", "optional", "", "awk"),
            stanza("coreutils", "optional", "libc6:amd64", ""),
            stanza("libc6", "optional", "", ""),
            stanza("tool", "optional", "liby", ""),
            stanza("kept-out", "important", "", ""),
            stanza("extra", "optional", "libc6", ""),
        ]
        .concat()
        .replace(
            "Package: kept-out\nStatus: install ok installed",
            "Package: kept-out\nStatus: deinstall ok config-files",
        );
        std::fs::write(admin.join("status"), status).unwrap();
        let root = Root::new(dir.path());
        let db = Database::open_in(&root).unwrap();
        let (chosen, unknown) = select(&root, &db, &Set::Essential).unwrap();
        let names: Vec<&str> = chosen.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["base", "liby", "bash", "mawk", "coreutils", "libc6"]
        );
        assert!(unknown.is_empty());
        let (named, unknown) =
            select(&root, &db, &Set::Named(vec!["tool".into(), "nope".into()])).unwrap();
        assert_eq!(named.len(), 1);
        assert_eq!(unknown, ["nope"]);
    }

    #[test]
    fn set_words() {
        assert_eq!(Set::parse(&[]), Set::Essential);
        assert_eq!(Set::parse(&["all".into()]), Set::All);
        assert_eq!(
            Set::parse(&["bash".into(), "all".into()]),
            Set::Named(vec!["bash".into(), "all".into()])
        );
    }
}
