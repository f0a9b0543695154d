//! `rescue ldd`: the loader's search done by hand, compared with pax-utils `lddtree` (which
//! also reads files without running them) on this machine's programs and on programs built
//! here with `$ORIGIN` search paths; a debootstrap root with its loader and libc deleted; a
//! library of the wrong machine put first in the path; files that are not dynamic programs.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::bookworm::BookwormRoot;

/// `lddtree ARGS` run by the system's python (the one its python3-pyelftools is for), or None
/// (saying why) when it cannot run here.
fn lddtree(args: &[&Path]) -> Option<String> {
    if !Path::new("/usr/bin/lddtree").is_file() || !Path::new("/usr/bin/python3").is_file() {
        common::skip("no pax-utils lddtree");
        return None;
    }
    let output = Command::new("/usr/bin/python3")
        .arg("/usr/bin/lddtree")
        .args(args)
        .output()
        .expect("run lddtree");
    if !output.status.success() {
        common::skip(&format!("lddtree fails here: {}", common::stderr(&output)));
        return None;
    }
    Some(common::stdout(&output))
}

fn ldd(args: &[&Path]) -> Output {
    common::rescue()
        .arg("ldd")
        .args(args)
        .output()
        .expect("run rescue ldd")
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

/// `rescue ldd -l FILE` against `lddtree -l FILE`: the file and interpreter lines, and the
/// library set. Returns our list.
fn assert_list_matches_lddtree(file: &Path) -> Vec<String> {
    let ours = ldd(&[Path::new("-l"), file]);
    common::assert_exit(&ours, 0, &format!("ldd -l {}", file.display()));
    let ours = lines(&common::stdout(&ours));
    let Some(theirs) = lddtree(&[Path::new("-l"), file]) else {
        return ours;
    };
    let theirs = lines(&theirs);
    assert_eq!(
        ours[..2],
        theirs[..2],
        "file and interpreter of {}",
        file.display()
    );
    let set = |l: &[String]| l.iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(set(&ours), set(&theirs), "libraries of {}", file.display());
    assert_eq!(ours, theirs, "order of {}", file.display());
    ours
}

#[test]
fn this_machines_ssh_and_bash_resolve_as_lddtree_resolves_them() {
    for program in ["/usr/bin/ssh", "/bin/bash"] {
        let program = Path::new(program);
        if !program.is_file() {
            common::skip(&format!("no {}", program.display()));
            continue;
        }
        let list = assert_list_matches_lddtree(program);
        assert!(list.iter().any(|l| l.ends_with("/libc.so.6")), "{list:?}");
        let tree = ldd(&[program]);
        if let Some(theirs) = lddtree(&[program]) {
            assert_eq!(
                common::stdout(&tree),
                theirs,
                "tree of {}",
                program.display()
            );
        }
        // glibc's ldd runs the program's loader: only on this machine's own binaries.
        if common::have("ldd") {
            let glibc = Command::new("ldd").arg(program).output().expect("run ldd");
            let names: BTreeSet<String> = common::stdout(&glibc)
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .filter(|n| !n.starts_with("linux-vdso") && !n.starts_with('/'))
                .map(str::to_string)
                .collect();
            let ours: BTreeSet<String> = common::stdout(&tree)
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next())
                .map(str::to_string)
                .collect();
            assert_eq!(ours, names, "glibc ldd's names for {}", program.display());
        }
    }
}

#[test]
fn a_sample_of_this_machines_programs_and_libraries_list_as_lddtree_lists_them() {
    let mut files = Vec::new();
    for dir in ["/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu"] {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        let elves = names.into_iter().filter(|p| {
            fs::symlink_metadata(p).is_ok_and(|m| m.is_file())
                && fs::read(p).is_ok_and(|b| b.starts_with(b"\x7fELF"))
        });
        // Every seventh, so the sample spreads over the alphabet.
        files.extend(elves.step_by(7).take(12));
    }
    let mut compared = 0;
    for file in &files {
        let ours = ldd(&[Path::new("-l"), file]);
        let ours = common::stdout(&ours);
        if ours.ends_with(": statically linked\n") {
            continue;
        }
        let Some(theirs) = lddtree(&[Path::new("-l"), file]) else {
            return;
        };
        assert_eq!(ours, theirs, "ldd -l {}", file.display());
        compared += 1;
    }
    assert!(compared >= 10, "compared {compared} of {files:?}");
}

