//! `rescue changes`: what changed in a root since a time, found by ctime (or mtime), with the
//! package that owns each file and whether it still matches dpkg's md5sums. The changes are
//! made by the test on a fresh copy of the bookworm debootstrap root, and the answer is
//! checked as a set against what the test did; the owners against ROOT's own .list files.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::bookworm::{package_lists, BookwormRoot};
use common::{assert_exit, show, stdout};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Waits until what was done so far is in an earlier second than anything done next (ctime
/// is compared in whole seconds), and returns the second from which on changes count.
fn mark() -> u64 {
    std::thread::sleep(Duration::from_millis(2100));
    now()
}

/// The text listing as (path, owner) pairs: `DIR:` lines, then `  TIME  NAME  [OWNER]`.
fn listed(output: &Output) -> BTreeSet<(String, String)> {
    let mut dir = String::new();
    let mut set = BTreeSet::new();
    for line in stdout(output).lines() {
        if let Some(entry) = line.strip_prefix("  ") {
            let (_, rest) = entry.split_once("  ").expect("time, then name");
            let (name, owner) = rest.rsplit_once("  [").expect("name, then owner");
            let owner = owner.strip_suffix(']').expect("owner in brackets");
            let path = format!("{}/{name}", dir.trim_end_matches('/'));
            set.insert((path, owner.to_string()));
        } else if let Some(header) = line.strip_suffix(':').filter(|l| l.starts_with('/')) {
            dir = header.to_string();
        } else if line.is_empty() {
            break;
        }
    }
    set
}

fn paths(set: &BTreeSet<(String, String)>) -> BTreeSet<String> {
    set.iter().map(|(p, _)| p.clone()).collect()
}

fn changes(root: &Path, args: &[&str]) -> Output {
    common::rescue_in(root, "changes", args)
}

/// The JSON document through Python's parser, as `path<TAB>packages<TAB>state` lines.
fn json_entries(output: &Output) -> BTreeSet<(String, String)> {
    let script = "import json,sys\n\
                  d=json.load(sys.stdin)\n\
                  assert d['summary']['changed']==len(d['changed'])\n\
                  for c in d['changed']:\n\
                  \x20   p=', '.join(c['packages'])\n\
                  \x20   print(c['path']+'\\t'+(p+': '+c['state'] if p else c['state']))\n";
    let mut python = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    python
        .stdin
        .take()
        .expect("stdin")
        .write_all(&output.stdout)
        .expect("write to python3");
    let parsed = python.wait_with_output().expect("python3 output");
    assert!(parsed.status.success(), "not JSON: {}", show(&parsed));
    stdout(&parsed)
        .lines()
        .map(|l| {
            let (path, owner) = l.split_once('\t').expect("two fields");
            (path.to_string(), owner.to_string())
        })
        .collect()
}

/// `find ROOT -xdev ! -type d FLAG @SINCE`, as paths inside ROOT.
fn found_by_find(root: &Path, flag: &str, since: u64) -> BTreeSet<String> {
    let out = Command::new("find")
        .arg(root)
        .args(["-xdev", "!", "-type", "d", flag, &format!("@{since}")])
        .output()
        .expect("run find");
    assert!(out.status.success(), "find: {}", show(&out));
    let prefix = root.display().to_string();
    stdout(&out)
        .lines()
        .map(|l| l.strip_prefix(&prefix).expect("under ROOT").to_string())
        .collect()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(p, o)| (p.to_string(), o.to_string()))
        .collect()
}

