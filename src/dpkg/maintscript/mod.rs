//! What the installed packages' maintainer scripts do to the metadata of paths: ssh-agent's
//! `chgrp _ssh` + `chmod 2755`, cron's `chmod 1730` on its spool, ping's `setcap`, sudoers'
//! `chmod 440`, `dpkg-statoverride --add` lines whose entry has since been lost. Neither the
//! archive nor `statoverride` knows these; a pristine root has them.
//!
//! Each installed package's `preinst` and `postinst` under ROOT's `info/` is parsed
//! ([`parse`]) and walked as `postinst configure` would run ([`eval`]), with ROOT's own
//! statoverride file, diversions, debconf answers and commands deciding the conditions that
//! depend on them. The result is, per path, the effect sequences the scripts may have applied,
//! the one a working host gets first. Applying them to the archive's metadata is
//! [`crate::verify::expect`]'s job; this module only reads scripts.

pub mod eval;
pub mod parse;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use eval::{Effect, Op, Value, World};

use super::{Database, Issue, Severity};
use crate::sys::input;
use crate::sys::root::{Last, Root};
use crate::Error;

/// The largest maintainer script read: real ones are a few KiB (the largest in Debian tens of
/// KiB); a larger one is reported and its effects are not known.
const MAX_SCRIPT: u64 = 4 << 20;

/// The longest `config.dat` line read; longer ones (no debconf answer is) are skipped.
const MAX_DEBCONF_LINE: usize = 64 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptKind {
    /// Runs before the unpack, which then sets every file's metadata from the archive again:
    /// only its effects on directories (which an unpack leaves as they are) last.
    Preinst,
    Postinst,
}

impl ScriptKind {
    pub fn name(self) -> &'static str {
        match self {
            ScriptKind::Preinst => "preinst",
            ScriptKind::Postinst => "postinst",
        }
    }
}

/// One package's script, walked.
#[derive(Debug)]
pub struct Script {
    /// dpkg's name for the package (`name`, or `name:arch` for `Multi-Arch: same`).
    pub package: String,
    pub kind: ScriptKind,
    /// The ways through the script, the one a working host takes first.
    pub scenarios: Vec<Vec<Effect>>,
}

/// The effects one script has on one path: each distinct sequence it may apply, the one a
/// working host gets first.
#[derive(Debug)]
pub struct PathEffects<'a> {
    pub script: &'a Script,
    pub sequences: Vec<Vec<&'a Effect>>,
}

/// Every installed package's scripts, indexed by the paths they touch.
#[derive(Debug, Default)]
pub struct MaintainerScripts {
    scripts: Vec<Script>,
    /// Canonical path → scripts with an effect on exactly that path.
    exact: HashMap<PathBuf, Vec<usize>>,
    /// `chown -R`'s and `chmod -R`'s trees: (canonical top, script).
    recursive: Vec<(PathBuf, usize)>,
    /// Scripts that could not be read or parsed (their effects are unknown).
    pub issues: Vec<Issue>,
}

