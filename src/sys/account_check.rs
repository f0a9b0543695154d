//! What is wrong with ROOT's account files, as `rescue accounts` and `rescue doctor` report
//! it: syntax (as `pwck -r`/`grpck -r`), entries missing from their partner file, accounts
//! that packages need (base-passwd's masters, dpkg's statoverride, the maintainer scripts'
//! `adduser`/`useradd`/`addgroup`/`groupadd`) or that a backup has and the current file lacks.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::account_files::{self, Change, Kind, State};
use super::quoting::escape;
use super::root::{Last, Root};
use crate::dpkg::maintscript::parse::{self, Command, List};

/// The headings of [`Finding::urgency`]'s values, most urgent first.
pub const HEADINGS: [&str; 4] = [
    "missing accounts that packages or base-passwd need",
    "syntax errors and missing files",
    "entries missing from their partner file or group",
    "removed since the newest backup",
];

/// Every finding, the missing (kind, name) pairs a repair would bring back, and the notes.
pub struct Report {
    pub findings: Vec<Finding>,
    pub missing: Vec<(Kind, String)>,
    pub notes: Vec<String>,
}

/// Checks ROOT's account state against what the packages need and the backups hold.
pub fn examine(root: &Root, state: &State, now: i64) -> Report {
    let needs = needs(root, state);
    let (findings, missing, notes) = check(root, state, &needs, now);
    Report {
        findings,
        missing,
        notes,
    }
}

fn shown(root: &Root, inside: &Path) -> String {
    escape(root.host_lexical(inside))
}

/// A user or group someone needs, and who.
pub struct Need {
    pub kind: Kind,
    pub name: String,
    pub by: String,
}

/// One finding, by how urgent its kind is (lower first).
pub struct Finding {
    pub urgency: u8,
    pub text: String,
}

/// Every finding, the missing (kind, name) pairs a repair would bring back, and the notes.
fn check(
    root: &Root,
    state: &State,
    needs: &[Need],
    now: i64,
) -> (Vec<Finding>, Vec<(Kind, String)>, Vec<String>) {
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    for kind in Kind::ALL {
        let file = state.file(kind);
        if file.stat.is_none() {
            let text = format!("{}: missing", shown(root, &file.inside));
            findings.push(Finding { urgency: 1, text });
        }
        for issue in account_files::check_syntax(file) {
            let text = format!(
                "{}:{}: {}",
                shown(root, &file.inside),
                issue.line,
                issue.what
            );
            findings.push(Finding { urgency: 1, text });
        }
        partner_findings(root, state, kind, &mut findings);
    }
    group_findings(root, state, &mut findings);
    let missing = missing_accounts(root, state, needs, now, &mut findings);
    for kind in Kind::ALL {
        let Some(backup) = state.backups(kind).first() else {
            continue;
        };
        for change in account_files::diff(&backup.file, state.file(kind)) {
            let from = shown(root, &backup.file.inside);
            match change {
                Change::Added(name) => notes.push(format!(
                    "{} {name}: in {} but not in {from}",
                    kind.account(),
                    shown(root, &kind.path())
                )),
                Change::Changed(name, what) => {
                    notes.push(format!("{} {name}: since {from}: {what}", kind.account()))
                }
                Change::Removed(_) => {}
            }
        }
    }
    notes.sort();
    notes.dedup();
    (findings, missing, notes)
}

fn partner_findings(root: &Root, state: &State, kind: Kind, findings: &mut Vec<Finding>) {
    let (file, partner) = (state.file(kind), state.file(kind.partner()));
    if partner.stat.is_none() {
        return;
    }
    let names = partner.names();
    for (name, line) in file.entries() {
        if !names.contains(name) {
            let text = format!(
                "{}:{}: {} {name} has no entry in {}",
                shown(root, &file.inside),
                line.number,
                kind.account(),
                shown(root, &partner.inside)
            );
            findings.push(Finding { urgency: 2, text });
        }
    }
}

