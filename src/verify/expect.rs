//! The expected metadata of a package path, in the order a real install sets it: the archive's
//! tar header, then `statoverride`, then what the maintainer scripts did in `postinst
//! configure` (ssh-agent's `chgrp _ssh` + `chmod 2755`, ping's `setcap cap_net_raw+ep`).
//!
//! A script may take more than one way (ping falls back to setuid when `setcap` fails), so
//! the scripts' part is a list of [`Outcome`]s, the one a working host gets first. Values a
//! script computes at run time (`chgrp $(stat -c %g /usr/local)`) are *undetermined*: the
//! attribute is not checked, and restore never invents one.
//!
//! The kit's baseline, when there is one, comes last ([`Expectation::with_baseline`]): what
//! the healthy host had, whoever set it (a script's computed value, an admin's `chmod`), is
//! what is expected, and nothing is left undetermined.

use super::attrs::{capability_matches, Attr, Expected, FileKind, OnDisk};
use crate::dpkg::maintscript::{Effect, Op, PathEffects, ScriptKind, Value};
use crate::dpkg::Owner;
use crate::sys::accounts::Accounts;
use crate::sys::capability::FileCaps;
use crate::sys::mode_spec::ModeSpec;

/// Several scripts with several ways each multiply: past this many, the rest are dropped
/// (the primary outcome is always kept).
const MAX_OUTCOMES: usize = 16;

/// One way the scripts leave a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub expected: Expected,
    /// Attributes a script set to a value not known here.
    pub undetermined: Vec<Attr>,
}

#[derive(Clone, Debug)]
pub struct Expectation {
    /// The archive's header with statoverride applied: what an unpack alone leaves.
    pub archive: Expected,
    /// Never empty; the first is what a working host gets. Without scripts, the archive's.
    pub outcomes: Vec<Outcome>,
    /// Each script with an effect on the path.
    pub managed_by: Vec<ManagedBy>,
    /// The kit's baseline decided mode, owner, group (and a file's capability).
    pub recorded: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedBy {
    /// dpkg's name for the package.
    pub package: String,
    pub kind: ScriptKind,
}

impl std::fmt::Display for ManagedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}'s {}", self.package, self.kind.name())
    }
}

impl Expectation {
    pub fn plain(archive: Expected) -> Expectation {
        Expectation {
            outcomes: vec![Outcome {
                expected: archive.clone(),
                undetermined: Vec::new(),
            }],
            archive,
            managed_by: Vec::new(),
            recorded: false,
        }
    }

    /// The archive's metadata, changed by every way the `effects` may go.
    pub fn with_scripts(
        archive: Expected,
        effects: &[PathEffects],
        accounts: &Accounts,
    ) -> Expectation {
        if effects.is_empty() {
            return Expectation::plain(archive);
        }
        let mut outcomes = vec![Outcome {
            expected: archive.clone(),
            undetermined: Vec::new(),
        }];
        for script in effects {
            // No way through the script is no effect (and never an empty list of outcomes).
            if script.sequences.is_empty() {
                continue;
            }
            let mut next = Vec::new();
            for outcome in &outcomes {
                for sequence in &script.sequences {
                    let mut changed = outcome.clone();
                    for effect in sequence {
                        apply(&mut changed, effect, accounts);
                    }
                    if !next.contains(&changed) {
                        next.push(changed);
                    }
                }
            }
            next.truncate(MAX_OUTCOMES);
            outcomes = next;
        }
        Expectation {
            archive,
            outcomes,
            managed_by: effects
                .iter()
                .map(|e| ManagedBy {
                    package: e.script.package.clone(),
                    kind: e.script.kind,
                })
                .collect(),
            recorded: false,
        }
    }

