//! usage: rescue verify [--root DIR] [--admindir DIR] [--db-only] [--missing-only] [--no-cache]
//!                      [--format text|dpkg|json] [--from SRC]... [--kit DIR] [PKG...]
//!
//! Check every package-owned file against the dpkg database under ROOT (default `/`), read
//! without any dpkg binary: missing paths, MD5 mismatches, modified conffiles (obsolete ones
//! too), a directory or fifo where a file belongs, unreadable files, and a missing or replaced
//! merged-/usr alias (`/lib -> usr/lib`), reported once as the cause of the paths it hides.
//!
//! `--format dpkg` prints exactly the lines `dpkg --verify` prints (`??5?????? c /etc/x`,
//! `missing     /usr/bin/y`); `json` one object per finding for scripts; `text` (default)
//! groups by package and ends with the `rescue restore` command to run next.
//!
//! Exit status: 0 clean, 1 problems found, 2 something could not be verified (an unreadable
//! or damaged database, an unknown package). `dpkg --verify` exits 0 even when files are
//! missing.
//!
//! Deliberate differences from `dpkg --verify`: a `newconffile` placeholder is not reported
//! (dpkg reports a false `??5`); a diverted file is hashed at its diverted path (dpkg checks
//! that it exists); a directory where a file belongs is a finding (dpkg aborts); a fifo there
//! is a finding (dpkg hangs reading it).
//!
//! Digests are cached in ROOT/var/cache/rescue/ keyed by device, inode, size, mtime and ctime;
//! `--no-cache` neither reads nor writes it. That directory must be a real one: a symlink there
//! (to a host directory, say) is reported and the run goes without a cache.
//!
//! Every file read from ROOT is resolved inside ROOT and opened only if it is a regular file:
//! a FIFO, socket or device at `status`, a list, `etc/group`, an apt list or a cached archive
//! is an error naming it (exit 2), never a hang. A database line longer than a path can be is
//! an error naming its file and line, and is never held whole.
//!
//! Unless `--db-only`, every package whose installed version is found (ROOT's apt cache, or
//! each `--from`: a directory of .debs, a mirror tree, an http:// mirror; and the seeded
//! kit's store, `KIT/debs`) and trusted is also
//! checked against the archive's tar headers: type, mode, owner, group, size, symlink target,
//! device numbers, mtime and file capabilities, statoverride and the maintainer scripts'
//! settings applied (`postinst` read, never run) — rpm -V's `S M 5 D L U G T P` columns,
//! which `--format dpkg` prints as `.` (ok) or the letter (failed); `?` where no archive was
//! found or a script sets a value not known here (shown as information, not a problem).
//!
//! With a seeded kit (`--kit DIR`, else ROOT/srv/rescue when present), its baseline comes last
//! in the expected metadata: mode, owner, group and capabilities are expected to be what the
//! healthy host had (an admin's `chmod`, a script's computed value), marked `(baseline)`; a
//! package with no archive is checked against the baseline alone. An entry whose package
//! version or md5 no longer agrees with the dpkg database is ignored, with a warning.

use crate::sys::quoting::json_string;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, ValueEnum};

use super::{complain, Exit};
use crate::dpkg::{Database, Severity};
use crate::kit::Kit;
use crate::sources::Source;
use crate::sys::human::decimal_size;
use crate::sys::quoting::{escape, shell_word};
use crate::sys::root::Root;
use crate::verify::deep::{self, Coverage};
use crate::verify::{self, AliasState, Finding, Kind, Options, Progress, Report};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Dpkg,
    Json,
}

