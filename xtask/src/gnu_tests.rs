//! `cargo xtask gnu-tests`: GNU coreutils 9.1's own test suite, run against rescue's file
//! applets. GNU's tests are the judge of "behaves like GNU", not cases we pick ourselves.
//!
//! The source comes from Debian's package registry (`apt-get source`, through a deb-src entry
//! in a private apt configuration that is removed afterwards), is built once and cached in
//! `/var/cache/rescue-tests/gnu/`. Each run copies the built tree four times: GNU's binaries
//! and rescue's (the 16 utilities in `src/` replaced by links to the static binary), each run
//! as root and as `nobody`. A test counts for rescue only where GNU passes it on this machine.
//!
//! `cargo xtask gnu-tests` runs every test and writes `tests/gnu/results.txt` (a line a test,
//! with the reason of every failure); with `--check` (what `cargo xtask ci` runs) it also fails
//! when a test that passed in the committed file fails now. `cargo xtask gnu-tests ls
//! tests/cp/backup-1.sh` runs only those utilities' or tests and writes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::shell::{self, workspace_root};

/// The utilities rescue stands in for. Their tests are `tests/UTIL/*` and `tests/misc/UTIL*`.
const UTILITIES: &[&str] = &[
    "cat",
    "chmod",
    "chown",
    "chroot",
    "cp",
    "df",
    "ln",
    "ls",
    "md5sum",
    "mkdir",
    "mv",
    "readlink",
    "rm",
    "rmdir",
    "sha256sum",
    "stat",
    "sync",
    "touch",
];

const VERSION: &str = "9.1";
const DEBIAN_VERSION: &str = "9.1-1";
/// What a test may take before it counts as failed (a prompt waiting for input, a loop).
/// GNU runs every one of these tests in under 10 s here.
const TEST_TIMEOUT_SECONDS: u32 = 90;
/// Packages the fetch, the build and the tests need: GNU is built with ACL, xattr and
/// capability support as Debian builds it, and `setfacl` lets the ACL tests run.
const PACKAGES: &[&str] = &[
    "dpkg-dev",
    "make",
    "gcc",
    "perl",
    "acl",
    "attr",
    "xz-utils",
    "libacl1-dev",
    "libattr1-dev",
    "libcap-dev",
];

const RESULTS: &str = "tests/gnu/results.txt";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum User {
    Root,
    Nobody,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Binaries {
    Gnu,
    Rescue,
}

/// One test's outcome in one run, with what its log says when it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    result: String,
    why: String,
}

pub fn run(args: &[String]) -> crate::Result {
    let check = args.iter().any(|arg| arg == "--check");
    let wanted: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|arg| *arg != "--check")
        .collect();
    if !shell::is_root() {
        return Err("gnu-tests runs the suite as root and as nobody: run it as root".into());
    }
    shell::ensure_debian_packages(PACKAGES)?;
    let source = built_source()?;
    let binary = crate::dist::run()?;
    let tests = select_tests(&source, &wanted)?;
    let mut runs = BTreeMap::new();
    for user in [User::Root, User::Nobody] {
        for binaries in [Binaries::Gnu, Binaries::Rescue] {
            let outcomes = run_suite(&source, &binary, &tests, user, binaries)?;
            runs.insert((user, binaries == Binaries::Rescue), outcomes);
        }
    }
    let table = Table { tests, runs };
    print!("{}", table.summary());
    println!("logs: {}/*/tests/", runs_dir().display());
    if !wanted.is_empty() {
        print!("{}", table.failures());
        return Ok(());
    }
    let file = workspace_root().join(RESULTS);
    let before = std::fs::read_to_string(&file).unwrap_or_default();
    let now = table.results_file();
    std::fs::create_dir_all(file.parent().expect("a directory")).map_err(|err| err.to_string())?;
    std::fs::write(&file, &now).map_err(|err| format!("cannot write {}: {err}", file.display()))?;
    let regressions = regressions(&before, &now);
    if check && !regressions.is_empty() {
        return Err(format!(
            "GNU tests that passed before fail now:\n{}",
            regressions.join("\n")
        ));
    }
    Ok(())
}

fn cache_dir() -> PathBuf {
    PathBuf::from("/var/cache/rescue-tests/gnu")
}

