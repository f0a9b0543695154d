//! touch compared with GNU touch: the times set by -d, -t, -r (with -a, -m, -h) are equal to the
//! nanosecond; files are created with 0666 less the umask. Run with TZ=UTC and with a zone
//! that has DST, read from its TZif file.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

fn times(path: &Path) -> (i64, i64, i64, i64) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    (
        meta.atime(),
        meta.atime_nsec(),
        meta.mtime(),
        meta.mtime_nsec(),
    )
}

fn run(program: &[&str], tz: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(program[0])
        .args(&program[1..])
        .args(args)
        .env("TZ", tz)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Runs GNU touch and ours on `t` (already present, with old times) in two directories.
fn compare(tz: &str, args: &[&str]) {
    let gnu_dir = tempfile::tempdir().unwrap();
    let our_dir = tempfile::tempdir().unwrap();
    for dir in [gnu_dir.path(), our_dir.path()] {
        std::fs::write(dir.join("t"), b"x").unwrap();
        std::fs::write(dir.join("ref"), b"x").unwrap();
        let status = Command::new("touch")
            .args(["-d", "2001-02-03 04:05:06.789", "t"])
            .env("TZ", "UTC")
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(status.success());
        for args in [
            ["-m", "-d", "1998-06-07 08:09:10.25"],
            ["-a", "-d", "1999-12-31 23:59:59.5"],
        ] {
            let status = Command::new("touch")
                .args(args)
                .arg("ref")
                .env("TZ", "UTC")
                .current_dir(dir)
                .status()
                .unwrap();
            assert!(status.success());
        }
        std::os::unix::fs::symlink("ref", dir.join("link")).unwrap();
    }
    let target = if args.contains(&"-h") { "link" } else { "t" };
    let mut with_target = args.to_vec();
    with_target.push(target);
    let gnu = run(&["touch"], tz, &with_target, gnu_dir.path());
    let ours = run(
        &[env!("CARGO_BIN_EXE_rescue"), "touch"],
        tz,
        &with_target,
        our_dir.path(),
    );
    let case = format!("TZ={tz} {with_target:?}");
    assert_eq!(
        ours.status.code(),
        gnu.status.code(),
        "{case}: {}",
        common::stderr(&ours)
    );
    // The symlink itself was made "now" in each directory: only what touch set is compared.
    for name in [target, "ref"] {
        assert_eq!(
            times(&our_dir.path().join(name)),
            times(&gnu_dir.path().join(name)),
            "{case} {name}"
        );
    }
}

#[test]
fn dates_match_gnu_in_utc() {
    for date in [
        "2024-02-29",
        "2024-02-29 12:30",
        "2024-02-29 12:30:15",
        "2024-02-29 12:30:15.123456789",
        "2024-02-29T12:30:15Z",
        "2024-02-29T12:30:15.5 UTC",
        "2024-02-29 12:30 +05:30",
        "2024-02-29 12:30 -0800",
        "@0",
        "@1700000000.25",
        "@-86401",
        "1969-07-20 20:17:40",
        "not a date",
    ] {
        compare("UTC", &["-d", date]);
        compare("UTC", &["-m", "-d", date]);
        compare("UTC", &["-a", "-d", date]);
    }
}

/// GNU's relative items, weekdays, month names, zone names; from now they differ by the
/// nanoseconds between the two runs, so they are moved from a date or from `-r`'s times.
#[test]
fn relative_dates_match_gnu() {
    for date in [
        "2004-01-16 12:00 +0000 -5 days",
        "2020-01-31 +1 month",
        "2020-01-01 3 hours ago",
        "2020-01-01 +2 weeks -1 minute",
        "2020-01-01 1 fortnight ago",
        "2020-03-01 yesterday",
        "2020-03-01 tomorrow 10:00pm",
        "jan 16 2004 12:00",
        "16 January 2004",
        "12/25/20 10:00 am",
        "20200101",
        "2020-06-01 12:00 EDT",
        "sunday 2020-01-01",
        "2020-01-01 12:00:00.5",
        "2020-02-30",
    ] {
        compare("UTC", &["-d", date]);
    }
    for date in [
        "-5 days",
        "+01 month",
        "1 hour ago",
        "last year",
        "yesterday",
    ] {
        compare("UTC", &["-r", "ref", "-d", date]);
        compare("Europe/Paris", &["-m", "-r", "ref", "-d", date]);
    }
}

/// `-t`'s leap second is the next minute; the obsolete `MMDDhhmm[YY]` first operand under
/// `_POSIX2_VERSION=199209`.
#[test]
fn leap_seconds_and_obsolete_stamps() {
    compare("UTC", &["-t", "197001010000.60"]);
    let dir = tempfile::tempdir().unwrap();
    let touch = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rescue"))
            .arg("touch")
            .args(args)
            .env("_POSIX2_VERSION", "199209")
            .env("POSIXLY_CORRECT", "1")
            .env("TZ", "UTC")
            .current_dir(dir.path())
            .status()
            .unwrap()
    };
    assert!(touch(&["01010000", "11111111"]).success());
    assert!(dir.path().join("11111111").exists());
    assert!(!dir.path().join("01010000").exists());
    // A two-digit year before 69 is no time: both operands are files.
    assert!(touch(&["0101000000", "file"]).success());
    assert!(dir.path().join("0101000000").exists());
    assert!(touch(&["0101000070", "other"]).success());
    assert!(!dir.path().join("0101000070").exists());
    assert_eq!(times(&dir.path().join("other")).2, 0);
}

