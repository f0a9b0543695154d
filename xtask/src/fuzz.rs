//! `cargo xtask fuzz [--seconds N] [--jobs N] [TARGET...]`: builds the libFuzzer targets in
//! `fuzz/`, seeds each corpus from this machine's real dpkg database, apt lists and archives,
//! runs each target for N seconds (60 by default) and fails if any of them crashed, leaving the
//! input under `fuzz/artifacts/TARGET/`.
//!
//! It needs no nightly compiler and no cargo-fuzz: sanitizer-coverage instrumentation is
//! requested with stable codegen flags (`-Cpasses=sancov-module` and LLVM's own options), and
//! libfuzzer-sys builds libFuzzer with the system C++ compiler. Without a sanitizer, what is
//! caught is what Rust itself checks: panics, overflow, debug assertions, stack overflow, and
//! libFuzzer's own limits on time and memory per input.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use sha2::{Digest, Sha256};

use crate::shell::{self, workspace_root};

/// Every target in `fuzz/Cargo.toml`, with what it reads.
const TARGETS: &[(&str, &str)] = &[
    ("status", "dpkg status (deb822 stanzas)"),
    ("list", "info/*.list"),
    ("md5sums", "info/*.md5sums"),
    ("diversions", "dpkg diversions"),
    ("statoverride", "dpkg statoverride"),
    ("journal", "restore journal"),
    ("deb", ".deb: ar, decompressors, tar"),
    ("packages_index", "Packages index, plain or compressed"),
    ("maintscript", "maintainer script parse + walk"),
];

/// Where corpora persist between runs: what one run finds, the next starts from.
const CORPUS_ROOT: &str = "/var/cache/rescue-tests/fuzz";

/// One input taking longer than this is a hang, reported like a crash.
const TIMEOUT_SECONDS: u32 = 10;
/// One input needing more than this is runaway memory, reported like a crash.
const RSS_LIMIT_MB: u32 = 2048;
/// Seeds larger than this slow every execution down more than their coverage is worth (the
/// largest seed also sets libFuzzer's input length limit). Archives need more room than text.
const SEED_LIMIT: u64 = 16 << 10;
const DEB_SEED_LIMIT: u64 = 64 << 10;

/// What the libFuzzer runtime is told to instrument, all stable `rustc` options.
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg=fuzzing",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

struct Options {
    seconds: u32,
    jobs: usize,
    targets: Vec<&'static str>,
}

fn parse_args(args: &[String]) -> crate::Result<Options> {
    let mut options = Options {
        seconds: 60,
        jobs: std::thread::available_parallelism().map_or(1, usize::from),
        targets: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> crate::Result<u64> {
            args.next()
                .and_then(|value| value.parse().ok())
                .filter(|&value| value > 0)
                .ok_or_else(|| format!("{what} needs a positive number"))
        };
        match arg.as_str() {
            "--seconds" => options.seconds = number("--seconds")? as u32,
            "--jobs" => options.jobs = number("--jobs")? as usize,
            name => {
                let known = TARGETS
                    .iter()
                    .map(|(known, _)| *known)
                    .find(|known| *known == name)
                    .ok_or_else(|| {
                        format!(
                            "unknown fuzz target '{name}' (known: {})",
                            TARGETS.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
                        )
                    })?;
                options.targets.push(known);
            }
        }
    }
    if options.targets.is_empty() {
        options.targets = TARGETS.iter().map(|(name, _)| *name).collect();
    }
    Ok(options)
}

/// How one target's run ended.
struct Outcome {
    target: &'static str,
    executions: Option<u64>,
    corpus: usize,
    /// `None` when it ran its time without a finding.
    failure: Option<String>,
    artifacts: Vec<PathBuf>,
    log: PathBuf,
}

