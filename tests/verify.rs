//! `rescue verify`: dpkg roots built on disk, damaged, and checked against `dpkg --verify` on
//! the same root where dpkg is installed.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use common::dpkgroot::{line_set, DpkgRoot, Pkg};
use common::{stderr, stdout};

const NON_UTF8: &[u8] = b"/usr/share/weird/caf\xe9";

/// Several packages: a Multi-Arch: same library listed as `libc6:amd64.list` under the `/lib`
/// alias, conffiles (current, obsolete, newconffile), a package without md5sums, a
/// half-installed one, a non-UTF-8 path, a diversion and a stat override.
fn standard() -> DpkgRoot {
    let mut root = DpkgRoot::new();
    root.add(
        Pkg::new("libc6")
            .multi_arch_same()
            .dir("/lib")
            .dir("/lib/x86_64-linux-gnu")
            .file("/lib/x86_64-linux-gnu/libc.so.6", "libc")
            .file("/lib/x86_64-linux-gnu/libm.so.6", "libm")
            .file("/usr/share/doc/libc6/copyright", "GPL"),
    )
    .add(
        Pkg::new("hello")
            .dir("/usr/share/doc/hello")
            .file("/usr/bin/hello", "#!/bin/sh\necho hello\n")
            .file("/usr/share/man/man1/hello.1.gz", "man")
            .file("/usr/bin/tool", "the real tool")
            .file("/bin/hello-static", "static")
            .file(NON_UTF8, "cafe")
            .link("/usr/bin/hi", "hello")
            .conffile("/etc/hello.conf", "greeting=hi\n", "")
            .conffile("/etc/hello-old.conf", "old=1\n", "obsolete")
            .conffile("/etc/hello-new.conf", "new=1\n", "newconffile"),
    );
    // toolwrap diverts hello's /usr/bin/tool away and ships its own.
    fs::rename(root.host("/usr/bin/tool"), root.host("/usr/bin/tool.real")).unwrap();
    root.add(Pkg::new("toolwrap").file("/usr/bin/tool", "wrapper"))
        .diversion("/usr/bin/tool", "/usr/bin/tool.real", "toolwrap")
        .add(
            Pkg::new("nomd5")
                .file("/usr/bin/nomd5", "no digests recorded")
                .without_md5sums(),
        )
        .add(
            Pkg::new("half")
                .status("install reinstreq half-installed")
                .file("/usr/bin/half", "half"),
        )
        .statoverride("root root 4755 /usr/bin/hello");
    root
}

fn dpkg_lines(root: &DpkgRoot) -> Option<BTreeSet<Vec<u8>>> {
    let output = root.dpkg_verify()?;
    assert!(
        output.status.success(),
        "dpkg --verify failed: {}",
        stderr(&output)
    );
    Some(line_set(&output.stdout))
}

fn ours(root: &DpkgRoot, args: &[&str]) -> (BTreeSet<Vec<u8>>, i32) {
    let mut all = vec!["--db-only", "--format", "dpkg"];
    all.extend_from_slice(args);
    let output = root.verify(&all);
    (line_set(&output.stdout), output.status.code().unwrap_or(-1))
}

fn set(lines: &[&[u8]]) -> BTreeSet<Vec<u8>> {
    lines.iter().map(|l| l.to_vec()).collect()
}

/// dpkg's false positive on `newconffile`, which we deliberately do not report.
const NEWCONFFILE_LINE: &[u8] = b"??5?????? c /etc/hello-new.conf";

#[test]
fn clean_root_is_clean_and_dpkg_only_reports_its_newconffile_false_positive() {
    let root = standard();
    let (lines, code) = ours(&root, &[]);
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(code, 0);
    if let Some(dpkg) = dpkg_lines(&root) {
        assert_eq!(dpkg, set(&[NEWCONFFILE_LINE]));
    }
    let text = root.verify(&["--db-only"]);
    assert!(
        stdout(&text).starts_with("no problems found"),
        "{}",
        stdout(&text)
    );
}