/// A directory with `lib/libtiny.so.1` and `bin/prog` linked against it with `rpath` as its
/// search path (`--enable-new-dtags`: DT_RUNPATH; else DT_RPATH). None when no cc.
fn build_with_origin(dir: &Path, rpath: &str, runpath: bool) -> Option<PathBuf> {
    if !common::have_or_skip("cc") {
        return None;
    }
    fs::create_dir_all(dir.join("lib")).unwrap();
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::write(dir.join("tiny.c"), "int tiny(void) { return 42; }\n").unwrap();
    fs::write(
        dir.join("prog.c"),
        "int tiny(void);\nint main(void) { return tiny() == 42 ? 0 : 1; }\n",
    )
    .unwrap();
    let cc = |args: &[&str]| {
        let output = Command::new("cc")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("run cc");
        assert!(
            output.status.success(),
            "cc {args:?}: {}",
            common::stderr(&output)
        );
    };
    cc(&[
        "-shared",
        "-fPIC",
        "-Wl,-soname,libtiny.so.1",
        "-o",
        "lib/libtiny.so.1",
        "tiny.c",
    ]);
    let dtags = if runpath {
        "-Wl,--enable-new-dtags"
    } else {
        "-Wl,--disable-new-dtags"
    };
    let rpath_flag = format!("-Wl,-rpath,{rpath}");
    cc(&[
        "-o",
        "bin/prog",
        "prog.c",
        "lib/libtiny.so.1",
        &rpath_flag,
        dtags,
    ]);
    let status = Command::new(dir.join("bin/prog"))
        .status()
        .expect("run prog");
    assert!(status.success(), "the built program runs");
    Some(dir.join("bin/prog"))
}

#[test]
fn origin_runpath_and_rpath_resolve_as_lddtree_and_the_loader_resolve_them() {
    for runpath in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let Some(prog) = build_with_origin(dir.path(), "$ORIGIN/../lib", runpath) else {
            return;
        };
        let list = assert_list_matches_lddtree(&prog);
        let want = dir.path().join("lib/libtiny.so.1");
        assert!(list.contains(&want.display().to_string()), "{list:?}");
        // The program is ours: glibc's ldd may run it.
        if common::have("ldd") {
            let glibc = common::stdout(&Command::new("ldd").arg(&prog).output().unwrap());
            let line = glibc.lines().find(|l| l.contains("libtiny.so.1")).unwrap();
            let path = line
                .split(" => ")
                .nth(1)
                .unwrap()
                .split(" (")
                .next()
                .unwrap();
            assert_eq!(
                fs::canonicalize(path).unwrap(),
                fs::canonicalize(&want).unwrap()
            );
        }
    }
}

/// A copy of `lib` with its ELF identification changed: `machine` in e_machine, or class 32.
fn craft_wrong(lib: &Path, to: &Path, machine: Option<u16>) {
    let mut bytes = fs::read(lib).unwrap();
    match machine {
        Some(machine) => bytes[18..20].copy_from_slice(&machine.to_le_bytes()),
        None => bytes[4] = 1,
    }
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::write(to, bytes).unwrap();
}

#[test]
fn a_library_of_another_machine_or_class_earlier_in_the_path_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = "$ORIGIN/../arm64:$ORIGIN/../i386:$ORIGIN/../lib";
    let Some(prog) = build_with_origin(dir.path(), path, true) else {
        return;
    };
    let real = dir.path().join("lib/libtiny.so.1");
    craft_wrong(&real, &dir.path().join("arm64/libtiny.so.1"), Some(183));
    craft_wrong(&real, &dir.path().join("i386/libtiny.so.1"), None);
    let list = assert_list_matches_lddtree(&prog);
    assert!(list.contains(&real.display().to_string()), "{list:?}");
    // Without the right one, both wrong ones are named with why they were passed over.
    fs::remove_file(&real).unwrap();
    let output = ldd(&[&prog]);
    common::assert_exit(&output, 1, "ldd with only wrong libraries");
    let said = common::stdout(&output);
    assert!(said.contains("    libtiny.so.1 => not found\n"), "{said}");
    assert!(said.contains("libtiny.so.1 is not found"), "{said}");
    assert!(
        said.contains("arm64/libtiny.so.1: aarch64, not x86-64"),
        "{said}"
    );
    assert!(said.contains("i386/libtiny.so.1: "), "{said}");
    assert!(said.contains("no package owns it"), "{said}");
}

/// A minimal ELF64 x86-64 executable header with no program headers: nothing to load.
fn static_header() -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2;
    f[5] = 1;
    f[6] = 1;
    f[16] = 2;
    f[18] = 62;
    f[52] = 64;
    f[54] = 56;
    f
}

