//! What the packages say: their missing files and the merged-/usr aliases (verify
//! `--missing-only`), whether the dpkg database is still this root's, and the accounts they
//! need.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{count, some_of, Context, Finding, Urgency, Verdict};
use crate::dpkg::status::parse_status;
use crate::sys::account_check;
use crate::sys::account_files::{Kind, State};
use crate::sys::quoting::{escape, shell_word};
use crate::sys::root::Last;
use crate::verify::{self, AliasState};

pub fn missing_files(cx: &mut Context, out: &mut Vec<Finding>) -> Verdict {
    let Some(db) = cx.db else {
        return Verdict::Skipped("no dpkg database".into());
    };
    let packages: Vec<_> = db.packages.iter().collect();
    let options = verify::Options {
        missing_only: true,
        use_cache: false,
        kit: cx.kit.clone(),
        ..verify::Options::default()
    };
    let report = match verify::verify(cx.root, db, &packages, &options, None) {
        Ok(report) => report,
        Err(err) => return Verdict::Skipped(err.to_string()),
    };
    for alias in &report.aliases {
        let state = match &alias.state {
            AliasState::Missing => "is missing".to_string(),
            AliasState::Directory => "is a real directory".to_string(),
            AliasState::WrongTarget(to) => format!("points to {}", escape(to)),
            AliasState::Other(kind) => format!("is a {kind:?}"),
        };
        out.push(Finding {
            urgency: Urgency::Critical,
            check: "package files",
            summary: format!(
                "the merged-/usr alias {} {state} (it should point to {}); it hides {}",
                cx.shown(&alias.alias),
                escape(&alias.target),
                count(alias.hidden, "package path", "package paths")
            ),
            details: Vec::new(),
            next: vec![
                cx.rescue("restore", &["--dry-run"]),
                cx.rescue("restore", &[]),
            ],
        });
    }
    let mut by_package: BTreeMap<&str, usize> = BTreeMap::new();
    for finding in &report.findings {
        if matches!(finding.kind, verify::Kind::Missing { .. }) {
            *by_package.entry(finding.package.as_str()).or_default() += 1;
            let canonical = cx
                .root
                .resolve_inside(&finding.path, Last::NoFollow)
                .unwrap_or_else(|_| finding.path.clone());
            cx.missing.push((canonical, finding.package.clone()));
        }
    }
    if by_package.is_empty() {
        return Verdict::Ok;
    }
    let listed: Vec<String> = by_package
        .iter()
        .map(|(package, n)| format!("{package} ({n})"))
        .collect();
    let mut restore_args: Vec<String> = Vec::new();
    if by_package.len() <= 12 {
        restore_args.extend(by_package.keys().map(shell_word));
    }
    let args: Vec<&str> = restore_args.iter().map(String::as_str).collect();
    out.push(Finding {
        urgency: Urgency::High,
        check: "package files",
        summary: format!(
            "{} missing in {}",
            count(
                cx.missing.len(),
                "package-owned path is",
                "package-owned paths are"
            ),
            count(by_package.len(), "package", "packages")
        ),
        details: vec![some_of(&listed, 12)],
        next: vec![cx.rescue("restore", &args)],
    });
    Verdict::Ok
}

/// A copy of the dpkg status to judge the current one against, newest first.
struct StatusCopy {
    shown: String,
    mtime: i64,
    packages: HashSet<String>,
    arch: Option<String>,
}

/// The dpkg database replaced by another root's: a package set or native architecture unlike
/// dpkg's own daily backup (`var/backups/dpkg.status.*`) or the kit's copy.
pub fn replaced_database(cx: &mut Context, out: &mut Vec<Finding>) -> Verdict {
    let Some(db) = cx.db else {
        return Verdict::Skipped("no dpkg database".into());
    };
    let installed: Vec<_> = db.packages.iter().filter(|p| p.state.has_files()).collect();
    let current: HashSet<String> = installed
        .iter()
        .map(|p| format!("{}:{}", p.name, p.architecture))
        .collect();
    let current_arch = dominant_arch(installed.iter().map(|p| p.architecture.as_str()));
    let Some(copy) = newest_copy(cx) else {
        return Verdict::Skipped("no backup of the status file (var/backups/dpkg.status.*)".into());
    };
    let shared = current.intersection(&copy.packages).count();
    let union = current.union(&copy.packages).count().max(1);
    let arch_differs = copy.arch.is_some() && current_arch.is_some() && copy.arch != current_arch;
    // Upgrades and installs since the daily backup change a few names; another root's
    // database shares far fewer (a container's holds a few dozen of a server's hundreds).
    if !arch_differs && shared * 2 >= union {
        return Verdict::Ok;
    }
    let mut details = vec![format!(
        "{} now, {} in {}; {} in both",
        count(current.len(), "package", "packages"),
        copy.packages.len(),
        copy.shown,
        shared
    )];
    if arch_differs {
        details.push(format!(
            "native architecture {} now, {} in the backup",
            current_arch.unwrap_or_default(),
            copy.arch.clone().unwrap_or_default()
        ));
    }
    let status = cx.shown(Path::new("/var/lib/dpkg/status"));
    out.push(Finding {
        urgency: Urgency::Critical,
        check: "dpkg database",
        summary: format!(
            "the dpkg database looks like another root's: {status} does not match {}",
            copy.shown
        ),
        details,
        next: vec![
            cx.rescue("changes", &["--since", "2d", "/var/lib/dpkg"]),
            format!(
                "rescue ls -la {}",
                shell_word(cx.root.host_lexical(Path::new("/var/backups")))
            ),
        ],
    });
    Verdict::Ok
}