impl MaintainerScripts {
    /// Reads and walks the scripts of every package in `db` that has files, on every core.
    pub fn load(db: &Database, world: &RootWorld) -> MaintainerScripts {
        let mut jobs = Vec::new();
        for package in db.packages.iter().filter(|p| p.state.has_files()) {
            for kind in [ScriptKind::Preinst, ScriptKind::Postinst] {
                jobs.push((package, kind));
            }
        }
        // No `--threads` reaches here: one thread per core.
        let results = crate::sys::parallel::map(jobs, 0, |(package, kind)| {
            let (file, opened) = match db.open_info(package, kind.name()) {
                Ok(Some(found)) => found,
                Ok(None) => return None,
                Err(err) => return Some(Err(err)),
            };
            let text = match input::read_at_most(opened, MAX_SCRIPT) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(err) => return Some(Err(Error::io("read", &file, err))),
            };
            let list = match parse::parse(&text) {
                Ok(list) => list,
                Err(err) => {
                    return Some(Err(Error::parse(
                        &file,
                        Some(err.line),
                        format!("{} (its metadata changes are not known)", err.what),
                    )))
                }
            };
            let (args, script_name): (&[Option<&str>], &str) = match kind {
                ScriptKind::Postinst => (&[Some("configure"), None], "postinst"),
                ScriptKind::Preinst => (&[None, None], "preinst"),
            };
            let env = [
                ("DPKG_ROOT", ""),
                ("DPKG_ADMINDIR", "/var/lib/dpkg"),
                ("DPKG_MAINTSCRIPT_PACKAGE", package.name.as_str()),
                ("DPKG_MAINTSCRIPT_ARCH", package.architecture.as_str()),
                ("DPKG_MAINTSCRIPT_NAME", script_name),
            ];
            let world = PackageWorld {
                world,
                db,
                package,
                own_paths: OnceLock::new(),
            };
            let evaluation = eval::evaluate(&list, args, &env, &world);
            let script = Script {
                package: package.display_name(),
                kind,
                scenarios: evaluation.scenarios,
            };
            Some(Ok((script, evaluation.truncated, file)))
        });
        let mut out = MaintainerScripts::default();
        for result in results.into_iter().flatten() {
            match result {
                Ok((script, truncated, file)) => {
                    if truncated {
                        out.issues.push(Issue {
                            severity: Severity::Warning,
                            error: Error::refused(
                                file,
                                format!(
                                    "more than {} ways through the script: only the first are considered",
                                    eval::MAX_SCENARIOS
                                ),
                            ),
                        });
                    }
                    out.add(script);
                }
                Err(error) => out.issues.push(Issue {
                    severity: Severity::Warning,
                    error,
                }),
            }
        }
        out
    }

    fn add(&mut self, script: Script) {
        let index = self.scripts.len();
        let mut exact: Vec<PathBuf> = Vec::new();
        let mut recursive: Vec<PathBuf> = Vec::new();
        for effect in script.scenarios.iter().flatten() {
            let key = canonical(&effect.path);
            let set = if effect.recursive {
                &mut recursive
            } else {
                &mut exact
            };
            if !set.contains(&key) {
                set.push(key);
            }
        }
        for key in exact {
            self.exact.entry(key).or_default().push(index);
        }
        self.recursive
            .extend(recursive.into_iter().map(|key| (key, index)));
        self.scripts.push(script);
    }

    /// Whether any script was found at all (roots without scripts skip the lookups).
    pub fn is_empty(&self) -> bool {
        self.scripts.is_empty()
    }

    /// What the scripts do to `path`, under any of `names` (its listed and diverted names),
    /// preinsts first, in package order.
    pub fn effects_on(&self, names: &[&Path]) -> Vec<PathEffects<'_>> {
        let keys: Vec<PathBuf> = names.iter().map(|n| canonical(n)).collect();
        let mut indices: Vec<usize> = Vec::new();
        for key in &keys {
            indices.extend(self.exact.get(key).into_iter().flatten());
            for (top, index) in &self.recursive {
                if key.starts_with(top) {
                    indices.push(*index);
                }
            }
        }
        indices.sort_by_key(|&i| (self.scripts[i].kind == ScriptKind::Postinst, i));
        indices.dedup();
        let mut out = Vec::new();
        for index in indices {
            let script = &self.scripts[index];
            let applies = |effect: &Effect| {
                let target = canonical(&effect.path);
                keys.iter()
                    .any(|key| *key == target || (effect.recursive && key.starts_with(&target)))
            };
            let mut sequences: Vec<Vec<&Effect>> = Vec::new();
            for scenario in &script.scenarios {
                let sequence: Vec<&Effect> = scenario.iter().filter(|e| applies(e)).collect();
                if !sequences.contains(&sequence) {
                    sequences.push(sequence);
                }
            }
            if sequences.iter().any(|s| !s.is_empty()) {
                out.push(PathEffects { script, sequences });
            }
        }
        out
    }
}

/// The merged-/usr name of a path (`/bin/ping` and `/usr/bin/ping` are one file), so a script
/// and a package list that spell it differently still meet.
pub fn canonical(path: &Path) -> PathBuf {
    const ALIASES: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];
    let mut components = path.components();
    if let (Some(std::path::Component::RootDir), Some(std::path::Component::Normal(first))) =
        (components.next(), components.next())
    {
        if ALIASES.iter().any(|a| first == *a) {
            return Path::new("/usr").join(path.strip_prefix("/").unwrap_or(path));
        }
    }
    path.to_path_buf()
}

/// The facts of a root that scripts' conditions ask about.
pub struct RootWorld<'a> {
    root: &'a Root,
    db: &'a Database,
    debconf: OnceLock<HashMap<String, String>>,
}

impl<'a> RootWorld<'a> {
    pub fn new(root: &'a Root, db: &'a Database) -> RootWorld<'a> {
        RootWorld {
            root,
            db,
            debconf: OnceLock::new(),
        }
    }
}

/// Where a Debian system looks for commands (dpkg runs scripts with this PATH).
pub const COMMAND_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

