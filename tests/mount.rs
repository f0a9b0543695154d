//! `mount`, `umount`, `mountpoint` and `chroot` against util-linux 2.38 and GNU coreutils on
//! real mounts: tmpfs, binds, recursive binds, moves, remounts, an ext4 image on a loop device
//! found by LABEL= and UUID= without udev, and chroots into a small root built here. Every
//! mount and loop device is undone by a guard, also when an assertion fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{assert_exit, have_or_skip, rescue, root_or_skip, show, stdout};

/// A mount point to clean: unmounted lazily and recursively on drop, whatever is left on it.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        for _ in 0..8 {
            let status = Command::new("umount")
                .args(["-R", "-l", "-q"])
                .arg(&self.0)
                .stderr(std::process::Stdio::null())
                .status();
            if !status.is_ok_and(|s| s.success()) {
                break;
            }
        }
    }
}

/// A loop device detached on drop.
struct Loop(String);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

fn ours(args: &[&str]) -> Output {
    rescue()
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .expect("run rescue")
}

fn theirs(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|err| panic!("run {program}: {err}"))
}

fn text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

fn findmnt(target: &Path, column: &str) -> String {
    stdout(&theirs(
        "findmnt",
        &["-no", column, "--mountpoint", text(target)],
    ))
    .trim()
    .to_string()
}

/// Our stderr with util-linux's program name, for comparing messages.
fn said_as(output: &Output, program: &str) -> String {
    common::stderr(output).replace(&format!("rescue {program}:"), &format!("{program}:"))
}

fn setup(what: &str) -> Option<tempfile::TempDir> {
    if !root_or_skip(what) || !have_or_skip("findmnt") || !have_or_skip("mountpoint") {
        return None;
    }
    Some(
        tempfile::Builder::new()
            .prefix("rescue-mount-")
            .tempdir()
            .expect("tempdir"),
    )
}

fn dirs(base: &Path, names: &[&str]) -> Vec<(PathBuf, Mounted)> {
    names
        .iter()
        .map(|name| {
            let dir = base.join(name);
            std::fs::create_dir_all(&dir).expect("mkdir");
            (dir.clone(), Mounted(dir))
        })
        .collect()
}

#[test]
fn a_tmpfs_is_mounted_listed_remounted_and_unmounted_as_util_linux_does() {
    let Some(tmp) = setup("mounting needs root") else {
        return;
    };
    let made = dirs(tmp.path(), &["ours", "theirs"]);
    let (ours_dir, theirs_dir) = (&made[0].0, &made[1].0);
    let options = "size=1m,nosuid,nodev,mode=700,noatime";
    let mounted = ours(&["mount", "-t", "tmpfs", "-o", options, "rt", text(ours_dir)]);
    assert_exit(&mounted, 0, "rescue mount -t tmpfs");
    let peer = theirs(
        "mount",
        &["-t", "tmpfs", "-o", options, "rt", text(theirs_dir)],
    );
    assert_exit(&peer, 0, "mount -t tmpfs");
    assert_eq!(findmnt(ours_dir, "OPTIONS"), findmnt(theirs_dir, "OPTIONS"));
    assert!(findmnt(ours_dir, "OPTIONS").contains("nosuid,nodev,noatime"));

    // The listing line of our mount, as util-linux lists it.
    let line = |output: &Output| {
        stdout(output)
            .lines()
            .find(|line| line.contains(text(ours_dir)))
            .map(str::to_string)
    };
    let listed = line(&ours(&["mount", "-t", "tmpfs"]));
    assert!(listed.is_some());
    assert_eq!(listed, line(&theirs("mount", &["-t", "tmpfs"])));

    for mode in ["remount,ro", "remount,rw"] {
        assert_exit(&ours(&["mount", "-o", mode, text(ours_dir)]), 0, mode);
        assert_exit(&theirs("mount", &["-o", mode, text(theirs_dir)]), 0, mode);
        assert_eq!(findmnt(ours_dir, "OPTIONS"), findmnt(theirs_dir, "OPTIONS"));
    }
    assert!(findmnt(ours_dir, "OPTIONS").starts_with("rw,nosuid"));

    assert_exit(&ours(&["umount", text(ours_dir)]), 0, "umount");
    assert_eq!(findmnt(ours_dir, "TARGET"), "");
    let again = ours(&["umount", text(ours_dir)]);
    let peer = theirs("umount", &[text(ours_dir)]);
    assert_exit(&again, 32, "umount of what is not mounted");
    assert_eq!(said_as(&again, "umount"), common::stderr(&peer));
}