#[derive(Parser)]
#[command(about = "Check package-owned files against the dpkg database")]
pub(super) struct Args {
    /// the root to verify, as if chrooted into it
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// dpkg's database directory (default ROOT/var/lib/dpkg), a path on this host
    #[arg(long)]
    admindir: Option<PathBuf>,
    /// database checks only (no archives)
    #[arg(long)]
    db_only: bool,
    /// check that paths exist, hash nothing
    #[arg(long)]
    missing_only: bool,
    /// neither read nor write the digest cache
    #[arg(long)]
    no_cache: bool,
    /// output format
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// where .deb archives are found (directory, mirror tree, http:// mirror)
    #[arg(long, value_name = "SRC")]
    from: Vec<OsString>,
    /// the seeded kit to use (default ROOT/srv/rescue when present), a path on this host
    #[arg(long, value_name = "DIR")]
    kit: Option<PathBuf>,
    /// packages to check (default: all); `name` or `name:arch`
    packages: Vec<String>,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let (root, db) = super::open_root_database(&args.root, args.admindir.as_deref())?;
    let (packages, unknown) = db.select(&args.packages);
    for wanted in &unknown {
        complain(name, format!("package '{wanted}' is not installed"));
    }
    let kit = Kit::find(&root, args.kit.as_deref()).map_err(|err| Exit::failed(2, err))?;
    let options = Options {
        missing_only: args.missing_only,
        use_cache: !args.no_cache,
        threads: 0,
        kit,
    };
    let progress = Progress::default();
    let show_progress = std::io::stderr().is_terminal();
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        if show_progress {
            scope.spawn(|| draw_progress(name, &progress, &done));
        }
        let result = verify::verify(&root, &db, &packages, &options, Some(&progress));
        done.store(true, Ordering::Relaxed);
        result
    });
    let mut report = result.map_err(|err| Exit::failed(2, err))?;
    let mut from_kit = None;
    let coverage = if args.db_only || args.missing_only {
        None
    } else {
        match deep_checks(&root, &db, &packages, &args.from, &options, &mut report) {
            Ok((coverage, kit)) => {
                from_kit = kit;
                Some(coverage)
            }
            Err(err) => {
                let message = format!("cannot check against archives: {err}");
                return Err(Exit::failed(2, message));
            }
        }
    };
    if let Some(coverage) = &coverage {
        for (package, why) in &coverage.failed {
            complain(
                name,
                format!("warning: {package}: archive checks skipped: {why}"),
            );
        }
    }
    for note in &report.notes {
        let level = match note.issue.severity {
            Severity::Warning => "warning: ",
            Severity::Error => "",
        };
        complain(name, format!("{level}{}", note.issue.error));
    }
    let mut out = std::io::stdout().lock();
    let written = match args.format {
        Format::Dpkg => write_dpkg(&mut out, &report),
        Format::Json => write_json(&mut out, &report),
        Format::Text => {
            write_text(&mut out, &report, &args, coverage.as_ref()).and_then(|()| match &from_kit {
                Some((debs, count)) if *count > 0 => writeln!(
                    out,
                    "{count} of the archives came from the kit's store {}",
                    escape(debs)
                ),
                _ => Ok(()),
            })
        }
    };
    written
        .and_then(|()| out.flush())
        .map_err(|err| Exit::write_error(2, &err))?;
    if !unknown.is_empty() {
        return Ok(2);
    }
    Ok(report.exit_code())
}

fn draw_progress(name: &str, progress: &Progress, done: &AtomicBool) {
    let mut drawn = false;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let files = progress.files_done.load(Ordering::Relaxed);
        let total = progress.files_total.load(Ordering::Relaxed);
        let bytes = progress.bytes_done.load(Ordering::Relaxed);
        let bytes_total = progress.bytes_total.load(Ordering::Relaxed);
        if total == 0 || done.load(Ordering::Relaxed) {
            continue;
        }
        let _ = write!(
            std::io::stderr().lock(),
            "\r\x1b[Krescue {name}: {files}/{total} paths, {} of {} hashed",
            decimal_size(bytes),
            decimal_size(bytes_total)
        );
        drawn = true;
    }
    if drawn {
        let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
    }
}