/// The configured and built coreutils tree, fetched and built the first time.
fn built_source() -> crate::Result<PathBuf> {
    let cache = cache_dir();
    let source = cache.join(format!("coreutils-{VERSION}"));
    let stamp = source.join(".rescue-built");
    if stamp.exists() {
        return Ok(source);
    }
    std::fs::create_dir_all(&cache).map_err(|err| format!("cannot create {cache:?}: {err}"))?;
    if source.exists() {
        std::fs::remove_dir_all(&source)
            .map_err(|err| format!("cannot remove {source:?}: {err}"))?;
    }
    fetch_source(&cache)?;
    shell::run(
        Command::new("./configure")
            .current_dir(&source)
            .env("FORCE_UNSAFE_CONFIGURE", "1")
            .args(["--quiet", "--disable-nls"]),
    )?;
    shell::run(
        Command::new("make")
            .current_dir(&source)
            .arg(format!("-j{}", cores()))
            .arg("-s"),
    )?;
    std::fs::write(&stamp, b"").map_err(|err| format!("cannot write {stamp:?}: {err}"))?;
    Ok(source)
}

/// `apt-get source coreutils=9.1-1` through a private apt configuration holding one deb-src
/// entry, so that the host's own sources and lists are never touched; the configuration is
/// removed afterwards.
fn fetch_source(into: &Path) -> crate::Result {
    let apt = into.join("apt");
    let _ = std::fs::remove_dir_all(&apt);
    for dir in ["lists/partial", "cache/archives/partial"] {
        std::fs::create_dir_all(apt.join(dir)).map_err(|err| err.to_string())?;
    }
    std::fs::write(
        apt.join("sources.list"),
        "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] \
         http://deb.debian.org/debian bookworm main\n",
    )
    .map_err(|err| err.to_string())?;
    let options = [
        format!(
            "Dir::Etc::SourceList={}",
            apt.join("sources.list").display()
        ),
        "Dir::Etc::SourceParts=/nonexistent".to_string(),
        format!("Dir::State::Lists={}", apt.join("lists").display()),
        format!("Dir::Cache={}", apt.join("cache").display()),
    ];
    let apt_get = |args: &[&str]| {
        let mut command = Command::new("apt-get");
        command.current_dir(into).arg("-qq");
        for option in &options {
            command.arg("-o").arg(option);
        }
        command.args(args);
        command
    };
    let result = shell::run(&mut apt_get(&["update"])).and_then(|()| {
        shell::run(&mut apt_get(&[
            "source",
            &format!("coreutils={DEBIAN_VERSION}"),
        ]))
    });
    let _ = std::fs::remove_dir_all(&apt);
    result
}

/// Where this checkout's runs live, apart from other checkouts' runs on the same machine.
/// A run's tree stays until the next run, for reading its logs.
fn runs_dir() -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    workspace_root().hash(&mut hasher);
    cache_dir()
        .join("runs")
        .join(format!("{:016x}", hasher.finish()))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// The tests of our utilities that the suite's `tests/local.mk` lists, or of those named.
fn select_tests(source: &Path, wanted: &[&str]) -> crate::Result<Vec<String>> {
    let local = std::fs::read_to_string(source.join("tests/local.mk"))
        .map_err(|err| format!("cannot read tests/local.mk: {err}"))?;
    let mut tests: Vec<String> = local
        .split_whitespace()
        .filter(|word| word.starts_with("tests/"))
        .filter(|word| [".sh", ".pl", ".xpl"].iter().any(|ext| word.ends_with(ext)))
        .filter(|test| utility_of(test).is_some())
        .map(str::to_string)
        .collect();
    tests.sort();
    tests.dedup();
    if !wanted.is_empty() {
        tests.retain(|test| {
            wanted
                .iter()
                .any(|want| test == want || utility_of(test) == Some(want))
        });
        if tests.is_empty() {
            return Err(format!("no GNU test matches {}", wanted.join(" ")));
        }
    }
    Ok(tests)
}

/// The utility a test belongs to: `tests/ls/x.sh` and `tests/misc/ls-time.sh` are ls's.
fn utility_of(test: &str) -> Option<&'static str> {
    let rest = test.strip_prefix("tests/")?;
    let (dir, file) = rest.split_once('/')?;
    UTILITIES.iter().copied().find(|util| {
        dir == *util
            || (dir == "misc"
                && file
                    .strip_prefix(util)
                    .is_some_and(|tail| tail.starts_with(['-', '.'])))
    })
}

