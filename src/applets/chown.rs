//! usage: rescue chown [-R [-H|-L|-P]] [-h|--dereference] [-c|-v] [-f]
//!                     [--from=CUR_OWNER:CUR_GROUP]
//!                     [--preserve-root|--no-preserve-root] OWNER[:[GROUP]] FILE...
//!        rescue chown [OPTION]... --reference=RFILE FILE...
//!
//! Change file owner and group, as GNU chown. OWNER and GROUP are names or numbers; names are
//! read from /etc/passwd and /etc/group (then base-passwd's master files) directly, never
//! through NSS, so inside `chroot ROOT` they are ROOT's. `OWNER:` means OWNER's login group,
//! `:GROUP` changes the group only, `OWNER.GROUP` is accepted with GNU's warning. A name is
//! tried before a number; a leading `+` forces a number. Unknown names fail with
//! `invalid user: 'SPEC'` / `invalid group: 'SPEC'` and exit 1.
//!
//!   -h  change symlinks themselves (lchown); operands are otherwise followed
//!   --dereference  follow symlink operands (the default without -R; with -R it needs -H
//!       or -L)
//!   -R  recurse, never following symlinks (GNU's -P default): a symlink in the tree, and a
//!       symlink operand, is changed itself. A directory is changed after its contents. The walk goes by directory descriptor: a
//!       directory replaced by a symlink while it runs is reported, never entered.
//!   -H  with -R, follow symlink operands;  -L  with -R, follow every symlink met (a
//!       directory met again below itself is not entered twice);  -P  follow none (default)
//!   -c  report only changes;  -v  report every file;  -f  no error messages
//!   --from=CUR_OWNER:CUR_GROUP  change only files owned so
//!   --reference=RFILE           use RFILE's owner and group
//!   --preserve-root    with -R, refuse `/` and whatever resolves to it (`/.`, a symlink to
//!                      `/` followed by -H or -L) before changing it, as GNU
//!   --no-preserve-root do not treat `/` specially (the default); the last of the two wins
//!
//! The kernel clears setuid/setgid bits on a chown of an executable: that is expected.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::Exit;

use super::chmod::{change_tree, Change, Outcome};
use super::{complain, quote, strerror};
use crate::sys::accounts::Accounts;
use crate::sys::at::{self, ChangeError};
use crate::sys::login_group::login_gid;
use crate::sys::tree::Entry;

#[derive(Parser)]
#[command(about = "Change file owner and group", disable_help_flag = true)]
pub(super) struct Args {
    /// output a diagnostic for every file processed
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// like verbose but report only when a change is made
    #[arg(short = 'c', long = "changes")]
    changes: bool,
    /// suppress most error messages
    #[arg(short = 'f', long = "silent", visible_alias = "quiet")]
    silent: bool,
    /// affect symbolic links instead of any referenced file
    #[arg(short = 'h', long = "no-dereference")]
    no_dereference: bool,
    /// affect the referent of each symbolic link (the default without -R)
    #[arg(long = "dereference")]
    dereference: bool,
    /// operate on files and directories recursively
    #[arg(short = 'R', long = "recursive")]
    recursive: bool,
    /// with -R, follow symlinks given as operands
    #[arg(short = 'H', overrides_with_all = ["logical", "physical"])]
    command_line: bool,
    /// with -R, follow every symlink met
    #[arg(short = 'L', overrides_with_all = ["command_line", "physical"])]
    logical: bool,
    /// with -R, follow no symlink (the default)
    #[arg(short = 'P', overrides_with_all = ["command_line", "logical"])]
    physical: bool,
    /// change only files whose current owner and/or group match
    #[arg(long = "from", value_name = "CURRENT_OWNER:CURRENT_GROUP")]
    from: Option<String>,
    /// use RFILE's owner and group
    #[arg(long = "reference", value_name = "RFILE")]
    reference: Option<PathBuf>,
    /// fail to operate recursively on '/'
    #[arg(long = "preserve-root", overrides_with = "no_preserve_root")]
    preserve_root: bool,
    /// do not treat '/' specially (the default)
    #[arg(long = "no-preserve-root", overrides_with = "preserve_root")]
    no_preserve_root: bool,
    /// print help
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[arg(value_name = "OWNER[:GROUP]|FILE")]
    operands: Vec<OsString>,
}

/// A parsed `OWNER[:GROUP]`: ids to set and the names `-v` prints for them.
#[derive(Debug, Default, PartialEq, Eq)]
struct Owner {
    uid: Option<u32>,
    gid: Option<u32>,
    user_name: Option<String>,
    group_name: Option<String>,
}

/// Why a spec was refused, in GNU's words.
#[derive(Debug, PartialEq, Eq)]
enum SpecError {
    User,
    Group,
    Spec,
}

