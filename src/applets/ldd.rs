//! usage: rescue ldd [--root DIR] [-l] FILE...
//!        rescue ldd [--root DIR] --all
//!
//! Why a program will not start, found without running the loader: its interpreter
//! (`PT_INTERP`) and every library it needs, searched inside ROOT as glibc's `ld.so` searches
//! (`DT_RPATH`, `DT_RUNPATH` with `$ORIGIN`/`$LIB`/`$PLATFORM`, ROOT's `/etc/ld.so.conf` and
//! its includes, the default directories; libraries of another class or machine skipped).
//! FILE is a path inside ROOT. The tree is printed as pax-utils `lddtree` prints it, each
//! missing library as `NAME => not found`; `-l` prints the flat list `lddtree -l` prints (the
//! file, its interpreter, then each library once). Then what is missing, the package owning
//! the missing file (ROOT's dpkg database) and the `rescue restore` command to run.
//!
//! A script (`#!`) is checked through its interpreter; a file without an interpreter or
//! libraries is "statically linked"; a file that is not ELF, or is truncated, is said so.
//! `--all` checks every package-owned ELF program in /bin, /sbin, /usr/bin, /usr/sbin,
//! /usr/local/bin and /usr/local/sbin and prints only those that would not start, grouped by
//! what they miss, then `N of M programs would not start`.
//!
//! Unlike glibc's `ldd`, nothing is executed, so it is safe on untrusted files and works when
//! the loader itself is gone. Exit status: 0 everything found, 1 something missing, 2 a file
//! could not be read.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{complain, Exit};
use crate::dpkg::owners::Owners;
use crate::dpkg::Database;
use crate::sys::elf::{Elf, ElfError};
use crate::sys::ld_so::{Loader, Tree};
use crate::sys::quoting::{escape, shell_word};
use crate::sys::root::{Last, Root};

/// The directories `--all` checks.
const PROGRAM_DIRS: &[&str] = &[
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
];

/// Where `#!/usr/bin/env NAME` looks for NAME: env's own default PATH, as a root shell has
/// it, which is where dpkg looks for commands too.
const PATH: &[&str] = crate::dpkg::maintscript::COMMAND_DIRS;

/// How many `#!` interpreters are followed (the kernel allows 4 levels).
const MAX_SCRIPT_DEPTH: usize = 4;

#[derive(Parser)]
#[command(about = "Show why a program will not start: its loader and libraries")]
pub(super) struct Args {
    /// the root to look in, as if chrooted into it
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// print a flat list of paths, as `lddtree -l`
    #[arg(short = 'l', long = "list")]
    list: bool,
    /// check every package-owned program in the bin and sbin directories
    #[arg(long, conflicts_with_all = ["list", "files"])]
    all: bool,
    /// programs, libraries or scripts, as paths inside ROOT
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// One thing a program lacks, with the paths whose owner would bring it back.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Finding {
    what: String,
    /// Paths inside ROOT that would be it; the first owned one names the package.
    candidates: Vec<PathBuf>,
    /// A bare name to look for among owned files when no candidate is owned.
    name: Option<OsString>,
}

