//! `rescue doctor` on real bookworm roots: silent on a pristine one, and on each disaster it
//! names the cause and the command that fixes it; the command is then run and doctor is
//! silent again, so each finding is proved actionable, not only printed.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::bookworm::BookwormRoot;

fn doctor(root: &Path) -> Output {
    common::run(&["doctor", "--root", root.to_str().unwrap()])
}

/// The text of one numbered finding whose heading holds `needle`, or None.
fn finding<'a>(out: &'a str, needle: &str) -> Option<&'a str> {
    out.split("\n\n")
        .find(|block| block.lines().next().is_some_and(|l| l.contains(needle)))
}

fn verdict<'a>(out: &'a str, check: &str) -> &'a str {
    let tail = out.split("\nchecks:\n").nth(1).expect("a checks list");
    tail.lines()
        .find_map(|l| l.trim_start().strip_prefix(check))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no verdict for {check}:\n{out}"))
}

#[test]
fn a_pristine_root_is_clean_and_every_check_ran() {
    let Some(bookworm) = BookwormRoot::extract() else {
        return;
    };
    // dpkg's daily backup, as cron.daily leaves it: the comparison is made, and passes.
    fs::copy(
        bookworm.path("var/lib/dpkg/status"),
        bookworm.path("var/backups/dpkg.status.0"),
    )
    .unwrap();
    let output = doctor(&bookworm.root);
    let out = common::stdout(&output);
    common::assert_exit(&output, 0, "a pristine root");
    assert!(out.contains("nothing wrong found"), "{out}");
    for check in [
        "loader",
        "package files",
        "ld.so.cache",
        "dpkg database",
        "accounts",
        "sshd",
        "file systems",
    ] {
        assert_eq!(verdict(&out, check), "ok", "{check}\n{out}");
    }
    // Not the running system's root: its processes and kernel log say nothing of ROOT.
    assert!(
        verdict(&out, "stuck processes").starts_with("skipped"),
        "{out}"
    );
}

#[test]
fn the_libdir_disaster_names_the_loader_libc6_and_the_restore() {
    let Some(bookworm) = BookwormRoot::extract() else {
        return;
    };
    let root = &bookworm.root;
    fs::remove_dir_all(bookworm.path("usr/lib/x86_64-linux-gnu")).unwrap();
    let output = doctor(root);
    common::assert_exit(&output, 1, "the libdir disaster");
    let out = common::stdout(&output);
    let first = finding(&out, "1. [critical] loader").unwrap_or_else(|| panic!("{out}"));
    assert!(
        first.contains("the dynamic loader /lib64/ld-linux-x86-64.so.2 is missing"),
        "{first}"
    );
    assert!(first.contains("libc.so.6 (libc6:amd64)"), "{first}");
    let restore = first
        .lines()
        .find_map(|l| l.trim().strip_prefix("next: "))
        .expect("a next command");
    assert_eq!(restore, format!("rescue restore --root {}", root.display()));
    let first_packages = first
        .lines()
        .find_map(|l| l.trim().strip_prefix("packages to restore first: "))
        .unwrap_or_else(|| panic!("{first}"));
    assert!(
        first_packages.split(' ').any(|w| w == "libc6:amd64"),
        "{first}"
    );
    assert!(
        finding(&out, "[high] package files").is_some(),
        "the missing files are a finding of their own:\n{out}"
    );

    // The command doctor printed, run as printed, makes the core programs start again.
    let words: Vec<&str> = restore.split(' ').skip(1).collect();
    let mut args = words.clone();
    args.push("--yes");
    let restored = common::run(&args);
    common::assert_exit(&restored, 0, "the restore doctor named");
    let after = doctor(root);
    common::assert_exit(&after, 0, "after the restore doctor named");
}

