//! `rescue cp` never destroys what it copies or writes where it was not asked to: each test
//! here is a data-loss bug that GNU `cp` does not have and an earlier `rescue cp` had.

mod common;

use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

use common::{rescue, root_or_skip, show, Tmpfs};

fn cp_in(dir: &Path, args: &[&str]) -> Output {
    common::output_without_terminal(rescue().arg("cp").args(args).current_dir(dir))
}

/// `rescue cp ARGS` in `dir` as the user nobody (65534), with umask 022.
fn cp_as_nobody(dir: &Path, args: &[&str]) -> Output {
    let mut command = rescue();
    command.arg("cp").args(args).current_dir(dir);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0o022);
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    common::output_without_terminal(&mut command)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// A directory the user nobody may write into.
fn open_tempdir() -> tempfile::TempDir {
    let tmp = tempdir();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o777)).expect("chmod");
    tmp
}

fn assert_same_file_refusal(dir: &Path, opt: &str, target: &str, link: &str) {
    let out = cp_in(dir, &[opt, link, target]);
    let what = format!("cp {opt} {link} {target}: {}", show(&out));
    assert_eq!(out.status.code(), Some(1), "{what}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("are the same file"),
        "{what}"
    );
    let meta = fs::symlink_metadata(dir.join(target)).expect("target still there");
    assert!(meta.is_file(), "{what}: target replaced");
    assert_eq!(
        fs::read(dir.join(target)).expect("read"),
        b"XYZ\n",
        "{what}"
    );
}

#[test]
fn a_symlink_copied_onto_its_own_target_is_refused() {
    let tmp = tempdir();
    let dir = tmp.path();
    fs::write(dir.join("foo"), "XYZ\n").expect("write");
    std::os::unix::fs::symlink("foo", dir.join("s")).expect("symlink");
    for opt in ["-a", "-d", "-P", "-R", "-df", "-dR"] {
        assert_same_file_refusal(dir, opt, "foo", "s");
    }
}

#[test]
fn a_symlink_copied_onto_its_target_on_another_file_system_is_refused() {
    if !root_or_skip("mounts a tmpfs") {
        return;
    }
    let tmp = tempdir();
    let Some(_mount) = Tmpfs::mount(&tmp.path().join("other"), "") else {
        return;
    };
    fs::write(tmp.path().join("other/foo"), "XYZ\n").expect("write");
    let target = tmp.path().join("other/foo");
    std::os::unix::fs::symlink(&target, tmp.path().join("s")).expect("symlink");
    for opt in ["-a", "-d", "-P"] {
        assert_same_file_refusal(tmp.path(), opt, "other/foo", "s");
    }
}