impl SpecError {
    fn text(&self) -> &'static str {
        match self {
            SpecError::User => "invalid user",
            SpecError::Group => "invalid group",
            SpecError::Spec => "invalid spec",
        }
    }
}

/// A decimal id; `+` first is allowed (and skips the name lookup). `u32::MAX` is `-1`, "no
/// change", and not an id.
fn numeric_id(text: &str) -> Option<u32> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u32>().ok().filter(|&id| id != u32::MAX)
}

/// GNU's `parse_user_spec`: `:` separates; failing that, `.` does if the whole spec is no
/// user name. Returns whether the `.` form was used (GNU warns about it).
fn parse_owner(spec: &str, accounts: &Accounts) -> Result<(Owner, bool), SpecError> {
    let colon = spec.find(':');
    let first = parse_with_separator(spec, colon, accounts);
    if colon.is_none() && first.is_err() {
        if let Some(dot) = spec.find('.') {
            if let Ok(owner) = parse_with_separator(spec, Some(dot), accounts) {
                return Ok((owner, true));
            }
        }
    }
    first.map(|owner| (owner, false))
}

fn parse_with_separator(
    spec: &str,
    separator: Option<usize>,
    accounts: &Accounts,
) -> Result<Owner, SpecError> {
    let (user, group) = match separator {
        Some(at) => (&spec[..at], Some(&spec[at + 1..]).filter(|g| !g.is_empty())),
        None => (spec, None),
    };
    let mut owner = Owner::default();
    if !user.is_empty() {
        let by_name = if user.starts_with('+') {
            None
        } else {
            accounts.uid(user)
        };
        match by_name {
            Some(uid) => {
                owner.uid = Some(uid);
                if separator.is_some() && group.is_none() {
                    let gid = login_gid(Path::new("/"), user).ok_or(SpecError::Spec)?;
                    owner.gid = Some(gid);
                    owner.group_name = Some(
                        accounts
                            .group_name(gid)
                            .map_or_else(|| gid.to_string(), str::to_string),
                    );
                }
            }
            // A number cannot say which login group it has.
            None if separator.is_some() && group.is_none() => return Err(SpecError::Spec),
            None => owner.uid = Some(numeric_id(user).ok_or(SpecError::User)?),
        }
        owner.user_name = Some(user.to_string());
    }
    if let Some(group) = group {
        let by_name = if group.starts_with('+') {
            None
        } else {
            accounts.gid(group)
        };
        owner.gid = Some(match by_name {
            Some(gid) => gid,
            None => numeric_id(group).ok_or(SpecError::Group)?,
        });
        owner.group_name = Some(group.to_string());
    }
    Ok(owner)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verbosity {
    Off,
    Changes,
    All,
}

struct Chown<'a> {
    name: &'static str,
    owner: &'a Owner,
    required: Owner,
    accounts: &'a Accounts,
    verbosity: Verbosity,
    silent: bool,
    /// Operands are followed (stat + chown) rather than changed themselves (lstat + lchown).
    follow_operands: bool,
    recursive: bool,
    /// `-L`: symlinks inside the tree are followed too.
    logical: bool,
    /// `-RH`, `-RL` without `-h`: a symlink met in the tree is changed through (its referent).
    symlinks_referent: bool,
    /// `--preserve-root` with `-R`: the device and inode of `/`.
    root: Option<(u64, u64)>,
}

pub fn run(name: &'static str, args: Vec<OsString>) -> Result<i32, Exit> {
    let mut args: Args = super::parse(name, args)?;
    let follows = args.command_line || args.logical;
    if args.recursive && args.dereference && !follows {
        return Err(Exit::failed(1, "-R --dereference requires either -H or -L"));
    }
    let accounts = Accounts::load(&crate::sys::root::Root::new("/"));
    let mut operands = std::mem::take(&mut args.operands).into_iter();
    let owner = match &args.reference {
        Some(reference) => reference_owner(reference, &accounts)?,
        None => {
            let spec = operands
                .next()
                .ok_or_else(|| Exit::usage("missing operand"))?;
            owner_from_spec(name, &spec.to_string_lossy(), &accounts)?
        }
    };
    let required = match &args.from {
        None => Owner::default(),
        Some(from) => parse_owner(from, &accounts)
            .map(|(required, _)| required)
            .map_err(|err| spec_error(&err, from))?,
    };
    let files: Vec<PathBuf> = operands.map(PathBuf::from).collect();
    if files.is_empty() {
        let message = match (&args.reference, args.from.is_some()) {
            (None, _) => format!(
                "missing operand after {}",
                quote(Path::new(owner.user_name.as_deref().unwrap_or("")))
            ),
            _ => "missing operand".into(),
        };
        return Err(Exit::usage(message));
    }
    let chown = Chown {
        name,
        owner: &owner,
        required,
        accounts: &accounts,
        verbosity: if args.changes {
            Verbosity::Changes
        } else if args.verbose {
            Verbosity::All
        } else {
            Verbosity::Off
        },
        silent: args.silent,
        follow_operands: if args.recursive {
            follows
        } else {
            !args.no_dereference
        },
        recursive: args.recursive,
        logical: args.recursive && args.logical,
        symlinks_referent: args.recursive && follows && !args.no_dereference,
        root: super::chmod::root_to_preserve(args.recursive && args.preserve_root)?,
    };
    let mut ok = true;
    for file in &files {
        ok &= chown.operand(file);
    }
    Ok(i32::from(!ok))
}