pub fn run(args: &[String]) -> crate::Result {
    let start = Instant::now();
    let options = parse_args(args)?;
    let root = workspace_root();
    let fuzz_dir = root.join("fuzz");
    let target_dir = fuzz_dir.join("target");
    if shell::is_root() {
        // g++ builds libFuzzer; the rest unpack apt's lists and pack seeds in every format the
        // readers know.
        shell::ensure_debian_packages(&["g++", "lz4", "xz-utils", "zstd", "bzip2", "binutils"])?;
    }
    let binaries = build(&fuzz_dir, &target_dir, &options.targets)?;

    let scratch = target_dir.join("scratch");
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).map_err(|err| format!("{}: {err}", scratch.display()))?;
    let corpus_root = corpus_root(&fuzz_dir);
    let mut queue = VecDeque::new();
    for &target in &options.targets {
        let corpus = corpus_root.join(target);
        fs::create_dir_all(&corpus).map_err(|err| format!("{}: {err}", corpus.display()))?;
        let seeds = seeds(target, &scratch.join("seeds"));
        let added = seeds.iter().filter(|seed| add_seed(&corpus, seed)).count();
        println!(
            "xtask fuzz: {target}: {} seeds ({added} new) in {}",
            seeds.len(),
            corpus.display()
        );
        let artifacts = fuzz_dir.join("artifacts").join(target);
        fs::create_dir_all(&artifacts).map_err(|err| format!("{}: {err}", artifacts.display()))?;
        queue.push_back((target, corpus, artifacts));
    }

    println!(
        "xtask fuzz: {} targets, {} s each, {} at a time",
        queue.len(),
        options.seconds,
        options.jobs
    );
    let queue = Mutex::new(queue);
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.min(options.targets.len()) {
            scope.spawn(|| loop {
                let Some((target, corpus, artifacts)) = queue.lock().unwrap().pop_front() else {
                    break;
                };
                let outcome = fuzz_one(
                    target,
                    &binaries.join(target),
                    &corpus,
                    &artifacts,
                    &scratch,
                    options.seconds,
                );
                println!(
                    "xtask fuzz: {target}: {} executions, {}",
                    outcome
                        .executions
                        .map_or("unknown".to_string(), |n| n.to_string()),
                    outcome.failure.as_deref().unwrap_or("no crash")
                );
                outcomes.lock().unwrap().push(outcome);
            });
        }
    });
    let _ = fs::remove_dir_all(&scratch);
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|outcome| TARGETS.iter().position(|(name, _)| *name == outcome.target));
    let result = report(&outcomes, options.seconds, &binaries);
    println!("xtask fuzz: took {} s", start.elapsed().as_secs());
    result
}

/// Builds the targets with coverage instrumentation; returns the directory of the binaries.
fn build(fuzz_dir: &Path, target_dir: &Path, targets: &[&str]) -> crate::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let host = host_triple()?;
    let mut command = Command::new(&cargo);
    command
        .current_dir(fuzz_dir)
        // An explicit --target keeps the instrumentation out of build scripts and proc
        // macros, which would otherwise fail to link without libFuzzer.
        .args(["build", "--release", "--target", &host, "--target-dir"])
        .arg(target_dir)
        .env("RUSTFLAGS", RUSTFLAGS.join(" "))
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    for target in targets {
        command.args(["--bin", target]);
    }
    shell::run(&mut command)?;
    Ok(target_dir.join(host).join("release"))
}

fn host_triple() -> crate::Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let info = shell::output(Command::new(rustc).arg("-vV"))?;
    info.lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_string)
        .ok_or_else(|| "rustc -vV names no host".to_string())
}

/// The shared cache when it can be written (CI and developers run as root), else a directory
/// inside the checkout so an unprivileged run still works.
fn corpus_root(fuzz_dir: &Path) -> PathBuf {
    let shared = PathBuf::from(CORPUS_ROOT);
    if fs::create_dir_all(&shared).is_ok() && is_writable(&shared) {
        return shared;
    }
    let local = fuzz_dir.join("corpus");
    eprintln!(
        "xtask fuzz: {CORPUS_ROOT} is not writable; corpora go to {}",
        local.display()
    );
    local
}

fn is_writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    let writable = fs::write(&probe, b"").is_ok();
    let _ = fs::remove_file(&probe);
    writable
}

/// Stores a seed under the name of its content; false when the corpus already had it.
fn add_seed(corpus: &Path, seed: &[u8]) -> bool {
    let digest = Sha256::digest(seed);
    let name: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
    let path = corpus.join(format!("seed-{name}"));
    !path.exists() && fs::write(&path, seed).is_ok()
}

