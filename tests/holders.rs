//! `rescue holders` on a tmpfs the tests keep busy themselves (tests/busy_mount): processes,
//! a mount stacked below, a loop device, a swap file, a bind mount elsewhere; and that once
//! they are gone it says nothing holds it, as `umount` then agrees.

mod busy_mount;
mod common;

use std::path::Path;
use std::process::{Command, Output};

use busy_mount::{Role, Scene};

fn holders(args: &[&str], path: &Path) -> Output {
    common::output_without_terminal(common::rescue().arg("holders").args(args).arg(path))
}

fn ready(why: &str) -> bool {
    common::root_or_skip(why) && common::have_or_skip("perl") && common::have_or_skip("python3")
}

/// The processes table's rows: (pid, HOW).
fn rows(output: &Output) -> Vec<(u32, String)> {
    let out = common::stdout(output);
    out.lines()
        .skip_while(|line| *line != "processes:")
        .skip(2)
        .take_while(|line| !line.is_empty())
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let pid = words.next()?.parse().ok()?;
            let how: Vec<&str> = words.skip(2).collect();
            Some((pid, how.join(" ")))
        })
        .collect()
}

#[test]
fn processes_stacked_mounts_and_loop_devices_are_listed_with_the_commands_to_run() {
    if !ready("mounts a tmpfs, chroots and attaches a loop device") {
        return;
    }
    let Some(mut scene) = Scene::mount() else {
        return;
    };
    scene.start_all();
    let stacked = scene.stack("stacked");
    let image = scene.mnt.join("disk image");
    let loop_device = scene.attach_loop(&image);
    if loop_device.is_none() && common::in_ci() {
        panic!("losetup failed in CI");
    }
    // A loop device whose backing file was deleted: sysfs names it with ` (deleted)`.
    let gone = scene.mnt.join("gone.img");
    let gone_device = scene.attach_loop(&gone);
    std::fs::remove_file(&gone).unwrap();

    let out = holders(&[], &scene.mnt);
    common::assert_exit(&out, 1, "holders of a busy mount");
    let rows = rows(&out);
    let mnt = scene.mnt.display().to_string();
    let file = scene.file.display().to_string();
    let sub = scene.mnt.join("sub").display().to_string();
    let expected = [
        (Role::Cwd, format!("cwd {mnt}")),
        (Role::ReadFd, format!("fd 3 {file}")),
        (Role::WriteFd, format!("fd 4 {file}")),
        (Role::Chroot, format!("root (chroot or container) {sub}")),
        (Role::Chroot, format!("cwd {sub}")),
        (Role::RootOnly, format!("root (chroot or container) {sub}")),
        (Role::Mmap, format!("mmap {file}")),
        (Role::Exe, format!("exe {mnt}/mysleep")),
    ];
    for (role, how) in &expected {
        assert!(
            rows.contains(&(scene.pid(*role), how.clone())),
            "{role:?} {how}: {}",
            common::show(&out)
        );
    }
    let listed: std::collections::BTreeSet<u32> = rows.iter().map(|(pid, _)| *pid).collect();
    let users: std::collections::BTreeSet<u32> = scene.users().into_iter().collect();
    assert_eq!(listed, users, "{}", common::show(&out));
    // The root-only process's only use is its root: its cwd and exe are elsewhere.
    let root_only = scene.pid(Role::RootOnly);
    assert_eq!(rows.iter().filter(|(pid, _)| *pid == root_only).count(), 1);

    let said = common::stdout(&out);
    assert!(
        said.contains(&format!("  {} (tmpfs)", stacked.display())),
        "{said}"
    );
    assert!(said.contains(&format!("rescue umount -R {mnt}")), "{said}");
    assert!(
        said.contains(&format!("rescue fuser -m -k {mnt}")),
        "{said}"
    );
    if let Some(device) = loop_device {
        assert!(
            said.contains(&format!("  {device} {mnt}/disk image")),
            "{said}"
        );
        assert!(said.contains(&format!("losetup -d {device}")), "{said}");
    }
    if let Some(device) = gone_device {
        let line = format!("  {device} {mnt}/gone.img (deleted)");
        assert!(said.contains(&line), "{said}");
    }

    scene.release();
    let out = holders(&[], &scene.mnt);
    assert!(
        out.status.code() == Some(0),
        "nothing should hold it now: {}",
        common::show(&out)
    );
    assert!(common::stdout(&out).contains("nothing holds it"));
    assert!(
        Command::new("umount")
            .arg(&scene.mnt)
            .status()
            .unwrap()
            .success(),
        "umount disagrees with holders"
    );
}