    /// The baseline's word on the attributes the archive and the scripts leave to the host:
    /// one outcome, the primary one with the recorded mode, owner, group and (regular files)
    /// capability. `capability` is the raw attribute; one that does not decode is left
    /// unchecked rather than guessed.
    pub fn with_baseline(
        self,
        mode: u32,
        uid: u32,
        gid: u32,
        capability: Option<&[u8]>,
    ) -> Expectation {
        let mut outcome = Outcome {
            expected: self.primary().expected.clone(),
            undetermined: Vec::new(),
        };
        let expected = &mut outcome.expected;
        expected.mode = mode;
        expected.uid = Some(uid);
        expected.gid = Some(gid);
        if expected.kind == FileKind::Regular {
            match capability.map(FileCaps::from_xattr) {
                None => expected.capability = None,
                Some(Ok(caps)) => expected.capability = (!caps.is_empty()).then_some(caps),
                Some(Err(_)) => outcome.undetermined.push(Attr::Caps),
            }
        }
        Expectation {
            outcomes: vec![outcome],
            recorded: true,
            ..self
        }
    }

    pub fn primary(&self) -> &Outcome {
        &self.outcomes[0]
    }

    pub fn is_script_managed(&self) -> bool {
        !self.managed_by.is_empty()
    }

    /// `openssh-client's postinst`, or several joined.
    pub fn by(&self) -> String {
        let names: Vec<String> = self.managed_by.iter().map(|m| m.to_string()).collect();
        names.join(", ")
    }

    /// The attributes some script sets to something other than the archive's value, or to
    /// a value not known here: the ones restore must not "repair" on a metadata-only drift.
    /// None when the baseline decided: it is the proof.
    pub fn script_attrs(&self) -> Vec<Attr> {
        let mut out = Vec::new();
        if self.recorded {
            return out;
        }
        for outcome in &self.outcomes {
            for attr in [Attr::Mode, Attr::User, Attr::Group, Attr::Caps] {
                let differs = match attr {
                    Attr::Mode => outcome.expected.mode != self.archive.mode,
                    Attr::User => outcome.expected.uid != self.archive.uid,
                    Attr::Group => outcome.expected.gid != self.archive.gid,
                    _ => outcome.expected.capability != self.archive.capability,
                };
                if (differs || outcome.undetermined.contains(&attr)) && !out.contains(&attr) {
                    out.push(attr);
                }
            }
        }
        out
    }

    /// The first outcome whose metadata (mode, owner, group, capability: what scripts set)
    /// is what stands on disk, its undetermined attributes taken as they are.
    pub fn matching(&self, disk: &OnDisk) -> Option<&Outcome> {
        self.outcomes
            .iter()
            .find(|outcome| metadata_matches(outcome, disk))
    }
}

fn metadata_matches(outcome: &Outcome, disk: &OnDisk) -> bool {
    use std::os::unix::fs::MetadataExt;
    let want = &outcome.expected;
    let meta = disk.meta;
    let kind = FileKind::of(meta.file_type());
    if kind != want.kind {
        return false;
    }
    let free = |attr| outcome.undetermined.contains(&attr);
    (kind == FileKind::Symlink || free(Attr::Mode) || meta.mode() & 0o7777 == want.mode)
        && (free(Attr::User) || want.uid.is_none_or(|uid| meta.uid() == uid))
        && (free(Attr::Group) || want.gid.is_none_or(|gid| meta.gid() == gid))
        && (kind != FileKind::Regular
            || free(Attr::Caps)
            || capability_matches(want.capability.as_ref(), disk.capability))
}