fn fuzz_one(
    target: &'static str,
    binary: &Path,
    corpus: &Path,
    artifacts: &Path,
    scratch: &Path,
    seconds: u32,
) -> Outcome {
    let log = scratch
        .parent()
        .unwrap_or(scratch)
        .join(format!("fuzz-{target}.log"));
    let started = SystemTime::now();
    let mut outcome = Outcome {
        target,
        executions: None,
        corpus: 0,
        failure: None,
        artifacts: Vec::new(),
        log: log.clone(),
    };
    let log_file = match fs::File::create(&log) {
        Ok(file) => file,
        Err(err) => {
            outcome.failure = Some(format!("cannot create {}: {err}", log.display()));
            return outcome;
        }
    };
    // libFuzzer wants the prefix to end with the separator: it appends `crash-SHA1`.
    let mut prefix = artifacts.as_os_str().to_owned();
    prefix.push("/");
    let mut artifact_prefix = std::ffi::OsString::from("-artifact_prefix=");
    artifact_prefix.push(&prefix);
    let status = Command::new(binary)
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={TIMEOUT_SECONDS}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg("-print_final_stats=1")
        .arg(artifact_prefix)
        .arg(corpus)
        .env("RESCUE_FUZZ_SCRATCH", scratch)
        .stdin(Stdio::null())
        .stdout(
            log_file
                .try_clone()
                .expect("a log file descriptor can be duplicated"),
        )
        .stderr(log_file)
        .status();
    let text = fs::read_to_string(&log).unwrap_or_default();
    outcome.executions = text
        .lines()
        .find_map(|line| line.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|n| n.trim().parse().ok());
    outcome.corpus = fs::read_dir(corpus).map_or(0, |dir| dir.count());
    outcome.artifacts = new_files(artifacts, started);
    match status {
        Err(err) => outcome.failure = Some(format!("cannot run {}: {err}", binary.display())),
        Ok(status) if !status.success() || !outcome.artifacts.is_empty() => {
            let what = text
                .lines()
                .find(|line| line.starts_with("SUMMARY: libFuzzer:") || line.contains("==ERROR:"))
                .map(|line| line.trim().to_string())
                .unwrap_or_else(|| format!("exited with {status}"));
            outcome.failure = Some(format!("FAILED: {what}"));
        }
        Ok(_) => {}
    }
    outcome
}

fn new_files(dir: &Path, since: SystemTime) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            entry
                .metadata()
                .and_then(|meta| meta.modified())
                .is_ok_and(|modified| modified >= since)
        })
        .map(|entry| entry.path())
        .collect();
    found.sort();
    found
}

fn report(outcomes: &[Outcome], seconds: u32, binaries: &Path) -> crate::Result {
    let mut failed = Vec::new();
    for outcome in outcomes.iter().filter(|o| o.failure.is_some()) {
        failed.push(outcome.target);
        eprintln!(
            "\n== {}: {}",
            outcome.target,
            outcome.failure.as_deref().unwrap_or("")
        );
        let log = fs::read_to_string(&outcome.log).unwrap_or_default();
        // The panic message and stack sit just before libFuzzer's crash report.
        let lines: Vec<&str> = log.lines().collect();
        let end = lines
            .iter()
            .position(|line| line.starts_with("MS:") || line.starts_with("SUMMARY:"))
            .unwrap_or(lines.len());
        for line in &lines[end.saturating_sub(40)..(end + 4).min(lines.len())] {
            eprintln!("   {line}");
        }
        for artifact in &outcome.artifacts {
            let bytes = fs::read(artifact).unwrap_or_default();
            eprintln!(
                "-- input {} ({} bytes):\n{}",
                artifact.display(),
                bytes.len(),
                escaped(&bytes[..bytes.len().min(1024)])
            );
            eprintln!(
                "-- reproduce: {} {}",
                binaries.join(outcome.target).display(),
                artifact.display()
            );
        }
        eprintln!("-- full log: {}", outcome.log.display());
    }
    println!("\n| target | reads | executions in {seconds} s | corpus | result |");
    println!("|---|---|---:|---:|---|");
    for outcome in outcomes {
        let what = TARGETS
            .iter()
            .find(|(name, _)| *name == outcome.target)
            .map_or("", |(_, what)| what);
        println!(
            "| `{}` | {what} | {} | {} | {} |",
            outcome.target,
            outcome
                .executions
                .map_or("?".to_string(), |n| n.to_string()),
            outcome.corpus,
            match &outcome.failure {
                None => "no crash".to_string(),
                Some(why) => why.clone(),
            }
        );
    }
    let _ = std::io::stdout().flush();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzz targets failed: {} (inputs under fuzz/artifacts/)",
            failed.join(", ")
        ))
    }
}