#[test]
fn damaged_root_flags_the_same_lines_as_dpkg() {
    let root = standard();
    fs::remove_file(root.host("/usr/share/man/man1/hello.1.gz")).unwrap();
    fs::write(root.host("/usr/bin/hello"), "#!/bin/sh\necho pwned\n").unwrap();
    fs::write(root.host("/etc/hello.conf"), "greeting=yo\n").unwrap();
    fs::write(root.host("/etc/hello-old.conf"), "old=2\n").unwrap();
    fs::remove_file(root.host("/usr/bin/half")).unwrap();
    fs::remove_file(root.host("/usr/bin/nomd5")).unwrap();
    fs::remove_file(root.host("/usr/bin/hi")).unwrap();
    fs::remove_dir(root.host("/usr/share/doc/hello")).unwrap();
    fs::write(root.host(NON_UTF8), "CAFE").unwrap();
    fs::write(root.host("/lib/x86_64-linux-gnu/libc.so.6"), "evil").unwrap();
    fs::remove_file(root.host("/bin/hello-static")).unwrap();

    let (lines, code) = ours(&root, &[]);
    assert_eq!(code, 1);
    let mut weird = b"??5??????   ".to_vec();
    weird.extend_from_slice(NON_UTF8);
    let expected = set(&[
        b"missing     /usr/share/man/man1/hello.1.gz",
        b"??5??????   /usr/bin/hello",
        b"??5?????? c /etc/hello.conf",
        b"??5?????? c /etc/hello-old.conf",
        b"missing     /usr/bin/half",
        b"missing     /usr/bin/nomd5",
        b"missing     /usr/bin/hi",
        b"missing     /usr/share/doc/hello",
        &weird,
        b"??5??????   /lib/x86_64-linux-gnu/libc.so.6",
        b"missing     /bin/hello-static",
    ]);
    assert_eq!(lines, expected);
    if let Some(mut dpkg) = dpkg_lines(&root) {
        assert!(dpkg.remove(NEWCONFFILE_LINE));
        assert_eq!(lines, dpkg);
    }
}

#[test]
fn diverted_file_is_hashed_at_its_diverted_path() {
    let root = standard();
    fs::write(root.host("/usr/bin/tool.real"), "trojan tool").unwrap();
    let (lines, code) = ours(&root, &[]);
    assert_eq!(lines, set(&[b"??5??????   /usr/bin/tool.real"]));
    assert_eq!(code, 1);
    if let Some(mut dpkg) = dpkg_lines(&root) {
        // dpkg only checks that a diverted file exists.
        dpkg.remove(NEWCONFFILE_LINE);
        assert!(dpkg.is_empty(), "{dpkg:?}");
    }
    fs::remove_file(root.host("/usr/bin/tool.real")).unwrap();
    let (lines, _) = ours(&root, &[]);
    assert_eq!(lines, set(&[b"missing     /usr/bin/tool.real"]));
    if let Some(mut dpkg) = dpkg_lines(&root) {
        dpkg.remove(NEWCONFFILE_LINE);
        assert_eq!(lines, dpkg);
    }
    let json = root.verify(&["--db-only", "--format", "json"]);
    assert!(
        stdout(&json).contains("\"listed\":\"/usr/bin/tool\""),
        "{}",
        stdout(&json)
    );
}

#[test]
fn missing_lib_alias_is_reported_once_as_the_cause() {
    let root = standard();
    fs::remove_file(root.host("/lib")).unwrap();
    let (lines, code) = ours(&root, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        lines,
        set(&[
            b"missing     /lib",
            b"missing     /lib/x86_64-linux-gnu",
            b"missing     /lib/x86_64-linux-gnu/libc.so.6",
            b"missing     /lib/x86_64-linux-gnu/libm.so.6",
        ])
    );
    if let Some(mut dpkg) = dpkg_lines(&root) {
        dpkg.remove(NEWCONFFILE_LINE);
        assert_eq!(lines, dpkg);
    }
    let text = stdout(&root.verify(&["--db-only"]));
    assert_eq!(text.matches("merged-/usr alias").count(), 1, "{text}");
    assert!(
        text.contains("/lib: merged-/usr alias is missing (should be a symlink to usr/lib); it hides 4 listed paths"),
        "{text}"
    );
    assert!(text.contains("next: rescue ln -s usr/lib "), "{text}");

    // A real directory where the alias belongs hides the same paths.
    fs::create_dir(root.host("/lib")).unwrap();
    let text = stdout(&root.verify(&["--db-only"]));
    assert!(
        text.contains("/lib: merged-/usr alias is a real directory"),
        "{text}"
    );
    let (lines, _) = ours(&root, &[]);
    assert!(lines.contains(b"missing     /lib/x86_64-linux-gnu/libc.so.6".as_slice()));
}