/// What became of one file.
enum Outcome {
    Starts,
    Lacks(Vec<Finding>),
    Unreadable(String),
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    if !args.root.is_dir() {
        let message = format!(
            "cannot use root {}: not a directory",
            super::quote(&args.root)
        );
        return Err(Exit::failed(2, message));
    }
    let root = Root::new(&args.root);
    let mut loader = Loader::new(root.clone());
    if args.all {
        return check_all(&args, &mut loader);
    }
    if args.files.is_empty() {
        return Err(Exit::usage("missing file operand"));
    }
    let mut out = std::io::stdout().lock();
    let mut status = 0;
    let mut owners = LazyOwners::default();
    let mut packages = BTreeSet::new();
    for file in &args.files {
        let inside = absolute(&root, file);
        let mut lines = Vec::new();
        let outcome = check(&mut loader, file, &inside, args.list, &mut lines, 0);
        let mut said = String::new();
        match &outcome {
            Outcome::Starts => {}
            Outcome::Unreadable(why) => {
                status = 2;
                complain(name, why);
            }
            Outcome::Lacks(findings) => {
                status = status.max(1);
                said += &format!("{} would not start:\n", escape(file));
                for finding in findings {
                    let found = owners.get(&root).owner(finding);
                    packages.extend(found.iter().cloned());
                    said += &format!("  {}{}\n", finding.what, owned_by(&found));
                }
            }
        }
        for line in lines {
            writeln!(out, "{line}").map_err(|err| Exit::write_error(2, &err))?;
        }
        // With -l, stdout stays the list a script reads; what is wrong goes to stderr.
        if args.list {
            let _ = std::io::stderr().write_all(said.as_bytes());
        } else {
            out.write_all(said.as_bytes())
                .map_err(|err| Exit::write_error(2, &err))?;
        }
    }
    if !packages.is_empty() {
        let line = restore_line(&args.root, &packages);
        let target: &mut dyn Write = if args.list {
            &mut std::io::stderr()
        } else {
            &mut out
        };
        let _ = writeln!(target, "to put them back: {line}");
    }
    out.flush().map_err(|err| Exit::write_error(2, &err))?;
    Ok(status)
}

/// `file` as a path inside ROOT: a relative one is from the cwd on the host's own root, from
/// ROOT's `/` otherwise.
fn absolute(root: &Root, file: &Path) -> PathBuf {
    if file.is_absolute() {
        return file.to_path_buf();
    }
    if root.is_host_root() {
        if let Ok(cwd) = std::env::current_dir() {
            return cwd.join(file);
        }
    }
    Path::new("/").join(file)
}

/// What is at `inside`: a script, an ELF file, or something else.
enum Kind {
    /// The interpreter and the first argument after it (`env`'s command).
    Script(PathBuf, Option<PathBuf>),
    Elf(Elf),
}

fn examine(loader: &Loader, shown: &Path, inside: &Path) -> Result<Kind, String> {
    let shown = escape(shown);
    let file = loader
        .root()
        .open_regular(inside)
        .map_err(|err| format!("{shown}: {}", crate::sys::errno::describe(&err)))?;
    let mut head = Vec::new();
    (&file)
        .take(256)
        .read_to_end(&mut head)
        .map_err(|err| format!("{shown}: {}", crate::sys::errno::describe(&err)))?;
    if let Some(line) = head.strip_prefix(b"#!") {
        let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
        let mut words = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .map(|w| PathBuf::from(OsStr::from_bytes(w)));
        let word = words
            .next()
            .ok_or_else(|| format!("{shown}: a script with an empty #! line"))?;
        let command = words.find(|w| !w.as_os_str().as_bytes().starts_with(b"-"));
        return Ok(Kind::Script(word, command));
    }
    match crate::sys::elf::read(&file) {
        Ok(elf) => Ok(Kind::Elf(elf)),
        Err(ElfError::Io(err)) => Err(format!("{shown}: {}", crate::sys::errno::describe(&err))),
        Err(err) => Err(format!("{shown}: {err}")),
    }
}

