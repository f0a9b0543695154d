//! `rescue free` and `rescue uptime` against procps' on this machine: the same layout, the
//! same numbers where they do not move between the two runs, close ones where they do.

mod common;

use std::process::Command;

fn procps(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    common::stdout(&out)
}

fn ours(applet: &str, args: &[&str]) -> String {
    let mut all = vec![applet];
    all.extend(args);
    let out = common::rescue()
        .args(&all)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    common::assert_exit(&out, 0, &format!("{all:?}"));
    common::stdout(&out)
}

fn numbers(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect()
}

#[test]
fn free_bytes_match_procps() {
    if !common::have_or_skip("free") {
        return;
    }
    let (theirs, ours) = (procps("free", &["-b"]), ours("free", &["-b"]));
    let (theirs, ours): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    assert_eq!(ours.len(), 3);
    assert_eq!(ours[0], theirs[0], "header");
    let (mem, their_mem) = (numbers(ours[1]), numbers(theirs[1]));
    assert_eq!(mem.len(), 6);
    assert_eq!(mem[0], their_mem[0], "total");
    // Free, used and cache move between two runs on a busy host; shared barely does.
    let tolerance = mem[0] / 50;
    for (i, what) in [
        (1, "used"),
        (2, "free"),
        (3, "shared"),
        (4, "buff/cache"),
        (5, "available"),
    ] {
        assert!(
            mem[i].abs_diff(their_mem[i]) <= tolerance,
            "{what}: ours {} procps {}",
            mem[i],
            their_mem[i]
        );
    }
    assert_eq!(
        mem[1],
        mem[0] - mem[5],
        "used is total - available (procps 4)"
    );
    assert_eq!(numbers(ours[2]).len(), 3, "swap line");
}

#[test]
fn free_layouts_match_procps() {
    if !common::have_or_skip("free") {
        return;
    }
    for args in [
        &[][..],
        &["-w"],
        &["-h", "-t"],
        &["-m"],
        &["-g"],
        &["--si", "-h"],
        &["-k", "-w", "-t"],
    ] {
        let (theirs, ours) = (procps("free", args), ours("free", args));
        let label = |line: &str| line.split_whitespace().next().map(str::to_string);
        let theirs_labels: Vec<_> = theirs.lines().skip(1).map(label).collect();
        let ours_labels: Vec<_> = ours.lines().skip(1).map(label).collect();
        assert_eq!(
            ours.lines().next(),
            theirs.lines().next(),
            "free {args:?} header"
        );
        assert_eq!(ours_labels, theirs_labels, "free {args:?} rows");
        for (a, b) in ours.lines().zip(theirs.lines()) {
            assert_eq!(
                a.split_whitespace().count(),
                b.split_whitespace().count(),
                "{a} / {b}"
            );
            assert_eq!(a.len(), b.len(), "column widths: {a:?} / {b:?}");
        }
    }
}

/// Runs `f` up to three times until it returns true: a second or a load average may tick
/// between our run and procps'.
fn settles(mut f: impl FnMut() -> bool) -> bool {
    (0..3).any(|_| f())
}

#[test]
fn uptime_matches_procps() {
    if !common::have_or_skip("uptime") {
        return;
    }
    let mut last = (String::new(), String::new());
    assert!(
        settles(|| {
            last = (ours("uptime", &[]), procps("uptime", &[]));
            last.0 == last.1
        }),
        "ours {:?} procps {:?}",
        last.0,
        last.1
    );
    for args in [&["-p"][..], &["-s"]] {
        assert!(
            settles(|| {
                last = (ours("uptime", args), procps("uptime", args));
                last.0 == last.1
            }),
            "uptime {args:?}: ours {:?} procps {:?}",
            last.0,
            last.1
        );
    }
}

#[test]
fn uptime_pressure_lines_when_the_kernel_has_them() {
    let text = ours("uptime", &["-P"]);
    let mut lines = text.lines();
    assert!(lines.next().unwrap().contains("load average: "));
    if std::path::Path::new("/proc/pressure/cpu").exists() {
        let rest: Vec<&str> = lines.collect();
        assert!(
            rest.iter()
                .any(|line| line.starts_with("pressure cpu some avg10=")),
            "{rest:?}"
        );
        assert!(
            rest.iter().any(|line| line.starts_with("pressure io ")),
            "{rest:?}"
        );
    }
    assert_eq!(
        ours("uptime", &[]).lines().count(),
        1,
        "no pressure without -P"
    );
}
