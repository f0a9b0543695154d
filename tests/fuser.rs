//! `rescue fuser` against processes the tests start on a tmpfs of their own (tests/busy_mount),
//! compared with psmisc's `fuser` on the same scene.

mod busy_mount;
mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use busy_mount::{Role, Scene};

/// The scene with every process started, or `None` where the test cannot run.
fn scene(why: &str) -> Option<Scene> {
    if !common::root_or_skip(why)
        || !common::have_or_skip("perl")
        || !common::have_or_skip("python3")
    {
        return None;
    }
    let mut scene = Scene::mount()?;
    scene.start_all();
    Some(scene)
}

fn fuser(args: &[&str], paths: &[&std::path::Path]) -> Output {
    common::output_without_terminal(common::rescue().arg("fuser").args(args).args(paths))
}

fn pids(output: &Output) -> Vec<u32> {
    let mut pids: Vec<u32> = common::stdout(output)
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// pid -> ACCESS column of a `-v` table: the rows of stderr (the pids are on stdout, in the
/// same order), without the header, the `mount` line and anything said besides.
fn access_columns(output: &Output) -> BTreeMap<u32, String> {
    let out = common::stdout(output);
    let stdout_pids: Vec<u32> = out
        .replace("kernel", " ")
        .split_whitespace()
        .map(|word| word.parse().expect("a pid"))
        .collect();
    let err = common::stderr(output);
    let rows: Vec<String> = err
        .lines()
        .filter(|line| line.starts_with(' ') || line.contains(':'))
        .filter(|line| !line.contains(" USER ") && !line.starts_with("Cannot stat"))
        .filter(|line| !line.contains(" mount ") && !line.starts_with("rescue fuser:"))
        .filter_map(|line| line.split_whitespace().rev().nth(1).map(str::to_string))
        .collect();
    assert_eq!(stdout_pids.len(), rows.len(), "{}", common::show(output));
    stdout_pids.into_iter().zip(rows).collect()
}

#[test]
fn mount_lists_exactly_the_processes_on_it_with_how_they_use_it() {
    let Some(scene) = scene("mounts a tmpfs and chroots") else {
        return;
    };
    let out = fuser(&["-m"], &[&scene.mnt]);
    common::assert_exit(&out, 0, "fuser -m");
    assert_eq!(pids(&out), scene.users(), "{}", common::show(&out));
    assert!(!pids(&out).contains(&scene.pid(Role::Unrelated)));

    let verbose = fuser(&["-v", "-m"], &[&scene.mnt]);
    let columns = access_columns(&verbose);
    let expected = [
        (Role::Cwd, "..c.."),
        (Role::ReadFd, "f...."),
        (Role::WriteFd, "F...."),
        (Role::Chroot, ".rc.."),
        (Role::RootOnly, ".r..."),
        (Role::Mmap, "....m"),
        (Role::Exe, "...e."),
    ];
    for (role, access) in expected {
        assert_eq!(
            columns.get(&scene.pid(role)).map(String::as_str),
            Some(access),
            "{role:?}: {}",
            common::show(&verbose)
        );
    }
    assert!(
        common::stderr(&verbose).contains(&format!(" mount {}", scene.mnt.display())),
        "{}",
        common::show(&verbose)
    );
}

#[test]
fn the_same_as_psmisc_on_a_mount_point_and_on_a_file() {
    let Some(scene) = scene("mounts a tmpfs and chroots") else {
        return;
    };
    if !common::have_or_skip("fuser") {
        return;
    }
    for (args, path) in [
        (vec!["-m"], &scene.mnt),
        (vec!["-v", "-m"], &scene.mnt),
        (vec![], &scene.file),
        (vec!["-v"], &scene.file),
        (vec!["-u"], &scene.mnt),
    ] {
        let ours = fuser(&args, &[path]);
        let theirs = common::output_without_terminal(Command::new("fuser").args(&args).arg(path));
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        assert_eq!(
            common::stdout(&ours),
            common::stdout(&theirs),
            "{args:?} stdout"
        );
        let said = |output: &Output, noise: &str| -> String {
            common::stderr(output)
                .lines()
                .filter(|line| !line.starts_with(noise))
                .map(|line| format!("{line}\n"))
                .collect()
        };
        assert_eq!(
            said(&ours, "rescue fuser:"),
            said(&theirs, "Cannot stat"),
            "{args:?} stderr"
        );
    }
}

#[test]
fn a_file_is_matched_exactly_and_letters_leave_out_f_as_psmisc() {
    let Some(scene) = scene("mounts a tmpfs and chroots") else {
        return;
    };
    let out = fuser(&[], &[&scene.file]);
    common::assert_exit(&out, 0, "fuser FILE");
    let mut expected = vec![
        scene.pid(Role::ReadFd),
        scene.pid(Role::WriteFd),
        scene.pid(Role::Mmap),
    ];
    expected.sort_unstable();
    assert_eq!(pids(&out), expected, "{}", common::show(&out));
    let name = format!("{}:", scene.file.display());
    let line = common::stderr(&out)
        .lines()
        .find(|line| line.starts_with(&name))
        .map(str::to_string)
        .unwrap_or_default();
    assert_eq!(line[name.len()..].trim(), "m", "{}", common::show(&out));

    let unused = scene.mnt.join("unused");
    std::fs::write(&unused, "").unwrap();
    let none = fuser(&[], &[&unused]);
    common::assert_exit(&none, 1, "fuser on an unused file");
    assert_eq!(common::stdout(&none), "");
    let all = fuser(&["-a"], &[&unused]);
    assert!(common::stderr(&all).contains(&format!("{}:\n", unused.display())));
    let missing = fuser(&[], &[&scene.mnt.join("missing")]);
    common::assert_exit(&missing, 1, "fuser on a missing file");
    assert!(common::stderr(&missing).contains("does not exist"));
}

#[test]
fn kill_asks_and_kills_nothing_without_a_yes() {
    let Some(mut scene) = scene("mounts a tmpfs, chroots and kills") else {
        return;
    };
    let out = fuser(&["-m", "-k"], &[&scene.mnt]);
    common::assert_exit(&out, 0, "fuser -m -k without an answer");
    assert!(common::stderr(&out).contains("Kill process"));
    // Asked once, not once per process, when nobody is there to answer.
    assert_eq!(common::stderr(&out).matches("Kill process").count(), 1);
    assert!(common::stderr(&out).contains("no answer (end of input)"));

    let mut answered = common::rescue()
        .args(["fuser", "-m", "-k"])
        .arg(&scene.mnt)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let answers = "n\n".repeat(scene.users().len());
    answered
        .stdin
        .take()
        .unwrap()
        .write_all(answers.as_bytes())
        .unwrap();
    answered.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    for role in [Role::Cwd, Role::ReadFd, Role::Chroot, Role::Mmap] {
        assert!(!scene.exited(role), "{role:?} was killed without a yes");
    }

    let out = fuser(&["-m", "-k", "--yes", "-TERM"], &[&scene.mnt]);
    common::assert_exit(&out, 0, "fuser -m -k --yes -TERM");
    let start = std::time::Instant::now();
    for role in [
        Role::Cwd,
        Role::ReadFd,
        Role::WriteFd,
        Role::Chroot,
        Role::RootOnly,
        Role::Mmap,
        Role::Exe,
    ] {
        while !scene.exited(role) {
            assert!(
                start.elapsed().as_secs() < 10,
                "{role:?} not killed: {}",
                common::show(&out)
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    assert!(
        !scene.exited(Role::Unrelated),
        "the unrelated process was killed"
    );
    let after = fuser(&["-m"], &[&scene.mnt]);
    common::assert_exit(&after, 1, "fuser -m once they are gone");
}

#[test]
fn a_signal_that_does_not_exist_is_a_usage_error() {
    let out = common::run(&["fuser", "-NOSUCH", "/"]);
    common::assert_exit(&out, 1, "fuser -NOSUCH");
    assert!(common::stderr(&out).contains("unknown signal"));
}