#[test]
fn scripts_static_truncated_and_text_files_get_their_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    fs::write(path("text"), "hello\n").unwrap();
    fs::write(path("script"), "#!/bin/sh\necho hi\n").unwrap();
    fs::write(path("orphan"), "#! /no/such/interpreter -x\n").unwrap();
    fs::write(path("static"), static_header()).unwrap();
    let bash = fs::read("/bin/bash").unwrap();
    fs::write(path("truncated"), &bash[..1000]).unwrap();
    fs::write(path("headers-only"), &bash[..40]).unwrap();

    let text = ldd(&[&path("text")]);
    common::assert_exit(&text, 2, "text file");
    assert!(
        common::stderr(&text).contains("text: not an ELF file"),
        "{}",
        common::show(&text)
    );

    let script = ldd(&[&path("script")]);
    common::assert_exit(&script, 0, "script");
    let said = common::stdout(&script);
    assert!(
        said.starts_with(&format!(
            "{}: a script for /bin/sh\n/bin/sh (interpreter => ",
            path("script").display()
        )),
        "{said}"
    );
    assert!(said.contains("libc.so.6 => "), "{said}");

    let orphan = ldd(&[&path("orphan")]);
    common::assert_exit(&orphan, 1, "script without interpreter");
    assert!(
        common::stdout(&orphan)
            .contains("the script's interpreter /no/such/interpreter is missing"),
        "{}",
        common::show(&orphan)
    );

    // `#!/usr/bin/env NAME`: env is checked, and NAME found in PATH is checked too.
    fs::write(path("env-sh"), "#!/usr/bin/env sh\n").unwrap();
    fs::write(
        path("env-none"),
        "#!/usr/bin/env -S no-such-command-here -x\n",
    )
    .unwrap();
    let env = ldd(&[&path("env-sh")]);
    common::assert_exit(&env, 0, "env sh");
    let said = common::stdout(&env);
    assert!(
        said.contains("a script for /usr/bin/env\n/usr/bin/env (interpreter => "),
        "{said}"
    );
    assert!(
        said.contains("\nsh => /usr/local/") || said.contains("\nsh => /usr/bin/sh\n"),
        "{said}"
    );
    let env = ldd(&[&path("env-none")]);
    common::assert_exit(&env, 1, "env without its command");
    assert!(
        common::stdout(&env).contains("the script's command no-such-command-here is not found"),
        "{}",
        common::show(&env)
    );

    let mut statics = vec![path("static")];
    statics.extend(common::dist_binary());
    for file in statics {
        let output = ldd(&[&file]);
        common::assert_exit(&output, 0, "static");
        assert_eq!(
            common::stdout(&output),
            format!("{}: statically linked\n", file.display())
        );
    }

    for name in ["truncated", "headers-only"] {
        let output = ldd(&[&path(name)]);
        common::assert_exit(&output, 2, name);
        assert!(
            common::stderr(&output).contains(&format!("{name}: truncated ELF file")),
            "{}",
            common::show(&output)
        );
    }
    // One unreadable file among good ones: the good ones are still shown, exit 2.
    let mixed = ldd(&[&path("text"), Path::new("/bin/bash")]);
    common::assert_exit(&mixed, 2, "mixed");
    assert!(common::stdout(&mixed).starts_with("/bin/bash (interpreter => "));
}

#[test]
fn a_root_without_its_loader_and_libc_names_both_and_libc6() {
    let Some(bookworm) = BookwormRoot::extract() else {
        return;
    };
    let root = &bookworm.root;
    let intact = common::rescue_in(root, "ldd", &["--all"]);
    common::assert_exit(&intact, 0, "--all on an intact root");
    let summary = common::stdout(&intact);
    let total: usize = summary
        .trim_end()
        .strip_prefix("0 of ")
        .and_then(|s| s.strip_suffix(" programs would not start"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(total > 200, "{summary}");

    for lib in ["libc.so.6", "ld-linux-x86-64.so.2"] {
        fs::remove_file(bookworm.path("usr/lib/x86_64-linux-gnu").join(lib)).unwrap();
    }
    let ssh = common::rescue_in(root, "ldd", &["/usr/bin/ssh"]);
    common::assert_exit(&ssh, 1, "ssh without libc");
    let said = common::stdout(&ssh);
    for want in [
        "    libc.so.6 => not found\n",
        "the loader /lib64/ld-linux-x86-64.so.2 is missing: package libc6",
        "libc.so.6 is not found (needed by /usr/bin/ssh): package libc6",
        &format!("rescue restore --root {} libc6", root.display()),
    ] {
        assert!(said.contains(want), "{want:?} in\n{said}");
    }
    let loader_line = said.find("the loader").unwrap();
    assert!(
        loader_line < said.find("libc.so.6 is not found").unwrap(),
        "{said}"
    );

    let all = common::rescue_in(root, "ldd", &["--all"]);
    common::assert_exit(&all, 1, "--all without libc");
    let said = common::stdout(&all);
    let last = said
        .lines()
        .rev()
        .find(|l| l.contains(" programs would not start"))
        .unwrap();
    let (broken, rest) = last.split_once(" of ").unwrap();
    let broken: usize = broken.parse().unwrap();
    assert!(rest.starts_with(&format!("{total} ")), "{last}");
    assert!(broken + 10 >= total && broken < total + 1, "{last}");
    assert!(said.contains("/usr/bin/bash\n"), "{said}");
    assert!(said.contains(&format!("rescue restore --root {} libc6", root.display())));
}