#[test]
fn lib_alias_replaced_by_a_file_gives_dpkgs_enotdir_lines() {
    let root = standard();
    fs::remove_file(root.host("/lib")).unwrap();
    fs::write(root.host("/lib"), "oops").unwrap();
    let (lines, _) = ours(&root, &[]);
    assert!(
        lines.contains(b"missing     /lib/x86_64-linux-gnu/libc.so.6 (Not a directory)".as_slice()),
        "{lines:?}"
    );
    if let Some(mut dpkg) = dpkg_lines(&root) {
        dpkg.remove(NEWCONFFILE_LINE);
        assert_eq!(lines, dpkg);
    }
}

#[test]
fn directory_instead_of_file_is_a_finding_where_dpkg_aborts() {
    let root = standard();
    fs::remove_file(root.host("/usr/bin/hello")).unwrap();
    fs::create_dir(root.host("/usr/bin/hello")).unwrap();
    fs::remove_file(root.host("/usr/bin/nomd5")).unwrap();
    let (lines, code) = ours(&root, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        lines,
        set(&[b"?M???????   /usr/bin/hello", b"missing     /usr/bin/nomd5"])
    );
    if let Some(dpkg) = root.dpkg_verify() {
        assert!(!dpkg.status.success());
        assert!(
            stderr(&dpkg).contains("Is a directory"),
            "{}",
            stderr(&dpkg)
        );
    }
    let text = stdout(&root.verify(&["--db-only"]));
    assert!(
        text.contains("/usr/bin/hello  directory where a regular file belongs"),
        "{text}"
    );
}