/// Runs `tests` in a fresh copy of the built tree and reads each one's result.
fn run_suite(
    source: &Path,
    binary: &Path,
    tests: &[String],
    user: User,
    binaries: Binaries,
) -> crate::Result<BTreeMap<String, Outcome>> {
    let name = format!(
        "{}-{}",
        match binaries {
            Binaries::Gnu => "gnu",
            Binaries::Rescue => "rescue",
        },
        match user {
            User::Root => "root",
            User::Nobody => "nobody",
        }
    );
    let tree = runs_dir().join(&name);
    if tree.exists() {
        std::fs::remove_dir_all(&tree).map_err(|err| format!("cannot remove {tree:?}: {err}"))?;
    }
    std::fs::create_dir_all(runs_dir()).map_err(|err| err.to_string())?;
    shell::run(Command::new("cp").arg("-a").arg(source).arg(&tree))?;
    if binaries == Binaries::Rescue {
        put_rescue_in_place(&tree, binary)?;
    }
    write_timeout_wrapper(&tree)?;
    if user == User::Nobody {
        shell::run(
            Command::new("chown")
                .args(["-R", "nobody:nogroup"])
                .arg(&tree),
        )?;
    }
    let mut make = match user {
        User::Root => Command::new("make"),
        User::Nobody => {
            let mut command = Command::new("setpriv");
            command.args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                "env",
                "HOME=/tmp",
                "make",
            ]);
            command
        }
    };
    let wrap = "./rescue-timeout";
    make.current_dir(&tree)
        .arg(format!("-j{}", cores()))
        .arg("check-TESTS")
        .arg(format!("TESTS={}", tests.join(" ")))
        .arg("VERBOSE=no")
        .arg("SUBDIRS=.")
        .arg(format!("SH_LOG_COMPILER={wrap} $(SHELL)"))
        .arg(format!(
            "PL_LOG_COMPILER={wrap} $(TESTSUITE_PERL) $(TESTSUITE_PERL_OPTIONS)"
        ))
        .arg(format!(
            "XPL_LOG_COMPILER={wrap} $(TESTSUITE_PERL) -T $(TESTSUITE_PERL_OPTIONS)"
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    eprintln!("+ {name}: {} tests", tests.len());
    // make fails when a test fails, and tells of every skip on stderr; the results and the
    // reasons are in the .trs and .log files.
    let _ = make
        .status()
        .map_err(|err| format!("cannot run make: {err}"))?;
    Ok(tests
        .iter()
        .map(|test| (test.clone(), read_outcome(&tree, test)))
        .collect())
}

/// Replaces GNU's binaries of our utilities with links to a copy of rescue inside the tree
/// (which nobody can read, wherever the workspace is).
fn put_rescue_in_place(tree: &Path, binary: &Path) -> crate::Result {
    let src = tree.join("src");
    std::fs::copy(binary, src.join("rescue"))
        .map_err(|err| format!("cannot copy {}: {err}", binary.display()))?;
    for util in UTILITIES {
        let path = src.join(util);
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink("rescue", &path)
            .map_err(|err| format!("cannot link {}: {err}", path.display()))?;
    }
    Ok(())
}

/// A test that outlives its time is killed and counted as failed, with a line saying so.
fn write_timeout_wrapper(tree: &Path) -> crate::Result {
    use std::os::unix::fs::PermissionsExt;
    let path = tree.join("rescue-timeout");
    let script = format!(
        "#!/bin/sh\n\
         timeout -k 10 {TEST_TIMEOUT_SECONDS} \"$@\"\n\
         status=$?\n\
         if [ $status = 124 ]; then echo 'rescue-gnu-tests: timed out after {TEST_TIMEOUT_SECONDS} s'; fi\n\
         exit $status\n"
    );
    std::fs::write(&path, script).map_err(|err| err.to_string())?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|err| err.to_string())
}

fn read_outcome(tree: &Path, test: &str) -> Outcome {
    let stem = test.rsplit_once('.').map_or(test, |(stem, _)| stem);
    let trs = std::fs::read_to_string(tree.join(format!("{stem}.trs"))).unwrap_or_default();
    let result = trs
        .lines()
        .find_map(|line| line.strip_prefix(":test-result: "))
        .unwrap_or("ERROR")
        .trim()
        .to_string();
    let log = std::fs::read(tree.join(format!("{stem}.log"))).unwrap_or_default();
    let log = String::from_utf8_lossy(&log);
    let why = match result.as_str() {
        "PASS" => String::new(),
        "SKIP" => skip_reason(&log),
        _ => failure_reason(&log),
    };
    Outcome { result, why }
}

