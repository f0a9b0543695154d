//! usage: rescue chroot [--userspec=USER:GROUP] [--groups=G_LIST] [--skip-chdir] NEWROOT
//!                      [COMMAND [ARG]...]
//!
//!   --userspec=USER:GROUP  run as USER and GROUP (names or numbers)
//!   --groups=G_LIST        supplementary groups, `g1,g2,...`
//!   --skip-chdir           do not change to `/` (only when NEWROOT is the current `/`)
//!
//! GNU coreutils 9.1 `chroot`: run COMMAND with NEWROOT as its root directory, by default
//! `$SHELL -i` (or `/bin/sh -i`). Users and groups are read from NEWROOT's own /etc/passwd and
//! /etc/group (never through NSS, which needs the host's libraries): `--userspec=USER`
//! without a group takes USER's login group, and without `--groups` USER's groups in
//! NEWROOT's /etc/group. Exit status: 125 when chroot itself fails (bad usage, unknown user,
//! NEWROOT unusable), 126 when COMMAND cannot be run, 127 when it is not found, else
//! COMMAND's own.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

use clap::Parser;

use super::{quote, strerror, Exit};
use crate::sys::accounts::Accounts;
use crate::sys::root::Root;

#[derive(Parser)]
#[command(
    about = "Run a command with a different root directory",
    args_override_self = true
)]
pub(super) struct Args {
    /// specify user and group (ID or name) to use
    #[arg(long = "userspec", value_name = "USER:GROUP")]
    userspec: Option<String>,
    /// specify supplementary groups as g1,g2,..,gN
    #[arg(long = "groups", value_name = "G_LIST")]
    groups: Option<String>,
    /// do not change working directory to '/'
    #[arg(long = "skip-chdir")]
    skip_chdir: bool,
    #[arg(value_name = "NEWROOT")]
    newroot: Option<OsString>,
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<OsString>,
}