/// A user whose primary group is in no group entry (`pwck`'s `no group N`), when there is a
/// group file to look in.
fn group_findings(root: &Root, state: &State, findings: &mut Vec<Finding>) {
    let (passwd, group) = (state.file(Kind::Passwd), state.file(Kind::Group));
    if group.stat.is_none() {
        return;
    }
    let gids: HashSet<u32> = group.entries().filter_map(|(_, l)| l.id()).collect();
    for (name, line) in passwd.entries() {
        let Some(gid) = line.field(3).and_then(|g| g.parse::<u32>().ok()) else {
            continue;
        };
        if !gids.contains(&gid) {
            let text = format!(
                "{}:{}: user {name}: no group {gid} in {}",
                shown(root, &passwd.inside),
                line.number,
                shown(root, &group.inside)
            );
            findings.push(Finding { urgency: 2, text });
        }
    }
}

/// Names needed or in a backup and absent from the current file: findings (needed ones
/// first), and the list a repair works from.
fn missing_accounts(
    root: &Root,
    state: &State,
    needs: &[Need],
    now: i64,
    findings: &mut Vec<Finding>,
) -> Vec<(Kind, String)> {
    let mut wanted: BTreeMap<(Kind, String), Vec<&str>> = BTreeMap::new();
    for need in needs {
        let by = wanted.entry((need.kind, need.name.clone())).or_default();
        if !by.contains(&need.by.as_str()) {
            by.push(&need.by);
        }
    }
    for kind in [Kind::Passwd, Kind::Group] {
        for backup in state.backups(kind) {
            for (name, _) in backup.file.entries() {
                wanted.entry((kind, name.to_string())).or_default();
            }
        }
    }
    let mut missing = Vec::new();
    for ((kind, name), by) in wanted {
        if state.file(kind).entry(&name).is_some() {
            continue;
        }
        let holders: Vec<String> = state
            .backups(kind)
            .iter()
            .filter(|b| b.file.entry(&name).is_some())
            .map(|b| format!("{} ({})", shown(root, &b.file.inside), age(now - b.mtime())))
            .collect();
        let found = if holders.is_empty() {
            "in no backup".to_string()
        } else {
            format!("in {}", holders.join(", "))
        };
        let (urgency, needed) = if by.is_empty() {
            (3, String::new())
        } else {
            (0, format!("needed by {}; ", by.join(", ")))
        };
        let text = format!("{} {name}: {needed}{found}", kind.account());
        findings.push(Finding { urgency, text });
        missing.push((kind, name));
    }
    missing
}

pub fn age(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (count, unit) = match seconds {
        s if s < 120 => (s, "second"),
        s if s < 7200 => (s / 60, "minute"),
        s if s < 172_800 => (s / 3600, "hour"),
        s => (s / 86400, "day"),
    };
    format!("{count} {unit}{} old", if count == 1 { "" } else { "s" })
}

/// What the packages need: statoverride's owners, the maintainer scripts' account commands,
/// base-passwd's master files.
pub fn needs(root: &Root, state: &State) -> Vec<Need> {
    let mut needs = Vec::new();
    for (kind, path) in account_files::MASTERS {
        if let Some(master) = state.masters.get(&kind) {
            let file = Path::new(path).file_name().unwrap_or_default();
            let by = format!("base-passwd ({})", file.to_string_lossy());
            for (name, _) in master.entries() {
                let name = name.to_string();
                needs.push(Need {
                    kind,
                    name,
                    by: by.clone(),
                });
            }
        }
    }
    statoverride_needs(root, &mut needs);
    script_needs(root, &mut needs);
    needs
}