/// Checks one file, pushing what is printed for it onto `lines`.
fn check(
    loader: &mut Loader,
    shown: &Path,
    inside: &Path,
    list: bool,
    lines: &mut Vec<String>,
    depth: usize,
) -> Outcome {
    let kind = match examine(loader, shown, inside) {
        Ok(kind) => kind,
        Err(why) => return Outcome::Unreadable(why),
    };
    match kind {
        Kind::Script(interpreter, command) => {
            lines.push(format!(
                "{}: a script for {}",
                escape(shown),
                escape(&interpreter)
            ));
            if depth >= MAX_SCRIPT_DEPTH {
                return Outcome::Unreadable(format!("{}: too many #! levels", escape(shown)));
            }
            let first = check_interpreter(loader, &interpreter, "interpreter", list, lines, depth);
            match command {
                Some(command) if interpreter.file_name() == Some(OsStr::new("env")) => {
                    let Some(found) = on_path(loader.root(), &command) else {
                        return merge(
                            first,
                            vec![Finding {
                                what: format!(
                                    "the script's command {} is not found in {}",
                                    escape(&command),
                                    PATH.join(":")
                                ),
                                candidates: PATH
                                    .iter()
                                    .map(|d| Path::new(d).join(&command))
                                    .collect(),
                                name: None,
                            }],
                        );
                    };
                    lines.push(format!("{} => {}", escape(&command), escape(&found)));
                    let then = check_interpreter(loader, &found, "command", list, lines, depth);
                    match then {
                        Outcome::Lacks(more) => merge(first, more),
                        other if matches!(first, Outcome::Starts) => other,
                        _ => first,
                    }
                }
                _ => first,
            }
        }
        Kind::Elf(elf) if elf.interp.is_none() && elf.needed.is_empty() && elf.soname.is_none() => {
            lines.push(format!("{}: statically linked", escape(shown)));
            Outcome::Starts
        }
        Kind::Elf(elf) => {
            let origin = loader.origin(inside);
            let tree = loader.tree(shown, elf, &origin);
            lines.extend(show(&tree, list));
            findings(loader.root(), &tree)
        }
    }
}

/// A script's interpreter (or env's command): missing is a finding, else its own check.
fn check_interpreter(
    loader: &mut Loader,
    program: &Path,
    role: &str,
    list: bool,
    lines: &mut Vec<String>,
    depth: usize,
) -> Outcome {
    let exists = loader.root().open_regular(program);
    if matches!(&exists, Err(err) if err.raw_os_error() == Some(libc::ENOENT)) {
        return Outcome::Lacks(vec![Finding {
            what: format!("the script's {role} {} is missing", escape(program)),
            candidates: link_chain(loader.root(), program),
            name: None,
        }]);
    }
    check(loader, program, program, list, lines, depth + 1)
}

/// `first`'s findings and then `more`; an unreadable `first` stays unreadable.
fn merge(first: Outcome, more: Vec<Finding>) -> Outcome {
    match first {
        Outcome::Starts => Outcome::Lacks(more),
        Outcome::Lacks(mut findings) => {
            findings.extend(more);
            Outcome::Lacks(findings)
        }
        unreadable => unreadable,
    }
}

/// The first regular file named `command` in [`PATH`] inside ROOT (a command with a slash is
/// itself).
fn on_path(root: &Root, command: &Path) -> Option<PathBuf> {
    if command.as_os_str().as_bytes().contains(&b'/') {
        return Some(command.to_path_buf());
    }
    PATH.iter()
        .map(|dir| Path::new(dir).join(command))
        .find(|path| root.open_regular(path).is_ok())
}

/// `path` and, when it is a symlink (dangling, say), where it leads inside ROOT.
fn link_chain(root: &Root, path: &Path) -> Vec<PathBuf> {
    let mut out = vec![path.to_path_buf()];
    if let Ok(target) = root.resolve_inside(path, Last::Follow) {
        if target != path {
            out.push(target);
        }
    }
    out
}

/// The tree's problems: the interpreter first, then each library not found.
fn findings(root: &Root, tree: &Tree) -> Outcome {
    let mut out = Vec::new();
    if let Some(interp) = &tree.interp {
        if let Some(problem) = &interp.problem {
            let what = if problem == "missing" {
                format!("the loader {} is missing", escape(&interp.path))
            } else {
                format!("the loader {} is unusable: {problem}", escape(&interp.path))
            };
            out.push(Finding {
                what,
                candidates: link_chain(root, &interp.path),
                name: None,
            });
        }
    }
    for lib in tree.missing() {
        let mut what = format!(
            "{} is not found (needed by {})",
            escape(&lib.name),
            escape(&lib.needed_by)
        );
        for (path, why) in &lib.skipped {
            what += &format!("; skipped {}: {why}", escape(path));
        }
        out.push(Finding {
            what,
            candidates: lib.searched.iter().map(|dir| dir.join(&lib.name)).collect(),
            name: Some(lib.name.clone()),
        });
    }
    if out.is_empty() {
        Outcome::Starts
    } else {
        Outcome::Lacks(out)
    }
}

