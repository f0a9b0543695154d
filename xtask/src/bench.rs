//! `cargo xtask bench [ls] [cp] [verify] [md5] [restore]`: rescue beside its peers, on the same input
//! in one run, with a warm cache, as ratios. Timings are medians of several alternating runs;
//! nothing here asserts a time (that belongs in a benchmark, never in a test).
//!
//! It measures the static binary from `cargo xtask dist`, the one operators run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::shell;

const ROUNDS: usize = 3;

pub fn run(args: &[String]) -> crate::Result {
    let binary = crate::dist::run()?;
    let all = ["ls", "cp", "verify", "md5", "restore"];
    let chosen: Vec<&str> = if args.is_empty() {
        all.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    for name in &chosen {
        match *name {
            "ls" => bench_ls(&binary)?,
            "cp" => bench_cp(&binary)?,
            "verify" => bench_verify(&binary)?,
            "md5" => bench_md5()?,
            "restore" => bench_restore(&binary)?,
            other => {
                return Err(format!(
                    "unknown benchmark '{other}' (known: {})",
                    all.join(", ")
                ))
            }
        }
    }
    Ok(())
}

/// One contender: a label and the shell command it runs.
struct Contender {
    label: String,
    command: String,
}

fn contender(label: &str, command: String) -> Contender {
    Contender {
        label: label.to_string(),
        command,
    }
}

/// Runs every contender ROUNDS times, alternating, after one warm-up each; prints medians and
/// ratios to the first (the peer). `before_each` runs untimed before every timed command.
fn race(
    title: &str,
    contenders: &[Contender],
    before_each: Option<&str>,
) -> crate::Result<Vec<Duration>> {
    println!("\n== {title}");
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
    for round in 0..=ROUNDS {
        for (index, contender) in contenders.iter().enumerate() {
            if let Some(setup) = before_each {
                sh(setup)?;
            }
            let start = Instant::now();
            sh(&contender.command)?;
            if round > 0 {
                samples[index].push(start.elapsed());
            }
        }
    }
    let medians: Vec<Duration> = samples
        .iter_mut()
        .map(|times| {
            times.sort();
            times[times.len() / 2]
        })
        .collect();
    for (contender, median) in contenders.iter().zip(&medians) {
        println!(
            "  {:<44} {:>8.3} s   {:>5.2}x of {}",
            contender.label,
            median.as_secs_f64(),
            median.as_secs_f64() / medians[0].as_secs_f64(),
            contenders[0].label
        );
    }
    Ok(medians)
}

fn sh(command: &str) -> crate::Result {
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
            contender(
                "GNU ls -lR",
                format!("LC_ALL=C ls -lR {tree} >/dev/null 2>&1"),
            ),
            contender(
                "rescue ls -lR",
                format!(
                    "LC_ALL=C {} ls -lR {tree} >/dev/null 2>&1",
                    binary.display()
                ),
            ),
        ],
        None,
    )?;
    Ok(())
}