/// One script command's effect, as the kernel applies it.
fn apply(outcome: &mut Outcome, effect: &Effect, accounts: &Accounts) {
    let is_dir = outcome.expected.kind == FileKind::Directory;
    match &effect.op {
        Op::Mode { spec, umask } => {
            let parsed = match spec {
                Value::Known(text) => ModeSpec::parse(text).ok().map(|m| (m, text)),
                Value::Unknown => None,
            };
            match parsed {
                Some((mode, text)) => {
                    let old = outcome.expected.mode;
                    outcome.expected.mode = mode.adjust(old, is_dir, *umask);
                    // An absolute mode decides every bit, whatever came before.
                    if text.bytes().all(|b| b.is_ascii_digit()) {
                        determined(outcome, Attr::Mode);
                    }
                }
                None => undetermined(outcome, Attr::Mode),
            }
        }
        Op::Owner { user, group } => {
            if let Some(user) = user {
                match resolve(user, |name| accounts.uid(name)) {
                    Some(uid) => {
                        outcome.expected.uid = Some(uid);
                        determined(outcome, Attr::User);
                    }
                    None => undetermined(outcome, Attr::User),
                }
            }
            if let Some(group) = group {
                match resolve(group, |name| accounts.gid(name)) {
                    Some(gid) => {
                        outcome.expected.gid = Some(gid);
                        determined(outcome, Attr::Group);
                    }
                    None => undetermined(outcome, Attr::Group),
                }
            }
            // chown(2) on anything but a directory drops setuid, setgid (when group-executable:
            // without it the bit means mandatory locking) and file capabilities.
            if !is_dir && (user.is_some() || group.is_some()) {
                let mode = &mut outcome.expected.mode;
                *mode &= !0o4000;
                if *mode & 0o010 != 0 {
                    *mode &= !0o2000;
                }
                outcome.expected.capability = None;
                determined(outcome, Attr::Caps);
            }
        }
        Op::Capability(Value::Known(Some(text))) => match FileCaps::parse_text(text) {
            Ok(caps) => {
                outcome.expected.capability = (!caps.is_empty()).then_some(caps);
                determined(outcome, Attr::Caps);
            }
            Err(_) => undetermined(outcome, Attr::Caps),
        },
        Op::Capability(Value::Known(None)) => {
            outcome.expected.capability = None;
            determined(outcome, Attr::Caps);
        }
        Op::Capability(Value::Unknown) => undetermined(outcome, Attr::Caps),
    }
}

/// A user or group the script named, as a number in ROOT's accounts; `None` when the value
/// or the name is not known there.
fn resolve(value: &Value<Owner>, lookup: impl Fn(&str) -> Option<u32>) -> Option<u32> {
    match value {
        Value::Known(Owner::Id(id)) => Some(*id),
        Value::Known(Owner::Name(name)) => lookup(name),
        Value::Unknown => None,
    }
}

fn undetermined(outcome: &mut Outcome, attr: Attr) {
    if !outcome.undetermined.contains(&attr) {
        outcome.undetermined.push(attr);
    }
}