/// `--reference=RFILE`: its owner and group, named as `-v` prints them.
fn reference_owner(reference: &Path, accounts: &Accounts) -> Result<Owner, Exit> {
    let meta = super::reference_metadata(reference, true)?;
    Ok(Owner {
        uid: Some(meta.uid()),
        gid: Some(meta.gid()),
        user_name: Some(user_text(accounts, meta.uid())),
        group_name: Some(group_text(accounts, meta.gid())),
    })
}

/// The `OWNER[:GROUP]` operand, with GNU's warning for the `.` form.
fn owner_from_spec(name: &str, spec: &str, accounts: &Accounts) -> Result<Owner, Exit> {
    let (owner, dotted) = parse_owner(spec, accounts).map_err(|err| spec_error(&err, spec))?;
    if dotted {
        complain(
            name,
            format!("warning: '.' should be ':': {}", quote(Path::new(spec))),
        );
    }
    if owner.user_name.is_none() && owner.group_name.is_some() {
        // GNU says "ownership ... to :GROUP" rather than "group ... to GROUP".
        return Ok(Owner {
            user_name: Some(String::new()),
            ..owner
        });
    }
    Ok(owner)
}

/// `invalid user: 'SPEC'` and its kin, exit status 1.
fn spec_error(err: &SpecError, spec: &str) -> Exit {
    Exit::failed(1, format!("{}: {}", err.text(), quote(Path::new(spec))))
}

fn user_text(accounts: &Accounts, uid: u32) -> String {
    accounts
        .user_name(uid)
        .map_or_else(|| uid.to_string(), str::to_string)
}

fn group_text(accounts: &Accounts, gid: u32) -> String {
    accounts
        .group_name(gid)
        .map_or_else(|| gid.to_string(), str::to_string)
}

impl Change for Chown<'_> {
    fn change_entry(&self, entry: &Entry) -> Outcome {
        if self.recursive && !self.symlinks_referent && entry.follow {
            // -RHh, -RLh: walked through, but the symlink itself is what changes.
            if let Ok(link) = at::stat(entry.dir, entry.name, false) {
                if at::is_symlink(&link) {
                    return self.change(&Entry {
                        stat: &link,
                        follow: false,
                        ..*entry
                    });
                }
            }
        }
        if !(self.symlinks_referent && entry.is_symlink()) {
            return self.change(entry);
        }
        // -RH, -RL: a symlink in the tree stands for its referent, as GNU's chown.
        match at::stat(entry.dir, entry.name, true) {
            Ok(target) => self.change(&Entry {
                stat: &target,
                follow: true,
                ..*entry
            }),
            Err(err) => {
                let shown = quote(entry.path);
                self.error(format!("cannot dereference {shown}: {}", strerror(&err)));
                if self.verbosity == Verbosity::All {
                    self.describe_unknown(entry.path);
                }
                Outcome::Failed
            }
        }
    }

    fn report(&self, message: String) {
        self.error(message);
    }

    fn program(&self) -> &'static str {
        self.name
    }

    fn root(&self) -> Option<(u64, u64)> {
        self.root
    }

    /// GNU's chown changes a directory when fts leaves it (FTS_DP).
    fn directories_last(&self) -> bool {
        true
    }
}