/// `USER GROUP MODE PATH` lines; `#ID` owners name no account.
fn statoverride_needs(root: &Root, needs: &mut Vec<Need>) {
    let inside = Path::new("/var/lib/dpkg/statoverride");
    let Ok(file) = root.open_regular(inside) else {
        return;
    };
    let Ok(bytes) = crate::sys::input::read_at_most(file, 16 << 20) else {
        return;
    };
    for line in String::from_utf8_lossy(&bytes).lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [user, group, _, path, ..] = words.as_slice() else {
            continue;
        };
        let by = format!("statoverride {path}");
        for (kind, name) in [(Kind::Passwd, user), (Kind::Group, group)] {
            if !name.starts_with('#') {
                let name = name.to_string();
                needs.push(Need {
                    kind,
                    name,
                    by: by.clone(),
                });
            }
        }
    }
}

/// Each `*.preinst` and `*.postinst` in ROOT's dpkg info directory, parsed with the
/// maintainer-script parser (it joins continued lines and sees commands inside `if` and
/// functions); the metadata walk in `maintscript::eval` does not record account commands.
fn script_needs(root: &Root, needs: &mut Vec<Need>) {
    let info = Path::new("/var/lib/dpkg/info");
    let Ok(dir) = root.resolve(info, Last::Follow) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".postinst") || n.ends_with(".preinst"))
        .collect();
    names.sort();
    for file_name in names {
        let Ok(file) = root.open_regular(&info.join(&file_name)) else {
            continue;
        };
        let Ok(bytes) = crate::sys::input::read_at_most(file, 4 << 20) else {
            continue;
        };
        let Ok(list) = parse::parse(&String::from_utf8_lossy(&bytes)) else {
            continue;
        };
        let (package, script) = file_name.rsplit_once('.').unwrap_or((&file_name, ""));
        let package = package.split(':').next().unwrap_or(package);
        let mut commands = Vec::new();
        walk_list(&list, &mut commands);
        for (line, words) in commands {
            for (kind, name) in account_command(&words) {
                let by = format!("{package} {script} line {line}");
                needs.push(Need { kind, name, by });
            }
        }
    }
}

type Words = Vec<Option<String>>;

fn walk_list(list: &List, out: &mut Vec<(usize, Words)>) {
    for and_or in list {
        let pipelines = std::iter::once(&and_or.first).chain(and_or.rest.iter().map(|(_, p)| p));
        for pipeline in pipelines {
            for command in &pipeline.commands {
                walk_command(command, out);
            }
        }
    }
}

fn walk_command(command: &Command, out: &mut Vec<(usize, Words)>) {
    match command {
        Command::Simple(simple) => {
            let words = simple.words.iter().map(|w| w.literal()).collect();
            out.push((simple.line, words));
        }
        Command::If { arms, otherwise } => {
            for (cond, body) in arms {
                walk_list(cond, out);
                walk_list(body, out);
            }
            if let Some(otherwise) = otherwise {
                walk_list(otherwise, out);
            }
        }
        Command::For { body, .. } => walk_list(body, out),
        Command::Loop { cond, body, .. } => {
            walk_list(cond, out);
            walk_list(body, out);
        }
        Command::Case { arms, .. } => arms.iter().for_each(|(_, body)| walk_list(body, out)),
        Command::Group(list) => walk_list(list, out),
        Command::Function { body, .. } => walk_command(body, out),
    }
}

