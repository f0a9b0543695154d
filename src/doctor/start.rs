//! Will anything start: the loader and the core libraries of the programs an operator needs
//! first, a trivial program really run, the loader's cache, and deleted copies that running
//! processes still hold.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{count, some_of, Context, Finding, Urgency, Verdict};
use crate::sys::elf::{self, Arch};
use crate::sys::ld_so::{self, Loader};
use crate::sys::quoting::{escape, shell_word};
use crate::sys::root::Last;

/// The programs a shell session, dpkg, apt and ssh need first; `true` is the one run.
const CORE_PROGRAMS: [&str; 8] = [
    "/usr/bin/true",
    "/usr/bin/bash",
    "/usr/bin/dash",
    "/usr/bin/ls",
    "/usr/bin/dpkg",
    "/usr/bin/apt",
    "/usr/sbin/sshd",
    "/usr/sbin/ldconfig",
];

/// How long a trivial program may take before it counts as hanging.
const RUN_LIMIT: Duration = Duration::from_secs(5);

/// What the loader's search says of the core programs.
#[derive(Default)]
struct Starts {
    /// Interpreter path and why it is unusable.
    interpreters: BTreeMap<PathBuf, String>,
    /// Library name and the paths the loader tried.
    libraries: BTreeMap<OsString, Vec<PathBuf>>,
    would_not_start: Vec<String>,
    examined: usize,
    arch: Option<Arch>,
}

pub fn loader(cx: &mut Context, out: &mut Vec<Finding>) -> Verdict {
    let mut loader = Loader::new(cx.root.clone());
    let starts = examine_programs(&mut loader);
    if starts.examined == 0 {
        out.push(Finding {
            urgency: Urgency::Critical,
            check: "loader",
            summary: format!(
                "none of the core programs is there: {}",
                CORE_PROGRAMS.join(", ")
            ),
            details: Vec::new(),
            next: vec![cx.rescue("verify", &["--missing-only"])],
        });
        return Verdict::Ok;
    }
    if !starts.interpreters.is_empty() || !starts.libraries.is_empty() {
        out.push(broken_start(cx, &starts));
        return Verdict::Ok;
    }
    run_trivial(cx, starts.arch, out)
}

fn examine_programs(loader: &mut Loader) -> Starts {
    let mut starts = Starts::default();
    for program in CORE_PROGRAMS {
        let program = Path::new(program);
        let Ok(elf) = loader.read(program) else {
            continue;
        };
        if elf.interp.is_none() {
            continue;
        }
        starts.examined += 1;
        starts.arch = starts.arch.or(elf.arch);
        let origin = loader.origin(program);
        let tree = loader.tree(program, elf, &origin);
        if !tree.starts() {
            let name = program.file_name().unwrap_or_default();
            starts
                .would_not_start
                .push(name.to_string_lossy().into_owned());
        }
        if let Some(interp) = &tree.interp {
            if let Some(problem) = &interp.problem {
                starts
                    .interpreters
                    .insert(interp.path.clone(), problem.clone());
            }
        }
        for lib in tree.missing() {
            let tried = lib.searched.iter().map(|dir| dir.join(&lib.name)).collect();
            starts.libraries.entry(lib.name.clone()).or_insert(tried);
        }
    }
    starts
}

