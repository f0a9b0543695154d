//! usage: rescue salvage [--root DIR] [--list] [--to DIR] [-y|--yes] [PATH...]
//!
//! Recover deleted files that running processes still hold, when no archive is at hand: the
//! loader and libc a running shell, sshd or init still map after `/lib` was deleted, or the
//! binaries old processes run after an rsync replaced them. Every deleted regular file held
//! open, mapped or executed is found (as `lsof +L1` finds them), once however many processes
//! hold it, and read back through `/proc/PID/map_files/` (the whole file, even when a process
//! maps a page of it; this needs root), `/proc/PID/fd/N` or `/proc/PID/exe`. memfd, SYSV
//! shared memory and anonymous mappings are not files and are left out.
//!
//! Each file is listed with its size, the package owning it in ROOT's dpkg database and
//! whether its md5 equals dpkg's record (`md5 ok`, `md5 differs`, `not owned`), what is at
//! its path now, and the processes holding it. `--root DIR` takes only files inside DIR (a
//! chroot or a container's root seen from this host) and names them as inside DIR. PATH...
//! takes only those paths (or what is below them), as inside ROOT.
//!
//! Without `--yes` or `--to` (or with `--list`) nothing is changed: the list is printed with
//! the commands that would salvage. With `--yes` a package-owned file whose md5 is dpkg's is
//! written back to its path in ROOT exactly as `rescue restore` writes (root-confined, temp
//! file, the old file backed up under ROOT/var/backups/rescue/RUN/, journalled, reversed by
//! `rescue undo`), with the mode, owner, mtime and capabilities it had, and only where the
//! path is missing or differs; a directory standing there is left alone. Every other file
//! (not owned, md5 differs, no md5 recorded) goes only to `--to DIR`, under its original
//! path, never into ROOT's package paths; without `--to` it is named and skipped. `--to`
//! without `--yes` asks first on a terminal.
//!
//! Exit status: 0 everything listed is in place or was salvaged (a listing exits 0), 1 some
//! files were not salvaged or a PATH is held by no process, 2 an error (no /proc, a bad
//! root, a run that could not start).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::IsTerminal;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{complain, Exit, Yes};
use crate::dpkg::owners::{merged_twin, Owners};
use crate::restore::apply::{Metadata, Node, Run};
use crate::sys::deleted::{self, DeletedFile, Opened, Saved};
use crate::sys::open_files::Kind;
use crate::sys::quoting::{escape, shell_word};
use crate::sys::root::{Last, Root};

#[derive(Parser)]
#[command(about = "Recover deleted files that running processes still hold")]
pub(super) struct Args {
    /// only files inside this root (a chroot or container root), named as inside it
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// list only (the default unless --yes or --to is given)
    #[arg(long)]
    list: bool,
    /// where files that cannot go back into ROOT are copied, under their paths
    #[arg(long, value_name = "DIR")]
    to: Option<PathBuf>,
    /// salvage without asking
    #[arg(long, short = 'y')]
    yes: bool,
    /// only these paths (as inside ROOT), or what is below them
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// What is at a package-owned file's path now.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Now {
    Missing,
    Same,
    Differs,
    Directory,
    Unknown(String),
}

/// What the file is to dpkg.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    NotOwned,
    /// Owned, and its content is what dpkg recorded.
    Pristine {
        packages: String,
        md5: String,
        now: Now,
    },
    Md5Differs(String),
    NoMd5(String),
    Unreadable(String),
}