#[test]
fn binds_recursive_binds_and_moves() {
    let Some(tmp) = setup("mounting needs root") else {
        return;
    };
    let made = dirs(
        tmp.path(),
        &["src", "bind", "rbind", "ro", "ro-peer", "moved"],
    );
    let [src, bind, rbind, ro, ro_peer, moved] = [0, 1, 2, 3, 4, 5].map(|i| made[i].0.clone());
    assert_exit(
        &ours(&["mount", "-t", "tmpfs", "-o", "nosuid", "s", text(&src)]),
        0,
        "tmpfs",
    );
    std::fs::create_dir_all(src.join("inner/deep")).unwrap();
    assert_exit(
        &ours(&["mount", "-t", "tmpfs", "i", text(&src.join("inner"))]),
        0,
        "inner",
    );
    std::fs::create_dir_all(src.join("inner/deep")).unwrap();
    std::fs::write(src.join("inner/marker"), "x").unwrap();

    assert_exit(
        &ours(&["mount", "--bind", text(&src), text(&bind)]),
        0,
        "--bind",
    );
    assert!(bind.join("inner").is_dir());
    assert!(
        !bind.join("inner/marker").exists(),
        "a bind does not carry submounts"
    );

    assert_exit(
        &ours(&["mount", "--rbind", text(&src), text(&rbind)]),
        0,
        "--rbind",
    );
    assert!(
        rbind.join("inner/marker").exists(),
        "an rbind carries submounts"
    );
    assert_exit(&ours(&["umount", "-R", text(&rbind)]), 0, "umount -R");
    assert_eq!(findmnt(&rbind, "TARGET"), "");
    assert_eq!(findmnt(&rbind.join("inner"), "TARGET"), "");

    // A read-only bind: bound, then remounted MS_REMOUNT|MS_BIND, as util-linux does.
    assert_exit(
        &ours(&["mount", "--bind", "-o", "ro", text(&src), text(&ro)]),
        0,
        "bind ro",
    );
    let peer = theirs("mount", &["--bind", "-o", "ro", text(&src), text(&ro_peer)]);
    assert_exit(&peer, 0, "util-linux bind ro");
    assert_eq!(findmnt(&ro, "OPTIONS"), findmnt(&ro_peer, "OPTIONS"));
    assert!(findmnt(&ro, "OPTIONS").starts_with("ro"));

    let from = src.join("inner");
    let out = ours(&["mount", "--move", text(&from), text(&moved)]);
    assert_exit(&out, 0, "--move");
    assert!(moved.join("marker").exists());
    assert!(!from.join("marker").exists());
    // umount by source: the tmpfs named `i` is now on `moved`.
    assert_exit(&ours(&["umount", "i"]), 0, "umount SOURCE");
    assert_eq!(findmnt(&moved, "TARGET"), "");
}

#[test]
fn errors_are_util_linux_words_and_statuses() {
    let Some(tmp) = setup("mounting needs root") else {
        return;
    };
    let missing = tmp.path().join("missing");
    let plain = tmp.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let _guard = Mounted(plain.clone());
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("mount", vec!["-t", "tmpfs", "x", text(&missing)]),
        ("mount", vec!["nosuchsource", text(&plain)]),
        ("mount", vec!["LABEL=rescue-no-such-label", text(&plain)]),
        ("mount", vec!["a", "b", "c"]),
        ("umount", vec![text(&plain)]),
        ("umount", vec!["-q", text(&plain)]),
        ("umount", vec![text(&missing)]),
        ("umount", vec!["-q", text(&missing)]),
    ];
    for (program, args) in cases {
        let mut with_program = vec![program];
        with_program.extend(&args);
        let ours = ours(&with_program);
        let peer = theirs(program, &args);
        assert_eq!(
            ours.status.code(),
            peer.status.code(),
            "{program} {args:?}: {}",
            show(&ours)
        );
        let first = |text: String| text.lines().next().unwrap_or("").to_string();
        assert_eq!(
            first(said_as(&ours, program)),
            first(common::stderr(&peer)),
            "{program} {args:?}"
        );
    }
}