/// The finding for a loader or libraries that are missing, with the packages to restore.
fn broken_start(cx: &mut Context, starts: &Starts) -> Finding {
    let mut packages = BTreeSet::new();
    let mut details = Vec::new();
    let mut loaders = Vec::new();
    for (path, problem) in &starts.interpreters {
        let owners = cx.owners_of(path);
        packages.extend(owners.iter().cloned());
        loaders.push(format!("{} is {problem}", escape(path)));
        details.push(format!("{}: {problem}{}", escape(path), owned_by(&owners)));
    }
    let mut libraries = Vec::new();
    for (name, tried) in &starts.libraries {
        let owners = tried
            .iter()
            .map(|path| cx.owners_of(path))
            .find(|owners| !owners.is_empty())
            .unwrap_or_default();
        packages.extend(owners.iter().cloned());
        libraries.push(format!("{}{}", escape(name), owned_by(&owners)));
    }
    if !libraries.is_empty() {
        details.push(format!("missing libraries: {}", some_of(&libraries, 12)));
    }
    details.push(format!(
        "would not start: {}",
        some_of(&starts.would_not_start, 12)
    ));
    let summary = if loaders.is_empty() {
        format!(
            "{} that core programs need: no shell, dpkg or ssh",
            count(
                starts.libraries.len(),
                "library is missing",
                "libraries are missing"
            )
        )
    } else {
        format!(
            "the dynamic loader {}: no dynamic program starts",
            loaders.join(", ")
        )
    };
    if !packages.is_empty() {
        let names: Vec<String> = packages.into_iter().collect();
        details.push(format!("packages to restore first: {}", names.join(" ")));
    }
    // Every broken package, not only those named: a missing library's own libraries are not
    // known until it is back, and restore puts back only what is broken.
    let mut next = vec![cx.rescue("restore", &[])];
    next.push(cx.rescue("ldd", &["/usr/bin/bash"]));
    Finding {
        urgency: Urgency::Critical,
        check: "loader",
        summary,
        details,
        next,
    }
}

fn owned_by(owners: &[String]) -> String {
    if owners.is_empty() {
        " (no package owns it)".to_string()
    } else {
        format!(" ({})", owners.join(", "))
    }
}

/// Runs ROOT's `/usr/bin/true`: in place on the running root, chrooted otherwise (root only),
/// never a program of another architecture.
fn run_trivial(cx: &mut Context, arch: Option<Arch>, out: &mut Vec<Finding>) -> Verdict {
    if arch.is_some_and(|arch| arch.machine != native_machine()) {
        let machine = arch.map_or(0, |a| a.machine);
        return Verdict::Skipped(format!(
            "ROOT's programs are {}: not run here",
            elf::machine_name(machine)
        ));
    }
    let problem = match run_in_root(cx, &["/usr/bin/true"]) {
        Ok(ran) if ran.status.success() => return Verdict::Ok,
        Ok(ran) => format!("it ended with {}", ran.status),
        Err(Refusal::Skip(why)) => return Verdict::Skipped(why),
        Err(Refusal::Failed(why)) => why,
    };
    out.push(Finding {
        urgency: Urgency::Critical,
        check: "loader",
        summary: format!(
            "{} passes the loader's search but does not run: {problem}",
            cx.shown(Path::new("/usr/bin/true"))
        ),
        details: Vec::new(),
        next: vec![
            cx.rescue("ldd", &["/usr/bin/true"]),
            "rescue dmesg -T".to_string(),
        ],
    });
    Verdict::Ok
}

/// A program of ROOT that ran: its status and what it wrote to stderr.
pub struct Ran {
    pub status: std::process::ExitStatus,
    pub stderr: Vec<u8>,
}

/// Why a program of ROOT was not run (`Skip`), or did not run (`Failed`).
pub enum Refusal {
    Skip(String),
    Failed(String),
}