/// The accounts an `adduser`/`useradd`/`addgroup`/`groupadd` command creates or uses, from
/// its literal words (a name in a variable is not known here).
fn account_command(words: &[Option<String>]) -> Vec<(Kind, String)> {
    let Some(Some(command)) = words.first() else {
        return Vec::new();
    };
    let command = command.rsplit('/').next().unwrap_or(command);
    let Some(takes_value) = value_options(command) else {
        return Vec::new();
    };
    let mut flags = HashSet::new();
    let mut values: Vec<(String, Option<String>)> = Vec::new();
    let mut positional = Vec::new();
    let mut rest = words[1..].iter();
    while let Some(word) = rest.next() {
        match word {
            Some(w) if takes_value.contains(&w.as_str()) => {
                values.push((w.clone(), rest.next().cloned().flatten()))
            }
            Some(w) if w.starts_with('-') => {
                flags.insert(w.split('=').next().unwrap_or(w).to_string());
            }
            other => positional.push(other.clone()),
        }
    }
    let named = |kind, name: &Option<String>| name.clone().map(|n| (kind, n));
    let mut out: Vec<(Kind, String)> = Vec::new();
    for (option, value) in &values {
        let is_group = matches!(option.as_str(), "--ingroup" | "-g" | "--gid");
        if is_group && command != "groupadd" {
            if let Some(value) = value.as_ref().filter(|v| v.parse::<u32>().is_err()) {
                out.push((Kind::Group, value.clone()));
            }
        }
    }
    match (command, positional.as_slice()) {
        ("adduser", [user]) => {
            out.extend(named(Kind::Passwd, user));
            if flags.contains("--group") {
                out.extend(named(Kind::Group, user));
            }
        }
        ("adduser" | "addgroup", [user, group]) => {
            out.extend(named(Kind::Passwd, user));
            out.extend(named(Kind::Group, group));
        }
        ("addgroup" | "groupadd", [.., group]) => out.extend(named(Kind::Group, group)),
        ("useradd", [.., user]) => {
            out.extend(named(Kind::Passwd, user));
            if flags.contains("-U") || flags.contains("--user-group") {
                out.extend(named(Kind::Group, user));
            }
        }
        _ => {}
    }
    out
}

/// The options of each account command that take a value (the word after them is no name).
fn value_options(command: &str) -> Option<&'static [&'static str]> {
    Some(match command {
        "adduser" | "addgroup" => &[
            "--home",
            "--shell",
            "--gecos",
            "--comment",
            "--uid",
            "--gid",
            "--ingroup",
            "--firstuid",
            "--lastuid",
            "--firstgid",
            "--lastgid",
            "--conf",
            "-c",
        ],
        "useradd" => &[
            "-b",
            "-c",
            "-d",
            "-e",
            "-f",
            "-g",
            "-G",
            "-k",
            "-K",
            "-p",
            "-s",
            "-u",
            "-R",
            "-P",
            "-Z",
            "--base-dir",
            "--comment",
            "--home-dir",
            "--expiredate",
            "--inactive",
            "--gid",
            "--groups",
            "--skel",
            "--key",
            "--password",
            "--shell",
            "--uid",
            "--root",
            "--prefix",
        ],
        "groupadd" => &[
            "-g",
            "-K",
            "-p",
            "-R",
            "-P",
            "--gid",
            "--key",
            "--password",
            "--root",
        ],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(script: &str) -> Vec<(usize, Kind, String)> {
        let list = parse::parse(script).unwrap();
        let mut commands = Vec::new();
        walk_list(&list, &mut commands);
        commands
            .into_iter()
            .flat_map(|(line, words)| {
                account_command(&words)
                    .into_iter()
                    .map(move |(kind, name)| (line, kind, name))
            })
            .collect()
    }

    #[test]
    fn account_commands_in_scripts() {
        let script = "#!/bin/sh\nset -e\nif ! getent passwd sshd >/dev/null; then\n  \
            adduser --quiet --system --no-create-home --home /run/sshd \\\n    \
            --shell /usr/sbin/nologin sshd\nfi\n\
            addgroup --system _ssh\n\
            useradd -r -g Debian-exim -d /var/spool/exim4 -U Debian-exim\n\
            groupadd -g 107 crontab\n\
            adduser \"$USER\" dialout\n\
            f() { adduser --system --group --home /nonexistent messagebus; }\n";
        assert_eq!(
            scan(script),
            [
                (4, Kind::Passwd, "sshd".to_string()),
                (7, Kind::Group, "_ssh".to_string()),
                (8, Kind::Group, "Debian-exim".to_string()),
                (8, Kind::Passwd, "Debian-exim".to_string()),
                (8, Kind::Group, "Debian-exim".to_string()),
                (9, Kind::Group, "crontab".to_string()),
                (10, Kind::Group, "dialout".to_string()),
                (11, Kind::Passwd, "messagebus".to_string()),
                (11, Kind::Group, "messagebus".to_string()),
            ]
        );
    }
}