fn bench_cp(binary: &Path) -> crate::Result {
    let tree = "/usr/share";
    let scratch = scratch_dir("cp")?;
    let dest = scratch.join("copy");
    let clean = format!("rm -rf {}", dest.display());
    race(
        &format!("cp -a {tree} (50k entries) to a fresh directory"),
        &[
            contender("GNU cp -a", format!("cp -a {tree} {}", dest.display())),
            contender(
                "rescue cp -a",
                format!("{} cp -a {tree} {}", binary.display(), dest.display()),
            ),
        ],
        Some(&clean),
    )?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

fn bench_verify(binary: &Path) -> crate::Result {
    let list = scratch_dir("verify")?.join("files0");
    // The hashing limit: every file the database lists and md5sums knows, hashed by
    // md5sum on all cores; what any verifier must at least do.
    sh(&format!(
        "cat /var/lib/dpkg/info/*.md5sums | sed 's/^[0-9a-f]*  /\\//' | tr '\\n' '\\0' > {}",
        list.display()
    ))?;
    let verify = format!(
        "{} verify --db-only --no-cache >/dev/null 2>&1",
        binary.display()
    );
    // Ratios to the hashing limit, the figure multi-buffer MD5 is meant to beat; the same
    // binary forced to one stream per core (RESCUE_MD5=scalar) is where it stood before.
    let mut contenders = vec![
        contender(
            "hashing limit (xargs -P md5sum)",
            format!(
                "xargs -0 -P$(nproc) -n 256 md5sum < {} >/dev/null 2>&1",
                list.display()
            ),
        ),
        contender("rescue verify --db-only --no-cache", verify.clone()),
    ];
    if cpu_has("avx512f") {
        contenders.push(contender(
            "same, AVX2 only (RESCUE_MD5=avx2)",
            format!("RESCUE_MD5=avx2 {verify}"),
        ));
    }
    contenders.push(contender(
        "same, scalar MD5 (RESCUE_MD5=scalar)",
        format!("RESCUE_MD5=scalar {verify}"),
    ));
    contenders.push(contender(
        "dpkg --verify",
        "dpkg --verify >/dev/null 2>&1".into(),
    ));
    // musl's malloc is slow under threads: the same code linked with glibc's says whether
    // that matters here (it would show as a gap between these two lines).
    let glibc = shell::cargo_target_dir().join("release/rescue");
    shell::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(shell::workspace_root())
            .args(["build", "--release", "--package", "rescue"]),
    )?;
    contenders.push(contender(
        "same, glibc build (allocator check)",
        format!(
            "{} verify --db-only --no-cache >/dev/null 2>&1",
            glibc.display()
        ),
    ));
    if shell::have("paketkoll") {
        contenders.push(contender(
            "paketkoll check",
            "paketkoll check >/dev/null 2>&1".into(),
        ));
    } else {
        println!("  (paketkoll not installed: `cargo install paketkoll` to compare with it)");
    }
    contenders.push(contender(
        "rescue verify --db-only (cache warm)",
        format!("{} verify --db-only >/dev/null 2>&1", binary.display()),
    ));
    println!("\n{}", cpu_line());
    race("verify this machine's own packages", &contenders, None)?;
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
    format!("CPU: {model}, {cores} cores, SIMD: {}", simd.join(" "))
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
    println!("\n== MD5 kernels on in-memory data\n{}", cpu_line());
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

/// A minbase Debian root with its `/usr/lib/x86_64-linux-gnu` deleted (the story of this
/// project), restored by the static binary from inside the chroot; against the bare
/// decompression of the same root's archives (`dpkg-deb --fsys-tarfile`), the floor for any
/// tool that reads them.
fn bench_restore(binary: &Path) -> crate::Result {
    if !shell::is_root() {
        println!("\n== restore: needs root (chroot, owners), skipped");
        return Ok(());
    }
    let tarball = minbase_tarball()?;
    let scratch = scratch_dir("restore")?;
    let root = scratch.join("root");
    let prepare = format!(
        "rm -rf {root} && mkdir -p {root} && tar --numeric-owner -xpf {tarball} -C {root} \
         && rm -rf {root}/usr/lib/x86_64-linux-gnu && mkdir -p {root}/srv/rescue \
         && cp {binary} {root}/srv/rescue/rescue && sync",
        root = root.display(),
        tarball = tarball.display(),
        binary = binary.display()
    );
    sh(&prepare)?;
    let count = std::fs::read_dir(root.join("var/cache/apt/archives"))
        .map_err(|err| format!("no archives in the minbase root: {err}"))?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "deb"))
        .count();
    race(
        &format!("restore a minbase root with usr/lib/x86_64-linux-gnu deleted ({count} archives)"),
        &[
            contender(
                "dpkg-deb --fsys-tarfile (every archive)",
                format!(
                    "for f in {}/var/cache/apt/archives/*.deb; do dpkg-deb --fsys-tarfile \"$f\" >/dev/null; done",
                    root.display()
                ),
            ),
            contender(
                "rescue restore --yes (in chroot)",
                format!("chroot {} /srv/rescue/rescue restore --yes", root.display()),
            ),
        ],
        Some(&prepare),
    )?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// The cached minbase tarball the debootstrap test also uses; made once with debootstrap.
fn minbase_tarball() -> crate::Result<PathBuf> {
    let cache = Path::new("/var/cache/rescue-tests");
    let tarball = cache.join("bookworm-minbase.tar");
    if tarball.is_file() {
        return Ok(tarball);
    }
    shell::ensure_debian_packages(&["debootstrap"])?;
    let build = scratch_dir("debootstrap")?.join("root");
    shell::run(Command::new("debootstrap").args([
        "--variant=minbase",
        &format!("--cache-dir={}", cache.join("debs").display()),
        "bookworm",
        &build.display().to_string(),
        "http://deb.debian.org/debian",
    ]))?;
    let partial = cache.join("bookworm-minbase.tar.partial");
    shell::run(
        Command::new("tar")
            .args(["--numeric-owner", "-cpf"])
            .arg(&partial)
            .arg("-C")
            .arg(&build)
            .arg("."),
    )?;
    std::fs::rename(&partial, &tarball)
        .map_err(|err| format!("cannot rename {}: {err}", partial.display()))?;
    Ok(tarball)
}

fn scratch_dir(name: &str) -> crate::Result<PathBuf> {
    let dir = shell::workspace_root().join("target/bench").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    Ok(dir)
}