/// Runs `argv` of ROOT: in place on the running root, chrooted otherwise (root only); waits
/// at most [`RUN_LIMIT`] and kills what hangs.
pub fn run_in_root(cx: &Context, argv: &[&str]) -> Result<Ran, Refusal> {
    // Pipes, not /dev/null: an empty chroot has no /dev, and the child's output is small.
    let mut command = Command::new(argv[0]);
    command
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if !cx.live {
        if !nix::unistd::geteuid().is_root() {
            return Err(Refusal::Skip(
                "running a program chrooted into ROOT needs root".into(),
            ));
        }
        let Ok(dir) = std::ffi::CString::new(cx.root.dir().as_os_str().as_bytes()) else {
            return Err(Refusal::Skip("ROOT's path holds a NUL byte".into()));
        };
        // SAFETY: between fork and exec only async-signal-safe calls (chroot, chdir).
        unsafe {
            command.pre_exec(move || {
                if libc::chroot(dir.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = command
        .spawn()
        .map_err(|err| Refusal::Failed(format!("exec: {}", crate::sys::errno::describe(&err))))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < RUN_LIMIT => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let why = format!("it hung for {} s", RUN_LIMIT.as_secs());
                return Err(Refusal::Failed(why));
            }
            Err(err) => return Err(Refusal::Failed(format!("wait: {err}"))),
        }
    };
    let mut stderr = Vec::new();
    if let Some(pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_end(&mut std::io::Read::take(pipe, 64 << 10), &mut stderr);
    }
    Ok(Ran { status, stderr })
}

/// `e_machine` of this binary's own architecture.
pub fn native_machine() -> u16 {
    if cfg!(target_arch = "aarch64") {
        183
    } else {
        62
    }
}

/// `ld.so.cache`: there, readable, listing no library that is gone and missing none that
/// ROOT's library directories hold (by soname, as ldconfig files them).
pub fn ld_so_cache(cx: &mut Context, out: &mut Vec<Finding>) -> Verdict {
    let inside = Path::new("/etc/ld.so.cache");
    let ldconfig = if cx.root.is_host_root() {
        "ldconfig".to_string()
    } else {
        format!("ldconfig -r {}", shell_word(cx.root.dir()))
    };
    let bytes = match cx.root.open_regular(inside) {
        Ok(file) => crate::sys::input::read_at_most(file, 64 << 20),
        Err(err) => Err(err),
    };
    let problem = match bytes {
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {
            "is missing: the loader finds only the default directories".to_string()
        }
        Err(err) => format!("cannot be read: {}", crate::sys::errno::describe(&err)),
        Ok(bytes) => match parse_cache(&bytes) {
            None => "is not a glibc ld.so.cache (no glibc-ld.so.cache1.1 header)".to_string(),
            Some(entries) => match stale(cx, &entries) {
                None => return Verdict::Ok,
                Some(why) => why,
            },
        },
    };
    out.push(Finding {
        urgency: Urgency::Medium,
        check: "ld.so.cache",
        summary: format!("{} {problem}", cx.shown(inside)),
        details: vec![
            "bookworm's ldconfig is static: it runs even when the loader is gone".to_string(),
        ],
        next: vec![ldconfig],
    });
    Verdict::Ok
}

/// (soname, path) of each entry of the new-format cache, wherever its header starts (after
/// the old format's table on old hosts).
pub fn parse_cache(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    const MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
    const HEADER: usize = 48;
    const ENTRY: usize = 24;
    let start = bytes.windows(MAGIC.len()).position(|w| w == MAGIC)?;
    let table = &bytes[start..];
    let u32_at = |at: usize| -> Option<usize> {
        let word = table.get(at..at + 4)?;
        Some(u32::from_le_bytes(word.try_into().ok()?) as usize)
    };
    let entries = u32_at(20)?;
    if entries > table.len() / ENTRY {
        return None;
    }
    let string = |offset: usize| -> Option<Vec<u8>> {
        let rest = table.get(offset..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(rest[..end].to_vec())
    };
    (0..entries)
        .map(|i| {
            let at = HEADER + i * ENTRY;
            Some((string(u32_at(at + 4)?)?, string(u32_at(at + 8)?)?))
        })
        .collect()
}

/// Why the cache no longer describes ROOT's libraries, if it does not.
fn stale(cx: &Context, entries: &[(Vec<u8>, Vec<u8>)]) -> Option<String> {
    // A library a restore brings back is the package check's finding, not the cache's.
    let restorable: HashSet<&Path> = cx.missing.iter().map(|(path, _)| path.as_path()).collect();
    let gone: Vec<String> = entries
        .iter()
        .filter(|(_, path)| {
            let path = Path::new(std::ffi::OsStr::from_bytes(path));
            let canonical = cx.root.resolve_inside(path, Last::NoFollow);
            let later = canonical.is_ok_and(|c| restorable.contains(c.as_path()));
            !later
                && cx
                    .root
                    .resolve(path, Last::Follow)
                    .is_ok_and(|p| std::fs::metadata(p).is_err())
        })
        .map(|(name, _)| String::from_utf8_lossy(name).into_owned())
        .collect();
    let cached: HashSet<&[u8]> = entries.iter().map(|(name, _)| name.as_slice()).collect();
    let uncached = uncached_libraries(cx, &cached);
    let mut why = Vec::new();
    if !uncached.is_empty() {
        why.push(format!(
            "is older than the libraries: it lacks {}",
            some_of(&uncached, 5)
        ));
    }
    if !gone.is_empty() {
        why.push(format!(
            "lists {} that no package brings back: {}",
            count(gone.len(), "library", "libraries"),
            some_of(&gone, 5)
        ));
    }
    (!why.is_empty()).then(|| why.join("; and "))
}

/// Sonames of the shared objects in ROOT's ld.so.conf and default directories that the cache
/// does not list, as ldconfig would have filed them (`lib*`/`ld-*` names holding `.so`).
fn uncached_libraries(cx: &Context, cached: &HashSet<&[u8]>) -> Vec<String> {
    let loader = Loader::new(cx.root.clone());
    let arch = Arch {
        class: elf::Class::Elf64,
        endian: elf::Endian::Little,
        machine: native_machine(),
        osabi: 0,
        flags: 0,
    };
    let mut dirs: Vec<PathBuf> = loader.conf_dirs().to_vec();
    dirs.extend(ld_so::default_dirs(&arch));
    let mut seen_dirs = HashSet::new();
    let mut missing = BTreeSet::new();
    for dir in dirs {
        let Ok(host) = cx.root.resolve(&dir, Last::Follow) else {
            continue;
        };
        if !seen_dirs.insert(host.clone()) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&host) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let bytes = name.as_bytes();
            let library_name = bytes.starts_with(b"lib") || bytes.starts_with(b"ld-");
            if !library_name || !bytes.windows(3).any(|w| w == b".so") {
                continue;
            }
            let Ok(elf) = loader.read(&dir.join(&name)) else {
                continue;
            };
            if let Some(soname) = elf.soname {
                if elf.e_type == 3 && !cached.contains(soname.as_bytes()) {
                    missing.insert(soname.to_string_lossy().into_owned());
                }
            }
        }
    }
    missing.into_iter().collect()
}

/// Missing package files that running processes still map or hold open: `salvage` can copy
/// them back faster than any archive.
pub fn salvageable(cx: &mut Context, out: &mut Vec<Finding>) -> Verdict {
    if cx.missing.is_empty() {
        return Verdict::Ok;
    }
    if crate::sys::procfs::require_proc().is_err() {
        return Verdict::Skipped("/proc is missing".into());
    }
    let (deleted, _) = match crate::sys::deleted::find(crate::sys::procfs::STUCK_AFTER) {
        Ok(found) => found,
        Err(err) => return Verdict::Skipped(err.to_string()),
    };
    let wanted: HashSet<&Path> = cx.missing.iter().map(|(path, _)| path.as_path()).collect();
    let root_dir = std::fs::canonicalize(cx.root.dir()).unwrap_or_else(|_| cx.root.dir().into());
    let mut held = Vec::new();
    for file in &deleted {
        let inside = if cx.root.is_host_root() {
            file.path.clone()
        } else {
            match file.path.strip_prefix(&root_dir) {
                Ok(rest) => Path::new("/").join(rest),
                Err(_) => continue,
            }
        };
        if wanted.contains(inside.as_path()) {
            let by: Vec<String> = file
                .holders
                .iter()
                .take(3)
                .map(|h| format!("{} {}", h.command, h.pid))
                .collect();
            held.push(format!("{} (held by {})", escape(&inside), by.join(", ")));
        }
    }
    if held.is_empty() {
        return Verdict::Ok;
    }
    out.push(Finding {
        urgency: Urgency::High,
        check: "deleted but held",
        summary: format!(
            "{} still held by running processes: salvage copies them back without archives",
            count(
                held.len(),
                "missing package file is",
                "missing package files are"
            )
        ),
        details: vec![some_of(&held, 8)],
        next: vec![cx.rescue("salvage", &["--list"]), cx.rescue("salvage", &[])],
    });
    Verdict::Ok
}