fn dominant_arch<'a>(archs: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for arch in archs.filter(|a| *a != "all" && !a.is_empty()) {
        *counts.entry(arch).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(arch, _)| arch.to_string())
}

/// The newest readable copy among dpkg's backups and the kit's state copies.
fn newest_copy(cx: &Context) -> Option<StatusCopy> {
    let mut candidates: Vec<(PathBuf, PathBuf)> = Vec::new();
    if let Ok(dir) = cx.root.resolve(Path::new("/var/backups"), Last::Follow) {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with("dpkg.status.") {
                candidates.push((entry.path(), dir.join(&name)));
            }
        }
    }
    if let Some(kit) = &cx.kit {
        let copy = kit.latest_state().join("var/lib/dpkg/status");
        candidates.push((copy.clone(), copy));
    }
    let mut copies: Vec<StatusCopy> = candidates
        .into_iter()
        .filter_map(|(path, shown)| read_copy(&path, &shown))
        .collect();
    copies.sort_by_key(|c| std::cmp::Reverse(c.mtime));
    copies.into_iter().next()
}

fn read_copy(path: &Path, shown: &Path) -> Option<StatusCopy> {
    let file = crate::sys::input::open_regular(path, Last::NoFollow).ok()?;
    let mtime = file.metadata().ok()?.mtime();
    let limit = 256 << 20;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(file)
            .take(limit)
            .read_to_end(&mut out)
            .ok()?;
        out
    } else {
        crate::sys::input::read_at_most(file, limit).ok()?
    };
    let packages = parse_status(path, &bytes).ok()?;
    let installed: Vec<_> = packages.iter().filter(|p| p.state.has_files()).collect();
    Some(StatusCopy {
        shown: escape(shown),
        mtime,
        arch: dominant_arch(installed.iter().map(|p| p.architecture.as_str())),
        packages: installed
            .iter()
            .map(|p| format!("{}:{}", p.name, p.architecture))
            .collect(),
    })
}

pub fn accounts(cx: &mut Context, out: &mut Vec<Finding>) -> Verdict {
    let state = match State::read(cx.root) {
        Ok(state) => state,
        Err(err) => return Verdict::Skipped(err.to_string()),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let report = account_check::examine(cx.root, &state, now);
    if report.findings.is_empty() {
        return Verdict::Ok;
    }
    let mut findings = report.findings;
    findings.sort_by_key(|f| f.urgency);
    let named = |kind: Kind| -> Vec<String> {
        report
            .missing
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, name)| name.clone())
            .collect()
    };
    let (users, groups) = (named(Kind::Passwd), named(Kind::Group));
    let summary = if report.missing.is_empty() {
        format!(
            "{} in passwd, group, shadow or gshadow",
            count(findings.len(), "account problem", "account problems")
        )
    } else {
        format!(
            "{} and {} are missing",
            count(users.len(), "user", "users"),
            count(groups.len(), "group", "groups")
        )
    };
    let mut details = Vec::new();
    for (label, names) in [("users", &users), ("groups", &groups)] {
        if !names.is_empty() {
            details.push(format!("missing {label}: {}", names.join(", ")));
        }
    }
    details.extend(findings.iter().take(6).map(|f| f.text.clone()));
    let missing = report.missing;
    let mut next = vec![cx.rescue("accounts", &[])];
    if !missing.is_empty() {
        next.push(cx.rescue("accounts", &["--repair"]));
    }
    out.push(Finding {
        urgency: Urgency::High,
        check: "accounts",
        summary,
        details,
        next,
    });
    Verdict::Ok
}