#[test]
fn the_changes_made_to_a_root_are_listed_with_their_owners() {
    let Some(copy) = BookwormRoot::extract() else {
        return;
    };
    let root = &copy.root;
    // passwd is written by base-passwd's postinst, never shipped: no .list names it.
    for (package, listed) in package_lists(root) {
        assert!(
            !listed.iter().any(|p| p == Path::new("/etc/passwd")),
            "{package} lists /etc/passwd"
        );
    }
    fs::write(copy.path("root/early"), b"before the mark\n").unwrap();
    let since = mark();
    let mut ls = fs::OpenOptions::new()
        .append(true)
        .open(copy.path("usr/bin/ls"))
        .unwrap();
    ls.write_all(b"trailing bytes").unwrap();
    drop(ls);
    fs::write(copy.path("etc/passwd"), b"root:x:0:0:root:/root:/bin/sh\n").unwrap();
    let touched = Command::new("touch")
        .args(["-d", "2001-02-03 04:05:06"])
        .arg(copy.path("etc/passwd"))
        .status()
        .unwrap();
    assert!(touched.success());
    fs::create_dir_all(copy.path("home/x")).unwrap();
    fs::write(copy.path("home/x/file"), b"new\n").unwrap();
    fs::set_permissions(copy.path("usr/bin/cat"), fs::Permissions::from_mode(0o700)).unwrap();

    let expected = set(&[
        ("/etc/passwd", "not owned"),
        ("/home/x/file", "not owned"),
        ("/usr/bin/cat", "coreutils: verifies"),
        ("/usr/bin/ls", "coreutils: modified"),
    ]);
    let at = format!("@{since}");
    let out = changes(root, &["--since", &at]);
    assert_exit(&out, 1, "changes since the mark");
    assert_eq!(listed(&out), expected, "{}", show(&out));
    let text = stdout(&out);
    assert!(
        text.contains("4 changed files: 2 owned by packages (1 modified), 2 not owned"),
        "{text}"
    );
    let root_word = root.display().to_string();
    for next in [
        format!("next: rescue verify --root {root_word} coreutils"),
        format!("next: rescue restore --root {root_word} coreutils"),
        format!("next: rescue accounts --root {root_word}"),
    ] {
        assert!(text.contains(&next), "no {next:?} in:\n{text}");
    }

    // mtime: rsync -a would have kept passwd's old mtime, and chmod leaves it alone.
    let out = changes(root, &["--since", &at, "--mtime"]);
    assert_exit(&out, 1, "changes by mtime");
    let by_mtime = paths(&listed(&out));
    let expected_mtime: BTreeSet<String> = ["/home/x/file", "/usr/bin/ls"]
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(by_mtime, expected_mtime, "{}", show(&out));

    // GNU find, the peer: `-newerct`/`-newermt` on non-directories, on one file system.
    for (flag, ours) in [("-newerct", paths(&expected)), ("-newermt", by_mtime)] {
        assert_eq!(found_by_find(root, flag, since), ours, "find {flag}");
    }

    // A time ago: exactly the mark, give or take the second the clock may turn meanwhile
    // (everything else changed two seconds before the mark).
    let ago = format!("{}s", now() - since + 1);
    let out = changes(root, &["--since", &ago]);
    assert_eq!(listed(&out), expected, "--since {ago}: {}", show(&out));
    let out = changes(root, &["--since", "5min"]);
    let recent = listed(&out);
    assert!(recent.is_superset(&expected), "{}", show(&out));
    assert!(recent.iter().any(|(p, _)| p == "/root/early"));

    let out = changes(root, &["--since", &at, "--format", "json"]);
    assert_exit(&out, 1, "json");
    assert_eq!(json_entries(&out), expected);

    // PATH narrows the walk, inside ROOT: /bin is ROOT's usr/bin, not the host's.
    let out = changes(root, &["--since", &at, "/bin"]);
    assert_eq!(
        paths(&listed(&out)),
        paths(&set(&[("/usr/bin/cat", ""), ("/usr/bin/ls", "")])),
        "{}",
        show(&out)
    );
}

#[test]
fn a_mount_inside_the_root_is_skipped_unless_named() {
    let Some(copy) = BookwormRoot::extract() else {
        return;
    };
    let root = &copy.root;
    let Some(_tmpfs) = common::Tmpfs::mount(&copy.path("mnt"), "") else {
        return;
    };
    let since = mark();
    fs::write(copy.path("mnt/new"), b"on the tmpfs\n").unwrap();
    fs::write(copy.path("opt/new"), b"on the root\n").unwrap();
    let at = format!("@{since}");
    let out = changes(root, &["--since", &at]);
    assert_exit(&out, 1, "changes");
    assert_eq!(
        listed(&out),
        set(&[("/opt/new", "not owned")]),
        "{}",
        show(&out)
    );
    let err = common::stderr(&out);
    assert!(
        err.contains("skipped 1 mount") && err.contains("/mnt (tmpfs)"),
        "{err}"
    );

    let out = changes(root, &["--since", &at, "/mnt"]);
    assert_exit(&out, 1, "changes in /mnt");
    assert_eq!(
        listed(&out),
        set(&[("/mnt/new", "not owned")]),
        "{}",
        show(&out)
    );
}

/// A root without a dpkg database, which needs no root privileges: a symlink to a directory
/// outside is never followed, a name that is not UTF-8 is kept in JSON, and nothing new is
/// exit status 0.
#[test]
fn a_plain_directory_never_followed_out_of() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, outside) = (tmp.path().join("root"), tmp.path().join("outside"));
    fs::create_dir_all(root.join("d")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    let since = mark();
    fs::write(outside.join("secret"), b"x").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("d/link")).unwrap();
    let odd = root.join(std::ffi::OsStr::from_bytes(b"d/caf\xe9"));
    fs::write(&odd, b"x").unwrap();
    let at = format!("@{since}");
    let out = changes(&root, &["--since", &at]);
    assert_exit(&out, 1, "changes");
    let found = paths(&listed(&out));
    assert_eq!(found.len(), 2, "{}", show(&out));
    assert!(found.contains("/d/link"), "{}", show(&out));
    assert!(!stdout(&out).contains("secret"));
    assert!(common::stderr(&out).contains("owners not known"));

    let out = changes(&root, &["--since", &at, "--format", "json"]);
    let text = stdout(&out);
    assert!(
        text.contains("\"path_bytes_hex\": \"2f642f636166e9\""),
        "{text}"
    );
    let entries = json_entries(&out);
    assert!(entries.contains(&("/d/caf\u{fffd}".to_string(), "owner unknown".to_string())));

    let later = format!("@{}", now() + 5);
    let out = changes(&root, &["--since", &later]);
    assert_exit(&out, 0, "nothing changed");
    assert!(stdout(&out).contains("0 changed files"));
    let out = changes(&root, &["--since", "the day before"]);
    assert_exit(&out, 2, "not a time");
    let out = changes(&root, &[]);
    assert_exit(&out, 2, "no --since");
    assert!(common::stderr(&out).contains("missing --since TIME"));
}
