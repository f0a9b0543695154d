//! `cargo xtask bench [ls] [cp] [verify] [md5] [restore] [verify-variants]`: rescue beside its
//! peers, on the same input in one run, with a warm cache, as ratios. Timings are medians of
//! several alternating runs (3, or RESCUE_BENCH_ROUNDS); nothing here asserts a time (that
//! belongs in a benchmark, never in a test).
//!
//! It measures the static binary from `cargo xtask dist`, the one operators run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench_restore;
use crate::shell;

/// Timed runs per contender unless RESCUE_BENCH_ROUNDS says otherwise: more on a shared
/// machine whose spreads are wide, fewer for a quick look.
const ROUNDS: usize = 3;

fn rounds() -> usize {
    std::env::var("RESCUE_BENCH_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|&rounds| rounds > 0)
        .unwrap_or(ROUNDS)
}

/// What `cargo xtask bench` runs with no names: the figures issue tables and the README quote.
const DEFAULT: [&str; 5] = ["ls", "cp", "verify", "md5", "restore"];
/// Diagnostics that cost a glibc build and several minutes; asked for by name only.
const ON_REQUEST: [&str; 1] = ["verify-variants"];

pub fn run(args: &[String]) -> crate::Result {
    let binary = crate::dist::run()?;
    let chosen: Vec<&str> = if args.is_empty() {
        DEFAULT.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    // Figures mean nothing without the machine: printed once, above every table.
    println!("\n{}", cpu_line());
    println!(
        "medians of {} alternating runs after a warm-up, ± half their range; \
         a ratio under 1 is rescue ahead",
        rounds()
    );
    for name in &chosen {
        match *name {
            "ls" => bench_ls(&binary)?,
            "cp" => bench_cp(&binary)?,
            "verify" => bench_verify(&binary)?,
            "verify-variants" => bench_verify_variants(&binary)?,
            "md5" => bench_md5()?,
            "restore" => bench_restore::run(&binary)?,
            other => {
                return Err(format!(
                    "unknown benchmark '{other}' (known: {}, {})",
                    DEFAULT.join(", "),
                    ON_REQUEST.join(", ")
                ))
            }
        }
    }
    Ok(())
}

/// What a row is to the others: a reference the ratios are taken against (with the short name
/// the ratio columns use), or one of ours, which gets a ratio to every reference.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Reference(&'static str),
    Ours,
}

/// One contender: a label, the shell command it runs and, untimed before each run, the
/// command that gives it its input (a fresh root, say).
pub struct Contender {
    label: String,
    command: String,
    setup: Option<String>,
    role: Role,
}

/// A peer (or a floor such as the hashing limit) that rescue's rows are measured against.
pub fn reference(short: &'static str, label: &str, command: String) -> Contender {
    Contender {
        label: label.to_string(),
        command,
        setup: None,
        role: Role::Reference(short),
    }
}

/// One of rescue's rows: printed with its ratio to every reference.
pub fn ours(label: &str, command: String) -> Contender {
    Contender {
        label: label.to_string(),
        command,
        setup: None,
        role: Role::Ours,
    }
}

impl Contender {
    pub fn with_setup(mut self, setup: String) -> Self {
        self.setup = Some(setup);
        self
    }
}

/// Runs every contender rounds() times, alternating so that a busy moment of a shared machine
/// falls on all of them, after one untimed warm-up each; prints the medians and the ratios.
pub fn race(title: &str, contenders: &[Contender]) -> crate::Result {
    println!("\n== {title}");
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
    for round in 0..=rounds() {
        for (index, contender) in contenders.iter().enumerate() {
            if let Some(setup) = &contender.setup {
                sh(setup)?;
            }
            let start = Instant::now();
            sh(&contender.command)?;
            if round > 0 {
                samples[index].push(start.elapsed());
            }
        }
    }
    let timings: Vec<Timing> = samples.into_iter().map(Timing::of).collect();
    print_table(contenders, &timings);
    Ok(())
}

/// A contender's median, and half the range of its runs relative to it: on a shared machine
/// the spread says which differences are noise.
struct Timing {
    median: f64,
    spread: f64,
}

impl Timing {
    fn of(mut runs: Vec<Duration>) -> Self {
        runs.sort();
        let seconds = |run: &Duration| run.as_secs_f64();
        let median = seconds(&runs[runs.len() / 2]);
        let range = runs.last().map_or(0.0, seconds) - runs.first().map_or(0.0, seconds);
        Timing {
            median,
            spread: range / 2.0 / median.max(f64::MIN_POSITIVE),
        }
    }
}

/// One line per contender; each of ours followed by its ratio to every reference, so a table
/// pasted into the README answers "against which peer?" without arithmetic.
fn print_table(contenders: &[Contender], timings: &[Timing]) {
    let width = contenders.iter().map(|c| c.label.len()).max().unwrap_or(0);
    let references: Vec<(&str, f64)> = contenders
        .iter()
        .zip(timings)
        .filter_map(|(contender, timing)| match contender.role {
            Role::Reference(short) => Some((short, timing.median)),
            Role::Ours => None,
        })
        .collect();
    for (contender, timing) in contenders.iter().zip(timings) {
        let mut line = format!(
            "  {:<width$}  {:>7.3} s {:<5}",
            contender.label,
            timing.median,
            format!("±{:.0}%", timing.spread * 100.0)
        );
        if contender.role == Role::Ours {
            for (short, reference) in &references {
                line.push_str(&format!("  {:>5.2}x {short}", timing.median / reference));
            }
        }
        println!("{}", line.trim_end());
    }
}

pub fn sh(command: &str) -> crate::Result {
    let status = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdout(Stdio::null())
        .status()
        .map_err(|err| format!("cannot run sh: {err}"))?;
    // Verify exits 1 when it finds problems, xargs 123 when md5sum met a missing file: a
    // finding is not a failed benchmark.
    match status.code() {
        Some(0) | Some(1) | Some(123) => Ok(()),
        _ => Err(format!("benchmark command failed ({status}): {command}")),
    }
}

fn bench_ls(binary: &Path) -> crate::Result {
    let tree = "/usr/share";
    race(
        &format!("ls -lR {tree} > /dev/null"),
        &[
            reference(
                "GNU",
                "GNU ls -lR",
                format!("LC_ALL=C ls -lR {tree} >/dev/null 2>&1"),
            ),
            ours(
                "rescue ls -lR",
                format!(
                    "LC_ALL=C {} ls -lR {tree} >/dev/null 2>&1",
                    binary.display()
                ),
            ),
        ],
    )
}

fn bench_cp(binary: &Path) -> crate::Result {
    let tree = "/usr/share";
    let scratch = scratch_dir("cp")?;
    let dest = scratch.join("copy");
    let clean = format!("rm -rf {}", dest.display());
    race(
        &format!("cp -a {tree} to a fresh directory"),
        &[
            reference(
                "GNU",
                "GNU cp -a",
                format!("cp -a {tree} {}", dest.display()),
            )
            .with_setup(clean.clone()),
            ours(
                "rescue cp -a",
                format!("{} cp -a {tree} {}", binary.display(), dest.display()),
            )
            .with_setup(clean),
        ],
    )?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// The whole host's packages, on the same warm files: rescue against the hashing limit (every
/// listed file hashed by md5sum on all cores, what any one-file-per-core verifier must at
/// least do), `dpkg --verify` and paketkoll; and the re-verify with the digest cache warm.
fn bench_verify(binary: &Path) -> crate::Result {
    let (list, files) = md5sums_file_list()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut contenders = vec![
        reference(
            "limit",
            &format!("hashing limit: xargs -P{cores} md5sum"),
            format!(
                "xargs -0 -P{cores} -n 256 md5sum < {} >/dev/null 2>&1",
                list.display()
            ),
        ),
        reference(
            "dpkg",
            "dpkg --verify",
            "dpkg --verify >/dev/null 2>&1".into(),
        ),
    ];
    match paketkoll() {
        // paketkoll skips conffiles unless told; dpkg --verify and rescue check them.
        Ok(paketkoll) => contenders.push(reference(
            "paketkoll",
            "paketkoll check, conffiles included",
            format!(
                "{} --config-files=include check >/dev/null 2>&1",
                paketkoll.display()
            ),
        )),
        Err(why) => println!("\n  (no paketkoll row: {why})"),
    }
    contenders.push(ours(
        "rescue verify --db-only --no-cache",
        format!(
            "{} verify --db-only --no-cache >/dev/null 2>&1",
            binary.display()
        ),
    ));
    // The warm-up round fills the digest cache; the timed rounds find nothing changed.
    contenders.push(ours(
        "rescue verify, digest cache warm",
        format!("{} verify >/dev/null 2>&1", binary.display()),
    ));
    race(
        &format!("verify this host's packages ({files} files in md5sums)"),
        &contenders,
    )
}

/// A NUL-separated list of every file the md5sums files name, and how many there are.
fn md5sums_file_list() -> crate::Result<(PathBuf, usize)> {
    let list = scratch_dir("verify")?.join("files0");
    sh(&format!(
        "cat /var/lib/dpkg/info/*.md5sums | sed 's/^[0-9a-f]*  /\\//' | tr '\\n' '\\0' > {}",
        list.display()
    ))?;
    let files = std::fs::read(&list)
        .map_err(|err| format!("cannot read {}: {err}", list.display()))?
        .iter()
        .filter(|&&byte| byte == 0)
        .count();
    Ok((list, files))
}

/// paketkoll on PATH or in cargo's bin directory, else installed there by `cargo install`.
fn paketkoll() -> crate::Result<PathBuf> {
    if let Some(found) = shell::find_on_path("paketkoll") {
        return Ok(found);
    }
    let installed = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?
        .join("bin/paketkoll");
    if installed.is_file() {
        return Ok(installed);
    }
    // From outside the workspace, so that its .cargo/config.toml (the musl target) and our
    // target directory stay out of a crate that has nothing to do with them.
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir("/")
        .env_remove("CARGO_TARGET_DIR")
        .args(["install", "paketkoll", "--locked"])
        .status()
        .map_err(|err| format!("cannot run cargo install: {err}"))?;
    if !status.success() || !installed.is_file() {
        return Err(format!(
            "`cargo install paketkoll --locked` failed ({status})"
        ));
    }
    Ok(installed)
}

/// The same verify with its MD5 kernel forced (RESCUE_MD5) and linked with glibc instead of
/// musl: where multi-buffer MD5 stands against one stream per core, and whether musl's malloc,
/// slow under threads, costs anything (it would show as a gap between the last two lines).
fn bench_verify_variants(binary: &Path) -> crate::Result {
    let verify = format!(
        "{} verify --db-only --no-cache >/dev/null 2>&1",
        binary.display()
    );
    let glibc = shell::cargo_target_dir().join("release/rescue");
    shell::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(shell::workspace_root())
            .args(["build", "--release", "--package", "rescue"]),
    )?;
    let mut contenders = vec![reference(
        "auto",
        "rescue verify --db-only --no-cache",
        verify.clone(),
    )];
    if cpu_has("avx512f") {
        contenders.push(ours(
            "same, AVX2 only (RESCUE_MD5=avx2)",
            format!("RESCUE_MD5=avx2 {verify}"),
        ));
    }
    contenders.push(ours(
        "same, scalar MD5 (RESCUE_MD5=scalar)",
        format!("RESCUE_MD5=scalar {verify}"),
    ));
    contenders.push(ours(
        "same, glibc build",
        format!(
            "{} verify --db-only --no-cache >/dev/null 2>&1",
            glibc.display()
        ),
    ));
    race("verify: MD5 kernels and allocator", &contenders)?;
    Ok(())
}

/// The CPU the figures were measured on: model, cores, and the SIMD the MD5 kernels use.
fn cpu_line() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let simd: Vec<&str> = ["avx2", "avx512f"]
        .into_iter()
        .filter(|flag| cpu_has(flag))
        .collect();
    let simd = if simd.is_empty() {
        "neither AVX2 nor AVX-512".to_string()
    } else {
        simd.join(" ")
    };
    format!("CPU: {model}, {cores} cores, SIMD: {simd}")
}

fn cpu_has(flag: &str) -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .filter(|line| line.starts_with("flags"))
        .any(|line| line.split_whitespace().any(|word| word == flag))
}

/// The MD5 kernels' raw throughput on in-memory data (the md5mb unit test that measures it,
/// built for release), against the `md-5` crate hashing one stream.
fn bench_md5() -> crate::Result {
    println!("\n== MD5 kernels on in-memory data");
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(shell::workspace_root())
        .args(["test", "--release", "--package", "rescue", "--lib"])
        .args(["verify::md5mb::tests::throughput", "--", "--ignored"])
        .arg("--nocapture")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("cannot run cargo test: {err}"))?;
    if !output.status.success() {
        return Err("the md5mb throughput test failed".into());
    }
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if let Some(figure) = line.strip_prefix("md5 throughput: ") {
            println!("  {figure}");
        }
    }
    Ok(())
}

pub fn scratch_dir(name: &str) -> crate::Result<PathBuf> {
    let dir = shell::workspace_root().join("target/bench").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    Ok(dir)
}