impl World for RootWorld<'_> {
    fn has_statoverride(&self, path: &Path) -> bool {
        let overrides = &self.db.statoverrides;
        overrides.get(path).is_some() || overrides.get(&canonical(path)).is_some()
    }

    fn truename(&self, path: &Path) -> PathBuf {
        match self.db.diversions.get(path) {
            Some(diversion) => diversion.to.clone(),
            None => path.to_path_buf(),
        }
    }

    fn command_exists(&self, name: &str) -> Option<bool> {
        let candidates: Vec<PathBuf> = if name.contains('/') {
            vec![PathBuf::from(name)]
        } else {
            COMMAND_DIRS
                .iter()
                .map(|dir| Path::new(dir).join(name))
                .collect()
        };
        candidates
            .iter()
            .filter_map(|c| self.root.resolve(c, Last::Follow).ok())
            .any(|host| std::fs::metadata(host).is_ok_and(|m| m.is_file()))
            .then_some(true)
    }

    fn debconf(&self, question: &str) -> Option<String> {
        self.debconf
            .get_or_init(|| read_debconf(self.root))
            .get(question)
            .cloned()
    }

    fn file_test(&self, op: &str, path: &Path) -> Option<bool> {
        RootWorld::file_test(self, op, path)
    }
}

impl RootWorld<'_> {
    /// `test -OP PATH` inside ROOT, for the ops whose answer is plain (`-r`/`-w` as root).
    fn file_test(&self, op: &str, path: &Path) -> Option<bool> {
        let last = if matches!(op, "-h" | "-L") {
            Last::NoFollow
        } else {
            Last::Follow
        };
        let meta = self
            .root
            .resolve(path, last)
            .ok()
            .and_then(|host| std::fs::symlink_metadata(host).ok());
        use std::os::unix::fs::PermissionsExt;
        Some(match op {
            "-e" | "-r" | "-w" => meta.is_some(),
            "-f" => meta.is_some_and(|m| m.is_file()),
            "-d" => meta.is_some_and(|m| m.is_dir()),
            "-h" | "-L" => meta.is_some_and(|m| m.file_type().is_symlink()),
            "-s" => meta.is_some_and(|m| m.len() > 0),
            "-x" => meta.is_some_and(|m| m.is_dir() || m.permissions().mode() & 0o111 != 0),
            _ => return None,
        })
    }
}

/// The root's facts, as one package's script asks them: its own paths are never looked up
/// (see [`World::file_test`]).
struct PackageWorld<'a> {
    world: &'a RootWorld<'a>,
    db: &'a Database,
    package: &'a super::Package,
    own_paths: OnceLock<std::collections::HashSet<PathBuf>>,
}

impl World for PackageWorld<'_> {
    fn has_statoverride(&self, path: &Path) -> bool {
        self.world.has_statoverride(path)
    }

    fn truename(&self, path: &Path) -> PathBuf {
        self.world.truename(path)
    }

    fn command_exists(&self, name: &str) -> Option<bool> {
        self.world.command_exists(name)
    }

    fn debconf(&self, question: &str) -> Option<String> {
        self.world.debconf(question)
    }

    fn file_test(&self, op: &str, path: &Path) -> Option<bool> {
        let own = self.own_paths.get_or_init(|| {
            let files = self.db.files(self.package).unwrap_or_default();
            files
                .list
                .into_iter()
                .flat_map(|list| list.paths)
                .map(|p| canonical(&p))
                .collect()
        });
        if own.contains(&canonical(path)) {
            return None;
        }
        self.world.file_test(op, path)
    }
}

/// `Name:` → `Value:` from ROOT's debconf database (`config.dat`), empty when there is none
/// or it cannot be read (the conditions that ask then stay unknown). Read line by line inside
/// ROOT; a line longer than [`MAX_DEBCONF_LINE`] is skipped.
fn read_debconf(root: &Root) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Ok(file) = root.open_regular(Path::new("/var/cache/debconf/config.dat")) else {
        return out;
    };
    let mut lines = input::LineReader::new(file, MAX_DEBCONF_LINE);
    let mut name = None;
    let mut value = None;
    while let Ok(Some((_, line))) = lines.next_line() {
        let input::Line::Text(line) = line else {
            continue;
        };
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            if let (Some(name), Some(value)) = (name.take(), value.take()) {
                out.insert(name, value);
            }
        } else if let Some(rest) = line.strip_prefix("Name: ") {
            name = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("Value: ") {
            value = Some(rest.trim().to_string());
        } else if line == "Value:" {
            value = Some(String::new());
        }
    }
    if let (Some(name), Some(value)) = (name, value) {
        out.insert(name, value);
    }
    out
}