struct Item {
    deleted: DeletedFile,
    /// Its path as inside ROOT.
    inside: PathBuf,
    opened: Option<Opened>,
    state: State,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    crate::sys::procfs::require_proc().map_err(|err| Exit::failed(2, err))?;
    let root_dir = std::fs::canonicalize(&args.root)
        .ok()
        .filter(|dir| dir.is_dir())
        .ok_or_else(|| {
            Exit::failed(
                2,
                format!(
                    "cannot use root {}: not a directory",
                    super::quote(&args.root)
                ),
            )
        })?;
    let root = Root::new(&root_dir);
    let owners = read_owners(name, &root);
    let (found, troubled) =
        deleted::find(crate::sys::procfs::STUCK_AFTER).map_err(|err| Exit::failed(2, err))?;
    if !troubled.is_empty() && !nix::unistd::geteuid().is_root() {
        complain(
            name,
            "warning: not root: only this user's processes are read, and mapped-only files \
             cannot be opened",
        );
    } else if !troubled.is_empty() {
        let named: Vec<String> = troubled
            .iter()
            .take(5)
            .map(|process| format!("{} {}", process.pid, escape(&process.command)))
            .collect();
        complain(
            name,
            format!(
                "warning: {} processes could not be read whole (stuck or denied: {}); what \
                 they hold is not listed",
                troubled.len(),
                named.join(", ")
            ),
        );
    }
    let mut items: Vec<Item> = found
        .into_iter()
        .filter_map(|deleted| {
            let inside = inside_root(&root_dir, &deleted.path)?;
            wanted(&args.paths, &inside).then_some((deleted, inside))
        })
        .map(|(deleted, inside)| classify(&root, &owners, deleted, inside))
        .collect();
    let mut status = 0;
    for path in &args.paths {
        if !items
            .iter()
            .any(|item| wanted(std::slice::from_ref(path), &item.inside))
        {
            complain(name, format!("{}: held by no process", super::quote(path)));
            status = 1;
        }
    }
    let listing_only = args.list || !args.yes && args.to.is_none();
    // A --to that will be refused is refused before anything is listed or asked.
    let to = match &args.to {
        Some(to) if !listing_only => Some(destination(&root_dir, &owners, to)?),
        _ => None,
    };
    for item in &items {
        println!("{}", describe(item));
    }
    if listing_only {
        print_next_steps(&args, &root, &items);
        return Ok(status);
    }
    if !args.yes && !confirm(items.len()) {
        println!("not salvaged: declined, or no terminal to ask; run with --yes");
        return Ok(1);
    }
    let failed = salvage(&args, &root, &owners, to.as_ref(), &mut items)?;
    Ok(if failed { 1 } else { status })
}

/// ROOT's package owners; a root without a readable database owns nothing (everything can
/// still be copied out with --to).
fn read_owners(name: &str, root: &Root) -> Owners {
    let read = crate::dpkg::Database::open_in(root).and_then(|db| Owners::read(&db));
    match read {
        Ok(owners) => owners,
        Err(err) => {
            complain(
                name,
                format!(
                    "warning: cannot read the dpkg database ({err}): no file counts as \
                     package-owned"
                ),
            );
            Owners::default()
        }
    }
}

/// `path` (as this host names it) as inside `root`, when it lies there.
fn inside_root(root: &Path, path: &Path) -> Option<PathBuf> {
    let rest = path.strip_prefix(root).ok()?;
    Some(Path::new("/").join(rest))
}

fn wanted(paths: &[PathBuf], inside: &Path) -> bool {
    paths.is_empty()
        || paths.iter().any(|path| {
            inside.starts_with(path)
                || merged_twin(inside).is_some_and(|twin| twin.starts_with(path))
        })
}

fn classify(root: &Root, owners: &Owners, deleted: DeletedFile, inside: PathBuf) -> Item {
    let owned = owners.of(&inside);
    let packages: Vec<&str> = owned.iter().map(|owner| owner.package.as_str()).collect();
    let packages = packages.join(", ");
    let mut opened = deleted.open();
    let state = match &mut opened {
        Err(err) => {
            // The line names the file already, as inside ROOT.
            let text = err.to_string();
            let host = format!("{}: ", deleted.path.display());
            State::Unreadable(text.strip_prefix(&host).unwrap_or(&text).to_string())
        }
        Ok(_) if owned.is_empty() => State::NotOwned,
        Ok(_) if owned.iter().all(|owner| owner.md5.is_none()) => State::NoMd5(packages),
        Ok(file) => match file.md5() {
            Err(err) => State::Unreadable(err.to_string()),
            Ok(md5) => {
                let recorded = owned
                    .iter()
                    .filter_map(|owner| owner.md5)
                    .any(|sum| crate::dpkg::digest_hex(&sum) == md5);
                if recorded {
                    let now = now_at(root, &inside, &md5);
                    State::Pristine { packages, md5, now }
                } else {
                    State::Md5Differs(packages)
                }
            }
        },
    };
    Item {
        deleted,
        inside,
        opened: opened.ok(),
        state,
    }
}