fn skip_reason(log: &str) -> String {
    log.lines()
        .find(|line| line.contains("skipped test:") || line.contains("skipping this test"))
        .map(|line| {
            let line = line.split("skipped test:").nth(1).unwrap_or(line);
            clip(line.trim())
        })
        .unwrap_or_default()
}

/// What a failed test's log says went wrong: a timeout, the first changed lines of the first
/// diff, or the last line that is not the shell's trace.
fn failure_reason(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    if let Some(line) = lines.iter().find(|l| l.starts_with("rescue-gnu-tests:")) {
        return clip(line);
    }
    // valgrind's report: `==PID== Conditional jump or move depends on uninitialised value(s)`.
    if let Some(report) = lines.iter().find_map(|line| {
        let rest = line.strip_prefix("==")?;
        let (pid, text) = rest.split_once("== ")?;
        (pid.bytes().all(|b| b.is_ascii_digit()) && !text.trim().is_empty())
            .then(|| format!("valgrind: {}", text.trim()))
    }) {
        return clip(&report);
    }
    if let Some(hunk) = lines.iter().position(|line| line.starts_with("@@ ")) {
        let changed: Vec<&str> = lines[hunk + 1..]
            .iter()
            .take_while(|line| !line.starts_with("+ ") && !line.starts_with("@@"))
            .filter(|line| line.starts_with(['-', '+']))
            .take(2)
            .copied()
            .collect();
        if !changed.is_empty() {
            return clip(&changed.join(" | "));
        }
    }
    let told: Vec<&str> = lines
        .iter()
        .filter(|line| !line.starts_with("+ ") && !line.starts_with("++ "))
        .map(|line| line.trim())
        .filter(|line| {
            !line.is_empty()
                && !line.starts_with("FAIL ")
                && !line.starts_with("PASS ")
                && !line.starts_with("ERROR ")
                && !line.starts_with("Try '")
        })
        .collect();
    // A set-up failure names itself; otherwise the last thing said is the likeliest cause.
    let said = told
        .iter()
        .find(|line| line.contains("set-up failure") || line.contains("hard error"))
        .or(told.last())
        .unwrap_or(&"");
    clip(said)
}