#[test]
fn mountpoint_answers_as_util_linux_does() {
    let Some(tmp) = setup("mounting needs root") else {
        return;
    };
    let made = dirs(tmp.path(), &["m"]);
    let mounted = &made[0].0;
    let plain = tmp.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, "").unwrap();
    assert_exit(
        &ours(&["mount", "-t", "tmpfs", "m", text(mounted)]),
        0,
        "tmpfs",
    );
    let missing = tmp.path().join("missing");
    for args in [
        vec![text(mounted)],
        vec![text(&plain)],
        vec![text(&file)],
        vec!["-q", text(mounted)],
        vec!["-q", text(&plain)],
        vec!["-d", text(mounted)],
        vec!["-d", text(&plain)],
        vec!["-d", "/"],
        vec!["-x", text(&file)],
        vec!["/proc"],
        vec![text(&missing)],
    ] {
        let mut with_program = vec!["mountpoint"];
        with_program.extend(&args);
        let ours = ours(&with_program);
        let peer = theirs("mountpoint", &args);
        assert_eq!(
            ours.status.code(),
            peer.status.code(),
            "mountpoint {args:?}"
        );
        assert_eq!(ours.stdout, peer.stdout, "mountpoint {args:?}");
        assert_eq!(
            said_as(&ours, "mountpoint"),
            common::stderr(&peer),
            "{args:?}"
        );
    }
}

/// A 16 MiB ext4 image labelled `label`, attached to a loop device.
fn ext4_on_loop(dir: &Path, label: &str) -> Option<(PathBuf, Loop)> {
    if !have_or_skip("mkfs.ext4") || !have_or_skip("losetup") || !have_or_skip("blkid") {
        return None;
    }
    let image = dir.join("ext4.img");
    std::fs::File::create(&image)
        .and_then(|f| f.set_len(16 << 20))
        .expect("image");
    let made = theirs("mkfs.ext4", &["-q", "-F", "-L", label, text(&image)]);
    assert_exit(&made, 0, "mkfs.ext4");
    let attached = theirs("losetup", &["-f", "--show", text(&image)]);
    assert_exit(&attached, 0, "losetup");
    Some((image, Loop(stdout(&attached).trim().to_string())))
}

#[test]
fn the_superblock_reader_agrees_with_blkid_on_an_image() {
    if !have_or_skip("mkfs.ext4") || !have_or_skip("blkid") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("ext4.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    assert_exit(
        &theirs("mkfs.ext4", &["-q", "-F", "-L", "rsc-direct", text(&image)]),
        0,
        "mkfs.ext4",
    );
    let identity = rescue::sys::superblock::read_identity(&image)
        .expect("read")
        .expect("an ext4 superblock");
    let blkid = |tag: &str| {
        stdout(&theirs(
            "blkid",
            &["-p", "-s", tag, "-o", "value", text(&image)],
        ))
        .trim()
        .to_string()
    };
    assert_eq!(identity.label, "rsc-direct");
    assert_eq!(identity.label, blkid("LABEL"));
    assert_eq!(identity.uuid, blkid("UUID"));
    assert_eq!(identity.fs_type, blkid("TYPE"));
}