#[test]
fn json_has_one_object_per_finding() {
    let root = standard();
    fs::write(root.host("/etc/hello.conf"), "changed\n").unwrap();
    fs::remove_file(root.host("/lib")).unwrap();
    let output = root.verify(&["--db-only", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    if !common::have_or_skip("python3") {
        assert!(stdout(&output).trim_start().starts_with('['));
        return;
    }
    let mut python = Command::new("python3")
        .arg("-c")
        .arg(
            "import json,sys\n\
             d=json.load(sys.stdin)\n\
             for o in d: print(o['kind'], o['package'], o['path'], o.get('conffile'), o['expected'] if o['kind']!='missing' else '')",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    python
        .stdin
        .take()
        .unwrap()
        .write_all(&output.stdout)
        .unwrap();
    let parsed = python.wait_with_output().unwrap();
    assert!(parsed.status.success(), "{}", stdout(&output));
    let text = stdout(&parsed);
    assert!(
        text.contains("alias None /lib None symlink to usr/lib"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "md5 hello /etc/hello.conf True {}",
            common::md5_hex(b"greeting=hi\n")
        )),
        "{text}"
    );
    assert!(
        text.contains("missing libc6:amd64 /lib/x86_64-linux-gnu/libc.so.6"),
        "{text}"
    );
}

#[test]
fn exit_codes_and_package_selection() {
    let root = standard();
    fs::remove_file(root.host("/usr/bin/hello")).unwrap();
    fs::remove_file(root.host("/usr/bin/nomd5")).unwrap();
    let (lines, code) = ours(&root, &["nomd5"]);
    assert_eq!(lines, set(&[b"missing     /usr/bin/nomd5"]));
    assert_eq!(code, 1);
    let (lines, code) = ours(&root, &["libc6:amd64"]);
    assert!(lines.is_empty());
    assert_eq!(code, 0);
    let output = root.verify(&["--db-only", "no-such-package"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("package 'no-such-package' is not installed"));

    fs::remove_file(root.path().join("var/lib/dpkg/status")).unwrap();
    let output = root.verify(&["--db-only"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("var/lib/dpkg/status': No such file or directory"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn missing_only_does_not_hash() {
    let root = standard();
    fs::write(root.host("/usr/bin/hello"), "changed").unwrap();
    fs::remove_file(root.host("/usr/bin/half")).unwrap();
    let (lines, code) = ours(&root, &["--missing-only"]);
    assert_eq!(lines, set(&[b"missing     /usr/bin/half"]));
    assert_eq!(code, 1);
}

#[test]
fn binary_or_truncated_status_names_file_and_line() {
    let root = standard();
    let status = root.path().join("var/lib/dpkg/status");
    let mut bytes = fs::read(&status).unwrap();
    let whole = String::from_utf8(bytes.clone()).unwrap();
    bytes.extend_from_slice(b"Package: x\n\x00\x7fELF\xff\n");
    fs::write(&status, &bytes).unwrap();
    let output = root.verify(&["--db-only"]);
    assert_eq!(output.status.code(), Some(2));
    let lines = bytes.iter().filter(|&&b| b == b'\n').count();
    assert!(
        stderr(&output).contains(&format!(
            "var/lib/dpkg/status:{lines}: binary data (NUL byte)"
        )),
        "{}",
        stderr(&output)
    );

    fs::write(
        &status,
        "Package: hello\nStatus: install ok installed\n\nPackage: half\nStat",
    )
    .unwrap();
    let output = root.verify(&["--db-only"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("status:5: the file ends inside a line (truncated file?)"),
        "{}",
        stderr(&output)
    );

    // Cut at a line end right after a stanza's Status line: what passed with exit 0 and half
    // the packages checked before.
    let stanza_of_second = whole
        .match_indices("\nPackage: ")
        .nth(1)
        .expect("three packages")
        .0;
    let status_end = whole[stanza_of_second..].find("Status: ").unwrap() + stanza_of_second;
    let line_end = whole[status_end..].find('\n').unwrap() + status_end + 1;
    fs::write(&status, &whole[..line_end]).unwrap();
    let output = root.verify(&["--db-only"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("has no 'Version' field (truncated file?)"),
        "{}",
        stderr(&output)
    );

    // One package twice with another version: dpkg refuses such a database, so do we.
    let first = &whole[..whole.find("\n\n").unwrap() + 2];
    let twice = format!("{whole}{}", first.replacen("Version: ", "Version: 9:", 1));
    fs::write(&status, twice).unwrap();
    let output = root.verify(&["--db-only"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("appears twice"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_md5sums_line_is_an_error_and_the_rest_is_still_checked() {
    let root = standard();
    let sums = root.info("hello.md5sums");
    let mut text = fs::read(&sums).unwrap();
    let line = text.iter().filter(|&&b| b == b'\n').count() + 1;
    text.extend_from_slice(b"d41d8cd98f00b204e9800998ecf8427e usr/bin/one-space\n");
    fs::write(&sums, text).unwrap();
    fs::remove_file(root.host("/usr/bin/half")).unwrap();
    let output = root.verify(&["--db-only", "--format", "dpkg"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!(
            "hello.md5sums:{line}: expected 'MD5  path' (two spaces)"
        )),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output), "missing     /usr/bin/half\n");
}

#[test]
fn crlf_and_duplicate_list_lines_are_warnings() {
    let root = standard();
    let sums = root.info("libc6:amd64.md5sums");
    let text = fs::read_to_string(&sums).unwrap().replace('\n', "\r\n");
    fs::write(&sums, text).unwrap();
    let list = root.info("hello.list");
    let mut text = fs::read(&list).unwrap();
    let lines = text.iter().filter(|&&b| b == b'\n').count();
    text.extend_from_slice(b"/usr/bin/hello\n");
    fs::write(&list, text).unwrap();
    fs::remove_file(root.host("/usr/bin/hello")).unwrap();
    let output = root.verify(&["--db-only", "--format", "dpkg"]);
    assert_eq!(output.status.code(), Some(1));
    // Checked once, not twice.
    assert_eq!(stdout(&output), "missing     /usr/bin/hello\n");
    let err = stderr(&output);
    assert!(
        err.contains(&format!(
            "warning: {}:{}: '/usr/bin/hello' already listed on line",
            list.display(),
            lines + 1
        )),
        "{err}"
    );
    assert!(
        err.contains("libc6:amd64.md5sums:1: CRLF line ending"),
        "{err}"
    );
}

#[test]
fn unreadable_file_is_a_finding_and_the_run_goes_on() {
    let root = standard();
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(
        root.host("/usr/bin/hello"),
        fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    fs::remove_file(root.host("/usr/bin/half")).unwrap();
    let mut command = if common::is_root() {
        // Root reads any file: drop it to make one unreadable.
        if !common::have_or_skip("setpriv") {
            return;
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_rescue"));
        c
    } else {
        common::rescue()
    };
    let output = command
        .args(["verify", "--db-only", "--format", "dpkg", "--root"])
        .arg(root.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        line_set(&output.stdout),
        set(&[b"?????????   /usr/bin/hello", b"missing     /usr/bin/half"])
    );
}

#[test]
fn cache_is_used_and_trusted_only_while_the_file_is_unchanged() {
    let root = standard();
    let first = stdout(&root.verify(&["--db-only"]));
    assert!(first.contains(" 0 digests from cache"), "{first}");
    assert!(root
        .path()
        .join("var/cache/rescue/verify-md5.cache")
        .is_file());
    let second = stdout(&root.verify(&["--db-only"]));
    assert!(second.contains(" 0 files hashed"), "{second}");
    // Same size, mtime put back: only the ctime tells, and it must.
    let hello = root.host("/usr/bin/hello");
    let before = fs::metadata(&hello).unwrap();
    let content = fs::read(&hello).unwrap();
    let mut changed = content.clone();
    changed[0] ^= 1;
    fs::write(&hello, &changed).unwrap();
    let file = fs::File::options().write(true).open(&hello).unwrap();
    file.set_modified(before.modified().unwrap()).unwrap();
    drop(file);
    let (lines, code) = ours(&root, &[]);
    assert_eq!(lines, set(&[b"??5??????   /usr/bin/hello"]));
    assert_eq!(code, 1);
    let bypass = stdout(&root.verify(&["--db-only", "--no-cache"]));
    assert!(bypass.contains(" 0 digests from cache"), "{bypass}");
}

#[test]
fn static_binary_verifies_from_inside_chroot() {
    let Some(binary) = common::dist_binary() else {
        return;
    };
    if !common::root_or_skip("chroot needs root") {
        return;
    }
    let root = standard();
    fs::remove_file(root.host("/usr/bin/half")).unwrap();
    fs::copy(&binary, root.path().join("rescue")).unwrap();
    let output = Command::new("chroot")
        .arg(root.path())
        .args(["/rescue", "verify", "--db-only", "--format", "dpkg"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&output),
        "missing     /usr/bin/half\n",
        "{}",
        stderr(&output)
    );
    assert_eq!(output.status.code(), Some(1));
}

/// The host itself against `dpkg --verify`, with the static binary operators run (the debug
/// build hashes too slowly for a whole system): `cargo xtask ci` builds it first.
#[test]
fn host_matches_dpkg_verify() {
    if !common::have_or_skip("dpkg") {
        return;
    }
    if !std::path::Path::new("/var/lib/dpkg/status").is_file() {
        common::skip("this host has no dpkg database");
        return;
    }
    let Some(binary) = common::dist_binary() else {
        return;
    };
    let started = std::time::Instant::now();
    let dpkg = Command::new("dpkg").arg("--verify").output().unwrap();
    let dpkg_time = started.elapsed();
    let started = std::time::Instant::now();
    let ours = Command::new(binary)
        .args(["verify", "--db-only", "--no-cache", "--format", "dpkg"])
        .output()
        .unwrap();
    let ours_time = started.elapsed();
    eprintln!("dpkg --verify: {dpkg_time:?}; rescue verify (static, no cache): {ours_time:?}");
    assert!(
        ours.status.code() == Some(0) || ours.status.code() == Some(1),
        "{}",
        stderr(&ours)
    );
    let mut theirs = line_set(&dpkg.stdout);
    // Our deliberate difference: newconffile placeholders are not reported.
    let newconffiles = Command::new("sh")
        .arg("-c")
        .arg("sed -n 's/^ \\(.*\\) newconffile$/\\1/p' /var/lib/dpkg/status")
        .output()
        .unwrap();
    for path in stdout(&newconffiles).lines() {
        theirs.remove(format!("??5?????? c {path}").as_bytes());
    }
    let ours_lines = line_set(&ours.stdout);
    let only_dpkg: Vec<_> = theirs.difference(&ours_lines).collect();
    let only_ours: Vec<_> = ours_lines.difference(&theirs).collect();
    assert!(
        only_dpkg.is_empty() && only_ours.is_empty(),
        "only dpkg: {only_dpkg:?}\nonly ours: {only_ours:?}"
    );
}

#[test]
fn updates_journal_is_replayed_over_status() {
    let root = standard();
    fs::remove_file(root.host("/usr/bin/nomd5")).unwrap();
    fs::remove_file(root.host("/usr/bin/half")).unwrap();
    // dpkg crashed after recording that nomd5 was purged, before folding it into status.
    fs::write(
        root.path().join("var/lib/dpkg/updates/0000"),
        "Package: nomd5\nStatus: purge ok not-installed\nArchitecture: amd64\n\n",
    )
    .unwrap();
    let (lines, code) = ours(&root, &[]);
    assert_eq!(lines, set(&[b"missing     /usr/bin/half"]));
    assert_eq!(code, 1);
    if let Some(mut dpkg) = dpkg_lines(&root) {
        dpkg.remove(NEWCONFFILE_LINE);
        assert_eq!(lines, dpkg);
    }
}