#[test]
fn two_sources_with_one_name_do_not_overwrite_each_other() {
    let tmp = tempdir();
    let dir = tmp.path();
    for d in ["a", "b", "c"] {
        fs::create_dir(dir.join(d)).expect("mkdir");
    }
    fs::write(dir.join("a/f"), "first\n").expect("write");
    fs::write(dir.join("b/f"), "second\n").expect("write");
    let out = cp_in(dir, &["a/f", "b/f", "c"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("will not overwrite just-created 'c/f' with 'b/f'"),
        "{}",
        show(&out)
    );
    assert_eq!(fs::read(dir.join("c/f")).expect("read"), b"first\n");
}

#[test]
fn a_symlink_just_made_is_never_written_through() {
    let tmp = tempdir();
    let dir = tmp.path();
    for d in ["a", "b", "c"] {
        fs::create_dir(dir.join(d)).expect("mkdir");
    }
    std::os::unix::fs::symlink("../t", dir.join("a/1")).expect("symlink");
    fs::write(dir.join("b/1"), "payload\n").expect("write");
    fs::write(dir.join("t"), "i\n").expect("write");
    let out = cp_in(dir, &["-dR", "a/1", "b/1", "c"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("will not copy 'b/1' through just-created symlink 'c/1'"),
        "{}",
        show(&out)
    );
    assert_eq!(
        fs::read(dir.join("t")).expect("read"),
        b"i\n",
        "t was written"
    );
}

#[test]
fn a_sparse_file_copied_to_a_fifo_arrives_whole() {
    let tmp = tempdir();
    let dir = tmp.path();
    let sparse = fs::File::create(dir.join("sparse")).expect("create");
    sparse.set_len(1 << 20).expect("truncate");
    drop(sparse);
    fs::OpenOptions::new()
        .append(true)
        .open(dir.join("sparse"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"end\n"))
        .expect("append");
    let fifo = CString::new(dir.join("fifo").as_os_str().as_bytes()).expect("path");
    // SAFETY: NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");
    let fifo_path = dir.join("fifo");
    let reader = std::thread::spawn(move || {
        let mut data = Vec::new();
        fs::File::open(fifo_path)
            .and_then(|mut f| f.read_to_end(&mut data))
            .expect("read fifo");
        data
    });
    let out = cp_in(dir, &["sparse", "fifo"]);
    let data = reader.join().expect("reader");
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(data.len(), (1 << 20) + 4, "{}", show(&out));
    assert!(data.ends_with(b"end\n"));
}

#[test]
fn no_preserve_mode_gives_new_files_the_default_mode() {
    let tmp = tempdir();
    let dir = tmp.path();
    fs::write(dir.join("src"), "x\n").expect("write");
    fs::set_permissions(dir.join("src"), fs::Permissions::from_mode(0o700)).expect("chmod");
    let out = Command::new("sh")
        .args(["-c", "umask 022; exec \"$0\" cp --no-preserve=mode src dst"])
        .arg(env!("CARGO_BIN_EXE_rescue"))
        .current_dir(dir)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", show(&out));
    let mode = fs::metadata(dir.join("dst")).expect("stat").mode() & 0o7777;
    assert_eq!(mode, 0o644, "mode {mode:o}");
}

#[test]
fn setuid_is_dropped_when_the_owner_cannot_be_kept() {
    if !root_or_skip("copies as nobody a file root owns") {
        return;
    }
    let tmp = open_tempdir();
    let dir = tmp.path();
    fs::write(dir.join("suid"), "x\n").expect("write");
    fs::set_permissions(dir.join("suid"), fs::Permissions::from_mode(0o6755)).expect("chmod");
    let out = cp_as_nobody(dir, &["-p", "suid", "copy"]);
    let meta = fs::metadata(dir.join("copy")).expect("copy made");
    assert_eq!(meta.uid(), 65534, "{}", show(&out));
    assert_eq!(
        meta.mode() & 0o7777,
        0o755,
        "mode {:o}",
        meta.mode() & 0o7777
    );
}

#[test]
fn xattrs_of_a_read_only_file_are_copied_by_a_user() {
    if !root_or_skip("copies as nobody") {
        return;
    }
    let tmp = open_tempdir();
    let dir = tmp.path();
    let src = dir.join("ro");
    fs::write(&src, "x\n").expect("write");
    let c = CString::new(src.as_os_str().as_bytes()).expect("path");
    // SAFETY: valid strings and one slice.
    let set = unsafe {
        libc::setxattr(
            c.as_ptr(),
            c"user.test".as_ptr(),
            b"v".as_ptr().cast(),
            1,
            0,
        )
    };
    if set != 0 {
        common::unsupported(
            common::Unsupported::UserXattrs,
            "user xattrs on the temporary directory",
        );
        return;
    }
    // Nobody must own it to be allowed to read and list it as its own.
    // SAFETY: valid path.
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
    fs::set_permissions(&src, fs::Permissions::from_mode(0o444)).expect("chmod");
    let out = cp_as_nobody(dir, &["--preserve=xattr,mode", "ro", "copy"]);
    assert!(out.status.success(), "{}", show(&out));
    let copy = CString::new(dir.join("copy").as_os_str().as_bytes()).expect("path");
    let mut value = [0u8; 8];
    // SAFETY: buffer and its length.
    let n = unsafe {
        libc::getxattr(
            copy.as_ptr(),
            c"user.test".as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    assert_eq!(n, 1, "xattr not copied");
    let mode = fs::metadata(dir.join("copy")).expect("stat").mode() & 0o7777;
    assert_eq!(mode, 0o444);
}
