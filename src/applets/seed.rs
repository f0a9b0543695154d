//! usage: rescue seed [--root DIR] [--dir DIR] [--packages essential|all|PKG...] [--from SRC]...
//!                    [--hook] [-q|--quiet]
//!
//! Make or refresh the seeded kit in ROOT/DIR (default `/srv/rescue`), the one `verify` and
//! `restore` then use by default. It is idempotent, and fast when nothing changed: each part
//! is rewritten only when it differs, and an archive already in the store is not read again.
//!
//! - `DIR/rescue`: a copy of this binary (temp file, rename, checked by SHA256), with
//!   `DIR/bin/APPLET -> ../rescue` for every applet, `DIR/RESCUE.md` and `DIR/SHA256SUMS`
//!   (`cd DIR && sha256sum -c SHA256SUMS`).
//! - `DIR/debs/`: the `.deb` of the installed version of every package of the set, found and
//!   trusted as `restore` does (ROOT's apt cache, then each `--from`: a directory, a mirror
//!   tree, an http:// mirror; a SHA256 from a Packages index, or md5sums equal to the ones
//!   dpkg recorded), hard-linked when on the same file system, else copied. Archives of
//!   versions no longer installed are pruned. `debs/index` (name, version, arch, SHA256, size,
//!   inode, mtime, file, trust rule; tab-separated) lets a refresh skip unchanged archives.
//!   `--packages essential` (default): Priority required and important, plus the
//!   Depends/Pre-Depends closure of openssh-server, dpkg, apt, bash, coreutils and libc6;
//!   `all`; or package names.
//! - `DIR/baseline`: the metadata of every package-owned path on this healthy host.
//! - ROOT's `/var/cache/rescue/archives/`: the header index of every archive in the store (its
//!   entries' metadata and files' md5s, made once per archive), so that `restore` plans and
//!   `verify` compares without decompressing them.
//! - `DIR/state/YYYYmmddTHHMMSSZ/` and `DIR/state/latest` (a symlink to the newest): copies of
//!   etc/passwd, group, shadow and gshadow (0600), var/lib/dpkg/status, diversions and
//!   statoverride, and the apt lists' Release and InRelease files, at their paths inside ROOT.
//!   A new version is made only when one of them changed; the newest 5 are kept.
//! - `DIR/bin/bash` and `DIR/bin/sh -> bash`: Debian's `bash-static`, when a Packages index
//!   (ROOT's apt lists, a `--from` mirror) vouches for an archive of it that can be found.
//! - `DIR/lib/`: ROOT's own loader and `libc.so.6`, so that
//!   `DIR/lib/ld-linux-x86-64.so.2 --library-path DIR/lib /usr/bin/X` starts a dynamic tool.
//!
//! `--hook` also writes `ROOT/etc/apt/apt.conf.d/90-rescue-seed` (a `DPkg::Post-Invoke`) and
//! `ROOT/etc/dpkg/dpkg.cfg.d/rescue-seed` (dpkg's `post-invoke`, skipped under apt, whose hook
//! follows), so every apt or dpkg run refreshes the kit with `DIR/rescue seed --quiet` and the
//! same `--dir`, `--packages` and `--from`. The hook never fails a package operation.
//!
//! Everything is written inside ROOT, root-confined: the kit directory is refused when it is a
//! symlink, and anything inside it that is not what seed put there is replaced, never
//! followed. Exit status: 0 done; 1 the kit was written but some archives of the set could not
//! be found or trusted (listed), or a named package is not installed; 2 it could not be made.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{complain, Exit, APPLETS};
use crate::kit::console::Shell;
use crate::kit::seed::{self, Options, Seeded};
use crate::kit::select::Set;
use crate::sources::Source;
use crate::sys::human::decimal_size;
use crate::sys::quoting::escape;