fn determined(outcome: &mut Outcome, attr: Attr) {
    outcome.undetermined.retain(|a| *a != attr);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpkg::maintscript::{Script, ScriptKind};
    use std::path::PathBuf;

    fn archive(kind: FileKind, mode: u32) -> Expected {
        Expected {
            kind,
            mode,
            uid: Some(0),
            gid: Some(0),
            size: None,
            link_target: None,
            rdev: None,
            mtime: None,
            capability: None,
        }
    }

    fn effect(op: Op) -> Effect {
        Effect {
            path: PathBuf::from("/usr/bin/x"),
            recursive: false,
            op,
            line: 1,
        }
    }

    fn owner(user: Option<&str>, group: Option<&str>) -> Op {
        let known = |name: &str| match name.parse() {
            Ok(id) => Value::Known(Owner::Id(id)),
            Err(_) if name == "?" => Value::Unknown,
            Err(_) => Value::Known(Owner::Name(name.to_string())),
        };
        Op::Owner {
            user: user.map(known),
            group: group.map(known),
        }
    }

    fn mode(spec: &str) -> Op {
        Op::Mode {
            spec: Value::Known(spec.to_string()),
            umask: 0o022,
        }
    }

    fn expect(kind: FileKind, mode: u32, scenarios: Vec<Vec<Effect>>) -> Expectation {
        let script = Script {
            package: "pkg".into(),
            kind: ScriptKind::Postinst,
            scenarios,
        };
        let effects = PathEffects {
            script: &script,
            sequences: script
                .scenarios
                .iter()
                .map(|s| s.iter().collect())
                .collect(),
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\n_ssh:x:101:\n").unwrap();
        let accounts = Accounts::read(&crate::sys::root::Root::new(dir.path())).unwrap();
        Expectation::with_scripts(archive(kind, mode), &[effects], &accounts)
    }

    #[test]
    fn chgrp_then_chmod_gives_ssh_agents_setgid() {
        let e = expect(
            FileKind::Regular,
            0o755,
            vec![vec![
                effect(owner(None, Some("_ssh"))),
                effect(mode("2755")),
            ]],
        );
        assert_eq!(e.outcomes.len(), 1);
        assert_eq!(e.primary().expected.mode, 0o2755);
        assert_eq!(e.primary().expected.gid, Some(101));
        assert_eq!(e.primary().expected.uid, Some(0));
        assert!(e.primary().undetermined.is_empty());
        assert_eq!(e.script_attrs(), vec![Attr::Mode, Attr::Group]);
        assert_eq!(e.by(), "pkg's postinst");
    }

    #[test]
    fn chown_after_chmod_drops_setuid_on_files_not_directories() {
        let steps = vec![vec![
            effect(mode("4755")),
            effect(owner(Some("root"), None)),
        ]];
        let file = expect(FileKind::Regular, 0o755, steps.clone());
        assert_eq!(file.primary().expected.mode, 0o755);
        let dir = expect(FileKind::Directory, 0o755, steps);
        assert_eq!(dir.primary().expected.mode, 0o4755);
    }

    #[test]
    fn unknown_names_and_values_are_undetermined_not_guessed() {
        let e = expect(
            FileKind::Directory,
            0o755,
            vec![vec![
                effect(owner(Some("nosuchuser"), Some("?"))),
                effect(Op::Mode {
                    spec: Value::Unknown,
                    umask: 0o022,
                }),
            ]],
        );
        let mut attrs = e.primary().undetermined.clone();
        attrs.sort_by_key(|a| *a as usize);
        assert_eq!(attrs, vec![Attr::Mode, Attr::User, Attr::Group]);
        // A later absolute chmod decides the mode again.
        let e = expect(
            FileKind::Directory,
            0o755,
            vec![vec![
                effect(Op::Mode {
                    spec: Value::Unknown,
                    umask: 0o022,
                }),
                effect(mode("1730")),
            ]],
        );
        assert!(e.primary().undetermined.is_empty());
        assert_eq!(e.primary().expected.mode, 0o1730);
    }

    #[test]
    fn the_baseline_decides_what_scripts_left_undetermined() {
        let e = expect(
            FileKind::Regular,
            0o755,
            vec![vec![effect(owner(None, Some("?"))), effect(mode("u+s"))]],
        );
        assert_eq!(e.primary().undetermined, vec![Attr::Group]);
        let caps = FileCaps::parse_text("cap_net_raw=ep").unwrap();
        let recorded = e.with_baseline(0o700, 0, 50, Some(&caps.to_xattr()));
        assert!(recorded.recorded && recorded.outcomes.len() == 1);
        let outcome = recorded.primary();
        assert!(outcome.undetermined.is_empty());
        assert_eq!(
            (outcome.expected.mode, outcome.expected.gid),
            (0o700, Some(50))
        );
        assert_eq!(outcome.expected.capability, Some(caps));
        // Restore keeps nothing from the disk: the baseline is the proof.
        assert!(recorded.script_attrs().is_empty());
        let garbled =
            expect(FileKind::Regular, 0o755, vec![vec![]]).with_baseline(0o755, 0, 0, Some(b"xx"));
        assert_eq!(garbled.primary().undetermined, vec![Attr::Caps]);
    }

    #[test]
    fn alternatives_are_kept_in_order_and_matched_against_the_disk() {
        let e = expect(
            FileKind::Directory,
            0o755,
            vec![vec![effect(mode("u+s"))], vec![effect(mode("700"))], vec![]],
        );
        let modes: Vec<u32> = e.outcomes.iter().map(|o| o.expected.mode).collect();
        assert_eq!(modes, vec![0o4755, 0o700, 0o755]);
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        if crate::testing::root_or_skip("the owner part needs root") {
            std::os::unix::fs::lchown(dir.path(), Some(0), Some(0)).unwrap();
            let meta = std::fs::symlink_metadata(dir.path()).unwrap();
            let found = e.matching(&OnDisk::new(&meta)).map(|o| o.expected.mode);
            assert_eq!(found, Some(0o700));
        }
    }
}
