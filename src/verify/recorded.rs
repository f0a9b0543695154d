//! The kit's baseline as expected metadata: read once per run, and kept only where it still
//! agrees with the dpkg database. An entry whose package is now at another version, or whose
//! md5 is not the one dpkg records for the file (it was upgraded, or replaced, since the
//! baseline was recorded, or it was already changed then), says nothing about today's file: it
//! is dropped, with a note naming the package and the paths. A conffile's content is the
//! admin's, so for a conffile only the version is compared.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::{Expect, Item, Note};
use crate::dpkg::{Database, Issue, Package, Severity};
use crate::kit::baseline::Baseline;
use crate::kit::Kit;
use crate::sys::quoting::escape;

/// How many paths a note names before it only counts.
const NAMED: usize = 3;

/// The part of a kit's baseline this run uses.
#[derive(Debug)]
pub struct Recorded {
    /// The baseline file, as messages name it.
    pub file: PathBuf,
    /// The entries of the paths checked that agree with the database.
    pub baseline: Baseline,
    /// Entries dropped because they disagree with the database.
    pub ignored: usize,
    /// Why, one line per package (also among the run's notes).
    pub dropped: Vec<String>,
}

/// Paths of one package whose entries were dropped, and why.
#[derive(Default)]
struct Dropped {
    paths: Vec<PathBuf>,
    count: usize,
}

impl Dropped {
    fn add(&mut self, path: &Path) {
        if self.paths.len() < NAMED {
            self.paths.push(path.to_path_buf());
        }
        self.count += 1;
    }

    fn named(&self) -> String {
        let mut text: Vec<String> = self.paths.iter().map(escape).collect();
        if self.count > self.paths.len() {
            text.push(format!("{} more", self.count - self.paths.len()));
        }
        text.join(", ")
    }
}

/// The kit's baseline for the `items` being checked, or `None` when the kit has none (or it
/// cannot be read: a warning says so and the run goes on without it).
pub(super) fn load(
    kit: &Kit,
    db: &Database,
    packages: &[&Package],
    items: &[Item],
    notes: &mut Vec<Note>,
) -> Option<Recorded> {
    let file = kit.baseline();
    let mut baseline = match Baseline::read(&file) {
        Ok(baseline) => baseline,
        Err(err) if err.is_not_found() => return None,
        Err(err) => {
            let why = format!("{err}; expected metadata comes from the archives alone");
            notes.push(note(None, crate::Error::refused(&file, why)));
            return None;
        }
    };
    let installed: HashMap<String, &str> = db
        .packages
        .iter()
        .filter(|p| p.state.has_files())
        .map(|p| (p.display_name(), p.version.as_str()))
        .collect();
    // dpkg's md5 for each checked path of the package that lists it (conffiles left out).
    let mut md5_of: HashMap<&Path, (usize, [u8; 16])> = HashMap::new();
    let mut checked: HashSet<&Path> = HashSet::new();
    for item in items {
        checked.insert(item.path());
        if let (Expect::Md5(md5), false) = (item.expect, item.conffile) {
            md5_of.entry(item.path()).or_insert((item.package, md5));
        }
    }
    let names: Vec<String> = packages.iter().map(|p| p.display_name()).collect();
    let mut moved: BTreeMap<(String, String), Dropped> = BTreeMap::new();
    let mut changed: BTreeMap<String, Dropped> = BTreeMap::new();
    baseline.retain(|path, entry| {
        if !checked.contains(path) {
            return false;
        }
        if installed.get(&entry.package).copied() != Some(entry.version.as_str()) {
            let key = (entry.package.clone(), entry.version.clone());
            moved.entry(key).or_default().add(path);
            return false;
        }
        let disagrees = match (md5_of.get(path), entry.md5) {
            (Some((package, dpkg)), Some(recorded)) => {
                names[*package] == entry.package && *dpkg != recorded
            }
            _ => false,
        };
        if disagrees {
            changed.entry(entry.package.clone()).or_default().add(path);
        }
        !disagrees
    });
    let mut ignored = 0;
    let mut lines = Vec::new();
    for ((package, version), dropped) in moved {
        ignored += dropped.count;
        let now = match installed.get(&package) {
            Some(now) => format!("{package} is now {now}"),
            None => format!("{package} is no longer installed"),
        };
        let why = format!(
            "entries of {package} {version} ignored ({}): {now}",
            dropped.named()
        );
        let error = crate::Error::refused(&file, why);
        lines.push(error.to_string());
        notes.push(note(Some(package), error));
    }
    for (package, dropped) in changed {
        ignored += dropped.count;
        let why = format!(
            "entries of {package} ignored ({}): the md5 recorded is not the one dpkg records \
             (the file was replaced since, or was already changed when the baseline was recorded)",
            dropped.named()
        );
        let error = crate::Error::refused(&file, why);
        lines.push(error.to_string());
        notes.push(note(Some(package), error));
    }
    Some(Recorded {
        file,
        baseline,
        ignored,
        dropped: lines,
    })
}

fn note(package: Option<String>, error: crate::Error) -> Note {
    Note {
        package,
        issue: Issue {
            severity: Severity::Warning,
            error,
        },
    }
}