#[derive(Parser)]
#[command(about = "Make or refresh the seeded kit (/srv/rescue)")]
pub(super) struct Args {
    /// the root to seed, as if chrooted into it
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// the kit directory, inside ROOT
    #[arg(long, default_value = crate::kit::DEFAULT_DIR)]
    dir: PathBuf,
    /// which archives the store holds: essential, all, or package names
    #[arg(long, value_name = "SET", num_args = 1..)]
    packages: Vec<String>,
    /// where .deb archives are found besides ROOT's apt cache (directory, mirror, http://)
    #[arg(long, value_name = "SRC")]
    from: Vec<OsString>,
    /// also install apt and dpkg hooks that refresh the kit after every package change
    #[arg(long)]
    hook: bool,
    /// print nothing but problems
    #[arg(long, short = 'q')]
    quiet: bool,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let (root, db) = super::open_root_database(&args.root, None)?;
    let mut from = Vec::new();
    for arg in &args.from {
        from.push(
            Source::parse(&arg.to_string_lossy())
                .map_err(|e| Exit::failed(2, format!("--from {e}")))?,
        );
    }
    let options = Options {
        // Inside ROOT, so relative to its `/` whatever the working directory.
        dir: Path::new("/").join(&args.dir),
        set: Set::parse(&args.packages),
        from,
        hook: args.hook.then(|| hook_args(&args)),
        binary: own_binary().ok_or_else(|| {
            Exit::failed(
                2,
                "cannot find this binary (no /proc, and argv[0] is not a path)",
            )
        })?,
        applets: APPLETS.iter().map(|a| a.name).collect(),
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    let seeded = seed::seed(&root, &db, &options).map_err(|err| Exit::failed(2, err))?;
    for problem in &seeded.store.problems {
        complain(name, format!("warning: {problem}"));
    }
    for wanted in &seeded.unknown {
        complain(name, format!("package '{wanted}' is not installed"));
    }
    let incomplete = !seeded.store.missing.is_empty() || !seeded.unknown.is_empty();
    if args.quiet {
        if !seeded.store.missing.is_empty() {
            complain(
                name,
                format!(
                    "{} archives of the set could not be found or trusted (run `rescue seed` to see which)",
                    seeded.store.missing.len()
                ),
            );
        }
    } else {
        let _ = report(&mut std::io::stdout().lock(), &seeded);
    }
    Ok(i32::from(incomplete))
}

/// The options the hook's runs repeat: whatever differs from the defaults, ROOT aside (the
/// hook runs inside ROOT).
fn hook_args(args: &Args) -> Vec<OsString> {
    let mut out = Vec::new();
    if args.dir != Path::new(crate::kit::DEFAULT_DIR) {
        out.push("--dir".into());
        out.push(args.dir.clone().into_os_string());
    }
    if !args.packages.is_empty() {
        out.push("--packages".into());
        out.extend(args.packages.iter().map(OsString::from));
    }
    for from in &args.from {
        out.push("--from".into());
        out.push(from.clone());
    }
    out
}

/// This binary: `/proc/self/exe` (opened as such, it is the file even when its path is not
/// visible from here), else argv[0] when it names a file.
fn own_binary() -> Option<PathBuf> {
    let exe = Path::new("/proc/self/exe");
    if std::fs::metadata(exe).is_ok_and(|m| m.is_file()) {
        return Some(exe.to_path_buf());
    }
    let argv0 = PathBuf::from(std::env::args_os().next()?);
    (argv0.components().count() > 1 && argv0.is_file()).then_some(argv0)
}

fn report(out: &mut impl Write, seeded: &Seeded) -> std::io::Result<()> {
    let mut changes = usize::from(seeded.binary_written) + seeded.small_files_written;
    writeln!(out, "kit {}", escape(&seeded.kit))?;
    if seeded.binary_written {
        writeln!(out, "  rescue: copied this binary (SHA256 checked)")?;
    }
    changes += report_store(out, &seeded.store)?;
    if seeded.indexed > 0 {
        writeln!(
            out,
            "archive indexes: {} made in ROOT's /var/cache/rescue/archives",
            seeded.indexed
        )?;
        changes += seeded.indexed;
    }
    let state = &seeded.state;
    changes += usize::from(state.new);
    writeln!(
        out,
        "state: {} state/{} ({} files){}",
        if state.new {
            "new version"
        } else {
            "unchanged, latest"
        },
        state.version,
        state.files,
        if state.removed.is_empty() {
            String::new()
        } else {
            format!("; {} old versions removed", state.removed.len())
        }
    )?;
    match &seeded.shell {
        Shell::Written { version, trust } => {
            changes += 1;
            writeln!(
                out,
                "shell: bin/bash and bin/sh from bash-static {version} ({trust})"
            )?
        }
        Shell::Kept { version } => {
            writeln!(out, "shell: bin/bash unchanged (bash-static {version})")?
        }
        Shell::Unavailable(why) => writeln!(out, "shell: no bin/bash: {why}")?,
    }
    match &seeded.libs {
        Ok(libs) => {
            let written = libs.iter().filter(|(_, w)| *w).count();
            changes += written;
            let names: Vec<&str> = libs.iter().map(|(n, _)| n.as_str()).collect();
            writeln!(
                out,
                "lib: {} ({})",
                names.join(", "),
                if written > 0 { "copied" } else { "unchanged" }
            )?
        }
        Err(why) => writeln!(out, "lib: not copied: {why}")?,
    }
    let (baseline, entries) = &seeded.baseline;
    writeln!(out, "baseline: {} ({entries} paths)", escape(baseline))?;
    for (path, wrote) in &seeded.hooks {
        changes += usize::from(*wrote);
        writeln!(
            out,
            "hook: {} {}",
            escape(path),
            if *wrote { "written" } else { "unchanged" }
        )?;
    }
    writeln!(
        out,
        "kit size {}; {}",
        decimal_size(seeded.size),
        if changes == 0 {
            "nothing changed".to_string()
        } else {
            format!("{changes} changes")
        }
    )
}

/// The store's lines; returns how many changes it made.
fn report_store(
    out: &mut impl Write,
    store: &crate::kit::store::Refreshed,
) -> std::io::Result<usize> {
    for (entry, from, linked) in &store.added {
        writeln!(
            out,
            "  added   {} {} ({}), {} from {} ({})",
            entry.package,
            entry.version,
            entry.architecture,
            if *linked { "hard-linked" } else { "copied" },
            escape(from.parent().unwrap_or(from)),
            entry.trust
        )?;
    }
    for name in &store.pruned {
        writeln!(out, "  pruned  {}", escape(name))?;
    }
    for (package, why) in &store.missing {
        writeln!(out, "  missing {package}: {why}")?;
    }
    let bytes: u64 = store.entries().map(|e| e.size).sum();
    writeln!(
        out,
        "debs: {} archives ({}): {} added, {} kept, {} pruned, {} missing",
        store.added.len() + store.kept.len(),
        decimal_size(bytes),
        store.added.len(),
        store.kept.len(),
        store.pruned.len(),
        store.missing.len()
    )?;
    Ok(store.added.len() + store.pruned.len())
}
