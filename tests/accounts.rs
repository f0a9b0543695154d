//! `rescue accounts`: a pristine bookworm root is clean; the passwd disaster (a container's
//! passwd, group, shadow and gshadow copied over the root's) is named account by account,
//! repaired from the backups with the container's own user kept, and undone byte for byte;
//! syntax errors are named with FILE:LINE on the lines `pwck -r`/`grpck -r` reject.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::bookworm::BookwormRoot;

const FILES: [&str; 4] = ["passwd", "group", "shadow", "gshadow"];

fn accounts(root: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["accounts", "--root", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    common::run(&args)
}

/// The names of `name:...` lines.
fn names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.split(':').next())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// Bytes, mode, owner and group of each account file.
fn state(root: &Path) -> Vec<(Vec<u8>, u32, u32, u32)> {
    FILES
        .iter()
        .map(|f| {
            let path = root.join("etc").join(f);
            let meta = fs::metadata(&path).unwrap();
            (
                fs::read(&path).unwrap(),
                meta.mode(),
                meta.uid(),
                meta.gid(),
            )
        })
        .collect()
}

/// Replaces the four files with a container's: root and `app` (uid 1000), no system
/// accounts, written in place so each file keeps its mode and owner.
fn container_disaster(root: &Path) {
    let files = [
        "root:x:0:0:root:/root:/bin/bash\napp:x:1000:1000::/home/app:/bin/sh\n",
        "root:x:0:\napp:x:1000:\n",
        "root:*:19000:0:99999:7:::\napp:!:19000:0:99999:7:::\n",
        "root:*::\napp:!::\n",
    ];
    for (name, text) in FILES.iter().zip(files) {
        fs::write(root.join("etc").join(name), text).unwrap();
    }
}

#[test]
fn the_passwd_disaster_is_named_repaired_and_undone() {
    let Some(bookworm) = BookwormRoot::extract() else {
        return;
    };
    let root = bookworm.root.as_path();
    let pristine = accounts(root, &[]);
    common::assert_exit(&pristine, 0, "a pristine root");
    assert!(common::stdout(&pristine).starts_with("no findings"));

    // Before the disaster: the daily job's copies (the `etc/passwd-` debootstrap left lack
    // the last accounts added: sshd, _ssh).
    for name in FILES {
        fs::copy(
            root.join("etc").join(name),
            root.join("var/backups").join(format!("{name}.bak")),
        )
        .unwrap();
    }
    let original_users = names(&fs::read_to_string(root.join("etc/passwd")).unwrap());
    let original_groups = names(&fs::read_to_string(root.join("etc/group")).unwrap());
    container_disaster(root);
    let before = state(root);

    let found = accounts(root, &[]);
    common::assert_exit(&found, 1, "the disaster");
    let out = common::stdout(&found);
    let findings = out.split("notes (").next().unwrap();
    let named = |kind: &str| -> BTreeSet<String> {
        findings
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("  {kind} ")))
            .filter_map(|l| l.split(':').next())
            .map(str::to_string)
            .collect()
    };
    let lost = |all: &BTreeSet<String>| -> BTreeSet<String> {
        all.iter()
            .filter(|n| !["root", "app"].contains(&n.as_str()))
            .cloned()
            .collect()
    };
    assert_eq!(named("user"), lost(&original_users), "{out}");
    assert_eq!(named("group"), lost(&original_groups), "{out}");
    for line in [
        "  user _apt: needed by base-passwd (passwd.master), apt postinst",
        "  group crontab: needed by statoverride /usr/bin/crontab",
        "  user sshd: needed by openssh-server postinst",
    ] {
        assert!(out.contains(line), "{line:?} not in\n{out}");
    }
    assert!(out.contains("var/backups/passwd.bak (") && out.contains("etc/passwd- ("));
    assert!(out.contains("next: rescue accounts --root "), "{out}");
    assert!(
        !out.contains("$y$") && !out.contains("$6$"),
        "a hash was printed:\n{out}"
    );

    let asked = common::rescue_in(root, "accounts", &["--repair"]);
    common::assert_exit(&asked, 1, "a repair nobody could confirm");
    assert!(common::stdout(&asked).contains("add user sshd (id 102) to passwd and shadow"));
    assert!(common::stdout(&asked).contains("not applied: no terminal to ask; run with --yes"));
    assert!(
        state(root) == before,
        "a repair without --yes changed the files"
    );

    let repaired = accounts(root, &["--repair", "--yes"]);
    common::assert_exit(&repaired, 0, "the repair");
    let out = common::stdout(&repaired);
    assert!(out.contains("checked again: no findings"), "{out}");
    let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(
        passwd.starts_with("root:x:0:0:root:/root:/bin/bash\napp:x:1000:1000::/home/app:/bin/sh\n")
    );
    assert_eq!(
        names(&passwd),
        original_users
            .iter()
            .cloned()
            .chain(["app".into()])
            .collect()
    );
    let shadow = fs::read_to_string(root.join("etc/shadow")).unwrap();
    assert!(
        shadow.contains("\nsshd:*:") || shadow.contains("\nsshd:!"),
        "{shadow}"
    );
    let meta = fs::metadata(root.join("etc/shadow")).unwrap();
    assert_eq!(
        (meta.mode() & 0o7777, meta.uid(), meta.gid()),
        (0o640, 0, 42)
    );
    let after = accounts(root, &[]);
    common::assert_exit(
        &after,
        0,
        "after the repair: the container's app user is a note",
    );
    assert!(common::stdout(&after).contains("user app: in "));

    let undone = common::run(&["undo", "--root", root.to_str().unwrap()]);
    common::assert_exit(&undone, 0, "undo");
    assert!(
        state(root) == before,
        "undo did not give back each file byte for byte"
    );
}