#[test]
fn label_and_uuid_find_a_loop_device_and_its_type() {
    let Some(tmp) = setup("loop devices need root") else {
        return;
    };
    let Some((image, device)) = ext4_on_loop(tmp.path(), "rsc-loop") else {
        return;
    };
    let made = dirs(tmp.path(), &["m"]);
    let target = &made[0].0;
    let out = ours(&["mount", "LABEL=rsc-loop", text(target)]);
    assert_exit(&out, 0, "mount LABEL=");
    assert_eq!(findmnt(target, "SOURCE"), device.0);
    assert_eq!(findmnt(target, "FSTYPE"), "ext4");
    let listed = stdout(&ours(&["mount", "-l", "-t", "ext4"]));
    assert!(
        listed.contains(&format!("{} on {} type ext4 (", device.0, text(target)))
            && listed.contains("[rsc-loop]"),
        "{listed}"
    );
    assert_exit(&ours(&["umount", &device.0]), 0, "umount DEVICE");

    let uuid = stdout(&theirs(
        "blkid",
        &["-p", "-s", "UUID", "-o", "value", text(&image)],
    ));
    let out = ours(&[
        "mount",
        "-r",
        &format!("UUID={}", uuid.trim()),
        text(target),
    ]);
    assert_exit(&out, 0, "mount UUID=");
    assert!(findmnt(target, "OPTIONS").starts_with("ro"));
    let dev = stdout(&theirs("mountpoint", &["-d", text(target)]));
    assert_eq!(stdout(&ours(&["mountpoint", "-d", text(target)])), dev);
    let devno = ours(&["mountpoint", "-x", &device.0]);
    assert_eq!(
        devno.stdout,
        theirs("mountpoint", &["-x", &device.0]).stdout
    );
    assert_exit(&ours(&["umount", text(target)]), 0, "umount");
}

/// A root holding `programs` and the libraries `ldd` names for them, plus `etc` files.
fn small_root(dir: &Path, programs: &[&str]) -> PathBuf {
    let root = dir.join("root");
    for program in programs {
        let ldd = stdout(&theirs("ldd", &[program]));
        let libraries = ldd
            .split_whitespace()
            .filter(|word| word.starts_with('/'))
            .map(PathBuf::from);
        for file in libraries.chain([PathBuf::from(program)]) {
            let real = std::fs::canonicalize(&file).unwrap_or(file.clone());
            for inside in [file, real.clone()] {
                let target = root.join(inside.strip_prefix("/").unwrap());
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                if !target.exists() {
                    std::fs::copy(&real, &target).unwrap();
                }
            }
        }
    }
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/:/bin/sh\nrescuetest:x:4242:4343::/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nrescuegrp:x:4343:\nextra:x:4444:rescuetest\n",
    )
    .unwrap();
    root
}

#[test]
fn chroot_runs_commands_inside_with_newroots_users() {
    if !root_or_skip("chroot needs root") || !have_or_skip("ldd") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = small_root(
        tmp.path(),
        &["/usr/bin/true", "/usr/bin/id", "/usr/bin/pwd"],
    );
    let root_text = text(&root);
    assert_exit(
        &ours(&["chroot", root_text, "/usr/bin/true"]),
        0,
        "chroot true",
    );
    assert_exit(&ours(&["chroot", "/", "true"]), 0, "chroot / true");
    let pwd = ours(&["chroot", root_text, "/usr/bin/pwd"]);
    assert_eq!(stdout(&pwd), "/\n");

    // The names are NEWROOT's, not the host's: rescuetest exists only there.
    let id = ours(&[
        "chroot",
        "--userspec=rescuetest",
        root_text,
        "/usr/bin/id",
        "-u",
    ]);
    assert_eq!(stdout(&id).trim(), "4242", "{}", show(&id));
    let groups = ours(&[
        "chroot",
        "--userspec=rescuetest",
        root_text,
        "/usr/bin/id",
        "-G",
    ]);
    assert_eq!(stdout(&groups).trim(), "4343 4444", "{}", show(&groups));
    let with_groups = ours(&[
        "chroot",
        "--userspec=rescuetest:root",
        "--groups=extra,7",
        root_text,
        "/usr/bin/id",
        "-G",
    ]);
    assert_eq!(
        stdout(&with_groups).trim(),
        "0 7 4444",
        "{}",
        show(&with_groups)
    );

    // Failures: statuses and words of GNU chroot.
    for args in [
        vec![],
        vec!["/nonexistent-root"],
        vec!["/", "no-such-command-here"],
        vec!["/", "/etc/passwd"],
        vec!["--userspec=no-such-user", "/", "true"],
        vec!["--userspec=0:no-such-group", "/", "true"],
        vec!["--skip-chdir", root_text, "true"],
    ] {
        let mut with_program = vec!["chroot"];
        with_program.extend(&args);
        let ours = ours(&with_program);
        let peer = theirs("chroot", &args);
        assert_eq!(ours.status.code(), peer.status.code(), "chroot {args:?}");
        let first = |text: String| text.lines().next().unwrap_or("").to_string();
        assert_eq!(
            first(said_as(&ours, "chroot")),
            first(common::stderr(&peer)),
            "chroot {args:?}"
        );
    }
}