impl Chown<'_> {
    fn error(&self, message: String) {
        if !self.silent {
            complain(self.name, message);
        }
    }

    fn operand(&self, path: &Path) -> bool {
        let Ok(name) = CString::new(path.as_os_str().as_bytes()) else {
            let err = std::io::Error::from_raw_os_error(libc::EINVAL);
            self.error(format!("cannot access {}: {}", quote(path), strerror(&err)));
            return false;
        };
        let lstat = match at::stat(libc::AT_FDCWD, &name, false) {
            Ok(stat) => stat,
            Err(err) => {
                self.error(format!("cannot access {}: {}", quote(path), strerror(&err)));
                if self.verbosity == Verbosity::All {
                    self.describe_unknown(path);
                }
                return false;
            }
        };
        let mut top = Entry {
            dir: libc::AT_FDCWD,
            name: &name,
            path,
            stat: &lstat,
            follow: false,
        };
        let target;
        if self.follow_operands && top.is_symlink() {
            match at::stat(libc::AT_FDCWD, &name, true) {
                Ok(stat) => {
                    target = stat;
                    top.stat = &target;
                    top.follow = true;
                }
                Err(err) => {
                    self.error(format!(
                        "cannot dereference {}: {}",
                        quote(path),
                        strerror(&err)
                    ));
                    if self.verbosity == Verbosity::All {
                        self.describe(path, &lstat, false, false);
                    }
                    return false;
                }
            }
        }
        if self.recursive {
            return change_tree(self, &top, self.logical);
        }
        self.change(&top) == Outcome::Done
    }

    /// One file: its own owner, or with `entry.follow` its target's.
    fn change(&self, entry: &Entry) -> Outcome {
        let stats = entry.stat;
        let wanted = self.required.uid.is_none_or(|uid| uid == stats.st_uid)
            && self.required.gid.is_none_or(|gid| gid == stats.st_gid);
        let mut outcome = Outcome::Done;
        if wanted {
            let what = if self.owner.uid.is_some() {
                "changing ownership of"
            } else {
                "changing group of"
            };
            match entry.set_owner(self.owner.uid, self.owner.gid) {
                Ok(()) => {}
                Err(ChangeError::Replaced) => {
                    let replaced = super::chmod::REPLACED;
                    self.error(format!("{what} {}: {replaced}", quote(entry.path)));
                    outcome = Outcome::Replaced;
                }
                Err(ChangeError::Io(err)) => {
                    self.error(format!("{what} {}: {}", quote(entry.path), strerror(&err)));
                    outcome = Outcome::Failed;
                }
            }
        }
        if self.verbosity != Verbosity::Off {
            let ok = outcome == Outcome::Done;
            let changed = wanted
                && ok
                && !(self.owner.uid.is_none_or(|uid| uid == stats.st_uid)
                    && self.owner.gid.is_none_or(|gid| gid == stats.st_gid));
            if changed || self.verbosity == Verbosity::All {
                self.describe(entry.path, stats, ok, changed);
            }
        }
        outcome
    }

    /// GNU's `describe_change` line for a file whose owner could not be read.
    fn describe_unknown(&self, path: &Path) {
        let user = self.owner.user_name.as_deref();
        let group = self.owner.group_name.as_deref();
        let file = quote(path);
        let line = match (user, group) {
            (Some(user), Some(group)) => {
                format!("failed to change ownership of {file} to {user}:{group}")
            }
            (Some(user), None) => format!("failed to change ownership of {file} to {user}"),
            (None, Some(group)) => format!("failed to change group of {file} to {group}"),
            (None, None) => format!("failed to change ownership of {file}"),
        };
        println!("{line}");
    }

    /// GNU's `describe_change` lines.
    fn describe(&self, path: &Path, stats: &libc::stat, ok: bool, changed: bool) {
        let spec = |user: Option<&str>, group: Option<&str>| match (user, group) {
            (Some(user), Some(group)) => Some(format!("{user}:{group}")),
            (Some(user), None) => Some(user.to_string()),
            (None, Some(group)) => Some(group.to_string()),
            (None, None) => None,
        };
        let user = self.owner.user_name.as_deref();
        let group = self.owner.group_name.as_deref();
        let old_user = user_text(self.accounts, stats.st_uid);
        let old_group = group_text(self.accounts, stats.st_gid);
        let new_spec = spec(user, group).unwrap_or_default();
        let old = spec(
            user.map(|_| old_user.as_str()),
            group.map(|_| old_group.as_str()),
        )
        .unwrap_or_default();
        let file = quote(path);
        let line = match (ok, changed, user.is_some(), group.is_some()) {
            (false, _, true, _) => {
                format!("failed to change ownership of {file} from {old} to {new_spec}")
            }
            (false, _, false, true) => {
                format!("failed to change group of {file} from {old} to {new_spec}")
            }
            (false, _, false, false) => format!("failed to change ownership of {file}"),
            (true, true, true, _) => {
                format!("changed ownership of {file} from {old} to {new_spec}")
            }
            (true, true, false, true) => {
                format!("changed group of {file} from {old} to {new_spec}")
            }
            (true, true, false, false) => format!("no change to ownership of {file}"),
            (true, false, true, _) => format!("ownership of {file} retained as {old}"),
            (true, false, false, true) => format!("group of {file} retained as {old}"),
            (true, false, false, false) => format!("ownership of {file} retained"),
        };
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids() {
        assert_eq!(numeric_id("0"), Some(0));
        assert_eq!(numeric_id("+1000"), Some(1000));
        assert_eq!(numeric_id("4294967295"), None);
        assert_eq!(numeric_id("1x"), None);
        assert_eq!(numeric_id(""), None);
    }
}
