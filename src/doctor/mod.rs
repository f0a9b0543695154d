//! One triage of a root: what is wrong, most urgent first, each finding with the next command
//! to run. Each check is a small function over what the other applets already read (the ELF
//! loader's search, verify, the account files, the mount table, `/proc`); a check that cannot
//! be made says why and is no finding.
//!
//! The running kernel's state (stuck processes, listening sockets, the kernel log, conntrack)
//! describes ROOT only when ROOT is the running system's own root: otherwise (a disk mounted
//! on a live system, a copy) those checks are skipped and say so. The file systems holding
//! ROOT are checked either way: a full one stops a restore.

mod host;
mod packages;
mod sshd;
mod start;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::dpkg::owners::Owners;
use crate::dpkg::Database;
use crate::kit::Kit;
use crate::sys::quoting::shell_word;
use crate::sys::root::Root;

/// How soon a finding needs attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Urgency {
    /// Nothing dynamic starts, or the package database is not this root's.
    Critical,
    /// A service or the next repair step is blocked (ssh, accounts, missing files, a full disk).
    High,
    /// Worth fixing now, not blocking.
    Medium,
}

impl Urgency {
    pub fn word(self) -> &'static str {
        match self {
            Urgency::Critical => "critical",
            Urgency::High => "high",
            Urgency::Medium => "medium",
        }
    }
}

/// One thing found wrong.
#[derive(Clone, Debug)]
pub struct Finding {
    pub urgency: Urgency,
    /// The check that found it (`loader`, `accounts`, ...).
    pub check: &'static str,
    pub summary: String,
    pub details: Vec<String>,
    /// Commands to run next, in order, ready to paste.
    pub next: Vec<String>,
}

/// What one check concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Found(usize),
    Skipped(String),
}

#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Every check in the order run, and its verdict.
    pub checks: Vec<(&'static str, Verdict)>,
    /// Whether ROOT is the running system's root (the live checks ran).
    pub live: bool,
}

/// What the checks share: the root, its database (when it opens), who owns each path.
pub struct Context<'a> {
    pub root: &'a Root,
    pub db: Option<&'a Database>,
    pub kit: Option<Kit>,
    /// ROOT is the root of the running system: `/proc` and the kernel describe it.
    pub live: bool,
    /// Package-owned paths found missing (resolved inside ROOT), with their package: what
    /// `salvage` may still find held open.
    pub missing: Vec<(std::path::PathBuf, String)>,
    owners: Option<Option<Owners>>,
}

impl Context<'_> {
    /// `rescue APPLET --root ROOT ARGS` (no `--root` for `/`), ready to paste.
    pub fn rescue(&self, applet: &str, args: &[&str]) -> String {
        let mut line = format!("rescue {applet}");
        if !self.root.is_host_root() {
            line.push_str(" --root ");
            line.push_str(&shell_word(self.root.dir()));
        }
        for arg in args {
            line.push(' ');
            line.push_str(arg);
        }
        line
    }

    /// The packages that own `path` (the merged-/usr twin and diversions counted).
    pub fn owners_of(&mut self, path: &Path) -> Vec<String> {
        let db = self.db;
        let owners = self
            .owners
            .get_or_insert_with(|| db.and_then(|db| Owners::read(db).ok()));
        owners
            .as_ref()
            .map(|o| o.of(path).iter().map(|o| o.package.clone()).collect())
            .unwrap_or_default()
    }

    /// A path as the host sees it, for messages.
    pub fn shown(&self, inside: &Path) -> String {
        crate::sys::quoting::escape(self.root.host_lexical(inside))
    }
}

/// Runs every check on `root`. `db` is `Err` with the reason when the database did not open:
/// the checks that need it are skipped, and that itself is a finding.
pub fn examine(
    root: &Root,
    db: std::result::Result<&Database, String>,
    kit: Option<Kit>,
) -> Report {
    let live = is_running_root(root);
    let mut report = Report {
        live,
        ..Report::default()
    };
    let db_problem = db.as_ref().err().cloned();
    let mut cx = Context {
        root,
        db: db.ok(),
        kit,
        live,
        missing: Vec::new(),
        owners: None,
    };
    if let Some(why) = db_problem {
        report.findings.push(Finding {
            urgency: Urgency::Critical,
            check: "dpkg database",
            summary: format!("the dpkg database cannot be read: {why}"),
            details: Vec::new(),
            next: vec![format!(
                "rescue ls -la {}",
                shell_word(root.host_lexical(Path::new("/var/lib/dpkg")))
            )],
        });
    }
    type Check = fn(&mut Context, &mut Vec<Finding>) -> Verdict;
    let checks: [(&'static str, Check); 11] = [
        ("loader", start::loader),
        ("package files", packages::missing_files),
        ("ld.so.cache", start::ld_so_cache),
        ("dpkg database", packages::replaced_database),
        ("accounts", packages::accounts),
        ("sshd", sshd::check),
        ("stuck processes", host::stuck_processes),
        ("file systems", host::file_systems),
        ("conntrack", host::conntrack),
        ("kernel log", host::kernel_log),
        ("deleted but held", start::salvageable),
    ];
    for (name, check) in checks {
        let before = report.findings.len();
        let verdict = check(&mut cx, &mut report.findings);
        let verdict = match verdict {
            Verdict::Ok if report.findings.len() > before => {
                Verdict::Found(report.findings.len() - before)
            }
            other => other,
        };
        report.checks.push((name, verdict));
    }
    // Stable: within one urgency, the order the checks ran (cause before consequence).
    report.findings.sort_by_key(|f| f.urgency);
    report
}

/// Whether ROOT is `/` of this process's own mount namespace and the one `/proc/1` sees.
fn is_running_root(root: &Root) -> bool {
    if root.is_host_root() {
        return true;
    }
    match (std::fs::metadata(root.dir()), std::fs::metadata("/")) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// "N things" with the right plural.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// At most `limit` items joined with ", ", and how many more.
pub fn some_of(items: &[String], limit: usize) -> String {
    let mut text = items
        .iter()
        .take(limit)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > limit {
        text.push_str(&format!(" and {} more", items.len() - limit));
    }
    text
}
