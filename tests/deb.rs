//! The package from `cargo xtask deb`: `dpkg -i` on a clean Debian root, its man pages read by
//! man-db, its completions by bash (and fish and zsh where installed).
//!
//! `cargo xtask ci` builds the .deb before the tests; by hand, without it, these tests skip
//! (and fail in CI, like every skip there).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::bookworm::BookwormRoot;

/// target/dist/rescue_VERSION_ARCH.deb for this crate's version and this machine's
/// architecture, or None (skipped) when it has not been built.
fn dist_deb() -> Option<PathBuf> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let name = format!("rescue_{}_{arch}.deb", env!("CARGO_PKG_VERSION"));
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/dist")
        .join(&name);
    if path.is_file() {
        return Some(path);
    }
    common::skip(&format!("no target/dist/{name} (run cargo xtask deb)"));
    None
}

/// The package's files, unpacked into a temporary directory by dpkg-deb (no root needed).
fn unpacked() -> Option<(tempfile::TempDir, PathBuf)> {
    let deb = dist_deb()?;
    if !common::have_or_skip("dpkg-deb") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(dir.path()));
    let root = dir.path().to_path_buf();
    Some((dir, root))
}

#[track_caller]
fn ok(command: &mut Command) -> String {
    let output: Output = command
        .output()
        .unwrap_or_else(|err| panic!("{command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?}: {}",
        common::show(&output)
    );
    common::stdout(&output)
}

/// The applets, from the binary these tests were built with.
fn applets() -> Vec<String> {
    let list = common::run(&["--list"]);
    assert!(list.status.success());
    common::stdout(&list).lines().map(String::from).collect()
}

/// `--NAME` of every long option of `applet`'s clap definition, plus the `--version` that
/// every applet answers.
fn long_options(applet: &str) -> Vec<String> {
    let applet = rescue::applets::find(applet).expect("an applet");
    let mut options: Vec<String> = (applet.command)()
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .filter_map(|arg| arg.get_long())
        .map(|long| format!("--{long}"))
        .collect();
    options.push("--version".into());
    options
}

/// `chroot ROOT ARGS` with a plain environment, as a person's root shell would have.
fn in_chroot(root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("/usr/sbin/chroot");
    command
        .arg(root)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C")
        .env("MANWIDTH", "200")
        .env("MANPAGER", "cat");
    command
}

#[test]
fn dpkg_installs_it_on_a_clean_root() {
    if !common::root_or_skip("dpkg -i into a chroot needs root") {
        return;
    }
    let Some(deb) = dist_deb() else {
        return;
    };
    let Some(root) = BookwormRoot::extract() else {
        return;
    };
    let name = deb.file_name().unwrap().to_str().unwrap();
    std::fs::copy(&deb, root.path("tmp").join(name)).unwrap();
    let said = ok(&mut in_chroot(
        &root.root,
        &["dpkg", "-i", &format!("/tmp/{name}")],
    ));
    // The postinst's hint, on configure.
    assert!(said.contains("rescue seed "), "{said}");
    assert!(said.contains("rescue seed --hook"), "{said}");

    let listed = ok(&mut in_chroot(&root.root, &["dpkg", "-L", "rescue"]));
    for path in [
        "/usr/bin/rescue",
        "/usr/share/man/man1/rescue.1.gz",
        "/usr/share/man/man1/rescue-verify.1.gz",
        "/usr/share/bash-completion/completions/rescue",
        "/usr/share/zsh/vendor-completions/_rescue",
        "/usr/share/fish/vendor_completions.d/rescue.fish",
        "/usr/share/doc/rescue/RESCUE.md",
        "/usr/share/doc/rescue/README.md",
        "/usr/share/doc/rescue/copyright",
    ] {
        assert!(listed.lines().any(|line| line == path), "{path}:\n{listed}");
    }
    for applet in applets() {
        assert!(
            listed
                .lines()
                .any(|line| line == format!("/usr/share/man/man1/rescue-{applet}.1.gz")),
            "no page for {applet}"
        );
    }

    let help = ok(&mut in_chroot(&root.root, &["rescue", "--help"]));
    for applet in applets() {
        assert!(
            help.lines()
                .any(|line| line.split_whitespace().next() == Some(applet.as_str())),
            "rescue --help does not list {applet}:\n{help}"
        );
    }
    let verify = in_chroot(&root.root, &["dpkg", "--verify", "rescue"])
        .output()
        .unwrap();
    assert!(
        verify.status.success() && verify.stdout.is_empty(),
        "{}",
        common::show(&verify)
    );

    // The root's own man-db finds the page by name.
    let page = ok(&mut in_chroot(&root.root, &["man", "rescue-verify"]));
    assert!(page.contains("rescue-verify - check"), "{page}");
    for option in long_options("verify") {
        assert!(page.contains(&option), "no {option} in:\n{page}");
    }

    // Removed, it leaves nothing behind.
    ok(&mut in_chroot(&root.root, &["dpkg", "--purge", "rescue"]));
    assert!(!root.path("usr/bin/rescue").exists());
    assert!(!root.path("usr/share/doc/rescue").exists());
}

#[test]
fn every_man_page_renders_with_its_options() {
    let Some((_dir, unpacked)) = unpacked() else {
        return;
    };
    if !common::have_or_skip("man") {
        return;
    }
    let man = |name: &str| {
        ok(Command::new("man")
            .arg(name)
            .env("MANPATH", unpacked.join("usr/share/man"))
            .env("LANG", "C")
            .env("LC_ALL", "C")
            .env("MANWIDTH", "200")
            .env("MANPAGER", "cat"))
    };
    let top = man("rescue");
    assert!(top.contains("NAME") && top.contains("SYNOPSIS"), "{top}");
    for applet in applets() {
        assert!(
            top.contains(&format!("rescue-{applet}(1)")),
            "rescue(1) does not name {applet}:\n{top}"
        );
        let page = man(&format!("rescue-{applet}"));
        let summary = rescue::applets::find(&applet).unwrap().summary;
        assert!(
            page.contains(&format!("rescue-{applet} - {summary}")),
            "{applet}: NAME:\n{page}"
        );
        assert!(page.contains("SYNOPSIS") && page.contains("DESCRIPTION"));
        for option in long_options(&applet) {
            assert!(page.contains(&option), "{applet}: no {option} in:\n{page}");
        }
    }
}

/// What bash completes for the words typed, the cursor on the last one.
fn bash_completes(script: &Path, words: &[&str]) -> Vec<String> {
    let words: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source \"$1\" || exit 3; complete -p rescue >/dev/null || exit 4; \
         COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); \
         COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
         _rescue rescue \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = words.join(" ")
    );
    ok(Command::new("bash")
        .args(["-c", &program, "bash"])
        .arg(script))
    .lines()
    .map(String::from)
    .collect()
}