#[test]
fn an_image_file_is_mounted_through_a_loop_device_that_goes_away() {
    let Some(tmp) = setup("loop devices need root") else {
        return;
    };
    if !have_or_skip("mkfs.ext4") || !have_or_skip("losetup") {
        return;
    }
    let image = tmp.path().join("image.ext4");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    assert_exit(
        &theirs("mkfs.ext4", &["-q", "-F", text(&image)]),
        0,
        "mkfs.ext4",
    );
    let made = dirs(tmp.path(), &["m"]);
    let target = &made[0].0;
    assert_exit(
        &ours(&["mount", "-r", text(&image), text(target)]),
        0,
        "mount IMAGE",
    );
    let device = findmnt(target, "SOURCE");
    let _detach = Loop(device.clone());
    assert!(device.starts_with("/dev/loop"), "{device}");
    assert!(findmnt(target, "OPTIONS").starts_with("ro"));
    // util-linux lists an auto-clearing loop device as its image; so do we.
    let line = |output: &Output| {
        stdout(output)
            .lines()
            .find(|line| line.contains(text(target)))
            .map(str::to_string)
    };
    let listed = line(&ours(&["mount", "-t", "ext4"]));
    assert_eq!(listed, line(&theirs("mount", &["-t", "ext4"])));
    assert!(listed.unwrap().starts_with(text(&image)));
    assert_exit(&ours(&["umount", text(target)]), 0, "umount");
    let still = stdout(&theirs("losetup", &["-j", text(&image)]));
    assert_eq!(still, "", "the loop device is released with its mount");
}

#[test]
fn mount_all_from_an_fstab_as_util_linux_does() {
    let Some(tmp) = setup("mounting needs root") else {
        return;
    };
    let made = dirs(tmp.path(), &["f1", "f2", "f3", "f4"]);
    let [f1, f2, f3, f4] = [0, 1, 2, 3].map(|i| text(&made[i].0).to_string());
    let fstab = tmp.path().join("fstab");
    std::fs::write(
        &fstab,
        format!(
            "# made by the test\n\
             rescue-fa {f1} tmpfs size=1m,nosuid 0 0\n\
             rescue-fb {f2} tmpfs noauto,size=2m 0 0\n\
             {f1} {f3} none bind,ro 0 0\n\
             /dev/rescue-nonexistent {f4} ext4 defaults 0 0\n\
             a line fstab cannot hold\n"
        ),
    )
    .unwrap();
    let options = |dir: &str| findmnt(Path::new(dir), "OPTIONS");
    let unmount_all = || {
        for dir in [&f3, &f1, &f2] {
            let _ = theirs("umount", &[dir]);
        }
    };
    let mut seen = Vec::new();
    for peer in [false, true] {
        let run = |args: &[&str]| {
            let mut all = vec!["-a", "-T", text(&fstab)];
            all.extend(args);
            if peer {
                theirs("mount", &all)
            } else {
                let mut with_program = vec!["mount"];
                with_program.extend(all);
                ours(&with_program)
            }
        };
        let first = run(&[]);
        let state = [options(&f1), options(&f2), options(&f3)];
        let again = run(&[]);
        let only_tmpfs = run(&["-t", "tmpfs"]);
        seen.push((
            first.status.code(),
            said_as(&first, "mount"),
            state,
            again.status.code(),
            only_tmpfs.status.code(),
        ));
        unmount_all();
    }
    assert_eq!(seen[0], seen[1], "ours, then util-linux's");
    assert_eq!(seen[0].0, Some(64));
    assert!(seen[0].2[0].contains("nosuid") && seen[0].2[1].is_empty());
    assert!(seen[0].2[2].starts_with("ro"));

    // `mount DIR` takes the rest of the line, noauto or not.
    assert_exit(&ours(&["mount", "-T", text(&fstab), &f2]), 0, "mount DIR");
    assert!(options(&f2).contains("size=2048k"), "{}", options(&f2));
}