fn clip(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match text.char_indices().nth(160) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

struct Table {
    tests: Vec<String>,
    /// (user, is rescue) → test → outcome.
    runs: BTreeMap<(User, bool), BTreeMap<String, Outcome>>,
}

impl Table {
    fn outcome(&self, user: User, rescue: bool, test: &str) -> &Outcome {
        &self.runs[&(user, rescue)][test]
    }

    fn passes(&self, user: User, rescue: bool, test: &str) -> bool {
        self.outcome(user, rescue, test).result == "PASS"
    }

    /// The markdown table the README shows: per utility, the tests GNU passes and how many of
    /// those rescue passes, as root and as nobody.
    fn summary(&self) -> String {
        let mut out = String::from(
            "| util | tests | GNU pass (root) | rescue pass (root) | GNU pass (nobody) | rescue pass (nobody) |\n\
             | --- | ---: | ---: | ---: | ---: | ---: |\n",
        );
        let mut total = [0usize; 5];
        for util in UTILITIES {
            let tests: Vec<&String> = self
                .tests
                .iter()
                .filter(|test| utility_of(test) == Some(util))
                .collect();
            if tests.is_empty() {
                continue;
            }
            let mut row = [tests.len(), 0, 0, 0, 0];
            for test in &tests {
                for (column, user) in [(1, User::Root), (3, User::Nobody)] {
                    if self.passes(user, false, test) {
                        row[column] += 1;
                        if self.passes(user, true, test) {
                            row[column + 1] += 1;
                        }
                    }
                }
            }
            for (sum, value) in total.iter_mut().zip(row) {
                *sum += value;
            }
            out.push_str(&format!(
                "| {util} | {} | {} | {} | {} | {} |\n",
                row[0], row[1], row[2], row[3], row[4]
            ));
        }
        let gnu = total[1] + total[3];
        let ours = total[2] + total[4];
        out.push_str(&format!(
            "| **all** | {} | {} | {} | {} | {} |\n\nrescue passes {ours} of the {gnu} runs GNU passes ({:.1}%).\n",
            total[0],
            total[1],
            total[2],
            total[3],
            total[4],
            100.0 * ours as f64 / gnu.max(1) as f64
        ));
        out
    }

    /// Each test GNU passes and rescue does not, with why.
    fn failures(&self) -> String {
        let mut out = String::new();
        for test in &self.tests {
            for user in [User::Root, User::Nobody] {
                if self.passes(user, false, test) && !self.passes(user, true, test) {
                    let outcome = self.outcome(user, true, test);
                    out.push_str(&format!(
                        "{:?} {test}: {} {}\n",
                        user, outcome.result, outcome.why
                    ));
                }
            }
        }
        out
    }

    fn results_file(&self) -> String {
        let mut out = format!(
            "# GNU coreutils {VERSION}'s tests of the utilities rescue stands in for, written by\n\
             # `cargo xtask gnu-tests`. Columns: utility, test, then GNU's and rescue's result as\n\
             # root and as nobody, then why rescue's run did not pass where GNU's did (from its log).\n\
             # `cargo xtask ci` fails when a test rescue passes here fails.\n"
        );
        for test in &self.tests {
            let util = utility_of(test).unwrap_or("?");
            let mut fields = vec![util.to_string(), test.clone()];
            let mut why = Vec::new();
            for user in [User::Root, User::Nobody] {
                let gnu = self.outcome(user, false, test);
                let ours = self.outcome(user, true, test);
                fields.push(gnu.result.clone());
                fields.push(ours.result.clone());
                if gnu.result == "PASS" && ours.result != "PASS" {
                    let who = match user {
                        User::Root => "root",
                        User::Nobody => "nobody",
                    };
                    why.push(format!("{who}: {}", ours.why));
                }
            }
            fields.push(why.join("; "));
            out.push_str(fields.join("\t").trim_end());
            out.push('\n');
        }
        out
    }
}

/// The tests rescue passed (as root or as nobody) in `before` and does not pass in `now`.
fn regressions(before: &str, now: &str) -> Vec<String> {
    let parse = |text: &str| -> BTreeMap<String, Vec<String>> {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                (fields.len() >= 6).then(|| {
                    (
                        fields[1].to_string(),
                        fields[2..6].iter().map(|f| f.to_string()).collect(),
                    )
                })
            })
            .collect()
    };
    let before = parse(before);
    let now = parse(now);
    let mut lost = Vec::new();
    for (test, old) in &before {
        let Some(new) = now.get(test) else { continue };
        for (column, who) in [(1, "root"), (3, "nobody")] {
            if old[column] == "PASS" && new[column] != "PASS" && new[column - 1] == "PASS" {
                lost.push(format!("  {test} as {who}: {}", new[column]));
            }
        }
    }
    lost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_belong_to_their_utility() {
        assert_eq!(utility_of("tests/ls/dired.sh"), Some("ls"));
        assert_eq!(utility_of("tests/misc/ls-time.sh"), Some("ls"));
        assert_eq!(utility_of("tests/misc/md5sum.pl"), Some("md5sum"));
        assert_eq!(utility_of("tests/misc/stat-fmt.sh"), Some("stat"));
        assert_eq!(utility_of("tests/misc/lsattr.sh"), None);
        assert_eq!(utility_of("tests/misc/cat-E.sh"), Some("cat"));
        assert_eq!(utility_of("tests/misc/catch.sh"), None);
        assert_eq!(utility_of("tests/dd/misc.sh"), None);
    }

    #[test]
    fn a_pass_that_turns_into_a_failure_is_a_regression() {
        let before = "# header\nls\ttests/ls/a.sh\tPASS\tPASS\tPASS\tFAIL\n\
                      ls\ttests/ls/b.sh\tPASS\tFAIL\tPASS\tFAIL\twhy\n";
        let now = "ls\ttests/ls/a.sh\tPASS\tFAIL\tPASS\tPASS\n\
                   ls\ttests/ls/b.sh\tPASS\tPASS\tPASS\tFAIL\n";
        assert_eq!(regressions(before, now), ["  tests/ls/a.sh as root: FAIL"]);
        assert!(regressions(now, now).is_empty());
    }

    #[test]
    fn a_failure_is_explained_by_its_first_diff_lines() {
        let log = "+ compare exp out\n--- exp\n+++ out\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n+ fail=1\n";
        assert_eq!(failure_reason(log), "-b | +c");
        assert_eq!(
            failure_reason("rescue-gnu-tests: timed out after 300 s\n"),
            "rescue-gnu-tests: timed out after 300 s"
        );
        assert_eq!(
            failure_reason("==12== \n==12== Invalid read of size 8\n==12==    at 0x1: ???\n"),
            "valgrind: Invalid read of size 8"
        );
        assert_eq!(
            failure_reason("+ ls x\nls: invalid option -- 'j'\n+ fail=1\n"),
            "ls: invalid option -- 'j'"
        );
    }
}