#[test]
fn completions_complete_applets_and_their_options() {
    let Some((_dir, unpacked)) = unpacked() else {
        return;
    };
    let bash = unpacked.join("usr/share/bash-completion/completions/rescue");
    let registered = ok(Command::new("bash")
        .arg("-c")
        .arg("source \"$1\" && complete -p rescue")
        .arg("bash")
        .arg(&bash));
    assert!(registered.contains("-F _rescue"), "{registered}");
    assert_eq!(bash_completes(&bash, &["rescue", "ver"]), ["verify"]);
    let every = bash_completes(&bash, &["rescue", ""]);
    for applet in applets() {
        assert!(every.contains(&applet), "{applet} not in {every:?}");
    }
    assert_eq!(
        bash_completes(&bash, &["rescue", "verify", "--for"]),
        ["--format"]
    );

    // The other shells only where they are installed: CI does not need them.
    if common::have("fish") {
        let fish = unpacked.join("usr/share/fish/vendor_completions.d/rescue.fish");
        let said = ok(Command::new("fish")
            .arg("-c")
            .arg("source $argv[1]; complete -C 'rescue ver'; complete -C 'rescue verify --for'")
            .arg(&fish));
        let completed: Vec<&str> = said.lines().filter_map(|l| l.split('\t').next()).collect();
        assert_eq!(completed, ["verify", "--format"], "{said}");
    }
    if common::have("zsh") {
        let zsh = unpacked.join("usr/share/zsh/vendor-completions/_rescue");
        let said = ok(Command::new("zsh")
            .arg("-c")
            .arg("autoload -Uz compinit && compinit -u -D && source $1 && print $+functions[_rescue]")
            .arg("zsh")
            .arg(&zsh));
        assert_eq!(said.trim(), "1");
    }
}