#[test]
fn kill_signals_the_processes_only_when_told_yes() {
    if !ready("mounts a tmpfs, chroots and kills") {
        return;
    }
    let Some(mut scene) = Scene::mount() else {
        return;
    };
    scene.start(Role::Cwd);
    scene.start(Role::RootOnly);
    scene.start(Role::ReadFd);
    scene.start(Role::Unrelated);
    // A file deleted while open still holds the mount; its name says so.
    std::fs::remove_file(&scene.file).unwrap();
    let out = holders(&["-k"], &scene.mnt);
    common::assert_exit(&out, 1, "holders -k without an answer");
    let deleted = format!("fd 3 {} (deleted)", scene.file.display());
    assert!(
        rows(&out).contains(&(scene.pid(Role::ReadFd), deleted)),
        "{}",
        common::show(&out)
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!scene.exited(Role::Cwd) && !scene.exited(Role::RootOnly));

    let out = holders(&["-k", "--yes"], &scene.mnt);
    common::assert_exit(&out, 1, "holders -k --yes");
    let start = std::time::Instant::now();
    while !(scene.exited(Role::Cwd) && scene.exited(Role::RootOnly) && scene.exited(Role::ReadFd)) {
        assert!(start.elapsed().as_secs() < 10, "not killed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!scene.exited(Role::Unrelated));
}

#[test]
fn a_bind_mount_elsewhere_holds_the_file_system_but_not_this_mount() {
    if !ready("mounts a tmpfs and a bind mount") {
        return;
    }
    let Some(mut scene) = Scene::mount() else {
        return;
    };
    let elsewhere = scene.dir.join("elsewhere");
    let sub = scene.mnt.join("sub");
    scene.bind(&sub, &elsewhere);
    let mut sleeper = Command::new("sleep")
        .arg("1000")
        .current_dir(&elsewhere)
        .spawn()
        .unwrap();
    let pid = sleeper.id();
    let out = holders(&[], &scene.mnt);
    let by_device =
        common::output_without_terminal(common::rescue().args(["fuser", "-m"]).arg(&scene.mnt));
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(
        !rows(&out).iter().any(|(listed, _)| *listed == pid),
        "{}",
        common::show(&out)
    );
    // fuser -m matches by device, as psmisc does: the bind mount's user is on it.
    assert!(
        common::stdout(&by_device)
            .split_whitespace()
            .any(|word| word == pid.to_string()),
        "{}",
        common::show(&by_device)
    );
}

#[test]
fn a_swap_file_is_listed_with_swapoff() {
    if !ready("mounts file systems and swaps on") {
        return;
    }
    if !common::have_or_skip("mkfs.ext4") || !common::have_or_skip("swapon") {
        return;
    }
    let Some(mut scene) = Scene::mount() else {
        return;
    };
    let Some(ext) = scene.ext4() else {
        common::skip("cannot make and mount an ext4 image");
        return;
    };
    let swap = ext.join("swap file");
    if !scene.swap_file(&swap) {
        // A kernel fact, not a missing package: containers often may not swapon. The
        // /proc/swaps parser is unit-tested with a fixture (sys::open_files).
        eprintln!("skipped: the kernel refuses swapon here");
        return;
    }
    let out = holders(&[], &ext);
    common::assert_exit(&out, 1, "holders of a mount with a swap file");
    let said = common::stdout(&out);
    assert!(said.contains(&format!("  {}\n", swap.display())), "{said}");
    assert!(
        said.contains(&format!("swapoff '{}'", swap.display())),
        "{said}"
    );
    // The tmpfs holds the ext4 image: its loop device is named there.
    let outer = holders(&[], &scene.mnt);
    assert!(
        common::stdout(&outer).contains("ext4.img"),
        "{}",
        common::show(&outer)
    );
}

#[test]
fn a_path_that_is_not_a_mount_point_is_refused() {
    let out = common::run(&["holders", "/proc/self"]);
    common::assert_exit(&out, 2, "holders on a directory inside a mount");
    assert!(
        common::stderr(&out).contains("not a mount point"),
        "{}",
        common::show(&out)
    );
    let out = common::run(&["holders", "/nonexistent/x"]);
    common::assert_exit(&out, 2, "holders on a missing path");
}

#[test]
fn the_root_is_never_offered_for_killing_or_unmounting() {
    let out = holders(&["-k", "--yes"], Path::new("/"));
    common::assert_exit(&out, 2, "holders -k /");
    let out = holders(&[], Path::new("/"));
    let said = common::stdout(&out);
    let next = said.split("\nnext:\n").nth(1).unwrap_or_default();
    assert!(
        next.contains("mount -o remount,ro /"),
        "{}",
        common::show(&out)
    );
    assert!(
        !next.contains("umount") && !next.contains("fuser -m -k"),
        "{said}"
    );
}