fn write_dpkg(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    for finding in &report.findings {
        out.write_all(&finding.dpkg_line())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// A path in JSON: as it is when UTF-8, else with `\ooo` escapes (and `path_is_escaped`).
fn json_path(out: &mut String, key: &str, path: &Path) {
    let bytes = crate::dpkg::path_bytes(path);
    json_string(out, key);
    out.push(':');
    match std::str::from_utf8(bytes) {
        Ok(text) => json_string(out, text),
        Err(_) => {
            json_string(out, &escape(path));
            out.push(',');
            json_string(out, &format!("{key}_is_escaped"));
            out.push_str(":true");
        }
    }
}

fn write_json(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    let mut text = String::from("[");
    let mut first = true;
    let mut separator = |text: &mut String| {
        text.push_str(if first { "\n" } else { ",\n" });
        first = false;
    };
    for alias in &report.aliases {
        separator(&mut text);
        text.push_str("{\"package\":null,\"version\":null,");
        json_path(&mut text, "path", &alias.alias);
        text.push_str(",\"kind\":\"alias\",\"expected\":");
        json_string(&mut text, &format!("symlink to {}", escape(&alias.target)));
        text.push_str(",\"actual\":");
        json_string(&mut text, &alias_state(&alias.state));
        text.push_str(&format!(",\"hidden\":{}}}", alias.hidden));
    }
    for set in &report.script_set {
        separator(&mut text);
        text.push_str("{\"package\":");
        json_string(&mut text, &set.package);
        text.push(',');
        json_path(&mut text, "path", &set.path);
        text.push_str(",\"kind\":\"set-by-script\",\"severity\":\"info\",\"by\":");
        json_string(&mut text, &set.by);
        let side = |pick: fn(&crate::verify::Difference) -> &String| {
            set.differences
                .iter()
                .map(|d| format!("{} {}", d.attr.name(), pick(d)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        text.push_str(",\"expected\":");
        json_string(&mut text, &side(|d| &d.expected));
        text.push_str(",\"actual\":");
        json_string(&mut text, &side(|d| &d.actual));
        text.push('}');
    }
    for finding in &report.findings {
        separator(&mut text);
        let (expected, actual) = finding.expected_actual();
        text.push_str("{\"package\":");
        json_string(&mut text, &finding.package);
        text.push_str(",\"version\":");
        json_string(&mut text, &finding.version);
        text.push(',');
        json_path(&mut text, "path", &finding.path);
        if finding.listed != finding.path {
            text.push(',');
            json_path(&mut text, "listed", &finding.listed);
        }
        text.push_str(",\"kind\":");
        json_string(&mut text, finding.kind.name());
        text.push_str(",\"expected\":");
        json_string(&mut text, &expected);
        text.push_str(",\"actual\":");
        json_string(&mut text, &actual);
        text.push_str(&format!(",\"conffile\":{}", finding.conffile));
        text.push_str(",\"attrs\":");
        json_string(
            &mut text,
            &String::from_utf8_lossy(&finding.attrs.columns()),
        );
        if let Some(cause) = &finding.cause {
            text.push(',');
            json_path(&mut text, "cause", cause);
        }
        text.push('}');
    }
    text.push_str(if first { "]\n" } else { "\n]\n" });
    out.write_all(text.as_bytes())
}

fn alias_state(state: &AliasState) -> String {
    match state {
        AliasState::Missing => "missing".into(),
        AliasState::Directory => "a real directory".into(),
        AliasState::WrongTarget(target) => {
            format!("symlink to {}", escape(target))
        }
        AliasState::Other(kind) => format!("a {}", kind.describe()),
    }
}

fn describe(finding: &Finding) -> String {
    let (expected, actual) = finding.expected_actual();
    match &finding.kind {
        Kind::Missing { .. } if finding.cause.is_some() => format!(
            "missing (behind the broken {} alias)",
            escape(finding.cause.as_deref().unwrap_or(Path::new("")))
        ),
        Kind::Missing { errno } if *errno == libc::ENOENT => "missing".into(),
        Kind::Missing { .. } => format!("missing ({actual})"),
        Kind::Md5Mismatch { .. } if finding.conffile => "conffile modified".into(),
        Kind::Md5Mismatch { .. } => "content changed".into(),
        Kind::WrongType { .. } => format!("{actual} where a {expected} belongs"),
        Kind::Unreadable { .. } => format!("unreadable ({actual})"),
        Kind::Attributes if !finding.differences.is_empty() => {
            let each: Vec<String> = finding
                .differences
                .iter()
                .map(|d| format!("{} {} instead of {}", d.attr.name(), d.actual, d.expected))
                .collect();
            each.join("; ")
        }
        Kind::Attributes => format!("attributes differ ({actual})"),
    }
}

/// The archive pass: sources from `--from`, or ROOT's apt cache, and the kit's store. The
/// archives are found (and fetched) here, then compared by the library; how many came from
/// the kit's store comes back with the coverage.
fn deep_checks(
    root: &Root,
    db: &Database,
    packages: &[&crate::dpkg::Package],
    from: &[OsString],
    options: &Options,
    report: &mut Report,
) -> crate::Result<(Coverage, Option<(PathBuf, usize)>)> {
    let mut sources = Vec::new();
    for arg in from {
        sources.push(Source::parse(&arg.to_string_lossy())?);
    }
    if let Some(kit) = &options.kit {
        sources = kit.with_store(root, sources);
    }
    // `verify --from http://...` asks for the archive checks of every package.
    let resolved = crate::sources::resolve(root, db, sources, packages, |_| true)?;
    let from_kit = options.kit.as_ref().map(|kit| {
        let count = resolved
            .found
            .iter()
            .filter(|found| kit.holds(found.archive.deb.path()))
            .count();
        (kit.debs(), count)
    });
    let coverage = deep::check_all(root, db, packages, resolved, options.threads, report);
    Ok((coverage, from_kit))
}

fn write_text(
    out: &mut impl Write,
    report: &Report,
    args: &Args,
    coverage: Option<&Coverage>,
) -> std::io::Result<()> {
    write_alias_lines(out, report)?;
    let listed = write_findings(out, report)?;
    write_script_set(out, report)?;
    let checked = checked_summary(report, coverage);
    if report.findings.is_empty() && report.aliases.is_empty() {
        writeln!(out, "no problems found: {checked}")?;
        return Ok(());
    }
    let problems = report.findings.len() + report.aliases.len();
    writeln!(
        out,
        "{problems} problem{} in {} package{}: {checked}",
        if problems == 1 { "" } else { "s" },
        listed.packages.len(),
        if listed.packages.len() == 1 { "" } else { "s" },
    )?;
    write_next_steps(out, report, args, &listed)
}

/// What the finding lines named, for the summary and the next steps.
struct Listed<'a> {
    /// Packages with findings, in the order they were printed.
    packages: Vec<&'a str>,
    conffiles_modified: usize,
}

fn write_alias_lines(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    for alias in &report.aliases {
        writeln!(
            out,
            "{}: merged-/usr alias is {} (should be a symlink to {}); it hides {} listed path{}",
            escape(&alias.alias),
            alias_state(&alias.state),
            escape(&alias.target),
            alias.hidden,
            if alias.hidden == 1 { "" } else { "s" }
        )?;
    }
    Ok(())
}

/// One header line per package, then one line per finding.
fn write_findings<'a>(out: &mut impl Write, report: &'a Report) -> std::io::Result<Listed<'a>> {
    let mut listed = Listed {
        packages: Vec::new(),
        conffiles_modified: 0,
    };
    let mut current: Option<&str> = None;
    for finding in &report.findings {
        if current != Some(finding.package.as_str()) {
            current = Some(finding.package.as_str());
            if !listed.packages.contains(&finding.package.as_str()) {
                listed.packages.push(&finding.package);
            }
            writeln!(
                out,
                "{} {}",
                escape(&finding.package),
                escape(&finding.version)
            )?;
        }
        if finding.conffile && matches!(finding.kind, Kind::Md5Mismatch { .. }) {
            listed.conffiles_modified += 1;
        }
        let mut line = format!("  {}  {}", escape(&finding.path), describe(finding));
        if finding.listed != finding.path {
            line.push_str(&format!(" (diverted from {})", escape(&finding.listed)));
        }
        writeln!(out, "{line}")?;
    }
    Ok(listed)
}

fn write_script_set(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    if report.script_set.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "set by maintainer scripts to values not known here (not problems):"
    )?;
    for set in &report.script_set {
        let each: Vec<String> = set
            .differences
            .iter()
            .map(|d| format!("{} {} (archive: {})", d.attr.name(), d.actual, d.expected))
            .collect();
        writeln!(
            out,
            "  {}  {}; by {}",
            escape(&set.path),
            each.join(", "),
            set.by
        )?;
    }
    Ok(())
}

/// What was checked, for the last line.
fn checked_summary(report: &Report, coverage: Option<&Coverage>) -> String {
    format!(
        "{} paths in {} packages checked, {} files hashed ({}), {} digests from cache{}",
        report.paths_checked,
        report.packages_checked,
        report.files_hashed,
        decimal_size(report.bytes_hashed),
        report.cache_hits,
        match coverage {
            None => "; database checks only".to_string(),
            Some(c) => format!(
                "; {} packages also checked against their archives, {} without an archive{}",
                c.checked,
                c.unavailable,
                match &report.recorded {
                    Some(r) => format!(
                        "; expected metadata from the kit's baseline {} ({} paths; {} packages checked against it alone)",
                        escape(&r.file),
                        r.baseline.len(),
                        c.recorded_only
                    ),
                    None => String::new(),
                }
            ),
        }
    )
}

/// The commands that fix what was found, every word quoted for pasting into a shell.
fn write_next_steps(
    out: &mut impl Write,
    report: &Report,
    args: &Args,
    listed: &Listed,
) -> std::io::Result<()> {
    let root_arg = if Root::new(&args.root).is_host_root() {
        String::new()
    } else {
        format!(" --root {}", shell_word(&args.root))
    };
    for alias in &report.aliases {
        writeln!(
            out,
            "next: rescue ln -s {} {}",
            shell_word(&alias.target),
            shell_word(Root::new(&args.root).host_lexical(&alias.alias))
        )?;
    }
    if listed.packages.is_empty() {
        return Ok(());
    }
    let words: Vec<String> = listed.packages.iter().map(shell_word).collect();
    writeln!(out, "next: rescue restore{root_arg} {}", words.join(" "))?;
    let modified = listed.conffiles_modified;
    if modified > 0 {
        writeln!(
            out,
            "      ({modified} modified conffile{} kept unless you add --conffiles)",
            if modified == 1 { " is" } else { "s are" }
        )?;
    }
    Ok(())
}