/// The lines `lddtree` prints for a tree (`-l`: the flat list).
fn show(tree: &Tree, list: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let interp = tree.interp.as_ref().map(|i| escape(&i.path));
    lines.push(if list {
        escape(&tree.program)
    } else {
        format!(
            "{} (interpreter => {})",
            escape(&tree.program),
            interp.clone().unwrap_or_else(|| "none".into())
        )
    });
    let mut shown: HashSet<&OsStr> = tree.needed.iter().map(OsString::as_os_str).collect();
    let mut top: Vec<&OsStr> = tree.needed.iter().map(OsString::as_os_str).collect();
    if let Some(interp) = &tree.interp {
        if list {
            lines.push(escape(&interp.path));
        }
        if let Some(name) = interp.path.file_name() {
            shown.insert(name);
            if list {
                top.retain(|n| *n != name);
            }
        }
    }
    let mut chain = Vec::new();
    for name in top {
        show_lib(tree, name, 1, list, &mut shown, &mut chain, &mut lines);
    }
    lines
}

/// One library and, below it, what it needs that was not shown yet (lddtree's `_show`).
fn show_lib<'t>(
    tree: &'t Tree,
    name: &'t OsStr,
    depth: usize,
    list: bool,
    shown: &mut HashSet<&'t OsStr>,
    chain: &mut Vec<&'t OsStr>,
    lines: &mut Vec<String>,
) {
    let lib = tree.libs.get(name);
    let path = lib.and_then(|l| l.path.as_ref()).map(escape);
    if list {
        lines.push(path.unwrap_or_else(|| escape(name)));
    } else {
        lines.push(format!(
            "{}{} => {}",
            "    ".repeat(depth),
            escape(name),
            path.unwrap_or_else(|| "not found".into())
        ));
    }
    let Some(lib) = lib else { return };
    chain.push(name);
    let mut next = Vec::new();
    for needed in &lib.needed {
        if chain.contains(&needed.as_os_str()) {
            continue;
        }
        if shown.insert(needed.as_os_str()) {
            next.push(needed.as_os_str());
        }
    }
    for needed in next {
        show_lib(tree, needed, depth + 1, list, shown, chain, lines);
    }
    chain.pop();
}

/// ROOT's dpkg database, read the first time a package must be named.
#[derive(Default)]
struct LazyOwners(Option<Result<Owners, String>>);

impl LazyOwners {
    fn get(&mut self, root: &Root) -> &Result<Owners, String> {
        self.0.get_or_insert_with(|| {
            Database::open_in(root)
                .and_then(|db| Owners::read(&db))
                .map_err(|err| err.to_string())
        })
    }
}

trait OwnerOf {
    fn owner(&self, finding: &Finding) -> Vec<String>;
}

impl OwnerOf for Result<Owners, String> {
    /// The packages owning the first owned candidate, else any owned file of that name in a
    /// library directory.
    fn owner(&self, finding: &Finding) -> Vec<String> {
        let Ok(owners) = self else { return Vec::new() };
        let names = |found: &[crate::dpkg::owners::Owner]| {
            found.iter().map(|o| o.package.clone()).collect::<Vec<_>>()
        };
        for path in &finding.candidates {
            let found = owners.of(path);
            if !found.is_empty() {
                return names(found);
            }
        }
        let Some(name) = &finding.name else {
            return Vec::new();
        };
        let mut paths: Vec<&Path> = owners
            .paths()
            .filter(|p| p.file_name() == Some(name.as_os_str()))
            .filter(|p| {
                p.components()
                    .any(|c| c.as_os_str().as_bytes().starts_with(b"lib"))
            })
            .collect();
        paths.sort();
        paths
            .first()
            .map(|p| names(owners.of(p)))
            .unwrap_or_default()
    }
}