/// What stands at `inside` now, compared with the content whose md5 is `md5`; the last
/// component is never followed.
fn now_at(root: &Root, inside: &Path, md5: &str) -> Now {
    let host = match root.resolve(inside, Last::NoFollow) {
        Ok(host) => host,
        Err(err) => return Now::Unknown(super::strerror(&err)),
    };
    match std::fs::symlink_metadata(&host) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Now::Missing,
        Err(err) => Now::Unknown(super::strerror(&err)),
        Ok(meta) if meta.is_dir() => Now::Directory,
        Ok(meta) if !meta.is_file() => Now::Differs,
        Ok(meta) => {
            let same = crate::sys::input::open_regular(&host, Last::NoFollow)
                .ok()
                .and_then(|file| {
                    let mut there = Opened {
                        file,
                        meta,
                        via: host.clone(),
                    };
                    there.md5().ok()
                });
            if same.as_deref() == Some(md5) {
                Now::Same
            } else {
                Now::Differs
            }
        }
    }
}

fn describe(item: &Item) -> String {
    let size = match &item.opened {
        Some(opened) => format!("{} bytes", opened.meta.len()),
        None => "size unknown".into(),
    };
    let state = match &item.state {
        State::NotOwned => "not owned".to_string(),
        State::Pristine { packages, now, .. } => format!("{packages} md5 ok, {}", now_words(now)),
        State::Md5Differs(packages) => format!("{packages} md5 differs"),
        State::NoMd5(packages) => format!("{packages} no md5 recorded"),
        State::Unreadable(why) => format!("cannot read: {why}"),
    };
    format!(
        "{}  {size}  {state}  held by {}",
        escape(&item.inside),
        holders(&item.deleted)
    )
}

fn now_words(now: &Now) -> String {
    match now {
        Now::Missing => "missing now".into(),
        Now::Same => "in place".into(),
        Now::Differs => "differs now".into(),
        Now::Directory => "a directory stands there".into(),
        Now::Unknown(why) => format!("path not checked: {why}"),
    }
}