/// A container's passwd and group over a server's, after the daily job saved the server's.
#[test]
fn the_passwd_disaster_names_the_accounts_and_the_repair() {
    let Some(bookworm) = BookwormRoot::extract() else {
        return;
    };
    let root = &bookworm.root;
    for name in ["passwd", "group", "shadow", "gshadow"] {
        fs::copy(
            root.join("etc").join(name),
            root.join("var/backups").join(format!("{name}.bak")),
        )
        .unwrap();
    }
    fs::write(
        bookworm.path("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    fs::write(bookworm.path("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
    fs::write(
        bookworm.path("etc/shadow"),
        "root:*:19000:0:99999:7:::\napp:!:19000:0:99999:7:::\n",
    )
    .unwrap();
    fs::write(bookworm.path("etc/gshadow"), "root:*::\napp:!::\n").unwrap();
    let output = doctor(root);
    common::assert_exit(&output, 1, "the passwd disaster");
    let out = common::stdout(&output);
    let accounts = finding(&out, "] accounts:").unwrap_or_else(|| panic!("{out}"));
    let listed = |label: &str| -> Vec<&str> {
        accounts
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(|names| names.split(", ").collect())
            .unwrap_or_default()
    };
    for user in ["_apt", "sshd", "messagebus", "www-data"] {
        assert!(
            listed("missing users: ").contains(&user),
            "{user}:\n{accounts}"
        );
    }
    for group in ["crontab", "_ssh", "shadow"] {
        assert!(
            listed("missing groups: ").contains(&group),
            "{group}:\n{accounts}"
        );
    }
    assert!(!listed("missing users: ").contains(&"app"), "{accounts}");
    let repair = format!("next: rescue accounts --root {} --repair", root.display());
    assert!(accounts.contains(&repair), "{accounts}");
    // sshd itself, run chrooted, says why it would not start.
    let sshd = finding(&out, "] sshd: sshd -t fails").unwrap_or_else(|| panic!("{out}"));
    assert!(sshd.contains("sshd does not exist"), "{sshd}");

    let root_arg = root.to_str().unwrap();
    let repaired = common::run(&["accounts", "--root", root_arg, "--repair", "--yes"]);
    common::assert_exit(&repaired, 0, "the repair doctor named");
    let after = doctor(root);
    common::assert_exit(&after, 0, "after the repair");
}

#[test]
fn a_replaced_dpkg_database_is_judged_against_the_daily_backup() {
    let Some(bookworm) = BookwormRoot::extract() else {
        return;
    };
    let status = bookworm.path("var/lib/dpkg/status");
    fs::copy(&status, bookworm.path("var/backups/dpkg.status.0")).unwrap();
    // A container's database: a handful of the same packages.
    let text = fs::read_to_string(&status).unwrap();
    let kept: Vec<&str> = text
        .split("\n\n")
        .filter(|stanza| {
            ["base-files", "bash", "dash", "libc6", "coreutils"]
                .iter()
                .any(|name| stanza.starts_with(&format!("Package: {name}\n")))
        })
        .collect();
    assert_eq!(kept.len(), 5);
    fs::write(&status, kept.join("\n\n") + "\n").unwrap();
    let out = common::stdout(&doctor(&bookworm.root));
    let found = finding(&out, "1. [critical] dpkg database").unwrap_or_else(|| panic!("{out}"));
    assert!(found.contains("dpkg.status.0"), "{found}");
    assert!(found.contains("5 packages now"), "{found}");
}

/// The cache against bookworm's own (static) ldconfig: missing, then a library it lacks; each
/// time the `ldconfig -r` doctor prints makes it clean.
#[test]
fn ld_so_cache_missing_or_stale_and_ldconfig_fixes_it() {
    let Some(bookworm) = BookwormRoot::extract() else {
        return;
    };
    let root = &bookworm.root;
    let ldconfig = |out: &str| {
        let found = finding(out, "] ld.so.cache:").unwrap_or_else(|| panic!("{out}"));
        let line = found
            .lines()
            .find_map(|l| l.trim().strip_prefix("next: "))
            .unwrap();
        assert_eq!(line, format!("ldconfig -r {}", root.display()));
        let status = Command::new(bookworm.path("sbin/ldconfig"))
            .args(["-r", root.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    fs::remove_file(bookworm.path("etc/ld.so.cache")).unwrap();
    let out = common::stdout(&doctor(root));
    assert!(out.contains("ld.so.cache is missing"), "{out}");
    ldconfig(&out);
    common::assert_exit(&doctor(root), 0, "after ldconfig");

    // A library installed by hand, ldconfig not run: its soname is not in the cache.
    let lib = bookworm.path("usr/local/lib/libdoctortest.so.7");
    fs::create_dir_all(lib.parent().unwrap()).unwrap();
    make_library(&lib, "libdoctortest.so.7");
    fs::write(
        bookworm.path("etc/ld.so.conf.d/local-test.conf"),
        "/usr/local/lib\n",
    )
    .unwrap();
    let out = common::stdout(&doctor(root));
    let found = finding(&out, "] ld.so.cache:").unwrap_or_else(|| panic!("{out}"));
    assert!(found.contains("lacks libdoctortest.so.7"), "{found}");
    ldconfig(&out);
    common::assert_exit(&doctor(root), 0, "after ldconfig");
}

/// A shared object with a soname, built by the host's compiler, or copied from one of the
/// host's libraries when no compiler is there (its soname is then the host library's).
fn make_library(path: &Path, soname: &str) {
    let built = Command::new("cc")
        .args(["-shared", "-x", "c", "-", "-o"])
        .arg(path)
        .arg(format!("-Wl,-soname,{soname}"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"int doctor_test(void) { return 7; }\n")?;
            child.wait()
        });
    assert!(
        built.is_ok_and(|s| s.success()),
        "cc -shared (gcc is among CI's packages)"
    );
}

#[test]
fn host_key_modes_are_checked() {
    let Some(bookworm) = BookwormRoot::extract() else {
        return;
    };
    let key = bookworm.path("etc/ssh/ssh_host_ed25519_key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let output = doctor(&bookworm.root);
    common::assert_exit(&output, 1, "a readable host key");
    let out = common::stdout(&output);
    let found = finding(&out, "] sshd: host key").unwrap_or_else(|| panic!("{out}"));
    assert!(found.contains("mode 0644"), "{found}");
    let fix = format!("rescue chmod 0600 {}", key.display());
    assert!(found.contains(&fix), "{found}");
    common::assert_exit(
        &common::run(&["chmod", "0600", key.to_str().unwrap()]),
        0,
        "chmod",
    );
    common::assert_exit(&doctor(&bookworm.root), 0, "after the chmod");
}

/// A library deleted while a process still maps it: doctor points to salvage, which brings it
/// back from the mapping.
#[test]
fn a_deleted_library_still_mapped_points_to_salvage() {
    let Some(bookworm) = BookwormRoot::extract() else {
        return;
    };
    let lib = bookworm.path("usr/lib/x86_64-linux-gnu/libz.so.1.2.13");
    assert!(lib.exists(), "bookworm's zlib");
    let mut holder = Command::new("python3")
        .args([
            "-c",
            "import mmap,sys,time\nf=open(sys.argv[1],'rb')\n\
             m=mmap.mmap(f.fileno(),4096,prot=mmap.PROT_READ)\nf.close()\n\
             print('mapped',flush=True)\ntime.sleep(60)",
        ])
        .arg(&lib)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "mapped\n");
    fs::remove_file(&lib).unwrap();
    let out = common::stdout(&doctor(&bookworm.root));
    let _ = holder.kill();
    let _ = holder.wait();
    let found = finding(&out, "] deleted but held").unwrap_or_else(|| panic!("{out}"));
    assert!(found.contains("libz.so.1.2.13"), "{found}");
    assert!(found.contains("python3"), "{found}");
    assert!(
        found.contains(&format!(
            "rescue salvage --root {}",
            bookworm.root.display()
        )),
        "{found}"
    );
}

/// The running system: every check runs, and none fails to run.
#[test]
fn the_running_system_is_examined() {
    if !common::root_or_skip("the kernel log and /proc/PID/stack need root") {
        return;
    }
    let output = common::run(&["doctor"]);
    let code = output.status.code();
    assert!(matches!(code, Some(0 | 1)), "{}", common::show(&output));
    let out = common::stdout(&output);
    assert!(
        out.starts_with("rescue doctor: / (the running system)"),
        "{out}"
    );
    for check in ["stuck processes", "file systems", "kernel log"] {
        assert!(
            !verdict(&out, check).starts_with("skipped"),
            "{check}: {out}"
        );
    }
}

/// With no daily backup, the seeded kit's copy of the status file is the judge.
#[test]
fn the_kits_state_copies_are_the_judge_when_var_backups_has_none() {
    let Some(bookworm) = BookwormRoot::extract() else {
        return;
    };
    let root = bookworm.root.to_str().unwrap();
    let seeded = common::run(&["seed", "--root", root, "--packages", "dpkg"]);
    common::assert_exit(&seeded, 0, "seed");
    let status = bookworm.path("var/lib/dpkg/status");
    let text = fs::read_to_string(&status).unwrap();
    let kept: Vec<&str> = text
        .split("\n\n")
        .filter(|stanza| stanza.starts_with("Package: base-files\n"))
        .collect();
    fs::write(&status, kept.join("\n\n") + "\n").unwrap();
    let out = common::stdout(&doctor(&bookworm.root));
    let found = finding(&out, "] dpkg database").unwrap_or_else(|| panic!("{out}"));
    assert!(
        found.contains("srv/rescue/state/latest/var/lib/dpkg/status"),
        "{found}"
    );
    assert!(found.contains("1 package now"), "{found}");
}