fn owned_by(packages: &[String]) -> String {
    match packages {
        [] => ": no package owns it".to_string(),
        _ => format!(": package {}", packages.join(", ")),
    }
}

fn restore_line(root: &Path, packages: &BTreeSet<String>) -> String {
    let mut line = "rescue restore".to_string();
    if root != Path::new("/") {
        line += &format!(" --root {}", shell_word(root));
    }
    for package in packages {
        line += &format!(" {}", shell_word(package));
    }
    line
}

/// `--all`: every package-owned ELF program in [`PROGRAM_DIRS`].
fn check_all(args: &Args, loader: &mut Loader) -> Result<i32, Exit> {
    let root = loader.root().clone();
    let owners = Database::open_in(&root)
        .and_then(|db| Owners::read(&db))
        .map_err(|err| Exit::failed(2, format!("cannot read the dpkg database: {err}")))?;
    let mut programs = BTreeSet::new();
    for path in owners.paths() {
        let Some(dir) = path.parent() else { continue };
        if !PROGRAM_DIRS.iter().any(|d| dir == Path::new(d)) {
            continue;
        }
        let Ok(inside) = root.resolve_inside(path, Last::NoFollow) else {
            continue;
        };
        let host = root.host_lexical(&inside);
        if std::fs::symlink_metadata(&host).is_ok_and(|m| m.file_type().is_file()) {
            programs.insert(inside);
        }
    }
    let owners = Ok(owners);
    let (mut checked, mut broken) = (0usize, 0usize);
    let mut groups: BTreeMap<Vec<String>, (Vec<String>, Vec<PathBuf>)> = BTreeMap::new();
    for program in &programs {
        let mut lines = Vec::new();
        let outcome = match examine(loader, program, program) {
            Ok(Kind::Script(..)) | Err(_) => continue,
            Ok(Kind::Elf(_)) => check(
                loader,
                program,
                program,
                false,
                &mut lines,
                MAX_SCRIPT_DEPTH,
            ),
        };
        checked += 1;
        let findings = match outcome {
            Outcome::Starts => continue,
            Outcome::Lacks(findings) => findings,
            Outcome::Unreadable(why) => vec![Finding {
                what: why,
                candidates: vec![program.clone()],
                name: None,
            }],
        };
        broken += 1;
        let mut key = Vec::new();
        let mut packages = Vec::new();
        for finding in &findings {
            let found = owners.owner(finding);
            key.push(format!("{}{}", short(&finding.what), owned_by(&found)));
            packages.extend(found);
        }
        let group = groups.entry(key).or_default();
        group.0 = packages;
        group.1.push(program.clone());
    }
    print_groups(&args.root, &groups, broken, checked)
}

/// A finding without its "(needed by ...)": programs in one group differ there.
fn short(what: &str) -> &str {
    what.find(" (needed by ").map_or(what, |at| &what[..at])
}

fn print_groups(
    root: &Path,
    groups: &BTreeMap<Vec<String>, (Vec<String>, Vec<PathBuf>)>,
    broken: usize,
    checked: usize,
) -> Result<i32, Exit> {
    let mut out = std::io::stdout().lock();
    let mut all = BTreeSet::new();
    let mut text = String::new();
    for (lacks, (packages, programs)) in groups {
        text += &format!("{} programs would not start:\n", programs.len());
        for what in lacks {
            text += &format!("  {what}\n");
        }
        for program in programs {
            text += &format!("    {}\n", escape(program));
        }
        all.extend(packages.iter().cloned());
    }
    text += &format!("{broken} of {checked} programs would not start\n");
    if !all.is_empty() {
        text += &format!("to put them back: {}\n", restore_line(root, &all));
    }
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|err| Exit::write_error(2, &err))?;
    Ok(if broken == 0 { 0 } else { 1 })
}