/// Bytes as C-style escaped text, so a crashing input can be read from CI's log.
fn escaped(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &byte in bytes {
        match byte {
            b'\n' => out.push_str("\\n\n"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Seeds: real inputs from this machine, so the fuzzer starts deep inside each format.

fn seeds(target: &str, work: &Path) -> Vec<Vec<u8>> {
    let dpkg = Path::new("/var/lib/dpkg");
    let mut out = Vec::new();
    match target {
        "status" => {
            for name in ["status", "status-old"] {
                if let Some(bytes) = read(&dpkg.join(name), u64::MAX) {
                    deb822_seeds(&bytes, 32, &mut out);
                }
            }
        }
        "list" => info_files(&dpkg.join("info"), &[".list"], 24, &mut out),
        "md5sums" => info_files(&dpkg.join("info"), &[".md5sums"], 24, &mut out),
        "diversions" => {
            out.extend(read(&dpkg.join("diversions"), SEED_LIMIT));
            out.push(
                b"/usr/bin/sh\n/usr/bin/sh.distrib\ndash\n/etc/issue\n/etc/issue.real\n:\n"
                    .to_vec(),
            );
        }
        "statoverride" => {
            out.extend(read(&dpkg.join("statoverride"), SEED_LIMIT));
            out.push(
                b"root crontab 2755 /usr/bin/crontab\n#0 #0 0440 /etc/sudoers\nroot _ssh 2755 /usr/bin/ssh-agent\n"
                    .to_vec(),
            );
        }
        "journal" => journal_seeds(&mut out),
        "deb" => deb_seeds(work, &mut out),
        "packages_index" => packages_seeds(work, &mut out),
        "maintscript" => info_files(
            &dpkg.join("info"),
            &[".preinst", ".postinst", ".prerm", ".postrm"],
            48,
            &mut out,
        ),
        _ => {}
    }
    if out.is_empty() {
        eprintln!("xtask fuzz: {target}: no seed found on this machine; starting empty");
    }
    out
}

fn read(path: &Path, limit: u64) -> Option<Vec<u8>> {
    let meta = fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > limit {
        return None;
    }
    fs::read(path).ok()
}

/// Up to `singles` stanzas from across the file alone, then its first few stanzas together.
fn deb822_seeds(bytes: &[u8], singles: usize, out: &mut Vec<Vec<u8>>) {
    let stanzas: Vec<&[u8]> = split_stanzas(bytes);
    if stanzas.is_empty() {
        return;
    }
    let step = (stanzas.len() / singles.max(1)).max(1);
    for stanza in stanzas.iter().step_by(step).take(singles) {
        let mut seed = stanza.to_vec();
        seed.push(b'\n');
        out.push(seed);
    }
    let mut head = Vec::new();
    for stanza in &stanzas {
        if (head.len() + stanza.len()) as u64 > SEED_LIMIT {
            break;
        }
        head.extend_from_slice(stanza);
        head.extend_from_slice(b"\n\n");
    }
    if !head.is_empty() {
        out.push(head);
    }
}

fn split_stanzas(bytes: &[u8]) -> Vec<&[u8]> {
    let mut stanzas = Vec::new();
    let mut start = 0;
    let mut index = 0;
    while index + 1 < bytes.len() {
        if bytes[index] == b'\n' && bytes[index + 1] == b'\n' {
            if index > start {
                stanzas.push(&bytes[start..=index]);
            }
            start = index + 2;
            index += 2;
        } else {
            index += 1;
        }
    }
    if start < bytes.len() {
        stanzas.push(&bytes[start..]);
    }
    stanzas
}

/// Up to `count` files of the admin directory with one of `suffixes`, spread over the sizes
/// there are (the smallest, the largest under the limit, and between).
fn info_files(dir: &Path, suffixes: &[&str], count: usize, out: &mut Vec<Vec<u8>>) {
    let mut files: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            suffixes.iter().any(|suffix| name.ends_with(suffix))
        })
        .filter_map(|entry| {
            let meta = entry.metadata().ok()?;
            (meta.is_file() && meta.len() <= SEED_LIMIT).then(|| (meta.len(), entry.path()))
        })
        .collect();
    files.sort();
    for (_, path) in spread(&files, count) {
        out.extend(read(path, SEED_LIMIT));
    }
}

fn spread<T>(items: &[T], count: usize) -> Vec<&T> {
    if items.len() <= count {
        return items.iter().collect();
    }
    (0..count)
        .map(|i| &items[i * (items.len() - 1) / (count - 1).max(1)])
        .collect()
}

/// Journals of real restores on this machine, and lines written the way
/// `rescue::restore::journal` writes them: `KIND\tFIELD...`, fields `%XX`-escaped (space,
/// tab, `%` and every byte outside printable ASCII), `attrs` carrying
/// `MODE UID GID MTIME NSEC [CAPABILITY-HEX]`.
fn journal_seeds(out: &mut Vec<Vec<u8>>) {
    let runs = Path::new("/var/backups/rescue");
    for entry in fs::read_dir(runs).into_iter().flatten().flatten().take(8) {
        out.extend(read(&entry.path().join("journal"), SEED_LIMIT));
    }
    let run = "/var/backups/rescue/20250102T030405Z";
    let every_step = format!(
        "stage\t/usr/bin/.rescue-20250102T030405Z-1\n\
         replace\t/usr/bin/yes\t{run}/files/usr/bin/yes\n\
         create\t/usr/share/doc/coreutils/README\n\
         mkdir\t/usr/share/doc/coreutils\n\
         aside\t/usr/lib/x86_64-linux-gnu/odd\t{run}/files/usr/lib/x86_64-linux-gnu/odd\n\
         attrs\t/usr/bin/crontab\t2755%200%20107%201735787045%20123456789\n\
         attrs\t/usr/bin/ping\t755%200%200%201735787045%200%200100000200200000000000000000000000\n\
         replace\t/usr/lib/a%20b%09%25%FF\t{run}/files/usr/lib/a%20b%09%25%FF\n\
         finished\n"
    );
    out.push(every_step.clone().into_bytes());
    // A run killed mid-line: the last line has no newline.
    out.push(every_step.as_bytes()[..every_step.len() / 2].to_vec());
    out.push(b"stage\t/etc/.rescue-20250102T030405Z-7\n".to_vec());
}

fn deb_seeds(work: &Path, out: &mut Vec<Vec<u8>>) {
    let mut real = Vec::new();
    for dir in ["/var/cache/rescue-tests/debs", "/var/cache/apt/archives"] {
        smallest_debs(Path::new(dir), 4, &mut real);
        if !real.is_empty() {
            break;
        }
    }
    if real.is_empty() && shell::have("apt-get") {
        // Two of Debian's smallest packages; a machine without apt lists or network just
        // starts from the archives built below.
        let downloads = work.join("downloads");
        let _ = fs::create_dir_all(&downloads);
        let fetched = Command::new("apt-get")
            .current_dir(&downloads)
            .args(["download", "-qq", "lsb-base", "usr-is-merged"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if fetched {
            smallest_debs(&downloads, 4, &mut real);
        }
    }
    out.extend(real);
    out.extend(built_debs(&work.join("built")));
}

fn smallest_debs(dir: &Path, count: usize, out: &mut Vec<Vec<u8>>) {
    let mut debs: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.path().extension() == Some(OsStr::new("deb")))
        .filter_map(|entry| Some((entry.metadata().ok()?.len(), entry.path())))
        .filter(|(size, _)| *size <= DEB_SEED_LIMIT)
        .collect();
    debs.sort();
    for (_, path) in debs.iter().take(count) {
        out.extend(read(path, DEB_SEED_LIMIT));
    }
}

/// A tiny package with one of each entry kind (file, executable, directory, symlink, hard
/// link, conffile), built by dpkg-deb with every compressor it has, plus a bzip2 data member
/// put together with ar (dpkg-deb no longer writes those, but old archives have them).
fn built_debs(work: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if !shell::have("dpkg-deb") {
        return out;
    }
    let tree = work.join("tree");
    let _ = fs::remove_dir_all(work);
    let made = (|| -> std::io::Result<()> {
        use std::os::unix::fs::{symlink, PermissionsExt};
        fs::create_dir_all(tree.join("DEBIAN"))?;
        fs::create_dir_all(tree.join("usr/bin"))?;
        fs::create_dir_all(tree.join("etc"))?;
        fs::create_dir_all(tree.join("usr/share/doc/rescue-fuzz-seed"))?;
        fs::write(
            tree.join("DEBIAN/control"),
            "Package: rescue-fuzz-seed\nVersion: 1.0-1\nArchitecture: all\n\
             Maintainer: rescue <rescue@localhost>\nDescription: seed for the .deb fuzz target\n \
             A package with one entry of each kind.\n",
        )?;
        fs::write(
            tree.join("DEBIAN/conffiles"),
            "/etc/rescue-fuzz-seed.conf\n",
        )?;
        fs::write(tree.join("etc/rescue-fuzz-seed.conf"), "answer = 42\n")?;
        fs::write(tree.join("usr/bin/seed"), "#!/bin/sh\necho seed\n")?;
        fs::set_permissions(
            tree.join("usr/bin/seed"),
            fs::Permissions::from_mode(0o4755),
        )?;
        symlink("seed", tree.join("usr/bin/seed-link"))?;
        fs::hard_link(tree.join("usr/bin/seed"), tree.join("usr/bin/seed-hard"))?;
        fs::write(
            tree.join("usr/share/doc/rescue-fuzz-seed/README"),
            "Built by cargo xtask fuzz.\n".repeat(8),
        )?;
        Ok(())
    })();
    if made.is_err() {
        return out;
    }
    for compressor in ["gzip", "xz", "zstd", "none"] {
        let deb = work.join(format!("seed-{compressor}.deb"));
        let built = Command::new("dpkg-deb")
            // Reproducible archives (timestamps clamped): the same seed on every run, rather
            // than five new ones.
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["--root-owner-group", &format!("-Z{compressor}"), "--build"])
            .arg(&tree)
            .arg(&deb)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if built {
            out.extend(read(&deb, DEB_SEED_LIMIT));
        }
    }
    if shell::have("ar") && shell::have("bzip2") {
        let plain = work.join("seed-none.deb");
        let members = work.join("members");
        let _ = fs::create_dir_all(&members);
        let ok = |command: &mut Command| {
            command
                .current_dir(&members)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        if ok(Command::new("ar").arg("x").arg(&plain))
            && ok(Command::new("bzip2").arg("-k").arg("data.tar"))
            && ok(Command::new("ar").args(["rc", "../seed-bzip2.deb"]).args([
                "debian-binary",
                "control.tar",
                "data.tar.bz2",
            ]))
        {
            out.extend(read(&work.join("seed-bzip2.deb"), DEB_SEED_LIMIT));
        }
    }
    out
}

/// Stanzas of apt's own lists (decompressed with the tool their extension names), alone and
/// a few together, and that head compressed by every tool the index reader decodes.
fn packages_seeds(work: &Path, out: &mut Vec<Vec<u8>>) {
    let lists = Path::new("/var/lib/apt/lists");
    let mut files: Vec<(u64, PathBuf)> = fs::read_dir(lists)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().contains("_Packages"))
        .filter_map(|entry| Some((entry.metadata().ok()?.len(), entry.path())))
        .collect();
    files.sort();
    let mut plain = Vec::new();
    for (_, path) in files.iter().take(2) {
        if let Some(text) = decompress(path) {
            deb822_seeds(&text, 12, &mut plain);
        }
    }
    if plain.is_empty() {
        plain.push(
            b"Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n\
              Filename: pool/main/h/hello/hello_2.10-3_amd64.deb\nSize: 53084\n\
              SHA256: 8e4ef6a1b7a2b6e8b0d7c6f5a4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5\n\n"
                .to_vec(),
        );
    }
    let head = plain.last().cloned().unwrap_or_default();
    let _ = fs::create_dir_all(work);
    let input = work.join("Packages");
    if fs::write(&input, &head).is_ok() {
        for (tool, flags) in [
            ("gzip", &["-n", "-c"][..]),
            ("xz", &["-c"][..]),
            ("zstd", &["-q", "-c"][..]),
            ("bzip2", &["-c"][..]),
            ("lz4", &["-q", "-c"][..]),
        ] {
            if !shell::have(tool) {
                continue;
            }
            if let Ok(output) = Command::new(tool).args(flags).arg(&input).output() {
                if output.status.success() {
                    out.push(output.stdout);
                }
            }
        }
    }
    out.extend(plain);
}

fn decompress(path: &Path) -> Option<Vec<u8>> {
    let tool = match path.extension().and_then(OsStr::to_str) {
        Some("gz") => "gzip",
        Some("xz") => "xz",
        Some("zst") => "zstd",
        Some("bz2") => "bzip2",
        Some("lz4") => "lz4",
        _ => return fs::read(path).ok(),
    };
    if !shell::have(tool) {
        return None;
    }
    let output = Command::new(tool)
        .args(["-d", "-c"])
        .arg(path)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output.status.success().then_some(output.stdout)
}