#[test]
fn local_times_follow_the_zone_file() {
    if !Path::new("/usr/share/zoneinfo/Europe/Paris").exists() {
        common::skip("no /usr/share/zoneinfo (Debian package tzdata)");
        return;
    }
    for tz in ["Europe/Paris", "America/New_York"] {
        for date in [
            "2024-07-01 12:00",
            "2024-01-15 08:30:00",
            "1995-03-26 12:00",
        ] {
            compare(tz, &["-d", date]);
        }
        compare(tz, &["-t", "202407011200.30"]);
    }
}

#[test]
fn stamps_and_references_match_gnu() {
    for stamp in [
        "202402291230.15",
        "2402291230",
        "6901010000",
        "199912312359.59",
        "2402301230",
    ] {
        compare("UTC", &["-t", stamp]);
    }
    compare("UTC", &["-r", "ref"]);
    compare("UTC", &["-m", "-r", "ref"]);
    compare("UTC", &["-a", "-r", "ref"]);
    compare("UTC", &["--time=mtime", "-r", "ref"]);
    compare("UTC", &["-h", "-d", "2011-01-01 00:00"]);
    compare("UTC", &["-h", "-r", "t"]);
}

#[test]
fn creates_with_umask_and_honours_no_create() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 027; exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_rescue"))
        .args(["touch", "new", "-c", "absent"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    // clap takes -c anywhere, as GNU's getopt does.
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert!(!dir.path().join("new").exists());
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 027; exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_rescue"))
        .args(["touch", "new"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let meta = std::fs::metadata(dir.path().join("new")).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o640);
    assert_eq!(meta.len(), 0);
    let out = common::run_in(dir.path(), &["touch", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        common::stderr(&out),
        "rescue touch: cannot touch 'no/such/dir': No such file or directory\n"
    );
}

/// `touch -d now` on a file the user may write but does not own: the kernel allows setting
/// both times to "now" (UTIME_NOW) there, and GNU asks for exactly that; an explicit time
/// would be refused with EPERM.
#[test]
fn touch_now_works_on_a_writable_file_owned_by_another() {
    if !common::root_or_skip("touch as another user needs root") || !common::have_or_skip("setpriv")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let file = dir.path().join("root-owned");
    std::fs::write(&file, b"").unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let as_nobody = |date: &str| {
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_rescue"))
            .args(["touch", "-d", date])
            .arg(&file)
            .output()
            .unwrap()
    };
    let now = as_nobody("now");
    assert!(now.status.success(), "{}", common::stderr(&now));
    let explicit = as_nobody("2001-01-01");
    assert_eq!(explicit.status.code(), Some(1), "{explicit:?}");
    assert!(common::stderr(&explicit).contains("Operation not permitted"));
}