/// Who to become: each part only when asked.
#[derive(Default)]
struct Identity {
    uid: Option<u32>,
    gid: Option<u32>,
    groups: Option<Vec<u32>>,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let args: Args = super::parse(name, args)?;
    let Some(newroot) = args.newroot.as_deref().map(Path::new) else {
        return Err(Exit::usage("missing operand"));
    };
    let is_old_root = same_file(newroot, Path::new("/"));
    if args.skip_chdir && !is_old_root {
        return Err(Exit::usage(
            "option --skip-chdir only permitted if NEWROOT is old '/'",
        ));
    }
    let identity = identity(&args, newroot)?;
    if !is_old_root {
        let chrooted = crate::sys::c_path(newroot)
            .and_then(|path| crate::sys::check(unsafe { libc::chroot(path.as_ptr()) }));
        if let Err(err) = chrooted {
            return Err(Exit::failed(
                125,
                format!(
                    "cannot change root directory to {}: {}",
                    quote(newroot),
                    strerror(&err)
                ),
            ));
        }
    }
    if !args.skip_chdir {
        if let Err(err) = std::env::set_current_dir("/") {
            return Err(Exit::failed(
                125,
                format!("cannot chdir to root directory: {}", strerror(&err)),
            ));
        }
    }
    become_identity(&identity)?;
    let (program, rest) = match args.command.split_first() {
        Some((program, rest)) => (program.clone(), rest.to_vec()),
        None => (
            std::env::var_os("SHELL").unwrap_or_else(|| OsString::from("/bin/sh")),
            vec![OsString::from("-i")],
        ),
    };
    let err = std::process::Command::new(&program).args(&rest).exec();
    let status = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    Err(Exit::failed(
        status,
        format!(
            "failed to run command {}: {}",
            quote(Path::new(&program)),
            strerror(&err)
        ),
    ))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// `--userspec` and `--groups` resolved in NEWROOT's account files.
fn identity(args: &Args, newroot: &Path) -> Result<Identity, Exit> {
    let mut identity = Identity::default();
    if args.userspec.is_none() && args.groups.is_none() {
        return Ok(identity);
    }
    let root = Root::new(newroot);
    let accounts = Accounts::load(&root);
    let mut user_name = None;
    if let Some(spec) = &args.userspec {
        let (user, group) = match spec.split_once(':') {
            Some((user, group)) => (user, Some(group)),
            None => (spec.as_str(), None),
        };
        if !user.is_empty() {
            let uid = number(user)
                .or_else(|| accounts.uid(user))
                .ok_or_else(|| Exit::failed(125, "invalid user"))?;
            identity.uid = Some(uid);
            let name = accounts.user_name(uid).map(str::to_string);
            identity.gid = name.as_deref().and_then(|name| login_gid(&root, name));
            user_name = name;
        }
        if let Some(group) = group.filter(|group| !group.is_empty()) {
            let gid = number(group)
                .or_else(|| accounts.gid(group))
                .ok_or_else(|| Exit::failed(125, "invalid group"))?;
            identity.gid = Some(gid);
        } else if group.is_some() && user.is_empty() {
            return Err(Exit::failed(125, "invalid group"));
        }
    }
    if let Some(list) = &args.groups {
        let mut gids = Vec::new();
        for group in list.split(',').filter(|group| !group.is_empty()) {
            let gid = number(group)
                .or_else(|| accounts.gid(group))
                .ok_or_else(|| {
                    Exit::failed(125, format!("invalid group {}", quote(Path::new(group))))
                })?;
            gids.push(gid);
        }
        identity.groups = Some(gids);
    } else if let (Some(name), Some(gid)) = (&user_name, identity.gid) {
        identity.groups = Some(member_of(&root, name, gid));
    } else if let Some(gid) = identity.gid.filter(|_| identity.uid.is_some()) {
        identity.groups = Some(vec![gid]);
    }
    Ok(identity)
}

/// A decimal id, as GNU takes `+N` or `N`.
fn number(text: &str) -> Option<u32> {
    text.strip_prefix('+').unwrap_or(text).parse().ok()
}

fn become_identity(identity: &Identity) -> Result<(), Exit> {
    if let Some(groups) = &identity.groups {
        let groups: Vec<nix::unistd::Gid> = groups
            .iter()
            .map(|&g| nix::unistd::Gid::from_raw(g))
            .collect();
        nix::unistd::setgroups(&groups).map_err(|err| {
            Exit::failed(
                125,
                format!("failed to set supplemental groups: {}", err.desc()),
            )
        })?;
    }
    if let Some(gid) = identity.gid {
        nix::unistd::setgid(nix::unistd::Gid::from_raw(gid))
            .map_err(|err| Exit::failed(125, format!("failed to set group-ID: {}", err.desc())))?;
    }
    if let Some(uid) = identity.uid {
        nix::unistd::setuid(nix::unistd::Uid::from_raw(uid))
            .map_err(|err| Exit::failed(125, format!("failed to set user-ID: {}", err.desc())))?;
    }
    Ok(())
}

/// A regular file of NEWROOT, read inside it; empty when absent or unreadable.
fn read_inside(root: &Root, path: &str) -> String {
    let mut text = String::new();
    if let Ok(mut file) = root.open_regular(Path::new(path)) {
        let _ = file.read_to_string(&mut text);
    }
    text
}

/// The login group of `user` in NEWROOT's /etc/passwd (the fourth field).
fn login_gid(root: &Root, user: &str) -> Option<u32> {
    read_inside(root, "/etc/passwd").lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 3 && fields[0] == user)
            .then(|| fields[3].parse().ok())
            .flatten()
    })
}

/// `gid` and every group of NEWROOT's /etc/group that lists `user` as a member.
fn member_of(root: &Root, user: &str, gid: u32) -> Vec<u32> {
    let mut gids = vec![gid];
    for line in read_inside(root, "/etc/group").lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 4 || !fields[3].split(',').any(|member| member == user) {
            continue;
        }
        if let Ok(id) = fields[2].parse::<u32>() {
            if !gids.contains(&id) {
                gids.push(id);
            }
        }
    }
    gids
}