/// `PID COMMAND (how)` for the first few holders, and how many more.
fn holders(deleted: &DeletedFile) -> String {
    let mut by_pid: BTreeMap<u32, (String, Vec<String>)> = BTreeMap::new();
    for holder in &deleted.holders {
        let how = match holder.kind {
            Kind::Fd(fd) => format!("fd {fd}"),
            Kind::Exe => "exe".into(),
            _ => "mmap".into(),
        };
        let entry = by_pid
            .entry(holder.pid)
            .or_insert_with(|| (holder.command.clone(), Vec::new()));
        if !entry.1.contains(&how) {
            entry.1.push(how);
        }
    }
    let shown: Vec<String> = by_pid
        .iter()
        .take(4)
        .map(|(pid, (command, how))| format!("{pid} {} ({})", escape(command), how.join(", ")))
        .collect();
    let more = by_pid.len().saturating_sub(shown.len());
    let mut text = shown.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// Whether an item goes back into ROOT (`Some(md5)`), and otherwise why not.
fn back_into_root(item: &Item) -> Result<Option<&str>, String> {
    match &item.state {
        State::Pristine { md5, now, .. } => match now {
            Now::Missing | Now::Differs => Ok(Some(md5)),
            Now::Same => Ok(None),
            Now::Directory => Err("a directory stands at its path; left alone".into()),
            Now::Unknown(why) => Err(format!("its path cannot be checked: {why}")),
        },
        State::NotOwned => Err("not owned by any package".into()),
        State::Md5Differs(packages) => Err(format!("md5 differs from {packages}'s record")),
        State::NoMd5(packages) => Err(format!("{packages} recorded no md5 to check it by")),
        State::Unreadable(why) => Err(format!("cannot read it: {why}")),
    }
}

fn root_flag(args: &Args, root: &Root) -> String {
    if root.is_host_root() {
        String::new()
    } else {
        format!(" --root {}", shell_word(&args.root))
    }
}

fn print_next_steps(args: &Args, root: &Root, items: &[Item]) {
    let back = items
        .iter()
        .filter(|item| matches!(back_into_root(item), Ok(Some(_))))
        .count();
    let out = items
        .iter()
        .filter(|item| back_into_root(item).is_err() && item.opened.is_some())
        .count();
    let paths: String = args
        .paths
        .iter()
        .map(|path| format!(" {}", shell_word(path)))
        .collect();
    let flag = root_flag(args, root);
    println!(
        "{} deleted files held: {back} can go back into their package paths, {out} only \
         be copied out",
        items.len()
    );
    if back > 0 {
        println!("to put them back: rescue salvage{flag} --yes{paths}");
    }
    if out > 0 {
        println!("to copy the others out: rescue salvage{flag} --to /root/salvaged --yes{paths}");
    }
}

fn confirm(count: usize) -> bool {
    std::io::stdin().is_terminal()
        && super::ask(&format!("salvage these {count} files? [y/N] "), Yes::Word)
}

/// `--to DIR`, made if missing, as a root of its own; refused when it is ROOT or a
/// package-owned path of ROOT (a copy must never land on a package path).
fn destination(
    root_dir: &Path,
    owners: &Owners,
    to: &Path,
) -> Result<(Root, Option<PathBuf>), Exit> {
    std::fs::create_dir_all(to).map_err(|err| {
        Exit::failed(
            2,
            format!(
                "cannot make {}: {}",
                super::quote(to),
                super::strerror(&err)
            ),
        )
    })?;
    let dir = std::fs::canonicalize(to).map_err(|err| {
        Exit::failed(
            2,
            format!("{}: {}", super::quote(to), super::strerror(&err)),
        )
    })?;
    let inside = inside_root(root_dir, &dir);
    if let Some(inside) = &inside {
        if inside == Path::new("/") || !owners.of(inside).is_empty() {
            return Err(Exit::failed(
                2,
                format!(
                    "--to {}: a package path of ROOT; name a directory of its own",
                    super::quote(to)
                ),
            ));
        }
    }
    Ok((Root::new(dir), inside))
}

/// Salvages every item; whether any was left unsalvaged.
fn salvage(
    args: &Args,
    root: &Root,
    owners: &Owners,
    to: Option<&(Root, Option<PathBuf>)>,
    items: &mut [Item],
) -> Result<bool, Exit> {
    let mut failed = false;
    let mut run: Option<(Run, crate::restore::lock::Locks)> = None;
    for item in items.iter_mut() {
        let shown = escape(&item.inside);
        match back_into_root(item) {
            Ok(None) => println!("in place: {shown}"),
            Ok(Some(md5)) => {
                let md5 = md5.to_string();
                if run.is_none() {
                    run = Some(begin(root)?);
                }
                let Some((active, _)) = run.as_mut() else {
                    continue;
                };
                match put_back(active, root, item, &md5) {
                    Ok(()) => println!("restored: {shown}"),
                    Err(err) => {
                        println!("FAILED {shown}: {err}");
                        failed = true;
                    }
                }
            }
            Err(why) => match (to, item.opened.as_mut()) {
                (Some(to), Some(opened)) => failed |= !copy_out(owners, to, &item.inside, opened),
                _ => {
                    let hint = if to.is_none() {
                        "; copy it out with --to DIR"
                    } else {
                        ""
                    };
                    println!("skipped {shown}: {why}{hint}");
                    failed = true;
                }
            },
        }
    }
    if let Some((active, _locks)) = run {
        let dir = active.dir_host();
        let id = active
            .finish()
            .map_err(|err| Exit::failed(2, format!("cannot finish the run: {err}")))?;
        println!("backups and journal in {}", escape(&dir));
        println!(
            "to reverse: rescue undo{} {}",
            root_flag(args, root),
            shell_word(&id)
        );
    }
    Ok(failed)
}

fn begin(root: &Root) -> Result<(Run, crate::restore::lock::Locks), Exit> {
    let admindir = crate::dpkg::Database::default_admindir(root);
    let locks = crate::restore::lock::acquire(root, &admindir, false)
        .map_err(|err| Exit::failed(2, format!("cannot lock: {err}")))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let run = Run::begin(root, now)
        .map_err(|err| Exit::failed(2, format!("cannot start a run: {err}")))?;
    Ok((run, locks))
}

/// Writes the file back to its path through the run, making missing directories on the way
/// (0755 root:root, as dpkg's directories nearly all are).
fn put_back(run: &mut Run, root: &Root, item: &mut Item, md5: &str) -> crate::Result<()> {
    let Some(opened) = item.opened.as_mut() else {
        return Err(crate::Error::refused(&item.inside, "not open"));
    };
    let directory = Metadata {
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: opened.meta.mtime(),
        capability: None,
    };
    let mut ancestors: Vec<&Path> = item.inside.ancestors().skip(1).collect();
    ancestors.reverse();
    for dir in ancestors.into_iter().skip(1) {
        let resolved = root
            .resolve_inside(dir, Last::Follow)
            .map_err(|err| crate::Error::io("resolve", root.host_lexical(dir), err))?;
        if std::fs::symlink_metadata(root.host_lexical(&resolved)).is_err() {
            run.make_directory(&resolved, &directory)?;
        }
    }
    let meta = Metadata {
        mode: opened.meta.mode() & 0o7777,
        uid: opened.meta.uid(),
        gid: opened.meta.gid(),
        mtime: opened.meta.mtime(),
        capability: opened.capability(),
    };
    opened.rewind()?;
    let node = Node::File {
        content: &mut opened.file,
        md5: Some(md5),
    };
    let staged = run.stage(&item.inside, node, &meta)?;
    run.commit(vec![staged])
}

/// Copies one file under `--to`; whether it is there now.
fn copy_out(
    owners: &Owners,
    to: &(Root, Option<PathBuf>),
    inside: &Path,
    opened: &mut Opened,
) -> bool {
    let (dest, dest_inside_root) = to;
    let shown = escape(inside);
    let relative = inside.strip_prefix("/").unwrap_or(inside);
    if let Some(base) = dest_inside_root {
        if !owners.of(&base.join(relative)).is_empty() {
            println!("skipped {shown}: its copy would land on a package path of ROOT");
            return false;
        }
    }
    let target = dest.host_lexical(inside);
    match deleted::save_copy(opened, dest, inside) {
        Ok(Saved::Written) => {
            println!("copied: {shown} to {}", escape(&target));
            true
        }
        Ok(Saved::AlreadyThere) => {
            println!("already copied: {shown} at {}", escape(&target));
            true
        }
        Err(err) => {
            println!("FAILED {shown}: {err}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_taken_inside_the_root_and_by_their_merged_usr_twin() {
        let root = Path::new("/srv/chroot");
        assert_eq!(
            inside_root(root, Path::new("/srv/chroot/usr/lib/x.so")),
            Some(PathBuf::from("/usr/lib/x.so"))
        );
        assert_eq!(
            inside_root(root, Path::new("/srv/chrootx/usr/lib/x.so")),
            None
        );
        assert_eq!(
            inside_root(Path::new("/"), Path::new("/usr/bin/ls")),
            Some(PathBuf::from("/usr/bin/ls"))
        );
        let inside = Path::new("/usr/lib/x86_64-linux-gnu/libc.so.6");
        assert!(wanted(&[], inside));
        assert!(wanted(&[PathBuf::from("/lib/x86_64-linux-gnu")], inside));
        assert!(wanted(&[PathBuf::from(inside)], inside));
        assert!(!wanted(
            &[PathBuf::from("/usr/lib/x86_64-linux-gn")],
            inside
        ));
        assert!(!wanted(&[PathBuf::from("/etc")], inside));
    }
}