#[test]
fn a_clash_is_skipped_never_renumbered() {
    let Some(bookworm) = BookwormRoot::extract() else {
        return;
    };
    let root = bookworm.root.as_path();
    // Only the stale etc/passwd- backups; the container's app user took uid 42 (_apt's).
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\napp:x:42:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    let out = accounts(root, &["--repair", "--yes"]);
    let text = common::stdout(&out);
    assert!(
        text.contains("skip user _apt: id 42 is app's in the current file"),
        "{text}"
    );
    // sshd is in no backup (etc/passwd- predates it): still a finding.
    assert!(
        text.contains("  user sshd: needed by openssh-server"),
        "{text}"
    );
    common::assert_exit(&out, 1, "a repair that left some");
    let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(!passwd.contains("_apt:"), "{passwd}");
    assert!(passwd.contains("\ndaemon:x:1:1:"), "{passwd}");
}

/// The lines `pwck -r`/`grpck -r` offer to delete in `file`, as line numbers.
fn peer_rejects(output: &str, file: &str) -> BTreeSet<usize> {
    let lines: Vec<&str> = file.lines().collect();
    output
        .lines()
        .filter_map(|l| l.strip_prefix("delete line '"))
        .filter_map(|l| l.strip_suffix("'? No"))
        .filter_map(|bad| lines.iter().position(|l| *l == bad).map(|i| i + 1))
        .collect()
}

#[test]
fn syntax_errors_are_named_where_pwck_names_them() {
    if !common::root_or_skip("pwck -R chroots") || !common::have_or_skip("pwck") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir(root.join("etc")).unwrap();
    let passwd = "root:x:0:0:root:/root:/bin/sh\nbin:x:2:2:bin:/bin\nsync:x:four:65534:sync:/bin:/bin/sync\nman:x:6:12:man:/var/cache/man:/bin/sh\nlp:x:7:7:lp:/:/bin/sh\n";
    let group = "root:x:0:\nbin:x:two:\nman:x:12:\n";
    fs::write(root.join("etc/passwd"), passwd).unwrap();
    fs::write(root.join("etc/group"), group).unwrap();
    fs::write(
        root.join("etc/shadow"),
        "root:*:1:0:99999:7:::\nbin:*:1:0:99999:7:::\nsync:*:1:0:99999:7:::\nman:*:1:0:99999:7:::\nlp:*:1:0:99999:7:::\n",
    )
    .unwrap();
    fs::write(root.join("etc/gshadow"), "root:*::\nbin:*::\nman:*::\n").unwrap();

    let ours = accounts(root, &[]);
    common::assert_exit(&ours, 1, "syntax errors");
    let out = common::stdout(&ours);
    let shown = |file: &str, line: usize| format!("{}/etc/{file}:{line}: ", root.display());
    assert!(
        out.contains(&format!(
            "{}invalid password file entry",
            shown("passwd", 2)
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}user sync: invalid user ID", shown("passwd", 3))),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}group bin: invalid group ID", shown("group", 2))),
        "{out}"
    );
    let ours_in = |file: &str| -> BTreeSet<usize> {
        let prefix = format!("  {}/etc/{file}:", root.display());
        out.lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .filter(|l| l.contains("invalid"))
            .filter_map(|l| l.split(':').next()?.parse().ok())
            .collect()
    };
    let pwck = std::process::Command::new("pwck")
        .args(["-r", "-R"])
        .arg(root)
        .output()
        .unwrap();
    let grpck = std::process::Command::new("grpck")
        .args(["-r", "-R"])
        .arg(root)
        .output()
        .unwrap();
    let said = |o: &std::process::Output| common::said(o);
    assert_eq!(
        ours_in("passwd"),
        peer_rejects(&said(&pwck), passwd),
        "{}",
        said(&pwck)
    );
    assert_eq!(
        ours_in("group"),
        peer_rejects(&said(&grpck), group),
        "{}",
        said(&grpck)
    );
    assert_eq!(ours_in("passwd"), BTreeSet::from([2, 3]));
    // pwck's `user 'lp': no group 7`, at lp's line.
    assert!(
        said(&pwck).contains("user 'lp': no group 7"),
        "{}",
        said(&pwck)
    );
    assert!(
        out.contains(&format!("{}user lp: no group 7 in ", shown("passwd", 5))),
        "{out}"
    );
}

#[test]
fn a_root_that_is_no_directory_is_an_error() {
    let out = common::run(&["accounts", "--root", "/nonexistent/rescue-accounts"]);
    common::assert_exit(&out, 2, "no root");
    assert!(
        common::stderr(&out).contains("not a directory"),
        "{}",
        common::show(&out)
    );
}
